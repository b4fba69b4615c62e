-- The people appointments are booked with are "staff", whatever the trade:
-- the demo salon's stylists are one business's staff, not the schema's.
-- Order ids are shown as `O-…`, not with the demo shop's initials.
-- Services gain the other names callers use for them (a JSON array), so the
-- booking tools match a caller's words from the business's data.

DROP TRIGGER audit_biz_appointment_created;
DROP TRIGGER audit_biz_appointment_changed;
DROP TRIGGER audit_biz_order_status;

ALTER TABLE biz_stylists RENAME TO biz_staff;
ALTER TABLE biz_stylist_services RENAME TO biz_staff_services;
ALTER TABLE biz_staff_services RENAME COLUMN stylist_id TO staff_id;
ALTER TABLE biz_appointments RENAME COLUMN stylist_id TO staff_id;
ALTER TABLE biz_services ADD COLUMN aliases TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(aliases));

CREATE TRIGGER audit_biz_appointment_created AFTER INSERT ON biz_appointments
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.created_at, 'appointment', 'A-' || NEW.id, 'created', NEW.created_by,
            json_object('customer_id', NEW.customer_id, 'service_id', NEW.service_id, 'staff_id', NEW.staff_id,
                        'starts_at', NEW.starts_at, 'status', NEW.status));
END;

CREATE TRIGGER audit_biz_appointment_changed AFTER UPDATE ON biz_appointments
WHEN OLD.status <> NEW.status OR OLD.starts_at <> NEW.starts_at OR OLD.staff_id <> NEW.staff_id
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'appointment', 'A-' || NEW.id,
            CASE WHEN OLD.status <> NEW.status THEN NEW.status ELSE 'rescheduled' END, 'agent',
            json_object('from_starts_at', OLD.starts_at, 'starts_at', NEW.starts_at,
                        'from_staff_id', OLD.staff_id, 'staff_id', NEW.staff_id));
END;

CREATE TRIGGER audit_biz_order_status AFTER UPDATE OF status ON biz_orders
WHEN OLD.status <> NEW.status
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'order', 'O-' || NEW.id, NEW.status, 'agent',
            json_object('from', OLD.status, 'to', NEW.status));
END;
