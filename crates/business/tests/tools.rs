//! The business tools against a real SQLite store in a temp dir, seeded with
//! the demo data, with the clock fixed at Tue 24 Nov 2026 08:00 local time
//! (-05:00). Seeded appointments then fall on: A-501 Ana, Women's cut with
//! Priya, Wed 25 Nov 10:00; A-502 Ben, Men's cut + beard trim with Theo, Wed
//! 25 Nov 11:00-11:45; A-503 Chloe, Balayage with Maren, Fri 27 Nov
//! 10:00-13:00; A-504 David, Kids' cut with Wren, Thu 26 Nov 12:00; A-505
//! Elena, Blow-dry with Priya, Sat 28 Nov 13:00; A-506 Farah (cancelled); A-507
//! Ben, Beard trim with Theo, Thu 3 Dec 10:30.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use switchboard_business::{Clock, DemoBusiness, TOOL_NAMES, demo_tools, seed_demo_at};
use switchboard_core::business::BusinessStore;
use switchboard_core::tool::{Tool, ToolContext, ToolError};
use switchboard_store::SqliteStore;

/// Tue 24 Nov 2026 08:00 at -05:00.
fn seed_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 13, 0, 0).unwrap()
}

struct Harness {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    tools: Vec<Arc<dyn Tool>>,
}

fn fixed(t: DateTime<Utc>) -> Clock {
    Arc::new(move || t)
}

async fn harness_at(now: DateTime<Utc>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite")).await.unwrap();
    let report = seed_demo_at(&store, DemoBusiness::embedded(), seed_time()).await.unwrap();
    assert!(report.inserted > 40, "{report:?}");
    let tools = demo_tools(Arc::new(store.clone()), fixed(now));
    Harness { _dir: dir, store, tools }
}

async fn harness() -> Harness {
    harness_at(seed_time()).await
}

/// The first string or number under one of `keys`, anywhere in `v` (also
/// inside arguments sent as a JSON string).
fn lookup(v: &Value, keys: &[&str]) -> Option<String> {
    match v {
        Value::Object(m) => {
            for k in keys {
                match m.get(*k) {
                    Some(Value::String(s)) => return Some(s.clone()),
                    Some(Value::Number(n)) => return Some(n.to_string()),
                    _ => {}
                }
            }
            m.values().find_map(|x| lookup(x, keys))
        }
        Value::String(s) => serde_json::from_str::<Value>(s).ok().and_then(|x| lookup(&x, keys)),
        _ => None,
    }
}

impl Harness {
    /// Calls a tool as the customer who owns the record its arguments name
    /// (each business test acts on its own records; crossing customers is
    /// `callers_only_reach_their_own_records`), else as Ana (C-101), by
    /// caller ID, in a fresh session. A new customer is added by a caller
    /// not on file yet.
    async fn call(&self, name: &str, args: Value) -> Result<Value, ToolError> {
        if name == "create_customer" {
            return self.call_as(None, name, args).await;
        }
        let owner = self.owner(&args).await;
        let phone = self.store.get_customer(owner).await.unwrap().phone;
        self.call_as(Some(&phone), name, args).await
    }

    async fn call_as(&self, contact: Option<&str>, name: &str, args: Value) -> Result<Value, ToolError> {
        let ctx = ToolContext {
            session_id: Some(uuid::Uuid::now_v7()),
            caller_contact: contact.map(String::from),
            ..Default::default()
        };
        self.call_in(&ctx, name, args).await
    }

    async fn call_in(&self, ctx: &ToolContext, name: &str, args: Value) -> Result<Value, ToolError> {
        let tool = self.tools.iter().find(|t| t.spec().name == name).unwrap_or_else(|| panic!("no tool {name}"));
        tool.call(ctx, args).await
    }

    async fn owner(&self, args: &Value) -> i64 {
        let num = |keys: &[&str]| {
            lookup(args, keys)
                .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>())
                .and_then(|d| d.parse::<i64>().ok())
        };
        if let Some(c) = num(&["customer_id", "customerId"])
            && self.store.get_customer(c).await.is_ok()
        {
            return c;
        }
        if let Some(a) = num(&["appointment_id"])
            && let Ok(x) = self.store.get_appointment(a).await
        {
            return x.customer_id;
        }
        let order = match (num(&["order_id"]), num(&["id"])) {
            (Some(o), _) => Some(o),
            (None, Some(i)) => match self.store.get_return(i).await {
                Ok(r) => Some(r.order_id),
                Err(_) => Some(i),
            },
            _ => None,
        };
        if let Some(o) = order
            && let Ok(x) = self.store.get_order(o).await
        {
            return x.customer_id;
        }
        101
    }

    async fn ok(&self, name: &str, args: Value) -> Value {
        match self.call(name, args.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{name}({args}) failed: {e}"),
        }
    }

    async fn err(&self, name: &str, args: Value) -> ToolError {
        match self.call(name, args.clone()).await {
            Ok(v) => panic!("{name}({args}) succeeded: {v}"),
            Err(e) => e,
        }
    }
}

fn invalid(e: &ToolError) -> bool {
    matches!(e, ToolError::InvalidArguments(_))
}
fn not_found(e: &ToolError) -> bool {
    matches!(e, ToolError::NotFound(_))
}
fn conflict(e: &ToolError) -> bool {
    matches!(e, ToolError::Conflict(_))
}

