//! Tool arguments: compact JSON schemas derived from the typed argument
//! structs, lenient intake of what small models send, then strict checks.
//!
//! Intake accepts arguments nested as a JSON string or under a lone
//! `arguments`/`args`/`parameters`/`input` key, `null` for an omitted
//! optional field, numbers where the schema says string (and digit strings
//! where it says integer), a comma-separated string for a list, and keys in
//! another case (`customerId`). Everything else must match the struct, which
//! denies unknown fields; field rules then check shapes and lengths. Every
//! problem is a [`ToolError::InvalidArguments`] whose text says what to send.

use chrono::{Datelike, NaiveDate, NaiveTime, TimeDelta};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use switchboard_core::tool::ToolError;
use switchboard_core::validate;

pub(crate) fn bad(msg: impl Into<String>) -> ToolError {
    ToolError::InvalidArguments(msg.into())
}

/// The arguments' JSON schema, trimmed to what a model needs: `type`,
/// `properties` with `description`s, `required`.
pub(crate) fn schema_for<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft07()
        .with(|s| {
            s.meta_schema = None;
            s.inline_subschemas = true;
        })
        .for_deserialize()
        .into_generator();
    let mut v = generator.into_root_schema_for::<T>().to_value();
    compact(&mut v);
    if let Some(o) = v.as_object_mut() {
        o.entry("properties").or_insert_with(|| Value::Object(Map::new()));
    }
    v
}

fn compact(v: &mut Value) {
    if let Value::Object(o) = v {
        for k in ["$schema", "title", "format", "additionalProperties", "minimum", "maximum", "default"] {
            o.remove(k);
        }
        // An optional field is simply not required: drop its "null" type.
        if let Some(Value::Array(types)) = o.get_mut("type") {
            types.retain(|t| t != "null");
            if let [only] = types.as_slice() {
                let only = only.clone();
                o.insert("type".into(), only);
            }
        }
        if let Some(Value::Array(any)) = o.get("anyOf") {
            let rest: Vec<Value> = any.iter().filter(|x| x.get("type").is_none_or(|t| t != "null")).cloned().collect();
            if let [only] = rest.as_slice() {
                let only = only.clone();
                o.remove("anyOf");
                if let Value::Object(inner) = only {
                    o.extend(inner);
                }
            }
        }
        for (_, child) in o.iter_mut() {
            compact(child);
        }
    } else if let Value::Array(a) = v {
        a.iter_mut().for_each(compact);
    }
}

fn key_fold(k: &str) -> String {
    k.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// Parses `args` into `T` after the lenient intake described above.
pub(crate) fn parse<T: DeserializeOwned>(args: Value, schema: &Value) -> Result<T, ToolError> {
    let props = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut obj = unwrap_args(args, &props, 0)?;
    // Keys: exact, else the property whose folded name matches.
    let mut fixed = Map::new();
    for (k, v) in std::mem::take(&mut obj) {
        let name = if props.contains_key(&k) {
            k
        } else {
            let f = key_fold(&k);
            props.keys().find(|p| key_fold(p) == f).cloned().unwrap_or(k)
        };
        if v.is_null() {
            continue;
        }
        let v = match props.get(&name).and_then(|p| p.get("type")).and_then(Value::as_str) {
            Some(t) => coerce(v, t, props.get(&name)),
            None => v,
        };
        fixed.insert(name, v);
    }
    serde_json::from_value(Value::Object(fixed)).map_err(|e| bad(e.to_string()))
}

fn unwrap_args(args: Value, props: &Map<String, Value>, depth: u8) -> Result<Map<String, Value>, ToolError> {
    if depth > 2 {
        return Err(bad("arguments must be a JSON object"));
    }
    match args {
        Value::Null => Ok(Map::new()),
        Value::String(s) if s.trim().is_empty() => Ok(Map::new()),
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(v @ (Value::Object(_) | Value::String(_) | Value::Null)) => unwrap_args(v, props, depth + 1),
            _ => Err(bad("arguments must be a JSON object")),
        },
        Value::Object(o) => {
            if o.len() == 1 {
                let (k, v) = o.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap_or_default();
                let wrapper = ["arguments", "args", "parameters", "input", "params"].contains(&k.as_str());
                if wrapper && !props.contains_key(&k) && (v.is_object() || v.is_string()) {
                    return unwrap_args(v, props, depth + 1);
                }
            }
            Ok(o)
        }
        _ => Err(bad("arguments must be a JSON object")),
    }
}

