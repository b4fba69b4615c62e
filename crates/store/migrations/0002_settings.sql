-- Runtime settings saved from the UI, one JSON document per key.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TRIGGER audit_settings_saved AFTER INSERT ON settings
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'settings', NEW.key, 'saved', 'supervisor', NEW.value);
END;

CREATE TRIGGER audit_settings_updated AFTER UPDATE ON settings
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'settings', NEW.key, 'saved', 'supervisor', NEW.value);
END;
