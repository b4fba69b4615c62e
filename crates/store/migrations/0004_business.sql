-- The demo business (a hair salon with a small web shop), seeded by --demo and
-- changed by the agent's tools. Times are unix milliseconds (UTC); money is in
-- cents. Record ids are small integers (the agent reads them aloud), not UUIDs.

CREATE TABLE biz_customers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    phone        TEXT NOT NULL,
    -- the phone's digits only: the lookup key
    phone_digits TEXT NOT NULL UNIQUE,
    email        TEXT,
    created_by   TEXT NOT NULL DEFAULT 'agent',
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX biz_customers_email ON biz_customers (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE biz_services (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    duration_min INTEGER NOT NULL CHECK (duration_min > 0),
    price_cents  INTEGER NOT NULL CHECK (price_cents >= 0),
    price_from   INTEGER NOT NULL DEFAULT 0 CHECK (price_from IN (0, 1)),
    position     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE biz_stylists (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    bio      TEXT NOT NULL DEFAULT '',
    -- comma-separated weekdays: mon,tue,...
    days     TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE biz_stylist_services (
    stylist_id TEXT NOT NULL REFERENCES biz_stylists (id),
    service_id TEXT NOT NULL REFERENCES biz_services (id),
    PRIMARY KEY (stylist_id, service_id)
);

CREATE TABLE biz_appointments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES biz_customers (id),
    service_id  TEXT NOT NULL REFERENCES biz_services (id),
    stylist_id  TEXT NOT NULL REFERENCES biz_stylists (id),
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('booked', 'cancelled')),
    created_by  TEXT NOT NULL DEFAULT 'agent',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX biz_appointments_by_time ON biz_appointments (starts_at) WHERE status = 'booked';
CREATE INDEX biz_appointments_by_customer ON biz_appointments (customer_id, starts_at);

-- No double booking, whatever the caller: a booked appointment never overlaps
-- another booked one of the same stylist or of the same customer. The single
-- writer runs these checks and the write as one statement, so of concurrent
-- bookings of one slot exactly one wins.
CREATE TRIGGER biz_appointments_no_overlap_insert
BEFORE INSERT ON biz_appointments
WHEN NEW.status = 'booked'
BEGIN
    SELECT RAISE(ABORT, 'slot_taken')
    WHERE EXISTS (SELECT 1 FROM biz_appointments a
                  WHERE a.status = 'booked' AND a.stylist_id = NEW.stylist_id
                    AND a.starts_at < NEW.ends_at AND a.ends_at > NEW.starts_at);
    SELECT RAISE(ABORT, 'customer_busy')
    WHERE EXISTS (SELECT 1 FROM biz_appointments a
                  WHERE a.status = 'booked' AND a.customer_id = NEW.customer_id
                    AND a.starts_at < NEW.ends_at AND a.ends_at > NEW.starts_at);
END;

CREATE TRIGGER biz_appointments_no_overlap_update
BEFORE UPDATE OF starts_at, ends_at, stylist_id, status ON biz_appointments
WHEN NEW.status = 'booked'
BEGIN
    SELECT RAISE(ABORT, 'slot_taken')
    WHERE EXISTS (SELECT 1 FROM biz_appointments a
                  WHERE a.id <> NEW.id AND a.status = 'booked' AND a.stylist_id = NEW.stylist_id
                    AND a.starts_at < NEW.ends_at AND a.ends_at > NEW.starts_at);
    SELECT RAISE(ABORT, 'customer_busy')
    WHERE EXISTS (SELECT 1 FROM biz_appointments a
                  WHERE a.id <> NEW.id AND a.status = 'booked' AND a.customer_id = NEW.customer_id
                    AND a.starts_at < NEW.ends_at AND a.ends_at > NEW.starts_at);
END;

-- A cancelled appointment stays cancelled.
CREATE TRIGGER biz_appointments_cancel_is_final
BEFORE UPDATE ON biz_appointments
WHEN OLD.status = 'cancelled'
BEGIN
    SELECT RAISE(ABORT, 'appointment is cancelled');
END;

CREATE TABLE biz_products (
    sku         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    category    TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    stock       INTEGER NOT NULL CHECK (stock >= 0)
);

CREATE TABLE biz_orders (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id  INTEGER NOT NULL REFERENCES biz_customers (id),
    status       TEXT NOT NULL CHECK (status IN ('placed', 'shipped', 'delivered', 'cancelled')),
    -- JSON array of {sku, name, qty, price_cents}, as ordered
    items        TEXT NOT NULL,
    total_cents  INTEGER NOT NULL,
    carrier      TEXT,
    tracking     TEXT,
    placed_at    INTEGER NOT NULL,
    shipped_at   INTEGER,
    delivered_at INTEGER,
    cancelled_at INTEGER,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX biz_orders_by_customer ON biz_orders (customer_id, placed_at);

CREATE TRIGGER biz_orders_cancel_is_final
BEFORE UPDATE OF status ON biz_orders
WHEN OLD.status = 'cancelled'
BEGIN
    SELECT RAISE(ABORT, 'order is cancelled');
END;

CREATE TABLE biz_returns (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- one return per order
    order_id     INTEGER NOT NULL UNIQUE REFERENCES biz_orders (id),
    items        TEXT NOT NULL,
    reason       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'received', 'refunded')),
    refund_cents INTEGER NOT NULL,
    created_by   TEXT NOT NULL DEFAULT 'agent',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE biz_policies (
    key      TEXT PRIMARY KEY,
    title    TEXT NOT NULL,
    text     TEXT NOT NULL,
    keywords TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0
);

-- Audit: every change the agent (or the seed) makes to the business's records.
CREATE TRIGGER audit_biz_customer_created AFTER INSERT ON biz_customers
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.created_at, 'customer', 'C-' || NEW.id, 'created', NEW.created_by, json_object('name', NEW.name));
END;

CREATE TRIGGER audit_biz_appointment_created AFTER INSERT ON biz_appointments
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.created_at, 'appointment', 'A-' || NEW.id, 'created', NEW.created_by,
            json_object('customer_id', NEW.customer_id, 'service_id', NEW.service_id, 'stylist_id', NEW.stylist_id,
                        'starts_at', NEW.starts_at, 'status', NEW.status));
END;

CREATE TRIGGER audit_biz_appointment_changed AFTER UPDATE ON biz_appointments
WHEN OLD.status <> NEW.status OR OLD.starts_at <> NEW.starts_at OR OLD.stylist_id <> NEW.stylist_id
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'appointment', 'A-' || NEW.id,
            CASE WHEN OLD.status <> NEW.status THEN NEW.status ELSE 'rescheduled' END, 'agent',
            json_object('from_starts_at', OLD.starts_at, 'starts_at', NEW.starts_at,
                        'from_stylist_id', OLD.stylist_id, 'stylist_id', NEW.stylist_id));
END;

CREATE TRIGGER audit_biz_order_status AFTER UPDATE OF status ON biz_orders
WHEN OLD.status <> NEW.status
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.updated_at, 'order', 'JF-' || NEW.id, NEW.status, 'agent',
            json_object('from', OLD.status, 'to', NEW.status));
END;

CREATE TRIGGER audit_biz_return_created AFTER INSERT ON biz_returns
BEGIN
    INSERT INTO audit_log (at, entity, entity_id, action, actor, detail)
    VALUES (NEW.created_at, 'return', 'R-' || NEW.id, 'created', NEW.created_by,
            json_object('order_id', NEW.order_id, 'status', NEW.status, 'reason', NEW.reason));
END;
