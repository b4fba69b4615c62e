//! Lenient reading of tool calls out of a local model's text.
//!
//! Small models are asked (by the chat template) to answer a tool call as
//! `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, but they also
//! write the JSON bare, inside a ```` ```json ```` fence, with `arguments` as a
//! JSON string, truncated, with trailing commas or Python literals. This module
//! accepts all of those. [`ToolCallFilter`] does it on a token stream: text
//! that is not a tool call is passed on at once, and only what might be the
//! start of one is held back.

use serde_json::Value;

/// A tool call read from model text; `arguments` is JSON text (or, when the
/// model's arguments could not be repaired into JSON, its raw text, so the
/// caller's validation reports the problem to the model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCall {
    pub name: String,
    pub arguments: String,
}

const OPEN_TAG: &str = "<tool_call>";
const CLOSE_TAG: &str = "</tool_call>";
const FENCE: &str = "```";

/// Reads one or more tool calls from `text`: JSON objects (or an array of
/// them), optionally fenced. Returns `None` when the text holds no call.
/// Text after the last readable call is ignored.
pub fn parse_tool_calls(text: &str) -> Option<Vec<ParsedCall>> {
    let body = strip_fence(text.trim());
    let mut calls = Vec::new();
    let mut parsed_any = false;
    let mut rest = body;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == ';');
        if !(rest.starts_with('{') || rest.starts_with('[')) {
            break;
        }
        let Some((value, used)) = read_value(rest) else { break };
        parsed_any = true;
        rest = &rest[used..];
        let before = calls.len();
        collect_calls(&value, &mut calls);
        if calls.len() == before {
            break;
        }
    }
    if calls.is_empty() {
        if parsed_any {
            return None;
        }
        // Broken beyond repair but clearly a call: keep the name so the model
        // gets an error about its arguments instead of a spoken JSON blob.
        salvage_call(body).map(|c| vec![c])
    } else {
        Some(calls)
    }
}

/// Drops a Markdown code fence around `s` (```` ```json ... ``` ````), if any.
fn strip_fence(s: &str) -> &str {
    let Some(after) = s.strip_prefix(FENCE) else { return s };
    // The info string (`json`) runs to the end of the first line.
    let body = match after.find('\n') {
        Some(i) => &after[i + 1..],
        None => after.trim_start_matches(|c: char| c.is_ascii_alphanumeric()),
    };
    match body.rfind(FENCE) {
        Some(i) => body[..i].trim(),
        None => body.trim(),
    }
}

/// Parses the JSON value at the start of `s`, repairing it if needed.
/// Returns the value and the number of bytes of `s` it spans.
fn read_value(s: &str) -> Option<(Value, usize)> {
    let mut stream = serde_json::Deserializer::from_str(s).into_iter::<Value>();
    if let Some(Ok(v)) = stream.next() {
        return Some((v, stream.byte_offset()));
    }
    let (repaired, used) = repair_json(s);
    serde_json::from_str::<Value>(&repaired).ok().map(|v| (v, used))
}

fn collect_calls(value: &Value, out: &mut Vec<ParsedCall>) {
    match value {
        Value::Array(items) => {
            for item in items {
                if let Some(c) = call_from_value(item) {
                    out.push(c);
                }
            }
        }
        other => {
            if let Some(c) = call_from_value(other) {
                out.push(c);
            }
        }
    }
}

const NAME_KEYS: [&str; 4] = ["name", "tool", "tool_name", "function"];
const ARG_KEYS: [&str; 5] = ["arguments", "parameters", "args", "input", "params"];

fn call_from_value(value: &Value) -> Option<ParsedCall> {
    let obj = value.as_object()?;
    // OpenAI's shape: {"type": "function", "function": {"name", "arguments"}}.
    if let Some(inner @ Value::Object(_)) = obj.get("function") {
        return call_from_value(inner);
    }
    let name =
        NAME_KEYS.iter().find_map(|k| obj.get(*k).and_then(Value::as_str)).map(str::trim).filter(|n| !n.is_empty())?;
    let args = ARG_KEYS.iter().find_map(|k| obj.get(*k));
    // Without an arguments key, only an object that holds nothing else is a
    // call ({"name": "list_products"}); {"name": "Ann", "age": 3} is data.
    if args.is_none() && obj.keys().any(|k| !matches!(k.as_str(), "name" | "type" | "id")) {
        return None;
    }
    Some(ParsedCall { name: name.to_string(), arguments: arguments_text(args) })
}

