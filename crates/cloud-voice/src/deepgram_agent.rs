//! The Deepgram Voice Agent API (`/v1/agent/converse` over WebSocket) as a
//! [`VoiceAgent`]: Deepgram listens, thinks and speaks; Switchboard runs
//! the tools, keeps the transcript and can put words in the agent's mouth.
//!
//! Wire format, as Deepgram documents it (v1). The key travels in
//! `Authorization: Token <key>`. The server greets with `Welcome`; the
//! client's first message must be `Settings` (audio formats, and the
//! agent's listen / think / speak providers, prompt, functions and
//! greeting), which the server confirms with `SettingsApplied`. The caller's
//! audio goes up as binary frames of 16-bit little-endian PCM, with
//! `{"type":"KeepAlive"}` while there is none; the agent's speech comes down
//! as binary frames in the output format. Text frames from the server:
//! `ConversationText` (a whole utterance, `role` user or assistant),
//! `UserStartedSpeaking` (barge-in), `AgentThinking`, `FunctionCallRequest`
//! (`functions[]` with `id`, `name`, `arguments` as a JSON *string* and
//! `client_side`), `AgentStartedSpeaking` (latencies), `AgentAudioDone`,
//! `InjectionRefused`, `Warning` (non-fatal) and `Error` (fatal); also
//! `FunctionCallResponse` for functions it ran itself, `PromptUpdated`,
//! `SpeakUpdated` and `History`, which we only read past. The client answers
//! a function call with `FunctionCallResponse {id, name, content}` (content
//! a string) and makes the agent say a text with `InjectAgentMessage
//! {message}`, which Deepgram refuses (`InjectionRefused`) while the caller
//! or the agent is speaking.
//!
//! A refused injection is retried once, after the agent's next
//! `AgentAudioDone` (the moment Deepgram documents as safe); a second
//! refusal is logged and the text dropped, since by then it is stale.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::speech::{AudioFrame, SpeechEngineInfo};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use url::Url;

use crate::agent::{AgentCommand, AgentEvent, AgentLink, AgentSetup, VoiceAgent};
use crate::usage::Usage;
use crate::ws::{self, Socket};
use crate::{ApiKey, CloudError};

const SERVICE: &str = "Deepgram";
/// The name in [`Usage`]: the same account as Deepgram's other engines.
const USAGE: &str = "deepgram";
/// The rate the caller's audio is sent at (declared in `Settings`).
pub const INPUT_RATE: u32 = 16_000;
/// The rate of the agent's speech (declared in `Settings`).
pub const OUTPUT_RATE: u32 = 24_000;
/// How long a close frame may take to go out when the conversation failed.
const CLOSE_SEND: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct DeepgramAgentConfig {
    pub api_key: ApiKey,
    /// `wss://agent.deepgram.com` (tests: a local fake on `ws://127.0.0.1`).
    pub base_url: Url,
    /// The speech-to-text model (`nova-3`, …).
    pub listen_model: String,
    /// The language model's provider as Deepgram names it (`open_ai`,
    /// `anthropic`, `google`, …).
    pub think_provider: String,
    /// `gpt-4o-mini`, …
    pub think_model: String,
    /// The Aura voice (`aura-2-thalia-en`, …).
    pub speak_model: String,
    /// Used when the call names no language.
    pub language: String,
    /// Longest wait from opening the socket to `SettingsApplied`; also the
    /// longest wait for the server to answer our close.
    pub connect_timeout: Duration,
    /// A keep-alive is sent when nothing went out for this long (Deepgram
    /// ends a conversation that stays silent for about 10 s).
    pub keepalive: Duration,
}

impl DeepgramAgentConfig {
    pub fn new(api_key: ApiKey) -> DeepgramAgentConfig {
        DeepgramAgentConfig {
            api_key,
            base_url: Url::parse("wss://agent.deepgram.com").expect("a valid URL"),
            listen_model: "nova-3".into(),
            think_provider: "open_ai".into(),
            think_model: "gpt-4o-mini".into(),
            speak_model: "aura-2-thalia-en".into(),
            language: "en".into(),
            connect_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(5),
        }
    }
}

/// Deepgram's voice agent: one conversation per [`VoiceAgent::connect`].
#[derive(Debug)]
pub struct DeepgramAgent {
    cfg: DeepgramAgentConfig,
    usage: Usage,
}

