//! OpenAI-compatible chat completions (`POST {base}/chat/completions`,
//! `stream: true`): OpenAI, Groq, Gemini's compatible endpoint, Ollama, a
//! llama.cpp server.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_core::llm::{
    ChatMessage, ChatRequest, FinishReason, LanguageModel, LlmError, LlmEvent, LlmStream, ModelInfo, Role, ToolCall,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

use crate::STREAM_CAPACITY;

/// How long a TCP/TLS connect may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most of an error body we read (for its message).
const ERROR_BODY_LIMIT: usize = 4096;

/// A chat-completions client for one model on one server.
pub struct OpenAiEngine {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for OpenAiEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEngine")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl OpenAiEngine {
    /// `base_url` is the API root, e.g. `http://localhost:11434/v1` or
    /// `https://api.openai.com/v1`; `api_key`, when given, is sent as a bearer token.
    pub fn new(base_url: &str, model: impl Into<String>, api_key: Option<String>) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| LlmError::Backend(Box::new(e)))?;
        let base = base_url.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LlmError::Unavailable(format!(
                "the language-model base URL must start with http:// or https:// (got {base:?})"
            )));
        }
        Ok(Self {
            client,
            url: format!("{base}/chat/completions"),
            model: model.into(),
            api_key: api_key.filter(|k| !k.trim().is_empty()),
        })
    }

    /// The request body sent for `req` (exposed for tests and logs).
    pub fn request_body(&self, req: &ChatRequest) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": req.messages.iter().map(wire_message).collect::<Vec<_>>(),
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
        });
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters,
                    }})
                })
                .collect();
            body["tool_choice"] = json!("auto");
        }
        body
    }

    fn scrub(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) if key.len() >= 4 => text.replace(key.as_str(), "<redacted>"),
            _ => text.to_string(),
        }
    }
}