fn coerce(v: Value, ty: &str, prop: Option<&Value>) -> Value {
    match (ty, v) {
        ("string", Value::Number(n)) => Value::String(n.to_string()),
        ("string", Value::Bool(b)) => Value::String(b.to_string()),
        ("integer" | "number", Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(s),
        },
        ("array", Value::String(s)) => {
            let parsed = serde_json::from_str::<Value>(&s).ok().filter(Value::is_array);
            let arr = parsed.unwrap_or_else(|| {
                Value::Array(
                    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(|x| Value::String(x.into())).collect(),
                )
            });
            coerce(arr, "array", prop)
        }
        ("array", Value::Array(a)) => {
            let item_ty = prop.and_then(|p| p.get("items")).and_then(|i| i.get("type")).and_then(Value::as_str);
            match item_ty {
                Some(t) => Value::Array(a.into_iter().map(|x| coerce(x, t, None)).collect()),
                None => Value::Array(a),
            }
        }
        (_, v) => v,
    }
}

// ---- field rules ----

/// A required text of at most `max` characters.
pub(crate) fn text(field: &'static str, v: &str, max: usize) -> Result<String, ToolError> {
    validate::required(field, v, max).map_err(|e| bad(e.to_string()))
}

/// A person's name: 2 to 80 characters, some letters.
pub(crate) fn person_name(v: &str) -> Result<String, ToolError> {
    let n = text("name", v, 80)?;
    if n.chars().filter(|c| c.is_alphabetic()).count() < 2 {
        return Err(bad("name: must be a person's name"));
    }
    Ok(n)
}

/// A phone number: digits with optional `+ - ( ) .` and spaces, 7 to 15
/// digits. Returns it trimmed and its digits.
pub(crate) fn phone(v: &str) -> Result<(String, String), ToolError> {
    let p = text("phone", v, 32)?;
    if !p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
        return Err(bad(format!("phone: '{p}' is not a phone number (digits, spaces, + - ( ) only)")));
    }
    let digits: String = p.chars().filter(char::is_ascii_digit).collect();
    if !(7..=15).contains(&digits.len()) {
        return Err(bad(format!("phone: must have 7 to 15 digits (got {})", digits.len())));
    }
    Ok((p, digits))
}

/// An email address of plausible shape, lower-cased.
pub(crate) fn email(v: &str) -> Result<String, ToolError> {
    let e = text("email", v, 254)?;
    let shaped = match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !shaped {
        return Err(bad(format!("email: '{e}' is not an email address (name@domain.tld)")));
    }
    Ok(e.to_lowercase())
}

/// A date as `YYYY-MM-DD`; `today`, `tomorrow` and weekday names ("tuesday":
/// the next one, today included) are also understood.
pub(crate) fn date(v: &str, today: NaiveDate) -> Result<NaiveDate, ToolError> {
    let s = v.trim().to_ascii_lowercase();
    if let Ok(d) = NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
        if s.len() == 10 {
            return Ok(d);
        }
    }
    match s.as_str() {
        "today" => return Ok(today),
        "tomorrow" => return Ok(today + TimeDelta::days(1)),
        _ => {}
    }
    let word = s.strip_prefix("next ").or_else(|| s.strip_prefix("this ")).unwrap_or(&s);
    let full = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    if word.len() >= 3 && full.iter().any(|f| f.starts_with(word)) {
        if let Some(i) = crate::demo::weekday_index(word) {
            let ahead = (i as i64 - i64::from(today.weekday().num_days_from_monday())).rem_euclid(7);
            return Ok(today + TimeDelta::days(ahead));
        }
    }
    Err(bad(format!("date: '{}' must be YYYY-MM-DD, e.g. {}", v.trim(), today.format("%Y-%m-%d"))))
}

/// A time as `HH:MM` (24-hour); `9am`, `2:30 pm` and `14.30` are also understood.
pub(crate) fn time(v: &str) -> Result<NaiveTime, ToolError> {
    let raw = v.trim().to_ascii_lowercase().replace(' ', "");
    let (body, pm) = if let Some(b) = raw.strip_suffix("pm") {
        (b, Some(true))
    } else if let Some(b) = raw.strip_suffix("am") {
        (b, Some(false))
    } else {
        (raw.as_str(), None)
    };
    let body = body.replace('.', ":");
    let (h, m) = match body.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h.parse::<u32>().ok(), m.parse::<u32>().ok()),
        None if pm.is_some() && (1..=2).contains(&body.len()) => (body.parse::<u32>().ok(), Some(0)),
        _ => (None, None),
    };
    let hour = match (h, pm) {
        (Some(h), Some(pm)) if (1..=12).contains(&h) => Some(h % 12 + if pm { 12 } else { 0 }),
        (Some(h), None) if h < 24 && !body.is_empty() && body.len() <= 5 => Some(h),
        _ => None,
    };
    hour.zip(m)
        .and_then(|(h, m)| NaiveTime::from_hms_opt(h, m, 0))
        .ok_or_else(|| bad(format!("time: '{}' must be HH:MM (24-hour), e.g. 14:30", v.trim())))
}

/// Which record an id names, with the prefix it is shown with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Customer,
    Appointment,
    Order,
    Return,
}

