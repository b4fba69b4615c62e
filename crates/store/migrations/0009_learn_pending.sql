-- Answers waiting for a supervisor's review before the agent learns them.
ALTER TABLE help_requests ADD COLUMN learn_pending INTEGER NOT NULL DEFAULT 0;
