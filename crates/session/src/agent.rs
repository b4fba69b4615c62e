//! One turn: the caller's message in, the agent's reply out, every step
//! stored. The grounding policy decides before any model runs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_core::help::{HelpRequest, HistoryTurn, Waiter};
use switchboard_core::knowledge::{KnowledgeSource, question_key};
use switchboard_core::llm::{ChatMessage, ChatRequest, LlmError, LlmEvent, ToolCall, ToolSpec};
use switchboard_core::session::{
    Decision, Evidence, Grounding, NewTurn, Session, ToolRecord, Turn, TurnInput, TurnRole, TurnTimings,
};
use switchboard_core::tool::ToolContext;
use switchboard_core::{ErrorCode, time};
use uuid::Uuid;

use crate::guard::Known;
use crate::hub::{SessionEvent, TurnHandle};
use crate::policy::{Intent, Retrieval, intent};
use crate::service::Inner;

/// The model's first word is its verdict (the persona prompt asks for it):
/// `NO`, or `YES:` and one line of answer.
const ANSWERABLE_GRAMMAR: &str = r#"root ::= "NO" | "YES: " [^\n]+"#;
/// Pending help requests a new question is compared with (the newest).
const JOIN_CANDIDATES: u32 = 100;
/// Tool calls run per model reply; more are refused.
const MAX_CALLS_PER_ROUND: usize = 4;
/// A caller hears at most this many sentences of one answer.
const MAX_SENTENCES: usize = 3;

/// What the model said about answerability.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Answered,
    NotAnswered,
    /// Stopped at a sentence with these unsupported specifics.
    Unsupported(Vec<String>),
}

struct Gated {
    verdict: Verdict,
    /// Sentences the caller heard.
    said: Vec<String>,
    prompt_tokens: u32,
    completion_tokens: u32,
}

/// A reply sentence that is mostly the caller's own question ("My son's
/// fifteen is allowed to rent a bike on his own."): at least 70% of its
/// words are the question's, and it adds fewer than three of its own.
fn echoes(sentence: &str, question: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2).map(str::to_lowercase).collect()
    };
    let q = words(question);
    let s = words(sentence);
    if s.is_empty() {
        return false;
    }
    let shared = s.iter().filter(|w| q.contains(w)).count();
    shared * 10 >= s.len() * 7 && s.len() - shared < 3
}

/// Reads the verdict at the start of `raw`: `Some(Some(body_start))` for an
/// answer, `Some(None)` for "no", `None` while undecided. An engine that
/// ignored the instruction (no grammar) and just answered counts as yes.
fn verdict_of(raw: &str, finished: bool) -> Option<Option<usize>> {
    let lead = raw.len() - raw.trim_start().len();
    let t = raw.trim_start();
    let upper: String = t.chars().take(4).collect::<String>().to_uppercase();
    let rest = |n: usize| t.get(n..).unwrap_or("");
    if upper.starts_with("NO") && (t.len() <= 2 || !rest(2).starts_with(|c: char| c.is_alphanumeric())) {
        return if t.len() > 2 || finished { Some(None) } else { None };
    }
    if upper.starts_with("YES") {
        let after = rest(3);
        let skip = after.len() - after.trim_start_matches([':', ',', '.', ' ']).len();
        if after.is_empty() && !finished {
            return None;
        }
        return Some(Some(lead + 3 + skip));
    }
    if t.is_empty() || (!finished && ("YES".starts_with(&upper) || "NO".starts_with(&upper))) {
        return if finished { Some(None) } else { None };
    }
    Some(Some(lead))
}

struct Turner<'a> {
    inner: &'a Inner,
    session: &'a Session,
    emit: &'a (dyn Fn(SessionEvent) + Send + Sync),
    started: Instant,
    ctx: ToolContext,
    /// Set when the first piece of the reply is ready.
    first_token: Option<f64>,
    /// The prompts and phrases for this business, fixed for the turn.
    rendered: std::sync::Arc<crate::prompts::Rendered>,
    /// Cuts the turn off (the caller spoke over it, or the app stops).
    handle: &'a TurnHandle,
    /// The reply's pieces streamed so far: what a reader has seen.
    streamed: String,
    /// The language the caller speaks (heard in this turn, else the
    /// session's), when known.
    language: Option<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs one turn. Never fails: every error ends in a stored fallback reply.
/// Cut off through `handle`, it stores an agent turn with only what the
/// caller heard, marked interrupted: every caller turn keeps its answer.
pub(crate) async fn run_turn(
    inner: &Inner,
    session: &Session,
    text: &str,
    input: TurnInput,
    handle: &TurnHandle,
    emit: &(dyn Fn(SessionEvent) + Send + Sync),
) {
    let started = Instant::now();
    let ctx = ToolContext {
        session_id: Some(session.id),
        caller_name: session.caller_name.clone(),
        caller_contact: session.caller_contact.clone(),
        channel: Some(session.channel.as_str().to_string()),
    };
    let language = match &input {
        TurnInput::Transcribed { language: Some(l), .. } => Some(l.clone()),
        _ => session.language.clone(),
    };
    let mut t = Turner {
        inner,
        session,
        emit,
        started,
        ctx,
        first_token: None,
        rendered: inner.rendered(),
        handle,
        streamed: String::new(),
        language,
    };
    // Earlier turns, for the model's context and the help request's history.
    let history = inner.store.turns(session.id).await.unwrap_or_default();
    let mut caller = new_turn(TurnRole::Caller, text);
    caller.input = Some(input);
    if t.store(vec![caller]).await.is_none() {
        return;
    }
    t.respond(text, &history).await;
}

/// After a turn failed unexpectedly: an agent turn with the fallback
/// sentence, so every caller turn still has an answer after it.
pub(crate) async fn fallback_turn(inner: &Inner, session: &Session, emit: &(dyn Fn(SessionEvent) + Send + Sync)) {
    let rendered = inner.rendered();
    let mut turn = new_turn(TurnRole::Agent, &rendered.phrases.fallback_no_help);
    turn.grounding = Some(Grounding {
        decision: Decision::Fallback,
        hits: vec![],
        cited: vec![],
        help_request_id: None,
        reason: "the turn failed unexpectedly".into(),
    });
    match inner.store.append_turns(session.id, &[turn]).await {
        Ok(stored) => {
            for t in stored {
                emit(SessionEvent::Turn { turn: t });
            }
        }
        Err(e) => tracing::warn!(session = %session.id, error = %e, "fallback turn not stored"),
    }
}

/// The courtesy reply to a greeting, thanks or goodbye, known from the
/// words alone.
pub(crate) fn polite_reply(rendered: &crate::prompts::Rendered, text: &str) -> Option<String> {
    match intent(text) {
        Intent::Greeting => Some(rendered.phrases.greeting.clone()),
        Intent::Thanks => Some(rendered.phrases.thanks.clone()),
        Intent::Goodbye => Some(rendered.phrases.goodbye.clone()),
        _ => None,
    }
}

