//! Tool calls constrained by a grammar: the offered tools' JSON schemas as
//! GBNF (llama.cpp's grammar format), so a call the embedded model makes is
//! valid JSON for one of them.
//!
//! The grammar is *lazy*: nothing is constrained until the output matches
//! one of [`TRIGGER_PATTERNS`] (a `<tool_call>` tag anywhere, or a JSON
//! object, bare or fenced, as the start of the answer), so the model stays
//! free to answer in words. From the trigger on, only
//! `<tool_call>{"name": <offered tool>, "arguments": {...}}</tool_call>`
//! (up to four of them) or the bare object may follow.
//!
//! Arguments follow the tool's schema: the object's properties in schema
//! order, required ones present, optional ones optional, no others; values
//! of type string, integer, number, boolean, null, `enum`/`const`, unions of
//! those (`"type": [...]`) and arrays of them. Anything else (nested
//! objects, `anyOf`, `$ref`, ...) falls back to any JSON value (an object
//! for `"type": "object"`); length and format limits are not enforced.
//! Whatever the grammar lets through is still read by `tool_parse` and
//! validated by the tool.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use switchboard_core::llm::ToolSpec;

/// Where the lazy grammar starts (ECMAScript regexes searched in the
/// output; the constrained text starts at the first capture group, else at
/// the match).
pub const TRIGGER_PATTERNS: &[&str] = &["<tool_call>", r"^\s*(\{)", r"^\s*```(?:json)?\s*(\{)"];

/// At most this many calls in one answer.
const MAX_CALLS: usize = 4;

/// The grammar (root rule `root`) of tool calls for `tools`, to run lazily
/// with [`TRIGGER_PATTERNS`]; `None` without tools.
pub fn tool_call_grammar(tools: &[ToolSpec]) -> Option<String> {
    if tools.is_empty() {
        return None;
    }
    let mut g = Gbnf::default();
    let alts: Vec<String> = tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let name = format!("tool-{i}");
            let args = g.arguments(&tool.parameters, &format!("{name}-args"));
            g.rule(
                &name,
                format!(
                    "{} ws \",\" ws \"\\\"arguments\\\"\" ws \":\" ws {args} ws",
                    json_literal(&tool.name.clone().into())
                ),
            )
        })
        .collect();
    let mut out = String::new();
    out.push_str("root ::= tagged | bare\n");
    let _ = writeln!(out, "tagged ::= call ( ws call ){{0,{}}} ws", MAX_CALLS - 1);
    out.push_str("call ::= \"<tool_call>\" ws call-json ws \"</tool_call>\"\n");
    out.push_str("bare ::= call-json ( ws \"```\" )?\n");
    let _ = writeln!(out, "call-json ::= \"{{\" ws \"\\\"name\\\"\" ws \":\" ws ( {} ) \"}}\"", alts.join(" | "));
    g.write(&mut out);
    Some(out)
}

/// A grammar (root rule `root`) for one JSON value of `schema`, with the
/// same rules as a tool's arguments: for constraining a whole answer to a
/// schema (an explicit `ChatRequest::grammar`).
pub fn schema_grammar(schema: &Value) -> String {
    let mut g = Gbnf::default();
    let root = if is_object_schema(schema) { g.arguments(schema, "root-obj") } else { g.value(schema, "root-val") };
    let mut out = format!("root ::= ws {root} ws\n");
    g.write(&mut out);
    out
}

