//! Agent sessions: start, talk (streamed as server-sent events), watch live
//! (WebSocket), end, export; plus the simple text-testing routes.

use std::convert::Infallible;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use switchboard_core::embed::RetrievalStatus;
use switchboard_core::llm::ModelInfo;
use switchboard_core::session::{Decision, NewSession, Session, Turn, TurnInput, TurnRole};
use switchboard_session::{CallerMessage, GroundingPolicy, SessionEvent, SessionView, TurnOutcome};
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::extract::{ApiJson, ApiQuery, parse_id};
use super::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sessions", get(list).post(start))
        .route("/sessions/{id}", get(show))
        .route("/sessions/{id}/messages", post(message))
        .route("/sessions/{id}/end", post(end))
        .route("/sessions/{id}/live", get(live))
        .route("/sessions/{id}/export", get(export))
        .route("/conversation/message", post(conversation_message))
        .route("/conversation/history/{session_id}", get(conversation_history))
        .route("/agent", get(agent))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `true`: only sessions in progress; `false`: only ended ones.
    active: Option<bool>,
}

#[utoipa::path(get, operation_id = "list_sessions", path = "/api/sessions", tag = "sessions", params(ListQuery),
    responses((status = 200, body = [Session]), (status = 400, body = ErrorBody)))]
pub async fn list(State(s): State<AppState>, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(s.sessions.list(q.active).await?))
}

#[utoipa::path(post, operation_id = "start_session", path = "/api/sessions", tag = "sessions", request_body = NewSession,
    responses((status = 201, body = Session), (status = 422, body = ErrorBody)))]
pub async fn start(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<NewSession>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.sessions.start(&input).await?)))
}

#[utoipa::path(get, operation_id = "get_session", path = "/api/sessions/{id}", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub async fn show(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(s.sessions.get(parse_id(&id, "session")?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    #[schema(
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub text: String,
    /// Cut off the agent's reply in progress first (the caller spoke over
    /// it): that reply is stored with only what was streamed, marked
    /// `interrupted`, and this message does not wait behind it.
    #[serde(default)]
    pub interrupt: bool,
}

#[utoipa::path(post, operation_id = "send_message", path = "/api/sessions/{id}/messages", tag = "sessions",
    params(("id" = String, Path)), request_body = MessageInput,
    description = "Sends the caller's message. The reply streams back as server-sent events (`event:` is the type: \
    `turn` for each stored turn, `token` for each piece of the reply, `error`), ending after the agent's turn. \
    With `Accept: application/json` the call instead waits and returns the whole turn.",
    responses((status = 200, description = "text/event-stream of SessionEvent, or the TurnOutcome as JSON",
            content((TurnOutcome = "application/json"), (SseFrame = "text/event-stream"))),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn message(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<MessageInput>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "session")?;
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/event-stream"));
    let message = CallerMessage { text: input.text, input: TurnInput::Typed, interrupt: input.interrupt };
    if wants_json {
        return Ok(Json(s.sessions.ask_message(id, message).await?).into_response());
    }
    let (rx, _turn) = s.sessions.send_message(id, message).await?;
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let e = rx.recv().await?;
        Some((Ok::<_, Infallible>(sse(&e)), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// One server-sent event of a streamed reply: `event` names the kind,
/// `data` is the [`SessionEvent`] as JSON.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SseFrame {
    /// `turn`, `token`, `hearing`, `error` or `ended`.
    event: String,
    /// A `SessionEvent`, as JSON text.
    data: String,
}

fn event_name(e: &SessionEvent) -> &'static str {
    match e {
        SessionEvent::Turn { .. } => "turn",
        SessionEvent::Token { .. } => "token",
        SessionEvent::Error { .. } => "error",
        SessionEvent::Hearing { .. } => "hearing",
        SessionEvent::Ended { .. } => "ended",
    }
}

fn sse(e: &SessionEvent) -> SseEvent {
    let data = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
    SseEvent::default().event(event_name(e)).data(data)
}

#[utoipa::path(post, operation_id = "end_session", path = "/api/sessions/{id}/end", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = Session), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn end(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Session>, ApiError> {
    Ok(Json(s.sessions.end(parse_id(&id, "session")?).await?))
}

#[utoipa::path(get, operation_id = "watch_session", path = "/api/sessions/{id}/live", tag = "sessions", params(("id" = String, Path)),
    description = "WebSocket upgrade. First a `snapshot` frame `{type: \"snapshot\", session, turns}`, then each SessionEvent \
    as JSON (`turn`, `token`, `error`, `ended`). Browsers may pass the token as `?token=`.",
    responses((status = 101, description = "switching to WebSocket", body = SessionEvent), (status = 404, body = ErrorBody)))]
pub async fn live(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "session")?;
    // Subscribe before reading the snapshot: a turn stored in between arrives
    // twice rather than never (clients drop turns they have by seq).
    let rx = s.sessions.subscribe(id);
    let view = s.sessions.get(id).await?;
    let cancel = s.cancel.clone();
    Ok(ws.on_upgrade(move |socket| watch(socket, view, rx, cancel)))
}