fn slots(v: &Value) -> Vec<String> {
    v["slots"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn specs_are_compact_json_schema_objects_with_unique_names() {
    let h = harness().await;
    let specs: Vec<_> = h.tools.iter().map(|t| t.spec()).collect();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, TOOL_NAMES);
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len(), "names are unique");
    for s in &specs {
        // The booking tools add the business's services (from its data).
        let own = s.description.split(" Services: ").next().unwrap();
        assert!(!own.is_empty() && own.len() <= 100, "{}", s.name);
        if s.name == "create_appointment" {
            assert!(s.description.contains("Services: Women's cut & style, Men's cut"), "{}", s.description);
        }
        let p = &s.parameters;
        assert_eq!(p["type"], "object", "{}", s.name);
        let props = p["properties"].as_object().unwrap_or_else(|| panic!("{}: properties", s.name));
        assert!(!props.is_empty(), "{}", s.name);
        for (k, v) in props {
            let ty = v["type"].as_str().unwrap_or_else(|| panic!("{}.{k}: one type", s.name));
            assert!(["string", "integer", "array"].contains(&ty), "{}.{k}: {ty}", s.name);
            if ty == "array" {
                assert_eq!(v["items"]["type"], "string", "{}.{k}", s.name);
            }
        }
        for r in p["required"].as_array().map(Vec::as_slice).unwrap_or_default() {
            assert!(props.contains_key(r.as_str().unwrap()), "{}: required {r}", s.name);
        }
        for noise in ["$schema", "title", "additionalProperties", "format"] {
            assert!(!p.to_string().contains(noise), "{}: {noise}", s.name);
        }
    }
    // Small enough for a 0.5B model's prompt (roughly 4 characters a token;
    // a turn is offered only the tools of its subject). The three booking
    // tools' service lists add about 750 characters.
    let total: usize = specs.iter().map(|s| serde_json::to_string(s).unwrap().len()).sum();
    eprintln!("tool specs: {total} characters, ~{} tokens", total / 4);
    assert!(total < 4400, "tool specs take {total} characters");
}

#[tokio::test]
async fn embedded_demo_agrees_with_the_profile() {
    let d = DemoBusiness::embedded();
    assert_eq!(d.name, "Juniper & Fern Hair Studio");
    let cfg = d.config().unwrap();
    let day = |y, m, dd| chrono::NaiveDate::from_ymd_opt(y, m, dd).unwrap();
    assert_eq!(cfg.hours_on(day(2026, 11, 23)), None, "closed on Mondays");
    let t = |h| chrono::NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    assert_eq!(cfg.hours_on(day(2026, 11, 26)), Some((t(10), t(20))), "Thursday late night");
    assert_eq!(cfg.hours_on(day(2026, 11, 29)), Some((t(10), t(15))), "Sunday");
    let mens = d.services.iter().find(|s| s.id == "mens-cut").unwrap();
    assert_eq!((mens.price_cents, mens.duration_min), (3400, 30));
    let balayage = d.services.iter().find(|s| s.id == "balayage").unwrap();
    assert!(balayage.price_from && balayage.price_cents == 16500);
    assert_eq!(d.services.len(), 13);
    let wren = d.staff.iter().find(|s| s.id == "wren").unwrap();
    assert_eq!(wren.days, ["thu", "fri", "sat", "sun"]);
    assert!(d.customers.len() >= 6 && d.products.len() >= 10 && d.orders.len() >= 6 && d.policies.len() >= 8);
    let seed = d.seed_at(seed_time()).unwrap();
    assert!(seed.appointments.iter().all(|a| a.starts_at > seed_time()), "appointments are ahead");
}

#[tokio::test]
async fn seeding_twice_changes_nothing() {
    let h = harness().await;
    let before = (
        h.store.services().await.unwrap(),
        h.store.staff().await.unwrap(),
        h.store.policies().await.unwrap(),
        h.store.customer_appointments(102, seed_time()).await.unwrap(),
        h.store.get_order(1001).await.unwrap(),
        h.store.search_products(&[], 100).await.unwrap(),
    );
    // Again, at the same moment and a week later: nothing is inserted or moved.
    for later in [0, 7] {
        let at = seed_time() + chrono::TimeDelta::days(later);
        let again = seed_demo_at(&h.store, DemoBusiness::embedded(), at).await.unwrap();
        assert_eq!(again.inserted, 0, "second seeding inserted rows");
    }
    let after = (
        h.store.services().await.unwrap(),
        h.store.staff().await.unwrap(),
        h.store.policies().await.unwrap(),
        h.store.customer_appointments(102, seed_time()).await.unwrap(),
        h.store.get_order(1001).await.unwrap(),
        h.store.search_products(&[], 100).await.unwrap(),
    );
    assert_eq!(before, after);
    for id in 101..=106 {
        h.store.get_customer(id).await.unwrap();
    }
    assert!(h.store.get_customer(107).await.is_err(), "six customers");
}

