//! Gemini Live (the Gemini API's `BidiGenerateContent` over WebSocket) as a
//! [`VoiceAgent`]: one socket per conversation, owned by a spawned task that
//! forwards the caller's audio, Switchboard's commands and the service's
//! messages, and turns the service's failures into one
//! [`AgentEvent::Failed`].
//!
//! Wire format, as the Live API reference describes it. The socket opens at
//! `/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent`
//! with the key in `x-goog-api-key`. Every message is a JSON object with one
//! key naming its kind (the server may send them as binary frames):
//! - client: `setup` first (model, `generationConfig.responseModalities`,
//!   `systemInstruction`, `tools[].functionDeclarations`, and empty
//!   `inputAudioTranscription`/`outputAudioTranscription` to get both sides'
//!   words), then `realtimeInput.audio` (base64 16-bit LE PCM,
//!   `audio/pcm;rate=16000`), `toolResponse.functionResponses[]`
//!   (`id`, `name`, an object `response`) and `clientContent` turns (text);
//! - server: `setupComplete`, then `serverContent` (`modelTurn.parts[]
//!   .inlineData` with 24 kHz PCM, `inputTranscription.text` and
//!   `outputTranscription.text` pieces, `interrupted`, `generationComplete`,
//!   `turnComplete`; one message may carry several of these), `toolCall
//!   .functionCalls[]` (`id`, `name`, `args`), `toolCallCancellation.ids`,
//!   `goAway.timeLeft` and `usageMetadata`.
//!
//! Errors mostly arrive as close frames rather than messages: a refused key
//! is a 1007 close whose reason names the API key (after a handshake that
//! succeeded), an exhausted quota a 1011 close naming the quota.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::llm::ToolSpec;
use switchboard_core::speech::{AudioFrame, SpeechEngineInfo};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use url::Url;

use crate::agent::{AgentCommand, AgentEvent, AgentLink, AgentSetup, VoiceAgent};
use crate::usage::Usage;
use crate::ws::{self, Socket};
use crate::{ApiKey, CloudError};

const SERVICE: &str = "Gemini";
/// The name in [`Usage`].
const USAGE: &str = "gemini";
const PATH: &str = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";
/// The caller's audio, as the Live API takes it.
pub const INPUT_RATE: u32 = 16_000;
/// The agent's audio, as the Live API sends it.
pub const OUTPUT_RATE: u32 = 24_000;

#[derive(Debug, Clone)]
pub struct GeminiConfig {
    pub api_key: ApiKey,
    /// `wss://generativelanguage.googleapis.com` (tests: a local fake).
    pub base_url: Url,
    /// A Live model, without or with the `models/` prefix.
    pub model: String,
    /// A prebuilt voice (`Kore`, `Puck`, …); `None`: the model's default.
    pub voice: Option<String>,
    /// Languages the model converses in (ISO 639-1).
    pub languages: Vec<String>,
    /// Longest wait for the handshake and `setupComplete`, together.
    pub connect_timeout: Duration,
    /// Longest silence of the service while it owes a reply (after the
    /// caller's words, a tool result or a [`AgentCommand::Say`]).
    pub reply_timeout: Duration,
    /// Send [`AgentCommand::Say`] (and the greeting) as `realtimeInput.text`
    /// instead of a `clientContent` turn: newer Live models (Gemini 3.1
    /// Flash Live) refuse `clientContent` once the conversation has begun.
    pub say_as_realtime_text: bool,
}

impl GeminiConfig {
    pub fn new(api_key: ApiKey) -> GeminiConfig {
        GeminiConfig {
            api_key,
            base_url: Url::parse("wss://generativelanguage.googleapis.com").expect("a valid URL"),
            model: "gemini-2.5-flash-native-audio-preview-12-2025".into(),
            voice: None,
            // The languages the Live API documents for native audio.
            languages: [
                "en", "de", "fr", "es", "it", "pt", "nl", "pl", "ro", "ru", "uk", "tr", "ar", "hi", "bn", "mr", "ta",
                "te", "th", "vi", "id", "ja", "ko",
            ]
            .map(String::from)
            .to_vec(),
            connect_timeout: Duration::from_secs(8),
            reply_timeout: Duration::from_secs(15),
            say_as_realtime_text: false,
        }
    }
}