async fn watch(
    mut socket: WebSocket,
    view: SessionView,
    rx: Option<tokio::sync::broadcast::Receiver<SessionEvent>>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let snapshot = serde_json::json!({"type": "snapshot", "session": view.session, "turns": view.turns});
    if socket.send(Message::Text(snapshot.to_string().into())).await.is_err() {
        return;
    }
    // An ended session has nothing more to say.
    let Some(mut rx) = rx else {
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    loop {
        tokio::select! {
            _ = cancel.cancelled() => { let _ = socket.send(Message::Close(None)).await; return; }
            ev = rx.recv() => {
                let (text, last) = match ev {
                    Ok(e) => (serde_json::to_string(&e).unwrap_or_default(), matches!(e, SessionEvent::Ended { .. })),
                    Err(RecvError::Lagged(missed)) => (serde_json::json!({"type": "stream.lagged", "missed": missed}).to_string(), false),
                    Err(RecvError::Closed) => { let _ = socket.send(Message::Close(None)).await; return; }
                };
                if socket.send(Message::Text(text.into())).await.is_err() || last {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `md` (default) or `json`.
    #[param(pattern = "^(md|json)$")]
    format: Option<String>,
}

#[utoipa::path(get, operation_id = "export_session", path = "/api/sessions/{id}/export", tag = "sessions",
    params(("id" = String, Path, format = Uuid), ExportQuery),
    responses((status = 200, description = "text/markdown or application/json"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn export(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "session")?;
    let format = q.format.unwrap_or_else(|| "md".into());
    if format != "md" && format != "json" {
        return Err(ApiError::new(switchboard_core::ErrorCode::ValidationFailed, "format: must be md or json"));
    }
    let view = s.sessions.get(id).await?;
    let name = format!("session-{id}.{format}");
    let disposition = format!("attachment; filename=\"{name}\"");
    Ok(if format == "json" {
        (
            [(header::CONTENT_DISPOSITION, disposition)],
            Json(switchboard_session::export_json(&view.session, &view.turns)),
        )
            .into_response()
    } else {
        let body = switchboard_session::export_markdown(&view.session, &view.turns);
        (
            [
                (header::CONTENT_TYPE, "text/markdown; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            body,
        )
            .into_response()
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationInput {
    #[schema(
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub text: String,
    /// Continue this session; a new text session is started when absent.
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    #[schema(max_length = 16, pattern = r"^[ \t\r\n]*[A-Za-z0-9-]*[ \t\r\n]*$")]
    pub language: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationReply {
    pub session_id: String,
    pub reply: String,
    pub decision: Option<Decision>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub help_request_id: Option<uuid::Uuid>,
    pub turns: Vec<Turn>,
}

#[utoipa::path(post, operation_id = "conversation_message", path = "/api/conversation/message", tag = "sessions",
    request_body = ConversationInput,
    responses((status = 200, body = ConversationReply), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn conversation_message(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<ConversationInput>,
) -> Result<Json<ConversationReply>, ApiError> {
    // Check the message before starting a session for it.
    switchboard_core::session::validate_message(&input.text)
        .map_err(|e| ApiError::from_coded(switchboard_session::SessionError::from(e)))?;
    // The language is checked even when an existing session ignores it.
    let new_session = NewSession { language: input.language.clone(), ..Default::default() };
    new_session.validate().map_err(|e| ApiError::from_coded(switchboard_session::SessionError::from(e)))?;
    let id = match &input.session_id {
        Some(id) => parse_id(id, "session")?,
        None => s.sessions.start(&new_session).await?.id,
    };
    let out = s.sessions.ask(id, &input.text).await?;
    let g = out.reply.grounding.clone();
    Ok(Json(ConversationReply {
        session_id: id.to_string(),
        reply: out.reply.text.clone(),
        decision: g.as_ref().map(|g| g.decision),
        help_request_id: g.and_then(|g| g.help_request_id),
        turns: out.turns,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct HistoryMessage {
    pub role: TurnRole,
    pub text: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationHistory {
    pub session_id: String,
    pub active: bool,
    pub messages: Vec<HistoryMessage>,
}

#[utoipa::path(get, operation_id = "conversation_history", path = "/api/conversation/history/{session_id}", tag = "sessions",
    params(("session_id" = String, Path)),
    responses((status = 200, body = ConversationHistory), (status = 404, body = ErrorBody)))]
pub async fn conversation_history(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConversationHistory>, ApiError> {
    let view = s.sessions.get(parse_id(&id, "session")?).await?;
    Ok(Json(ConversationHistory {
        session_id: view.session.id.to_string(),
        active: view.session.status == switchboard_core::session::SessionStatus::Active,
        messages: view
            .turns
            .into_iter()
            .filter(|t| t.role != TurnRole::Tool)
            .map(|t| HistoryMessage { role: t.role, text: t.text, at: t.created_at })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PromptVersion {
    pub name: String,
    pub version: u32,
}

/// What the agent runs on.
#[derive(Serialize, ToSchema)]
pub struct AgentStatus {
    pub model: ModelInfo,
    pub policy: GroundingPolicy,
    pub tools: Vec<String>,
    pub prompts: Vec<PromptVersion>,
    /// BM25 with embeddings (`hybrid`), or BM25 alone and why.
    pub retrieval: RetrievalStatus,
}

#[utoipa::path(get, operation_id = "agent_status", path = "/api/agent", tag = "sessions",
    responses((status = 200, body = AgentStatus)))]
pub async fn agent(State(s): State<AppState>) -> Json<AgentStatus> {
    Json(AgentStatus {
        model: s.sessions.model().info(),
        policy: s.sessions.policy(),
        tools: s.sessions.tool_names(),
        retrieval: s.sessions.retrieval(),
        prompts: s
            .sessions
            .prompts()
            .versions()
            .into_iter()
            .map(|(name, version)| PromptVersion { name: name.into(), version })
            .collect(),
    })
}
