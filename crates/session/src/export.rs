//! A session's transcript as Markdown (for people) and JSON (for tools).

use std::fmt::Write;

use serde_json::{Value, json};
use switchboard_core::session::{Session, Turn, TurnRole};

pub fn to_markdown(session: &Session, turns: &[Turn]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Session {}\n", session.id);
    let _ = writeln!(s, "- Channel: {}", session.channel.as_str());
    let _ = writeln!(s, "- Status: {}", session.status.as_str());
    if let Some(n) = &session.caller_name {
        let _ = writeln!(s, "- Caller: {n}");
    }
    let _ = writeln!(s, "- Started: {}", session.started_at.to_rfc3339());
    if let Some(e) = session.ended_at {
        let _ = writeln!(s, "- Ended: {}", e.to_rfc3339());
    }
    let _ = writeln!(s);
    for t in turns {
        let at = t.created_at.format("%H:%M:%S");
        match t.role {
            TurnRole::Tool => {
                if let Some(tool) = &t.tool {
                    let status = if tool.ok { "ok" } else { "failed" };
                    let _ = writeln!(
                        s,
                        "{}. `{at}` **tool** `{}({})` → {status}: `{}`\n",
                        t.seq, tool.name, tool.arguments, tool.result
                    );
                }
            }
            role => {
                let who = match role {
                    TurnRole::Caller => "Caller",
                    TurnRole::Supervisor => "Supervisor",
                    _ => "Agent",
                };
                let _ = write!(s, "{}. `{at}` **{who}:** {}", t.seq, t.text);
                if t.interrupted {
                    let _ = write!(s, " _(cut off by the caller)_");
                }
                if let Some(g) = &t.grounding {
                    let decision = serde_json::to_value(g.decision)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    let _ = write!(s, "  \n   _{decision}: {}_", g.reason);
                }
                if let Some(ms) = t.timings.as_ref().and_then(|x| x.first_token_ms) {
                    let _ = write!(s, " _(first token {ms:.0} ms)_");
                }
                let _ = writeln!(s, "\n");
            }
        }
    }
    s
}

/// The session and every turn as stored, one JSON document.
pub fn to_json(session: &Session, turns: &[Turn]) -> Value {
    json!({ "session": session, "turns": turns })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::session::{Channel, SessionStatus};
    use uuid::Uuid;

    #[test]
    fn markdown_names_speakers_in_order() {
        let id = Uuid::now_v7();
        let session = Session {
            id,
            channel: Channel::Text,
            status: SessionStatus::Ended,
            caller_name: Some("Ana".into()),
            caller_contact: None,
            language: None,
            started_at: chrono::Utc::now(),
            ended_at: Some(chrono::Utc::now()),
            turn_count: 2,
            title: None,
            usage: Default::default(),
        };
        let turn = |seq, role, text: &str| Turn {
            id: Uuid::now_v7(),
            session_id: id,
            seq,
            role,
            text: text.into(),
            tool: None,
            grounding: None,
            timings: None,
            input: None,
            interrupted: false,
            created_at: chrono::Utc::now(),
        };
        let cut = Turn { interrupted: true, ..turn(3, TurnRole::Agent, "We open at") };
        let md =
            to_markdown(&session, &[turn(1, TurnRole::Caller, "Hours?"), turn(2, TurnRole::Agent, "9 to 5."), cut]);
        assert!(md.contains("**Agent:** We open at _(cut off by the caller)_"), "{md}");
        let caller = md.find("**Caller:** Hours?").unwrap();
        let agent = md.find("**Agent:** 9 to 5.").unwrap();
        assert!(caller < agent);
        assert!(md.contains("- Caller: Ana"));
        assert_eq!(to_json(&session, &[])["session"]["caller_name"], "Ana");
    }
}