/// Searches the knowledge base for `text` and weighs the hits; also returns
/// the question's content terms.
pub(crate) async fn retrieve(
    inner: &Inner,
    text: &str,
    policy: &crate::policy::GroundingPolicy,
) -> (crate::policy::Terms, Retrieval) {
    let query = crate::policy::content_terms(inner.index.terms(text));
    let hits = match inner.index.search(text, policy.top_k).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "knowledge search failed");
            Vec::new()
        }
    };
    let index = inner.index.clone();
    let retrieval = policy.assess(text, &query, hits, |s| index.terms(s));
    (query, retrieval)
}

fn new_turn(role: TurnRole, text: &str) -> NewTurn {
    NewTurn::new(role, text)
}

impl Turner<'_> {
    /// A system prompt with the instruction to reply in the caller's
    /// language added at its end (the shared start stays cacheable).
    fn with_language(&self, system: String) -> String {
        match self.language.as_deref().and_then(|l| self.rendered.language_instruction(l)) {
            Some(instruction) => format!("{system}\n\n{instruction}"),
            None => system,
        }
    }

    fn cut_off(&self) -> bool {
        self.handle.is_interrupted()
    }

    /// Stores turns and announces them. `None` when the session ended
    /// meanwhile. Once the turn is cut off, an agent turn keeps only what
    /// the caller heard (what the interrupter says, else what was streamed).
    async fn store(&self, mut turns: Vec<NewTurn>) -> Option<Vec<Turn>> {
        if self.cut_off() {
            let heard = self.handle.heard().unwrap_or_else(|| self.streamed.clone());
            for t in turns.iter_mut().filter(|t| t.role == TurnRole::Agent) {
                t.text = heard.trim().to_string();
                t.interrupted = true;
                if let Some(g) = &mut t.grounding {
                    g.reason.push_str("; cut off by the caller");
                }
            }
        }
        match self.inner.store.append_turns(self.session.id, &turns).await {
            Ok(stored) => {
                for turn in &stored {
                    (self.emit)(SessionEvent::Turn { turn: turn.clone() });
                }
                Some(stored)
            }
            Err(e) => {
                tracing::warn!(session = %self.session.id, error = %e, "turn not stored");
                (self.emit)(SessionEvent::Error { code: ErrorCode::Conflict, message: "session has ended".into() });
                None
            }
        }
    }

    fn token(&mut self, turn_id: Uuid, text: &str) {
        if self.cut_off() {
            return;
        }
        self.streamed.push_str(text);
        if self.first_token.is_none() {
            self.first_token = Some(ms(self.started.elapsed()));
        }
        (self.emit)(SessionEvent::Token { turn_id, text: text.to_string() });
    }

    /// Says a reply that needs no model, as one token then the stored turn.
    async fn say(&mut self, text: &str, grounding: Grounding, mut timings: TurnTimings) {
        let id = Uuid::now_v7();
        self.token(id, text);
        timings.first_token_ms = self.first_token;
        timings.total_ms = Some(ms(self.started.elapsed()));
        let mut turn = new_turn(TurnRole::Agent, text);
        turn.id = id;
        turn.grounding = Some(grounding);
        turn.timings = Some(timings);
        self.store(vec![turn]).await;
    }

    async fn respond(&mut self, text: &str, history: &[Turn]) {
        let r0 = Instant::now();
        // Greetings, thanks and goodbyes are known from the words alone: no
        // search (nor a query embedding) for "Hello!".
        if let Some(reply) = polite_reply(&self.rendered, text) {
            let g = Grounding {
                decision: Decision::SmallTalk,
                hits: vec![],
                cited: vec![],
                help_request_id: None,
                reason: "small talk".into(),
            };
            let timings = TurnTimings { retrieval_ms: Some(0.0), ..Default::default() };
            return self.say(&reply, g, timings).await;
        }
        let policy = self.inner.policy.read().unwrap_or_else(|p| p.into_inner()).clone();
        let (query, mut retrieval) = retrieve(self.inner, text, &policy).await;
        // A learned answer is said as it is: the profile's facts cannot
        // change that, so they are not weighed (nor embedded) for it.
        if retrieval.fast_path.is_none() {
            self.profile_evidence(text, &query, &mut retrieval, &policy).await;
        }
        let timings = TurnTimings { retrieval_ms: Some(ms(r0.elapsed())), ..Default::default() };
        let hits = retrieval.hits.clone();
        let grounding = |decision, reason: String, cited: Vec<String>| Grounding {
            decision,
            hits: hits.clone(),
            cited,
            help_request_id: None,
            reason,
        };

        if let Some((ev, answer)) = &retrieval.fast_path {
            let reason = format!(
                "learned answer \"{}\" matches ({:.0}% of the question's terms)",
                ev.title,
                ev.coverage * 100.0
            );
            let g = grounding(Decision::FastPath, reason, vec![ev.id.clone()]);
            return self.say(answer, g, timings).await;
        }
        let small_talk = match intent(text) {
            Intent::Inquiry if !retrieval.has_content() => Some(self.rendered.phrases.pardon.clone()),
            _ => None,
        };
        if let Some(reply) = small_talk {
            return self.say(&reply, grounding(Decision::SmallTalk, "small talk".into(), vec![]), timings).await;
        }
        // Asked again while a supervisor is on it: no second request.
        let key = question_key(text);
        if let Ok(pending) = self.inner.desk.pending_for_session(&self.session.id.to_string()).await
            && let Some(p) = pending.iter().find(|p| {
                let mine = self.session.id.to_string();
                question_key(&p.question) == key
                    || p.waiters
                        .iter()
                        .any(|w| w.session_id.as_deref() == Some(&mine) && question_key(&w.question) == key)
            })
        {
            let mut g =
                grounding(Decision::Escalated, "a help request for this question is already pending".into(), vec![]);
            g.help_request_id = Some(p.id);
            return self.say(&self.rendered.phrases.still_checking.clone(), g, timings).await;
        }

        if crate::guard::is_injection(text) {
            let reason = "the caller asked the agent to break its instructions".to_string();
            return self
                .say(&self.rendered.phrases.refuse.clone(), grounding(Decision::Refused, reason, vec![]), timings)
                .await;
        }

        let ready = self.inner.model.info().ready;
        let action = intent(text) == Intent::Action;
        match (action, retrieval.evidence.is_empty(), ready) {
            (true, _, true) => self.with_model(text, history, &retrieval, timings, action).await,
            (false, false, true) => self.answer_inquiry(text, history, &retrieval, timings).await,
            (false, false, false) => {
                // No model: read the best evidence back rather than nothing.
                let (ev, reply, _) = self.extract(text, &retrieval).await;
                let reason = format!("no language model; best evidence \"{}\" read back", ev.title);
                self.say(&reply, grounding(Decision::Extractive, reason, vec![ev.id.clone()]), timings).await
            }
            (true, _, false) => {
                let reason = "the caller wants an action and no language model is available".to_string();
                self.escalate(
                    text,
                    history,
                    grounding(Decision::Escalated, reason, vec![]),
                    timings,
                    &self.rendered.phrases.no_model_action.clone(),
                )
                .await
            }
            (false, true, _) => {
                let reason = no_evidence_reason(&retrieval, &policy);
                self.escalate(
                    text,
                    history,
                    grounding(Decision::Escalated, reason, vec![]),
                    timings,
                    &self.rendered.phrases.escalate.clone(),
                )
                .await
            }
        }
    }

    /// Opens a help request (a `request_help` tool turn) and says `reply`.
    async fn escalate(&mut self, text: &str, history: &[Turn], mut g: Grounding, timings: TurnTimings, reply: &str) {
        if self.cut_off() {
            // The caller moved on: nobody is asked on their behalf.
            return self.say(reply, g, timings).await;
        }
        let call_id = format!("policy-{}", Uuid::now_v7().simple());
        let arguments = json!({ "question": text }).to_string();
        // Someone else is already waiting on this question: join them, so the
        // supervisor answers once and both callers hear it.
        if let Some((pending, similarity)) = self.similar_pending(text).await {
            let waiter = Waiter {
                customer_name: self.ctx.caller_name.clone().unwrap_or_else(|| "Caller".into()),
                customer_contact: self.ctx.caller_contact.clone().unwrap_or_default(),
                channel: self.session.channel.as_str().to_string(),
                session_id: Some(self.session.id.to_string()),
                question: text.to_string(),
                joined_at: time::now(),
            };
            match self.inner.desk.join(pending.id, waiter).await {
                Ok(joined) => {
                    let value = json!({ "joined": true, "request_id": joined.id, "waiting": joined.waiters.len() + 1 });
                    let mut tool = new_turn(TurnRole::Tool, "request_help");
                    tool.tool =
                        Some(ToolRecord { call_id, name: "request_help".into(), arguments, ok: true, result: value });
                    if self.store(vec![tool]).await.is_none() {
                        return;
                    }
                    g.help_request_id = Some(joined.id);
                    g.reason = format!(
                        "{}; joined the pending request \"{}\" ({:.0}% similar)",
                        g.reason,
                        joined.question,
                        similarity * 100.0
                    );
                    return self.say(&self.rendered.phrases.joined.clone(), g, timings).await;
                }
                // Answered in the meantime, say: open a new one.
                Err(e) => tracing::info!(error = %e, "could not join a pending help request"),
            }
        }
        let past = history_for_request(history, text);
        let result = self.inner.help.open(&self.ctx, text, past).await;
        let (ok, value) = match result {
            Ok(v) => (true, v),
            Err(e) => (false, json!({ "error": e.to_string() })),
        };
        g.help_request_id = value.get("request_id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
        let mut tool = new_turn(TurnRole::Tool, "request_help");
        tool.tool = Some(ToolRecord { call_id, name: "request_help".into(), arguments, ok, result: value });
        if self.store(vec![tool]).await.is_none() {
            return;
        }
        if !ok {
            g.decision = Decision::Fallback;
            g.reason = format!("{}; opening a help request failed", g.reason);
            return self.say(&self.rendered.phrases.fallback_no_help.clone(), g, timings).await;
        }
        self.say(reply, g, timings).await
    }

    /// The business profile's facts (hours, address, phone, website) that the
    /// question is about, as evidence beside the knowledge base's.
    /// Embeds `texts` (the caller's words first, then the profile's facts):
    /// the facts come from the cache after the first turn, so a turn embeds
    /// only the caller's words.
    async fn embed_with_cached_facts(&self, texts: Vec<String>) -> Option<Vec<Vec<f32>>> {
        let cache = &self.inner.fact_vectors;
        let cached: Vec<Option<Vec<f32>>> = {
            let c = cache.lock().unwrap_or_else(|p| p.into_inner());
            texts.iter().skip(1).map(|t| c.get(t).cloned()).collect()
        };
        let mut missing: Vec<String> = vec![texts[0].clone()];
        missing.extend(texts.iter().skip(1).zip(&cached).filter(|(_, v)| v.is_none()).map(|(t, _)| t.clone()));
        let fresh = self.inner.index.embed(missing.clone()).await?;
        if fresh.len() != missing.len() {
            return None;
        }
        let mut fresh = fresh.into_iter();
        let mut out = vec![fresh.next()?];
        let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
        for (t, v) in texts.iter().skip(1).zip(cached) {
            let v = match v {
                Some(v) => v,
                None => {
                    let v = fresh.next()?;
                    // A profile has a handful of facts; the bound only guards
                    // against a bug filling it.
                    if c.len() < 256 {
                        c.insert(t.clone(), v.clone());
                    }
                    v
                }
            };
            out.push(v);
        }
        Some(out)
    }

    async fn profile_evidence(
        &self,
        text: &str,
        query: &crate::policy::Terms,
        r: &mut Retrieval,
        policy: &crate::policy::GroundingPolicy,
    ) {
        let facts = &self.rendered.facts;
        if facts.is_empty() {
            return;
        }
        // Each fact is compared as stated and as callers ask for it: a
        // statement ("We are at 14 Mill Lane") is far in meaning from "where
        // exactly are you located?", the question it answers is not.
        let mut texts = vec![text.to_string()];
        for (title, fact) in facts {
            texts.push(format!("{title}: {fact}"));
            texts.push(asked_as(title).to_string());
        }
        let sims = self.embed_with_cached_facts(texts).await;
        let words: Vec<String> = query.iter().map(|(t, _)| t.clone()).collect();
        for (i, (title, fact)) in facts.iter().enumerate() {
            let similarity = sims.as_ref().map(|v| {
                let c = |j: usize| switchboard_core::embed::cosine(&v[0], &v[j]);
                c(2 * i + 1).max(c(2 * i + 2))
            });
            let by_meaning = similarity.is_some_and(|s| s >= policy.evidence_similarity);
            if !(by_meaning || similarity.is_none() && title_matches(title, &words)) {
                continue;
            }
            let ev = Evidence {
                id: format!("profile:{}", title.to_lowercase().replace(' ', "-")),
                kind: KnowledgeSource::Profile,
                title: title.clone(),
                snippet: fact.clone(),
                url: None,
                score: 0.0,
                coverage: 0.0,
                similarity,
                question_similarity: None,
            };
            let fact = if title == "Opening hours" { days_asked(fact, text) } else { fact.clone() };
            r.evidence.push((ev.clone(), fact));
            r.hits.push(ev);
        }
        r.evidence.sort_by(|a, b| b.0.similarity.unwrap_or(0.0).total_cmp(&a.0.similarity.unwrap_or(0.0)));
    }

    /// A pending help request of another caller that asks what `text` asks:
    /// the same words, or (with embeddings) a close paraphrase.
    async fn similar_pending(&self, text: &str) -> Option<(HelpRequest, f32)> {
        let mine = self.session.id.to_string();
        let pending: Vec<HelpRequest> = self
            .inner
            .desk
            .pending(JOIN_CANDIDATES)
            .await
            .ok()?
            .into_iter()
            .filter(|p| {
                p.session_id.as_deref() != Some(mine.as_str())
                    && !p.waiters.iter().any(|w| w.session_id.as_deref() == Some(mine.as_str()))
            })
            .collect();
        let key = question_key(text);
        if let Some(p) = pending.iter().find(|p| question_key(&p.question) == key) {
            return Some((p.clone(), 1.0));
        }
        if pending.is_empty() {
            return None;
        }
        let threshold = self.inner.policy.read().unwrap_or_else(|p| p.into_inner()).join_similarity;
        let mut texts = vec![text.to_string()];
        texts.extend(pending.iter().map(|p| p.question.clone()));
        let v = self.inner.index.embed(texts).await?;
        let (best, sim) = (1..v.len())
            .map(|i| (i, switchboard_core::embed::cosine(&v[0], &v[i])))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        (sim >= threshold).then(|| (pending[best - 1].clone(), sim))
    }

    async fn with_model(
        &mut self,
        text: &str,
        history: &[Turn],
        r: &Retrieval,
        mut timings: TurnTimings,
        action: bool,
    ) {
        let model = self.inner.model.get();
        let cfg = &self.inner.config;
        let mut messages = self.conversation(history);
        let index = self.inner.index.clone();
        let focus = |passage: &str| focus(passage, &r.terms, |sentence| index.terms(sentence));
        // Offering tools changes the system message anyway (the engine lists
        // them there), so their guidance goes there too, not into the
        // caller's words, where a small model copies it.
        messages[0] = ChatMessage::system(
            self.with_language(format!("{}\n\n{}", self.rendered.system, self.rendered.tool_guidance)),
        );
        messages.push(ChatMessage::user(user_message(text, r, focus)));
        let tools = self.inner.toolbox.specs_for(text);
        let reply_id = Uuid::now_v7();
        let mut reply = String::new();
        let mut used_business_tool = false;
        let mut help_request_id = None;
        let mut prompt_tokens = 0;
        let mut completion_tokens = 0;
        let llm_started = Instant::now();
        let mut failure: Option<LlmError> = None;
        let unproven = action && r.evidence.is_empty();
        let mut held = String::new();
        // The last business tool's own sentence, a fallback for the reply.
        let mut last_tool_message: Option<String> = None;

        for round in 0..=cfg.max_tool_rounds {
            // Tools only for actions (the evidence for a question is already
            // in the message; a small model offered tools it does not need
            // calls them instead of answering), and the last round must
            // answer in words.
            let offered = if !action || round == cfg.max_tool_rounds { vec![] } else { tools.clone() };
            let req = ChatRequest {
                messages: messages.clone(),
                tools: offered.clone(),
                max_tokens: cfg.max_tokens,
                // Greedy: a receptionist should give the same answer to the
                // same question, and tests can pin behaviour.
                temperature: 0.0,
                timeout: cfg.llm_timeout,
                grammar: None,
            };
            // An action with no evidence may only be answered from a tool's
            // result: until a business tool ran, the model's words are held
            // back, and dropped if no tool runs at all.
            let hold = unproven && !used_business_tool;
            let generated =
                self.generate(model.as_ref(), req, reply_id, &mut prompt_tokens, &mut completion_tokens, hold).await;
            let (mut text_part, mut calls) = match generated {
                Ok(x) => x,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            if calls.is_empty()
                && let Some(call) = recover_call(&text_part, &offered, round)
            {
                // The model wrote a tool's arguments as text: that was the call.
                calls.push(call);
                text_part.clear();
            }
            if !text_part.trim().is_empty() {
                if !reply.is_empty() {
                    reply.push(' ');
                }
                reply.push_str(text_part.trim());
                if hold {
                    held.push_str(text_part.trim());
                    held.push(' ');
                }
            }
            // A tool round not yet started is skipped once the caller cut in.
            if calls.is_empty() || self.cut_off() {
                break;
            }
            messages.push(ChatMessage::assistant(text_part, calls.clone()));
            let mut tool_turns = Vec::new();
            for (i, call) in calls.iter().enumerate() {
                // A model that asks for a dozen tools at once is looping, not
                // helping: the rest are refused (and the model reads why).
                let result = if i < MAX_CALLS_PER_ROUND {
                    self.inner.toolbox.call(&self.ctx, call).await
                } else {
                    Err(switchboard_core::tool::ToolError::InvalidArguments(format!(
                        "not run: at most {MAX_CALLS_PER_ROUND} tool calls per reply"
                    )))
                };
                let (ok, value) = match result {
                    Ok(v) => (true, v),
                    Err(e) => (false, json!({ "error": e.to_string() })),
                };
                if ok && call.name == "request_help" {
                    help_request_id =
                        value.get("request_id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
                } else if ok && call.name != "search_knowledge_base" {
                    used_business_tool = true;
                    if let Some(m) = value.get("message").and_then(Value::as_str) {
                        last_tool_message = Some(m.to_string());
                    }
                }
                messages.push(ChatMessage::tool(call.id.clone(), value.to_string()));
                let mut turn = new_turn(TurnRole::Tool, &call.name);
                turn.tool = Some(ToolRecord {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                    ok,
                    result: value,
                });
                tool_turns.push(turn);
            }
            if self.store(tool_turns).await.is_none() {
                return;
            }
        }
        timings.llm_ms = Some(ms(llm_started.elapsed()));
        timings.prompt_tokens = Some(prompt_tokens);
        timings.completion_tokens = Some(completion_tokens);
        let hits = r.hits.clone();

        if let Some(e) = failure {
            tracing::warn!(session = %self.session.id, error = %e, "model failed; falling back");
            if !self.cut_off() {
                (self.emit)(SessionEvent::Error {
                    code: ErrorCode::Unavailable,
                    message: "the language model did not answer".into(),
                });
            }
            let g = Grounding {
                decision: Decision::Fallback,
                hits,
                cited: vec![],
                help_request_id: None,
                reason: format!("the language model failed ({}); a supervisor was asked", fallback_kind(&e)),
            };
            return self.escalate(text, &[], g, timings, &self.rendered.phrases.fallback.clone()).await;
        }
        if unproven && !used_business_tool && help_request_id.is_none() {
            // Words about the business backed by neither evidence nor a tool:
            // never said. A human answers instead.
            tracing::info!(session = %self.session.id, "model answered an action without a tool; escalating");
            let g = Grounding {
                decision: Decision::Escalated,
                hits,
                cited: vec![],
                help_request_id: None,
                reason: "no evidence, and the model answered without using a tool".into(),
            };
            return self.escalate(text, history, g, timings, &self.rendered.phrases.escalate.clone()).await;
        }
        // Markup or JSON where words should be (a small model echoing a tool
        // call or result), or nothing at all: say what the tool or the best
        // evidence says instead, verbatim.
        let mut salvaged = false;
        if !speakable(&reply) {
            let said_by_tool = last_tool_message.take();
            if let Some(m) = said_by_tool.or_else(|| r.evidence.first().map(|(_, answer)| answer.clone())) {
                tracing::info!(session = %self.session.id, "model reply unusable; reading back the tool result or evidence");
                reply = m;
                held.clear();
                salvaged = true;
                self.token(reply_id, &reply);
            }
        }
        if !held.is_empty() {
            // Held back until a tool proved it; the caller hears it now.
            self.token(reply_id, held.trim_end());
        }
        let decision = if help_request_id.is_some() {
            Decision::Escalated
        } else if salvaged && !used_business_tool {
            Decision::Extractive
        } else if used_business_tool || (action && r.evidence.is_empty()) {
            Decision::Tools
        } else {
            Decision::Grounded
        };
        // Nothing a caller can hear (empty, or markup nobody could salvage):
        // the fixed sentence instead.
        if reply.trim().is_empty() || !speakable(&reply) {
            let p = &self.rendered.phrases;
            reply = if help_request_id.is_some() { p.escalate.clone() } else { p.fallback_no_help.clone() };
            self.token(reply_id, &reply);
        }
        let cited = cite(&self.inner.index, &reply, &r.evidence);
        let reason = match decision {
            Decision::Escalated => "the model asked a supervisor (request_help)".to_string(),
            Decision::Extractive => "the model's reply was unusable; the best evidence was read back".to_string(),
            Decision::Tools => "the model used the business's tools".to_string(),
            _ => format!("answered from {} piece(s) of evidence", r.evidence.len()),
        };
        timings.first_token_ms = self.first_token;
        timings.total_ms = Some(ms(self.started.elapsed()));
        let mut turn = new_turn(TurnRole::Agent, &crate::speak::speakable(&reply));
        turn.id = reply_id;
        turn.grounding = Some(Grounding { decision, hits, cited, help_request_id, reason });
        turn.timings = Some(timings);
        self.store(vec![turn]).await;
    }

    /// A question with evidence: the model first says whether the evidence
    /// answers it (`YES:` then the answer, or `NO`, constrained by a grammar
    /// where the engine can), then each sentence of its answer is cleaned for
    /// speech and checked for invented specifics before the caller hears it.
    async fn answer_inquiry(&mut self, text: &str, history: &[Turn], r: &Retrieval, mut timings: TurnTimings) {
        let model = self.inner.model.get();
        let cfg = &self.inner.config;
        let mut messages = self.conversation(history);
        messages[0] = ChatMessage::system(self.with_language(self.rendered.answer_system.clone()));
        let index = self.inner.index.clone();
        let focus = |passage: &str| focus(passage, &r.terms, |sentence| index.terms(sentence));
        messages.push(ChatMessage::user(user_message(text, r, focus)));
        // What the reply may mention: the evidence, the business profile, the
        // caller's own words (now and before).
        let mut known = Known::from_texts(r.evidence.iter().map(|(_, a)| a.as_str()));
        known.add(&self.rendered.system);
        known.add(text);
        for t in history.iter().filter(|t| t.role == TurnRole::Caller) {
            known.add(&t.text);
        }
        for (ev, _) in &r.evidence {
            known.add(&ev.title);
        }
        let req = ChatRequest {
            messages,
            tools: vec![],
            max_tokens: cfg.max_tokens,
            temperature: 0.0,
            timeout: cfg.llm_timeout,
            grammar: Some(ANSWERABLE_GRAMMAR.to_string()),
        };
        let reply_id = Uuid::now_v7();
        let llm_started = Instant::now();
        let outcome = self.gated(model.as_ref(), req, reply_id, &known, text).await;
        timings.llm_ms = Some(ms(llm_started.elapsed()));
        let hits = r.hits.clone();
        let cited_all: Vec<String> = r.evidence.iter().map(|(e, _)| e.id.clone()).collect();
        let g = |decision, reason: String, cited: Vec<String>| Grounding {
            decision,
            hits: hits.clone(),
            cited,
            help_request_id: None,
            reason,
        };
        let out = match outcome {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(session = %self.session.id, error = %e, "model failed; falling back");
                let reason = format!("the language model failed ({}); a supervisor was asked", fallback_kind(&e));
                let fallback = self.rendered.phrases.fallback.clone();
                return self.escalate(text, history, g(Decision::Fallback, reason, vec![]), timings, &fallback).await;
            }
        };
        timings.prompt_tokens = Some(out.prompt_tokens);
        timings.completion_tokens = Some(out.completion_tokens);
        let escalate = self.rendered.phrases.escalate.clone();
        match out.verdict {
            Verdict::NotAnswered => {
                let reason = "the model found that the evidence does not answer the question".to_string();
                self.escalate(text, history, g(Decision::Escalated, reason, vec![]), timings, &escalate).await
            }
            Verdict::Unsupported(what) if out.said.is_empty() => {
                let reason = format!("the model's answer mentioned {} which no evidence supports", what.join(", "));
                self.escalate(text, history, g(Decision::Escalated, reason, vec![]), timings, &escalate).await
            }
            Verdict::Answered if out.said.is_empty() => {
                // Nothing usable came out: read back the best sentence, when
                // it is itself close to the question (a sentence merely from
                // the same page is no answer).
                let (ev, reply, sim) = self.extract(text, r).await;
                let floor = self.inner.policy.read().unwrap_or_else(|p| p.into_inner()).extract_similarity;
                if sim.is_some_and(|s| s < floor) {
                    let reason = format!(
                        "the model's reply was unusable and the closest sentence of \"{}\" is only {:.0}% similar",
                        ev.title,
                        sim.unwrap_or(0.0) * 100.0
                    );
                    return self
                        .escalate(text, history, g(Decision::Escalated, reason, vec![]), timings, &escalate)
                        .await;
                }
                let reason = format!(
                    "the model's reply was unusable; \"{}\" read back ({:.0}% similar)",
                    ev.title,
                    sim.unwrap_or(0.0) * 100.0
                );
                self.say(&reply, g(Decision::Extractive, reason, vec![ev.id.clone()]), timings).await
            }
            verdict => {
                let reply = out.said.join(" ");
                let cited = cite(&self.inner.index, &reply, &r.evidence);
                let mut reason = format!("answered from {} piece(s) of evidence", r.evidence.len());
                if let Verdict::Unsupported(what) = verdict {
                    reason.push_str(&format!("; stopped before a sentence mentioning {}", what.join(", ")));
                }
                timings.first_token_ms = self.first_token;
                timings.total_ms = Some(ms(self.started.elapsed()));
                let mut turn = new_turn(TurnRole::Agent, &reply);
                turn.id = reply_id;
                let cited = if cited.is_empty() { cited_all } else { cited };
                turn.grounding = Some(g(Decision::Grounded, reason, cited));
                turn.timings = Some(timings);
                self.store(vec![turn]).await;
            }
        }
    }

    /// Runs the answerability-gated generation, streaming checked sentences.
    async fn gated(
        &mut self,
        model: &dyn switchboard_core::llm::LanguageModel,
        req: ChatRequest,
        reply_id: Uuid,
        known: &Known,
        question: &str,
    ) -> Result<Gated, LlmError> {
        let deadline = tokio::time::Instant::now() + req.timeout + Duration::from_secs(1);
        let mut rx = model.chat(req).await?;
        let mut raw = String::new();
        let mut out = Gated { verdict: Verdict::Answered, said: Vec::new(), prompt_tokens: 0, completion_tokens: 0 };
        // Bytes of `raw` (after the verdict) already said or dropped.
        let mut body_start: Option<usize> = None;
        let mut done = false;
        while !done {
            let next = tokio::select! {
                biased;
                // Dropping the stream stops the generation.
                _ = self.handle.token().cancelled() => return Err(LlmError::Cancelled),
                next = tokio::time::timeout_at(deadline, rx.recv()) => next.map_err(|_| LlmError::Timeout)?,
            };
            let mut finished = false;
            match next {
                None => finished = true,
                Some(Err(e)) => return Err(e),
                Some(Ok(LlmEvent::Token(t))) => raw.push_str(&t),
                Some(Ok(LlmEvent::ToolCall(_))) => {}
                Some(Ok(LlmEvent::Done { prompt_tokens, completion_tokens, .. })) => {
                    out.prompt_tokens = prompt_tokens;
                    out.completion_tokens = completion_tokens;
                    finished = true;
                }
            }
            if body_start.is_none() {
                match verdict_of(&raw, finished) {
                    Some(Some(at)) => body_start = Some(at),
                    Some(None) => {
                        out.verdict = Verdict::NotAnswered;
                        return Ok(out);
                    }
                    None if finished => return Ok(out),
                    None => continue,
                }
            }
            let start = body_start.unwrap_or(0);
            // Complete sentences (and, at the end, whatever is left).
            let body = &raw[start..];
            let mut cut = 0;
            for (i, c) in body.char_indices() {
                let end = i + c.len_utf8();
                let boundary = matches!(c, '.' | '!' | '?' | '।') && body[end..].starts_with(char::is_whitespace);
                if boundary || c == '\n' {
                    cut = end;
                }
            }
            if finished {
                cut = body.len();
            }
            if cut == 0 {
                continue;
            }
            let chunk = body[..cut].to_string();
            body_start = Some(start + cut);
            for sentence in crate::speak::sentences(&crate::speak::speakable(&chunk)) {
                if echoes(&sentence, question) {
                    // The question said back as its answer: nothing learned.
                    tracing::info!(session = %self.session.id, sentence, "reply dropped: it repeats the question");
                    return Ok(out);
                }
                let unsupported = known.unsupported(&sentence);
                if !unsupported.is_empty() {
                    tracing::info!(session = %self.session.id, ?unsupported, sentence, "reply stopped: unsupported specifics");
                    out.verdict = Verdict::Unsupported(unsupported);
                    // Dropping the stream stops the generation.
                    return Ok(out);
                }
                let piece = if out.said.is_empty() { sentence.clone() } else { format!(" {sentence}") };
                self.token(reply_id, &piece);
                out.said.push(sentence);
                if out.said.len() >= MAX_SENTENCES {
                    done = true;
                    break;
                }
            }
            done |= finished;
        }
        Ok(out)
    }

    /// The evidence sentence closest to the question (by embedding when the
    /// index has a model, else by shared terms), cleaned for speech. A short
    /// learned answer is read whole.
    async fn extract(&self, text: &str, r: &Retrieval) -> (Evidence, String, Option<f32>) {
        let (ev, passage) = r.evidence[0].clone();
        if ev.kind.is_qa() && passage.chars().count() <= FOCUS_ABOVE {
            return (ev.clone(), crate::speak::speakable(&passage), ev.similarity);
        }
        // A question (an FAQ page's heading) is never the answer.
        let sentences: Vec<String> = crate::speak::sentences(&passage)
            .into_iter()
            .filter(|s| s.split_whitespace().count() >= 3 && !s.trim_end().ends_with('?'))
            .collect();
        if sentences.is_empty() {
            return (ev.clone(), crate::speak::speakable(&passage), ev.similarity);
        }
        let mut texts = vec![text.to_string()];
        texts.extend(sentences.iter().cloned());
        let best = match self.inner.index.embed(texts).await {
            Some(v) if v.len() == sentences.len() + 1 => (1..v.len())
                .map(|i| (i, switchboard_core::embed::cosine(&v[0], &v[i])))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, sim)| (sentences[i - 1].clone(), Some(sim))),
            _ => None,
        };
        let (best, sim) = best.unwrap_or_else(|| {
            let index = self.inner.index.clone();
            (focus(&passage, &r.terms, |s| index.terms(s)), None)
        });
        (ev, crate::speak::speakable(&best), sim)
    }

    /// The system prompt and the last turns of the conversation, for the model.
    fn conversation(&self, history: &[Turn]) -> Vec<ChatMessage> {
        let mut messages = vec![ChatMessage::system(self.rendered.system.clone())];
        let earlier: Vec<&Turn> = history.iter().filter(|t| t.role != TurnRole::Tool).collect();
        for t in earlier.iter().skip(earlier.len().saturating_sub(self.inner.config.history_turns)) {
            messages.push(match t.role {
                TurnRole::Caller => ChatMessage::user(&t.text),
                _ => ChatMessage::assistant(&t.text, vec![]),
            });
        }
        messages
    }

    /// One model call: streams its text as tokens; returns text and tool calls.
    async fn generate(
        &mut self,
        model: &dyn switchboard_core::llm::LanguageModel,
        req: ChatRequest,
        reply_id: Uuid,
        prompt_tokens: &mut u32,
        completion_tokens: &mut u32,
        hold: bool,
    ) -> Result<(String, Vec<ToolCall>), LlmError> {
        let deadline = tokio::time::Instant::now() + req.timeout + Duration::from_secs(1);
        let mut rx = model.chat(req).await?;
        let mut text = String::new();
        let mut calls = Vec::new();
        loop {
            let next = tokio::select! {
                biased;
                _ = self.handle.token().cancelled() => return Err(LlmError::Cancelled),
                next = tokio::time::timeout_at(deadline, rx.recv()) => next.map_err(|_| LlmError::Timeout)?,
            };
            match next {
                None => break,
                Some(Err(e)) => return Err(e),
                Some(Ok(LlmEvent::Token(t))) => {
                    text.push_str(&t);
                    if !hold {
                        self.token(reply_id, &t);
                    }
                }
                Some(Ok(LlmEvent::ToolCall(c))) => calls.push(c),
                Some(Ok(LlmEvent::Done { prompt_tokens: p, completion_tokens: c, .. })) => {
                    *prompt_tokens += p;
                    *completion_tokens += c;
                    break;
                }
            }
        }
        Ok((text, calls))
    }
}

