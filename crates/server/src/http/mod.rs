//! The HTTP shell: one router per domain noun, merged here with auth, CORS,
//! the body limit and the UI's static files.

mod crawl;
mod demo_site;
mod error;
mod escalation;
mod events;
mod extract;
mod health;
mod knowledge;
mod livekit;
mod metrics;
pub mod models;
pub mod openapi;
mod session;
mod settings;
mod ui;
mod voice;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use subtle::ConstantTimeEq;
use switchboard_core::ErrorCode;
use switchboard_core::events::EventBus;
use switchboard_escalation::Escalation;
use switchboard_knowledge::KnowledgeBase;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use demo_site::DEMO_SITE_PATH;
pub use error::ApiError;

/// What handlers reach: the services, never storage directly.
#[derive(Clone)]
pub struct AppState {
    pub escalation: Escalation,
    pub knowledge: KnowledgeBase,
    pub sessions: switchboard_session::Sessions,
    pub crawl: switchboard_crawl::Jobs,
    pub settings: crate::settings::SettingsService,
    pub events: EventBus,
    pub token: Arc<str>,
    pub cancel: CancellationToken,
    pub ui_dir: Option<PathBuf>,
    pub body_limit: usize,
    /// Serve the demo website at `/demo-site/` (`--demo`).
    pub demo_site: bool,
    /// The offline speech engines, and the calls' settings.
    pub speech: switchboard_call::CallEngines,
    /// The cloud engines chosen per role, if any: a call runs on them with
    /// the offline ones behind.
    pub speech_choice: crate::settings::SpeechChoice,
    pub call: switchboard_call::CallConfig,
    /// Calls in progress: each is a task the app awaits at shutdown.
    pub calls: tokio_util::task::TaskTracker,
    /// Per-stage latency of spoken turns, for `/metrics`.
    pub voice_latency: Arc<metrics::VoiceLatency>,
    /// The test call through this computer's microphone, when one runs.
    pub local_call: Arc<tokio::sync::Mutex<Option<crate::local_call::LocalCall>>>,
    /// The models folder and the install running in it, if any.
    pub models: models::Installer,
    /// Tokens and rooms on the configured LiveKit server, if any.
    pub livekit: switchboard_livekit::LiveKit,
    /// The agent in LiveKit rooms, and the rooms' transcripts.
    pub rooms: switchboard_livekit::agent::RoomAgents,
}

impl AppState {
    /// What a call needs and does not have (speech-to-text, text-to-speech),
    /// in the engines' own words; `None` when a call can run.
    pub fn speech_missing(&self) -> Option<String> {
        let engines = self.call_engines(None, &Default::default());
        let missing: Vec<String> = [engines.stt.info(), engines.tts.info()]
            .into_iter()
            .filter(|e| !e.ready)
            .map(|e| e.missing.unwrap_or_else(|| format!("{} is not ready", e.engine)))
            .collect();
        (!missing.is_empty()).then(|| missing.join("; "))
    }

    /// The engines a call runs on: the chosen cloud engines (counting into
    /// `usage`) with the offline ones behind them. If the call moves to the
    /// offline engines, a note says so once in the session's transcript.
    pub fn call_engines(
        &self,
        session_id: Option<uuid::Uuid>,
        usage: &switchboard_core::speech::Usage,
    ) -> switchboard_call::CallEngines {
        let (sessions, tasks) = (self.sessions.clone(), self.calls.clone());
        let on_switch: switchboard_cloud_voice::fallback::OnSwitch = Arc::new(move |why: String| {
            tracing::warn!(session = ?session_id, reason = %why, "a call moved to the offline speech engines");
            let Some(id) = session_id else { return };
            let sessions = sessions.clone();
            tasks.spawn(async move {
                let text = format!("Moved to the offline speech engines: {why}.");
                if let Err(e) = sessions.note(id, "speech_engine", &text).await {
                    tracing::warn!(error = %e, "the engine switch was not noted in the transcript");
                }
            });
        });
        self.speech_choice.selection.get().for_call(&self.speech, usage, on_switch)
    }

    /// The voice-to-voice service chosen, if any, counting into `usage`. One
    /// that cannot be built (its key was removed) is logged, and the call
    /// runs on the pipeline.
    pub fn voice_agent(
        &self,
        usage: &switchboard_core::speech::Usage,
    ) -> Option<Arc<dyn switchboard_cloud_voice::agent::VoiceAgent>> {
        match self.speech_choice.selection.get().voice_agent(usage) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "the chosen voice service cannot run; the call runs on the speech pipeline");
                None
            }
        }
    }

    /// What a call on `session_id` runs with, playing at `out_rate`; a child
    /// of the app's cancellation, so it stops with the app.
    pub fn call_context(
        &self,
        session_id: uuid::Uuid,
        out_rate: u32,
        config: switchboard_call::CallConfig,
    ) -> switchboard_call::CallContext {
        let usage = switchboard_core::speech::Usage::default();
        switchboard_call::CallContext {
            sessions: self.sessions.clone(),
            engines: self.call_engines(Some(session_id), &usage),
            config,
            session_id,
            out_rate,
            cancel: self.cancel.child_token(),
            voice_agent: self.voice_agent(&usage),
            usage,
        }
    }
}

