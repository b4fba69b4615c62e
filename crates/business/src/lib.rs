//! `switchboard-business` owns the demo business's agent tools and its demo
//! data: the functions the agent offers the model to look up and create
//! customers, check availability and book, move or cancel appointments, look
//! up, track and cancel orders, search products, open and follow returns, and
//! read policies. Each implements the core's [`Tool`] port over the
//! [`BusinessStore`] port (SQLite in `switchboard-store`).
//!
//! - Arguments: each tool's JSON schema is derived from its typed argument
//!   struct (compact, for a small model's prompt); intake is lenient about
//!   what small models send (arguments as a JSON string, `null` optionals,
//!   numbers as strings, other key casing) and then strict: unknown fields,
//!   bad shapes (phone, email, `YYYY-MM-DD`, `HH:MM`) and lengths are
//!   [`ToolError::InvalidArguments`] with a message saying what to send.
//! - Results are compact JSON with a `message` the agent can read aloud.
//! - Rules come from [`BusinessConfig`]: opening hours (in a fixed UTC offset,
//!   no daylight saving), the last start an hour before closing, 24 hours'
//!   notice for cancelling, a 14-day return window. The clock is injected, so
//!   availability is testable.
//! - Races are decided by the store (see `BusinessStore`): no double booking,
//!   conditional status changes.
//! - [`seed_demo`] writes `assets/demo/business.json` (embedded),
//!   idempotently, with times relative to the moment of seeding.

mod args;
mod demo;
mod tools;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchboard_core::business::BusinessStore;
use switchboard_core::tool::Tool;
#[cfg(doc)]
use switchboard_core::tool::ToolError;

pub use demo::{
    BusinessConfig, DemoAppointment, DemoBusiness, DemoCustomer, DemoItem, DemoOrder, DemoReturn, SeedError, seed_demo,
    seed_demo_at,
};

/// The current time, injectable for tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(switchboard_core::time::now)
}

/// The business tools over `store`, with the rules of `config`.
pub fn tools(store: Arc<dyn BusinessStore>, config: BusinessConfig, clock: Clock) -> Vec<Arc<dyn Tool>> {
    tools::all(Arc::new(tools::Biz { store, cfg: config, clock, verified: Default::default() }))
}

/// The business tools with the demo business's rules (the embedded
/// `assets/demo/business.json`).
pub fn demo_tools(store: Arc<dyn BusinessStore>, clock: Clock) -> Vec<Arc<dyn Tool>> {
    let demo = DemoBusiness::embedded();
    let config = demo.config().expect("embedded demo business is valid (tested)");
    let services: Vec<String> = demo.services.iter().map(|s| s.name.clone()).collect();
    tools::with_services(tools(store, config, clock), &services)
}

/// The names of the tools [`tools`] returns, in order.
pub const TOOL_NAMES: [&str; 15] = [
    "find_customer",
    "create_customer",
    "check_availability",
    "get_appointments",
    "create_appointment",
    "reschedule_appointment",
    "cancel_appointment",
    "get_order",
    "track_order",
    "cancel_order",
    "search_products",
    "get_product_details",
    "initiate_return",
    "get_return_status",
    "get_policy",
];

/// The tools as one line each, `name(arg, date: YYYY-MM-DD, opt?) - what it
/// does`: a far shorter rendering than the JSON schemas (about a third), for
/// prompts of small models that take tool descriptions as text. Required
/// arguments come first, in the schema's order.
pub fn signatures(specs: &[switchboard_core::llm::ToolSpec]) -> String {
    let mut out = String::new();
    for s in specs {
        let props = s.parameters.get("properties").and_then(|p| p.as_object());
        let required: Vec<&str> = s
            .parameters
            .get("required")
            .and_then(|r| r.as_array())
            .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let mut args: Vec<String> = Vec::new();
        let mut push = |name: &str, optional: bool| {
            let hint = props
                .and_then(|p| p.get(name))
                .and_then(|p| p.get("description"))
                .and_then(|d| d.as_str())
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            args.push(format!("{name}{}{hint}", if optional { "?" } else { "" }));
        };
        for r in &required {
            push(r, false);
        }
        for name in props.into_iter().flat_map(|p| p.keys()) {
            if !required.contains(&name.as_str()) {
                push(name, true);
            }
        }
        out.push_str(&format!("{}({}) - {}\n", s.name, args.join(", "), s.description));
    }
    out
}

/// Entry points into the private argument parsers, for the fuzz targets in
/// `fuzz/` only (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use chrono::NaiveDate;
    use schemars::JsonSchema;
    use serde::Deserialize;

    /// Fields of the shapes the tools take.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shaped {
        customer_id: String,
        date: Option<String>,
        quantity: Option<i64>,
        items: Option<Vec<String>>,
        urgent: Option<bool>,
    }

    /// A date and a time argument as a model might write them; a date that
    /// parses is within a week of today or exactly what was written.
    pub fn date_and_time(s: &str) {
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).expect("valid date");
        if let Ok(d) = crate::args::date(s, today) {
            let written = s.trim().len() == 10;
            assert!(written || (d >= today && (d - today).num_days() < 7), "{s:?} -> {d}");
        }
        let _ = crate::args::time(s);
    }

    /// Lenient intake, then strict checks, of JSON arguments.
    pub fn arguments(json: &str) {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else { return };
        let schema = crate::args::schema_for::<Shaped>();
        let _ = crate::args::parse::<Shaped>(value, &schema);
    }
}
