//! A small robots.txt parser after RFC 9309: groups by user agent, `Allow` /
//! `Disallow` with `*` and `$`, longest match wins and `Allow` wins ties.
//! Also collects `Sitemap:` lines and `Crawl-delay`.
//!
//! Written here because the maintained-looking crates either panic on odd input
//! or pull in `anyhow` and old parser stacks; this one never fails: unknown
//! lines are ignored.

use std::time::Duration;

/// How much of a robots.txt is read: the 500 KiB that RFC 9309 asks
/// crawlers to parse at least (and Google reads at most). A 2 MB file of
/// rules must not make every URL check slow.
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;
/// Rules with `*` or `$` are matched one by one: at most this many are kept.
const MAX_WILDCARD_RULES: usize = 500;
/// Longer patterns are ignored (no real path is this long).
const MAX_PATTERN: usize = 2_048;

/// The rules that apply to our user agent.
#[derive(Debug, Clone, Default)]
pub struct Robots {
    /// Plain prefixes (no `*` or `$`), looked up by the target's own
    /// prefixes: a check costs one lookup per distinct rule length, however
    /// many rules there are. `true` when an `Allow` has that pattern.
    prefixes: std::collections::HashMap<String, bool>,
    /// The distinct lengths of `prefixes`, so a check tries only those.
    prefix_lens: std::collections::BTreeSet<usize>,
    /// Rules with wildcards, matched one by one.
    rules: Vec<Rule>,
    /// `Disallow: /` for everything (robots.txt answered 5xx, per RFC 9309).
    disallow_all: bool,
    pub sitemaps: Vec<String>,
    pub crawl_delay: Option<Duration>,
}

#[derive(Debug, Clone)]
struct Rule {
    allow: bool,
    pattern: String,
}

#[derive(Default)]
struct Group {
    agents: Vec<String>,
    rules: Vec<Rule>,
    delay: Option<f64>,
}

/// The product token of a user agent: `SwitchboardBot/0.1 (+…)` → `switchboardbot`.
fn product_token(user_agent: &str) -> String {
    user_agent.split(|c: char| c == '/' || c.is_whitespace()).next().unwrap_or("").to_ascii_lowercase()
}

impl Robots {
    /// Everything allowed (no robots.txt, or a 4xx for it).
    pub fn allow_all() -> Robots {
        Robots::default()
    }

    /// Nothing allowed (robots.txt unreachable or 5xx).
    pub fn disallow_all() -> Robots {
        Robots { disallow_all: true, ..Robots::default() }
    }