/// Rules shared by every grammar here: JSON, with bounded whitespace.
const JSON_RULES: &str = r#"value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}"
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
string ::= "\"" char* "\""
char ::= [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
number ::= integer ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
boolean ::= "true" | "false"
null ::= "null"
ws ::= | " " | "\n"{1,2} [ \t]{0,20}
"#;

#[derive(Default)]
struct Gbnf {
    rules: Vec<(String, String)>,
}

impl Gbnf {
    /// Adds `name ::= body`; returns `name`.
    fn rule(&mut self, name: &str, body: String) -> String {
        self.rules.push((name.to_string(), body));
        name.to_string()
    }

    fn write(&self, out: &mut String) {
        for (name, body) in &self.rules {
            let _ = writeln!(out, "{name} ::= {body}");
        }
        out.push_str(JSON_RULES);
    }

    /// A tool's arguments: an object with the schema's properties, else
    /// any object.
    fn arguments(&mut self, schema: &Value, name: &str) -> String {
        match schema.get("properties") {
            Some(Value::Object(props)) if is_object_schema(schema) => {
                let required: Vec<&str> = match schema.get("required") {
                    Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                self.object(props, &required, name)
            }
            _ => "object".into(),
        }
    }

    /// `{...}` with `props` in order: required ones always, the others
    /// optional; commas only between members.
    fn object(&mut self, props: &Map<String, Value>, required: &[&str], name: &str) -> String {
        let members: Vec<(String, bool)> = props
            .iter()
            .enumerate()
            .map(|(j, (key, schema))| {
                let value = self.value(schema, &format!("{name}-{j}"));
                let kv = self.rule(
                    &format!("{name}-kv{j}"),
                    format!("{} ws \":\" ws {value} ws", json_literal(&Value::String(key.clone()))),
                );
                (kv, required.contains(&key.as_str()))
            })
            .collect();
        // After a first member, each later one is preceded by a comma, and
        // optional ones may be skipped.
        let after = |from: usize| -> String {
            members[from..]
                .iter()
                .map(|(kv, req)| if *req { format!(" \",\" ws {kv}") } else { format!(" ( \",\" ws {kv} )?") })
                .collect()
        };
        // The first member written is any optional one before the first
        // required one, or that required one.
        let mut alts = Vec::new();
        let mut any_required = false;
        for (i, (kv, req)) in members.iter().enumerate() {
            alts.push(format!("{kv}{}", after(i + 1)));
            if *req {
                any_required = true;
                break;
            }
        }
        let body = match (alts.is_empty(), any_required) {
            (true, _) => String::new(),
            (false, true) => format!("( {} ) ", alts.join(" | ")),
            (false, false) => format!("( {} )? ", alts.join(" | ")),
        };
        self.rule(name, format!("\"{{\" ws {body}\"}}\""))
    }

    /// One property's value.
    fn value(&mut self, schema: &Value, name: &str) -> String {
        let Some(o) = schema.as_object() else { return "value".into() };
        if let Some(c) = o.get("const") {
            return json_literal(c);
        }
        if let Some(Value::Array(options)) = o.get("enum")
            && !options.is_empty()
        {
            let alts: Vec<String> = options.iter().map(json_literal).collect();
            return self.rule(name, alts.join(" | "));
        }
        match o.get("type") {
            Some(Value::String(t)) => self.typed(t, o, name),
            Some(Value::Array(types)) if !types.is_empty() => {
                let alts: Option<Vec<String>> = types
                    .iter()
                    .enumerate()
                    .map(|(k, t)| t.as_str().map(|t| self.typed(t, o, &format!("{name}-{k}"))))
                    .collect();
                match alts {
                    Some(alts) => self.rule(name, alts.join(" | ")),
                    None => "value".into(),
                }
            }
            _ => "value".into(),
        }
    }

    fn typed(&mut self, t: &str, o: &Map<String, Value>, name: &str) -> String {
        match t {
            "string" | "integer" | "number" | "boolean" | "null" => t.into(),
            "array" => match o.get("items") {
                Some(items @ Value::Object(_)) => {
                    let item = self.value(items, &format!("{name}-item"));
                    self.rule(name, format!("\"[\" ws ( {item} ws ( \",\" ws {item} ws )* )? \"]\""))
                }
                _ => "array".into(),
            },
            // Nested objects: any object.
            "object" => "object".into(),
            _ => "value".into(),
        }
    }
}

fn is_object_schema(schema: &Value) -> bool {
    match schema.get("type") {
        None => schema.get("properties").is_some(),
        Some(t) => t == "object",
    }
}

/// `v` as JSON text, as a GBNF string literal.
fn json_literal(v: &Value) -> String {
    gbnf_literal(&v.to_string())
}

/// `s` as a GBNF string literal.
fn gbnf_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use llama_cpp_2::model::LlamaModel;
    use llama_cpp_2::model::params::LlamaModelParams;
    use llama_cpp_2::sampling::LlamaSampler;
    use llama_cpp_2::token::data::LlamaTokenData;
    use llama_cpp_2::token::data_array::LlamaTokenDataArray;
    use serde_json::json;

    use super::*;

    fn tool(name: &str, parameters: Value) -> ToolSpec {
        ToolSpec { name: name.into(), description: String::new(), parameters }
    }

    // Property names are in alphabetical order, so the tests hold whether
    // or not serde_json keeps insertion order (feature `preserve_order`).
    fn booking() -> Value {
        json!({
            "type": "object",
            "properties": {
                "caller": {"type": "string", "description": "default: the caller"},
                "date": {"type": "string"},
                "deposit": {"type": ["number", "null"]},
                "notes": {"type": "array", "items": {"type": "string"}},
                "party": {"type": "integer"},
                "reminder": {"type": "boolean"},
                "service": {"type": "string"},
                "slot": {"enum": ["morning", "afternoon"]},
            },
            "required": ["date", "service"],
        })
    }

    fn nested() -> Value {
        json!({
            "type": "object",
            "properties": {
                "address": {"type": "object", "properties": {"street": {"type": "string"}}, "required": ["street"]},
                "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "order_id": {"type": "string"},
            },
            "required": ["order_id", "address"],
        })
    }

    #[test]
    fn literals_are_escaped() {
        assert_eq!(gbnf_literal(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(gbnf_literal("x\ny\u{1}é"), r#""x\ny\x01é""#);
        assert_eq!(json_literal(&json!("Paris")), r#""\"Paris\"""#);
        assert_eq!(json_literal(&json!(3)), r#""3""#);
    }

    #[test]
    fn required_and_optional_properties() {
        let g = tool_call_grammar(&[tool("book", booking())]).unwrap();
        // The optional caller may come first, else the required date; the
        // required service after it; the rest optional, in order.
        let obj = g.lines().find(|l| l.starts_with("tool-0-args ::=")).unwrap();
        assert_eq!(
            obj,
            concat!(
                r#"tool-0-args ::= "{" ws ( "#,
                r#"tool-0-args-kv0 "," ws tool-0-args-kv1 ( "," ws tool-0-args-kv2 )? ( "," ws tool-0-args-kv3 )? ( "," ws tool-0-args-kv4 )? ( "," ws tool-0-args-kv5 )? "," ws tool-0-args-kv6 ( "," ws tool-0-args-kv7 )?"#,
                r#" | tool-0-args-kv1 ( "," ws tool-0-args-kv2 )? ( "," ws tool-0-args-kv3 )? ( "," ws tool-0-args-kv4 )? ( "," ws tool-0-args-kv5 )? "," ws tool-0-args-kv6 ( "," ws tool-0-args-kv7 )?"#,
                r#" ) "}""#,
            )
        );
        assert!(g.contains(r#"tool-0-args-kv0 ::= "\"caller\"" ws ":" ws string ws"#), "{g}");
        assert!(g.contains("tool-0-args-2 ::= number | null"), "{g}");
        assert!(g.contains(r#"tool-0-args-3 ::= "[" ws ( string ws ( "," ws string ws )* )? "]""#), "{g}");
        assert!(g.contains(r#"tool-0-args-kv4 ::= "\"party\"" ws ":" ws integer ws"#), "{g}");
        assert!(g.contains(r#"tool-0-args-kv5 ::= "\"reminder\"" ws ":" ws boolean ws"#), "{g}");
        assert!(g.contains(r#"call-json ::= "{" ws "\"name\"" ws ":" ws ( tool-0 ) "}""#), "{g}");
        assert!(g.contains(r#"tool-0 ::= "\"book\"" ws "," ws "\"arguments\"" ws ":" ws tool-0-args ws"#), "{g}");

        // No required property: the whole body is optional.
        let g = tool_call_grammar(&[tool("t", json!({"type": "object", "properties": {"a": {"type": "string"}}}))])
            .unwrap();
        assert!(g.contains(r#"tool-0-args ::= "{" ws ( tool-0-args-kv0 )? "}""#), "{g}");
        // No properties at all: `{}` only; no schema: any object.
        let g = tool_call_grammar(&[
            tool("a", json!({"type": "object", "properties": {}})),
            tool("b", json!({})),
            tool("c", Value::Null),
        ])
        .unwrap();
        assert!(g.contains(r#"tool-0-args ::= "{" ws "}""#), "{g}");
        assert!(g.contains(r#"tool-1 ::= "\"b\"" ws "," ws "\"arguments\"" ws ":" ws object ws"#), "{g}");
        assert!(g.contains(r#"tool-2 ::= "\"c\"" ws "," ws "\"arguments\"" ws ":" ws object ws"#), "{g}");
        assert!(g.contains("( tool-0 | tool-1 | tool-2 )"), "{g}");
        assert_eq!(tool_call_grammar(&[]), None);
    }

    #[test]
    fn enums_and_consts() {
        let schema = json!({
            "type": "object",
            "properties": {
                "kind": {"const": "x\"y"},
                "level": {"enum": [1, 2, "max", null]},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["unit"],
        });
        let g = tool_call_grammar(&[tool("t", schema)]).unwrap();
        assert!(g.contains(r#"tool-0-args-kv0 ::= "\"kind\"" ws ":" ws "\"x\\\"y\"" ws"#), "{g}");
        assert!(g.contains(r#"tool-0-args-1 ::= "1" | "2" | "\"max\"" | "null""#), "{g}");
        assert!(g.contains(r#"tool-0-args-2 ::= "\"celsius\"" | "\"fahrenheit\"""#), "{g}");
    }

    #[test]
    fn nested_objects_and_the_rest_fall_back() {
        let g = tool_call_grammar(&[tool("t", nested())]).unwrap();
        assert!(g.contains(r#"tool-0-args-kv0 ::= "\"address\"" ws ":" ws object ws"#), "{g}");
        assert!(g.contains(r#"tool-0-args-kv1 ::= "\"either\"" ws ":" ws value ws"#), "{g}");
        assert!(!g.contains("street"), "{g}");
        let g = schema_grammar(&json!({"type": "array", "items": {"type": "object"}}));
        assert!(g.starts_with("root ::= ws root-val ws\nroot-val ::= \"[\" ws ( object ws"), "{g}");
    }

    // ---- the grammars as llama.cpp reads them (the model's vocabulary;
    // skipped when the model is not installed) ----

    fn vocab() -> Option<&'static LlamaModel> {
        static MODEL: OnceLock<Option<LlamaModel>> = OnceLock::new();
        MODEL
            .get_or_init(|| {
                let path = std::env::var_os("SWITCHBOARD_LLM_MODEL_PATH")
                    .map(std::path::PathBuf::from)
                    .unwrap_or_else(crate::default_model_path);
                if !path.is_file() {
                    eprintln!("SKIPPED: no model at {}", path.display());
                    return None;
                }
                let backend = crate::llama::backend().ok()?;
                let params = LlamaModelParams::default().with_vocab_only(true);
                Some(LlamaModel::load_from_file(backend, &path, &params).expect("vocabulary loads"))
            })
            .as_ref()
    }

    /// Whether llama.cpp's grammar engine accepts `text` whole (`Some`), or
    /// `None` without a model.
    fn accepts(grammar: &str, text: &str) -> Option<bool> {
        let model = vocab()?;
        let vocab = model.vocab();
        let mut sampler = LlamaSampler::grammar(model, grammar, "root").expect("llama.cpp parses the grammar");
        let allowed = |s: &mut LlamaSampler, tok| {
            let mut arr = LlamaTokenDataArray::new(vec![LlamaTokenData::new(tok, 0.0, 0.0)], false);
            s.apply(&mut arr);
            arr.data[0].logit() != f32::NEG_INFINITY
        };
        for tok in vocab.tokenize(text.as_bytes(), false, false) {
            if !allowed(&mut sampler, tok) {
                return Some(false);
            }
            sampler.accept(tok);
        }
        // Complete: the end of the turn is allowed.
        Some(allowed(&mut sampler, vocab.eos()))
    }

    #[test]
    fn llama_cpp_accepts_valid_calls_and_rejects_invalid_ones() {
        let tools = [
            tool("book", booking()),
            tool("refund", nested()),
            tool("ping", json!({"type": "object", "properties": {}})),
        ];
        let g = tool_call_grammar(&tools).unwrap();
        let call = |json: &str| format!("<tool_call>\n{json}\n</tool_call>");
        let cases: &[(bool, String)] = &[
            (true, call(r#"{"name": "book", "arguments": {"date": "2025-01-02", "service": "cut"}}"#)),
            (
                true,
                call(
                    r#"{"name": "book", "arguments": {"caller": "c1", "date": "d", "deposit": 2.5e3, "notes": ["a", "b\"c"], "party": -12, "reminder": true, "service": "cut", "slot": "morning"}}"#,
                ),
            ),
            (
                true,
                call(
                    r#"{"name": "book", "arguments": {"date": "d", "deposit": null, "service": "cut", "slot": "afternoon"}}"#,
                ),
            ),
            (
                true,
                call(
                    r#"{"name":"refund","arguments":{"address":{"street":1,"x":[{}]},"either":[true],"order_id":"o"}}"#,
                ),
            ),
            (true, call(r#"{"name": "ping", "arguments": {}}"#)),
            (
                true,
                format!(
                    "{}\n{}",
                    call(r#"{"name": "ping", "arguments": {}}"#),
                    call(r#"{"name": "ping", "arguments": {}}"#)
                ),
            ),
            (true, r#"{"name": "ping", "arguments": {}}"#.into()),
            (true, "{\"name\": \"ping\", \"arguments\": {}}\n```".into()),
            // Required member missing; unknown tool; unknown or misplaced key;
            // wrong types; a value not in the enum; trailing comma; arguments
            // as a string; a nested object as a string; unclosed; text after.
            (false, call(r#"{"name": "book", "arguments": {"service": "cut"}}"#)),
            (false, call(r#"{"name": "cancel", "arguments": {}}"#)),
            (false, call(r#"{"name": "book", "arguments": {"colour": "red", "date": "d", "service": "cut"}}"#)),
            (false, call(r#"{"name": "book", "arguments": {"service": "cut", "date": "d"}}"#)),
            (false, call(r#"{"name": "book", "arguments": {"date": "d", "service": 3}}"#)),
            (false, call(r#"{"name": "book", "arguments": {"date": "d", "party": 1.5, "service": "cut"}}"#)),
            (false, call(r#"{"name": "book", "arguments": {"date": "d", "service": "cut", "slot": "evening"}}"#)),
            (false, call(r#"{"name": "book", "arguments": {"date": "d", "service": "cut",}}"#)),
            (false, call(r#"{"name": "ping", "arguments": "{}"}"#)),
            (false, call(r#"{"name": "refund", "arguments": {"address": "street", "order_id": "o"}}"#)),
            (false, r#"<tool_call>{"name": "ping", "arguments": {}}"#.into()),
            (false, format!("{} Done!", call(r#"{"name": "ping", "arguments": {}}"#))),
        ];
        for (ok, text) in cases {
            let Some(got) = accepts(&g, text) else { return };
            assert_eq!(got, *ok, "{text}");
        }
        // A schema grammar on its own.
        let g = schema_grammar(&booking());
        assert_eq!(accepts(&g, r#"{"date": "d", "service": "cut"}"#), Some(true));
        assert_eq!(accepts(&g, r#"{"date": "d"}"#), Some(false));
    }
}
