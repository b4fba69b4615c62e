//! The demo business's tables (migration 0004) behind the core's
//! `BusinessStore` port.
//!
//! Races are decided in SQL on the single writer: overlap triggers refuse a
//! double booking in the same statement as the write, and status changes are
//! conditional updates (`… WHERE status = 'booked'`).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use switchboard_core::business::{
    Appointment, AppointmentStatus, BusinessError, BusinessSeed, BusinessStore, Customer, NewAppointment, NewCustomer,
    NewReturn, Order, OrderItem, OrderStatus, Policy, Product, ReturnRequest, ReturnStatus, SeedReport, Service,
    StaffMember,
};
use switchboard_core::time::{Timestamp, from_millis, to_millis};

use crate::SqliteStore;

fn db(e: sqlx::Error) -> BusinessError {
    BusinessError::Backend(Box::new(e))
}

fn corrupt(what: impl std::fmt::Display) -> BusinessError {
    BusinessError::Corrupt(what.to_string())
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> Result<T, BusinessError> {
    row.try_get(col).map_err(db)
}

fn ts(row: &SqliteRow, col: &str) -> Result<Timestamp, BusinessError> {
    Ok(from_millis(get(row, col)?))
}

fn opt_ts(row: &SqliteRow, col: &str) -> Result<Option<Timestamp>, BusinessError> {
    Ok(get::<Option<i64>>(row, col)?.map(from_millis))
}

/// The message of a trigger's `RAISE(ABORT, …)`, or of a constraint.
fn db_message(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(d) => Some(d.message()),
        _ => None,
    }
}

/// Overlap triggers become conflicts the caller can explain.
fn booking_error(e: sqlx::Error) -> BusinessError {
    match db_message(&e) {
        Some(m) if m.contains("slot_taken") => {
            BusinessError::Conflict("that staff member is already booked at that time".into())
        }
        Some(m) if m.contains("customer_busy") => {
            BusinessError::Conflict("the customer already has an appointment at that time".into())
        }
        Some(m) if m.contains("FOREIGN KEY") => BusinessError::NotFound("customer, service or staff member".into()),
        _ => db(e),
    }
}

fn customer(row: &SqliteRow) -> Result<Customer, BusinessError> {
    Ok(Customer {
        id: get(row, "id")?,
        name: get(row, "name")?,
        phone: get(row, "phone")?,
        email: get(row, "email")?,
        created_at: ts(row, "created_at")?,
    })
}

fn service(row: &SqliteRow) -> Result<Service, BusinessError> {
    Ok(Service {
        id: get(row, "id")?,
        name: get(row, "name")?,
        duration_min: get::<i64>(row, "duration_min")?.try_into().map_err(corrupt)?,
        price_cents: get(row, "price_cents")?,
        price_from: get(row, "price_from")?,
        aliases: serde_json::from_str(&get::<String>(row, "aliases")?).map_err(|e| corrupt(format!("aliases: {e}")))?,
    })
}