#[tokio::test]
async fn find_customer_needs_the_name_and_the_phone_number_on_file() {
    let h = harness().await;
    let v = h.ok("find_customer", json!({"name": "Ana Ruiz", "phone": "555-0142"})).await;
    assert_eq!(v["customer"]["id"], "C-101");
    assert_eq!(v["customer"]["name"], "Ana Ruiz");
    let v = h.ok("find_customer", json!({"name": "ben", "phone": "+1 (555) 018-7"})).await;
    assert_eq!(v["customer"]["name"], "Ben Carter");

    // No enumeration: a fragment of a name, a wrong number, or someone
    // else's name with a known number finds nobody and lists nobody.
    for wrong in [
        json!({"name": "Ana Ruiz", "phone": "555-9999"}),
        json!({"name": "Zelda", "phone": "555-0142"}),
        json!({"name": "Ben Carter", "phone": "555-0142"}),
    ] {
        let e = h.err("find_customer", wrong.clone()).await;
        assert!(not_found(&e), "{wrong}: {e}");
        for other in ["Ana", "Ben", "0142", "0187", "example.com"] {
            assert!(!e.to_string().contains(other), "{wrong}: {e}");
        }
    }
    assert!(invalid(&h.err("find_customer", json!({"name": "Ana Ruiz", "phone": "@@"})).await));
    assert!(invalid(&h.err("find_customer", json!({"name": "  ", "phone": "555-0142"})).await));
    assert!(invalid(&h.err("find_customer", json!({"query": "osei"})).await));
    assert!(invalid(&h.err("find_customer", json!({})).await));
}

#[tokio::test]
async fn create_customer_validates_and_refuses_duplicates() {
    let h = harness().await;
    let v = h.ok("create_customer", json!({"name": "Gus Moreau", "phone": "+1 555 0177", "email": null})).await;
    assert_eq!(v["created"], true);
    assert_eq!(v["customer"]["id"], "C-107");
    let found = h.ok("find_customer", json!({"name": "Gus Moreau", "phone": "5550177"})).await;
    assert_eq!(found["customer"]["name"], "Gus Moreau");

    // A taken number or email is a conflict that names nobody.
    let e = h.err("create_customer", json!({"name": "Ana Again", "phone": "555-0142"})).await;
    assert!(conflict(&e) && !e.to_string().contains("C-101") && !e.to_string().contains("Ana"), "{e}");
    let e =
        h.err("create_customer", json!({"name": "Other", "phone": "555-0100", "email": "ANA.RUIZ@example.com"})).await;
    assert!(conflict(&e), "{e}");

    for bad in [
        json!({"name": "Hal", "phone": "call me"}),
        json!({"name": "Hal", "phone": "123"}),
        json!({"name": "Hal", "phone": "555-0101", "email": "hal.example.com"}),
        json!({"name": "", "phone": "555-0101"}),
        json!({"name": "12", "phone": "555-0101"}),
        json!({"name": "x".repeat(81), "phone": "555-0101"}),
        json!({"phone": "555-0101"}),
    ] {
        assert!(invalid(&h.err("create_customer", bad.clone()).await), "{bad}");
    }
}

#[tokio::test]
async fn availability_honours_hours_durations_bookings_and_the_clock() {
    let h = harness().await;
    // Theo on Wed 25 Nov: Ben's 11:00-11:45 takes 11:00 and 11:30.
    let v = h.ok("check_availability", json!({"date": "2026-11-25", "service": "men's cut", "staff": "Theo"})).await;
    let s = slots(&v);
    assert_eq!(s.first().unwrap(), "09:00");
    assert!(s.contains(&"10:30".to_string()) && s.contains(&"12:00".to_string()));
    assert!(!s.contains(&"11:00".to_string()) && !s.contains(&"11:30".to_string()), "{s:?}");
    assert_eq!(s.last().unwrap(), "17:00", "last start an hour before 18:00 closing");
    assert!(v["message"].as_str().unwrap().contains("09:00-10:30, 12:00-17:00"), "{}", v["message"]);

    // Any staff: Wren does men's cuts but not on Wednesdays; 11:00 stays
    // taken only if nobody else who does men's cuts is free -- Theo is the only one.
    let any = h.ok("check_availability", json!({"date": "2026-11-25", "service": "mens cut"})).await;
    assert_eq!(slots(&any), s);
    // The business's own names for a service, from its data (`aliases`).
    let alias = h.ok("check_availability", json!({"date": "2026-11-25", "service": "gents' haircut"})).await;
    assert_eq!(slots(&alias), s);
    // Thursday: Wren works, so 11:00 is free with her even if Theo were booked.
    let thu = h.ok("check_availability", json!({"date": "2026-11-26", "service": "Kids' cut"})).await;
    assert_eq!(slots(&thu).first().unwrap(), "10:00");
    assert_eq!(slots(&thu).last().unwrap(), "19:00");

    // Long service: balayage on Sunday (10-15) can start until 12:00.
    let sun = h.ok("check_availability", json!({"date": "2026-11-29", "service": "balayage"})).await;
    assert_eq!(slots(&sun), ["10:00", "10:30", "11:00", "11:30", "12:00"]);
    // Maren's Friday balayage (10:00-13:00) blocks her morning.
    let fri = h.ok("check_availability", json!({"date": "2026-11-27", "service": "gloss", "staff": "maren"})).await;
    let f = slots(&fri);
    assert!(!f.iter().any(|t| ("10:00".."13:00").contains(&t.as_str())), "{f:?}");
    assert!(f.contains(&"09:30".to_string()) && f.contains(&"13:00".to_string()));

    // Closed day.
    let mon = h.ok("check_availability", json!({"date": "2026-11-30", "service": "mens cut"})).await;
    assert!(slots(&mon).is_empty());
    assert!(mon["message"].as_str().unwrap().contains("closed on Mondays"), "{}", mon["message"]);

    // No past slots: at 13:10 local on Tuesday, today starts at 13:30.
    let later = harness_at(Utc.with_ymd_and_hms(2026, 11, 24, 18, 10, 0).unwrap()).await;
    let today = later.ok("check_availability", json!({"date": "today", "service": "beard trim"})).await;
    assert_eq!(slots(&today).first().unwrap(), "13:30");

    // Bad input.
    for bad in [
        json!({"date": "2026-11-23", "service": "mens cut"}),
        json!({"date": "25/11/2026", "service": "mens cut"}),
        json!({"date": "2026-11-25", "service": "massage"}),
        json!({"date": "2026-11-25", "service": "haircut"}),
        json!({"date": "2026-11-25", "service": "balayage", "staff": "Theo"}),
        json!({"date": "2026-11-25", "service": "kids cut", "staff": "Wren"}),
        json!({"date": "2026-11-25", "service": "mens cut", "staff": "Bob"}),
        json!({"date": "2027-06-01", "service": "mens cut"}),
        json!({"service": "mens cut"}),
    ] {
        assert!(invalid(&h.err("check_availability", bad.clone()).await), "{bad}");
    }
}

