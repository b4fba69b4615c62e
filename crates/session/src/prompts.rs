//! The agent's prompts: versioned template files in `prompts/`, read at start
//! (from a directory when given, else the copies built into the binary) and
//! filled from the business profile. No business lives in code: the persona,
//! the profile facts and every fixed sentence come from these templates.

use std::path::Path;

use minijinja::Environment;
use serde::{Deserialize, Serialize};
use switchboard_core::profile::BusinessProfile;

/// One prompt file. The first line may carry `<!-- version: N -->` (or
/// `# version: N` in TOML).
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub name: &'static str,
    pub version: u32,
    /// The template without the version comment.
    pub text: String,
}

impl Prompt {
    fn parse(name: &'static str, raw: &str) -> Prompt {
        let mut version = 0;
        let mut text = raw;
        if let Some(first) = raw.lines().next() {
            let t = first.trim();
            let v = t
                .strip_prefix("<!-- version:")
                .and_then(|r| r.strip_suffix("-->"))
                .or_else(|| t.strip_prefix("# version:"));
            if let Some(v) = v {
                version = v.trim().parse().unwrap_or(0);
                text = &raw[first.len()..];
            }
        }
        Prompt { name, version, text: text.trim().to_string() }
    }
}

/// The sentences the agent says without a model, rendered for one business.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phrases {
    pub greeting: String,
    pub thanks: String,
    pub goodbye: String,
    pub pardon: String,
    pub escalate: String,
    pub still_checking: String,
    /// Said to a caller whose question joins a help request already pending.
    pub joined: String,
    pub no_model_action: String,
    pub fallback: String,
    pub fallback_no_help: String,
    /// Said instead of anything that asks for what the agent must not share.
    pub refuse: String,
    /// Said on a call while a slow tool or a lookup keeps the caller
    /// waiting; the call loop never says the same one twice in a row.
    #[serde(default)]
    pub fillers: Vec<String>,
    /// A supervisor's answer relayed into the session: templates filled per
    /// relay (`caller`, `question`, `answer`), kept unfilled here.
    #[serde(default)]
    pub relay_answered: String,
    #[serde(default)]
    pub relay_unanswered: String,
}

/// The prompt templates.
#[derive(Debug, Clone)]
pub struct Prompts {
    pub persona: Prompt,
    pub business: Prompt,
    pub tools: Prompt,
    pub phrases: Prompt,
    /// How to answer a question that comes with facts (the verdict first).
    pub answer: Prompt,
    /// Added for a caller heard speaking a language other than English.
    pub language: Prompt,
    /// How a voice-to-voice service (one that listens, thinks and speaks
    /// itself) uses the agent's tools.
    pub voice_agent: Prompt,
}

/// Everything the agent says or reads that depends on the business.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The system prompt: identical for every session and turn (until the
    /// profile changes), so an engine can keep it evaluated across calls.
    pub system: String,
    /// The system prompt of a question answered from facts: `system` and the
    /// verdict protocol after it (the shared part stays cached).
    pub answer_system: String,
    /// How to use the business's tools: sent only with turns that offer
    /// them (a small model told about tools talks about them otherwise).
    pub tool_guidance: String,
    pub phrases: Phrases,
    /// The profile's facts as evidence the agent may answer from, each a
    /// (title, sentence) pair: hours, address, phone, website.
    pub facts: Vec<(String, String)>,
    /// `language.md`, filled per turn with the caller's language.
    language: String,
    /// The whole instruction a voice-to-voice service gets: the system
    /// prompt, the tool guidance and `voice-agent.md`.
    pub voice_agent: String,
}

impl Rendered {
    /// The instruction to answer in the caller's language (ISO 639-1), for
    /// any language but English.
    pub fn language_instruction(&self, code: &str) -> Option<String> {
        let code = code.trim().to_ascii_lowercase();
        if code.is_empty() || code == "en" || self.language.trim().is_empty() {
            return None;
        }
        let name = language_name(&code).unwrap_or(&code);
        Environment::new()
            .render_str(&self.language, minijinja::context! { language => name })
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }
}