impl DeepgramAgent {
    /// Checks the URL (`wss`, or `ws` on loopback only: the key never
    /// crosses a network in clear).
    pub fn new(cfg: DeepgramAgentConfig, usage: Usage) -> Result<DeepgramAgent, CloudError> {
        ws::check_url(SERVICE, &cfg.base_url)?;
        Ok(DeepgramAgent { cfg, usage })
    }

    /// Opens a conversation up to `SettingsApplied` and closes it: a refused
    /// key, a refused setting or an unreachable service shows when the
    /// engine is chosen, not at the first call. No audio is sent.
    pub async fn check(&self) -> Result<(), CloudError> {
        let setup = AgentSetup { instructions: "Say nothing.".into(), ..Default::default() };
        let AgentLink { audio, commands, mut events } = self.connect(setup).await?;
        // Dropping the audio sender is the clean close; the events end
        // once the server has answered it.
        drop(audio);
        drop(commands);
        let _ = tokio::time::timeout(self.cfg.connect_timeout, async { while events.recv().await.is_some() {} }).await;
        Ok(())
    }

    fn converse_url(&self) -> Url {
        let mut url = self.cfg.base_url.clone();
        url.set_path("/v1/agent/converse");
        url.set_query(None);
        url
    }

    /// The `Settings` message for one conversation.
    fn settings(&self, setup: &AgentSetup) -> Value {
        let cfg = &self.cfg;
        let mut think = json!({
            "provider": {"type": cfg.think_provider, "model": cfg.think_model},
            "prompt": setup.instructions,
        });
        if !setup.tools.is_empty() {
            let functions: Vec<Value> = setup
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "parameters": t.parameters}))
                .collect();
            think["functions"] = Value::Array(functions);
        }
        let mut agent = json!({
            "language": setup.language.as_deref().unwrap_or(&cfg.language),
            "listen": {"provider": {"type": "deepgram", "model": cfg.listen_model}},
            "think": think,
            "speak": {"provider": {"type": "deepgram", "model": cfg.speak_model}},
        });
        if let Some(greeting) = setup.greeting.as_deref().filter(|g| !g.trim().is_empty()) {
            agent["greeting"] = json!(greeting);
        }
        json!({
            "type": "Settings",
            "audio": {
                "input": {"encoding": "linear16", "sample_rate": INPUT_RATE},
                "output": {"encoding": "linear16", "sample_rate": OUTPUT_RATE, "container": "none"},
            },
            "agent": agent,
        })
    }
}

