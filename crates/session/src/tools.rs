//! The agent's own tools (knowledge search, asking a human) and the toolbox
//! that dispatches every tool call, the business's included.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use switchboard_core::help::{HistoryTurn, NewHelpRequest};
use switchboard_core::llm::{ToolCall, ToolSpec};
use switchboard_core::ports::KnowledgeIndex;
use switchboard_core::session::HelpDesk;
use switchboard_core::tool::{Tool, ToolContext, ToolError};

/// Every tool the model may call, by name.
#[derive(Clone, Default)]
pub struct Toolbox {
    tools: Vec<Arc<dyn Tool>>,
    timeout: Option<Duration>,
}

/// Longest a tool may run before its call fails.
const TOOL_TIMEOUT: Duration = Duration::from_secs(10);

impl Toolbox {
    pub fn new(tools: Vec<Arc<dyn Tool>>) -> Self {
        Self { tools, timeout: None }
    }

    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|t| t.spec()).collect()
    }

    /// The specs relevant to `text`: the business tools whose subject the
    /// caller names (appointments, orders, returns, products, policies), plus
    /// the agent's own tools; all of them when no subject is named. A small
    /// model picks the right tool far more often from four than from
    /// seventeen, and the prompt is shorter.
    pub fn specs_for(&self, text: &str) -> Vec<ToolSpec> {
        let words: Vec<String> = text
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let has = |list: &[&str]| words.iter().any(|w| list.iter().any(|l| w.starts_with(l)));
        let mut subjects: Vec<&str> = Vec::new();
        if has(&["book", "appointment", "schedul", "reschedul", "availab", "slot", "cancel", "move", "free"]) {
            subjects.extend(["appointment", "availability", "customer"]);
        }
        if has(&["order", "track", "deliver", "ship", "parcel", "package"]) {
            subjects.push("order");
        }
        if has(&["return", "refund", "exchange"]) {
            subjects.extend(["return", "order"]);
        }
        if has(&["product", "buy", "stock", "sell", "price"]) {
            subjects.push("product");
        }
        if has(&["policy", "policies", "deposit", "late", "privacy"]) {
            subjects.push("policy");
        }
        let all = self.specs();
        if subjects.is_empty() {
            return all;
        }
        all.into_iter()
            .filter(|s| {
                // The knowledge base was searched before the model ran (the
                // evidence is in the message): offering the search again
                // only lets a small model call it instead of acting.
                s.name == "request_help" || subjects.iter().any(|subj| s.name.contains(subj))
            })
            .collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.tools.iter().map(|t| t.spec().name).collect()
    }

    /// Runs one call. Whatever goes wrong (unknown tool, arguments that are
    /// not JSON, a tool error or timeout) comes back as an error value for the
    /// model to read.
    pub async fn call(&self, ctx: &ToolContext, call: &ToolCall) -> Result<Value, ToolError> {
        let tool = self
            .tools
            .iter()
            .find(|t| t.spec().name == call.name)
            .ok_or_else(|| ToolError::UnknownTool(call.name.clone()))?;
        let args = parse_arguments(&call.arguments)?;
        match tokio::time::timeout(self.timeout.unwrap_or(TOOL_TIMEOUT), tool.call(ctx, args)).await {
            Ok(r) => r,
            Err(_) => Err(ToolError::Failed(format!("{} took too long", call.name))),
        }
    }
}

/// Small models send arguments as an object, as a JSON string holding one,
/// wrapped in a code fence, or not at all.
pub(crate) fn parse_arguments(raw: &str) -> Result<Value, ToolError> {
    let t = raw.trim();
    let t = t.strip_prefix("```json").or_else(|| t.strip_prefix("```")).unwrap_or(t);
    let t = t.strip_suffix("```").unwrap_or(t).trim();
    if t.is_empty() {
        return Ok(Value::Null);
    }
    let v: Value = serde_json::from_str(t)
        .map_err(|e| ToolError::InvalidArguments(format!("arguments are not valid JSON: {e}")))?;
    match v {
        Value::String(inner) => serde_json::from_str(&inner)
            .map_err(|e| ToolError::InvalidArguments(format!("arguments are not valid JSON: {e}"))),
        Value::Object(_) | Value::Null => Ok(v),
        _ => Err(ToolError::InvalidArguments("arguments must be a JSON object".into())),
    }
}

fn string_arg(args: &Value, name: &str, max: usize) -> Result<Option<String>, ToolError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(ToolError::InvalidArguments(format!("{name} must be at most {max} characters")))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(ToolError::InvalidArguments(format!("{name} must be a string"))),
    }
}

fn check_known(args: &Value, known: &[&str]) -> Result<(), ToolError> {
    match args {
        Value::Null => Ok(()),
        Value::Object(m) => match m.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ToolError::InvalidArguments(format!("unknown argument {k}; expected {}", known.join(", ")))),
            None => Ok(()),
        },
        _ => Err(ToolError::InvalidArguments("arguments must be a JSON object".into())),
    }
}

