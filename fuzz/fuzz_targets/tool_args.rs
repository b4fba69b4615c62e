//! Tool arguments as a model writes them: dates, times, and the lenient
//! intake of JSON arguments followed by strict checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    switchboard_business::fuzzing::date_and_time(&text);
    switchboard_business::fuzzing::arguments(&text);
});
