//! The business the agent answers for: its name, trade, greeting, where and
//! when it is open. Prompts and fixed sentences are filled from it, so no
//! business lives in code; every field may be missing (a new install, a
//! half-filled form) and the agent then says only what it knows.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validate::{ValidationError, optional};

pub const MAX_NAME: usize = 120;
pub const MAX_LINE: usize = 300;
pub const MAX_NOTES: usize = 2_000;
pub const MAX_LANGUAGES: usize = 10;
pub const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// The business profile, edited in Settings → Business.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessProfile {
    /// What callers know it as ("Spokesmith Cycles").
    pub name: Option<String>,
    /// What it does, in a few words ("bicycle shop and repair workshop").
    pub trade: Option<String>,
    /// The first sentence a caller hears; a neutral one from the prompts when empty.
    pub greeting: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    /// Regular opening hours, one row per weekday given.
    pub hours: Vec<OpeningHours>,
    /// Languages the agent may answer in (BCP 47 tags such as `en`, `hi`).
    pub languages: Vec<String>,
    /// Free text the owner wants the agent to keep in mind (tone, what to avoid).
    pub persona_notes: Option<String>,
}

/// One weekday's hours: `open`/`close` as `HH:MM` (24 h), or `closed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OpeningHours {
    pub day: String,
    pub open: Option<String>,
    pub close: Option<String>,
    pub closed: bool,
}

impl BusinessProfile {
    /// A first-run screen asks for the profile until it has a name.
    pub fn is_configured(&self) -> bool {
        self.name.is_some()
    }

