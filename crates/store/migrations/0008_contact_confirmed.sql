-- A contact the caller only said (no caller ID) gets no follow-up until a
-- supervisor confirms it. Every earlier request's contact counts as confirmed.
ALTER TABLE help_requests ADD COLUMN contact_confirmed INTEGER NOT NULL DEFAULT 1;