fn arguments_text(args: Option<&Value>) -> String {
    match args {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                return "{}".to_string();
            }
            match read_value(t) {
                Some((v, _)) if v.is_object() => v.to_string(),
                _ => s.clone(),
            }
        }
        Some(v) => v.to_string(),
    }
}

/// Last resort for a call whose JSON cannot be repaired: finds `"name": "x"`
/// and keeps the raw text after `"arguments":` as the arguments.
fn salvage_call(s: &str) -> Option<ParsedCall> {
    let name = string_after_key(s, "name")?;
    let arguments = ARG_KEYS
        .iter()
        .find_map(|k| raw_after_key(s, k))
        .map(|raw| {
            let raw = raw.trim().trim_end_matches('}').trim_end();
            // The object's own closing brace went with the trim above; give
            // the arguments theirs back when they open one.
            let opens = raw.matches('{').count();
            let closes = raw.matches('}').count();
            let mut a = raw.to_string();
            for _ in closes..opens {
                a.push('}');
            }
            a
        })
        .unwrap_or_else(|| "{}".to_string());
    Some(ParsedCall { name, arguments })
}

fn raw_after_key<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    for quote in ['"', '\''] {
        let pat = format!("{quote}{key}{quote}");
        if let Some(i) = s.find(&pat) {
            let rest = s[i + pat.len()..].trim_start().strip_prefix(':')?;
            return Some(rest);
        }
    }
    None
}

fn string_after_key(s: &str, key: &str) -> Option<String> {
    let rest = raw_after_key(s, key)?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &rest[1..];
    let end = body.find(quote)?;
    let name = body[..end].trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| name.to_string())
}

/// Repairs the JSON value at the start of `s` the way small models break it:
/// single quotes (when the text has no double quotes), Python's
/// `True`/`False`/`None`, trailing commas, and truncation (open strings,
/// objects and arrays are closed). Returns the repaired text of the first
/// value and how many bytes of `s` it used.
pub(crate) fn repair_json(s: &str) -> (String, usize) {
    let single_quoted = !s.contains('"');
    let mut out = String::with_capacity(s.len() + 8);
    let mut stack: Vec<char> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut used = s.len();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let c = if single_quoted && c == '\'' && !escaped { '"' } else { c };
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if c == '\n' {
                // A raw newline cannot be in a JSON string.
                out.pop();
                out.push_str("\\n");
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                stack.push(if c == '{' { '}' } else { ']' });
                out.push(c);
            }
            '}' | ']' => {
                drop_trailing_comma(&mut out);
                if stack.pop().is_none() {
                    used = i;
                    break;
                }
                out.push(c);
                if stack.is_empty() {
                    used = i + c.len_utf8();
                    break;
                }
            }
            c if c.is_ascii_alphabetic() => {
                let mut word = String::from(c);
                while let Some(&(_, n)) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        word.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push_str(match word.as_str() {
                    "True" => "true",
                    "False" => "false",
                    "None" => "null",
                    w => w,
                });
            }
            _ => out.push(c),
        }
    }
    if in_string {
        if escaped {
            out.pop();
        }
        out.push('"');
    }
    // A truncated `"key":` or `"key": ` gets a null value.
    let trimmed = out.trim_end();
    if trimmed.ends_with(':') {
        out.truncate(trimmed.len());
        out.push_str(" null");
    }
    while let Some(close) = stack.pop() {
        drop_trailing_comma(&mut out);
        out.push(close);
    }
    (out, used)
}

fn drop_trailing_comma(out: &mut String) {
    let trimmed = out.trim_end();
    if trimmed.ends_with(',') {
        let len = trimmed.len() - 1;
        out.truncate(len);
    }
}

/// What the filter passes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Call(ParsedCall),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing but whitespace seen yet.
    Start,
    Text,
    /// Inside `<tool_call>`; the buffer holds what follows the tag.
    Tag,
    /// Inside a code fence; the buffer starts with the fence.
    Fence,
    /// The output began with `{` or `[`: held whole until the end.
    WholeJson,
}

/// Splits a stream of model text into plain text and tool calls, holding
/// back only what might still turn into a tool call.
#[derive(Debug)]
pub struct ToolCallFilter {
    mode: Mode,
    buf: String,
    enabled: bool,
}

impl ToolCallFilter {
    /// `enabled = false` (no tools offered) passes all text through.
    pub fn new(enabled: bool) -> Self {
        Self { mode: Mode::Start, buf: String::new(), enabled }
    }

