-- Audio seconds per cloud speech service, per session: a JSON object
-- {"deepgram": {"sent_seconds": 1.5, "received_seconds": 0.0}, ...}, NULL
-- while only offline engines ran.
ALTER TABLE sessions ADD COLUMN usage TEXT;
