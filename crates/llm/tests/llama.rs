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

/// Tests that run the model take turns.
static TURN: Mutex<()> = Mutex::const_new(());

/// The shared engine and the turn to use it, or `None` (test skipped).
async fn engine() -> Option<(Arc<LlamaEngine>, MutexGuard<'static, ()>)> {
    static ENGINE: OnceLock<Option<Arc<LlamaEngine>>> = OnceLock::new();
    let turn = TURN.lock().await;
    let engine = ENGINE.get_or_init(|| {
        let path = model_path();
        if !path.is_file() {
            eprintln!("SKIPPED: no model at {} (run `make setup` or switchboard models install)", path.display());
            return None;
        }
        Some(Arc::new(LlamaEngine::load(path, LlamaOptions::default()).expect("the model loads")))
    });
    engine.clone().map(|e| (e, turn))
}

fn request(messages: Vec<ChatMessage>, tools: Vec<ToolSpec>, max_tokens: u32) -> ChatRequest {
    ChatRequest { messages, tools, max_tokens, temperature: 0.0, timeout: Duration::from_secs(120), grammar: None }
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

/// A system prompt of several hundred tokens, like the agent's.
fn long_system_prompt() -> String {
    let mut s = String::from(
        "You are the phone assistant of Bella Hair Salon, 12 Market Street. Speak warmly and briefly, \
         in one or two short sentences, no lists. Answer only from these facts:\n",
    );
    for fact in [
        "Opening hours: Tuesday to Friday 9:00 to 18:00, Saturday 9:00 to 16:00; closed Sunday and Monday.",
        "Prices: women's cut 45 euros, men's cut 30 euros, children under 12 18 euros, beard trim 12 euros.",
        "Colour from 70 euros, highlights from 85 euros, blow-dry 25 euros.",
        "A cut takes 30 to 45 minutes, a colour about 2 hours, highlights about 2.5 hours.",
        "Cancellation is free up to 24 hours before; later cancellations pay half the price.",
        "Payment: cash, cards and contactless. Gift cards from 20 euros, valid for a year.",
        "Team: Maria (owner, colour), Tom (men's cuts and beards), Aisha (cuts and styling).",
        "Parking: two free spaces behind the building; a public car park on Station Road.",
        "Assistance dogs are welcome; other pets cannot come in.",
        "Every tenth cut is free with the loyalty card.",
    ] {
        s.push_str("- ");
        s.push_str(fact);
        s.push('\n');
    }
    s.push_str("When the facts do not answer the question, say you will check with a colleague.");
    s
}

fn state_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "state")).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// One question on a new engine (a restart) with `state_dir`: its answer
/// and figures.
async fn ask_fresh_engine(
    state_dir: &std::path::Path,
    req: &ChatRequest,
) -> (String, switchboard_llm::GenerationStats) {
    let opts = LlamaOptions { state_dir: Some(state_dir.to_path_buf()), ..LlamaOptions::default() };
    let engine = LlamaEngine::load(model_path(), opts).expect("the model loads");
    let (events, err) = drain(engine.chat(req.clone()).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    let stats = engine.last_stats().unwrap();
    assert_eq!(engine.prompt_tokens_decoded(), stats.prompt_decoded as u64);
    (
        format!(
            "{}{:?}",
            text_of(&events),
            calls_of(&events).iter().map(|c| (&c.name, &c.arguments)).collect::<Vec<_>>()
        ),
        stats,
    )
}

#[tokio::test]
async fn a_new_engine_restores_the_saved_system_prompt_and_ignores_a_corrupt_file() {
    if !model_path().is_file() {
        eprintln!("SKIPPED: no model at {}", model_path().display());
        return;
    }
    let _turn = TURN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(
        vec![ChatMessage::system(long_system_prompt()), ChatMessage::user("How much is a men's cut?")],
        vec![weather_tool()],
        32,
    );

    // First start: everything is evaluated, and the system turn saved.
    let started = Instant::now();
    let (answer, s1) = ask_fresh_engine(dir.path(), &req).await;
    let t1 = started.elapsed();
    assert_eq!((s1.prompt_decoded, s1.prompt_restored), (s1.prompt_tokens, 0), "{s1:?}");
    let files = state_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");

    // A restart: the system turn comes from the file; the answer is the same.
    let started = Instant::now();
    let (again, s2) = ask_fresh_engine(dir.path(), &req).await;
    let t2 = started.elapsed();
    eprintln!(
        "answer {answer:?}; first start decoded {}/{} in {:?} (prompt {:?}), restart decoded {}/{} (restored {}) in {:?} (prompt {:?})",
        s1.prompt_decoded,
        s1.prompt_tokens,
        t1,
        s1.prompt_eval,
        s2.prompt_decoded,
        s2.prompt_tokens,
        s2.prompt_restored,
        t2,
        s2.prompt_eval
    );
    assert_eq!(again, answer);
    assert!(s2.prompt_restored > 400, "{s2:?}");
    assert_eq!(s2.prompt_restored + s2.prompt_decoded, s2.prompt_tokens);
    assert!(s2.prompt_decoded * 10 < s2.prompt_tokens, "{s2:?}");
    assert!(s2.prompt_eval * 2 < s1.prompt_eval, "{:?} vs {:?}", s2.prompt_eval, s1.prompt_eval);

    // A corrupt file (one byte flipped in the state) is ignored, deleted and
    // saved again; a truncated one too.
    let file = &files[0];
    let mut bytes = std::fs::read(file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(file, &bytes).unwrap();
    let (third, s3) = ask_fresh_engine(dir.path(), &req).await;
    assert_eq!(third, answer);
    assert_eq!((s3.prompt_decoded, s3.prompt_restored), (s3.prompt_tokens, 0), "{s3:?}");
    assert_eq!(state_files(dir.path()), files, "saved again under the same name");

    std::fs::write(file, &std::fs::read(file).unwrap()[..mid]).unwrap();
    let (fourth, s4) = ask_fresh_engine(dir.path(), &req).await;
    assert_eq!(fourth, answer);
    assert_eq!(s4.prompt_restored, 0, "{s4:?}");

    // And the file saved after that one is good again.
    let (fifth, s5) = ask_fresh_engine(dir.path(), &req).await;
    assert_eq!(fifth, answer);
    assert_eq!(s5.prompt_restored, s2.prompt_restored, "{s5:?}");
}

#[tokio::test]
async fn with_tools_offered_a_plain_question_is_still_answered_in_words() {
    let Some((engine, _turn)) = engine().await else { return };
    let req = request(
        vec![
            ChatMessage::system("You are a helpful assistant. Answer briefly."),
            ChatMessage::user("What is the capital of France?"),
        ],
        vec![weather_tool()],
        48,
    );
    let (events, err) = drain(engine.chat(req).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    let text = text_of(&events);
    eprintln!("answer: {text:?}; stats {:?}", engine.last_stats());
    assert!(calls_of(&events).is_empty(), "{events:?}");
    assert!(text.contains("Paris"), "{text}");
    assert!(matches!(events.last(), Some(LlmEvent::Done { finish: FinishReason::Stop, .. })), "{events:?}");
}

fn booking_tools() -> Vec<ToolSpec> {
    vec![
        weather_tool(),
        ToolSpec {
            name: "book_appointment".into(),
            description: "Book a salon appointment.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "date": {"type": "string", "description": "YYYY-MM-DD"},
                    "service": {"type": "string", "enum": ["womens_cut", "mens_cut", "colour", "beard_trim"]},
                    "stylist": {"type": "string"},
                    "time": {"type": "string", "description": "HH:MM"},
                },
                "required": ["date", "service", "time"],
            }),
        },
    ]
}