    /// Feeds the next piece of generated text.
    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        let mut out = Vec::new();
        if !self.enabled {
            if !text.is_empty() {
                out.push(Piece::Text(text.to_string()));
            }
            return out;
        }
        self.buf.push_str(text);
        self.advance(&mut out, false);
        out
    }

    /// The generation ended: flushes what was held back.
    pub fn finish(&mut self) -> Vec<Piece> {
        let mut out = Vec::new();
        if self.enabled {
            self.advance(&mut out, true);
        }
        out
    }

    fn advance(&mut self, out: &mut Vec<Piece>, end: bool) {
        loop {
            match self.mode {
                Mode::Start => {
                    let t = self.buf.trim_start();
                    if t.is_empty() {
                        if end {
                            self.buf.clear();
                        }
                        return;
                    }
                    let lead = self.buf.len() - t.len();
                    self.buf.drain(..lead);
                    self.mode = if self.buf.starts_with('{') || self.buf.starts_with('[') {
                        Mode::WholeJson
                    } else {
                        Mode::Text
                    };
                }
                Mode::Text => {
                    let tag = self.buf.find(OPEN_TAG);
                    let fence = self.buf.find(FENCE);
                    let (at, next) = match (tag, fence) {
                        (Some(t), Some(f)) if f < t => (f, Mode::Fence),
                        (Some(t), _) => (t, Mode::Tag),
                        (None, Some(f)) => (f, Mode::Fence),
                        (None, None) => {
                            let keep = if end { 0 } else { partial_marker_len(&self.buf) };
                            let emit = self.buf.len() - keep;
                            emit_text(out, self.buf.drain(..emit).collect());
                            return;
                        }
                    };
                    emit_text(out, self.buf.drain(..at).collect());
                    if next == Mode::Tag {
                        self.buf.drain(..OPEN_TAG.len());
                    }
                    self.mode = next;
                }
                Mode::Tag => {
                    // The call ends at its closing tag, at the next opening
                    // tag (a forgotten close), or at the end of output.
                    let close = self.buf.find(CLOSE_TAG).map(|i| (i, CLOSE_TAG.len()));
                    let reopen = self.buf.find(OPEN_TAG).map(|i| (i, 0));
                    let stop = match (close, reopen) {
                        (Some(c), Some(r)) => Some(if r.0 < c.0 { r } else { c }),
                        (c, r) => c.or(r),
                    };
                    let (inner, skip) = match stop {
                        Some((i, skip)) => (self.buf[..i].to_string(), i + skip),
                        None if end => {
                            let mut inner = self.buf.clone();
                            // A close tag cut off by the token limit.
                            if let Some(i) = inner.rfind("</")
                                && CLOSE_TAG.starts_with(&inner[i..])
                            {
                                inner.truncate(i);
                            }
                            let len = self.buf.len();
                            (inner, len)
                        }
                        None => return,
                    };
                    self.buf.drain(..skip);
                    match parse_tool_calls(&inner) {
                        Some(calls) => out.extend(calls.into_iter().map(Piece::Call)),
                        None => emit_text(out, inner.trim().to_string()),
                    }
                    // Whitespace between or after calls is markup, not text.
                    self.mode = Mode::Start;
                }
                Mode::Fence => {
                    let body_start = match self.buf[FENCE.len()..].find('\n') {
                        Some(i) => FENCE.len() + i + 1,
                        None if end => self.buf.len(),
                        None => return,
                    };
                    let (block_end, done) = match self.buf[body_start..].find(FENCE) {
                        Some(i) => (body_start + i + FENCE.len(), true),
                        None if end => (self.buf.len(), true),
                        None => return,
                    };
                    debug_assert!(done);
                    let block: String = self.buf.drain(..block_end).collect();
                    match parse_tool_calls(&block).filter(|_| looks_like_call(&block)) {
                        Some(calls) => {
                            out.extend(calls.into_iter().map(Piece::Call));
                            self.mode = Mode::Start;
                        }
                        None => {
                            emit_text(out, block);
                            self.mode = Mode::Text;
                        }
                    }
                }
                Mode::WholeJson => {
                    if !end {
                        return;
                    }
                    let text = std::mem::take(&mut self.buf);
                    match parse_tool_calls(&text) {
                        Some(calls) => out.extend(calls.into_iter().map(Piece::Call)),
                        None => emit_text(out, text),
                    }
                    self.mode = Mode::Text;
                    return;
                }
            }
        }
    }
}

/// A fenced block is read as a call only when it is JSON (not, say, a
/// Python snippet that happens to mention "name").
fn looks_like_call(block: &str) -> bool {
    let body = strip_fence(block.trim());
    body.starts_with('{') || body.starts_with('[')
}

