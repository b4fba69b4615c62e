-- Where a caller turn came from (typed, or transcribed with confidence and
-- language: JSON), and whether the caller cut an agent turn off (its text
-- is then only what they heard).
ALTER TABLE session_turns ADD COLUMN input TEXT;
ALTER TABLE session_turns ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0 CHECK (interrupted IN (0, 1));
