//! A business's bookable records (the demo seeds a hair salon with a small web shop):
//! customers, services and the staff who do them, appointments, products, orders, returns
//! and policies, and the [`BusinessStore`] port that keeps them.
//!
//! Record ids are small integers (customers and appointments from 1001,
//! orders from 1001, returns from 1001): the agent reads them aloud and a
//! small model copies them between tool calls, which a UUID makes error-prone.
//! The tools show them with a prefix (`C-1001`, `A-1001`, `O-1001`, `R-1001`).
//!
//! The store decides every race: an appointment never overlaps another booked
//! one of the same staff member or customer, and every status change is
//! conditional on the current status.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

use crate::error::{Coded, ErrorCode};
use crate::time::Timestamp;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Failures of the business store.
#[derive(Debug, Error)]
pub enum BusinessError {
    /// The text names what was not found ("order 1009").
    #[error("{0} not found")]
    NotFound(String),
    /// The change is not possible in the current state (slot taken, order
    /// already shipped); the text says why.
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(#[source] BoxError),
}

impl Coded for BusinessError {
    fn code(&self) -> ErrorCode {
        match self {
            BusinessError::NotFound(_) => ErrorCode::NotFound,
            BusinessError::Conflict(_) => ErrorCode::Conflict,
            BusinessError::Corrupt(_) | BusinessError::Backend(_) => ErrorCode::Internal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A customer to create (validated by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCustomer {
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
}

/// One of the services appointments are booked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Service {
    /// Stable key, e.g. `mens-cut`.
    pub id: String,
    pub name: String,
    /// Booked length in minutes (the longest when the profile gives a range).
    pub duration_min: u32,
    pub price_cents: i64,
    /// The price is a starting price ("from $85").
    #[serde(default)]
    pub price_from: bool,
    /// Other names callers use for it ("gents haircut"), from the business's
    /// own data: the tools match these, so no trade's words live in code.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A weekday as stored: `mon` … `sun`.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StaffMember {
    /// Stable key, e.g. `theo`.
    pub id: String,
    pub name: String,
    pub bio: String,
    /// The weekdays they work (`mon` … `sun`).
    pub days: Vec<String>,
    /// Keys of the services they do.
    pub services: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    Cancelled,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "booked" => Some(AppointmentStatus::Booked),
            "cancelled" => Some(AppointmentStatus::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Appointment {
    pub id: i64,
    pub customer_id: i64,
    pub service_id: String,
    pub staff_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: AppointmentStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An appointment to book. The store refuses it with
/// [`BusinessError::Conflict`] if it overlaps a booked appointment of the
/// same staff member or the same customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppointment {
    pub customer_id: i64,
    pub service_id: String,
    pub staff_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "placed" => Some(OrderStatus::Placed),
            "shipped" => Some(OrderStatus::Shipped),
            "delivered" => Some(OrderStatus::Delivered),
            "cancelled" => Some(OrderStatus::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderItem {
    pub sku: String,
    pub name: String,
    pub qty: u32,
    pub price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    pub total_cents: i64,
    pub carrier: Option<String>,
    pub tracking: Option<String>,
    pub placed_at: DateTime<Utc>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    Requested,
    Approved,
    Received,
    Refunded,
}

impl ReturnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnStatus::Requested => "requested",
            ReturnStatus::Approved => "approved",
            ReturnStatus::Received => "received",
            ReturnStatus::Refunded => "refunded",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "requested" => Some(ReturnStatus::Requested),
            "approved" => Some(ReturnStatus::Approved),
            "received" => Some(ReturnStatus::Received),
            "refunded" => Some(ReturnStatus::Refunded),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReturnRequest {
    pub id: i64,
    pub order_id: i64,
    pub items: Vec<OrderItem>,
    pub reason: String,
    pub status: ReturnStatus,
    pub refund_cents: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A return to open. The store refuses it with [`BusinessError::Conflict`]
/// unless the order is delivered, was delivered at or after
/// `delivered_since`, and has no return yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReturn {
    pub order_id: i64,
    pub items: Vec<OrderItem>,
    pub reason: String,
    pub delivered_since: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Policy {
    /// Stable key, e.g. `cancellation`.
    pub key: String,
    pub title: String,
    pub text: String,
    /// Words a caller might use for this topic ("cancel reschedule no-show").
    pub keywords: String,
}

/// Everything `--demo` writes, with absolute times. Rows carry their ids, so
/// seeding inserts only the rows that are missing: seeding twice changes
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessSeed {
    pub services: Vec<Service>,
    pub staff: Vec<StaffMember>,
    pub customers: Vec<Customer>,
    pub appointments: Vec<Appointment>,
    pub products: Vec<Product>,
    pub orders: Vec<Order>,
    pub returns: Vec<ReturnRequest>,
    pub policies: Vec<Policy>,
}

/// Rows a seeding actually inserted (all zero when everything was there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    pub inserted: u64,
}

#[async_trait]
pub trait BusinessStore: Send + Sync {
    /// Customers whose phone (compared by its digits; either may be the
    /// other's suffix, at least 7 digits) or email (case-insensitive) match
    /// exactly, or whose name contains `name` (case-insensitive). At most
    /// `limit`, oldest first.
    async fn find_customers(
        &self,
        phone_digits: Option<&str>,
        email: Option<&str>,
        name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Customer>, BusinessError>;
    async fn get_customer(&self, id: i64) -> Result<Customer, BusinessError>;
    /// Fails with [`BusinessError::Conflict`] naming the existing customer
    /// when the phone or email is taken.
    async fn insert_customer(&self, c: &NewCustomer, at: Timestamp) -> Result<Customer, BusinessError>;

    async fn services(&self) -> Result<Vec<Service>, BusinessError>;
    async fn staff(&self) -> Result<Vec<StaffMember>, BusinessError>;

    /// Booked appointments overlapping `[from, to)`, by start.
    async fn booked_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Appointment>, BusinessError>;
    /// A customer's appointments ending after `after`, by start (any status).
    async fn customer_appointments(
        &self,
        customer_id: i64,
        after: Timestamp,
    ) -> Result<Vec<Appointment>, BusinessError>;
    async fn get_appointment(&self, id: i64) -> Result<Appointment, BusinessError>;
    /// Atomic against concurrent bookings: of overlapping ones exactly one wins.
    async fn book_appointment(&self, a: &NewAppointment, at: Timestamp) -> Result<Appointment, BusinessError>;
    /// Moves a booked appointment (conditional on `booked`; overlap as for booking).
    async fn reschedule_appointment(
        &self,
        id: i64,
        staff_id: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        at: Timestamp,
    ) -> Result<Appointment, BusinessError>;
    /// `booked → cancelled`; an already cancelled one is a conflict.
    async fn cancel_appointment(&self, id: i64, at: Timestamp) -> Result<Appointment, BusinessError>;

    /// Products whose name, description, category or SKU contain every word
    /// of `words` (case-insensitive); all when empty. By name.
    async fn search_products(&self, words: &[String], limit: u32) -> Result<Vec<Product>, BusinessError>;
    async fn get_product(&self, sku: &str) -> Result<Product, BusinessError>;

    async fn get_order(&self, id: i64) -> Result<Order, BusinessError>;
    /// `placed → cancelled`; any other status is a conflict.
    async fn cancel_order(&self, id: i64, at: Timestamp) -> Result<Order, BusinessError>;

    async fn create_return(&self, r: &NewReturn) -> Result<ReturnRequest, BusinessError>;
    async fn get_return(&self, id: i64) -> Result<ReturnRequest, BusinessError>;
    async fn returns_for_order(&self, order_id: i64) -> Result<Vec<ReturnRequest>, BusinessError>;

    async fn policies(&self) -> Result<Vec<Policy>, BusinessError>;

    /// Inserts the rows of `seed` that are missing, in one transaction.
    async fn seed_business(&self, seed: &BusinessSeed) -> Result<SeedReport, BusinessError>;
}