#[async_trait]
impl VoiceAgent for DeepgramAgent {
    fn info(&self) -> SpeechEngineInfo {
        SpeechEngineInfo {
            engine: "deepgram-agent".into(),
            model: Some(self.cfg.think_model.clone()).filter(|m| !m.is_empty()).or(Some(self.cfg.speak_model.clone())),
            ready: true,
            missing: None,
            languages: vec![self.cfg.language.clone()],
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
        true
    }

    async fn connect(&self, setup: AgentSetup) -> Result<AgentLink, CloudError> {
        let deadline = Instant::now() + self.cfg.connect_timeout;
        let auth = format!("Token {}", self.cfg.api_key.expose());
        let mut socket =
            ws::connect(SERVICE, &self.converse_url(), "Authorization", &auth, self.cfg.connect_timeout).await?;
        // Settings goes first, without waiting for Welcome: Deepgram takes
        // it as soon as the socket is open and refuses anything before it.
        socket
            .send(Message::Text(self.settings(&setup).to_string().into()))
            .await
            .map_err(|e| CloudError::Closed { service: SERVICE, why: e.to_string() })?;

        let (audio, audio_rx) = mpsc::channel(64);
        let (commands, commands_rx) = mpsc::channel(16);
        let (events_tx, events) = mpsc::channel(64);
        let (ready_tx, ready_rx) = oneshot::channel();
        let session = Session {
            usage: self.usage.clone(),
            keepalive: self.cfg.keepalive,
            close_wait: self.cfg.connect_timeout,
            pcm: ws::Pcm16::default(),
            said: None,
            retry: None,
        };
        tokio::spawn(session.run(socket, audio_rx, commands_rx, events_tx, ready_tx));
        let link = AgentLink { audio, commands, events };
        match tokio::time::timeout_at(deadline, ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(link),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(CloudError::Closed {
                service: SERVICE,
                why: "the conversation ended before the settings were applied".into(),
            }),
            // Dropping the link closes the socket cleanly.
            Err(_) => Err(CloudError::Timeout { service: SERVICE, after: self.cfg.connect_timeout }),
        }
    }
}

const KEEP_ALIVE: &str = r#"{"type":"KeepAlive"}"#;

/// The server messages we act on; any other type is read past, so a field
/// or message Deepgram adds later does not end a call.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum ServerMessage {
    Welcome {
        #[serde(default)]
        request_id: String,
    },
    SettingsApplied {},
    ConversationText {
        role: Role,
        content: String,
    },
    UserStartedSpeaking {},
    AgentThinking {},
    FunctionCallRequest {
        functions: Vec<FunctionCall>,
    },
    AgentStartedSpeaking {
        #[serde(default)]
        total_latency: Option<f64>,
        #[serde(default)]
        tts_latency: Option<f64>,
        #[serde(default)]
        ttt_latency: Option<f64>,
    },
    AgentAudioDone {},
    InjectionRefused {
        #[serde(default)]
        message: String,
    },
    Warning {
        #[serde(default)]
        description: String,
        #[serde(default)]
        code: String,
    },
    Error {
        #[serde(default)]
        description: String,
        #[serde(default)]
        code: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Role {
    User,
    Assistant,
}

#[derive(Deserialize)]
struct FunctionCall {
    id: String,
    name: String,
    #[serde(default)]
    arguments: String,
    /// Documented as always present; our functions carry no endpoint, so
    /// Deepgram has them run here when it says nothing.
    #[serde(default = "client_side_by_default")]
    client_side: bool,
}

fn client_side_by_default() -> bool {
    true
}

/// What handling one server message asks of the loop, in order.
enum Out {
    Event(AgentEvent),
    Send(String),
    /// `SettingsApplied`: [`VoiceAgent::connect`] may return.
    Ready,
}

type Sink = SplitSink<Socket, Message>;
type Source = SplitStream<Socket>;

/// The state of one conversation, owned by its task.
struct Session {
    usage: Usage,
    keepalive: Duration,
    close_wait: Duration,
    pcm: ws::Pcm16,
    /// The last text injected, and whether it was already a retry: what an
    /// `InjectionRefused` refers to. Cleared when the agent says it.
    said: Option<(String, bool)>,
    /// A refused text, sent again after the agent's next `AgentAudioDone`.
    retry: Option<String>,
}

impl Session {
    async fn run(
        mut self,
        socket: Socket,
        mut audio: mpsc::Receiver<AudioFrame>,
        mut commands: mpsc::Receiver<AgentCommand>,
        events: mpsc::Sender<AgentEvent>,
        ready: oneshot::Sender<Result<(), CloudError>>,
    ) {
        let (mut sink, mut source) = socket.split();
        let mut ready = Some(ready);
        let result = self.converse(&mut sink, &mut source, &mut audio, &mut commands, &events, &mut ready).await;
        match result {
            // The link let go of its audio, or of its events: close cleanly.
            Ok(()) => {
                let _ = sink.send(close_frame()).await;
                // Wait (bounded) for the server's answer to our close, so
                // the last of its audio is not cut off mid-frame.
                let _ = tokio::time::timeout(self.close_wait, async {
                    while let Some(Ok(m)) = source.next().await {
                        if m.is_close() {
                            break;
                        }
                    }
                })
                .await;
            }
            Err(e) => {
                let _ = tokio::time::timeout(CLOSE_SEND, sink.send(close_frame())).await;
                match ready.take() {
                    // Before SettingsApplied the error is connect()'s.
                    Some(tx) => {
                        let _ = tx.send(Err(e));
                    }
                    None => {
                        tracing::warn!(code = e.code(), error = %e, "Deepgram voice agent failed");
                        let _ = events.send(AgentEvent::Failed(e)).await;
                    }
                }
            }
        }
    }

    async fn converse(
        &mut self,
        sink: &mut Sink,
        source: &mut Source,
        audio: &mut mpsc::Receiver<AudioFrame>,
        commands: &mut mpsc::Receiver<AgentCommand>,
        events: &mpsc::Sender<AgentEvent>,
        ready: &mut Option<oneshot::Sender<Result<(), CloudError>>>,
    ) -> Result<(), CloudError> {
        let closed = |why: String| CloudError::Closed { service: SERVICE, why };
        let mut commands_open = true;
        let mut last_sent = Instant::now();
        let mut tick = tokio::time::interval((self.keepalive / 2).max(Duration::from_millis(10)));
        let mut out = Vec::new();
        loop {
            tokio::select! {
                frame = audio.recv() => match frame {
                    Some(f) => {
                        if f.rate != INPUT_RATE {
                            return Err(CloudError::Config {
                                service: SERVICE,
                                why: format!("audio at {} Hz, the agent takes {INPUT_RATE} Hz", f.rate),
                            });
                        }
                        self.usage.sent(USAGE, f.seconds());
                        sink.send(Message::Binary(f.to_pcm16_le().into())).await.map_err(|e| closed(e.to_string()))?;
                        last_sent = Instant::now();
                    }
                    None => return Ok(()),
                },
                command = commands.recv(), if commands_open => match command {
                    Some(c) => {
                        let text = self.on_command(c);
                        sink.send(Message::Text(text.into())).await.map_err(|e| closed(e.to_string()))?;
                        last_sent = Instant::now();
                    }
                    None => commands_open = false,
                },
                _ = tick.tick() => {
                    if last_sent.elapsed() >= self.keepalive {
                        sink.send(Message::Text(KEEP_ALIVE.into())).await.map_err(|e| closed(e.to_string()))?;
                        last_sent = Instant::now();
                    }
                },
                msg = source.next() => {
                    match msg {
                        Some(Ok(Message::Text(text))) => self.on_text(&text, &mut out)?,
                        Some(Ok(Message::Binary(bytes))) => self.on_audio(&bytes, &mut out)?,
                        // We have not closed, so any close is the service
                        // ending the conversation under the call.
                        Some(Ok(Message::Close(frame))) => {
                            return Err(closed(match frame {
                                Some(f) => format!("code {}: {}", u16::from(f.code), f.reason),
                                None => "the service closed the conversation".into(),
                            }));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(closed(e.to_string())),
                        None => return Err(closed("the connection ended".into())),
                    }
                    for o in out.drain(..) {
                        match o {
                            Out::Event(ev) => {
                                if events.send(ev).await.is_err() {
                                    return Ok(());
                                }
                            }
                            Out::Send(text) => {
                                sink.send(Message::Text(text.into())).await.map_err(|e| closed(e.to_string()))?;
                                last_sent = Instant::now();
                            }
                            Out::Ready => {
                                // Only the first SettingsApplied opens the conversation.
                                if let Some(tx) = ready.take() {
                                    if events.send(AgentEvent::Ready).await.is_err() {
                                        return Ok(());
                                    }
                                    let _ = tx.send(Ok(()));
                                }
                            }
                        }
                    }
                },
            }
        }
    }

    fn on_command(&mut self, command: AgentCommand) -> String {
        match command {
            AgentCommand::ToolResult { call_id, name, output } => json!({
                "type": "FunctionCallResponse",
                "id": call_id,
                "name": name,
                "content": content_of(output),
            })
            .to_string(),
            AgentCommand::Say(text) => {
                let message = inject(&text);
                self.said = Some((text, false));
                self.retry = None;
                message
            }
        }
    }

    fn on_audio(&mut self, bytes: &[u8], out: &mut Vec<Out>) -> Result<(), CloudError> {
        if let Some(frame) = self.pcm.frame(SERVICE, OUTPUT_RATE, bytes)? {
            self.usage.received(USAGE, frame.seconds());
            out.push(Out::Event(AgentEvent::Audio(frame)));
        }
        Ok(())
    }

    fn on_text(&mut self, text: &str, out: &mut Vec<Out>) -> Result<(), CloudError> {
        let protocol = |why: String| CloudError::Protocol { service: SERVICE, why };
        let message: ServerMessage = serde_json::from_str(text).map_err(|e| protocol(e.to_string()))?;
        match message {
            ServerMessage::Welcome { request_id } => {
                tracing::debug!(%request_id, "Deepgram voice agent conversation opened");
            }
            ServerMessage::SettingsApplied {} => out.push(Out::Ready),
            ServerMessage::ConversationText { role: Role::User, content } => {
                // Deepgram sends the caller's words once, as a whole utterance.
                out.push(Out::Event(AgentEvent::UserText { text: content, is_final: true }));
            }
            ServerMessage::ConversationText { role: Role::Assistant, content } => {
                if self.said.as_ref().is_some_and(|(said, _)| said.trim() == content.trim()) {
                    self.said = None;
                }
                out.push(Out::Event(AgentEvent::AgentText(content)));
            }
            ServerMessage::UserStartedSpeaking {} => out.push(Out::Event(AgentEvent::UserStartedSpeaking)),
            ServerMessage::FunctionCallRequest { functions } => {
                for f in functions {
                    if !f.client_side {
                        // Deepgram runs it and answers itself.
                        continue;
                    }
                    let arguments = if f.arguments.trim().is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(&f.arguments)
                            .map_err(|e| protocol(format!("the arguments of {} are not JSON: {e}", f.name)))?
                    };
                    out.push(Out::Event(AgentEvent::ToolCall { call_id: f.id, name: f.name, arguments }));
                }
            }
            ServerMessage::AgentStartedSpeaking { total_latency, tts_latency, ttt_latency } => {
                tracing::debug!(?total_latency, ?tts_latency, ?ttt_latency, "Deepgram agent started speaking");
            }
            ServerMessage::AgentAudioDone {} => {
                out.push(Out::Event(AgentEvent::AgentDone));
                if let Some(text) = self.retry.take() {
                    out.push(Out::Send(inject(&text)));
                    self.said = Some((text, true));
                }
            }
            ServerMessage::InjectionRefused { message } => self.refused(&message),
            ServerMessage::Warning { description, code } => {
                tracing::warn!(%code, %description, "Deepgram voice agent warning");
                // Deepgram also reports a refused injection as a warning.
                if code.starts_with("INJECT_AGENT_MESSAGE") {
                    self.refused(&description);
                }
            }
            ServerMessage::Error { description, code } => {
                let why = if code.is_empty() { description } else { format!("{code}: {description}") };
                return Err(if code == "INVALID_SETTINGS" {
                    CloudError::Config { service: SERVICE, why }
                } else {
                    protocol(why)
                });
            }
            ServerMessage::AgentThinking {} | ServerMessage::Other => {}
        }
        Ok(())
    }

    /// An injection was refused because the caller or the agent was
    /// speaking: the first time, it waits for the agent to finish.
    fn refused(&mut self, why: &str) {
        match self.said.take() {
            Some((text, false)) => {
                tracing::warn!(%why, "Deepgram refused the injected message; it is retried once the agent is done");
                self.retry = Some(text);
            }
            Some((_, true)) => {
                tracing::warn!(%why, "Deepgram refused the injected message again; it is dropped");
            }
            None => tracing::warn!(%why, "Deepgram refused an injected message"),
        }
    }
}

fn inject(text: &str) -> String {
    json!({"type": "InjectAgentMessage", "message": text}).to_string()
}

/// A tool's output as the string Deepgram takes: text as it is (the model
/// reads it verbatim), anything else as JSON.
fn content_of(output: Value) -> String {
    match output {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn close_frame() -> Message {
    Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::llm::ToolSpec;

    fn agent() -> DeepgramAgent {
        DeepgramAgent::new(DeepgramAgentConfig::new(ApiKey::new("secret-key-123").unwrap()), Usage::default()).unwrap()
    }

    #[test]
    fn settings_carry_the_formats_prompt_tools_and_greeting() {
        let setup = AgentSetup {
            instructions: "Be brief.".into(),
            greeting: Some("Hello!".into()),
            tools: vec![ToolSpec {
                name: "book".into(),
                description: "Books a table".into(),
                parameters: json!({"type": "object", "properties": {}}),
            }],
            language: Some("de".into()),
        };
        let s = agent().settings(&setup);
        assert_eq!(s["type"], "Settings");
        assert_eq!(s["audio"]["input"], json!({"encoding": "linear16", "sample_rate": 16000}));
        assert_eq!(s["audio"]["output"]["sample_rate"], 24000);
        assert_eq!(s["agent"]["language"], "de");
        assert_eq!(s["agent"]["think"]["prompt"], "Be brief.");
        assert_eq!(s["agent"]["think"]["functions"][0]["name"], "book");
        assert_eq!(s["agent"]["greeting"], "Hello!");
        assert!(!s.to_string().contains("secret"));
        let bare = agent().settings(&AgentSetup::default());
        assert!(bare["agent"].get("greeting").is_none() && bare["agent"]["think"].get("functions").is_none());
    }

    #[test]
    fn the_url_is_the_converse_endpoint_and_keys_stay_off_clear_networks() {
        assert_eq!(agent().converse_url().as_str(), "wss://agent.deepgram.com/v1/agent/converse");
        let mut cfg = DeepgramAgentConfig::new(ApiKey::new("k").unwrap());
        cfg.base_url = Url::parse("ws://agent.deepgram.com").unwrap();
        assert_eq!(DeepgramAgent::new(cfg, Usage::default()).unwrap_err().code(), "cloud_not_configured");
    }

    #[test]
    fn tool_output_text_goes_as_it_is_and_the_rest_as_json() {
        assert_eq!(content_of(json!("done")), "done");
        assert_eq!(content_of(json!({"ok": true})), r#"{"ok":true}"#);
    }
}
