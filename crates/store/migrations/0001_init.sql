-- Switchboard schema v1. Times are unix milliseconds (UTC).

CREATE TABLE help_requests (
    id               TEXT PRIMARY KEY,
    customer_name    TEXT NOT NULL,
    customer_contact TEXT NOT NULL DEFAULT '',
    channel          TEXT NOT NULL,
    question         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'resolved', 'unresolved')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deadline_at      INTEGER NOT NULL,
    resolved_at      INTEGER,
    answer           TEXT,
    topic            TEXT,
    notes            TEXT,
    resolved_by      TEXT,
    session_id       TEXT,
    history          TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX help_requests_by_status ON help_requests (status, created_at);
CREATE INDEX help_requests_by_deadline ON help_requests (deadline_at) WHERE status = 'pending';
CREATE INDEX help_requests_by_session ON help_requests (session_id) WHERE session_id IS NOT NULL;

-- A final status is final: the database refuses to leave it, whatever the caller.
CREATE TRIGGER help_requests_final_is_final
BEFORE UPDATE OF status ON help_requests
WHEN OLD.status <> 'pending'
BEGIN
    SELECT RAISE(ABORT, 'help request status is final');
END;

CREATE TABLE supervisor_responses (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT NOT NULL UNIQUE REFERENCES help_requests (id),
    answer      TEXT,
    topic       TEXT,
    unresolved  INTEGER NOT NULL CHECK (unresolved IN (0, 1)),
    notes       TEXT,
    supervisor  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE knowledge_entries (
    id                TEXT PRIMARY KEY,
    question          TEXT NOT NULL,
    -- lower-cased, whitespace-folded question without trailing punctuation:
    -- one entry per question, so a learned answer updates rather than duplicates
    question_key      TEXT NOT NULL UNIQUE,
    answer            TEXT NOT NULL,
    topic             TEXT,
    source            TEXT NOT NULL CHECK (source IN ('manual', 'learned', 'seed')),
    source_request_id TEXT REFERENCES help_requests (id),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE notification_outbox (
    id              TEXT PRIMARY KEY,
    request_id      TEXT NOT NULL REFERENCES help_requests (id),
    target          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX outbox_due ON notification_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_by_request ON notification_outbox (request_id);

-- Append-only audit log of every state change, written by the triggers below
-- so that no code path can change state without leaving a record.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_entity ON audit_log (entity_id, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_help_request_created AFTER INSERT ON help_requests
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.created_at, 'help_request', NEW.id, 'created', 'agent',
            json_object('status', NEW.status, 'channel', NEW.channel, 'deadline_at', NEW.deadline_at));
END;

CREATE TRIGGER audit_help_request_status AFTER UPDATE OF status ON help_requests
WHEN OLD.status <> NEW.status
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'help_request', NEW.id, NEW.status, COALESCE(NEW.resolved_by, 'system'),
            json_object('from', OLD.status, 'to', NEW.status, 'notes', NEW.notes));
END;

CREATE TRIGGER audit_knowledge_created AFTER INSERT ON knowledge_entries
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'knowledge', NEW.id, 'created', NEW.source,
            json_object('source_request_id', NEW.source_request_id));
END;

CREATE TRIGGER audit_knowledge_updated AFTER UPDATE ON knowledge_entries
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'knowledge', NEW.id, 'updated', NEW.source,
            json_object('source_request_id', NEW.source_request_id));
END;

CREATE TRIGGER audit_knowledge_deleted AFTER DELETE ON knowledge_entries
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 'knowledge', OLD.id, 'deleted', 'supervisor',
            json_object('question', OLD.question));
END;

CREATE TRIGGER audit_outbox_status AFTER UPDATE OF status ON notification_outbox
WHEN OLD.status <> NEW.status
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'notification', NEW.id, NEW.status, 'outbox',
            json_object('request_id', NEW.request_id, 'target', NEW.target, 'attempts', NEW.attempts));
END;