#[tokio::test]
async fn a_tool_call_follows_the_offered_schema() {
    let Some((engine, _turn)) = engine().await else { return };
    let req = request(
        vec![
            ChatMessage::system("You are the booking assistant of a hair salon. Today is 2025-03-10."),
            ChatMessage::user("Please book me a men's haircut on 2025-03-14 at 10:30."),
        ],
        booking_tools(),
        128,
    );
    let (events, err) = drain(engine.chat(req).await.unwrap()).await;
    assert!(err.is_none(), "{err:?}");
    let calls = calls_of(&events);
    eprintln!("calls: {calls:?}; text {:?}; stats {:?}", text_of(&events), engine.last_stats());
    assert_eq!(calls.len(), 1, "{events:?}");
    assert_eq!(calls[0].name, "book_appointment");
    let args: Value = serde_json::from_str(&calls[0].arguments).expect("arguments are JSON");
    let obj = args.as_object().unwrap();
    for key in obj.keys() {
        assert!(["date", "service", "stylist", "time"].contains(&key.as_str()), "unknown key {key}: {args}");
    }
    for key in ["date", "service", "time"] {
        assert!(obj.get(key).is_some_and(Value::is_string), "{key} missing: {args}");
    }
    assert!(["womens_cut", "mens_cut", "colour", "beard_trim"].contains(&args["service"].as_str().unwrap()), "{args}");
    assert_eq!(args["service"], "mens_cut", "{args}");
    assert_eq!(args["date"], "2025-03-14", "{args}");
}

