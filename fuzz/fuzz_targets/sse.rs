//! A model server's event stream, cut anywhere: the SSE parser and the
//! completion-chunk reader never panic and stay within their bounds.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte says where the network cut the stream.
    let (cut, rest) = data.split_first().map_or((0, data), |(c, r)| (*c as usize, r));
    let at = cut.min(rest.len());
    switchboard_llm::fuzzing::openai_stream(&[&rest[..at], &rest[at..]]);
});
