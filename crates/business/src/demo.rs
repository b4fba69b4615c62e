//! The demo business's rules ([`BusinessConfig`]) and data ([`DemoBusiness`],
//! `assets/demo/business.json`), and [`seed_demo`].
//!
//! Times in the data are relative to the moment of seeding (`in_days`,
//! `placed_days`, …), so a fresh demo always has appointments a few days ahead
//! and one order still inside its return window.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use serde::Deserialize;
use switchboard_core::business::{
    Appointment, AppointmentStatus, BusinessError, BusinessSeed, BusinessStore, Customer, Order, OrderItem,
    OrderStatus, Policy, Product, ReturnRequest, ReturnStatus, SeedReport, Service, StaffMember,
};
use switchboard_core::{Coded, ErrorCode};
use thiserror::Error;

const EMBEDDED: &str = include_str!("../../../assets/demo/business.json");

/// The business's rules the tools apply: opening hours in its local time
/// zone, booking rules and windows.
///
/// The time zone is a fixed UTC offset (the demo uses `-05:00`), so daylight
/// saving time is not followed: dates and times the tools accept and show are
/// in that offset.
#[derive(Debug, Clone)]
pub struct BusinessConfig {
    pub name: String,
    pub offset: FixedOffset,
    /// Opening and closing time per weekday, Monday first; `None` = closed.
    pub hours: [Option<(NaiveTime, NaiveTime)>; 7],
    /// The last appointment starts at least this long before closing.
    pub last_start_before_close: TimeDelta,
    /// Spacing of the start times `check_availability` offers.
    pub slot_step: TimeDelta,
    /// How far ahead bookings are taken.
    pub booking_horizon_days: u32,
    /// Cancelling or moving with less notice than this is charged.
    pub cancellation_notice: TimeDelta,
    pub late_cancel_fee_percent: u32,
    /// Delivered orders can be returned for this many days.
    pub return_window_days: u32,
    /// A sentence added to a booking's confirmation, by service key.
    pub booking_notes: BTreeMap<String, String>,
}

impl BusinessConfig {
    /// Opening hours of `date`'s weekday.
    pub fn hours_on(&self, date: NaiveDate) -> Option<(NaiveTime, NaiveTime)> {
        self.hours[date.weekday().num_days_from_monday() as usize]
    }

    /// `t` in the business's local time.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        t.with_timezone(&self.offset)
    }

    /// A local date and time as a UTC instant.
    pub fn instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        // A fixed offset has no gaps or folds: always exactly one instant.
        date.and_time(time).and_local_timezone(self.offset).single().map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }
}

/// `assets/demo/business.json`: the rules and the rows `--demo` seeds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoBusiness {
    pub name: String,
    /// `+HH:MM` or `-HH:MM`.
    pub utc_offset: String,
    /// `mon` … `sun` → `"09:00-18:00"`, or `null` when closed.
    pub hours: BTreeMap<String, Option<String>>,
    pub last_start_before_close_min: u32,
    pub slot_step_min: u32,
    pub booking_horizon_days: u32,
    pub cancellation_notice_hours: u32,
    pub late_cancel_fee_percent: u32,
    pub return_window_days: u32,
    #[serde(default)]
    pub booking_notes: BTreeMap<String, String>,
    pub services: Vec<Service>,
    pub staff: Vec<StaffMember>,
    pub customers: Vec<DemoCustomer>,
    pub appointments: Vec<DemoAppointment>,
    pub products: Vec<Product>,
    pub orders: Vec<DemoOrder>,
    pub returns: Vec<DemoReturn>,
    pub policies: Vec<Policy>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCustomer {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
}

/// An appointment `in_days` after the seeding day at local `time`, moved on
/// to the next day the business is open and the staff member works.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoAppointment {
    pub id: i64,
    pub customer_id: i64,
    pub service: String,
    pub staff: String,
    pub in_days: i64,
    pub time: String,
    #[serde(default = "booked")]
    pub status: AppointmentStatus,
}