/// `search_knowledge_base`: the model looks something up itself.
pub struct SearchKnowledgeTool {
    index: Arc<dyn KnowledgeIndex>,
}

impl SearchKnowledgeTool {
    pub fn new(index: Arc<dyn KnowledgeIndex>) -> Self {
        Self { index }
    }
}

#[async_trait]
impl Tool for SearchKnowledgeTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "search_knowledge_base".into(),
            description: "Search the business's knowledge base (answers and website pages).".into(),
            parameters: json!({
                "type": "object",
                "properties": {"query": {"type": "string", "description": "what to look up"}},
                "required": ["query"]
            }),
        }
    }

    async fn call(&self, _ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        check_known(&args, &["query"])?;
        let query =
            string_arg(&args, "query", 500)?.ok_or_else(|| ToolError::InvalidArguments("query is required".into()))?;
        let hits = self.index.search(&query, 3).await.map_err(|e| ToolError::Failed(e.to_string()))?;
        let results: Vec<Value> = hits
            .iter()
            .map(|h| json!({"title": h.doc.question, "text": h.doc.answer, "url": h.doc.url, "score": h.score}))
            .collect();
        Ok(json!({ "results": results }))
    }
}

/// `request_help`: hand the question to a human supervisor.
pub struct RequestHelpTool {
    desk: Arc<dyn HelpDesk>,
    channel: &'static str,
}

impl RequestHelpTool {
    pub fn new(desk: Arc<dyn HelpDesk>) -> Self {
        Self { desk, channel: "agent" }
    }

    /// Opens a help request for `question` on behalf of the session in `ctx`.
    pub async fn open(&self, ctx: &ToolContext, question: &str, history: Vec<HistoryTurn>) -> Result<Value, ToolError> {
        self.open_with(ctx, question, history, false).await
    }

    async fn open_with(
        &self,
        ctx: &ToolContext,
        question: &str,
        history: Vec<HistoryTurn>,
        contact_unconfirmed: bool,
    ) -> Result<Value, ToolError> {
        let request = self
            .desk
            .open(NewHelpRequest {
                customer_name: ctx.caller_name.clone().unwrap_or_else(|| "Caller".into()),
                // The session's channel; `agent` when none is known.
                channel: ctx.channel.clone().unwrap_or_else(|| self.channel.into()),
                question: question.to_string(),
                customer_contact: ctx.caller_contact.clone(),
                session_id: ctx.session_id.map(|s| s.to_string()),
                history,
                contact_unconfirmed,
            })
            .await
            .map_err(|e| ToolError::Failed(e.to_string()))?;
        Ok(json!({
            "opened": true,
            "request_id": request.id,
            "message": "A supervisor has been asked. Tell the caller you will check with a colleague and get back to them."
        }))
    }
}

#[async_trait]
impl Tool for RequestHelpTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "request_help".into(),
            description: "Ask a human supervisor when the answer is not in the evidence.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"question": {"type": "string", "description": "the caller's question"}},
                "required": ["question"]
            }),
        }
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> Result<Value, ToolError> {
        check_known(&args, &["question", "caller_name", "caller_contact"])?;
        let question = string_arg(&args, "question", 2_000)?
            .ok_or_else(|| ToolError::InvalidArguments("question is required".into()))?;
        let mut ctx = ctx.clone();
        if ctx.caller_name.is_none() {
            ctx.caller_name = string_arg(&args, "caller_name", 120)?;
        }
        // A contact from the model's arguments is only what the caller said:
        // no follow-up goes to it until a supervisor confirms it.
        let mut unconfirmed = false;
        if ctx.caller_contact.is_none() {
            ctx.caller_contact = string_arg(&args, "caller_contact", 200)?;
            unconfirmed = ctx.caller_contact.is_some();
        }
        self.open_with(&ctx, &question, Vec::new(), unconfirmed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_arguments() {
        assert_eq!(parse_arguments(r#"{"a":1}"#).unwrap(), json!({"a":1}));
        assert_eq!(parse_arguments(r#""{\"a\":1}""#).unwrap(), json!({"a":1}));
        assert_eq!(parse_arguments("```json\n{\"a\":1}\n```").unwrap(), json!({"a":1}));
        assert_eq!(parse_arguments("  ").unwrap(), Value::Null);
        assert!(matches!(parse_arguments("{a:1"), Err(ToolError::InvalidArguments(_))));
        assert!(matches!(parse_arguments("[1]"), Err(ToolError::InvalidArguments(_))));
    }

    #[test]
    fn string_args_are_checked() {
        assert!(check_known(&json!({"query":"x","extra":1}), &["query"]).is_err());
        assert!(string_arg(&json!({"q": 5}), "q", 10).is_err());
        assert!(string_arg(&json!({"q": "x".repeat(11)}), "q", 10).is_err());
        assert_eq!(string_arg(&json!({"q": " hi "}), "q", 10).unwrap().as_deref(), Some("hi"));
    }
}