fn emit_text(out: &mut Vec<Piece>, text: String) {
    if text.is_empty() {
        return;
    }
    if let Some(Piece::Text(last)) = out.last_mut() {
        last.push_str(&text);
    } else {
        out.push(Piece::Text(text));
    }
}

/// Length of the longest suffix of `s` that could begin a tool-call tag or a
/// fence, and so must wait for more text.
fn partial_marker_len(s: &str) -> usize {
    let mut best = 0;
    for marker in [OPEN_TAG, FENCE] {
        for n in 1..marker.len() {
            if n > s.len() {
                break;
            }
            if s.is_char_boundary(s.len() - n) && s.ends_with(&marker[..n]) {
                best = best.max(n);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &str) -> ParsedCall {
        ParsedCall { name: name.into(), arguments: args.into() }
    }

    fn one(text: &str) -> ParsedCall {
        let calls = parse_tool_calls(text).unwrap_or_else(|| panic!("no call in {text:?}"));
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls.into_iter().next().unwrap()
    }

    /// Runs `text` through the filter split into chunks of `n` chars.
    fn filter(text: &str, n: usize) -> Vec<Piece> {
        let mut f = ToolCallFilter::new(true);
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::new();
        for chunk in chars.chunks(n) {
            let s: String = chunk.iter().collect();
            for p in f.push(&s) {
                merge(&mut out, p);
            }
        }
        for p in f.finish() {
            merge(&mut out, p);
        }
        out
    }

    fn merge(out: &mut Vec<Piece>, p: Piece) {
        match (out.last_mut(), p) {
            (Some(Piece::Text(a)), Piece::Text(b)) => a.push_str(&b),
            (_, p) => out.push(p),
        }
    }

    fn text(s: &str) -> Piece {
        Piece::Text(s.into())
    }

    #[test]
    fn plain_object() {
        assert_eq!(
            one(r#"{"name": "get_weather", "arguments": {"city": "Paris"}}"#),
            call("get_weather", r#"{"city":"Paris"}"#)
        );
    }

    #[test]
    fn arguments_as_json_string() {
        assert_eq!(
            one(r#"{"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}"#),
            call("get_weather", r#"{"city":"Paris"}"#)
        );
    }

    #[test]
    fn arguments_as_non_json_string_kept_raw() {
        assert_eq!(one(r#"{"name": "f", "arguments": "city=Paris"}"#), call("f", "city=Paris"));
    }

    #[test]
    fn fenced_json() {
        let t = "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```";
        assert_eq!(one(t), call("get_weather", r#"{"city":"Paris"}"#));
        let t = "```\n{\"name\": \"f\", \"arguments\": {}}\n```";
        assert_eq!(one(t), call("f", "{}"));
    }

    #[test]
    fn parameters_and_openai_shapes() {
        assert_eq!(one(r#"{"name": "f", "parameters": {"a": 1}}"#), call("f", r#"{"a":1}"#));
        assert_eq!(
            one(r#"{"type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}"#),
            call("f", r#"{"a":1}"#)
        );
        assert_eq!(one(r#"{"name": "list_products"}"#), call("list_products", "{}"));
    }

    #[test]
    fn several_calls() {
        let t = "{\"name\": \"a\", \"arguments\": {}}\n{\"name\": \"b\", \"arguments\": {\"x\": 2}}";
        assert_eq!(parse_tool_calls(t).unwrap(), vec![call("a", "{}"), call("b", r#"{"x":2}"#)]);
        let t = r#"[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]"#;
        assert_eq!(parse_tool_calls(t).unwrap().len(), 2);
    }

    #[test]
    fn repairs_truncation_trailing_commas_and_python() {
        assert_eq!(
            one(r#"{"name": "get_weather", "arguments": {"city": "Par"#),
            call("get_weather", r#"{"city":"Par"}"#)
        );
        assert_eq!(one(r#"{"name": "f", "arguments": {"a": 1,},}"#), call("f", r#"{"a":1}"#));
        let c = one("{'name': 'f', 'arguments': {'ok': True, 'n': None}}");
        assert_eq!(c.name, "f");
        let args: Value = serde_json::from_str(&c.arguments).unwrap();
        assert_eq!(args, serde_json::json!({"ok": true, "n": null}));
        assert_eq!(one(r#"{"name": "f", "arguments": {"a":"#), call("f", r#"{"a":null}"#));
    }

    #[test]
    fn trailing_garbage_ignored() {
        assert_eq!(one("{\"name\": \"f\", \"arguments\": {}}}\n</tool_call>"), call("f", "{}"));
        assert_eq!(one("{\"name\": \"f\", \"arguments\": {}} I called it."), call("f", "{}"));
    }

    #[test]
    fn salvages_name_from_unrepairable_json() {
        let c = one(r#"{"name": "get_weather", "arguments": {city: Paris}}"#);
        assert_eq!(c.name, "get_weather");
        assert_eq!(c.arguments, "{city: Paris}");
        assert!(serde_json::from_str::<Value>(&c.arguments).is_err());
    }

    #[test]
    fn not_calls() {
        for t in [
            "",
            "Hello there",
            "{}",
            r#"{"answer": 42}"#,
            r#"{"name": "Ann", "age": 3}"#,
            r#"{"name": "", "arguments": {}}"#,
            "[1, 2, 3]",
            "The name is Bob.",
        ] {
            assert_eq!(parse_tool_calls(t), None, "{t:?}");
        }
    }

    #[test]
    fn filter_plain_text_passes_through() {
        for n in [1, 3, 100] {
            assert_eq!(filter("Paris is sunny today.", n), vec![text("Paris is sunny today.")]);
        }
    }

    #[test]
    fn filter_streams_text_early() {
        let mut f = ToolCallFilter::new(true);
        assert_eq!(f.push("Hello"), vec![text("Hello")]);
        assert_eq!(f.push(" world <"), vec![text(" world ")]);
        assert_eq!(f.push("b>"), vec![text("<b>")]);
        assert_eq!(f.push(" `x` "), vec![text(" `x` ")]);
        assert_eq!(f.push("a ``"), vec![text("a ")]);
        assert_eq!(f.finish(), vec![text("``")]);
    }

    #[test]
    fn filter_tagged_call_between_text() {
        let t = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        for n in [1, 2, 5, 1000] {
            assert_eq!(
                filter(t, n),
                vec![text("Let me check.\n"), Piece::Call(call("get_weather", r#"{"city":"Paris"}"#))]
            );
        }
    }

    #[test]
    fn filter_two_tagged_calls_and_unclosed_tag() {
        let t = "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"q\": \"x\"}}";
        for n in [1, 4, 1000] {
            assert_eq!(filter(t, n), vec![Piece::Call(call("a", "{}")), Piece::Call(call("b", r#"{"q":"x"}"#))]);
        }
        // Forgotten close tag before the next call, and a close cut short.
        let t = "<tool_call>{\"name\": \"a\", \"arguments\": {}}<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_";
        assert_eq!(filter(t, 3), vec![Piece::Call(call("a", "{}")), Piece::Call(call("b", "{}"))]);
    }

    #[test]
    fn filter_bare_and_fenced_whole_output() {
        let t = "  {\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Paris\\\"}\"}";
        assert_eq!(filter(t, 2), vec![Piece::Call(call("get_weather", r#"{"city":"Paris"}"#))]);
        let t = "```json\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n```";
        assert_eq!(filter(t, 2), vec![Piece::Call(call("f", r#"{"a":1}"#))]);
        let t = "Sure:\n```json\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n```\n";
        assert_eq!(filter(t, 3), vec![text("Sure:\n"), Piece::Call(call("f", r#"{"a":1}"#))]);
    }

    #[test]
    fn filter_json_or_code_that_is_not_a_call_becomes_text() {
        let t = r#"{"answer": "yes"}"#;
        assert_eq!(filter(t, 2), vec![text(t)]);
        let t = "Run this:\n```python\nprint({\"name\": 1})\n```\nDone.";
        assert_eq!(filter(t, 3), vec![text(t)]);
        let t = "<tool_call>I am not sure</tool_call>";
        assert_eq!(filter(t, 3), vec![text("I am not sure")]);
    }

    #[test]
    fn filter_disabled_passes_markup() {
        let mut f = ToolCallFilter::new(false);
        assert_eq!(f.push("<tool_call>{}"), vec![text("<tool_call>{}")]);
        assert_eq!(f.finish(), vec![]);
    }

    #[test]
    fn filter_multibyte_text() {
        assert_eq!(filter("Grüße, café ☕ <b", 1), vec![text("Grüße, café ☕ <b")]);
    }

    #[test]
    fn repair_reports_span() {
        let (v, used) = repair_json("{\"a\": [1, 2,]} tail");
        assert_eq!(v, "{\"a\": [1, 2]}");
        assert_eq!(used, "{\"a\": [1, 2,]}".len());
    }
}