/// Gemini Live, the whole conversation in one service.
pub struct GeminiLive {
    cfg: GeminiConfig,
    usage: Usage,
}

impl GeminiLive {
    /// Checks the URL (`wss`, or `ws` on loopback only: the key never
    /// crosses a network in clear).
    pub fn new(cfg: GeminiConfig, usage: Usage) -> Result<GeminiLive, CloudError> {
        ws::check_url(SERVICE, &cfg.base_url)?;
        if cfg.model.trim().is_empty() {
            return Err(CloudError::Config { service: SERVICE, why: "no model is named".into() });
        }
        Ok(GeminiLive { cfg, usage })
    }

    /// Opens a session, waits for the setup to be accepted and closes it: a
    /// refused key (which Gemini reports after the handshake) or an unknown
    /// model shows when the engine is chosen, not at the first call.
    pub async fn check(&self) -> Result<(), CloudError> {
        let mut ws = self.open(&AgentSetup::default()).await?;
        let _ = ws.close(Some(normal_close())).await;
        let _ = tokio::time::timeout(self.cfg.connect_timeout, async { while ws.next().await.is_some() {} }).await;
        Ok(())
    }

    fn live_url(&self) -> Url {
        let mut url = self.cfg.base_url.clone();
        url.set_path(PATH);
        url.set_query(None);
        url
    }

    /// Connects, sends the setup and waits for `setupComplete`, all within
    /// the connect timeout.
    async fn open(&self, setup: &AgentSetup) -> Result<Socket, CloudError> {
        let timeout = self.cfg.connect_timeout;
        let deadline = Instant::now() + timeout;
        let key = self.cfg.api_key.expose();
        let mut ws = ws::connect(SERVICE, &self.live_url(), "x-goog-api-key", key, timeout).await?;
        let message = setup_message(&self.cfg, setup);
        ws.send(Message::Text(message.to_string().into()))
            .await
            .map_err(|e| CloudError::Connect { service: SERVICE, why: scrub(&self.cfg.api_key, &e.to_string()) })?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = ws::next_within(SERVICE, &mut ws, left).await.map_err(|e| match e {
                CloudError::Timeout { .. } => CloudError::Timeout { service: SERVICE, after: timeout },
                CloudError::Closed { why, .. } => {
                    CloudError::Connect { service: SERVICE, why: scrub(&self.cfg.api_key, &why) }
                }
                other => other,
            })?;
            let text = match msg {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => json_text(&b)?,
                Message::Close(frame) => return Err(refused_setup(&self.cfg.api_key, frame)),
                _ => continue,
            };
            let m = parse(&self.cfg.api_key, &text)?;
            if let Some(e) = m.error {
                return Err(e.into_error(&self.cfg.api_key));
            }
            if m.setup_complete.is_some() {
                return Ok(ws);
            }
            // Nothing else is documented before `setupComplete`; what comes
            // is not ours to act on yet.
        }
    }
}

#[async_trait]
impl VoiceAgent for GeminiLive {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "gemini-live".into(),
            model: Some(self.cfg.model.clone()),
            ready: true,
            missing: None,
            languages: self.cfg.languages.clone(),
        }
    }

    fn service(&self) -> &'static str {
        SERVICE
    }

    fn input_rate(&self) -> u32 {
        INPUT_RATE
    }

    fn output_rate(&self) -> u32 {
        OUTPUT_RATE
    }

    fn says_verbatim(&self) -> bool {
        // The model can only be asked to say a text; it speaks its own audio.
        false
    }

    async fn connect(&self, setup: AgentSetup) -> Result<AgentLink, CloudError> {
        let ws = self.open(&setup).await?;
        let (audio, audio_rx) = mpsc::channel(64);
        let (commands, commands_rx) = mpsc::channel(16);
        let (events_tx, events) = mpsc::channel(256);
        let conversation = Conversation {
            key: self.cfg.api_key.clone(),
            usage: self.usage.clone(),
            reply_timeout: self.cfg.reply_timeout,
            close_timeout: self.cfg.connect_timeout,
            say_as_realtime_text: self.cfg.say_as_realtime_text,
            events: events_tx,
            heard: String::new(),
            replying: false,
            cut: false,
            owed: None,
            going_away: None,
            pcm: ws::Pcm16::default(),
        };
        tokio::spawn(conversation.run(ws, audio_rx, commands_rx, setup.greeting));
        Ok(AgentLink { audio, commands, events })
    }
}

