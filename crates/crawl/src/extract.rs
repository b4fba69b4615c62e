//! The `Extractor` stage: a page body to its title, links and main-content
//! blocks. HTML goes through html5ever (via `scraper`), which repairs any
//! markup the way browsers do, so malformed pages never fail.

use ego_tree::iter::Edge;
use scraper::{ElementRef, Html, Node};
use url::Url;

use crate::fetch::ContentKind;

/// A block of main content, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Heading {
        level: u8,
        text: String,
    },
    Paragraph(String),
    ListItem(String),
    /// Preformatted text; line breaks kept.
    Code(String),
}

impl Block {
    pub fn text(&self) -> &str {
        match self {
            Block::Heading { text, .. } | Block::Paragraph(text) | Block::ListItem(text) | Block::Code(text) => text,
        }
    }
}

/// What a page says, ready for chunking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extracted {
    pub title: String,
    /// `<link rel=canonical>`, resolved (not yet checked to be on the site).
    pub canonical: Option<Url>,
    /// Every `<a href>` / `<area href>`, resolved against the page (or `<base>`).
    pub links: Vec<Url>,
    pub blocks: Vec<Block>,
    /// `<meta name=robots content=noindex>`.
    pub noindex: bool,
    /// `<meta name=robots content=nofollow>`: links are not followed.
    pub nofollow: bool,
}

impl Extracted {
    /// The main content as Markdown; also what the content hash is taken of.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            match b {
                Block::Heading { level, text } => {
                    out.push_str(&"#".repeat(usize::from(*level)));
                    out.push(' ');
                    out.push_str(text);
                }
                Block::Paragraph(t) => out.push_str(t),
                Block::ListItem(t) => {
                    out.push_str("- ");
                    out.push_str(t);
                }
                Block::Code(t) => {
                    out.push_str("```\n");
                    out.push_str(t);
                    out.push_str("\n```");
                }
            }
            out.push_str("\n\n");
        }
        out.truncate(out.trim_end().len());
        out
    }

    pub fn word_count(&self) -> usize {
        self.blocks.iter().map(|b| b.text().split_whitespace().count()).sum()
    }
}

pub trait Extractor: Send + Sync {
    /// Never fails: a page with nothing usable yields no blocks.
    fn extract(&self, url: &Url, kind: ContentKind, body: &str) -> Extracted;
}

/// Main-content extraction: the first `<main>` (or `[role=main]`, or a sole
/// `<article>`, else `<body>`), minus navigation, headers, footers, asides,
/// scripts, styles, forms and hidden or boilerplate-classed elements.
#[derive(Debug, Clone, Default)]
pub struct HtmlExtractor;

