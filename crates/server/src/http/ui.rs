//! The web UI's built files at `/` (single-page app: unknown paths get
//! `index.html`). Without a built UI, `/` says how to build it.

use std::path::Path;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};

use super::AppState;

pub fn router(dir: Option<&Path>) -> Router<AppState> {
    match dir.filter(|d| d.join("index.html").is_file()) {
        Some(d) => Router::new().fallback_service(ServeDir::new(d).fallback(ServeFile::new(d.join("index.html")))),
        None => Router::new().route(
            "/",
            get(|| async {
                Html(
                    "<!doctype html><title>Switchboard</title><p>The Switchboard API is running. \
                     The web UI is not built here: run <code>make ui</code>, or see <a href=\"/api/openapi.json\">the API</a>.</p>",
                )
            }),
        ),
    }
}