/// The `setup` message: the model, audio out, the prompt, the tools, and
/// transcripts of both sides.
fn setup_message(cfg: &GeminiConfig, setup: &AgentSetup) -> Value {
    let model = if cfg.model.starts_with("models/") { cfg.model.clone() } else { format!("models/{}", cfg.model) };
    let mut generation = json!({"responseModalities": ["AUDIO"]});
    if let Some(voice) = &cfg.voice {
        generation["speechConfig"] = json!({"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}});
    }
    let mut body = json!({
        "model": model,
        "generationConfig": generation,
        "inputAudioTranscription": {},
        "outputAudioTranscription": {},
    });
    // Native-audio models pick their language from what they hear and take
    // no language code, so the caller's language is a line of the prompt.
    let mut instructions = setup.instructions.trim().to_string();
    if let Some(lang) = setup.language.as_deref().filter(|l| !l.trim().is_empty()) {
        if !instructions.is_empty() {
            instructions.push_str("\n\n");
        }
        instructions.push_str(&format!(
            "The caller speaks the language with ISO 639-1 code \"{}\": answer in it unless they switch.",
            lang.trim()
        ));
    }
    if !instructions.is_empty() {
        body["systemInstruction"] = json!({"parts": [{"text": instructions}]});
    }
    if !setup.tools.is_empty() {
        let declarations: Vec<Value> = setup.tools.iter().map(declaration).collect();
        body["tools"] = json!([{"functionDeclarations": declarations}]);
    }
    json!({"setup": body})
}

fn declaration(tool: &ToolSpec) -> Value {
    let mut d = json!({"name": tool.name, "description": tool.description});
    // Gemini refuses an object schema with no properties ("should be
    // non-empty for OBJECT type"): a tool without arguments declares none.
    let empty_object = tool.parameters.get("type").and_then(Value::as_str) == Some("object")
        && tool.parameters.get("properties").and_then(Value::as_object).is_none_or(|p| p.is_empty());
    if !tool.parameters.is_null() && !empty_object {
        d["parameters"] = tool.parameters.clone();
    }
    d
}

/// A tool's output as a function response: Gemini takes only an object.
fn response_object(output: Value) -> Value {
    match output {
        Value::Object(_) => output,
        other => json!({"result": other}),
    }
}

/// What the model is told so that it says `text` and nothing more.
fn say_prompt(text: &str) -> String {
    format!(
        "(From the system, not the caller.) Say exactly the following to the caller, word for word, \
         adding nothing before or after it: {}",
        text.trim()
    )
}

fn say_message(text: &str, as_realtime_text: bool) -> Value {
    let prompt = say_prompt(text);
    if as_realtime_text {
        json!({"realtimeInput": {"text": prompt}})
    } else {
        json!({"clientContent": {"turns": [{"role": "user", "parts": [{"text": prompt}]}], "turnComplete": true}})
    }
}

/// Server text with the key taken out, should the service ever echo it.
fn scrub(key: &ApiKey, text: &str) -> String {
    text.replace(key.expose(), "…")
}

fn json_text(bytes: &[u8]) -> Result<String, CloudError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| CloudError::Protocol { service: SERVICE, why: "a binary message that is not UTF-8 JSON".into() })
}

fn parse(key: &ApiKey, text: &str) -> Result<ServerMessage, CloudError> {
    serde_json::from_str(text).map_err(|e| CloudError::Protocol { service: SERVICE, why: scrub(key, &e.to_string()) })
}

fn close_text(key: &ApiKey, frame: &Option<CloseFrame>) -> String {
    match frame {
        Some(f) if f.reason.is_empty() => format!("code {}", u16::from(f.code)),
        Some(f) => format!("code {}: {}", u16::from(f.code), scrub(key, &f.reason)),
        None => "no close code".into(),
    }
}

