//! Tool calls in a model's text: the reader, the JSON repair, and the
//! streaming filter (fed in two cuts) that hides calls from the caller.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_llm::tool_parse::{Piece, ToolCallFilter, parse_tool_calls};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_tool_calls(&text);
    switchboard_llm::fuzzing::repair_json(&text);
    let cut = text.char_indices().nth(data.first().copied().unwrap_or(0) as usize).map_or(text.len(), |(i, _)| i);
    let mut filter = ToolCallFilter::new(true);
    let mut pieces = filter.push(&text[..cut]);
    pieces.extend(filter.push(&text[cut..]));
    pieces.extend(filter.finish());
    let shown: usize = pieces.iter().map(|p| if let Piece::Text(t) = p { t.len() } else { 0 }).sum();
    assert!(shown <= text.len(), "the filter showed more text than it was given");
});
