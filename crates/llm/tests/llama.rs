//! `LlamaEngine` with the real embedded model, found where the app looks
//! for it (`default_model_path()`, or `SWITCHBOARD_LLM_MODEL_PATH`). When
//! the file is missing each test says so and passes: `make setup` installs it.
//!
//! One engine is shared and the tests take turns (2 cores: parallel
//! generations would only slow each other down).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_core::llm::{
    ChatMessage, ChatRequest, FinishReason, LanguageModel, LlmError, LlmEvent, LlmStream, ToolCall, ToolSpec,
};
use switchboard_llm::{LlamaEngine, LlamaOptions, default_model_path};
use tokio::sync::{Mutex, MutexGuard};

fn model_path() -> PathBuf {
    std::env::var_os("SWITCHBOARD_LLM_MODEL_PATH").map(PathBuf::from).unwrap_or_else(default_model_path)
}

/// The shared engine and the turn to use it, or `None` (test skipped).
async fn engine() -> Option<(Arc<LlamaEngine>, MutexGuard<'static, ()>)> {
    static ENGINE: OnceLock<Option<Arc<LlamaEngine>>> = OnceLock::new();
    static TURN: Mutex<()> = Mutex::const_new(());
    let turn = TURN.lock().await;
    let engine = ENGINE.get_or_init(|| {
        let path = model_path();
        if !path.is_file() {
            eprintln!("SKIPPED: no model at {} (run `make setup` or scripts/models.sh)", path.display());
            return None;
        }
        Some(Arc::new(LlamaEngine::load(path, LlamaOptions::default()).expect("the model loads")))
    });
    engine.clone().map(|e| (e, turn))
}

fn request(messages: Vec<ChatMessage>, tools: Vec<ToolSpec>, max_tokens: u32) -> ChatRequest {
    ChatRequest { messages, tools, max_tokens, temperature: 0.0, timeout: Duration::from_secs(120) }
}

fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: "Get the current weather for a city.".into(),
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name"}},
            "required": ["city"],
        }),
    }
}

