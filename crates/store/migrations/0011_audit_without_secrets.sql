-- Settings documents may hold secrets (a model server's API key, the
-- LiveKit API secret). The audit log records that they changed, never the
-- secrets themselves.
DROP TRIGGER audit_settings_saved;
DROP TRIGGER audit_settings_updated;

CREATE TRIGGER audit_settings_saved AFTER INSERT ON settings
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'settings', NEW.key, 'saved', 'supervisor',
            CASE WHEN json_valid(NEW.value) THEN json_remove(NEW.value, '$.api_key', '$.api_secret') ELSE NEW.value END);
END;

CREATE TRIGGER audit_settings_updated AFTER UPDATE ON settings
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'settings', NEW.key, 'saved', 'supervisor',
            CASE WHEN json_valid(NEW.value) THEN json_remove(NEW.value, '$.api_key', '$.api_secret') ELSE NEW.value END);
END;