/// The demo business's tools, as `switchboard-business` describes them
/// (names, descriptions, argument schemas).
fn business_tools() -> Vec<ToolSpec> {
    fn tool(name: &str, description: &str, props: &[(&str, &str, bool)]) -> ToolSpec {
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        for &(key, description, req) in props {
            let mut p = json!({"type": "string"});
            if !description.is_empty() {
                p["description"] = json!(description);
            }
            if key == "items" {
                p = json!({"type": "array", "items": {"type": "string"}, "description": description});
            }
            properties.insert(key.into(), p);
            if req {
                required.push(key);
            }
        }
        ToolSpec {
            name: name.into(),
            description: description.into(),
            parameters: json!({"type": "object", "properties": properties, "required": required}),
        }
    }
    vec![
        tool("find_customer", "Find a customer by phone, email or name.", &[("query", "", true)]),
        tool(
            "create_customer",
            "Add a new customer.",
            &[("name", "", true), ("phone", "", true), ("email", "", false)],
        ),
        tool(
            "check_availability",
            "Free start times for a service on a date.",
            &[("date", "YYYY-MM-DD", true), ("service", "", true), ("stylist", "", false)],
        ),
        tool(
            "get_appointments",
            "A customer's upcoming appointments.",
            &[("customer_id", "default: the caller", false)],
        ),
        tool(
            "create_appointment",
            "Book an appointment.",
            &[
                ("customer_id", "default: the caller", false),
                ("service", "", true),
                ("date", "YYYY-MM-DD", true),
                ("time", "HH:MM", true),
                ("stylist", "", false),
            ],
        ),
        tool(
            "reschedule_appointment",
            "Move an appointment to a new date and time.",
            &[
                ("appointment_id", "", true),
                ("date", "YYYY-MM-DD", true),
                ("time", "HH:MM", true),
                ("stylist", "", false),
            ],
        ),
        tool("cancel_appointment", "Cancel an appointment.", &[("appointment_id", "", true)]),
        tool("get_order", "An order's status, items and total.", &[("order_id", "", true)]),
        tool("track_order", "Shipping status and tracking of an order.", &[("order_id", "", true)]),
        tool("cancel_order", "Cancel an order that has not shipped.", &[("order_id", "", true)]),
        tool("search_products", "Search the products we sell.", &[("query", "", true)]),
        tool("get_product_details", "Price, stock and description of a product.", &[("product", "SKU or name", true)]),
        tool(
            "initiate_return",
            "Start a return of a delivered order.",
            &[("order_id", "", true), ("reason", "", true), ("items", "SKUs; all if omitted", false)],
        ),
        tool("get_return_status", "Status of a return.", &[("id", "Return id or order number", true)]),
        tool(
            "get_policy",
            "A policy: cancellation, lateness, deposits, returns, refunds, children, payment, privacy.",
            &[("topic", "", true)],
        ),
    ]
}

/// Whether `args` (JSON text) fits `tool`'s schema: an object, required
/// keys present, no others, values of the declared type.
fn fits_schema(tool: &ToolSpec, args: &str) -> bool {
    let Ok(Value::Object(args)) = serde_json::from_str::<Value>(args) else { return false };
    let props = tool.parameters["properties"].as_object().unwrap();
    let required = tool.parameters["required"].as_array().unwrap();
    required.iter().all(|k| args.contains_key(k.as_str().unwrap()))
        && args.iter().all(|(k, v)| match props.get(k).and_then(|p| p["type"].as_str()) {
            Some("string") => v.is_string(),
            Some("array") => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            _ => false,
        })
}

