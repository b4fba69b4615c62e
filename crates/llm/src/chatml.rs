//! The Qwen2.5 chat prompt (ChatML with tools), written out the way the
//! model's own Jinja template renders it, so the embedded engine needs no
//! template interpreter.

use serde_json::Value;
use switchboard_core::llm::{ChatMessage, Role, ToolSpec};

const DEFAULT_SYSTEM: &str = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

/// Renders `messages` and `tools` as a ChatML prompt ending with the opening
/// of the assistant's turn.
pub fn render(messages: &[ChatMessage], tools: &[ToolSpec]) -> String {
    let mut out = String::with_capacity(1024);
    let (system, rest) = match messages.first() {
        Some(m) if m.role == Role::System => (m.content.as_str(), &messages[1..]),
        _ => (DEFAULT_SYSTEM, messages),
    };
    out.push_str("<|im_start|>system\n");
    out.push_str(system);
    if !tools.is_empty() {
        out.push_str(
            "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
             You are provided with function signatures within <tools></tools> XML tags:\n<tools>",
        );
        for tool in tools {
            out.push('\n');
            tool_json(tool, &mut out);
        }
        out.push_str(
            "\n</tools>\n\nFor each function call, return a json object with function name and \
             arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n\
             {\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>",
        );
    }
    out.push_str("<|im_end|>\n");

    for (i, m) in rest.iter().enumerate() {
        match m.role {
            Role::System | Role::User => turn(&mut out, role_name(m.role), &m.content),
            Role::Assistant if m.tool_calls.is_empty() => turn(&mut out, "assistant", &m.content),
            Role::Assistant => {
                out.push_str("<|im_start|>assistant");
                if !m.content.is_empty() {
                    out.push('\n');
                    out.push_str(&m.content);
                }
                for call in &m.tool_calls {
                    out.push_str("\n<tool_call>\n{\"name\": \"");
                    out.push_str(&call.name);
                    out.push_str("\", \"arguments\": ");
                    match serde_json::from_str::<Value>(&call.arguments) {
                        Ok(v) => py_json(&v, &mut out),
                        Err(_) => py_json(&Value::String(call.arguments.clone()), &mut out),
                    }
                    out.push_str("}\n</tool_call>");
                }
                out.push_str("<|im_end|>\n");
            }
            Role::Tool => {
                // Consecutive tool results share one user turn.
                let first = i == 0 || rest[i - 1].role != Role::Tool;
                let last = i + 1 == rest.len() || rest[i + 1].role != Role::Tool;
                if first {
                    out.push_str("<|im_start|>user");
                }
                out.push_str("\n<tool_response>\n");
                out.push_str(&m.content);
                out.push_str("\n</tool_response>");
                if last {
                    out.push_str("<|im_end|>\n");
                }
            }
        }
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

fn turn(out: &mut String, role: &str, content: &str) {
    out.push_str("<|im_start|>");
    out.push_str(role);
    out.push('\n');
    out.push_str(content);
    out.push_str("<|im_end|>\n");
}

/// `{"type": "function", "function": {"name", "description", "parameters"}}`
/// in the key order the template's callers use.
fn tool_json(tool: &ToolSpec, out: &mut String) {
    out.push_str("{\"type\": \"function\", \"function\": {\"name\": ");
    py_json(&Value::String(tool.name.clone()), out);
    out.push_str(", \"description\": ");
    py_json(&Value::String(tool.description.clone()), out);
    out.push_str(", \"parameters\": ");
    py_json(&tool.parameters, out);
    out.push_str("}}");
}

/// JSON as Python's `json.dumps` writes it (`", "` and `": "` separators,
/// non-ASCII kept), which is what the template's `tojson` produced in the
/// model's training data.
fn py_json(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                py_json(item, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_core::llm::ToolCall;

    #[test]
    fn plain_chat() {
        let p = render(&[ChatMessage::system("Be brief."), ChatMessage::user("Hi")], &[]);
        assert_eq!(
            p,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let p = render(&[ChatMessage::user("Hi")], &[]);
        assert!(p.starts_with(&format!("<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n")));
    }

    #[test]
    fn tools_and_tool_turns() {
        let tools = vec![ToolSpec {
            name: "get_weather".into(),
            description: "Weather for a city".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }];
        let call = ToolCall { id: "c1".into(), name: "get_weather".into(), arguments: r#"{"city":"Paris"}"#.into() };
        let msgs = vec![
            ChatMessage::system("Sys"),
            ChatMessage::user("Weather in Paris?"),
            ChatMessage::assistant("", vec![call.clone(), call]),
            ChatMessage::tool("c1", "sunny"),
            ChatMessage::tool("c1", "warm"),
        ];
        let p = render(&msgs, &tools);
        let expected = concat!(
            "<|im_start|>system\nSys\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n",
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n",
            r#"{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": {"#,
            r#""properties": {"city": {"type": "string"}}, "type": "object"}}}"#,
            "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n",
            "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n",
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n",
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
            "\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n",
            "<|im_start|>user\n<tool_response>\nsunny\n</tool_response>\n<tool_response>\nwarm\n</tool_response><|im_end|>\n",
            "<|im_start|>assistant\n",
        );
        // serde_json may keep insertion order (feature `preserve_order`):
        // compare up to the order of the schema's keys.
        let alt = expected.replace(
            r#""properties": {"city": {"type": "string"}}, "type": "object""#,
            r#""type": "object", "properties": {"city": {"type": "string"}}"#,
        );
        assert!(p == expected || p == alt, "{p}");
    }
}