/// A tool call a small model wrote as prose plus JSON ("Sure, here's the
/// booking: {"date": ...}"): the first JSON object in `text`, read as a call
/// when it names an offered tool (`name` with `arguments`), or when its keys,
/// besides a stray `name`, are exactly the arguments of one offered tool with
/// all its required ones present. Anything ambiguous is left as text.
fn recover_call(text: &str, offered: &[ToolSpec], round: u32) -> Option<ToolCall> {
    if offered.is_empty() {
        return None;
    }
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    let obj: serde_json::Map<String, Value> = serde_json::from_str(text.get(start..=end)?).ok()?;
    let id = format!("recovered-{round}");
    let named = obj.get("name").and_then(Value::as_str).and_then(|n| offered.iter().find(|t| t.name == n));
    if let Some(spec) = named {
        let args = obj.get("arguments").or_else(|| obj.get("parameters")).cloned().unwrap_or(json!({}));
        return Some(ToolCall { id, name: spec.name.clone(), arguments: args.to_string() });
    }
    let args: serde_json::Map<String, Value> = obj.into_iter().filter(|(k, _)| k != "name").collect();
    let fits = |spec: &&ToolSpec| {
        let props = spec.parameters.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = spec
            .parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        !args.is_empty()
            && args.keys().all(|k| props.is_some_and(|p| p.contains_key(k)))
            && required.iter().all(|r| args.contains_key(*r))
    };
    let mut matching = offered.iter().filter(fits);
    let spec = matching.next()?;
    if matching.next().is_some() {
        return None;
    }
    Some(ToolCall { id, name: spec.name.clone(), arguments: Value::Object(args).to_string() })
}