/// What a close frame says about the key or the quota, when it says so.
fn close_cause(frame: &Option<CloseFrame>) -> Option<CloudError> {
    let reason = frame.as_ref()?.reason.to_lowercase();
    if reason.contains("api key") || reason.contains("api_key") {
        Some(CloudError::BadKey { service: SERVICE })
    } else if reason.contains("quota") || reason.contains("resource_exhausted") || reason.contains("rate limit") {
        Some(CloudError::RateLimited { service: SERVICE })
    } else {
        None
    }
}

/// The service closed the socket before accepting the setup.
fn refused_setup(key: &ApiKey, frame: Option<CloseFrame>) -> CloudError {
    close_cause(&frame).unwrap_or_else(|| CloudError::Connect {
        service: SERVICE,
        why: format!("the setup was refused ({})", close_text(key, &frame)),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerMessage {
    #[serde(default)]
    setup_complete: Option<Value>,
    #[serde(default)]
    server_content: Option<ServerContent>,
    #[serde(default)]
    tool_call: Option<ToolCall>,
    #[serde(default)]
    tool_call_cancellation: Option<ToolCallCancellation>,
    #[serde(default)]
    go_away: Option<GoAway>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ServerContent {
    #[serde(default)]
    model_turn: Option<Content>,
    #[serde(default)]
    input_transcription: Option<Transcription>,
    #[serde(default)]
    output_transcription: Option<Transcription>,
    #[serde(default)]
    interrupted: bool,
    #[serde(default)]
    turn_complete: bool,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    inline_data: Option<Blob>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Blob {
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    data: String,
}

#[derive(Deserialize)]
struct Transcription {
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolCall {
    #[serde(default)]
    function_calls: Vec<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    #[serde(default)]
    id: String,
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Deserialize)]
struct ToolCallCancellation {
    #[serde(default)]
    ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoAway {
    #[serde(default)]
    time_left: Option<String>,
}

/// A Google API error object, should one come as a message.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

impl ErrorBody {
    fn into_error(self, key: &ApiKey) -> CloudError {
        match (self.code, self.status.as_str()) {
            (Some(401 | 403), _) | (_, "UNAUTHENTICATED" | "PERMISSION_DENIED") => {
                CloudError::BadKey { service: SERVICE }
            }
            (Some(429), _) | (_, "RESOURCE_EXHAUSTED") => CloudError::RateLimited { service: SERVICE },
            _ => CloudError::Protocol {
                service: SERVICE,
                why: scrub(key, format!("{} {}", self.status, self.message).trim()),
            },
        }
    }
}

type Sink = SplitSink<Socket, Message>;

/// How a conversation ended without a failure.
enum End {
    /// The caller's audio sender was dropped: the link is closed.
    AudioClosed,
    /// Nobody reads the events any more.
    NobodyListens,
}

/// One open conversation: the state the task keeps between messages.
struct Conversation {
    key: ApiKey,
    usage: Usage,
    reply_timeout: Duration,
    /// How long a clean close may take.
    close_timeout: Duration,
    say_as_realtime_text: bool,
    events: mpsc::Sender<AgentEvent>,
    /// The caller's words so far in this utterance (pieces joined).
    heard: String,
    /// The model's turn has begun (audio, words or a tool call came).
    replying: bool,
    /// The caller cut the model's turn: the `turnComplete` that ends it
    /// does not end the caller's utterance, which is still going on.
    cut: bool,
    /// When the service, owing a reply, must have said something by.
    owed: Option<Instant>,
    /// The `goAway` notice, once the service announced it will close.
    going_away: Option<String>,
    pcm: ws::Pcm16,
}

impl Conversation {
    async fn run(
        mut self,
        ws: Socket,
        audio: mpsc::Receiver<AudioFrame>,
        commands: mpsc::Receiver<AgentCommand>,
        greeting: Option<String>,
    ) {
        let (mut sink, mut source) = ws.split();
        let outcome = self.converse(&mut sink, &mut source, audio, commands, greeting).await;
        match outcome {
            Ok(_) => {
                // Close as the caller hung up: a normal close, then wait
                // (briefly) for the service's answering close frame.
                let _ = sink.send(Message::Close(Some(normal_close()))).await;
                let _ =
                    tokio::time::timeout(self.close_timeout, async { while source.next().await.is_some() {} }).await;
            }
            Err(e) => {
                tracing::warn!(code = e.code(), error = %e, "Gemini Live conversation failed");
                let close_timeout = self.close_timeout;
                let events = self.events;
                let _ = events.send(AgentEvent::Failed(e)).await;
                // Nothing follows the failure: the events end now, not after the close.
                drop(events);
                let _ = tokio::time::timeout(close_timeout, sink.send(Message::Close(Some(normal_close())))).await;
            }
        }
    }

    async fn converse(
        &mut self,
        sink: &mut Sink,
        source: &mut SplitStream<Socket>,
        mut audio: mpsc::Receiver<AudioFrame>,
        mut commands: mpsc::Receiver<AgentCommand>,
        greeting: Option<String>,
    ) -> Result<End, CloudError> {
        if !self.emit(AgentEvent::Ready).await {
            return Ok(End::NobodyListens);
        }
        if let Some(text) = greeting.filter(|g| !g.trim().is_empty()) {
            self.send(sink, say_message(&text, self.say_as_realtime_text)).await?;
            self.owe();
        }
        let mut commands_open = true;
        loop {
            tokio::select! {
                frame = audio.recv() => match frame {
                    Some(f) => self.send_audio(sink, f).await?,
                    None => return Ok(End::AudioClosed),
                },
                command = commands.recv(), if commands_open => match command {
                    Some(c) => self.command(sink, c).await?,
                    // Commands are optional: the conversation goes on.
                    None => commands_open = false,
                },
                () = ws::sleep_until(self.owed) => {
                    return Err(CloudError::Timeout { service: SERVICE, after: self.reply_timeout });
                }
                msg = source.next() => {
                    let text = match msg {
                        Some(Ok(Message::Text(t))) => t.to_string(),
                        Some(Ok(Message::Binary(b))) => json_text(&b)?,
                        Some(Ok(Message::Close(frame))) => return Err(self.closed_by_service(frame)),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => {
                            return Err(CloudError::Closed { service: SERVICE, why: scrub(&self.key, &e.to_string()) });
                        }
                        None => return Err(self.closed_by_service(None)),
                    };
                    if !self.message(&text).await? {
                        return Ok(End::NobodyListens);
                    }
                }
            }
        }
    }

    async fn send(&self, sink: &mut Sink, message: Value) -> Result<(), CloudError> {
        sink.send(Message::Text(message.to_string().into()))
            .await
            .map_err(|e| CloudError::Closed { service: SERVICE, why: scrub(&self.key, &e.to_string()) })
    }

    async fn send_audio(&mut self, sink: &mut Sink, frame: AudioFrame) -> Result<(), CloudError> {
        if frame.rate != INPUT_RATE {
            return Err(CloudError::Config {
                service: SERVICE,
                why: format!("audio at {} Hz, the conversation takes {INPUT_RATE} Hz", frame.rate),
            });
        }
        if frame.samples.is_empty() {
            return Ok(());
        }
        let data = base64::engine::general_purpose::STANDARD.encode(frame.to_pcm16_le());
        let message = json!({"realtimeInput": {"audio": {"data": data, "mimeType": "audio/pcm;rate=16000"}}});
        self.send(sink, message).await?;
        self.usage.sent(USAGE, frame.seconds());
        Ok(())
    }

    async fn command(&mut self, sink: &mut Sink, command: AgentCommand) -> Result<(), CloudError> {
        let message = match command {
            AgentCommand::ToolResult { call_id, name, output } => {
                let mut response = json!({"name": name, "response": response_object(output)});
                // Without an id from the service there is none to echo.
                if !call_id.is_empty() {
                    response["id"] = Value::String(call_id);
                }
                json!({"toolResponse": {"functionResponses": [response]}})
            }
            AgentCommand::Say(text) => say_message(&text, self.say_as_realtime_text),
        };
        self.send(sink, message).await?;
        self.owe();
        Ok(())
    }

    /// The service owes a reply from now on.
    fn owe(&mut self) {
        self.owed = Some(Instant::now() + self.reply_timeout);
    }

    /// Sends an event; false once nobody listens.
    async fn emit(&self, event: AgentEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// The caller's utterance is over: its whole text, once.
    async fn finish_utterance(&mut self) -> bool {
        let text = self.heard.trim().to_string();
        self.heard.clear();
        text.is_empty() || self.emit(AgentEvent::UserText { text, is_final: true }).await
    }

    /// The model's turn begins (its first audio, words or tool call): what
    /// the caller said before it is final.
    async fn model_output(&mut self) -> bool {
        self.cut = false;
        if self.replying {
            return true;
        }
        self.replying = true;
        self.finish_utterance().await
    }

    /// Handles one server message; false once nobody listens.
    async fn message(&mut self, text: &str) -> Result<bool, CloudError> {
        let m = parse(&self.key, text)?;
        if let Some(e) = m.error {
            return Err(e.into_error(&self.key));
        }
        // The service is alive: a reply it owes may take its time again.
        if self.owed.is_some() {
            self.owe();
        }
        if let Some(content) = m.server_content
            && !self.content(content).await?
        {
            return Ok(false);
        }
        if let Some(call) = m.tool_call {
            if !self.model_output().await {
                return Ok(false);
            }
            // Now Switchboard owes the service, not the other way round.
            self.owed = None;
            for f in call.function_calls {
                let arguments = f.args.unwrap_or_else(|| json!({}));
                if !self.emit(AgentEvent::ToolCall { call_id: f.id, name: f.name, arguments }).await {
                    return Ok(false);
                }
            }
        }
        if let Some(cancel) = m.tool_call_cancellation
            && !self.emit(AgentEvent::ToolCallsCancelled(cancel.ids)).await
        {
            return Ok(false);
        }
        if let Some(g) = m.go_away {
            let left = g.time_left.unwrap_or_else(|| "a short time".into());
            tracing::info!(time_left = %left, "Gemini Live will end the session");
            self.going_away = Some(left);
        }
        Ok(true)
    }

    async fn content(&mut self, c: ServerContent) -> Result<bool, CloudError> {
        if c.interrupted {
            // The caller barged in: the rest of the reply will not come, and
            // half a sample of it must not prefix the next one.
            self.cut = true;
            self.replying = false;
            self.pcm = ws::Pcm16::default();
            if !self.emit(AgentEvent::UserStartedSpeaking).await {
                return Ok(false);
            }
        }
        if let Some(piece) = c.input_transcription.filter(|t| !t.text.is_empty()) {
            self.heard.push_str(&piece.text);
            self.owe();
            let text = self.heard.trim().to_string();
            if !text.is_empty() && !self.emit(AgentEvent::UserText { text, is_final: false }).await {
                return Ok(false);
            }
        }
        if let Some(piece) = c.output_transcription.filter(|t| !t.text.is_empty())
            && (!self.model_output().await || !self.emit(AgentEvent::AgentText(piece.text)).await)
        {
            return Ok(false);
        }
        for blob in c.model_turn.into_iter().flat_map(|t| t.parts).filter_map(|p| p.inline_data) {
            let Some(rate) = pcm_rate(blob.mime_type.as_deref()) else {
                tracing::debug!(mime = ?blob.mime_type, "Gemini Live sent inline data that is not audio");
                continue;
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(blob.data.as_bytes())
                .map_err(|e| CloudError::Protocol { service: SERVICE, why: format!("audio is not base64 ({e})") })?;
            if !self.model_output().await {
                return Ok(false);
            }
            if let Some(frame) = self.pcm.frame(SERVICE, rate, &bytes)? {
                self.usage.received(USAGE, frame.seconds());
                if !self.emit(AgentEvent::Audio(frame)).await {
                    return Ok(false);
                }
            }
        }
        if c.turn_complete {
            if !self.cut && !self.finish_utterance().await {
                return Ok(false);
            }
            self.cut = false;
            self.replying = false;
            // A caller still speaking after a barge-in is owed an answer.
            self.owed = (!self.heard.trim().is_empty()).then(|| Instant::now() + self.reply_timeout);
            if !self.emit(AgentEvent::AgentDone).await {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn closed_by_service(&self, frame: Option<CloseFrame>) -> CloudError {
        if let Some(e) = close_cause(&frame) {
            return e;
        }
        let mut why = close_text(&self.key, &frame);
        if let Some(left) = &self.going_away {
            why.push_str(&format!(", after it announced the end of the session ({left} left)"));
        }
        CloudError::Closed { service: SERVICE, why }
    }
}

fn normal_close() -> CloseFrame {
    CloseFrame { code: CloseCode::Normal, reason: "".into() }
}

/// The rate of 16-bit PCM named by a MIME type (`audio/pcm;rate=24000`);
/// PCM without a rate is at the documented output rate; `None`: not PCM.
fn pcm_rate(mime: Option<&str>) -> Option<u32> {
    let Some(mime) = mime else { return Some(OUTPUT_RATE) };
    let mut parts = mime.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("audio/pcm") {
        return None;
    }
    let rate = parts.find_map(|p| p.strip_prefix("rate=")).and_then(|r| r.parse().ok());
    Some(rate.unwrap_or(OUTPUT_RATE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GeminiConfig {
        GeminiConfig::new(ApiKey::new("AIza-secret-1").unwrap())
    }

    #[test]
    fn the_setup_names_the_model_audio_out_the_prompt_tools_and_transcripts() {
        let setup = AgentSetup {
            instructions: "You take bookings.".into(),
            greeting: None,
            tools: vec![
                ToolSpec {
                    name: "book".into(),
                    description: "Books a table".into(),
                    parameters: json!({"type": "object", "properties": {"party": {"type": "integer"}}}),
                },
                ToolSpec {
                    name: "hours".into(),
                    description: "Opening hours".into(),
                    parameters: json!({"type": "object", "properties": {}}),
                },
            ],
            language: Some("de".into()),
        };
        let m = setup_message(&config(), &setup);
        let s = &m["setup"];
        assert_eq!(s["model"], "models/gemini-2.5-flash-native-audio-preview-12-2025");
        assert_eq!(s["generationConfig"]["responseModalities"], json!(["AUDIO"]));
        assert_eq!(s["inputAudioTranscription"], json!({}));
        assert_eq!(s["outputAudioTranscription"], json!({}));
        let prompt = s["systemInstruction"]["parts"][0]["text"].as_str().unwrap();
        assert!(prompt.starts_with("You take bookings.") && prompt.contains("\"de\""), "{prompt}");
        let decls = &s["tools"][0]["functionDeclarations"];
        assert_eq!(decls[0]["parameters"]["properties"]["party"]["type"], "integer");
        assert_eq!(decls[1], json!({"name": "hours", "description": "Opening hours"}), "no empty object schema");
        assert!(!m.to_string().contains("secret"));

        let bare = setup_message(&config(), &AgentSetup::default());
        assert!(bare["setup"].get("tools").is_none() && bare["setup"].get("systemInstruction").is_none());
    }

    #[test]
    fn tool_outputs_become_objects_and_pcm_rates_are_read() {
        assert_eq!(response_object(json!({"ok": true})), json!({"ok": true}));
        assert_eq!(response_object(json!("done")), json!({"result": "done"}));
        assert_eq!(response_object(json!([1, 2])), json!({"result": [1, 2]}));
        assert_eq!(pcm_rate(Some("audio/pcm;rate=24000")), Some(24_000));
        assert_eq!(pcm_rate(Some("audio/pcm; rate=16000")), Some(16_000));
        assert_eq!(pcm_rate(Some("audio/pcm")), Some(OUTPUT_RATE));
        assert_eq!(pcm_rate(Some("image/png")), None);
    }

    #[test]
    fn close_reasons_about_the_key_or_quota_are_named_and_the_key_is_scrubbed() {
        let key = ApiKey::new("AIza-secret-1").unwrap();
        let frame = |code: u16, reason: &str| Some(CloseFrame { code: code.into(), reason: reason.to_string().into() });
        assert_eq!(
            refused_setup(&key, frame(1007, "API key not valid. Please pass a valid API key.")),
            CloudError::BadKey { service: SERVICE }
        );
        assert_eq!(
            refused_setup(&key, frame(1011, "You exceeded your current quota")),
            CloudError::RateLimited { service: SERVICE }
        );
        let e = refused_setup(&key, frame(1008, "models/x is not found; key AIza-secret-1"));
        assert_eq!(e.code(), "cloud_unreachable");
        assert!(e.to_string().contains("1008") && !e.to_string().contains("secret"), "{e}");
    }
}