impl Extractor for HtmlExtractor {
    fn extract(&self, url: &Url, kind: ContentKind, body: &str) -> Extracted {
        match kind {
            ContentKind::Html => extract_html(url, body),
            _ => extract_text(url, body),
        }
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A readable fallback title: the last path segment, or the host.
fn title_from_url(url: &Url) -> String {
    let seg = url.path_segments().and_then(|mut s| s.rfind(|x| !x.is_empty()).map(str::to_owned));
    match seg {
        Some(s) => collapse(&s.replace(['-', '_'], " ")),
        None => url.host_str().unwrap_or("").to_string(),
    }
}

fn extract_text(url: &Url, body: &str) -> Extracted {
    let blocks: Vec<Block> = body.split("\n\n").map(collapse).filter(|p| !p.is_empty()).map(Block::Paragraph).collect();
    let first = blocks.first().map(|b| b.text().to_string()).unwrap_or_default();
    let title = if !first.is_empty() && first.len() <= 100 { first } else { title_from_url(url) };
    Extracted { title, blocks, ..Default::default() }
}

/// Elements whose content is never main content.
fn is_dropped_tag(name: &str) -> bool {
    matches!(
        name,
        "nav"
            | "aside"
            | "script"
            | "style"
            | "noscript"
            | "template"
            | "form"
            | "button"
            | "select"
            | "textarea"
            | "input"
            | "label"
            | "svg"
            | "canvas"
            | "iframe"
            | "object"
            | "embed"
            | "dialog"
            | "head"
            | "title"
            | "meta"
            | "link"
    )
}

/// Class or id words that mark boilerplate on sites without semantic tags.
fn is_boilerplate_word(w: &str) -> bool {
    let w = w.to_ascii_lowercase();
    matches!(
        w.as_str(),
        "nav" | "navbar" | "navigation" | "menu" | "sidebar" | "breadcrumb" | "breadcrumbs" | "skip-link" | "share"
    ) || w.contains("cookie")
        || w.starts_with("site-header")
        || w.starts_with("site-footer")
}

fn is_dropped(el: &ElementRef<'_>) -> bool {
    let e = el.value();
    let name = e.name();
    if is_dropped_tag(name) {
        return true;
    }
    if e.attr("hidden").is_some() || e.attr("aria-hidden").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return true;
    }
    if let Some(role) = e.attr("role")
        && matches!(
            role.to_ascii_lowercase().as_str(),
            "navigation" | "banner" | "contentinfo" | "complementary" | "search"
        )
    {
        return true;
    }
    // A page's banner and footer, but not an article's own header or footer.
    if matches!(name, "header" | "footer")
        && !el
            .ancestors()
            .filter_map(|a| a.value().as_element())
            .any(|a| matches!(a.name(), "article" | "main" | "section"))
    {
        return true;
    }
    e.id().is_some_and(is_boilerplate_word) || e.classes().any(is_boilerplate_word)
}

fn is_block_tag(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "section"
            | "article"
            | "main"
            | "header"
            | "footer"
            | "li"
            | "ul"
            | "ol"
            | "dl"
            | "dt"
            | "dd"
            | "table"
            | "thead"
            | "tbody"
            | "tr"
            | "blockquote"
            | "pre"
            | "figure"
            | "figcaption"
            | "address"
            | "details"
            | "summary"
            | "hr"
            | "br"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "body"
            | "html"
    )
}

/// Accumulates inline text and turns it into blocks at block boundaries.
#[derive(Default)]
struct Builder {
    blocks: Vec<Block>,
    buf: String,
    /// What the text being gathered will become.
    pending: Option<PendingKind>,
}

#[derive(Clone, Copy)]
enum PendingKind {
    Heading(u8),
    Item,
    Code,
}