/// Whether a reply can be said to a caller: words, not JSON or tool markup.
fn speakable(reply: &str) -> bool {
    let t = reply.trim();
    let markup = t.starts_with('{')
        || t.starts_with('[')
        || t.starts_with("```")
        || t.contains("<tool_call>")
        || t.contains("\"arguments\"")
        || t.contains("\"name\":");
    !t.is_empty() && !markup
}

const WEEKDAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// The opening hours cut to the days the caller names ("what time do you
/// close on Thursdays?"): one line, not a week's table, for the model to
/// read. All of them when no day is named.
fn days_asked(hours: &str, question: &str) -> String {
    let q = question.to_lowercase();
    let named: Vec<&str> = WEEKDAYS.iter().copied().filter(|d| q.contains(d)).collect();
    if named.is_empty() {
        return hours.to_string();
    }
    let body = hours.split_once(": ").map(|(_, b)| b).unwrap_or(hours);
    let lines: Vec<String> = crate::speak::sentences(body)
        .into_iter()
        .filter(|line| named.iter().any(|d| line.to_lowercase().starts_with(&d[..3])))
        .collect();
    if lines.is_empty() { hours.to_string() } else { format!("Our opening hours: {}", lines.join(" ")) }
}

/// How a caller asks for a profile fact (titled as `prompts.rs` titles them).
fn asked_as(title: &str) -> &'static str {
    match title {
        "Opening hours" => "What are your opening hours? When are you open and what time do you close?",
        "Address" => "Where are you located? What is your address?",
        "Phone number" => "What is your phone number?",
        _ => "What is your website?",
    }
}

