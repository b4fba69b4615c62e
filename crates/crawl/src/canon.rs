//! URL canonicalisation, the site boundary, path filters and trap detection.
//!
//! Two forms of a URL are kept: the *fetch* form (as linked, minus fragment and
//! tracking/session parameters) is what we request, because a server may
//! insist on its own trailing slash; the *canonical* form (also trailing slash
//! dropped, parameters sorted) is the identity used for dedup and ids.

use std::collections::HashMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use url::Url;

use crate::config::TrapLimits;
use crate::{CrawlError, SkipReason};

/// Query keys that never select content: analytics and session ids.
fn is_tracking_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("utm_")
        || k.starts_with("aspsessionid")
        || matches!(
            k.as_str(),
            "gclid"
                | "dclid"
                | "gbraid"
                | "wbraid"
                | "fbclid"
                | "msclkid"
                | "yclid"
                | "igshid"
                | "mc_cid"
                | "mc_eid"
                | "_ga"
                | "_gl"
                | "_hsenc"
                | "_hsmi"
                | "mkt_tok"
                | "sessionid"
                | "session_id"
                | "sessid"
                | "sid"
                | "phpsessid"
                | "jsessionid"
                | "cfid"
                | "cftoken"
        )
}

fn decoded_key(pair: &str) -> String {
    let key = pair.split('=').next().unwrap_or("");
    url::form_urlencoded::parse(key.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default()
}

/// The fetch form: http(s) only, no fragment, no credentials, no tracking or
/// session parameters (query or `;jsessionid=` path parameters).
pub fn clean(url: &Url) -> Option<Url> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    let mut u = url.clone();
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if let Some(host) = u.host_str().map(str::to_owned)
        && host.ends_with('.')
        && host.len() > 1
    {
        let _ = u.set_host(Some(host.trim_end_matches('.')));
    }
    // `;jsessionid=…` style path parameters belong to the session, not the page.
    if u.path().contains(';') {
        let path: Vec<String> = u
            .path()
            .split('/')
            .map(|seg| {
                let mut parts = seg.split(';');
                let head = parts.next().unwrap_or("").to_string();
                let kept: Vec<&str> = parts.filter(|p| !is_tracking_key(&decoded_key(p))).collect();
                if kept.is_empty() { head } else { format!("{head};{}", kept.join(";")) }
            })
            .collect();
        u.set_path(&path.join("/"));
    }
    if let Some(q) = u.query() {
        let kept: Vec<&str> = q.split('&').filter(|p| !p.is_empty() && !is_tracking_key(&decoded_key(p))).collect();
        let q = kept.join("&");
        u.set_query(if q.is_empty() { None } else { Some(&q) });
    }
    Some(u)
}

/// The canonical form of an already cleaned URL: trailing slash dropped
/// (except the root), query parameters sorted. Scheme and host are lower-cased
/// and default ports dropped by the `url` crate's parser already.
pub fn canonical(clean: &Url) -> Url {
    let mut u = clean.clone();
    let path = u.path().to_string();
    if path.len() > 1 && path.ends_with('/') {
        u.set_path(path.trim_end_matches('/'));
        if u.path().is_empty() {
            u.set_path("/");
        }
    }
    if let Some(q) = u.query() {
        let mut pairs: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
        pairs.sort_unstable();
        pairs.dedup();
        let q = pairs.join("&");
        u.set_query(if q.is_empty() { None } else { Some(&q) });
    }
    u
}

/// Host without a leading `www.`: the apex and `www.` name one site.
fn site_key(host: &str) -> &str {
    host.strip_prefix("www.").unwrap_or(host)
}

/// The site being crawled: one host (modulo `www.`), either scheme when the
/// ports are the schemes' defaults. URLs on it are rewritten to the preferred
/// scheme, host and port, so `http://www.x/a` and `https://x/a` are one page.
#[derive(Debug, Clone)]
pub struct Site {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Site {
    pub fn of(url: &Url) -> Site {
        Site { scheme: url.scheme().into(), host: url.host_str().unwrap_or("").into(), port: url.port() }
    }

    pub fn contains(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else { return false };
        if site_key(host) != site_key(&self.host) {
            return false;
        }
        // Default ports read as `None` for either scheme, so http and https
        // on their default ports are one site.
        url.port() == self.port
    }

    /// The URL moved onto the preferred scheme/host/port, or `None` if off-site.
    pub fn adopt(&self, url: &Url) -> Option<Url> {
        if !self.contains(url) {
            return None;
        }
        let mut u = url.clone();
        if u.scheme() != self.scheme {
            u.set_scheme(&self.scheme).ok()?;
        }
        if u.host_str() != Some(self.host.as_str()) {
            u.set_host(Some(&self.host)).ok()?;
        }
        u.set_port(self.port).ok()?;
        Some(u)
    }

