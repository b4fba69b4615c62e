//! The agent's prompts: versioned text files in `prompts/`, read at start
//! (from a directory when given, else the copies built into the binary).

use std::path::Path;

/// One prompt file. The first line may carry `<!-- version: N -->`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub name: &'static str,
    pub version: u32,
    /// The text without the version comment.
    pub text: String,
}

impl Prompt {
    fn parse(name: &'static str, raw: &str) -> Prompt {
        let mut version = 0;
        let mut text = raw;
        if let Some(first) = raw.lines().next()
            && let Some(v) = first.trim().strip_prefix("<!-- version:").and_then(|r| r.strip_suffix("-->"))
        {
            version = v.trim().parse().unwrap_or(0);
            text = &raw[first.len()..];
        }
        Prompt { name, version, text: text.trim().to_string() }
    }
}

#[derive(Debug, Clone)]
pub struct Prompts {
    pub persona: Prompt,
    pub business: Prompt,
    pub tools: Prompt,
}

const FILES: [(&str, &str); 3] = [
    ("persona.md", include_str!("../../../prompts/persona.md")),
    ("business-profile.md", include_str!("../../../prompts/business-profile.md")),
    ("tool-guidance.md", include_str!("../../../prompts/tool-guidance.md")),
];

impl Prompts {
    /// The prompts built into the binary.
    pub fn embedded() -> Prompts {
        Prompts {
            persona: Prompt::parse(FILES[0].0, FILES[0].1),
            business: Prompt::parse(FILES[1].0, FILES[1].1),
            tools: Prompt::parse(FILES[2].0, FILES[2].1),
        }
    }

    /// Reads each file from `dir`, keeping the built-in copy of any that is
    /// missing. Unreadable files are an error: a half-loaded persona is worse
    /// than a clear failure at start.
    pub fn load(dir: &Path) -> std::io::Result<Prompts> {
        let read = |i: usize| -> std::io::Result<Prompt> {
            let (name, builtin) = FILES[i];
            match std::fs::read_to_string(dir.join(name)) {
                Ok(s) => Ok(Prompt::parse(name, &s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Prompt::parse(name, builtin)),
                Err(e) => Err(e),
            }
        };
        Ok(Prompts { persona: read(0)?, business: read(1)?, tools: read(2)? })
    }

    /// The system prompt: identical for every session and turn, so an engine
    /// can keep it evaluated (KV cache) across calls.
    pub fn system(&self) -> String {
        format!("{}\n\n{}\n\n{}", self.persona.text, self.business.text, self.tools.text)
    }

    pub fn versions(&self) -> Vec<(&'static str, u32)> {
        vec![
            (self.persona.name, self.persona.version),
            (self.business.name, self.business.version),
            (self.tools.name, self.tools.version),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_and_stripped() {
        let p = Prompts::embedded();
        assert!(p.versions().iter().all(|(_, v)| *v >= 1));
        assert!(!p.system().contains("<!-- version"));
        assert!(p.system().contains("Juniper & Fern"));
    }

    #[test]
    fn a_directory_overrides_and_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("persona.md"), "<!-- version: 7 -->\nBe terse.").unwrap();
        let p = Prompts::load(dir.path()).unwrap();
        assert_eq!((p.persona.version, p.persona.text.as_str()), (7, "Be terse."));
        assert_eq!(p.business, Prompts::embedded().business);
    }
}