/// Without embeddings, a profile fact is evidence when the question names
/// its subject ("hours", "open", "address", "phone").
fn title_matches(title: &str, words: &[String]) -> bool {
    let subject: &[&str] = match title {
        "Opening hours" => &["hour", "open", "close", "shut"],
        "Address" => &["address", "where", "locat", "find"],
        "Phone number" => &["phone", "number", "call"],
        _ => &["websit", "site", "onlin"],
    };
    words.iter().any(|w| subject.iter().any(|s| w.starts_with(s)))
}

fn fallback_kind(e: &LlmError) -> &'static str {
    match e {
        LlmError::Timeout => "timed out",
        LlmError::Unavailable(_) => "unavailable",
        LlmError::Protocol(_) => "unreadable answer",
        LlmError::Backend(_) => "engine error",
        LlmError::Cancelled => "cut off",
    }
}

/// The caller's words with the evidence the model may use, numbered, and
/// today's date for bookings (here rather than in the system prompt, which
/// stays byte-identical so its KV cache is reused).
fn user_message(text: &str, r: &Retrieval, focus: impl Fn(&str) -> String) -> String {
    let today = chrono::Utc::now().date_naive();
    let mut s = format!("(Today is {}.)\n", today.format("%A %Y-%m-%d"));
    if r.evidence.is_empty() {
        s.push_str(text);
        return s;
    }
    s.push_str("Facts:\n");
    for (i, (ev, answer)) in r.evidence.iter().take(3).enumerate() {
        // A page's title is its breadcrumb; its last part names the topic
        // (the rest the model would only copy into the answer).
        let topic = ev.title.rsplit('›').next().unwrap_or(&ev.title).trim();
        s.push_str(&format!("[{}] {}: {}\n", i + 1, topic, focus(answer)));
    }
    s.push_str(&format!("\nCaller: {text}"));
    s
}