    pub fn origin(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{p}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }
}

/// Include/exclude globs over the URL path.
#[derive(Debug, Clone)]
pub struct PathFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl PathFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<PathFilter, CrawlError> {
        fn build(globs: &[String]) -> Result<GlobSet, CrawlError> {
            let mut b = GlobSetBuilder::new();
            for g in globs {
                let glob = Glob::new(g.trim())
                    .map_err(|e| CrawlError::InvalidConfig(format!("bad path pattern {g:?}: {e}")))?;
                b.add(glob);
            }
            b.build().map_err(|e| CrawlError::InvalidConfig(format!("bad path patterns: {e}")))
        }
        let include = if include.is_empty() { None } else { Some(build(include)?) };
        Ok(PathFilter { include, exclude: build(exclude)? })
    }

    pub fn allows(&self, url: &Url) -> bool {
        let path = url.path();
        if self.exclude.is_match(path) {
            return false;
        }
        self.include.as_ref().is_none_or(|inc| inc.is_match(path))
    }
}

/// File extensions that are never pages: skipped as `not_html` without a
/// request.
pub fn has_binary_extension(url: &Url) -> bool {
    let last = url.path().rsplit('/').next().unwrap_or("");
    let Some((_, ext)) = last.rsplit_once('.') else { return false };
    matches!(
        ext.to_ascii_lowercase().as_str(),
        "png"
            | "jpg"
            | "jpeg"
            | "gif"
            | "webp"
            | "avif"
            | "svg"
            | "ico"
            | "bmp"
            | "tif"
            | "tiff"
            | "pdf"
            | "zip"
            | "gz"
            | "tgz"
            | "rar"
            | "7z"
            | "mp3"
            | "mp4"
            | "m4a"
            | "wav"
            | "ogg"
            | "webm"
            | "mov"
            | "avi"
            | "woff"
            | "woff2"
            | "ttf"
            | "otf"
            | "eot"
            | "css"
            | "js"
            | "json"
            | "exe"
            | "dmg"
            | "msi"
            | "apk"
            | "doc"
            | "docx"
            | "xls"
            | "xlsx"
            | "ppt"
            | "pptx"
            | "ics"
    )
}

/// Spots infinite link spaces. Stateful: it counts URLs per date-like template.
#[derive(Debug, Default)]
pub struct TrapDetector {
    limits: TrapLimits,
    dated: HashMap<String, usize>,
}

impl TrapDetector {
    pub fn new(limits: TrapLimits) -> Self {
        TrapDetector { limits, dated: HashMap::new() }
    }

    /// `Err(InfiniteSpace)` if the canonical URL looks like a trap; otherwise
    /// records it (call once per new URL).
    pub fn check(&mut self, url: &Url) -> Result<(), SkipReason> {
        let l = &self.limits;
        let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
        let params = url.query().map_or(0, |q| q.split('&').filter(|p| !p.is_empty()).count());
        if url.as_str().len() > l.max_url_len
            || params > l.max_query_params
            || segments.len() > l.max_path_segments
            || repeats(&segments)
        {
            return Err(SkipReason::InfiniteSpace);
        }
        if is_dated(url, &segments) {
            let n = self.dated.entry(template(url)).or_insert(0);
            if *n >= l.max_dated_variants {
                return Err(SkipReason::InfiniteSpace);
            }
            *n += 1;
        }
        Ok(())
    }
}

/// Relative-link loops produce `/a/b/a/b/…` or `/x/x/x/…`.
fn repeats(segments: &[&str]) -> bool {
    let n = segments.len();
    for (i, s) in segments.iter().enumerate() {
        if segments.iter().filter(|t| *t == s).count() >= 4 {
            return true;
        }
        if i + 2 < n && segments[i + 1] == *s && segments[i + 2] == *s {
            return true;
        }
    }
    // A block of two or more segments repeated back to back.
    for len in 2..=n / 2 {
        for start in 0..=n - 2 * len {
            if segments[start..start + len] == segments[start + len..start + 2 * len] {
                return true;
            }
        }
    }
    false
}

const DATE_KEYS: &[&str] = &[
    "date", "day", "month", "year", "week", "cal", "calendar", "time", "from", "to", "start", "end", "d", "m", "y",
    "ym", "mon", "yr",
];

fn is_year(s: &str) -> bool {
    s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) && (s.starts_with("19") || s.starts_with("20"))
}

/// `2024-05`, `2024-05-17`, `20240517`.
fn looks_like_date(s: &str) -> bool {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let shaped = s.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    shaped && (digits.len() == 6 || digits.len() == 8) && is_year(&digits[..4])
}