/// English names of the languages a caller may speak (Whisper's codes): a
/// model follows "Hindi" better than "hi".
pub fn language_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "en" => "English",
        "hi" => "Hindi",
        "bn" => "Bengali",
        "mr" => "Marathi",
        "ta" => "Tamil",
        "te" => "Telugu",
        "gu" => "Gujarati",
        "ur" => "Urdu",
        "pa" => "Punjabi",
        "es" => "Spanish",
        "fr" => "French",
        "de" => "German",
        "it" => "Italian",
        "pt" => "Portuguese",
        "nl" => "Dutch",
        "pl" => "Polish",
        "ru" => "Russian",
        "uk" => "Ukrainian",
        "tr" => "Turkish",
        "ar" => "Arabic",
        "zh" => "Chinese",
        "ja" => "Japanese",
        "ko" => "Korean",
        "vi" => "Vietnamese",
        _ => return None,
    })
}

/// A template that does not render or a phrase file that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("prompt {file}: {problem}")]
pub struct PromptError {
    pub file: &'static str,
    pub problem: String,
}

const FILES: [(&str, &str); 7] = [
    ("persona.md", include_str!("../../../prompts/persona.md")),
    ("business.md", include_str!("../../../prompts/business.md")),
    ("tool-guidance.md", include_str!("../../../prompts/tool-guidance.md")),
    ("phrases.toml", include_str!("../../../prompts/phrases.toml")),
    ("answer.md", include_str!("../../../prompts/answer.md")),
    ("language.md", include_str!("../../../prompts/language.md")),
    ("voice-agent.md", include_str!("../../../prompts/voice-agent.md")),
];

impl Prompts {
    /// The prompts built into the binary.
    pub fn embedded() -> Prompts {
        let p = |i: usize| Prompt::parse(FILES[i].0, FILES[i].1);
        Prompts {
            persona: p(0),
            business: p(1),
            tools: p(2),
            phrases: p(3),
            answer: p(4),
            language: p(5),
            voice_agent: p(6),
        }
    }