/// The whole HTTP surface for a server listening on `addr`.
pub fn router(state: AppState, addr: SocketAddr) -> Router {
    let api = Router::new()
        .merge(escalation::router())
        .merge(knowledge::router())
        .merge(events::router())
        .merge(session::router())
        .merge(crawl::router())
        .merge(settings::router())
        .merge(voice::router())
        .merge(models::router())
        .merge(livekit::router())
        .merge(openapi::router())
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such API route") })
        // `layer`, not `route_layer`: the fallback needs the token too, so an
        // unknown path answers 401 like a known one (no route oracle).
        .layer(middleware::from_fn_with_state(state.clone(), require_token));

    let livekit = state.livekit.clone();
    Router::new()
        .nest("/api", api)
        .merge(health::router())
        .merge(metrics::router(state.clone()))
        .merge(demo_site::router(state.demo_site))
        .merge(ui::router(state.ui_dir.as_deref()))
        .layer(DefaultBodyLimit::max(state.body_limit))
        .layer(cors(addr))
        .layer(middleware::map_response(move |res| {
            // Per response: the LiveKit server can change in the settings.
            let csp = content_security_policy(addr, livekit.config().url.as_deref());
            hardened(res, csp)
        }))
        .with_state(state)
}

/// The policy for this server's pages: scripts, styles and connections only
/// from this server (its WebSocket origins named too: older WebKit, the
/// desktop webview's engine, does not count `ws:` as `'self'`); never inside
/// a frame (clickjacking). Inline styles are allowed for Svelte's `style:`
/// attributes; inline scripts are not. The configured LiveKit server is the
/// one other origin pages may connect to (the join page's signalling
/// socket, and the HTTP check its client makes when that fails).
pub(crate) fn content_security_policy(addr: SocketAddr, livekit: Option<&str>) -> HeaderValue {
    let port = addr.port();
    let mut ws = format!("ws://{addr} ws://127.0.0.1:{port} ws://localhost:{port}");
    if let Some(origins) = livekit.and_then(livekit_origins) {
        ws.push(' ');
        ws.push_str(&origins);
    }
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self' {ws}; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("frame-ancestors 'none'"))
}

/// `ws://host:port http://host:port` (or the secure pair) for a LiveKit URL.
fn livekit_origins(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let host = u.host_str()?;
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let secure = matches!(u.scheme(), "wss" | "https");
    let (ws, http) = if secure { ("wss", "https") } else { ("ws", "http") };
    // Only a plain host name or address: nothing that could break out of the
    // header's grammar.
    let safe = host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    safe.then(|| format!("{ws}://{host}{port} {http}://{host}{port}"))
}

/// What every response says to the browser: the content policy, no framing,
/// no content-type sniffing, no referrer (the UI's token lives in the
/// fragment, which browsers never send, but nothing else leaks either).
async fn hardened(mut res: Response, csp: HeaderValue) -> Response {
    let h = res.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(csp);
    for (name, value) in [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    res
}

/// Only the app's own origins: the server itself (the desktop window loads
/// the UI from it too, so no `tauri://` origin is needed).
fn cors(addr: SocketAddr) -> CorsLayer {
    let port = addr.port();
    let origins: Vec<HeaderValue> =
        [format!("http://{addr}"), format!("http://127.0.0.1:{port}"), format!("http://localhost:{port}")]
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}

/// `Authorization: Bearer <token>` on every `/api` route. Browsers cannot set
/// headers on a WebSocket handshake, so `?token=` is accepted there only.
async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme name is case-insensitive (RFC 9110).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    // The exact routes, not a path suffix: `/api/help-requests/events` must not qualify.
    let is_event_stream = req.extensions().get::<MatchedPath>().is_some_and(|m| {
        matches!(
            m.as_str(),
            "/api/events"
                | "/events"
                | "/api/sessions/{id}/live"
                | "/sessions/{id}/live"
                | "/api/voice/stream"
                | "/voice/stream"
                | "/api/rooms/{room_name}/transcript/live"
                | "/rooms/{room_name}/transcript/live"
        )
    });
    let from_query = if is_event_stream {
        req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
    } else {
        None
    };
    match from_header.or(from_query) {
        None => Err(ApiError::new(ErrorCode::Unauthorized, "missing API token: send Authorization: Bearer <token>")),
        Some(t) if bool::from(t.as_bytes().ct_eq(state.token.as_bytes())) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::new(ErrorCode::Unauthorized, "invalid API token")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_may_connect_to_the_configured_livekit_server_and_nowhere_else() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let plain = content_security_policy(addr, None);
        assert!(!plain.to_str().unwrap().contains("7880"));
        let lk = content_security_policy(addr, Some("ws://127.0.0.1:7880"));
        assert!(lk.to_str().unwrap().contains("connect-src 'self' ws://127.0.0.1:8080"));
        assert!(lk.to_str().unwrap().contains("ws://127.0.0.1:7880 http://127.0.0.1:7880"));
        let cloud = content_security_policy(addr, Some("wss://shop.livekit.cloud"));
        assert!(cloud.to_str().unwrap().contains("wss://shop.livekit.cloud https://shop.livekit.cloud"));
        // Nothing that is not a plain host gets into the header.
        assert_eq!(livekit_origins("ws://a b;script-src *"), None);
        assert_eq!(livekit_origins("not a url"), None);
    }
}