fn wire_message(m: &ChatMessage) -> Value {
    match m.role {
        Role::System => json!({"role": "system", "content": m.content}),
        Role::User => json!({"role": "user", "content": m.content}),
        Role::Assistant if m.tool_calls.is_empty() => json!({"role": "assistant", "content": m.content}),
        Role::Assistant => json!({
            "role": "assistant",
            "content": if m.content.is_empty() { Value::Null } else { json!(m.content) },
            "tool_calls": m.tool_calls.iter().map(|c| json!({
                "id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            })).collect::<Vec<_>>(),
        }),
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.as_deref().unwrap_or_default(),
            "content": m.content,
        }),
    }
}

fn map_reqwest(e: reqwest::Error, url: &str) -> LlmError {
    if e.is_connect() {
        // Refused, unresolvable, or a connect that timed out: unreachable.
        LlmError::Unavailable(format!("cannot reach the language model at {url}: {}", root_cause(&e)))
    } else if e.is_timeout() {
        LlmError::Timeout
    } else {
        LlmError::Backend(Box::new(e))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[async_trait]
impl LanguageModel for OpenAiEngine {
    fn info(&self) -> ModelInfo {
        ModelInfo { engine: "openai".into(), model: self.model.clone(), ready: true, hint: None }
    }

    async fn chat(&self, req: ChatRequest) -> Result<LlmStream, LlmError> {
        let deadline = Instant::now() + req.timeout;
        let mut http = self.client.post(&self.url).json(&self.request_body(&req));
        if let Some(key) = &self.api_key {
            http = http.bearer_auth(key);
        }
        let resp = match timeout_at(deadline, http.send()).await {
            Err(_) => return Err(LlmError::Timeout),
            Ok(Err(e)) => return Err(map_reqwest(e, &self.url)),
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        if !status.is_success() {
            let body = timeout_at(deadline, read_limited(resp, ERROR_BODY_LIMIT)).await.unwrap_or_default();
            let detail = error_message(&body);
            let detail = self.scrub(&detail);
            return Err(LlmError::Protocol(if detail.is_empty() {
                format!("HTTP {status} from {}", self.url)
            } else {
                format!("HTTP {status} from {}: {detail}", self.url)
            }));
        }
        let (tx, rx) = mpsc::channel(STREAM_CAPACITY);
        let url = self.url.clone();
        tokio::spawn(async move {
            if let Err(e) = pump(resp, &tx, deadline, &url).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(rx)
    }
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        buf.extend_from_slice(&chunk);
        if buf.len() >= limit {
            buf.truncate(limit);
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The `error.message` of an OpenAI-style error body, else the body's start.
fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let msg = v.pointer("/error/message").or_else(|| v.get("error")).or_else(|| v.get("message"));
        if let Some(Value::String(s)) = msg {
            return s.chars().take(300).collect();
        }
    }
    body.trim().chars().take(300).collect()
}

/// Reads the event stream to its end, sending events as they are complete.
/// Returns early (and quietly) when the receiver is dropped.
async fn pump(
    mut resp: reqwest::Response,
    tx: &mpsc::Sender<Result<LlmEvent, LlmError>>,
    deadline: Instant,
    url: &str,
) -> Result<(), LlmError> {
    let mut sse = SseParser::default();
    let mut state = StreamState::default();
    loop {
        let chunk = tokio::select! {
            _ = tx.closed() => return Ok(()),
            r = timeout_at(deadline, resp.chunk()) => match r {
                Err(_) => return Err(LlmError::Timeout),
                Ok(Err(e)) => return Err(map_reqwest(e, url)),
                Ok(Ok(c)) => c,
            },
        };
        let events = match &chunk {
            Some(bytes) => sse.push(bytes),
            None => sse.finish(),
        };
        if sse.overflowed() {
            return Err(LlmError::Protocol(format!("the model server sent a line longer than {MAX_EVENT} bytes")));
        }
        for data in events {
            if data == "[DONE]" {
                state.done = true;
                break;
            }
            for ev in state.apply(&data)? {
                if tx.send(Ok(ev)).await.is_err() {
                    return Ok(());
                }
            }
        }
        if state.done || chunk.is_none() {
            break;
        }
    }
    if !state.done && state.finish.is_none() {
        return Err(LlmError::Protocol("the event stream ended before the answer was complete".into()));
    }
    for ev in state.finish_events() {
        if tx.send(Ok(ev)).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Server-sent events: collects `data:` lines until a blank line ends the
/// event. Comments, `event:`, `id:` and `retry:` lines are ignored.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: Option<String>,
    /// A line or an event grew past [`MAX_EVENT`]: the stream is broken
    /// (or hostile) and is abandoned rather than buffered without end.
    overflow: bool,
}

/// Longest line or event accepted from a model server, in bytes: a streamed
/// delta is a few hundred bytes.
pub(crate) const MAX_EVENT: usize = 1 << 20;

impl SseParser {
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.line_done(&line, &mut out);
            } else if self.line.len() < MAX_EVENT {
                self.line.push(b);
            } else {
                self.overflow = true;
            }
        }
        if self.data.as_ref().is_some_and(|d| d.len() > MAX_EVENT) {
            self.overflow = true;
            self.data = None;
        }
        out
    }

    pub(crate) fn overflowed(&self) -> bool {
        self.overflow
    }

    pub(crate) fn finish(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            self.line_done(&line, &mut out);
        }
        out.extend(self.data.take());
        out
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<String>) {
        if line.is_empty() {
            out.extend(self.data.take());
            return;
        }
        let line = String::from_utf8_lossy(line);
        let Some(value) = line.strip_prefix("data:") else { return };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match &mut self.data {
            // Servers that omit the blank line between events: a complete
            // JSON value (or [DONE]) already pending is its own event.
            Some(pending) if pending == "[DONE]" || serde_json::from_str::<serde::de::IgnoredAny>(pending).is_ok() => {
                out.push(std::mem::replace(pending, value.to_string()));
            }
            Some(pending) => {
                pending.push('\n');
                pending.push_str(value);
            }
            None => self.data = Some(value.to_string()),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Joins the chunks of one streamed completion.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    calls: BTreeMap<usize, PartialCall>,
    finish: Option<FinishReason>,
    usage: Option<(u32, u32)>,
    done: bool,
}

impl StreamState {
    /// Applies one event's JSON; returns the text tokens it carries.
    pub(crate) fn apply(&mut self, data: &str) -> Result<Vec<LlmEvent>, LlmError> {
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| LlmError::Protocol(format!("unreadable stream chunk ({e}): {}", snippet(data))))?;
        if let Some(err) = chunk.error {
            let msg = err.get("message").and_then(Value::as_str).map_or_else(|| err.to_string(), str::to_string);
            return Err(LlmError::Protocol(format!("the model reported an error: {}", snippet(&msg))));
        }
        if let Some(u) = chunk.usage {
            self.usage = Some((u.prompt_tokens, u.completion_tokens));
        }
        let mut out = Vec::new();
        for choice in chunk.choices {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    out.push(LlmEvent::Token(text));
                }
                for d in delta.tool_calls.unwrap_or_default() {
                    self.apply_call_delta(d);
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(match reason.as_str() {
                    "tool_calls" | "function_call" => FinishReason::ToolCalls,
                    "length" => FinishReason::Length,
                    _ => FinishReason::Stop,
                });
            }
        }
        Ok(out)
    }

    fn apply_call_delta(&mut self, d: ToolCallDelta) {
        // Keyed by index; a server that omits it starts a new call whenever
        // a new id arrives.
        let index = match (d.index, &d.id) {
            (Some(i), _) => i,
            (None, Some(id)) => self
                .calls
                .iter()
                .find(|(_, c)| &c.id == id)
                .map(|(i, _)| *i)
                .unwrap_or_else(|| self.calls.keys().next_back().map_or(0, |i| i + 1)),
            (None, None) => self.calls.keys().next_back().copied().unwrap_or(0),
        };
        let call = self.calls.entry(index).or_default();
        if let Some(id) = d.id.filter(|s| !s.is_empty()) {
            call.id = id;
        }
        if let Some(f) = d.function {
            if let Some(name) = f.name.filter(|s| !s.is_empty()) {
                // Names arrive whole in the first delta; some servers repeat them.
                if !call.name.ends_with(&name) {
                    call.name.push_str(&name);
                }
            }
            match f.arguments {
                Some(Value::String(s)) => call.arguments.push_str(&s),
                Some(Value::Null) | None => {}
                Some(v) => call.arguments.push_str(&v.to_string()),
            }
        }
    }

    /// The tool calls (in index order) and the final `Done`.
    pub(crate) fn finish_events(&mut self) -> Vec<LlmEvent> {
        let calls = std::mem::take(&mut self.calls);
        let has_calls = !calls.is_empty();
        let mut out: Vec<LlmEvent> = calls
            .into_iter()
            .map(|(i, c)| {
                LlmEvent::ToolCall(ToolCall {
                    id: if c.id.is_empty() { format!("call_{i}") } else { c.id },
                    name: c.name,
                    arguments: if c.arguments.trim().is_empty() { "{}".into() } else { c.arguments },
                })
            })
            .collect();
        let finish = match self.finish {
            // Some servers say "stop" after tool calls.
            _ if has_calls => FinishReason::ToolCalls,
            Some(f) => f,
            None => FinishReason::Stop,
        };
        let (prompt_tokens, completion_tokens) = self.usage.unwrap_or((0, 0));
        out.push(LlmEvent::Done { finish, prompt_tokens, completion_tokens });
        out
    }
}

fn snippet(s: &str) -> String {
    let mut t: String = s.chars().take(200).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_lines_split_anywhere() {
        let raw = b"data: {\"a\":1}\r\n\r\n: keep-alive\n\nevent: x\ndata: {\"b\":\ndata: 2}\n\ndata: [DONE]\n\n";
        for n in [1, 2, 7, raw.len()] {
            let mut p = SseParser::default();
            let mut got = Vec::new();
            for c in raw.chunks(n) {
                got.extend(p.push(c));
            }
            got.extend(p.finish());
            assert_eq!(got, vec!["{\"a\":1}", "{\"b\":\n2}", "[DONE]"], "chunk size {n}");
        }
    }

    #[test]
    fn an_endless_line_is_refused_not_buffered() {
        let mut p = SseParser::default();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..(MAX_EVENT / chunk.len() + 2) {
            assert!(p.push(&chunk).is_empty());
        }
        assert!(p.overflowed());
        assert!(p.line.len() <= MAX_EVENT);
        // An event of many short lines, too.
        let mut p = SseParser::default();
        let line = format!("data: {}\n", "y".repeat(1000));
        for _ in 0..(MAX_EVENT / 1000 + 2) {
            p.push(line.as_bytes());
        }
        assert!(p.overflowed());
    }

    #[test]
    fn sse_without_blank_lines() {
        let mut p = SseParser::default();
        let mut got = p.push(b"data: {\"a\":1}\ndata: {\"b\":2}\ndata: [DONE]\n");
        got.extend(p.finish());
        assert_eq!(got, vec!["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
    }

    #[test]
    fn tool_call_deltas_join() {
        let mut s = StreamState::default();
        let chunks = [
            r#"{"choices":[{"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"get_time","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Paris\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"#,
        ];
        for c in chunks {
            assert!(s.apply(c).unwrap().is_empty());
        }
        assert_eq!(
            s.finish_events(),
            vec![
                LlmEvent::ToolCall(ToolCall {
                    id: "call_a".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city": "Paris"}"#.into()
                }),
                LlmEvent::ToolCall(ToolCall { id: "call_b".into(), name: "get_time".into(), arguments: "{}".into() }),
                LlmEvent::Done { finish: FinishReason::ToolCalls, prompt_tokens: 12, completion_tokens: 7 },
            ]
        );
    }

    #[test]
    fn wire_messages() {
        let call = ToolCall { id: "c1".into(), name: "f".into(), arguments: "{}".into() };
        assert_eq!(
            wire_message(&ChatMessage::assistant("", vec![call])),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]})
        );
        assert_eq!(
            wire_message(&ChatMessage::tool("c1", "42")),
            json!({"role": "tool", "tool_call_id": "c1", "content": "42"})
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(error_message(r#"{"error":{"message":"bad key","type":"x"}}"#), "bad key");
        assert_eq!(error_message(r#"{"error":"model not found"}"#), "model not found");
        assert_eq!(error_message("  oops \n"), "oops");
        let e = OpenAiEngine::new("http://x/v1/", "m", Some("sk-secret-1234".into())).unwrap();
        assert_eq!(e.url, "http://x/v1/chat/completions");
        assert_eq!(e.scrub("Incorrect API key provided: sk-secret-1234."), "Incorrect API key provided: <redacted>.");
        assert!(!format!("{e:?}").contains("sk-secret"));
        assert!(OpenAiEngine::new("localhost:11434", "m", None).is_err());
    }
}