impl Kind {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Kind::Customer => "C-",
            Kind::Appointment => "A-",
            Kind::Order => "O-",
            Kind::Return => "R-",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Kind::Customer => "customer id",
            Kind::Appointment => "appointment id",
            Kind::Order => "order number",
            Kind::Return => "return id",
        }
    }
    fn of_prefix(p: &str) -> Option<Kind> {
        match p {
            "c" | "cust" | "customer" => Some(Kind::Customer),
            "a" | "appt" | "appointment" => Some(Kind::Appointment),
            "o" | "order" => Some(Kind::Order),
            "r" | "ret" | "return" | "rma" => Some(Kind::Return),
            _ => None,
        }
    }
}

pub(crate) fn show(kind: Kind, id: i64) -> String {
    format!("{}{id}", kind.prefix())
}

/// Parses `C-101`, `c101`, `#101`, `101` (and `order 1001`) as an id of
/// `want`. Returns the id and the kind its prefix names (`want` when bare).
pub(crate) fn record_id(field: &'static str, v: &str, want: Kind) -> Result<(i64, Kind), ToolError> {
    let s = v.trim().to_ascii_lowercase();
    let digits_at = s.find(|c: char| c.is_ascii_digit());
    let example = show(
        want,
        match want {
            Kind::Customer => 101,
            Kind::Appointment => 501,
            Kind::Order => 1001,
            Kind::Return => 7001,
        },
    );
    let fail = || bad(format!("{field}: '{}' is not a {}; send it like {example}", v.trim(), want.noun()));
    let Some(at) = digits_at else { return Err(fail()) };
    let (prefix, num) = s.split_at(at);
    if !num.chars().all(|c| c.is_ascii_digit()) || num.len() > 12 {
        return Err(fail());
    }
    let prefix: String = prefix.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    let kind = if prefix.is_empty() { want } else { Kind::of_prefix(&prefix).ok_or_else(fail)? };
    let id = num.parse::<i64>().map_err(|_| fail())?;
    Ok((id, kind))
}

/// [`record_id`] that must name `want`.
pub(crate) fn id_of(field: &'static str, v: &str, want: Kind) -> Result<i64, ToolError> {
    let (id, kind) = record_id(field, v, want)?;
    if kind != want {
        return Err(bad(format!("{field}: {} is a {}, not a {}", v.trim(), kind.noun(), want.noun())));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = |s| time(s).map(|t| t.format("%H:%M").to_string());
        assert_eq!(t("09:30").unwrap(), "09:30");
        assert_eq!(t("9:30").unwrap(), "09:30");
        assert_eq!(t("2:30 pm").unwrap(), "14:30");
        assert_eq!(t("9am").unwrap(), "09:00");
        assert_eq!(t("12pm").unwrap(), "12:00");
        assert_eq!(t("12am").unwrap(), "00:00");
        assert_eq!(t("14.30").unwrap(), "14:30");
        for b in ["25:00", "9", "noon", "10:5", "13pm", ""] {
            assert!(matches!(time(b), Err(ToolError::InvalidArguments(_))), "{b}");
        }
    }

    #[test]
    fn dates() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(); // a Tuesday
        assert_eq!(date("2026-12-01", today).unwrap(), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(date("tomorrow", today).unwrap(), NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
        assert_eq!(date("Tuesday", today).unwrap(), today);
        assert_eq!(date("fri", today).unwrap(), NaiveDate::from_ymd_opt(2026, 11, 27).unwrap());
        assert_eq!(date("next monday", today).unwrap(), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        for b in ["2026-13-01", "24/11/2026", "soon", "2026-1-5", "mo"] {
            assert!(date(b, today).is_err(), "{b}");
        }
    }

    #[test]
    fn phones_and_emails() {
        assert_eq!(phone("+1 (555) 014-2").unwrap().1, "15550142");
        assert!(phone("555-CALL-NOW").is_err());
        assert!(phone("12345").is_err());
        assert_eq!(email(" Ana@Example.com ").unwrap(), "ana@example.com");
        for b in ["ana", "ana@", "@x.com", "ana@x", "a b@x.com", "a@@x.com", "a@x.com."] {
            assert!(email(b).is_err(), "{b}");
        }
    }

    #[test]
    fn ids() {
        assert_eq!(id_of("order_id", "O-1001", Kind::Order).unwrap(), 1001);
        assert_eq!(id_of("order_id", "#1001", Kind::Order).unwrap(), 1001);
        assert_eq!(id_of("order_id", "order 1001", Kind::Order).unwrap(), 1001);
        assert_eq!(id_of("customer_id", "c101", Kind::Customer).unwrap(), 101);
        let e = id_of("order_id", "C-101", Kind::Order).unwrap_err();
        assert!(e.to_string().contains("customer id"), "{e}");
        assert!(id_of("order_id", "abc", Kind::Order).is_err());
        assert!(id_of("order_id", "10-01", Kind::Order).is_err());
    }
}