    /// Trims, bounds and normalises every field; empty text becomes `None`.
    pub fn validate(self) -> Result<BusinessProfile, ValidationError> {
        let mut out = BusinessProfile {
            name: optional("name", self.name.as_deref(), MAX_NAME)?,
            trade: optional("trade", self.trade.as_deref(), MAX_LINE)?,
            greeting: optional("greeting", self.greeting.as_deref(), MAX_LINE)?,
            address: optional("address", self.address.as_deref(), MAX_LINE)?,
            phone: optional("phone", self.phone.as_deref(), 40)?,
            website: optional("website", self.website.as_deref(), crate::settings::MAX_URL)?,
            hours: Vec::new(),
            languages: Vec::new(),
            persona_notes: optional("persona_notes", self.persona_notes.as_deref(), MAX_NOTES)?,
        };
        for field in [&out.name, &out.trade, &out.greeting, &out.address, &out.phone] {
            if field.as_deref().is_some_and(|v| v.contains('\n')) {
                return Err(ValidationError::new("profile", "names, greeting, address and phone are one line each"));
            }
        }
        if let Some(w) = &out.website
            && !(w.starts_with("http://") || w.starts_with("https://"))
        {
            return Err(ValidationError::new("website", "must be an http:// or https:// URL"));
        }
        if let Some(p) = &out.phone
            && !p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(ValidationError::new("phone", "may hold only digits, spaces and + - ( ) ."));
        }
        for h in self.hours {
            let day = WEEKDAYS
                .iter()
                .find(|d| d.eq_ignore_ascii_case(h.day.trim()))
                .ok_or_else(|| ValidationError::new("hours", format!("'{}' is not a weekday", h.day.trim())))?;
            if out.hours.iter().any(|x| x.day == *day) {
                return Err(ValidationError::new("hours", format!("{day} is given twice")));
            }
            let row = if h.closed {
                OpeningHours { day: day.to_string(), open: None, close: None, closed: true }
            } else {
                let open = clock("hours", h.open.as_deref(), day)?;
                let close = clock("hours", h.close.as_deref(), day)?;
                if close <= open {
                    return Err(ValidationError::new("hours", format!("{day} closes before it opens")));
                }
                OpeningHours { day: day.to_string(), open: Some(open), close: Some(close), closed: false }
            };
            out.hours.push(row);
        }
        out.hours.sort_by_key(|h| WEEKDAYS.iter().position(|d| *d == h.day));
        for l in self.languages {
            let l = l.trim().to_ascii_lowercase();
            let ok = (2..=8).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(ValidationError::new("languages", format!("'{l}' is not a language tag such as en")));
            }
            if !out.languages.contains(&l) {
                out.languages.push(l);
            }
        }
        if out.languages.len() > MAX_LANGUAGES {
            return Err(ValidationError::new("languages", format!("at most {MAX_LANGUAGES}")));
        }
        Ok(out)
    }

    /// The hours as sentences a voice can say ("Monday: 9 am to 6 pm."),
    /// empty when none are given.
    pub fn hours_spoken(&self) -> String {
        self.hours
            .iter()
            .map(|h| match (&h.open, &h.close) {
                (Some(o), Some(c)) if !h.closed => format!("{}: {} to {}.", h.day, spoken_clock(o), spoken_clock(c)),
                _ => format!("{}: closed.", h.day),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `HH:MM` validated and zero-padded.
fn clock(field: &'static str, v: Option<&str>, day: &str) -> Result<String, ValidationError> {
    let bad = || ValidationError::new(field, format!("{day} needs open and close times as HH:MM, or closed"));
    let (h, m) = v.map(str::trim).and_then(|v| v.split_once(':')).ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(format!("{h:02}:{m:02}"))
}

/// `17:30` → `5:30 pm`, `09:00` → `9 am`, `12:00` → `noon`.
pub fn spoken_clock(hhmm: &str) -> String {
    let Some((h, m)) = hhmm.split_once(':') else { return hhmm.to_string() };
    let (Ok(h), Ok(m)) = (h.parse::<u32>(), m.parse::<u32>()) else { return hhmm.to_string() };
    match (h, m) {
        (12, 0) => "noon".into(),
        (0, 0) | (24, 0) => "midnight".into(),
        _ => {
            let (h12, half) = match h {
                0 => (12, "am"),
                1..=11 => (h, "am"),
                12 => (12, "pm"),
                _ => (h - 12, "pm"),
            };
            if m == 0 { format!("{h12} {half}") } else { format!("{h12}:{m:02} {half}") }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(day: &str, open: &str, close: &str) -> OpeningHours {
        OpeningHours { day: day.into(), open: Some(open.into()), close: Some(close.into()), closed: false }
    }

    #[test]
    fn an_empty_profile_is_valid_and_unconfigured() {
        let p = BusinessProfile::default().validate().unwrap();
        assert!(!p.is_configured());
        assert_eq!(p.hours_spoken(), "");
    }

    #[test]
    fn fields_are_trimmed_and_checked() {
        let p = BusinessProfile {
            name: Some("  Spokesmith Cycles ".into()),
            trade: Some(" ".into()),
            phone: Some("+1 (555) 010-2000".into()),
            hours: vec![hours("sunday", "10:00", "16:00"), hours("Monday", "9:00", "17:30")],
            languages: vec!["EN".into(), "en".into(), "hi".into()],
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(p.name.as_deref(), Some("Spokesmith Cycles"));
        assert_eq!(p.trade, None);
        assert_eq!(p.languages, ["en", "hi"]);
        assert_eq!(p.hours[0].day, "Monday");
        assert_eq!(p.hours[0].open.as_deref(), Some("09:00"));
        assert_eq!(p.hours_spoken(), "Monday: 9 am to 5:30 pm. Sunday: 10 am to 4 pm.");
    }

    #[test]
    fn bad_fields_name_themselves() {
        let bad = |p: BusinessProfile| p.validate().unwrap_err().field;
        assert_eq!(bad(BusinessProfile { phone: Some("call me".into()), ..Default::default() }), "phone");
        assert_eq!(bad(BusinessProfile { website: Some("ftp://x".into()), ..Default::default() }), "website");
        assert_eq!(bad(BusinessProfile { name: Some("a\nb".into()), ..Default::default() }), "profile");
        assert_eq!(
            bad(BusinessProfile { hours: vec![hours("Funday", "9:00", "10:00")], ..Default::default() }),
            "hours"
        );
        assert_eq!(
            bad(BusinessProfile { hours: vec![hours("Monday", "18:00", "9:00")], ..Default::default() }),
            "hours"
        );
        assert_eq!(
            bad(BusinessProfile { hours: vec![hours("Monday", "25:00", "26:00")], ..Default::default() }),
            "hours"
        );
        let twice = vec![hours("Monday", "9:00", "10:00"), hours("monday", "9:00", "10:00")];
        assert_eq!(bad(BusinessProfile { hours: twice, ..Default::default() }), "hours");
        assert_eq!(bad(BusinessProfile { languages: vec!["english!".into()], ..Default::default() }), "languages");
        assert_eq!(bad(BusinessProfile { name: Some("x".repeat(MAX_NAME + 1)), ..Default::default() }), "name");
    }

    #[test]
    fn clocks_are_spoken() {
        assert_eq!(spoken_clock("12:00"), "noon");
        assert_eq!(spoken_clock("00:30"), "12:30 am");
        assert_eq!(spoken_clock("20:00"), "8 pm");
    }
}
