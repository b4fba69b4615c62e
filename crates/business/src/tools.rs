//! The tools: one [`BizTool`] per operation, all over one shared [`Biz`].

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::business::{
    Appointment, AppointmentStatus, BusinessError, BusinessStore, Customer, NewAppointment, NewCustomer, NewReturn,
    Order, OrderItem, OrderStatus, Policy, Product, ReturnRequest, ReturnStatus, Service, StaffMember,
};
use switchboard_core::llm::ToolSpec;
use switchboard_core::tool::{Tool, ToolContext, ToolError};

use crate::Clock;
use crate::args::{self, Kind, bad, id_of, parse, record_id, schema_for, show};
use crate::demo::{BusinessConfig, weekday_idx, weekday_index};

// ---- arguments (doc comments become the schema's descriptions) ----

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FindCustomerArgs {
    /// the caller's name
    name: String,
    /// the phone number on file
    phone: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateCustomerArgs {
    name: String,
    phone: String,
    email: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AvailabilityArgs {
    /// YYYY-MM-DD
    date: String,
    service: String,
    staff: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CustomerIdArgs {
    /// default: the caller
    customer_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BookArgs {
    /// default: the caller
    customer_id: Option<String>,
    service: String,
    /// YYYY-MM-DD
    date: String,
    /// HH:MM
    time: String,
    staff: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RescheduleArgs {
    appointment_id: String,
    /// YYYY-MM-DD
    date: String,
    /// HH:MM
    time: String,
    staff: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AppointmentIdArgs {
    appointment_id: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OrderIdArgs {
    order_id: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SearchProductsArgs {
    query: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProductArgs {
    /// SKU or name
    product: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReturnArgs {
    order_id: String,
    reason: String,
    /// SKUs; all if omitted
    items: Option<Vec<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReturnStatusArgs {
    /// Return id or order number
    id: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PolicyArgs {
    topic: String,
}

// ---- the tools ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    FindCustomer,
    CreateCustomer,
    CheckAvailability,
    GetAppointments,
    CreateAppointment,
    RescheduleAppointment,
    CancelAppointment,
    GetOrder,
    TrackOrder,
    CancelOrder,
    SearchProducts,
    GetProductDetails,
    InitiateReturn,
    GetReturnStatus,
    GetPolicy,
}

const OPS: [(Op, &str, &str); 15] = [
    (Op::FindCustomer, "find_customer", "Identify the caller by their name and the phone number on file."),
    (Op::CreateCustomer, "create_customer", "Add the caller as a new customer."),
    (Op::CheckAvailability, "check_availability", "Free start times for a service on a date."),
    (Op::GetAppointments, "get_appointments", "The caller's upcoming appointments."),
    (Op::CreateAppointment, "create_appointment", "Book an appointment."),
    (Op::RescheduleAppointment, "reschedule_appointment", "Move an appointment to a new date and time."),
    (Op::CancelAppointment, "cancel_appointment", "Cancel an appointment."),
    (Op::GetOrder, "get_order", "An order's status, items and total."),
    (Op::TrackOrder, "track_order", "Shipping status and tracking of an order."),
    (Op::CancelOrder, "cancel_order", "Cancel an order that has not shipped."),
    (Op::SearchProducts, "search_products", "Search the products we sell."),
    (Op::GetProductDetails, "get_product_details", "Price, stock and description of a product."),
    (Op::InitiateReturn, "initiate_return", "Start a return of a delivered order."),
    (Op::GetReturnStatus, "get_return_status", "Status of a return."),
    (
        Op::GetPolicy,
        "get_policy",
        "A policy: cancellation, lateness, deposits, returns, refunds, children, payment, privacy.",
    ),
];

fn parameters(op: Op) -> Value {
    match op {
        Op::FindCustomer => schema_for::<FindCustomerArgs>(),
        Op::CreateCustomer => schema_for::<CreateCustomerArgs>(),
        Op::CheckAvailability => schema_for::<AvailabilityArgs>(),
        Op::GetAppointments => schema_for::<CustomerIdArgs>(),
        Op::CreateAppointment => schema_for::<BookArgs>(),
        Op::RescheduleAppointment => schema_for::<RescheduleArgs>(),
        Op::CancelAppointment => schema_for::<AppointmentIdArgs>(),
        Op::GetOrder | Op::TrackOrder | Op::CancelOrder => schema_for::<OrderIdArgs>(),
        Op::SearchProducts => schema_for::<SearchProductsArgs>(),
        Op::GetProductDetails => schema_for::<ProductArgs>(),
        Op::InitiateReturn => schema_for::<ReturnArgs>(),
        Op::GetReturnStatus => schema_for::<ReturnStatusArgs>(),
        Op::GetPolicy => schema_for::<PolicyArgs>(),
    }
}

/// What every tool shares: the store, the rules and the clock, and who each
/// session's caller proved to be.
pub(crate) struct Biz {
    pub store: Arc<dyn BusinessStore>,
    pub cfg: BusinessConfig,
    pub clock: Clock,
    /// Session → the customer its caller proved to be in the call (name and
    /// the phone number on file) or became (create_customer). Bounded: an
    /// abandoned session's entry goes when the map is full.
    pub verified: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, i64>>,
}

/// Sessions remembered in [`Biz::verified`].
const VERIFIED_SESSIONS: usize = 10_000;

/// One business tool.
pub(crate) struct BizTool {
    op: Op,
    spec: ToolSpec,
    biz: Arc<Biz>,
}

pub(crate) fn all(biz: Arc<Biz>) -> Vec<Arc<dyn Tool>> {
    OPS.iter()
        .map(|(op, name, desc)| {
            let spec = ToolSpec { name: (*name).into(), description: (*desc).into(), parameters: parameters(*op) };
            Arc::new(BizTool { op: *op, spec, biz: biz.clone() }) as Arc<dyn Tool>
        })
        .collect()
}

/// The booking tools' descriptions name the business's services (from its
/// data, not from code), so a small model knows what it may book.
pub(crate) fn with_services(tools: Vec<Arc<dyn Tool>>, services: &[String]) -> Vec<Arc<dyn Tool>> {
    if services.is_empty() {
        return tools;
    }
    let list = services.join(", ");
    tools
        .into_iter()
        .map(|t| {
            let spec = t.spec();
            if !matches!(spec.name.as_str(), "check_availability" | "create_appointment" | "reschedule_appointment") {
                return t;
            }
            Arc::new(Described {
                inner: t,
                spec: ToolSpec { description: format!("{} Services: {list}.", spec.description), ..spec },
            }) as Arc<dyn Tool>
        })
        .collect()
}

/// A tool with its description extended.
struct Described {
    inner: Arc<dyn Tool>,
    spec: ToolSpec,
}

#[async_trait]
impl Tool for Described {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        self.inner.call(ctx, args).await
    }
}

#[async_trait]
impl Tool for BizTool {
    fn spec(&self) -> ToolSpec {
        self.spec.clone()
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        let b = &self.biz;
        let s = &self.spec.parameters;
        match self.op {
            Op::FindCustomer => b.find_customer(ctx, parse(args, s)?).await,
            Op::CreateCustomer => b.create_customer(ctx, parse(args, s)?).await,
            Op::CheckAvailability => b.check_availability(parse(args, s)?).await,
            Op::GetAppointments => b.get_appointments(ctx, parse(args, s)?).await,
            Op::CreateAppointment => b.create_appointment(ctx, parse(args, s)?).await,
            Op::RescheduleAppointment => b.reschedule_appointment(ctx, parse(args, s)?).await,
            Op::CancelAppointment => b.cancel_appointment(ctx, parse(args, s)?).await,
            Op::GetOrder => b.get_order(ctx, parse(args, s)?).await,
            Op::TrackOrder => b.track_order(ctx, parse(args, s)?).await,
            Op::CancelOrder => b.cancel_order(ctx, parse(args, s)?).await,
            Op::SearchProducts => b.search_products(parse(args, s)?).await,
            Op::GetProductDetails => b.get_product_details(parse(args, s)?).await,
            Op::InitiateReturn => b.initiate_return(ctx, parse(args, s)?).await,
            Op::GetReturnStatus => b.get_return_status(ctx, parse(args, s)?).await,
            Op::GetPolicy => b.get_policy(parse(args, s)?).await,
        }
    }
}

fn store_err(e: BusinessError) -> ToolError {
    match e {
        BusinessError::NotFound(what) => ToolError::NotFound(what),
        BusinessError::Conflict(why) => ToolError::Conflict(why),
        other => ToolError::Failed(other.to_string()),
    }
}

// ---- presentation ----

/// `$58`, `$24.50`.
pub(crate) fn money(cents: i64) -> String {
    if cents % 100 == 0 { format!("${}", cents / 100) } else { format!("${}.{:02}", cents / 100, cents % 100) }
}

fn price(s: &Service) -> String {
    if s.price_from { format!("from {}", money(s.price_cents)) } else { money(s.price_cents) }
}

fn day_label(d: NaiveDate) -> String {
    d.format("%a %-d %b").to_string()
}

fn when(t: DateTime<FixedOffset>) -> String {
    format!("{} at {}", day_label(t.date_naive()), t.format("%H:%M"))
}

fn items_text(items: &[OrderItem]) -> Vec<String> {
    items.iter().map(|i| format!("{} x {} ({})", i.qty, i.name, money(i.price_cents))).collect()
}

fn customer_view(c: &Customer) -> Value {
    json!({ "id": show(Kind::Customer, c.id), "name": c.name, "phone": c.phone, "email": c.email })
}

/// Folds text for matching: lower case, apostrophes dropped, other
/// punctuation as spaces, plurals made singular, filler words removed. The
/// trade's own words ("haircut" for a cut) are the services' aliases, data.
fn words(s: &str) -> Vec<String> {
    const FILLER: [&str; 11] =
        ["a", "an", "the", "and", "with", "plus", "for", "my", "service", "appointment", "please"];
    let cleaned: String = s
        .to_lowercase()
        .chars()
        .filter(|c| *c != '\'' && *c != '’')
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    cleaned.split_whitespace().filter(|w| !FILLER.contains(w)).map(stem).collect()
}

/// A crude singular: `shampoos` → `shampoo`.
fn stem(w: &str) -> String {
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") { w[..w.len() - 1].to_string() } else { w.to_string() }
}

/// A word list as a sorted set, for "the same words in any order".
fn word_set(s: &str) -> Vec<String> {
    let mut w = words(s);
    w.sort();
    w.dedup();
    w
}

fn service_names(services: &[Service]) -> String {
    services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// The service `text` names: its key, its name, or the one service whose
/// name holds all its words (an exact match of the words wins a tie).
fn resolve_service<'a>(services: &'a [Service], text: &str) -> Result<&'a Service, ToolError> {
    let t = args::text("service", text, 80)?;
    if let Some(s) = services.iter().find(|s| s.id.eq_ignore_ascii_case(&t) || s.name.eq_ignore_ascii_case(&t)) {
        return Ok(s);
    }
    let q = word_set(&t);
    let names = |s: &'a Service| std::iter::once(s.name.as_str()).chain(s.aliases.iter().map(String::as_str));
    let candidates: Vec<&Service> = services
        .iter()
        .filter(|s| {
            let mut bag = words(&s.id.replace('-', " "));
            names(s).for_each(|n| bag.extend(words(n)));
            !q.is_empty() && q.iter().all(|w| bag.contains(w))
        })
        .collect();
    // The words of its name or of one alias, no more and no fewer.
    let exact: Vec<&Service> = candidates.iter().copied().filter(|s| names(s).any(|n| word_set(n) == q)).collect();
    match (candidates.as_slice(), exact.as_slice()) {
        ([one], _) | (_, [one]) => Ok(one),
        ([], _) => Err(bad(format!("service: no service called '{t}'. Services: {}", service_names(services)))),
        (many, _) => Err(bad(format!(
            "service: '{t}' could be {}. Which one?",
            many.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// `None` for "any"; else the staff member by key, first name or full name.
fn resolve_staff<'a>(staff: &'a [StaffMember], text: Option<&str>) -> Result<Option<&'a StaffMember>, ToolError> {
    let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    let t = args::text("staff", t, 80)?.to_lowercase();
    if ["any", "anyone", "anybody", "no preference", "none", "whoever"].contains(&t.as_str()) {
        return Ok(None);
    }
    let found = staff.iter().find(|s| {
        let name = s.name.to_lowercase();
        s.id == t || name == t || name.split_whitespace().next() == Some(t.as_str())
    });
    found.map(Some).ok_or_else(|| {
        let names = staff.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
        bad(format!("staff: nobody called '{t}' works here. Staff: {names}"))
    })
}

fn works_on(s: &StaffMember, date: NaiveDate) -> bool {
    s.days.iter().any(|d| weekday_index(d) == Some(weekday_idx(chrono::Datelike::weekday(&date))))
}

fn weekday_name(date: NaiveDate) -> String {
    date.format("%A").to_string()
}

impl Biz {
    fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    fn today(&self) -> NaiveDate {
        self.cfg.local(self.now()).date_naive()
    }

    async fn catalogue(&self) -> Result<(Vec<Service>, Vec<StaffMember>), ToolError> {
        let services = self.store.services().await.map_err(store_err)?;
        let staff = self.store.staff().await.map_err(store_err)?;
        Ok((services, staff))
    }

    /// A bookable date: today or later, within the booking horizon.
    fn bookable_date(&self, text: &str) -> Result<NaiveDate, ToolError> {
        let today = self.today();
        let d = args::date(text, today)?;
        if d < today {
            return Err(bad(format!("date: {} is in the past; today is {}", d, today)));
        }
        if d > today + TimeDelta::days(self.cfg.booking_horizon_days.into()) {
            return Err(bad(format!("date: bookings are taken up to {} days ahead", self.cfg.booking_horizon_days)));
        }
        Ok(d)
    }

    /// The latest start for `service` on a day with these hours.
    fn latest_start(&self, open: NaiveTime, close: NaiveTime, service: &Service) -> Option<NaiveTime> {
        let gap = self.cfg.last_start_before_close.max(TimeDelta::minutes(service.duration_min.into()));
        let latest = close - gap;
        (latest >= open && latest < close).then_some(latest)
    }

    fn closed_message(&self, date: NaiveDate) -> String {
        let next = (1..=7).map(|i| date + TimeDelta::days(i)).find(|d| self.cfg.hours_on(*d).is_some());
        match next {
            Some(n) => format!("We are closed on {}s. The next open day is {}.", weekday_name(date), day_label(n)),
            None => format!("We are closed on {}s.", weekday_name(date)),
        }
    }

    /// Free start times on `date` and, for each, the staff free then (in
    /// the order given). Past times are left out.
    async fn free_slots(
        &self,
        date: NaiveDate,
        service: &Service,
        staff: &[&StaffMember],
    ) -> Result<Vec<(NaiveTime, Vec<String>)>, ToolError> {
        let Some((open, close)) = self.cfg.hours_on(date) else { return Ok(vec![]) };
        let Some(latest) = self.latest_start(open, close, service) else { return Ok(vec![]) };
        let day_start = self.cfg.instant(date, open);
        let day_end = self.cfg.instant(date, close);
        let booked = self.store.booked_between(day_start, day_end).await.map_err(store_err)?;
        let now = self.now();
        let len = TimeDelta::minutes(service.duration_min.into());
        let mut out = Vec::new();
        let mut t = open;
        loop {
            let start = self.cfg.instant(date, t);
            let end = start + len;
            if start > now {
                let free: Vec<String> = staff
                    .iter()
                    .filter(|s| works_on(s, date))
                    .filter(|s| !booked.iter().any(|a| a.staff_id == s.id && a.starts_at < end && a.ends_at > start))
                    .map(|s| s.id.clone())
                    .collect();
                if !free.is_empty() {
                    out.push((t, free));
                }
            }
            let (next, wrapped) = t.overflowing_add_signed(self.cfg.slot_step);
            if wrapped != 0 || next > latest {
                break;
            }
            t = next;
        }
        Ok(out)
    }

    /// Checks a requested start against the opening hours; `Err` says why not.
    fn check_hours(&self, date: NaiveDate, t: NaiveTime, service: &Service) -> Result<(), ToolError> {
        let Some((open, close)) = self.cfg.hours_on(date) else {
            return Err(bad(format!("date: {}", self.closed_message(date))));
        };
        let latest = self.latest_start(open, close, service);
        match latest {
            Some(l) if t >= open && t <= l => Ok(()),
            _ => Err(bad(format!(
                "time: on {}s we are open {}-{}; a {} ({} min) can start from {} until {}",
                weekday_name(date),
                open.format("%H:%M"),
                close.format("%H:%M"),
                service.name,
                service.duration_min,
                open.format("%H:%M"),
                latest.map(|l| l.format("%H:%M").to_string()).unwrap_or_else(|| "-".into()),
            ))),
        }
    }

    /// Staff who do `service`, or the named one (who must).
    fn qualified<'a>(
        &self,
        staff: &'a [StaffMember],
        service: &Service,
        named: Option<&'a StaffMember>,
        date: NaiveDate,
    ) -> Result<Vec<&'a StaffMember>, ToolError> {
        let doers: Vec<&StaffMember> = staff.iter().filter(|s| s.services.contains(&service.id)).collect();
        match named {
            Some(s) if !s.services.contains(&service.id) => Err(bad(format!(
                "staff: {} does not do {}; ask for {}",
                s.name,
                service.name,
                doers.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(" or ")
            ))),
            Some(s) if !works_on(s, date) => Err(bad(format!(
                "staff: {} does not work on {}s (works {})",
                s.name,
                weekday_name(date),
                s.days.join(", ")
            ))),
            Some(s) => Ok(vec![s]),
            None => Ok(doers),
        }
    }

    fn appointment_view(&self, a: &Appointment, services: &[Service], staff: &[StaffMember]) -> Value {
        let service = services.iter().find(|s| s.id == a.service_id).map_or(a.service_id.as_str(), |s| &s.name);
        let with = staff.iter().find(|s| s.id == a.staff_id).map_or(a.staff_id.as_str(), |s| &s.name);
        json!({
            "id": show(Kind::Appointment, a.id),
            "service": service,
            "staff": with,
            "when": when(self.cfg.local(a.starts_at)),
            "status": a.status.as_str(),
        })
    }

    /// "Free times that day: …" for a conflict message.
    async fn alternatives(
        &self,
        date: NaiveDate,
        service: &Service,
        staff: &[&StaffMember],
        near: NaiveTime,
    ) -> String {
        let slots = self.free_slots(date, service, staff).await.unwrap_or_default();
        let mut times: Vec<NaiveTime> = slots.into_iter().map(|(t, _)| t).collect();
        times.sort_by_key(|t| (*t - near).num_minutes().abs());
        times.truncate(4);
        times.sort();
        if times.is_empty() {
            format!("No free times on {}.", day_label(date))
        } else {
            let list = times.iter().map(|t| t.format("%H:%M").to_string()).collect::<Vec<_>>().join(", ");
            format!("Free times on {}: {list}.", day_label(date))
        }
    }

    // ---- customers ----

    /// Identifies the caller: a customer whose phone number on file and
    /// name both match. Lists nobody else (no search by a fragment of a
    /// name); on success the session acts for that customer.
    async fn find_customer(&self, ctx: &ToolContext, a: FindCustomerArgs) -> Result<Value, ToolError> {
        let name = args::person_name(&a.name)?;
        let (_, digits) = args::phone(&a.phone)?;
        let found = self.store.find_customers(Some(&digits), None, None, 5).await.map_err(store_err)?;
        let said = words(&name);
        let matches: Vec<&Customer> = found
            .iter()
            .filter(|c| {
                let on_file = words(&c.name);
                !said.is_empty() && said.iter().all(|w| on_file.contains(w))
            })
            .collect();
        let [c] = matches.as_slice() else {
            return Err(ToolError::NotFound(
                "no customer with that name and phone number; check both with the caller, or create_customer".into(),
            ));
        };
        self.remember(ctx, c.id);
        Ok(json!({
            "customer": customer_view(c),
            "message": format!("The caller is {} ({}).", c.name, show(Kind::Customer, c.id)),
        }))
    }

    /// Ties the session to the customer its caller proved to be.
    fn remember(&self, ctx: &ToolContext, customer: i64) {
        let Some(session) = ctx.session_id else { return };
        let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() >= VERIFIED_SESSIONS && !v.contains_key(&session) {
            v.clear();
        }
        v.insert(session, customer);
    }

    /// The customer the session's caller is: proved in the call, else
    /// recognised by caller ID (the one customer with the session's phone
    /// number or email).
    async fn caller(&self, ctx: &ToolContext) -> Result<Option<i64>, ToolError> {
        if let Some(session) = ctx.session_id
            && let Some(id) = self.verified.lock().unwrap_or_else(|p| p.into_inner()).get(&session)
        {
            return Ok(Some(*id));
        }
        let Some(contact) = ctx.caller_contact.as_deref().map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let found = if contact.contains('@') {
            let Ok(e) = args::email(contact) else { return Ok(None) };
            self.store.find_customers(None, Some(&e), None, 2).await
        } else {
            let Ok((_, digits)) = args::phone(contact) else { return Ok(None) };
            self.store.find_customers(Some(&digits), None, None, 2).await
        }
        .map_err(store_err)?;
        Ok(match found.as_slice() {
            [one] => Some(one.id),
            _ => None,
        })
    }

    /// The caller's customer id, or the error the model reads when the
    /// caller has not been identified.
    async fn identified(&self, ctx: &ToolContext) -> Result<i64, ToolError> {
        self.caller(ctx).await?.ok_or_else(|| {
            bad("the caller is not identified: ask for their name and the phone number on file, then call find_customer")
        })
    }

    async fn create_customer(&self, ctx: &ToolContext, a: CreateCustomerArgs) -> Result<Value, ToolError> {
        // A caller already on file (by caller ID, proved, or just added) adds
        // no one else: a record for somebody else is not theirs to make.
        if let Some(id) = self.caller(ctx).await? {
            return Err(ToolError::Conflict(format!(
                "the caller is already customer {}; no new customer is needed",
                show(Kind::Customer, id)
            )));
        }
        let name = args::person_name(&a.name)?;
        let (phone, _) = args::phone(&a.phone)?;
        let email = a.email.as_deref().filter(|e| !e.trim().is_empty()).map(args::email).transpose()?;
        let c = match self.store.insert_customer(&NewCustomer { name, phone, email }, self.now()).await {
            Ok(c) => c,
            // Who holds that number is not the caller's to learn.
            Err(BusinessError::Conflict(_)) => {
                return Err(ToolError::Conflict(
                    "a customer with that phone number or email already exists; find_customer with their name and number"
                        .into(),
                ));
            }
            Err(e) => return Err(store_err(e)),
        };
        // The caller is the customer just added.
        self.remember(ctx, c.id);
        Ok(json!({
            "created": true,
            "customer": customer_view(&c),
            "message": format!("Added {} as customer {}.", c.name, show(Kind::Customer, c.id)),
        }))
    }

    // ---- appointments ----

    async fn check_availability(&self, a: AvailabilityArgs) -> Result<Value, ToolError> {
        let date = self.bookable_date(&a.date)?;
        let (services, staff) = self.catalogue().await?;
        let service = resolve_service(&services, &a.service)?;
        let named = resolve_staff(&staff, a.staff.as_deref())?;
        let base = json!({
            "date": date.format("%Y-%m-%d").to_string(),
            "day": weekday_name(date),
            "service": service.name,
            "minutes": service.duration_min,
            "price": price(service),
        });
        let mut out = base.as_object().cloned().unwrap_or_default();
        if self.cfg.hours_on(date).is_none() {
            out.insert("slots".into(), json!([]));
            out.insert("message".into(), json!(self.closed_message(date)));
            return Ok(Value::Object(out));
        }
        let who = self.qualified(&staff, service, named, date)?;
        let slots = self.free_slots(date, service, &who).await?;
        let times: Vec<String> = slots.iter().map(|(t, _)| t.format("%H:%M").to_string()).collect();
        let with = named.map_or_else(|| "anyone free".to_string(), |s| s.name.clone());
        let message = if times.is_empty() {
            format!("No free times for {} with {with} on {}.", service.name, day_label(date))
        } else {
            format!(
                "Free start times for {} with {with} on {}: {}.",
                service.name,
                day_label(date),
                ranges(&slots, self.cfg.slot_step)
            )
        };
        if let Some(s) = named {
            out.insert("staff".into(), json!(s.name));
        }
        out.insert("slots".into(), json!(times));
        out.insert("message".into(), json!(message));
        Ok(Value::Object(out))
    }

    /// The customer a booking tool acts for: always the caller. A
    /// `customer_id` the model sends must be the caller's own; any other is
    /// refused (a caller never acts on another customer's record).
    async fn customer_for(&self, ctx: &ToolContext, given: Option<&str>) -> Result<i64, ToolError> {
        let caller = self.identified(ctx).await?;
        if let Some(id) = given.filter(|g| !g.trim().is_empty()) {
            let id = id_of("customer_id", id, Kind::Customer)?;
            if id != caller {
                return Err(bad(format!(
                    "customer_id: the caller is {}; they can only see and change their own records",
                    show(Kind::Customer, caller)
                )));
            }
        }
        Ok(caller)
    }

    /// An appointment of the caller's; another customer's reads as not
    /// found (its existence is not the caller's business either).
    async fn own_appointment(&self, ctx: &ToolContext, text: &str) -> Result<Appointment, ToolError> {
        let caller = self.identified(ctx).await?;
        let id = id_of("appointment_id", text, Kind::Appointment)?;
        match self.store.get_appointment(id).await {
            Ok(a) if a.customer_id == caller => Ok(a),
            Ok(_) | Err(BusinessError::NotFound(_)) => {
                Err(ToolError::NotFound(format!("the caller has no appointment {}", show(Kind::Appointment, id))))
            }
            Err(e) => Err(store_err(e)),
        }
    }

    /// An order of the caller's; another customer's reads as not found.
    async fn own_order(&self, ctx: &ToolContext, text: &str) -> Result<Order, ToolError> {
        let caller = self.identified(ctx).await?;
        let id = id_of("order_id", text, Kind::Order)?;
        match self.store.get_order(id).await {
            Ok(o) if o.customer_id == caller => Ok(o),
            Ok(_) | Err(BusinessError::NotFound(_)) => {
                Err(ToolError::NotFound(format!("the caller has no order {}", show(Kind::Order, id))))
            }
            Err(e) => Err(store_err(e)),
        }
    }

    async fn get_appointments(&self, ctx: &ToolContext, a: CustomerIdArgs) -> Result<Value, ToolError> {
        let id = self.customer_for(ctx, a.customer_id.as_deref()).await?;
        let c = self.store.get_customer(id).await.map_err(store_err)?;
        let list = self.store.customer_appointments(id, self.now()).await.map_err(store_err)?;
        let (services, staff) = self.catalogue().await?;
        let views: Vec<Value> = list.iter().map(|x| self.appointment_view(x, &services, &staff)).collect();
        let booked = list.iter().filter(|x| x.status == AppointmentStatus::Booked).count();
        Ok(json!({
            "customer": show(Kind::Customer, c.id),
            "appointments": views,
            "message": format!("{} has {booked} upcoming appointment{}.", c.name, if booked == 1 { "" } else { "s" }),
        }))
    }

    async fn create_appointment(&self, ctx: &ToolContext, a: BookArgs) -> Result<Value, ToolError> {
        let customer_id = self.customer_for(ctx, a.customer_id.as_deref()).await?;
        let date = self.bookable_date(&a.date)?;
        let t = args::time(&a.time)?;
        let (services, staff) = self.catalogue().await?;
        let service = resolve_service(&services, &a.service)?;
        let named = resolve_staff(&staff, a.staff.as_deref())?;
        self.check_hours(date, t, service)?;
        let starts_at = self.cfg.instant(date, t);
        if starts_at <= self.now() {
            return Err(bad("time: that time has already passed today"));
        }
        let who = self.qualified(&staff, service, named, date)?;
        let customer = self.store.get_customer(customer_id).await.map_err(store_err)?;
        let ends_at = starts_at + TimeDelta::minutes(service.duration_min.into());
        // Staff free at that time by what we read; the store's write is
        // the arbiter, so a lost race moves on to the next one.
        let slots = self.free_slots(date, service, &who).await?;
        let free: Vec<String> = slots.into_iter().find(|(s, _)| *s == t).map(|(_, f)| f).unwrap_or_else(|| {
            // Off the slot grid: try everyone who works that day.
            who.iter().filter(|s| works_on(s, date)).map(|s| s.id.clone()).collect()
        });
        let mut last = None;
        for staff_id in &free {
            let new = NewAppointment {
                customer_id,
                service_id: service.id.clone(),
                staff_id: staff_id.clone(),
                starts_at,
                ends_at,
            };
            match self.store.book_appointment(&new, self.now()).await {
                Ok(appt) => {
                    let with = staff.iter().find(|s| s.id == appt.staff_id).map_or("", |s| &s.name);
                    let mut message = format!(
                        "Booked {} with {with} on {} for {}. Price {}.",
                        service.name,
                        when(self.cfg.local(appt.starts_at)),
                        customer.name,
                        price(service)
                    );
                    if let Some(note) = self.cfg.booking_notes.get(&service.id) {
                        message.push(' ');
                        message.push_str(note);
                    }
                    return Ok(json!({
                        "booked": true,
                        "appointment": self.appointment_view(&appt, &services, &staff),
                        "message": message,
                    }));
                }
                Err(BusinessError::Conflict(why)) if why.contains("customer") => {
                    return Err(ToolError::Conflict(format!(
                        "{} already has an appointment at that time",
                        customer.name
                    )));
                }
                Err(BusinessError::Conflict(why)) => last = Some(why),
                Err(e) => return Err(store_err(e)),
            }
        }
        let _ = last;
        let alt = self.alternatives(date, service, &who, t).await;
        Err(ToolError::Conflict(format!("{} at {} is taken. {alt}", day_label(date), t.format("%H:%M"))))
    }

    async fn reschedule_appointment(&self, ctx: &ToolContext, a: RescheduleArgs) -> Result<Value, ToolError> {
        let appt = self.own_appointment(ctx, &a.appointment_id).await?;
        let id = appt.id;
        let date = self.bookable_date(&a.date)?;
        let t = args::time(&a.time)?;
        if appt.status != AppointmentStatus::Booked {
            return Err(ToolError::Conflict(format!(
                "appointment {} is {}",
                show(Kind::Appointment, id),
                appt.status.as_str()
            )));
        }
        let now = self.now();
        if appt.starts_at <= now {
            return Err(ToolError::Conflict(format!(
                "appointment {} has already started or passed",
                show(Kind::Appointment, id)
            )));
        }
        let (services, staff) = self.catalogue().await?;
        let service = services
            .iter()
            .find(|s| s.id == appt.service_id)
            .ok_or_else(|| ToolError::Failed(format!("service {} is missing", appt.service_id)))?;
        let named = resolve_staff(&staff, a.staff.as_deref())?;
        self.check_hours(date, t, service)?;
        let starts_at = self.cfg.instant(date, t);
        if starts_at <= now {
            return Err(bad("time: that time has already passed today"));
        }
        let ends_at = starts_at + TimeDelta::minutes(service.duration_min.into());
        let mut who = self.qualified(&staff, service, named, date)?;
        if named.is_none() {
            // Keep the same staff member when possible.
            who.sort_by_key(|s| s.id != appt.staff_id);
        }
        let mut order: Vec<String> = who.iter().filter(|s| works_on(s, date)).map(|s| s.id.clone()).collect();
        if order.is_empty() {
            return Err(ToolError::Conflict(format!("no staff for {} works on {}s", service.name, weekday_name(date))));
        }
        order.dedup();
        for staff_id in &order {
            match self.store.reschedule_appointment(id, staff_id, starts_at, ends_at, now).await {
                Ok(moved) => {
                    let with = staff.iter().find(|s| s.id == moved.staff_id).map_or("", |s| &s.name);
                    let mut message =
                        format!("Moved {} to {} with {with}.", service.name, when(self.cfg.local(moved.starts_at)));
                    if appt.starts_at - now < self.cfg.cancellation_notice {
                        message.push_str(&format!(
                            " This is less than {} hours' notice, so a late-change fee of {} may apply.",
                            self.cfg.cancellation_notice.num_hours(),
                            money(service.price_cents * i64::from(self.cfg.late_cancel_fee_percent) / 100)
                        ));
                    }
                    return Ok(json!({
                        "rescheduled": true,
                        "appointment": self.appointment_view(&moved, &services, &staff),
                        "message": message,
                    }));
                }
                Err(BusinessError::Conflict(why)) if why.contains("customer") => {
                    return Err(ToolError::Conflict(
                        "the customer already has another appointment at that time".into(),
                    ));
                }
                Err(BusinessError::Conflict(why)) if why.contains("staff member") => continue,
                Err(e) => return Err(store_err(e)),
            }
        }
        let alt = self.alternatives(date, service, &who, t).await;
        Err(ToolError::Conflict(format!("{} at {} is taken. {alt}", day_label(date), t.format("%H:%M"))))
    }

    async fn cancel_appointment(&self, ctx: &ToolContext, a: AppointmentIdArgs) -> Result<Value, ToolError> {
        let current = self.own_appointment(ctx, &a.appointment_id).await?;
        let id = current.id;
        let now = self.now();
        if current.status == AppointmentStatus::Booked && current.starts_at <= now {
            return Err(ToolError::Conflict(format!(
                "appointment {} has already started or passed",
                show(Kind::Appointment, id)
            )));
        }
        let appt = self.store.cancel_appointment(id, now).await.map_err(store_err)?;
        let (services, staff) = self.catalogue().await?;
        let service = services.iter().find(|s| s.id == appt.service_id);
        let mut message = format!(
            "Cancelled {} on {}.",
            service.map_or("the appointment", |s| s.name.as_str()),
            when(self.cfg.local(appt.starts_at))
        );
        let late = appt.starts_at - now < self.cfg.cancellation_notice;
        let mut out = json!({
            "cancelled": true,
            "appointment": self.appointment_view(&appt, &services, &staff),
        });
        if late {
            let fee = service.map_or(0, |s| s.price_cents * i64::from(self.cfg.late_cancel_fee_percent) / 100);
            message.push_str(&format!(
                " It was less than {} hours ahead, so our policy charges {}% of the price: {}.",
                self.cfg.cancellation_notice.num_hours(),
                self.cfg.late_cancel_fee_percent,
                money(fee)
            ));
            out["late_fee"] = json!(money(fee));
        }
        out["message"] = json!(message);
        Ok(out)
    }

    // ---- orders ----

    fn date_of(&self, t: DateTime<Utc>) -> String {
        day_label(self.cfg.local(t).date_naive())
    }

    async fn get_order(&self, ctx: &ToolContext, a: OrderIdArgs) -> Result<Value, ToolError> {
        let o = self.own_order(ctx, &a.order_id).await?;
        let mut v = json!({
            "order": show(Kind::Order, o.id),
            "status": o.status.as_str(),
            "items": items_text(&o.items),
            "total": money(o.total_cents),
            "placed": self.date_of(o.placed_at),
        });
        if let Some(t) = o.shipped_at {
            v["shipped"] = json!(self.date_of(t));
        }
        if let Some(t) = o.delivered_at {
            v["delivered"] = json!(self.date_of(t));
        }
        if let Some(t) = o.cancelled_at {
            v["cancelled"] = json!(self.date_of(t));
        }
        v["message"] =
            json!(format!("Order {} ({}) is {}.", show(Kind::Order, o.id), money(o.total_cents), o.status.as_str()));
        Ok(v)
    }

    async fn track_order(&self, ctx: &ToolContext, a: OrderIdArgs) -> Result<Value, ToolError> {
        let o = self.own_order(ctx, &a.order_id).await?;
        let n = show(Kind::Order, o.id);
        let carrier = o.carrier.clone().unwrap_or_else(|| "the carrier".into());
        let tracking = o.tracking.clone().unwrap_or_default();
        let message = match (o.status, o.shipped_at, o.delivered_at) {
            (OrderStatus::Placed, ..) => {
                format!("Order {n} has not shipped yet; it usually ships within 2 business days.")
            }
            (OrderStatus::Cancelled, ..) => format!("Order {n} was cancelled, so it will not ship."),
            (OrderStatus::Shipped, Some(s), _) => {
                format!("Order {n} shipped with {carrier} on {}; tracking number {tracking}.", self.date_of(s))
            }
            (OrderStatus::Delivered, _, Some(d)) => format!("Order {n} was delivered on {}.", self.date_of(d)),
            (status, ..) => format!("Order {n} is {}.", status.as_str()),
        };
        let mut v = json!({ "order": n, "status": o.status.as_str(), "message": message });
        if o.tracking.is_some() {
            v["carrier"] = json!(o.carrier);
            v["tracking"] = json!(o.tracking);
        }
        Ok(v)
    }

    async fn cancel_order(&self, ctx: &ToolContext, a: OrderIdArgs) -> Result<Value, ToolError> {
        let id = self.own_order(ctx, &a.order_id).await?.id;
        match self.store.cancel_order(id, self.now()).await {
            Ok(o) => Ok(json!({
                "cancelled": true,
                "order": show(Kind::Order, o.id),
                "refund": money(o.total_cents),
                "message": format!(
                    "Order {} is cancelled; {} goes back to the original payment method.",
                    show(Kind::Order, o.id),
                    money(o.total_cents)
                ),
            })),
            Err(BusinessError::Conflict(why)) => {
                let hint = if why.contains("shipped") || why.contains("delivered") {
                    format!(
                        "; once delivered, unopened items can be returned within {} days",
                        self.cfg.return_window_days
                    )
                } else {
                    String::new()
                };
                Err(ToolError::Conflict(format!("{why}{hint}")))
            }
            Err(e) => Err(store_err(e)),
        }
    }

    // ---- products ----

    async fn search_products(&self, a: SearchProductsArgs) -> Result<Value, ToolError> {
        let q = args::text("query", &a.query, 120)?;
        let ws: Vec<String> = words(&q)
            .into_iter()
            .filter(|w| {
                !["do", "you", "have", "any", "sell", "some", "product", "products", "what", "is", "of"]
                    .contains(&w.as_str())
            })
            .collect();
        let found = self.store.search_products(&ws, 5).await.map_err(store_err)?;
        let list: Vec<Value> = found.iter().map(product_line).collect();
        let message = if list.is_empty() {
            // What the shop does sell, from its own catalogue.
            let all = self.store.search_products(&[], 200).await.map_err(store_err)?;
            let mut kinds: Vec<&str> = all.iter().map(|p| p.category.as_str()).collect();
            kinds.sort_unstable();
            kinds.dedup();
            if kinds.is_empty() {
                format!("No products match '{q}'.")
            } else {
                format!("No products match '{q}'. We sell: {}.", kinds.join(", "))
            }
        } else {
            format!("{} product{} found.", list.len(), if list.len() == 1 { "" } else { "s" })
        };
        Ok(json!({ "products": list, "message": message }))
    }

    async fn get_product_details(&self, a: ProductArgs) -> Result<Value, ToolError> {
        let q = args::text("product", &a.product, 120)?;
        let p = match self.store.get_product(&q).await {
            Ok(p) => p,
            Err(BusinessError::NotFound(_)) => {
                let ws = words(&q);
                let found = self.store.search_products(&ws, 5).await.map_err(store_err)?;
                let exact = found.iter().find(|p| p.name.eq_ignore_ascii_case(&q));
                match (exact, found.as_slice()) {
                    (Some(p), _) | (None, [p]) => p.clone(),
                    (None, []) => return Err(ToolError::NotFound(format!("no product matches '{q}'"))),
                    (None, many) => {
                        return Err(bad(format!(
                            "product: '{q}' could be {}. Which one?",
                            many.iter().map(|p| format!("{} ({})", p.name, p.sku)).collect::<Vec<_>>().join(", ")
                        )));
                    }
                }
            }
            Err(e) => return Err(store_err(e)),
        };
        Ok(json!({
            "sku": p.sku,
            "name": p.name,
            "price": money(p.price_cents),
            "stock": p.stock,
            "description": p.description,
            "message": if p.stock > 0 {
                format!("{} is {} and in stock.", p.name, money(p.price_cents))
            } else {
                format!("{} is {} but out of stock right now.", p.name, money(p.price_cents))
            },
        }))
    }

    // ---- returns ----

    async fn initiate_return(&self, ctx: &ToolContext, a: ReturnArgs) -> Result<Value, ToolError> {
        let order = self.own_order(ctx, &a.order_id).await?;
        let id = order.id;
        let reason = args::text("reason", &a.reason, 300)?;
        if reason.chars().count() < 3 {
            return Err(bad("reason: say briefly why the items are returned"));
        }
        let n = show(Kind::Order, id);
        let now = self.now();
        let window = TimeDelta::days(self.cfg.return_window_days.into());
        match (order.status, order.delivered_at) {
            (OrderStatus::Delivered, Some(d)) if now - d > window => {
                return Err(ToolError::Conflict(format!(
                    "order {n} was delivered on {}, more than {} days ago, so it cannot be returned",
                    self.date_of(d),
                    self.cfg.return_window_days
                )));
            }
            (OrderStatus::Delivered, _) => {}
            (OrderStatus::Placed, _) => {
                return Err(ToolError::Conflict(format!(
                    "order {n} has not shipped yet; cancel_order can cancel it instead"
                )));
            }
            (status, _) => {
                return Err(ToolError::Conflict(format!(
                    "order {n} is {}; only delivered orders can be returned",
                    status.as_str()
                )));
            }
        }
        let items: Vec<OrderItem> = match a.items.filter(|v| !v.is_empty()) {
            None => order.items.clone(),
            Some(skus) => {
                let mut picked = Vec::new();
                for s in &skus {
                    let s = s.trim();
                    let item = order
                        .items
                        .iter()
                        .find(|i| i.sku.eq_ignore_ascii_case(s) || i.name.eq_ignore_ascii_case(s))
                        .ok_or_else(|| {
                            let have =
                                order.items.iter().map(|i| format!("{} ({})", i.sku, i.name)).collect::<Vec<_>>();
                            bad(format!("items: {s} is not in order {n}; it has {}", have.join(", ")))
                        })?;
                    if !picked.contains(item) {
                        picked.push(item.clone());
                    }
                }
                picked
            }
        };
        let r = self
            .store
            .create_return(&NewReturn { order_id: id, items, reason, delivered_since: now - window, at: now })
            .await
            .map_err(store_err)?;
        Ok(json!({
            "return": show(Kind::Return, r.id),
            "order": n,
            "status": r.status.as_str(),
            "refund": money(r.refund_cents),
            "message": format!(
                "Return {} is open for order {n}. Send the unopened items back; {} is refunded once they arrive.",
                show(Kind::Return, r.id),
                money(r.refund_cents)
            ),
        }))
    }

    async fn get_return_status(&self, ctx: &ToolContext, a: ReturnStatusArgs) -> Result<Value, ToolError> {
        let caller = self.identified(ctx).await?;
        let (id, kind) = record_id("id", &a.id, Kind::Return)?;
        let r: ReturnRequest = match kind {
            Kind::Return => match self.store.get_return(id).await {
                Ok(r) => r,
                // A bare number may be the order's.
                Err(BusinessError::NotFound(_)) if !a.id.trim().to_ascii_lowercase().starts_with('r') => {
                    self.return_of_order(id).await?
                }
                Err(e) => return Err(store_err(e)),
            },
            Kind::Order => self.return_of_order(id).await?,
            other => {
                return Err(bad(format!("id: {} is not a return id or order number", show(other, id))));
            }
        };
        // Another customer's return reads as not found.
        let owner = self.store.get_order(r.order_id).await.map_err(store_err)?.customer_id;
        if owner != caller {
            return Err(ToolError::NotFound(format!("the caller has no return {}", show(kind, id))));
        }
        let what = match r.status {
            ReturnStatus::Requested => "we are reviewing it".to_string(),
            ReturnStatus::Approved => "send the unopened items back; the refund follows once they arrive".to_string(),
            ReturnStatus::Received => "we have the items; the refund is on its way".to_string(),
            ReturnStatus::Refunded => format!("{} was refunded to the original payment method", money(r.refund_cents)),
        };
        Ok(json!({
            "return": show(Kind::Return, r.id),
            "order": show(Kind::Order, r.order_id),
            "status": r.status.as_str(),
            "items": items_text(&r.items),
            "refund": money(r.refund_cents),
            "message": format!("Return {} for order {} is {}: {what}.", show(Kind::Return, r.id), show(Kind::Order, r.order_id), r.status.as_str()),
        }))
    }

    async fn return_of_order(&self, order_id: i64) -> Result<ReturnRequest, ToolError> {
        self.store.get_order(order_id).await.map_err(store_err)?;
        let list = self.store.returns_for_order(order_id).await.map_err(store_err)?;
        list.into_iter()
            .next_back()
            .ok_or_else(|| ToolError::NotFound(format!("no return for order {}", show(Kind::Order, order_id))))
    }

    // ---- policies ----

    async fn get_policy(&self, a: PolicyArgs) -> Result<Value, ToolError> {
        let q = args::text("topic", &a.topic, 120)?;
        let policies = self.store.policies().await.map_err(store_err)?;
        let best = pick_policy(&policies, &q);
        match best {
            Some(p) => Ok(json!({ "policy": p.key, "title": p.title, "text": p.text })),
            None => Err(ToolError::NotFound(format!(
                "no policy about '{q}'. Topics: {}",
                policies.iter().map(|p| p.key.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

fn product_line(p: &Product) -> Value {
    json!({ "sku": p.sku, "name": p.name, "price": money(p.price_cents), "in_stock": p.stock > 0 })
}

/// The policy whose key is `q`, else the one whose key, title and keywords
/// share the most words with it.
fn pick_policy<'a>(policies: &'a [Policy], q: &str) -> Option<&'a Policy> {
    let key = q.trim().to_lowercase().replace(' ', "-");
    if let Some(p) = policies.iter().find(|p| p.key == key) {
        return Some(p);
    }
    let qs = words(q);
    policies
        .iter()
        .map(|p| {
            let hay = words(&format!("{} {} {}", p.key, p.title, p.keywords));
            (qs.iter().filter(|w| hay.contains(w)).count(), p)
        })
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, p)| (*n, std::cmp::Reverse(policies.iter().position(|x| x.key == p.key))))
        .map(|(_, p)| p)
}

/// Start times as spoken ranges: `09:00-11:30, 14:00, 15:00-17:00`.
fn ranges(slots: &[(NaiveTime, Vec<String>)], step: TimeDelta) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let start = slots[i].0;
        let mut end = start;
        while i + 1 < slots.len() && slots[i + 1].0 - end == step {
            i += 1;
            end = slots[i].0;
        }
        out.push(if start == end {
            start.format("%H:%M").to_string()
        } else {
            format!("{}-{}", start.format("%H:%M"), end.format("%H:%M"))
        });
        i += 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(id: &str, name: &str, aliases: &[&str]) -> Service {
        let aliases = aliases.iter().map(|a| a.to_string()).collect();
        Service { id: id.into(), name: name.into(), duration_min: 30, price_cents: 100, price_from: false, aliases }
    }

    #[test]
    fn services_resolve_by_words() {
        let s = vec![
            svc("womens-cut", "Women's cut & style", &["women's haircut"]),
            svc("mens-cut", "Men's cut", &["men's haircut", "gents cut"]),
            svc("kids-cut", "Kids' cut (age 12 and under)", &[]),
            svc("beard-trim", "Beard trim", &[]),
            svc("mens-cut-beard", "Men's cut + beard trim", &[]),
            svc("colour", "Single-process colour", &["hair color"]),
        ];
        assert_eq!(resolve_service(&s, "mens haircut").unwrap().id, "mens-cut");
        assert_eq!(resolve_service(&s, "Men's cut").unwrap().id, "mens-cut");
        assert_eq!(resolve_service(&s, "beard trim").unwrap().id, "beard-trim");
        assert_eq!(resolve_service(&s, "kids cut").unwrap().id, "kids-cut");
        assert_eq!(resolve_service(&s, "hair color").unwrap().id, "colour");
        assert_eq!(resolve_service(&s, "womens-cut").unwrap().id, "womens-cut");
        assert_eq!(resolve_service(&s, "gents' cuts").unwrap().id, "mens-cut", "an alias, plural");
        let e = resolve_service(&s, "haircut").unwrap_err().to_string();
        assert!(e.contains("Which one"), "{e}");
        let e = resolve_service(&s, "massage").unwrap_err().to_string();
        assert!(e.contains("Services:"), "{e}");
    }

    #[test]
    fn ranges_join_consecutive_slots() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let slots = vec![
            (t(9, 0), vec![]),
            (t(9, 30), vec![]),
            (t(10, 0), vec![]),
            (t(12, 0), vec![]),
            (t(14, 0), vec![]),
            (t(14, 30), vec![]),
        ];
        assert_eq!(ranges(&slots, TimeDelta::minutes(30)), "09:00-10:00, 12:00, 14:00-14:30");
    }

    #[test]
    fn money_reads_well() {
        assert_eq!(money(5800), "$58");
        assert_eq!(money(2450), "$24.50");
        assert_eq!(money(5), "$0.05");
    }
}