fn is_dated(url: &Url, segments: &[&str]) -> bool {
    let query_dated = url.query_pairs().any(|(k, v)| {
        let k = k.to_ascii_lowercase();
        (DATE_KEYS.contains(&k.as_str()) && v.chars().any(|c| c.is_ascii_digit())) || looks_like_date(&v)
    });
    query_dated || segments.iter().any(|s| is_year(s) || looks_like_date(s))
}

/// The URL with digit runs replaced, so `/calendar?month=7` and
/// `/calendar?month=8` share `/calendar?month=#`.
fn template(url: &Url) -> String {
    let s = format!("{}?{}", url.path(), url.query().unwrap_or(""));
    let mut out = String::with_capacity(s.len());
    let mut in_digits = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        canonical(&clean(&Url::parse(s).unwrap()).unwrap()).to_string()
    }

    #[test]
    fn canonical_forms_agree() {
        let want = "http://example.com/about";
        for s in [
            "HTTP://Example.COM:80/about",
            "http://example.com/about/",
            "http://example.com/about#team",
            "http://example.com/about?utm_source=x&utm_medium=y",
            "http://example.com/about?gclid=1&fbclid=2",
            "http://example.com/about?PHPSESSID=abc",
            "http://example.com/about;jsessionid=ABC123",
            "http://user:pw@example.com/about",
            "http://example.com./about",
        ] {
            assert_eq!(canon(s), want, "{s}");
        }
        assert_eq!(canon("https://example.com:443/"), "https://example.com/");
        assert_eq!(canon("http://example.com"), "http://example.com/");
        assert_eq!(canon("http://example.com/p?b=2&a=1&utm_x=3"), "http://example.com/p?a=1&b=2");
        assert_eq!(canon("http://example.com/p?a=1&a=1"), "http://example.com/p?a=1");
        assert!(clean(&Url::parse("mailto:x@example.com").unwrap()).is_none());
        assert!(clean(&Url::parse("ftp://example.com/").unwrap()).is_none());
    }

    #[test]
    fn fetch_form_keeps_the_trailing_slash() {
        let u = clean(&Url::parse("http://example.com/a/?sid=1&q=2#x").unwrap()).unwrap();
        assert_eq!(u.as_str(), "http://example.com/a/?q=2");
    }

    #[test]
    fn www_and_apex_are_one_site() {
        let site = Site::of(&Url::parse("https://example.com/").unwrap());
        let u = Url::parse("http://www.example.com/x").unwrap();
        assert_eq!(site.adopt(&u).unwrap().as_str(), "https://example.com/x");
        assert!(site.adopt(&Url::parse("https://other.com/x").unwrap()).is_none());
        assert!(site.adopt(&Url::parse("https://example.com:8443/x").unwrap()).is_none());
        assert!(site.adopt(&Url::parse("https://sub.example.com/x").unwrap()).is_none());
    }

    #[test]
    fn path_filters() {
        let f = PathFilter::new(&[], &["/admin/**".into(), "*.php".into()]).unwrap();
        assert!(f.allows(&Url::parse("http://e.com/about").unwrap()));
        assert!(!f.allows(&Url::parse("http://e.com/admin/x/y").unwrap()));
        assert!(!f.allows(&Url::parse("http://e.com/a/index.php").unwrap()));
        let f = PathFilter::new(&["/blog/**".into()], &[]).unwrap();
        assert!(f.allows(&Url::parse("http://e.com/blog/post").unwrap()));
        assert!(!f.allows(&Url::parse("http://e.com/shop").unwrap()));
        assert!(PathFilter::new(&["[".into()], &[]).is_err());
    }

    #[test]
    fn traps() {
        let mut t = TrapDetector::new(TrapLimits { max_dated_variants: 3, ..TrapLimits::default() });
        let u = |s: &str| Url::parse(&format!("http://e.com{s}")).unwrap();
        assert!(t.check(&u("/a/b/c")).is_ok());
        assert!(t.check(&u("/a/b/a/b")).is_err());
        assert!(t.check(&u("/x/x/x")).is_err());
        assert!(t.check(&u("/x/x")).is_ok());
        assert!(t.check(&u(&"/s".repeat(13))).is_err());
        assert!(t.check(&u("/p?a=1&b=2&c=3&d=4&e=5&f=6&g=7")).is_err());
        assert!(t.check(&u(&format!("/{}", "a".repeat(1100)))).is_err());
        for m in 1..=3 {
            assert!(t.check(&u(&format!("/calendar?month={m}"))).is_ok());
        }
        assert!(t.check(&u("/calendar?month=4")).is_err());
        for d in ["2024-01", "2024-02", "2024-03"] {
            assert!(t.check(&u(&format!("/events/{d}"))).is_ok());
        }
        assert!(t.check(&u("/events/2024-04")).is_err());
        // Numbered pages that are not dates are not capped.
        for n in 1..50 {
            assert!(t.check(&u(&format!("/blog/post-{n}"))).is_ok());
        }
    }
}