fn booked() -> AppointmentStatus {
    AppointmentStatus::Booked
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoItem {
    pub sku: String,
    pub qty: u32,
}

/// An order whose times are days relative to the seeding moment (negative = ago).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoOrder {
    pub id: i64,
    pub customer_id: i64,
    pub status: OrderStatus,
    pub placed_days: i64,
    #[serde(default)]
    pub shipped_days: Option<i64>,
    #[serde(default)]
    pub delivered_days: Option<i64>,
    #[serde(default)]
    pub cancelled_days: Option<i64>,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub tracking: Option<String>,
    pub items: Vec<DemoItem>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoReturn {
    pub id: i64,
    pub order_id: i64,
    pub status: ReturnStatus,
    pub created_days: i64,
    pub reason: String,
    pub items: Vec<DemoItem>,
}

/// Demo data that does not hold together, or a store failure while seeding.
#[derive(Debug, Error)]
pub enum SeedError {
    #[error("demo business data is invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] BusinessError),
}

impl Coded for SeedError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Internal
    }
}

fn invalid(msg: impl Into<String>) -> SeedError {
    SeedError::Invalid(msg.into())
}

pub(crate) fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

static DEMO: LazyLock<DemoBusiness> =
    LazyLock::new(|| DemoBusiness::from_json(EMBEDDED).expect("assets/demo/business.json is valid (tested)"));