#[tokio::test]
async fn create_appointment_books_once_and_refuses_conflicts() {
    let h = harness().await;
    let v = h
        .ok(
            "create_appointment",
            json!({"customer_id": "C-106", "service": "Men's cut", "date": "2026-11-25", "time": "12:00", "staff": "Theo"}),
        )
        .await;
    assert_eq!(v["booked"], true);
    assert_eq!(v["appointment"]["staff"], "Theo Lindqvist");
    assert_eq!(v["appointment"]["when"], "Wed 25 Nov at 12:00");
    assert!(v["message"].as_str().unwrap().contains("Farah Haddad"), "{}", v["message"]);
    let id = v["appointment"]["id"].as_str().unwrap().to_string();
    assert_eq!(id, "A-508");

    // The slot is gone, and booking it again (another customer) is a conflict with alternatives.
    let av = h.ok("check_availability", json!({"date": "2026-11-25", "service": "mens cut"})).await;
    assert!(!slots(&av).contains(&"12:00".to_string()));
    let e = h
        .err(
            "create_appointment",
            json!({"customer_id": "C-104", "service": "mens cut", "date": "2026-11-25", "time": "12:00"}),
        )
        .await;
    assert!(conflict(&e) && e.to_string().contains("Free times on Wed 25 Nov"), "{e}");
    // Overlapping start (12:15 inside 12:00-12:30) with the same staff.
    let e = h
        .err(
            "create_appointment",
            json!({"customer_id": "C-104", "service": "beard trim", "date": "2026-11-25", "time": "12:15", "staff": "theo"}),
        )
        .await;
    assert!(conflict(&e), "{e}");
    // The same customer cannot be in two chairs at once.
    let e = h
        .err(
            "create_appointment",
            json!({"customer_id": "C-106", "service": "blow-dry", "date": "2026-11-25", "time": "12:00"}),
        )
        .await;
    assert!(conflict(&e) && e.to_string().contains("Farah"), "{e}");

    // No staff named: any qualified, free one is chosen (Priya is busy at 10:00 Wed, Maren is free).
    let v = h
        .ok(
            "create_appointment",
            json!({"customer_id": "C-104", "service": "blow dry", "date": "2026-11-25", "time": "10:00"}),
        )
        .await;
    assert_eq!(v["appointment"]["staff"], "Maren Okafor");
    // Deposit note for balayage.
    let v = h
        .ok(
            "create_appointment",
            json!({"customer_id": "C-105", "service": "balayage", "date": "2026-12-02", "time": "09:00"}),
        )
        .await;
    assert!(v["message"].as_str().unwrap().contains("$30 deposit"), "{}", v["message"]);

    // Failures.
    let base = json!({"customer_id": "C-101", "service": "mens cut", "date": "2026-11-26", "time": "10:00"});
    let with = |k: &str, val: Value| {
        let mut b = base.clone();
        b[k] = val;
        b
    };
    // Another customer, or one that does not exist: refused as not the caller's.
    for other in ["C-999", "C-102"] {
        let e =
            h.call_as(Some("+1-555-0142"), "create_appointment", with("customer_id", json!(other))).await.unwrap_err();
        assert!(invalid(&e) && e.to_string().contains("own records"), "{e}");
    }
    for bad in [
        with("time", json!("09:00")),      // Thursday opens at 10:00
        with("time", json!("19:30")),      // after the last start (19:00)
        with("date", json!("2026-11-30")), // Monday
        with("date", json!("2026-11-20")), // past
        with("time", json!("25:00")),
        with("customer_id", json!("O-1001")),
        with("service", json!("")),
    ] {
        assert!(invalid(&h.err("create_appointment", bad.clone()).await), "{bad}");
    }
    let e = h.err("create_appointment", with("time", json!("07:00"))).await;
    assert!(e.to_string().contains("10:00-20:00"), "{e}");
}