/// Longest evidence text sent to the model as is, in characters.
const FOCUS_ABOVE: usize = 400;

/// A long passage (a crawled page's) cut to the sentences that share the
/// most of the question's `query` terms, at most two, in their order: the
/// model reads less (prefill dominates its first token on 2 cores) and less
/// that is beside the point. Short entries pass whole.
fn focus(passage: &str, query: &[String], analyze: impl Fn(&str) -> Vec<(String, f32)>) -> String {
    if passage.chars().count() <= FOCUS_ABOVE {
        return passage.to_string();
    }
    let mut sentences: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, c) in passage.char_indices() {
        let end = i + c.len_utf8();
        let boundary =
            c == '\n' || (matches!(c, '.' | '?' | '!' | '।') && passage[end..].starts_with(char::is_whitespace));
        if boundary {
            sentences.push(&passage[start..end]);
            start = end;
        }
    }
    sentences.push(&passage[start..]);
    let sentences: Vec<&str> = sentences.into_iter().map(str::trim).filter(|s| !s.is_empty()).collect();
    let score = |s: &str| analyze(s).iter().filter(|(t, _)| query.contains(t)).count();
    let mut ranked: Vec<(usize, usize)> = sentences.iter().enumerate().map(|(i, s)| (score(s), i)).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut keep: Vec<usize> = ranked.iter().take(2).filter(|(sc, _)| *sc > 0).map(|(_, i)| *i).collect();
    if keep.is_empty() {
        return passage.chars().take(FOCUS_ABOVE).collect();
    }
    keep.sort_unstable();
    keep.iter().map(|i| sentences[*i]).collect::<Vec<_>>().join(" ")
}