impl DemoBusiness {
    /// The data shipped in the binary (`assets/demo/business.json`).
    pub fn embedded() -> &'static DemoBusiness {
        &DEMO
    }

    pub fn from_json(json: &str) -> Result<DemoBusiness, SeedError> {
        let d: DemoBusiness = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
        d.config()?;
        Ok(d)
    }

    /// The rules the tools apply.
    pub fn config(&self) -> Result<BusinessConfig, SeedError> {
        let offset =
            parse_offset(&self.utc_offset).ok_or_else(|| invalid(format!("utc_offset {}", self.utc_offset)))?;
        let mut hours = [None; 7];
        for (day, span) in &self.hours {
            let i = weekday_index(day).ok_or_else(|| invalid(format!("hours: unknown day {day}")))?;
            hours[i] = match span {
                None => None,
                Some(s) => {
                    let (a, b) = s.split_once('-').ok_or_else(|| invalid(format!("hours {day}: {s}")))?;
                    let (open, close) = (parse_hhmm(a), parse_hhmm(b));
                    match (open, close) {
                        (Some(o), Some(c)) if o < c => Some((o, c)),
                        _ => return Err(invalid(format!("hours {day}: {s}"))),
                    }
                }
            };
        }
        if self.slot_step_min == 0 {
            return Err(invalid("slot_step_min must be positive"));
        }
        Ok(BusinessConfig {
            name: self.name.clone(),
            offset,
            hours,
            last_start_before_close: TimeDelta::minutes(self.last_start_before_close_min.into()),
            slot_step: TimeDelta::minutes(self.slot_step_min.into()),
            booking_horizon_days: self.booking_horizon_days,
            cancellation_notice: TimeDelta::hours(self.cancellation_notice_hours.into()),
            late_cancel_fee_percent: self.late_cancel_fee_percent,
            return_window_days: self.return_window_days,
            booking_notes: self.booking_notes.clone(),
        })
    }

    /// The rows to seed, with times computed from `now`.
    pub fn seed_at(&self, now: DateTime<Utc>) -> Result<BusinessSeed, SeedError> {
        let cfg = self.config()?;
        let days = |d: i64| now + TimeDelta::days(d);
        let service = |id: &str| {
            self.services.iter().find(|s| s.id == id).ok_or_else(|| invalid(format!("unknown service {id}")))
        };
        let product = |sku: &str| {
            self.products.iter().find(|p| p.sku == sku).ok_or_else(|| invalid(format!("unknown product {sku}")))
        };
        for s in &self.staff {
            for d in &s.days {
                weekday_index(d).ok_or_else(|| invalid(format!("staff {}: day {d}", s.id)))?;
            }
            for svc in &s.services {
                service(svc)?;
            }
        }
        let customers = self
            .customers
            .iter()
            .map(|c| Customer {
                id: c.id,
                name: c.name.clone(),
                phone: c.phone.clone(),
                email: c.email.clone(),
                created_at: now,
            })
            .collect();

        let today = cfg.local(now).date_naive();
        let mut appointments = Vec::new();
        for a in &self.appointments {
            let svc = service(&a.service)?;
            let staff = self
                .staff
                .iter()
                .find(|s| s.id == a.staff)
                .ok_or_else(|| invalid(format!("appointment {}: unknown staff member {}", a.id, a.staff)))?;
            let time = parse_hhmm(&a.time).ok_or_else(|| invalid(format!("appointment {}: time {}", a.id, a.time)))?;
            let mut date = today + TimeDelta::days(a.in_days);
            let works = |d: NaiveDate| {
                cfg.hours_on(d).is_some()
                    && staff.days.iter().any(|x| weekday_index(x) == Some(weekday_idx(d.weekday())))
            };
            let mut tries = 0;
            while !works(date) {
                date = date.succ_opt().ok_or_else(|| invalid("date overflow"))?;
                tries += 1;
                if tries > 7 {
                    return Err(invalid(format!("staff member {} never works", staff.id)));
                }
            }
            let starts_at = cfg.instant(date, time);
            appointments.push(Appointment {
                id: a.id,
                customer_id: a.customer_id,
                service_id: svc.id.clone(),
                staff_id: staff.id.clone(),
                starts_at,
                ends_at: starts_at + TimeDelta::minutes(svc.duration_min.into()),
                status: a.status,
                created_at: now,
                updated_at: now,
            });
        }

        let to_items = |items: &[DemoItem]| -> Result<Vec<OrderItem>, SeedError> {
            items
                .iter()
                .map(|i| {
                    let p = product(&i.sku)?;
                    Ok(OrderItem { sku: p.sku.clone(), name: p.name.clone(), qty: i.qty, price_cents: p.price_cents })
                })
                .collect()
        };
        let total = |items: &[OrderItem]| items.iter().map(|i| i.price_cents * i64::from(i.qty)).sum::<i64>();
        let mut orders = Vec::new();
        for o in &self.orders {
            let items = to_items(&o.items)?;
            orders.push(Order {
                id: o.id,
                customer_id: o.customer_id,
                status: o.status,
                total_cents: total(&items),
                items,
                carrier: o.carrier.clone(),
                tracking: o.tracking.clone(),
                placed_at: days(o.placed_days),
                shipped_at: o.shipped_days.map(days),
                delivered_at: o.delivered_days.map(days),
                cancelled_at: o.cancelled_days.map(days),
            });
        }
        let mut returns = Vec::new();
        for r in &self.returns {
            if !orders.iter().any(|o| o.id == r.order_id) {
                return Err(invalid(format!("return {}: unknown order {}", r.id, r.order_id)));
            }
            let items = to_items(&r.items)?;
            returns.push(ReturnRequest {
                id: r.id,
                order_id: r.order_id,
                refund_cents: total(&items),
                items,
                reason: r.reason.clone(),
                status: r.status,
                created_at: days(r.created_days),
                updated_at: days(r.created_days),
            });
        }
        Ok(BusinessSeed {
            services: self.services.clone(),
            staff: self.staff.clone(),
            customers,
            appointments,
            products: self.products.clone(),
            orders,
            returns,
            policies: self.policies.clone(),
        })
    }
}

/// Writes the demo business's rows that are missing, with times relative to
/// now. Idempotent: rows carry fixed ids, so seeding twice changes nothing.
pub async fn seed_demo(store: &dyn BusinessStore, data: &DemoBusiness) -> Result<SeedReport, SeedError> {
    seed_demo_at(store, data, switchboard_core::time::now()).await
}

/// [`seed_demo`] as if it were `now`.
pub async fn seed_demo_at(
    store: &dyn BusinessStore,
    data: &DemoBusiness,
    now: DateTime<Utc>,
) -> Result<SeedReport, SeedError> {
    let seed = data.seed_at(now)?;
    Ok(store.seed_business(&seed).await?)
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * secs)
}

/// `mon` … `sun` (or a longer English name) → 0 … 6.
pub(crate) fn weekday_index(s: &str) -> Option<usize> {
    let s = s.trim().to_ascii_lowercase();
    let key = s.get(..3)?;
    switchboard_core::business::WEEKDAYS.iter().position(|d| *d == key)
}

pub(crate) fn weekday_idx(w: Weekday) -> usize {
    w.num_days_from_monday() as usize
}
