//! `/api/events`: the event bus as a WebSocket of JSON text frames.

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use switchboard_core::events::Event;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

#[utoipa::path(get, operation_id = "events", path = "/api/events", tag = "events",
    description = "WebSocket upgrade. Each text frame is one JSON event: `{seq, at, type, ...}` with `type` one of \
    help_request.created, help_request.resolved, help_request.unresolved, knowledge.updated, knowledge.deleted, \
    customer.notified; or `stream.lagged` with `missed` when the client fell behind (refetch). \
    Browsers may pass the token as `?token=`.",
    responses((status = 101, description = "switching to WebSocket", body = Event), (status = 401)))]
pub async fn events(State(s): State<AppState>, ws: WebSocketUpgrade) -> Response {
    // Subscribe before the upgrade completes: anything published after the
    // handshake is delivered.
    let rx = s.events.subscribe();
    ws.on_upgrade(move |socket| forward(socket, rx, s.cancel))
}

async fn forward(mut socket: WebSocket, mut rx: tokio::sync::broadcast::Receiver<Event>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            ev = rx.recv() => {
                let text = match ev {
                    Ok(ev) => match serde_json::to_string(&ev) {
                        Ok(t) => t,
                        Err(e) => { tracing::error!(error = %e, "event not serialisable"); continue; }
                    },
                    Err(RecvError::Lagged(missed)) => serde_json::json!({"type": "stream.lagged", "missed": missed}).to_string(),
                    Err(RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {} // pings are answered by the library; other input is ignored
            }
        }
    }
}