#[tokio::test]
async fn concurrent_bookings_of_one_slot_exactly_one_wins() {
    let h = harness().await;
    let mut callers = vec![];
    for i in 0..8 {
        let phone = format!("555-01{:02}", 50 + i);
        h.ok("create_customer", json!({"name": format!("Racer {i}"), "phone": phone})).await;
        callers.push(phone);
    }
    let tools = Arc::new(h.tools.clone());
    let mut tasks = vec![];
    for phone in callers {
        let tools = tools.clone();
        tasks.push(tokio::spawn(async move {
            let t = tools.iter().find(|t| t.spec().name == "create_appointment").unwrap();
            let args = json!({"service": "womens cut", "date": "2026-11-25", "time": "15:00", "staff": "Priya"});
            t.call(&ToolContext { caller_contact: Some(phone), ..Default::default() }, args).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => assert!(conflict(&e), "{e}"),
        }
    }
    assert_eq!(won, 1);
    let booked = h
        .store
        .booked_between(
            Utc.with_ymd_and_hms(2026, 11, 25, 20, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 25, 21, 0, 0).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(booked.iter().filter(|a| a.staff_id == "priya").count(), 1);
}

#[tokio::test]
async fn get_appointments_lists_upcoming() {
    let h = harness().await;
    let v = h.ok("get_appointments", json!({"customer_id": "C-102"})).await;
    let list = v["appointments"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], "A-502");
    assert_eq!(list[0]["service"], "Men's cut + beard trim");
    assert_eq!(list[1]["id"], "A-507");
    let v = h.ok("get_appointments", json!({"customer_id": 106})).await;
    assert_eq!(v["appointments"][0]["status"], "cancelled");
    assert!(invalid(&h.err("get_appointments", json!({"customer_id": "C-555"})).await));
    assert!(invalid(&h.err("get_appointments", json!({"customer_id": "Ana"})).await));
}

#[tokio::test]
async fn reschedule_moves_or_refuses() {
    let h = harness().await;
    let v =
        h.ok("reschedule_appointment", json!({"appointment_id": "A-501", "date": "2026-11-26", "time": "14:00"})).await;
    assert_eq!(v["rescheduled"], true);
    assert_eq!(v["appointment"]["when"], "Thu 26 Nov at 14:00");
    assert_eq!(v["appointment"]["staff"], "Priya Castellanos", "keeps the staff");
    assert!(!v["message"].as_str().unwrap().contains("fee"));
    // The old slot is free again.
    let av = h.ok("check_availability", json!({"date": "2026-11-25", "service": "womens cut", "staff": "priya"})).await;
    assert!(slots(&av).contains(&"10:00".to_string()));

    // Into Theo's booked time with Theo: conflict. Cancelled one: conflict.
    let e = h
        .err(
            "reschedule_appointment",
            json!({"appointment_id": "A-507", "date": "2026-11-25", "time": "11:15", "staff": "Theo"}),
        )
        .await;
    assert!(conflict(&e), "{e}");
    let e = h
        .err("reschedule_appointment", json!({"appointment_id": "A-506", "date": "2026-12-02", "time": "10:00"}))
        .await;
    assert!(conflict(&e) && e.to_string().contains("cancelled"), "{e}");
    assert!(not_found(
        &h.err("reschedule_appointment", json!({"appointment_id": "A-999", "date": "2026-12-02", "time": "10:00"}))
            .await
    ));
    assert!(invalid(&h.err("reschedule_appointment", json!({"appointment_id": "A-502", "date": "2026-12-02"})).await));
    assert!(invalid(
        &h.err("reschedule_appointment", json!({"appointment_id": "A-502", "date": "2026-11-30", "time": "10:00"}))
            .await
    ));
}

#[tokio::test]
async fn cancel_appointment_applies_the_notice_policy_and_is_final() {
    // 26 hours ahead: no fee.
    let h = harness().await;
    let v = h.ok("cancel_appointment", json!({"appointment_id": "A-501"})).await;
    assert_eq!(v["cancelled"], true);
    assert!(v.get("late_fee").is_none(), "{v}");
    let e = h.err("cancel_appointment", json!({"appointment_id": "A-501"})).await;
    assert!(conflict(&e) && e.to_string().contains("already cancelled"), "{e}");
    assert!(conflict(&h.err("cancel_appointment", json!({"appointment_id": "A-506"})).await));
    assert!(not_found(&h.err("cancel_appointment", json!({"appointment_id": "A-4242"})).await));
    assert!(invalid(&h.err("cancel_appointment", json!({"appointment_id": "R-7001"})).await));

    // At 12:00 local on Tuesday, Wednesday's 10:00 is 22 hours away: cancelled, with the fee.
    let late = harness_at(Utc.with_ymd_and_hms(2026, 11, 24, 17, 0, 0).unwrap()).await;
    let v = late.ok("cancel_appointment", json!({"appointment_id": "A-501"})).await;
    assert_eq!(v["cancelled"], true);
    assert_eq!(v["late_fee"], "$29");
    assert!(v["message"].as_str().unwrap().contains("50%"), "{}", v["message"]);
    assert_eq!(late.store.get_appointment(501).await.unwrap().status.as_str(), "cancelled");
}

#[tokio::test]
async fn orders_get_track_and_cancel() {
    let h = harness().await;
    let v = h.ok("get_order", json!({"order_id": "O-1001"})).await;
    assert_eq!(v["status"], "delivered");
    assert_eq!(v["total"], "$48");
    assert_eq!(v["items"][0], "1 x Hydrating Shampoo ($24)");
    let v = h.ok("track_order", json!({"order_id": "1002"})).await;
    assert_eq!(v["status"], "shipped");
    assert_eq!(v["carrier"], "USPS");
    assert!(v["message"].as_str().unwrap().contains("9400111899223344556677"));
    let v = h.ok("track_order", json!({"order_id": "#1003"})).await;
    assert!(v["message"].as_str().unwrap().contains("not shipped"));

    let v = h.ok("cancel_order", json!({"order_id": "O-1003"})).await;
    assert_eq!(v["cancelled"], true);
    assert_eq!(v["refund"], "$60");
    let e = h.err("cancel_order", json!({"order_id": "O-1003"})).await;
    assert!(conflict(&e) && e.to_string().contains("already cancelled"), "{e}");
    let e = h.err("cancel_order", json!({"order_id": "O-1002"})).await;
    assert!(conflict(&e) && e.to_string().contains("shipped"), "{e}");
    assert!(conflict(&h.err("cancel_order", json!({"order_id": "O-1001"})).await));
    assert_eq!(h.store.get_order(1002).await.unwrap().status.as_str(), "shipped");

    assert!(not_found(&h.err("get_order", json!({"order_id": "O-9999"})).await));
    assert!(not_found(&h.err("track_order", json!({"order_id": "9999"})).await));
    assert!(invalid(&h.err("get_order", json!({"order_id": "C-101"})).await));
    assert!(invalid(&h.err("cancel_order", json!({"order": "1003"})).await));
}

#[tokio::test]
async fn products_search_and_details() {
    let h = harness().await;
    let v = h.ok("search_products", json!({"query": "shampoos"})).await;
    let skus: Vec<&str> = v["products"].as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap()).collect();
    assert!(skus.contains(&"SHP-HYD") && skus.contains(&"SHP-CLR") && skus.contains(&"SHP-CWS"), "{skus:?}");
    let v = h.ok("search_products", json!({"query": "do you have a curl cream?"})).await;
    assert_eq!(v["products"][0]["sku"], "CRL-CRM");
    let v = h.ok("search_products", json!({"query": "heat protection"})).await;
    assert!(v["products"][0]["sku"].as_str().unwrap().starts_with("HTP"), "{v}");
    let v = h.ok("search_products", json!({"query": "nail polish"})).await;
    assert!(v["products"].as_array().unwrap().is_empty());

    let v = h.ok("get_product_details", json!({"product": "shp-cws"})).await;
    assert_eq!(v["stock"], 0);
    assert!(v["message"].as_str().unwrap().contains("out of stock"));
    let v = h.ok("get_product_details", json!({"product": "Repair Mask"})).await;
    assert_eq!(v["price"], "$32");
    let e = h.err("get_product_details", json!({"product": "shampoo"})).await;
    assert!(invalid(&e) && e.to_string().contains("Which one"), "{e}");
    assert!(not_found(&h.err("get_product_details", json!({"product": "nail polish"})).await));
    assert!(invalid(&h.err("search_products", json!({"query": ""})).await));
}

#[tokio::test]
async fn returns_only_for_delivered_orders_in_the_window() {
    let h = harness().await;
    let v = h
        .ok("initiate_return", json!({"order_id": "O-1001", "reason": "Wrong scent, unopened", "items": ["SHP-HYD"]}))
        .await;
    assert_eq!(v["return"], "R-7003");
    assert_eq!(v["status"], "requested");
    assert_eq!(v["refund"], "$24");
    let e = h.err("initiate_return", json!({"order_id": "O-1001", "reason": "again"})).await;
    assert!(conflict(&e) && e.to_string().contains("R-7003"), "{e}");

    let e = h.err("initiate_return", json!({"order_id": "O-1004", "reason": "changed my mind"})).await;
    assert!(conflict(&e) && e.to_string().contains("14 days"), "{e}");
    assert!(conflict(&h.err("initiate_return", json!({"order_id": "O-1002", "reason": "too slow"})).await));
    let e = h.err("initiate_return", json!({"order_id": "O-1003", "reason": "not needed"})).await;
    assert!(conflict(&e) && e.to_string().contains("cancel_order"), "{e}");
    assert!(conflict(&h.err("initiate_return", json!({"order_id": "O-1006", "reason": "n/a n/a"})).await));
    assert!(conflict(&h.err("initiate_return", json!({"order_id": "O-1005", "reason": "second one"})).await));
    assert!(not_found(&h.err("initiate_return", json!({"order_id": "O-4040", "reason": "lost"})).await));
    // Unknown SKU in a returnable order; empty reason.
    let h2 = harness().await;
    let e = h2.err("initiate_return", json!({"order_id": "O-1001", "reason": "nope", "items": ["CRL-GEL"]})).await;
    assert!(invalid(&e) && e.to_string().contains("SHP-HYD"), "{e}");
    assert!(invalid(&h2.err("initiate_return", json!({"order_id": "O-1001", "reason": " "})).await));
    // Items as a comma-separated string are accepted; the whole order by default.
    let v = h2
        .ok("initiate_return", json!({"order_id": "1001", "reason": "duplicate gift", "items": "SHP-HYD, CND-HYD"}))
        .await;
    assert_eq!(v["refund"], "$48");

    let v = h.ok("get_return_status", json!({"id": "R-7001"})).await;
    assert_eq!(v["status"], "approved");
    assert_eq!(v["order"], "O-1005");
    let v = h.ok("get_return_status", json!({"id": "O-1007"})).await;
    assert_eq!(v["return"], "R-7002");
    assert_eq!(v["status"], "refunded");
    let v = h.ok("get_return_status", json!({"id": "1001"})).await;
    assert_eq!(v["return"], "R-7003");
    assert!(not_found(&h.err("get_return_status", json!({"id": "R-9999"})).await));
    assert!(not_found(&h.err("get_return_status", json!({"id": "O-1002"})).await));
    assert!(invalid(&h.err("get_return_status", json!({"id": "A-501"})).await));
}

#[tokio::test]
async fn policies_by_key_or_topic_word() {
    let h = harness().await;
    assert_eq!(h.ok("get_policy", json!({"topic": "cancellation"})).await["policy"], "cancellation");
    let v = h.ok("get_policy", json!({"topic": "what if I'm running late"})).await;
    assert_eq!(v["policy"], "lateness");
    assert!(v["text"].as_str().unwrap().contains("15 minutes"));
    assert_eq!(h.ok("get_policy", json!({"topic": "refund"})).await["policy"], "refunds");
    assert_eq!(h.ok("get_policy", json!({"topic": "kids"})).await["policy"], "children");
    assert_eq!(h.ok("get_policy", json!({"topic": "deposit"})).await["policy"], "deposits");
    assert_eq!(h.ok("get_policy", json!({"topic": "Gift Cards"})).await["policy"], "gift-cards");
    let e = h.err("get_policy", json!({"topic": "parking"})).await;
    assert!(not_found(&e) && e.to_string().contains("cancellation, lateness"), "{e}");
    assert!(invalid(&h.err("get_policy", json!({"topic": ""})).await));
}

#[tokio::test]
async fn lenient_intake_of_what_small_models_send() {
    let h = harness().await;
    // A number where a string is expected.
    assert_eq!(h.ok("get_order", json!({"order_id": 1001})).await["order"], "O-1001");
    // Arguments as a JSON string, and nested under "arguments".
    assert_eq!(h.ok("get_order", json!("{\"order_id\": \"O-1001\"}")).await["order"], "O-1001");
    assert_eq!(h.ok("get_order", json!({"arguments": "{\"order_id\": 1002}"})).await["order"], "O-1002");
    assert_eq!(h.ok("get_order", json!({"args": {"order_id": "1003"}})).await["order"], "O-1003");
    // Another key casing, and null optionals.
    assert_eq!(h.ok("get_appointments", json!({"customerId": "C-101"})).await["customer"], "C-101");
    let v = h.ok("check_availability", json!({"Date": "2026-11-25", "service": "mens cut", "staff": null})).await;
    assert!(!slots(&v).is_empty());
    // A phone number sent as a number.
    assert_eq!(h.ok("find_customer", json!({"name": "Ana Ruiz", "phone": 5550142})).await["customer"]["id"], "C-101");
    // Friendly times and dates.
    let v = h
        .ok(
            "create_appointment",
            json!({"customer_id": "C-103", "service": "gloss", "date": "wednesday", "time": "2:30 pm"}),
        )
        .await;
    assert_eq!(v["appointment"]["when"], "Wed 25 Nov at 14:30");

    // Still strict where it matters.
    for bad in [json!([1, 2]), json!("not json"), json!(42), json!({"order_id": {"id": 1}})] {
        assert!(invalid(&h.err("get_order", bad.clone()).await), "{bad}");
    }
    assert!(invalid(&h.err("get_order", Value::Null).await));
}

#[tokio::test]
async fn signatures_are_one_short_line_per_tool() {
    let h = harness().await;
    let specs: Vec<_> = h.tools.iter().map(|t| t.spec()).collect();
    let text = switchboard_business::signatures(&specs);
    assert_eq!(text.lines().count(), TOOL_NAMES.len());
    assert!(
        text.contains(
            "create_appointment(service, date: YYYY-MM-DD, time: HH:MM, customer_id?: default: the caller, staff?) - Book an appointment."
        ),
        "{text}"
    );
    eprintln!("signatures: {} characters\n{text}", text.len());
    // Three booking tools name the services (about 250 characters each).
    assert!(text.len() < 2400, "{} characters", text.len());
}

#[tokio::test]
async fn booking_tools_act_for_a_recognised_caller() {
    let h = harness().await;
    let call = |name: &'static str, contact: Option<&'static str>, args: Value| {
        let tool = h.tools.iter().find(|t| t.spec().name == name).unwrap().clone();
        async move {
            let ctx = ToolContext { caller_contact: contact.map(String::from), ..Default::default() };
            tool.call(&ctx, args).await
        }
    };
    // Ana's number, written another way, is enough: no customer_id needed.
    let v = call(
        "create_appointment",
        Some("(555) 0142"),
        json!({"service": "mens cut", "date": "2026-11-27", "time": "11:00"}),
    )
    .await
    .unwrap();
    assert_eq!(v["booked"], true, "{v}");
    assert!(v["message"].as_str().unwrap().contains("Ana Ruiz"), "{v}");
    let v = call("get_appointments", Some("ana.ruiz@example.com"), json!({})).await.unwrap();
    assert_eq!(v["customer"], "C-101");
    assert!(v["appointments"].as_array().unwrap().iter().any(|a| a["when"] == "Fri 27 Nov at 11:00"), "{v}");
    // Naming the caller's own id is fine; naming another customer is not.
    let v = call("get_appointments", Some("+1-555-0142"), json!({"customer_id": "C-101"})).await.unwrap();
    assert_eq!(v["customer"], "C-101");
    let e = call("get_appointments", Some("+1-555-0142"), json!({"customer_id": "C-102"})).await.unwrap_err();
    assert!(invalid(&e) && e.to_string().contains("own records"), "{e}");
    // Unknown or missing caller: a clear error telling the model what to do.
    for contact in [None, Some("+1-555-9999"), Some("not a phone")] {
        let e =
            call("create_appointment", contact, json!({"service": "mens cut", "date": "2026-11-27", "time": "12:00"}))
                .await
                .unwrap_err();
        assert!(invalid(&e) && e.to_string().contains("find_customer"), "{contact:?}: {e}");
    }
}

/// A caller (by caller ID, or proved in the call) reaches only their own
/// customer record, appointments, orders and returns; every attempt at
/// another customer's is a tool error the model reads, and nothing changes.
#[tokio::test]
async fn callers_only_reach_their_own_records() {
    let h = harness().await;
    let ana = Some("+1-555-0142");
    // Ben's appointments, order O-1002 and Chloe's return of
    // O-1007 are not Ana's.
    let attempts = [
        ("get_appointments", json!({"customer_id": "C-102"})),
        (
            "create_appointment",
            json!({"customer_id": "C-102", "service": "mens cut", "date": "2026-11-26", "time": "10:00"}),
        ),
        ("reschedule_appointment", json!({"appointment_id": "A-502", "date": "2026-11-26", "time": "14:00"})),
        ("cancel_appointment", json!({"appointment_id": "A-507"})),
        ("get_order", json!({"order_id": "O-1002"})),
        ("track_order", json!({"order_id": "1002"})),
        ("cancel_order", json!({"order_id": "O-1003"})),
        ("initiate_return", json!({"order_id": "O-1005", "reason": "not mine"})),
        ("get_return_status", json!({"id": "O-1007"})),
    ];
    let before = (
        h.store.customer_appointments(102, seed_time()).await.unwrap(),
        h.store.get_order(1003).await.unwrap().status,
        h.store.returns_for_order(1005).await.unwrap().len(),
    );
    for (tool, args) in &attempts {
        let e = h.call_as(ana, tool, args.clone()).await.unwrap_err();
        assert!(not_found(&e) || invalid(&e), "{tool}: {e}");
        for leak in ["Ben", "Chloe", "Elena", "9400111899223344556677", "1Z84"] {
            assert!(!e.to_string().contains(leak), "{tool} leaked {leak}: {e}");
        }
    }
    let after = (
        h.store.customer_appointments(102, seed_time()).await.unwrap(),
        h.store.get_order(1003).await.unwrap().status,
        h.store.returns_for_order(1005).await.unwrap().len(),
    );
    assert_eq!(before, after, "nothing changed");

    // An anonymous caller reaches nothing until they prove who they are.
    for (tool, args) in &attempts {
        let e = h.call_as(None, tool, args.clone()).await.unwrap_err();
        assert!(invalid(&e) && e.to_string().contains("find_customer"), "{tool}: {e}");
    }
    // Proving it with the name and the number on file ties the session to
    // that customer: their own records, and still nobody else's.
    let ctx = ToolContext { session_id: Some(uuid::Uuid::now_v7()), ..Default::default() };
    let e = h.call_in(&ctx, "find_customer", json!({"name": "Ben Carter", "phone": "555-0142"})).await.unwrap_err();
    assert!(not_found(&e), "{e}");
    assert!(h.call_in(&ctx, "get_order", json!({"order_id": "O-1002"})).await.is_err());
    h.call_in(&ctx, "find_customer", json!({"name": "Ben Carter", "phone": "+1 555 0187"})).await.unwrap();
    let v = h.call_in(&ctx, "get_order", json!({"order_id": "O-1002"})).await.unwrap();
    assert_eq!(v["status"], "shipped");
    let e = h.call_in(&ctx, "get_order", json!({"order_id": "O-1001"})).await.unwrap_err();
    assert!(not_found(&e), "{e}");

    // A caller on file makes no records for anybody else: not by caller ID,
    // not once proved, and an anonymous caller adds one customer at most.
    let stranger = json!({"name": "Zed Quill", "phone": "+1-555-0177"});
    let e = h.call_as(ana, "create_customer", stranger.clone()).await.unwrap_err();
    assert!(matches!(e, ToolError::Conflict(_)) && e.to_string().contains("C-101"), "{e}");
    assert!(h.call_in(&ctx, "create_customer", stranger.clone()).await.is_err());
    let anon = ToolContext { session_id: Some(uuid::Uuid::now_v7()), ..Default::default() };
    h.call_in(&anon, "create_customer", stranger).await.unwrap();
    let e =
        h.call_in(&anon, "create_customer", json!({"name": "Yan Quill", "phone": "+1-555-0178"})).await.unwrap_err();
    assert!(matches!(e, ToolError::Conflict(_)), "{e}");
}