    /// Reads each file from `dir`, keeping the built-in copy of any that is
    /// missing. Unreadable or unrenderable files are an error: a half-loaded
    /// persona is worse than a clear failure at start.
    pub fn load(dir: &Path) -> std::io::Result<Prompts> {
        let read = |i: usize| -> std::io::Result<Prompt> {
            let (name, builtin) = FILES[i];
            match std::fs::read_to_string(dir.join(name)) {
                Ok(s) => Ok(Prompt::parse(name, &s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Prompt::parse(name, builtin)),
                Err(e) => Err(e),
            }
        };
        let p = Prompts {
            persona: read(0)?,
            business: read(1)?,
            tools: read(2)?,
            phrases: read(3)?,
            answer: read(4)?,
            language: read(5)?,
            voice_agent: read(6)?,
        };
        p.render(&BusinessProfile::default()).map_err(std::io::Error::other)?;
        Ok(p)
    }

    /// Fills the templates from `profile`. Missing fields render as nothing,
    /// so the agent never states what the owner did not give.
    pub fn render(&self, profile: &BusinessProfile) -> Result<Rendered, PromptError> {
        let mut env = Environment::new();
        // Block tags leave no blank lines behind.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).build() {
            env.set_syntax(syntax);
        }
        let ctx = minijinja::context! {
            name => &profile.name,
            trade => &profile.trade,
            address => &profile.address,
            phone => &profile.phone,
            website => &profile.website,
            hours => profile.hours_spoken(),
            languages => &profile.languages,
            persona_notes => &profile.persona_notes,
        };
        let fill = |p: &Prompt, text: &str| -> Result<String, PromptError> {
            env.render_str(text, &ctx).map_err(|e| PromptError { file: p.name, problem: e.to_string() })
        };
        let parts = [fill(&self.persona, &self.persona.text)?, fill(&self.business, &self.business.text)?];
        let system = parts.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("\n\n");
        let tool_guidance = fill(&self.tools, &self.tools.text)?.trim().to_string();
        let answer_system = format!("{system}\n\n{}", fill(&self.answer, &self.answer.text)?.trim());
        let voice_agent =
            format!("{system}\n\n{tool_guidance}\n\n{}", fill(&self.voice_agent, &self.voice_agent.text)?.trim());
        let mut facts = Vec::new();
        let hours = profile.hours_spoken();
        if !hours.is_empty() {
            facts.push(("Opening hours".to_string(), format!("Our opening hours: {hours}")));
        }
        if let Some(a) = &profile.address {
            facts.push(("Address".to_string(), format!("We are at {a}.")));
        }
        if let Some(p) = &profile.phone {
            facts.push(("Phone number".to_string(), format!("Our phone number is {p}.")));
        }
        if let Some(w) = &profile.website {
            facts.push(("Website".to_string(), format!("Our website is {w}.")));
        }
        let raw: Phrases = toml::from_str(&self.phrases.text)
            .map_err(|e| PromptError { file: self.phrases.name, problem: e.to_string() })?;
        let f = |s: &str| fill(&self.phrases, s).map(|t| t.trim().to_string());
        let phrases = Phrases {
            greeting: match &profile.greeting {
                Some(g) => g.clone(),
                None => f(&raw.greeting)?,
            },
            thanks: f(&raw.thanks)?,
            goodbye: f(&raw.goodbye)?,
            pardon: f(&raw.pardon)?,
            escalate: f(&raw.escalate)?,
            still_checking: f(&raw.still_checking)?,
            joined: f(&raw.joined)?,
            no_model_action: f(&raw.no_model_action)?,
            fallback: f(&raw.fallback)?,
            fallback_no_help: f(&raw.fallback_no_help)?,
            refuse: f(&raw.refuse)?,
            fillers: raw.fillers.iter().map(|x| f(x)).collect::<Result<_, _>>()?,
            relay_answered: raw.relay_answered.clone(),
            relay_unanswered: raw.relay_unanswered.clone(),
        };
        // The relay templates are filled later, per relay: a mistake in one
        // must still show now, at start.
        for t in [&phrases.relay_answered, &phrases.relay_unanswered] {
            env.template_from_str(t).map_err(|e| PromptError { file: self.phrases.name, problem: e.to_string() })?;
        }
        // Filled per turn; checked now.
        env.template_from_str(&self.language.text)
            .map_err(|e| PromptError { file: self.language.name, problem: e.to_string() })?;
        Ok(Rendered {
            system,
            answer_system,
            tool_guidance,
            phrases,
            facts,
            language: self.language.text.clone(),
            voice_agent,
        })
    }