/// Evidence the reply draws on: those sharing terms with it (all, if none do).
fn cite(
    index: &std::sync::Arc<dyn switchboard_core::ports::KnowledgeIndex>,
    reply: &str,
    evidence: &[(Evidence, String)],
) -> Vec<String> {
    let reply_terms: Vec<String> = index.terms(reply).into_iter().map(|(t, _)| t).collect();
    let used: Vec<String> = evidence
        .iter()
        .filter(|(_, answer)| index.terms(answer).iter().filter(|(t, _)| reply_terms.contains(t)).count() >= 2)
        .map(|(e, _)| e.id.clone())
        .collect();
    if used.is_empty() { evidence.iter().map(|(e, _)| e.id.clone()).collect() } else { used }
}

fn no_evidence_reason(r: &Retrieval, p: &crate::policy::GroundingPolicy) -> String {
    match r.hits.first() {
        None => "nothing in the knowledge base matches this question".into(),
        Some(best) => format!(
            "best match \"{}\" covers {:.0}% of the question (score {:.2}); evidence needs {:.0}% and score {:.2}",
            best.title,
            best.coverage * 100.0,
            best.score,
            p.evidence_coverage * 100.0,
            p.evidence_min_score
        ),
    }
}

/// The conversation so far, for the supervisor reading the request.
fn history_for_request(history: &[Turn], current: &str) -> Vec<HistoryTurn> {
    let mut out: Vec<HistoryTurn> = history
        .iter()
        .filter(|t| matches!(t.role, TurnRole::Caller | TurnRole::Agent | TurnRole::Supervisor))
        .rev()
        .take(10)
        .map(|t| HistoryTurn { role: t.role.as_str().into(), text: t.text.clone(), at: Some(t.created_at) })
        .collect();
    out.reverse();
    out.push(HistoryTurn { role: "caller".into(), text: current.to_string(), at: Some(time::now()) });
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hours_are_cut_to_the_days_asked() {
        let h = "Our opening hours: Monday: closed. Tuesday: 9 am to 6 pm. Saturday: 8:30 am to 5 pm.";
        assert_eq!(
            super::days_asked(h, "How late are you open on Tuesdays?"),
            "Our opening hours: Tuesday: 9 am to 6 pm."
        );
        assert_eq!(
            super::days_asked(h, "Open Monday or Saturday?"),
            "Our opening hours: Monday: closed. Saturday: 8:30 am to 5 pm."
        );
        assert_eq!(super::days_asked(h, "When are you open?"), h);
    }

    use super::*;

    fn spec(name: &str, props: &[&str], required: &[&str]) -> ToolSpec {
        let properties: serde_json::Map<String, Value> =
            props.iter().map(|p| (p.to_string(), json!({"type": "string"}))).collect();
        ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters: json!({"type": "object", "properties": properties, "required": required}),
        }
    }

    #[test]
    fn calls_written_as_prose_are_recovered_only_when_unambiguous() {
        let tools = [
            spec(
                "create_appointment",
                &["customer_id", "service", "date", "time", "staff"],
                &["service", "date", "time"],
            ),
            spec("check_availability", &["date", "service", "staff"], &["date", "service"]),
            spec("get_order", &["order_id"], &["order_id"]),
        ];
        let text = "Sure, here's the booking request:\n{\"name\": \"Men's cut\", \"date\": \"2026-12-04\", \"service\": \"Men's cut\", \"time\": \"11:00\"}";
        let c = recover_call(text, &tools, 0).unwrap();
        assert_eq!(c.name, "create_appointment");
        let args: Value = serde_json::from_str(&c.arguments).unwrap();
        assert_eq!(args, json!({"date": "2026-12-04", "service": "Men's cut", "time": "11:00"}));
        // Named explicitly.
        let c = recover_call(r#"{"name": "get_order", "arguments": {"order_id": "O-1001"}}"#, &tools, 1).unwrap();
        assert_eq!((c.name.as_str(), c.arguments.as_str()), ("get_order", r#"{"order_id":"O-1001"}"#));
        // Without a time it can only be the availability check.
        assert_eq!(
            recover_call(r#"{"date": "2026-12-04", "service": "gloss"}"#, &tools, 0).unwrap().name,
            "check_availability"
        );
        // Fits two tools: ambiguous, left as text.
        let twins =
            [spec("get_order", &["order_id"], &["order_id"]), spec("track_order", &["order_id"], &["order_id"])];
        assert!(recover_call(r#"{"order_id": "O-1001"}"#, &twins, 0).is_none());
        // Unknown keys, no JSON, or no tools offered: not a call.
        assert!(recover_call(r#"{"colour": "red"}"#, &tools, 0).is_none());
        assert!(recover_call("We open at ten.", &tools, 0).is_none());
        assert!(recover_call(r#"{"order_id": "1"}"#, &[], 0).is_none());
    }

    #[test]
    fn long_passages_are_cut_to_the_sentences_about_the_question() {
        let words = |s: &str| -> Vec<(String, f32)> {
            s.to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(|w| (w.to_string(), 1.0))
                .collect()
        };
        let filler = "We love hair and we love our neighbourhood very much indeed. ".repeat(8);
        let passage =
            format!("{filler}Gift cards are sold in any amount from 25 dollars. They never expire.\n{filler}");
        let query = vec!["gift".to_string(), "cards".to_string()];
        assert_eq!(focus(&passage, &query, words), "Gift cards are sold in any amount from 25 dollars.");
        // Short text passes whole; no match keeps the start.
        assert_eq!(focus("Open at ten. Closed Mondays.", &query, words), "Open at ten. Closed Mondays.");
        assert_eq!(focus(&passage, &["wifi".to_string()], words).chars().count(), FOCUS_ABOVE);
    }

    #[test]
    fn markup_is_not_speakable() {
        assert!(speakable("We open at ten."));
        for bad in
            ["", "  ", r#"{"results": []}"#, "[1]", "```json\n{}\n```", r#"Sure: {"name": "x", "arguments": {}}"#]
        {
            assert!(!speakable(bad), "{bad:?}");
        }
    }
}