impl Builder {
    fn flush(&mut self) {
        let kind = self.pending.take();
        let raw = std::mem::take(&mut self.buf);
        if let Some(PendingKind::Code) = kind {
            let t = raw.trim_matches('\n').trim_end().to_string();
            if !t.trim().is_empty() {
                self.blocks.push(Block::Code(t));
            }
            return;
        }
        let text = collapse(&raw);
        if text.is_empty() {
            return;
        }
        self.blocks.push(match kind {
            Some(PendingKind::Heading(level)) => Block::Heading { level, text },
            Some(PendingKind::Item) => Block::ListItem(text),
            _ => Block::Paragraph(text),
        });
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn extract_html(url: &Url, body: &str) -> Extracted {
    let doc = Html::parse_document(body);
    let mut out = Extracted::default();
    let mut base = url.clone();

    // Head-ish facts: base, canonical, title, meta robots. One pass over all
    // elements; `descendants` is iterative, so deep nesting cannot overflow
    // the stack.
    let mut title = None;
    let mut first_h1 = None;
    let mut mains = Vec::new();
    let mut articles = Vec::new();
    for node in doc.root_element().descendants() {
        let Some(el) = ElementRef::wrap(node) else { continue };
        let e = el.value();
        match e.name() {
            "base" => {
                if let Some(b) = e.attr("href").and_then(|h| url.join(h.trim()).ok()) {
                    base = b;
                }
            }
            "link" => {
                let rel = e.attr("rel").unwrap_or("");
                if out.canonical.is_none()
                    && rel.split_whitespace().any(|r| r.eq_ignore_ascii_case("canonical"))
                    && let Some(href) = e.attr("href")
                {
                    out.canonical = url.join(href.trim()).ok();
                }
            }
            "title" if title.is_none() => title = Some(collapse(&el.text().collect::<String>())),
            "h1" if first_h1.is_none() => first_h1 = Some(collapse(&el.text().collect::<String>())),
            "meta" => {
                let name = e.attr("name").unwrap_or("").to_ascii_lowercase();
                if name == "robots" || name == "switchboardbot" {
                    let content = e.attr("content").unwrap_or("").to_ascii_lowercase();
                    for d in content.split(',').map(str::trim) {
                        match d {
                            "noindex" => out.noindex = true,
                            "nofollow" => out.nofollow = true,
                            "none" => {
                                out.noindex = true;
                                out.nofollow = true;
                            }
                            _ => {}
                        }
                    }
                }
            }
            "main" => mains.push(el),
            "article" => articles.push(el),
            _ => {}
        }
        if e.attr("role").is_some_and(|r| r.eq_ignore_ascii_case("main")) && e.name() != "main" {
            mains.push(el);
        }
    }
    for node in doc.root_element().descendants() {
        let Some(el) = ElementRef::wrap(node) else { continue };
        if matches!(el.value().name(), "a" | "area")
            && let Some(href) = el.value().attr("href")
        {
            let href = href.trim();
            if href.is_empty() || href.starts_with('#') {
                continue;
            }
            if let Ok(u) = base.join(href)
                && matches!(u.scheme(), "http" | "https")
            {
                out.links.push(u);
            }
        }
    }

    let root = mains
        .first()
        .copied()
        .or_else(|| if articles.len() == 1 { articles.first().copied() } else { None })
        .or_else(|| doc.root_element().children().filter_map(ElementRef::wrap).find(|e| e.value().name() == "body"))
        .unwrap_or_else(|| doc.root_element());
    out.blocks = blocks_of(root);
    out.title =
        title.filter(|t| !t.is_empty()).or(first_h1.filter(|t| !t.is_empty())).unwrap_or_else(|| title_from_url(url));
    out.title.truncate(out.title.char_indices().nth(300).map_or(out.title.len(), |(i, _)| i));
    out
}

/// Walks `root` iteratively (open/close edges), skipping dropped subtrees.
fn blocks_of(root: ElementRef<'_>) -> Vec<Block> {
    let mut b = Builder::default();
    // Depth inside a dropped subtree (0: not dropping) and inside <pre>.
    let mut dropping = 0usize;
    let mut in_pre = 0usize;
    let mut cell_index: Vec<usize> = Vec::new();
    // `traverse` yields open/close edges without recursion, so deeply nested
    // (or hostile) markup cannot overflow the stack.
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => {
                if dropping > 0 {
                    if node.value().is_element() {
                        dropping += 1;
                    }
                    continue;
                }
                match node.value() {
                    Node::Text(t) => b.buf.push_str(t),
                    Node::Element(e) => {
                        let el = ElementRef::wrap(node).expect("element node");
                        if is_dropped(&el) {
                            dropping = 1;
                            continue;
                        }
                        let name = e.name();
                        if let Some(level) = heading_level(name) {
                            b.flush();
                            b.pending = Some(PendingKind::Heading(level));
                        } else if name == "li" || name == "dt" {
                            b.flush();
                            b.pending = Some(PendingKind::Item);
                        } else if name == "pre" {
                            b.flush();
                            b.pending = Some(PendingKind::Code);
                            in_pre += 1;
                        } else if name == "tr" {
                            b.flush();
                            cell_index.push(0);
                        } else if matches!(name, "td" | "th") {
                            // Cells of a row form one line: "a | b | c".
                            if let Some(i) = cell_index.last_mut() {
                                if *i > 0 {
                                    b.buf.push_str(" | ");
                                }
                                *i += 1;
                            }
                        } else if name == "img" {
                            if let Some(alt) = e.attr("alt").map(str::trim).filter(|a| !a.is_empty()) {
                                b.buf.push(' ');
                                b.buf.push_str(alt);
                                b.buf.push(' ');
                            }
                        } else if is_block_tag(name) && in_pre == 0 {
                            b.flush();
                        }
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if dropping > 0 {
                    if node.value().is_element() {
                        dropping -= 1;
                    }
                    continue;
                }
                if let Node::Element(e) = node.value() {
                    let name = e.name();
                    if name == "pre" {
                        in_pre = in_pre.saturating_sub(1);
                        b.flush();
                    } else if name == "tr" {
                        cell_index.pop();
                        b.flush();
                    } else if matches!(name, "td" | "th") {
                        // Keep the row together.
                    } else if (is_block_tag(name) || heading_level(name).is_some()) && in_pre == 0 {
                        b.flush();
                    }
                }
            }
        }
    }
    b.flush();
    b.blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(html: &str) -> Extracted {
        HtmlExtractor.extract(&Url::parse("http://e.com/dir/page").unwrap(), ContentKind::Html, html)
    }

    #[test]
    fn main_content_only() {
        let e = ex(r##"<html><head><title> Cafe  Menu </title><script>var x = "SCRIPT";</script>
            <style>.a{}</style><link rel="canonical" href="/menu"></head><body>
            <header><a href="/">Home</a> BANNER</header><nav><a href="/a">A</a> NAV</nav>
            <div class="cookie-consent">COOKIES</div>
            <main><article><header><h1>Our menu</h1></header>
              <p>Fresh   coffee
              daily.</p><ul><li>Espresso</li><li>Latte <b>with</b> milk</li></ul>
              <h2>Prices</h2><table><tr><th>Item</th><th>Price</th></tr><tr><td>Latte</td><td>3</td></tr></table>
              <pre>line 1
  line 2</pre><form><input value="FORM"><button>SEND</button></form>
              <p hidden>HIDDEN</p><img src="x.png" alt="A latte">
            </article></main>
            <aside>ASIDE</aside><footer>FOOTER <a href="https://other.com/x#y">x</a></footer>
            <a href="mailto:a@b.c">mail</a><a href="#top">top</a><a href="../up?q=1">up</a></body></html>"##);
        assert_eq!(e.title, "Cafe Menu");
        assert_eq!(e.canonical.as_ref().map(Url::as_str), Some("http://e.com/menu"));
        let md = e.markdown();
        for gone in ["SCRIPT", "BANNER", "NAV", "COOKIES", "FORM", "SEND", "HIDDEN", "ASIDE", "FOOTER", ".a{}"] {
            assert!(!md.contains(gone), "{gone} in {md}");
        }
        assert_eq!(
            e.blocks,
            vec![
                Block::Heading { level: 1, text: "Our menu".into() },
                Block::Paragraph("Fresh coffee daily.".into()),
                Block::ListItem("Espresso".into()),
                Block::ListItem("Latte with milk".into()),
                Block::Heading { level: 2, text: "Prices".into() },
                Block::Paragraph("Item | Price".into()),
                Block::Paragraph("Latte | 3".into()),
                Block::Code("line 1\n  line 2".into()),
                Block::Paragraph("A latte".into()),
            ]
        );
        let links: Vec<&str> = e.links.iter().map(Url::as_str).collect();
        assert_eq!(links, vec!["http://e.com/", "http://e.com/a", "https://other.com/x#y", "http://e.com/up?q=1"]);
        assert!(md.starts_with("# Our menu\n\nFresh coffee daily.\n\n- Espresso"));
    }

    #[test]
    fn robots_meta_base_and_fallbacks() {
        let e = ex(r#"<head><meta name="ROBOTS" content="noindex, nofollow"><base href="http://e.com/b/"></head>
            <body><div><h1>Heading title</h1><p>Text</p></div><a href="x">x</a></body>"#);
        assert!(e.noindex && e.nofollow);
        assert_eq!(e.title, "Heading title");
        assert_eq!(e.links[0].as_str(), "http://e.com/b/x");
        assert_eq!(ex("<p>no title</p>").title, "page");
    }

    #[test]
    fn malformed_and_deeply_nested_html_is_fine() {
        let e = ex("<p>one <b>two <i>three</p><td>cell</div></span><<>> &amp; &bogus; <p>four");
        assert!(e.markdown().contains("one two three"), "{}", e.markdown());
        assert!(e.markdown().contains("four"));
        let deep = "<div>".repeat(20_000) + "deep text" + &"</div>".repeat(20_000);
        assert!(ex(&deep).markdown().contains("deep text"));
        assert!(ex("").blocks.is_empty());
        assert!(ex("\u{0}\u{feff}<<<").title.len() < 100);
    }

    #[test]
    fn plain_text_pages() {
        let e = HtmlExtractor.extract(
            &Url::parse("http://e.com/notes.txt").unwrap(),
            ContentKind::Text,
            "Notes\n\nLine a\nline b\n\n\n",
        );
        assert_eq!(e.title, "Notes");
        assert_eq!(e.blocks, vec![Block::Paragraph("Notes".into()), Block::Paragraph("Line a line b".into())]);
    }
}