fn appointment(row: &SqliteRow) -> Result<Appointment, BusinessError> {
    let status: String = get(row, "status")?;
    Ok(Appointment {
        id: get(row, "id")?,
        customer_id: get(row, "customer_id")?,
        service_id: get(row, "service_id")?,
        staff_id: get(row, "staff_id")?,
        starts_at: ts(row, "starts_at")?,
        ends_at: ts(row, "ends_at")?,
        status: AppointmentStatus::parse(&status).ok_or_else(|| corrupt(format!("appointment status {status}")))?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

fn product(row: &SqliteRow) -> Result<Product, BusinessError> {
    Ok(Product {
        sku: get(row, "sku")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        category: get(row, "category")?,
        price_cents: get(row, "price_cents")?,
        stock: get(row, "stock")?,
    })
}

fn items(row: &SqliteRow) -> Result<Vec<OrderItem>, BusinessError> {
    let s: String = get(row, "items")?;
    serde_json::from_str(&s).map_err(|e| corrupt(format!("items: {e}")))
}

fn items_json(items: &[OrderItem]) -> Result<String, BusinessError> {
    serde_json::to_string(items).map_err(corrupt)
}

fn order(row: &SqliteRow) -> Result<Order, BusinessError> {
    let status: String = get(row, "status")?;
    Ok(Order {
        id: get(row, "id")?,
        customer_id: get(row, "customer_id")?,
        status: OrderStatus::parse(&status).ok_or_else(|| corrupt(format!("order status {status}")))?,
        items: items(row)?,
        total_cents: get(row, "total_cents")?,
        carrier: get(row, "carrier")?,
        tracking: get(row, "tracking")?,
        placed_at: ts(row, "placed_at")?,
        shipped_at: opt_ts(row, "shipped_at")?,
        delivered_at: opt_ts(row, "delivered_at")?,
        cancelled_at: opt_ts(row, "cancelled_at")?,
    })
}

fn return_request(row: &SqliteRow) -> Result<ReturnRequest, BusinessError> {
    let status: String = get(row, "status")?;
    Ok(ReturnRequest {
        id: get(row, "id")?,
        order_id: get(row, "order_id")?,
        items: items(row)?,
        reason: get(row, "reason")?,
        status: ReturnStatus::parse(&status).ok_or_else(|| corrupt(format!("return status {status}")))?,
        refund_cents: get(row, "refund_cents")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Phone digits `?1` (either may be the other's suffix, at least 7 digits),
/// email `?2` (without case), or a part of the name `?3`.
const CUSTOMER_MATCH: &str = "(?1 IS NOT NULL AND length(?1) >= 7 AND length(phone_digits) >= 7
         AND (phone_digits LIKE '%' || ?1 OR ?1 LIKE '%' || phone_digits))
     OR (?2 IS NOT NULL AND lower(email) = lower(?2))
     OR (?3 IS NOT NULL AND ?3 <> '' AND instr(lower(name), lower(?3)) > 0)";

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

#[async_trait]
impl BusinessStore for SqliteStore {
    async fn find_customers(
        &self,
        phone_digits: Option<&str>,
        email: Option<&str>,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Customer>, BusinessError> {
        let rows = sqlx::query(&format!("SELECT * FROM biz_customers WHERE {CUSTOMER_MATCH} ORDER BY id LIMIT ?4"))
            .bind(phone_digits)
            .bind(email)
            .bind(name)
            .bind(limit)
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(customer).collect()
    }

    async fn get_customer(&self, id: i64) -> Result<Customer, BusinessError> {
        let row = sqlx::query("SELECT * FROM biz_customers WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or_else(|| BusinessError::NotFound(format!("customer C-{id}")))?;
        customer(&row)
    }

    async fn insert_customer(&self, c: &NewCustomer, at: Timestamp) -> Result<Customer, BusinessError> {
        let phone_digits = digits(&c.phone);
        // The duplicate check (phone by suffix, email without case) and the
        // insert share one transaction on the single writer.
        let mut tx = self.writer.begin().await.map_err(db)?;
        let existing = sqlx::query(&format!("SELECT * FROM biz_customers WHERE {CUSTOMER_MATCH} ORDER BY id LIMIT 1"))
            .bind(&phone_digits)
            .bind(&c.email)
            .bind(None::<String>)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(row) = existing {
            let e = customer(&row)?;
            return Err(BusinessError::Conflict(format!(
                "a customer with this phone or email already exists: C-{} {}",
                e.id, e.name
            )));
        }
        let row = sqlx::query(
            "INSERT INTO biz_customers (name, phone, phone_digits, email, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(&c.name)
        .bind(&c.phone)
        .bind(&phone_digits)
        .bind(&c.email)
        .bind(to_millis(at))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                BusinessError::Conflict("a customer with this phone or email already exists".into())
            }
            _ => db(e),
        })?;
        let created = customer(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    async fn services(&self) -> Result<Vec<Service>, BusinessError> {
        let rows = sqlx::query("SELECT * FROM biz_services ORDER BY position, id")
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(service).collect()
    }

    async fn staff(&self) -> Result<Vec<StaffMember>, BusinessError> {
        let rows = sqlx::query(
            "SELECT s.id, s.name, s.bio, s.days,
                    COALESCE((SELECT group_concat(service_id, ',') FROM
                        (SELECT service_id FROM biz_staff_services WHERE staff_id = s.id ORDER BY service_id)), '')
                        AS services
             FROM biz_staff s ORDER BY s.position, s.id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let split = |s: String| -> Vec<String> {
            s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect()
        };
        rows.iter()
            .map(|row| {
                Ok(StaffMember {
                    id: get(row, "id")?,
                    name: get(row, "name")?,
                    bio: get(row, "bio")?,
                    days: split(get(row, "days")?),
                    services: split(get(row, "services")?),
                })
            })
            .collect()
    }

    async fn booked_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Appointment>, BusinessError> {
        let rows = sqlx::query(
            "SELECT * FROM biz_appointments WHERE status = 'booked' AND starts_at < ? AND ends_at > ?
             ORDER BY starts_at, id",
        )
        .bind(to_millis(to))
        .bind(to_millis(from))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter().map(appointment).collect()
    }

    async fn customer_appointments(
        &self,
        customer_id: i64,
        after: Timestamp,
    ) -> Result<Vec<Appointment>, BusinessError> {
        let rows = sqlx::query(
            "SELECT * FROM biz_appointments WHERE customer_id = ? AND ends_at > ? ORDER BY starts_at, id LIMIT 50",
        )
        .bind(customer_id)
        .bind(to_millis(after))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter().map(appointment).collect()
    }

    async fn get_appointment(&self, id: i64) -> Result<Appointment, BusinessError> {
        let row = sqlx::query("SELECT * FROM biz_appointments WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or_else(|| BusinessError::NotFound(format!("appointment A-{id}")))?;
        appointment(&row)
    }

    async fn book_appointment(&self, a: &NewAppointment, at: Timestamp) -> Result<Appointment, BusinessError> {
        // One statement on the single writer: the overlap trigger and the
        // insert cannot interleave with another booking.
        let row = sqlx::query(
            "INSERT INTO biz_appointments (customer_id, service_id, staff_id, starts_at, ends_at, status,
                 created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 'booked', ?, ?) RETURNING *",
        )
        .bind(a.customer_id)
        .bind(&a.service_id)
        .bind(&a.staff_id)
        .bind(to_millis(a.starts_at))
        .bind(to_millis(a.ends_at))
        .bind(to_millis(at))
        .bind(to_millis(at))
        .fetch_one(&self.writer)
        .await
        .map_err(booking_error)?;
        appointment(&row)
    }

    async fn reschedule_appointment(
        &self,
        id: i64,
        staff_id: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        at: Timestamp,
    ) -> Result<Appointment, BusinessError> {
        let row = sqlx::query(
            "UPDATE biz_appointments SET staff_id = ?, starts_at = ?, ends_at = ?, updated_at = ?
             WHERE id = ? AND status = 'booked' RETURNING *",
        )
        .bind(staff_id)
        .bind(to_millis(starts_at))
        .bind(to_millis(ends_at))
        .bind(to_millis(at))
        .bind(id)
        .fetch_optional(&self.writer)
        .await
        .map_err(booking_error)?;
        match row {
            Some(row) => appointment(&row),
            None => {
                let current = self.get_appointment(id).await?;
                Err(BusinessError::Conflict(format!("appointment A-{id} is {}", current.status.as_str())))
            }
        }
    }

    async fn cancel_appointment(&self, id: i64, at: Timestamp) -> Result<Appointment, BusinessError> {
        let row = sqlx::query(
            "UPDATE biz_appointments SET status = 'cancelled', updated_at = ?
             WHERE id = ? AND status = 'booked' RETURNING *",
        )
        .bind(to_millis(at))
        .bind(id)
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        match row {
            Some(row) => appointment(&row),
            None => {
                let current = self.get_appointment(id).await?;
                Err(BusinessError::Conflict(format!("appointment A-{id} is already {}", current.status.as_str())))
            }
        }
    }

    async fn search_products(&self, words: &[String], limit: u32) -> Result<Vec<Product>, BusinessError> {
        let rows = if words.is_empty() {
            sqlx::query("SELECT * FROM biz_products ORDER BY name LIMIT ?").bind(limit).fetch_all(&self.reader).await
        } else {
            // Score: how many of the words occur; any match counts.
            let score = vec!["(instr(hay, ?) > 0)"; words.len()].join(" + ");
            let sql = format!(
                "SELECT * FROM (SELECT *, {score} AS score FROM
                     (SELECT *, lower(name || ' ' || description || ' ' || category || ' ' || sku) AS hay
                      FROM biz_products))
                 WHERE score > 0 ORDER BY score DESC, name LIMIT ?"
            );
            let mut q = sqlx::query(&sql);
            for w in words {
                q = q.bind(w.to_lowercase());
            }
            q.bind(limit).fetch_all(&self.reader).await
        }
        .map_err(db)?;
        rows.iter().map(product).collect()
    }

    async fn get_product(&self, sku: &str) -> Result<Product, BusinessError> {
        let row = sqlx::query("SELECT * FROM biz_products WHERE lower(sku) = lower(?)")
            .bind(sku)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or_else(|| BusinessError::NotFound(format!("product {sku}")))?;
        product(&row)
    }

    async fn get_order(&self, id: i64) -> Result<Order, BusinessError> {
        let row = sqlx::query("SELECT * FROM biz_orders WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or_else(|| BusinessError::NotFound(format!("order O-{id}")))?;
        order(&row)
    }

    async fn cancel_order(&self, id: i64, at: Timestamp) -> Result<Order, BusinessError> {
        let row = sqlx::query(
            "UPDATE biz_orders SET status = 'cancelled', cancelled_at = ?, updated_at = ?
             WHERE id = ? AND status = 'placed' RETURNING *",
        )
        .bind(to_millis(at))
        .bind(to_millis(at))
        .bind(id)
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        match row {
            Some(row) => order(&row),
            None => {
                let current = self.get_order(id).await?;
                Err(BusinessError::Conflict(format!("order O-{id} is already {}", current.status.as_str())))
            }
        }
    }

    async fn create_return(&self, r: &NewReturn) -> Result<ReturnRequest, BusinessError> {
        let refund: i64 = r.items.iter().map(|i| i.price_cents * i64::from(i.qty)).sum();
        // The order's state is checked in the same statement as the insert.
        let inserted = sqlx::query(
            "INSERT INTO biz_returns (order_id, items, reason, status, refund_cents, created_at, updated_at)
             SELECT id, ?, ?, 'requested', ?, ?, ? FROM biz_orders
             WHERE id = ? AND status = 'delivered' AND delivered_at >= ?
             RETURNING *",
        )
        .bind(items_json(&r.items)?)
        .bind(&r.reason)
        .bind(refund)
        .bind(to_millis(r.at))
        .bind(to_millis(r.at))
        .bind(r.order_id)
        .bind(to_millis(r.delivered_since))
        .fetch_optional(&self.writer)
        .await;
        match inserted {
            Ok(Some(row)) => return_request(&row),
            Ok(None) => {
                let o = self.get_order(r.order_id).await?;
                Err(BusinessError::Conflict(if o.status != OrderStatus::Delivered {
                    format!("order O-{} is {}, not delivered", o.id, o.status.as_str())
                } else {
                    format!("order O-{} was delivered too long ago for a return", o.id)
                }))
            }
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                let existing = self.returns_for_order(r.order_id).await?;
                Err(BusinessError::Conflict(match existing.first() {
                    Some(x) => format!("order O-{} already has return R-{} ({})", r.order_id, x.id, x.status.as_str()),
                    None => format!("order O-{} already has a return", r.order_id),
                }))
            }
            Err(e) => Err(db(e)),
        }
    }

    async fn get_return(&self, id: i64) -> Result<ReturnRequest, BusinessError> {
        let row = sqlx::query("SELECT * FROM biz_returns WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or_else(|| BusinessError::NotFound(format!("return R-{id}")))?;
        return_request(&row)
    }

    async fn returns_for_order(&self, order_id: i64) -> Result<Vec<ReturnRequest>, BusinessError> {
        let rows = sqlx::query("SELECT * FROM biz_returns WHERE order_id = ? ORDER BY id")
            .bind(order_id)
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(return_request).collect()
    }

    async fn policies(&self) -> Result<Vec<Policy>, BusinessError> {
        let rows = sqlx::query("SELECT * FROM biz_policies ORDER BY position, key")
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(Policy {
                    key: get(row, "key")?,
                    title: get(row, "title")?,
                    text: get(row, "text")?,
                    keywords: get(row, "keywords")?,
                })
            })
            .collect()
    }

    async fn seed_business(&self, seed: &BusinessSeed) -> Result<SeedReport, BusinessError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let mut n = 0u64;
        for (i, s) in seed.services.iter().enumerate() {
            n += sqlx::query(
                "INSERT OR IGNORE INTO biz_services (id, name, duration_min, price_cents, price_from, aliases, position)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&s.id)
            .bind(&s.name)
            .bind(s.duration_min)
            .bind(s.price_cents)
            .bind(s.price_from)
            .bind(serde_json::to_string(&s.aliases).map_err(corrupt)?)
            .bind(i as i64)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        for (i, s) in seed.staff.iter().enumerate() {
            n += sqlx::query("INSERT OR IGNORE INTO biz_staff (id, name, bio, days, position) VALUES (?, ?, ?, ?, ?)")
                .bind(&s.id)
                .bind(&s.name)
                .bind(&s.bio)
                .bind(s.days.join(","))
                .bind(i as i64)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
            for svc in &s.services {
                n += sqlx::query("INSERT OR IGNORE INTO biz_staff_services (staff_id, service_id) VALUES (?, ?)")
                    .bind(&s.id)
                    .bind(svc)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?
                    .rows_affected();
            }
        }
        for c in &seed.customers {
            n += sqlx::query(
                "INSERT OR IGNORE INTO biz_customers (id, name, phone, phone_digits, email, created_by, created_at)
                 VALUES (?, ?, ?, ?, ?, 'seed', ?)",
            )
            .bind(c.id)
            .bind(&c.name)
            .bind(&c.phone)
            .bind(digits(&c.phone))
            .bind(&c.email)
            .bind(to_millis(c.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        for a in &seed.appointments {
            // Only a missing row is inserted (the overlap trigger never sees
            // the others); one that would overlap a booking made since is
            // skipped, which rolls back only that statement.
            let done = sqlx::query(
                "INSERT INTO biz_appointments (id, customer_id, service_id, staff_id, starts_at, ends_at, status,
                     created_by, created_at, updated_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'seed', ?8, ?9
                 WHERE NOT EXISTS (SELECT 1 FROM biz_appointments WHERE id = ?1)",
            )
            .bind(a.id)
            .bind(a.customer_id)
            .bind(&a.service_id)
            .bind(&a.staff_id)
            .bind(to_millis(a.starts_at))
            .bind(to_millis(a.ends_at))
            .bind(a.status.as_str())
            .bind(to_millis(a.created_at))
            .bind(to_millis(a.updated_at))
            .execute(&mut *tx)
            .await;
            match done {
                Ok(d) => n += d.rows_affected(),
                Err(e) if is_overlap(&e) => {
                    tracing::warn!(id = a.id, "demo appointment overlaps a booking; not seeded");
                }
                Err(e) => return Err(db(e)),
            }
        }
        for p in &seed.products {
            n += sqlx::query(
                "INSERT OR IGNORE INTO biz_products (sku, name, description, category, price_cents, stock)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&p.sku)
            .bind(&p.name)
            .bind(&p.description)
            .bind(&p.category)
            .bind(p.price_cents)
            .bind(p.stock)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        for o in &seed.orders {
            n += sqlx::query(
                "INSERT OR IGNORE INTO biz_orders (id, customer_id, status, items, total_cents, carrier, tracking,
                     placed_at, shipped_at, delivered_at, cancelled_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(o.id)
            .bind(o.customer_id)
            .bind(o.status.as_str())
            .bind(items_json(&o.items)?)
            .bind(o.total_cents)
            .bind(&o.carrier)
            .bind(&o.tracking)
            .bind(to_millis(o.placed_at))
            .bind(o.shipped_at.map(to_millis))
            .bind(o.delivered_at.map(to_millis))
            .bind(o.cancelled_at.map(to_millis))
            .bind(to_millis(o.cancelled_at.or(o.delivered_at).or(o.shipped_at).unwrap_or(o.placed_at)))
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        for r in &seed.returns {
            n += sqlx::query(
                "INSERT OR IGNORE INTO biz_returns (id, order_id, items, reason, status, refund_cents, created_by,
                     created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, 'seed', ?, ?)",
            )
            .bind(r.id)
            .bind(r.order_id)
            .bind(items_json(&r.items)?)
            .bind(&r.reason)
            .bind(r.status.as_str())
            .bind(r.refund_cents)
            .bind(to_millis(r.created_at))
            .bind(to_millis(r.updated_at))
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        for (i, p) in seed.policies.iter().enumerate() {
            n += sqlx::query(
                "INSERT OR IGNORE INTO biz_policies (key, title, text, keywords, position) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&p.key)
            .bind(&p.title)
            .bind(&p.text)
            .bind(&p.keywords)
            .bind(i as i64)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        }
        tx.commit().await.map_err(db)?;
        Ok(SeedReport { inserted: n })
    }
}

/// Whether `e` is one of the overlap triggers' refusals.
fn is_overlap(e: &sqlx::Error) -> bool {
    db_message(e).is_some_and(|m| m.contains("slot_taken") || m.contains("customer_busy"))
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use switchboard_core::ports::AuditStore;

    use super::*;

    const H: i64 = 3_600_000;

    fn run<F: Future<Output = ()>>(f: impl FnOnce(SqliteStore) -> F) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("db.sqlite")).await.unwrap();
            store.seed_business(&seed()).await.unwrap();
            f(store.clone()).await;
            store.close().await;
        });
    }

    fn t(h: i64) -> Timestamp {
        from_millis(1_800_000_000_000 + h * H)
    }

    fn seed() -> BusinessSeed {
        let item = OrderItem { sku: "P1".into(), name: "Shampoo".into(), qty: 2, price_cents: 1000 };
        let order = |id, status, delivered: Option<i64>| Order {
            id,
            customer_id: 1,
            status,
            items: vec![item.clone()],
            total_cents: 2000,
            carrier: None,
            tracking: None,
            placed_at: t(-500),
            shipped_at: None,
            delivered_at: delivered.map(t),
            cancelled_at: None,
        };
        BusinessSeed {
            services: vec![Service {
                id: "cut".into(),
                name: "Cut".into(),
                duration_min: 60,
                price_cents: 5000,
                price_from: false,
                aliases: vec!["trim".into()],
            }],
            staff: ["s1", "s2"]
                .iter()
                .map(|id| StaffMember {
                    id: (*id).into(),
                    name: id.to_uppercase(),
                    bio: String::new(),
                    days: vec!["tue".into()],
                    services: vec!["cut".into()],
                })
                .collect(),
            customers: (1..=3)
                .map(|i| Customer {
                    id: i,
                    name: format!("Customer {i}"),
                    phone: format!("+1-555-010{i}"),
                    email: Some(format!("c{i}@example.com")),
                    created_at: t(-1000),
                })
                .collect(),
            appointments: vec![],
            products: vec![Product {
                sku: "P1".into(),
                name: "Shampoo".into(),
                description: "Sulfate-free".into(),
                category: "shampoo".into(),
                price_cents: 1000,
                stock: 3,
            }],
            orders: vec![
                order(1, OrderStatus::Placed, None),
                order(2, OrderStatus::Shipped, None),
                order(3, OrderStatus::Delivered, Some(-24)),
                order(4, OrderStatus::Delivered, Some(-24 * 30)),
            ],
            returns: vec![],
            policies: vec![Policy { key: "k".into(), title: "T".into(), text: "x".into(), keywords: String::new() }],
        }
    }

    fn appt(customer_id: i64, staff: &str, from: i64, to: i64) -> NewAppointment {
        NewAppointment {
            customer_id,
            service_id: "cut".into(),
            staff_id: staff.into(),
            starts_at: t(from),
            ends_at: t(to),
        }
    }

    fn is_conflict<T: std::fmt::Debug>(r: Result<T, BusinessError>) -> bool {
        matches!(r, Err(BusinessError::Conflict(_)))
    }

    #[test]
    fn no_double_booking_of_a_staff_member_or_a_customer() {
        run(|s| async move {
            let a = s.book_appointment(&appt(1, "s1", 10, 11), t(0)).await.unwrap();
            assert_eq!(a.status, AppointmentStatus::Booked);
            assert!(is_conflict(s.book_appointment(&appt(2, "s1", 10, 11), t(0)).await), "same staff, same time");
            assert!(is_conflict(s.book_appointment(&appt(2, "s1", 9, 11), t(0)).await), "overlap");
            assert!(is_conflict(s.book_appointment(&appt(1, "s2", 10, 11), t(0)).await), "same customer elsewhere");
            s.book_appointment(&appt(2, "s1", 11, 12), t(0)).await.expect("back to back is fine");
            s.book_appointment(&appt(3, "s2", 10, 11), t(0)).await.expect("another staff is fine");
            // A cancelled booking frees its slot; cancelling twice is a conflict.
            s.cancel_appointment(a.id, t(1)).await.unwrap();
            assert!(is_conflict(s.cancel_appointment(a.id, t(1)).await));
            assert!(is_conflict(s.reschedule_appointment(a.id, "s1", t(20), t(21), t(1)).await));
            s.book_appointment(&appt(2, "s1", 10, 11), t(0)).await.expect("slot freed");
            assert!(matches!(s.cancel_appointment(999, t(1)).await, Err(BusinessError::NotFound(_))));
            assert!(matches!(s.book_appointment(&appt(99, "s1", 30, 31), t(0)).await, Err(BusinessError::NotFound(_))));
        });
    }

    #[test]
    fn concurrent_bookings_of_one_slot_exactly_one_wins() {
        run(|s| async move {
            let mut tasks = Vec::new();
            for c in 1..=3 {
                for _ in 0..4 {
                    let s = s.clone();
                    tasks.push(tokio::spawn(async move { s.book_appointment(&appt(c, "s1", 40, 41), t(0)).await }));
                }
            }
            let mut won = 0;
            for task in tasks {
                match task.await.unwrap() {
                    Ok(_) => won += 1,
                    Err(BusinessError::Conflict(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(won, 1);
            assert_eq!(s.booked_between(t(39), t(42)).await.unwrap().len(), 1);
        });
    }

    #[test]
    fn reschedule_respects_other_bookings_but_not_itself() {
        run(|s| async move {
            let a = s.book_appointment(&appt(1, "s1", 10, 11), t(0)).await.unwrap();
            s.book_appointment(&appt(2, "s1", 12, 13), t(0)).await.unwrap();
            let half = |h: i64| from_millis(to_millis(t(h)) + H / 2);
            let moved = s.reschedule_appointment(a.id, "s1", half(10), half(11), t(1)).await.unwrap();
            assert_eq!(moved.starts_at, half(10));
            assert!(is_conflict(s.reschedule_appointment(a.id, "s1", t(12), t(13), t(1)).await));
            let moved = s.reschedule_appointment(a.id, "s2", t(12), t(13), t(1)).await.unwrap();
            assert_eq!(moved.staff_id, "s2");
            let audit = s.audit_for(&format!("A-{}", a.id)).await.unwrap();
            assert_eq!(
                audit.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
                ["created", "rescheduled", "rescheduled"]
            );
        });
    }

    #[test]
    fn order_and_return_changes_are_conditional() {
        run(|s| async move {
            assert_eq!(s.cancel_order(1, t(0)).await.unwrap().status, OrderStatus::Cancelled);
            assert!(is_conflict(s.cancel_order(1, t(0)).await));
            assert!(is_conflict(s.cancel_order(2, t(0)).await), "shipped");
            assert!(matches!(s.cancel_order(77, t(0)).await, Err(BusinessError::NotFound(_))));

            let ret = |order_id| NewReturn {
                order_id,
                items: vec![OrderItem { sku: "P1".into(), name: "Shampoo".into(), qty: 1, price_cents: 1000 }],
                reason: "unopened".into(),
                delivered_since: t(-14 * 24),
                at: t(0),
            };
            let r = s.create_return(&ret(3)).await.unwrap();
            assert_eq!((r.status, r.refund_cents), (ReturnStatus::Requested, 1000));
            assert_eq!(s.get_return(r.id).await.unwrap(), r);
            assert!(is_conflict(s.create_return(&ret(3)).await), "one return per order");
            assert!(is_conflict(s.create_return(&ret(4)).await), "outside the window");
            assert!(is_conflict(s.create_return(&ret(2)).await), "not delivered");
            assert!(matches!(s.create_return(&ret(77)).await, Err(BusinessError::NotFound(_))));
        });
    }

    #[test]
    fn customers_match_by_phone_suffix_email_or_name_and_are_unique() {
        run(|s| async move {
            let found = s.find_customers(Some("5550102"), None, None, 5).await.unwrap();
            assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [2]);
            assert_eq!(s.find_customers(None, Some("C3@EXAMPLE.COM"), None, 5).await.unwrap()[0].id, 3);
            assert_eq!(s.find_customers(None, None, Some("customer"), 5).await.unwrap().len(), 3);
            assert!(s.find_customers(Some("0102"), None, None, 5).await.unwrap().is_empty(), "too few digits");
            let new = |phone: &str, email: Option<&str>| NewCustomer {
                name: "New".into(),
                phone: phone.into(),
                email: email.map(Into::into),
            };
            assert!(is_conflict(s.insert_customer(&new("555-0101", None), t(0)).await));
            assert!(is_conflict(s.insert_customer(&new("555-0199", Some("c1@example.com")), t(0)).await));
            let c = s.insert_customer(&new("555-0199", None), t(0)).await.unwrap();
            assert_eq!(c.id, 4);
        });
    }

    #[test]
    fn seeding_again_inserts_nothing() {
        run(|s| async move {
            assert_eq!(s.seed_business(&seed()).await.unwrap().inserted, 0);
            assert_eq!(s.staff().await.unwrap()[0].services, ["cut"]);
            assert_eq!(s.search_products(&["shampoo".into()], 5).await.unwrap().len(), 1);
            assert!(s.search_products(&["conditioner".into()], 5).await.unwrap().is_empty());
        });
    }
}