/// Tool use on the real model, with and without the tool grammar: which
/// calls are made, and whether they fit the schemas. A measurement (prints
/// a table), run on request: `cargo test -p switchboard-llm --test llama
/// tool_calls_with_and_without -- --ignored --nocapture`
/// (`SWITCHBOARD_LLM_MODEL_PATH` for another model).
#[tokio::test]
#[ignore = "a measurement of several minutes"]
async fn tool_calls_with_and_without_the_grammar() {
    if !model_path().is_file() {
        eprintln!("SKIPPED: no model at {}", model_path().display());
        return;
    }
    let _turn = TURN.lock().await;
    let tools = business_tools();
    let system = "You are the phone assistant of Juniper & Fern, a hair salon that also sells hair products online. \
                  Today is Monday 2025-03-10. The caller is customer C-101. Use the tools for appointments, orders, \
                  products, returns and policies; otherwise answer briefly in words.";
    // (question, the tool expected, or None for words)
    let cases: &[(&str, Option<&[&str]>)] = &[
        ("Please book me a men's cut on 2025-03-14 at 11:00.", Some(&["create_appointment"])),
        ("Is there a free slot for a women's cut on 2025-03-15?", Some(&["check_availability"])),
        ("Where is my order 10023? Has it shipped?", Some(&["track_order", "get_order"])),
        ("I want to cancel my order 10023.", Some(&["cancel_order"])),
        ("Do you sell a shampoo for curly hair?", Some(&["search_products"])),
        ("What is your cancellation policy?", Some(&["get_policy"])),
        ("Can you move my appointment A-55 to 2025-03-20 at 14:00?", Some(&["reschedule_appointment"])),
        ("I'd like to return order 10031, the conditioner arrived damaged.", Some(&["initiate_return"])),
        ("What's the status of my return R-7?", Some(&["get_return_status"])),
        ("Which appointments do I have coming up?", Some(&["get_appointments"])),
        ("Please cancel my appointment A-55.", Some(&["cancel_appointment"])),
        ("How much is the Argan Repair Oil?", Some(&["get_product_details", "search_products"])),
        ("Hello! Who am I speaking to?", None),
        ("Thanks, that's all. Goodbye!", None),
    ];
    for grammar in [true, false] {
        let opts = LlamaOptions { tool_grammar: grammar, ..LlamaOptions::default() };
        let engine = LlamaEngine::load(model_path(), opts).expect("the model loads");
        let (mut right, mut valid, mut calls_total, mut words_ok, mut gen_tokens) = (0, 0, 0, 0, 0);
        let mut generation = Duration::ZERO;
        for (question, expected) in cases {
            let req = request(vec![ChatMessage::system(system), ChatMessage::user(*question)], tools.clone(), 160);
            let (events, err) = drain(engine.chat(req).await.unwrap()).await;
            assert!(err.is_none(), "{err:?}");
            let stats = engine.last_stats().unwrap();
            gen_tokens += stats.generated_tokens;
            generation += stats.generation;
            let calls = calls_of(&events);
            calls_total += calls.len();
            let fit =
                calls.iter().filter(|c| tools.iter().any(|t| t.name == c.name && fits_schema(t, &c.arguments))).count();
            valid += fit;
            let ok = match expected {
                Some(names) => calls.first().is_some_and(|c| names.contains(&c.name.as_str())),
                None => calls.is_empty(),
            };
            if ok && expected.is_some() {
                right += 1;
            }
            if ok && expected.is_none() {
                words_ok += 1;
            }
            eprintln!(
                "[grammar {grammar:>5}] {:<4} {question:?} -> {} {:?}",
                if ok { "ok" } else { "MISS" },
                calls.iter().map(|c| format!("{}({})", c.name, c.arguments)).collect::<Vec<_>>().join(", "),
                text_of(&events),
            );
        }
        let expect_calls = cases.iter().filter(|c| c.1.is_some()).count();
        eprintln!(
            "[grammar {grammar:>5}] right tool {right}/{expect_calls}; calls fitting their schema {valid}/{calls_total}; \
             words where words were due {words_ok}/{}; generation {:.1} tok/s",
            cases.len() - expect_calls,
            gen_tokens as f64 / generation.as_secs_f64()
        );
        if grammar {
            assert_eq!(valid, calls_total, "with the grammar every call fits its schema");
        }
    }
}