    pub fn parse(body: &str, user_agent: &str) -> Robots {
        let token = product_token(user_agent);
        let mut groups: Vec<Group> = Vec::new();
        let mut sitemaps = Vec::new();
        // Consecutive user-agent lines share one group; a user-agent line
        // after rules starts the next group.
        let mut open_agents = false;
        let mut end = body.len().min(MAX_ROBOTS_BYTES);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        for line in body[..end].lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else { continue };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" => {
                    if !open_agents {
                        groups.push(Group::default());
                        open_agents = true;
                    }
                    if let Some(g) = groups.last_mut() {
                        g.agents.push(value.to_ascii_lowercase());
                    }
                }
                "allow" | "disallow" => {
                    open_agents = false;
                    if let Some(g) = groups.last_mut()
                        && !value.is_empty()
                    {
                        g.rules.push(Rule { allow: key == "allow", pattern: value.to_string() });
                    }
                }
                "crawl-delay" => {
                    open_agents = false;
                    if let Some(g) = groups.last_mut() {
                        g.delay = value.parse::<f64>().ok().filter(|d| d.is_finite() && *d >= 0.0);
                    }
                }
                "sitemap" => sitemaps.push(value.to_string()),
                _ => {}
            }
        }
        let ours: Vec<&Group> = groups.iter().filter(|g| g.agents.contains(&token)).collect();
        let chosen: Vec<&Group> =
            if ours.is_empty() { groups.iter().filter(|g| g.agents.iter().any(|a| a == "*")).collect() } else { ours };
        let mut robots = Robots::default();
        for r in chosen.iter().flat_map(|g| g.rules.iter()).filter(|r| r.pattern.len() <= MAX_PATTERN) {
            if r.pattern.contains(['*', '$']) {
                if robots.rules.len() < MAX_WILDCARD_RULES {
                    robots.rules.push(r.clone());
                }
            } else {
                // `Allow` wins a tie between equal patterns.
                *robots.prefixes.entry(r.pattern.clone()).or_insert(r.allow) |= r.allow;
                robots.prefix_lens.insert(r.pattern.len());
            }
        }
        Robots {
            prefixes: robots.prefixes,
            prefix_lens: robots.prefix_lens,
            rules: robots.rules,
            disallow_all: false,
            sitemaps,
            crawl_delay: chosen.iter().find_map(|g| g.delay).map(|d| Duration::from_secs_f64(d.min(3600.0))),
        }
    }

    /// Whether a URL's path (with query) may be fetched.
    pub fn allowed(&self, url: &url::Url) -> bool {
        let mut target = url.path().to_string();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        self.allowed_path(&target)
    }

    pub fn allowed_path(&self, target: &str) -> bool {
        if target == "/robots.txt" {
            return true;
        }
        if self.disallow_all {
            return false;
        }
        let mut best: Option<(usize, bool)> = None;
        for &len in self.prefix_lens.range(..=target.len()) {
            if let Some(prefix) = target.get(..len)
                && let Some(&allow) = self.prefixes.get(prefix)
            {
                best = match best {
                    Some((l, a)) if l > len || (l == len && a) => Some((l, a)),
                    _ => Some((len, allow)),
                };
            }
        }
        for r in &self.rules {
            if matches(&r.pattern, target) {
                let len = r.pattern.len();
                best = match best {
                    Some((l, a)) if l > len || (l == len && a) => Some((l, a)),
                    _ => Some((len, r.allow)),
                };
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// Robots pattern match: a prefix match where `*` matches any run and a
/// trailing `$` anchors the end. Greedy with backtracking to the last `*`,
/// so it stays O(n·m) on hostile patterns.
fn matches(pattern: &str, target: &str) -> bool {
    let (pat, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p.as_bytes(), true),
        None => (pattern.as_bytes(), false),
    };
    let t = target.as_bytes();
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p == pat.len() {
            if !anchored || i == t.len() {
                return true;
            }
        } else if pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
            continue;
        } else if i < t.len() && pat[p] == t[i] {
            p += 1;
            i += 1;
            continue;
        }
        // Mismatch (or anchored end not reached): let the last `*` eat one more byte.
        match star {
            Some((sp, si)) if si < t.len() => {
                star = Some((sp, si + 1));
                p = sp + 1;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TXT: &str = "\
# comment
User-agent: OtherBot
Disallow: /

User-agent: *
User-agent: SomethingElse
Disallow: /private
Allow: /private/open
Disallow: /*.cgi$
Disallow: /tmp/*/cache
Crawl-delay: 2

Sitemap: http://example.com/sitemap.xml
garbage line without colon
Unknown: value
";

    #[test]
    fn groups_and_longest_match() {
        let r = Robots::parse(TXT, "SwitchboardBot/0.1 (+x)");
        assert!(r.allowed_path("/"));
        assert!(!r.allowed_path("/private"));
        assert!(!r.allowed_path("/private/secret"));
        assert!(r.allowed_path("/private/open/page"));
        assert!(!r.allowed_path("/run.cgi"));
        assert!(r.allowed_path("/run.cgi?x=1"));
        assert!(!r.allowed_path("/tmp/a/b/cache/x"));
        assert!(r.allowed_path("/robots.txt"));
        assert_eq!(r.sitemaps, vec!["http://example.com/sitemap.xml".to_string()]);
        assert_eq!(r.crawl_delay, Some(Duration::from_secs(2)));

        let other = Robots::parse(TXT, "OtherBot");
        assert!(!other.allowed_path("/anything"));
    }

    #[test]
    fn ties_go_to_allow_and_empty_disallow_allows() {
        let r = Robots::parse("User-agent: *\nDisallow: /a\nAllow: /a\n", "bot");
        assert!(r.allowed_path("/a"));
        let r = Robots::parse("User-agent: *\nDisallow:\n", "bot");
        assert!(r.allowed_path("/x"));
        assert!(Robots::parse("", "bot").allowed_path("/x"));
        assert!(!Robots::disallow_all().allowed_path("/x"));
    }

    #[test]
    fn a_huge_robots_txt_is_read_up_to_its_limit_and_checks_stay_fast() {
        let mut body = String::from("User-agent: *\nDisallow: /early\n");
        let mut i = 0;
        while body.len() < 2 * 1024 * 1024 {
            body.push_str(&format!("Disallow: /private/{i}/\nDisallow: /*.tmp{i}$\n"));
            i += 1;
        }
        body.push_str("Disallow: /late\n");
        let r = Robots::parse(&body, "bot");
        assert!(!r.allowed_path("/early/page"));
        assert!(!r.allowed_path("/private/17/x"));
        assert!(r.allowed_path("/late"), "rules after 500 KiB are not read");
        assert_eq!(r.rules.len(), MAX_WILDCARD_RULES);
        // Ten thousand checks against thousands of rules: one lookup
        // per distinct rule length each, not a scan of every rule.
        for k in 0..10_000 {
            let _ = r.allowed_path(&format!("/l/{k}"));
        }
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let body = "User-agent: *\nDisallow: /".to_string() + &"*a".repeat(2000) + "$\n\u{0}\u{ffff}:::\n";
        let r = Robots::parse(&body, "bot");
        assert!(r.allowed_path(&"/b".repeat(3000)));
    }
}