async fn drain(mut rx: LlmStream) -> (Vec<LlmEvent>, Option<LlmError>) {
    let mut events = Vec::new();
    while let Some(item) = rx.recv().await {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

fn text_of(events: &[LlmEvent]) -> String {
    events.iter().filter_map(|e| if let LlmEvent::Token(t) = e { Some(t.as_str()) } else { None }).collect()
}

fn calls_of(events: &[LlmEvent]) -> Vec<ToolCall> {
    events.iter().filter_map(|e| if let LlmEvent::ToolCall(c) = e { Some(c.clone()) } else { None }).collect()
}

#[tokio::test]
async fn a_plain_question_streams_tokens_and_finishes() {
    let Some((engine, _turn)) = engine().await else { return };
    assert!(engine.info().ready);
    assert_eq!(engine.info().engine, "llama");
    let req = request(
        vec![
            ChatMessage::system("You are a helpful assistant. Answer briefly."),
            ChatMessage::user("What is the capital of France?"),
        ],
        vec![],
        48,
    );
    let (events, err) = drain(engine.chat(req).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    let tokens = events.iter().filter(|e| matches!(e, LlmEvent::Token(_))).count();
    let text = text_of(&events);
    eprintln!("answer: {text:?}; stats {:?}", engine.last_stats());
    assert!(tokens > 1, "streamed in pieces: {events:?}");
    assert!(text.contains("Paris"), "{text}");
    assert!(!text.contains("<|im_end|>"), "{text}");
    match events.last() {
        Some(LlmEvent::Done { finish: FinishReason::Stop, prompt_tokens, completion_tokens }) => {
            assert!(*prompt_tokens > 10 && *completion_tokens as usize >= tokens);
        }
        other => panic!("expected Done(Stop), got {other:?}"),
    }
}

#[tokio::test]
async fn a_question_that_needs_the_tool_yields_a_tool_call_with_json_arguments() {
    let Some((engine, _turn)) = engine().await else { return };
    let req = request(
        vec![
            ChatMessage::system("You are a helpful assistant."),
            ChatMessage::user("What's the weather in Paris? Use the tool."),
        ],
        vec![weather_tool()],
        96,
    );
    let (events, err) = drain(engine.chat(req).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    let calls = calls_of(&events);
    eprintln!("tool call: {calls:?}; stats {:?}", engine.last_stats());
    assert_eq!(calls.len(), 1, "{events:?}");
    assert_eq!(calls[0].name, "get_weather");
    assert!(calls[0].id.starts_with("call_"));
    let args: Value = serde_json::from_str(&calls[0].arguments).expect("arguments are JSON");
    assert!(args["city"].as_str().is_some_and(|c| c.to_lowercase().contains("paris")), "{args}");
    assert!(!text_of(&events).contains("tool_call"), "markup is not spoken: {events:?}");
    assert!(matches!(events.last(), Some(LlmEvent::Done { finish: FinishReason::ToolCalls, .. })), "{events:?}");
}

#[tokio::test]
async fn a_second_call_sharing_the_prefix_decodes_only_the_new_part() {
    let Some((engine, _turn)) = engine().await else { return };
    let system = ChatMessage::system(
        "You are the phone assistant of Bella Hair Salon. We are open Tuesday to Saturday, 9:00 to 18:00. \
         A women's cut costs 45 euros, a men's cut 30 euros. Answer in one short sentence.",
    );
    let tools = vec![weather_tool()];

    let first = request(vec![system.clone(), ChatMessage::user("When are you open?")], tools.clone(), 24);
    let (events, err) = drain(engine.chat(first).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    let reply = text_of(&events);
    let s1 = engine.last_stats().unwrap();

    // Another caller, same system prompt and tools.
    let second = request(vec![system.clone(), ChatMessage::user("How much is a men's cut?")], tools.clone(), 24);
    let before = engine.prompt_tokens_decoded();
    let (_, err) = drain(engine.chat(second).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    let s2 = engine.last_stats().unwrap();
    assert_eq!(engine.prompt_tokens_decoded() - before, s2.prompt_decoded as u64);
    assert!(
        s2.prompt_decoded * 4 < s2.prompt_tokens,
        "the system prompt and tools came from the cache: decoded {} of {} (first call decoded {} of {})",
        s2.prompt_decoded,
        s2.prompt_tokens,
        s1.prompt_decoded,
        s1.prompt_tokens
    );

    // The first caller's next turn: the whole earlier exchange is a prefix
    // except what the cache lost to the second caller.
    let third = request(
        vec![
            system,
            ChatMessage::user("How much is a men's cut?"),
            ChatMessage::assistant(reply, vec![]),
            ChatMessage::user("Thanks. And a women's cut?"),
        ],
        tools,
        24,
    );
    let (_, err) = drain(engine.chat(third).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    let s3 = engine.last_stats().unwrap();
    eprintln!(
        "prompt tokens decoded/total: first {}/{}, second {}/{}, next turn {}/{}",
        s1.prompt_decoded, s1.prompt_tokens, s2.prompt_decoded, s2.prompt_tokens, s3.prompt_decoded, s3.prompt_tokens
    );
    assert!(s3.prompt_decoded < s3.prompt_tokens / 2, "{s3:?}");
}

#[tokio::test]
async fn max_tokens_ends_with_length() {
    let Some((engine, _turn)) = engine().await else { return };
    let req = request(vec![ChatMessage::user("Count from 1 to 100, separated by commas.")], vec![], 5);
    let (events, err) = drain(engine.chat(req).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events.last(),
        Some(&LlmEvent::Done {
            finish: FinishReason::Length,
            prompt_tokens: events_prompt(&events),
            completion_tokens: 5
        })
    );
}

fn events_prompt(events: &[LlmEvent]) -> u32 {
    match events.last() {
        Some(LlmEvent::Done { prompt_tokens, .. }) => *prompt_tokens,
        _ => 0,
    }
}

#[tokio::test]
async fn a_generation_past_its_timeout_fails_with_timeout() {
    let Some((engine, _turn)) = engine().await else { return };
    let mut req = request(vec![ChatMessage::user("Write a long story about a lighthouse keeper.")], vec![], 2000);
    req.timeout = Duration::from_millis(700);
    let started = Instant::now();
    let (events, err) = drain(engine.chat(req).await.unwrap()).await;
    assert!(matches!(err, Some(LlmError::Timeout)), "{err:?} after {events:?}");
    assert!(!events.iter().any(|e| matches!(e, LlmEvent::Done { .. })));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn dropping_the_stream_frees_the_engine_and_queued_requests_all_finish() {
    let Some((engine, _turn)) = engine().await else { return };
    let long = request(vec![ChatMessage::user("Write a long story about a lighthouse keeper.")], vec![], 2000);
    let mut rx = engine.chat(long).await.unwrap();
    assert!(matches!(rx.recv().await, Some(Ok(LlmEvent::Token(_)))));
    drop(rx);

    // Two at once: they queue behind each other and both complete.
    let started = Instant::now();
    let ask = |q: &str| request(vec![ChatMessage::user(q)], vec![], 16);
    let (a, b) = tokio::join!(async { drain(engine.chat(ask("Say hello.")).await.unwrap()).await }, async {
        drain(engine.chat(ask("Say goodbye.")).await.unwrap()).await
    },);
    for (events, err) in [a, b] {
        assert!(err.is_none(), "{err:?}");
        assert!(matches!(events.last(), Some(LlmEvent::Done { .. })), "{events:?}");
    }
    // 2000 tokens of story would take far longer than this (minutes), even
    // on a llama.cpp built without SIMD.
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
}
