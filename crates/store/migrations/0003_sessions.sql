-- Agent sessions and their turns. Times are unix milliseconds (UTC).

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    channel        TEXT NOT NULL CHECK (channel IN ('text', 'voice', 'livekit')),
    status         TEXT NOT NULL CHECK (status IN ('active', 'ended')),
    caller_name    TEXT,
    caller_contact TEXT,
    language       TEXT,
    started_at     INTEGER NOT NULL,
    ended_at       INTEGER,
    turn_count     INTEGER NOT NULL DEFAULT 0,
    title          TEXT
);
CREATE INDEX sessions_by_status ON sessions (status, started_at);

-- An ended session stays ended.
CREATE TRIGGER sessions_end_is_final
BEFORE UPDATE OF status ON sessions
WHEN OLD.status = 'ended'
BEGIN
    SELECT RAISE(ABORT, 'session has ended');
END;

CREATE TABLE session_turns (
    id         TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    seq        INTEGER NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('caller', 'agent', 'tool', 'supervisor')),
    text       TEXT NOT NULL,
    tool       TEXT,
    grounding  TEXT,
    timings    TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (session_id, seq)
);

-- No turn is stored in an ended session, whatever the code path.
CREATE TRIGGER session_turns_only_while_active
BEFORE INSERT ON session_turns
WHEN (SELECT status FROM sessions WHERE id = NEW.session_id) IS NOT 'active'
BEGIN
    SELECT RAISE(ABORT, 'session is not active');
END;

CREATE TRIGGER sessions_audit_insert AFTER INSERT ON sessions
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.started_at, 'session', NEW.id, 'started', 'system', json_object('channel', NEW.channel));
END;

CREATE TRIGGER sessions_audit_end AFTER UPDATE OF status ON sessions
WHEN NEW.status = 'ended'
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.ended_at, 'session', NEW.id, 'ended', 'system', json_object('turns', NEW.turn_count));
END;