    /// The sentence that relays a supervisor's answer (`None`: no answer
    /// came) to a caller, from `phrases.toml`.
    pub fn relay_message(&self, caller: &str, question: &str, answer: Option<&str>) -> String {
        let raw: Phrases = toml::from_str(&self.phrases.text).unwrap_or_default();
        let template = if answer.is_some() { raw.relay_answered } else { raw.relay_unanswered };
        let env = Environment::new();
        let ctx = minijinja::context! { caller => caller, question => question, answer => answer.unwrap_or("") };
        match env.render_str(&template, ctx) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
            // Checked at start, so only an empty template gets here: the
            // answer itself is still worth saying.
            _ => answer.unwrap_or(question).to_string(),
        }
    }

    pub fn versions(&self) -> Vec<(&'static str, u32)> {
        [&self.persona, &self.business, &self.tools, &self.phrases, &self.answer, &self.language]
            .iter()
            .map(|p| (p.name, p.version))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::profile::OpeningHours;

    fn vet() -> BusinessProfile {
        BusinessProfile {
            name: Some("Hollow Oak Vets".into()),
            trade: Some("veterinary clinic".into()),
            phone: Some("+1 555 0199".into()),
            hours: vec![OpeningHours {
                day: "Monday".into(),
                open: Some("08:00".into()),
                close: Some("18:00".into()),
                closed: false,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn versions_are_read_and_stripped() {
        let p = Prompts::embedded();
        assert!(p.versions().iter().all(|(_, v)| *v >= 1), "{:?}", p.versions());
        let r = p.render(&vet()).unwrap();
        assert!(!r.system.contains("<!-- version"));
        assert!(!r.system.contains("{{") && !r.system.contains("{%"));
    }

    #[test]
    fn the_profile_fills_prompt_and_phrases() {
        let r = Prompts::embedded().render(&vet()).unwrap();
        assert!(r.system.contains("Hollow Oak Vets, a veterinary clinic"), "{}", r.system);
        assert!(r.system.contains("Monday: 8 am to 6 pm."));
        assert_eq!(r.facts[0].1, "Our opening hours: Monday: 8 am to 6 pm.");
        assert!(!r.system.contains("tool"), "tool guidance goes only with tool turns");
        assert!(r.system.contains("+1 555 0199"));
        assert!(r.phrases.greeting.contains("Hollow Oak Vets"));
        assert!(r.phrases.goodbye.contains("Hollow Oak Vets"));
        let own = BusinessProfile { greeting: Some("Hollow Oak, Sam speaking.".into()), ..vet() };
        assert_eq!(Prompts::embedded().render(&own).unwrap().phrases.greeting, "Hollow Oak, Sam speaking.");
    }

    #[test]
    fn a_missing_profile_says_only_what_it_knows() {
        let r = Prompts::embedded().render(&BusinessProfile::default()).unwrap();
        assert!(!r.system.contains("Address") && !r.system.contains("Phone") && !r.system.contains("hours"));
        assert_eq!(r.phrases.greeting, "Hello, thanks for calling! How can I help you today?");
        assert!(r.phrases.escalate.contains("check"));
    }

    #[test]
    fn a_directory_overrides_and_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("persona.md"), "<!-- version: 7 -->\nBe terse for {{ name }}.").unwrap();
        let p = Prompts::load(dir.path()).unwrap();
        assert_eq!(p.persona.version, 7);
        assert_eq!(p.business, Prompts::embedded().business);
        assert!(p.render(&vet()).unwrap().system.starts_with("Be terse for Hollow Oak Vets."));
        // A template that does not render is refused at load.
        std::fs::write(dir.path().join("persona.md"), "{% if %}").unwrap();
        assert!(Prompts::load(dir.path()).is_err());
        std::fs::write(dir.path().join("persona.md"), "ok").unwrap();
        std::fs::write(dir.path().join("phrases.toml"), "greeting = 3").unwrap();
        assert!(Prompts::load(dir.path()).is_err());
    }

    #[test]
    fn a_relayed_answer_is_worded_by_the_phrases_file() {
        let p = Prompts::embedded();
        let said = p.relay_message("Ana", "Do you sell gift cards?", Some("Yes, at the front desk."));
        assert!(said.starts_with("Thanks for waiting, Ana."), "{said}");
        assert!(said.contains("\"Do you sell gift cards?\"") && said.ends_with("Yes, at the front desk."), "{said}");
        let none = p.relay_message("", "Can I bring my iguana?", None);
        assert!(none.starts_with("I'm sorry, I couldn't get an answer"), "{none}");
        // A broken template is caught when the prompts load, not mid-call.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("phrases.toml"),
            format!("{}\nrelay_answered = \"{{% if %}}\"", phrases_without_relay()),
        )
        .unwrap();
        let e = Prompts::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("phrases.toml"), "{e}");
    }

    fn phrases_without_relay() -> String {
        include_str!("../../../prompts/phrases.toml")
            .lines()
            .filter(|l| !l.starts_with("relay_"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
