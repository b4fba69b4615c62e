//! Sitemaps and sitemap indexes: any XML (or not XML) parses to lists.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let map = switchboard_crawl::sitemap::parse(&text);
    // Every URL it reports came from the input.
    assert!(map.sitemaps.iter().all(|s| s.len() <= text.len()));
});
