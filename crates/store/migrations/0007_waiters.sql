-- Callers who asked a pending request's question again (in their own
-- words) and wait for the same answer: a JSON array of waiters, appended
-- while the request is pending, read in the resolving transaction so each
-- gets the answer too.
ALTER TABLE help_requests ADD COLUMN waiters TEXT NOT NULL DEFAULT '[]';
