//! With `--demo`: the demo business's small static website
//! (`assets/demo/site/`, embedded) at `/demo-site/`, open like `/health`, so
//! the demo can onboard it by crawl. Its robots.txt is also served at the
//! root (where crawlers look for it), with the sitemap's absolute address.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

pub const DEMO_SITE_PATH: &str = "/demo-site/";

/// (file, content type, body). `{origin}` in the sitemap becomes the
/// address the request came to.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", HTML, include_str!("../../../../assets/demo/site/index.html")),
    ("services.html", HTML, include_str!("../../../../assets/demo/site/services.html")),
    ("hours.html", HTML, include_str!("../../../../assets/demo/site/hours.html")),
    ("policies.html", HTML, include_str!("../../../../assets/demo/site/policies.html")),
    ("stylists.html", HTML, include_str!("../../../../assets/demo/site/stylists.html")),
    ("gift-cards.html", HTML, include_str!("../../../../assets/demo/site/gift-cards.html")),
    ("robots.txt", TEXT, include_str!("../../../../assets/demo/site/robots.txt")),
    ("sitemap.xml", XML, include_str!("../../../../assets/demo/site/sitemap.xml")),
];

const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const XML: &str = "application/xml";

pub fn router(enabled: bool) -> Router<AppState> {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/demo-site", get(|| async { redirect() }))
        .route("/demo-site/", get(|h: HeaderMap| async move { file("index.html", &h) }))
        .route("/demo-site/{*path}", get(|Path(p): Path<String>, h: HeaderMap| async move { file(&p, &h) }))
        .route("/robots.txt", get(|h: HeaderMap| async move { file("robots.txt", &h) }))
}

fn redirect() -> Response {
    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, DEMO_SITE_PATH)]).into_response()
}

fn file(path: &str, headers: &HeaderMap) -> Response {
    let Some((name, ctype, body)) = FILES.iter().find(|(n, _, _)| *n == path) else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, TEXT)], "not found").into_response();
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c)))
        .unwrap_or("127.0.0.1");
    let origin = format!("http://{host}");
    let body = match *name {
        "sitemap.xml" => body.replace("{origin}", &origin),
        "robots.txt" => format!("{body}\nSitemap: {origin}{DEMO_SITE_PATH}sitemap.xml\n"),
        _ => body.to_string(),
    };
    ([(header::CONTENT_TYPE, *ctype)], body).into_response()
}
