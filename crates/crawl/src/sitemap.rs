//! Sitemap parsing (`<urlset>` and `<sitemapindex>`), lenient: whatever `<loc>`
//! values can be read before an XML error are kept.

use quick_xml::Reader;
use quick_xml::events::Event;

/// What one sitemap document lists.
#[derive(Debug, Default, PartialEq)]
pub struct Sitemap {
    /// Page URLs (`<urlset><url><loc>`).
    pub pages: Vec<String>,
    /// Nested sitemaps (`<sitemapindex><sitemap><loc>`).
    pub sitemaps: Vec<String>,
}

/// Most `<loc>` entries read from one document; the page limit bounds the
/// crawl anyway, so more would only cost memory.
const MAX_ENTRIES: usize = 50_000;

pub fn parse(xml: &str) -> Sitemap {
    let mut reader = Reader::from_str(xml);
    let mut out = Sitemap::default();
    // The element that owns the current <loc>: "url" or "sitemap".
    let mut parent: Option<&'static str> = None;
    let mut loc: Option<String> = None;
    // An XML error ends the document: what was read so far is kept.
    while let Ok(event) = reader.read_event() {
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                "url" => parent = Some("url"),
                "sitemap" => parent = Some("sitemap"),
                "loc" if parent.is_some() => loc = Some(String::new()),
                _ => {}
            },
            Event::Text(t) => {
                if let Some(l) = loc.as_mut() {
                    l.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(l) = loc.as_mut() {
                    l.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(l) = loc.as_mut() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        l.push(c);
                    } else {
                        match r.into_inner().as_ref() {
                            "amp" => l.push('&'),
                            "lt" => l.push('<'),
                            "gt" => l.push('>'),
                            "quot" => l.push('"'),
                            "apos" => l.push('\''),
                            _ => {}
                        }
                    }
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                "loc" => {
                    if let (Some(l), Some(p)) = (loc.take(), parent) {
                        let l = l.trim().to_string();
                        if !l.is_empty() {
                            if p == "url" { out.pages.push(l) } else { out.sitemaps.push(l) }
                        }
                    }
                }
                "url" | "sitemap" => parent = None,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        if out.pages.len() + out.sitemaps.len() >= MAX_ENTRIES {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlset_and_index() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc> http://e.com/a?x=1&amp;y=2 </loc><lastmod>2024-01-01</lastmod></url>
  <url><loc><![CDATA[http://e.com/b]]></loc></url>
</urlset>"#;
        assert_eq!(parse(xml).pages, vec!["http://e.com/a?x=1&y=2", "http://e.com/b"]);
        let xml = r#"<sitemapindex><sitemap><loc>http://e.com/s1.xml</loc></sitemap></sitemapindex>"#;
        assert_eq!(parse(xml).sitemaps, vec!["http://e.com/s1.xml"]);
    }

    #[test]
    fn broken_xml_keeps_what_was_read() {
        let xml = "<urlset><url><loc>http://e.com/a</loc></url><url><loc>http://e.com/b</lo";
        assert_eq!(parse(xml).pages, vec!["http://e.com/a"]);
        assert_eq!(parse("not xml at all <<<"), Sitemap::default());
    }
}
