//! robots.txt: any body parses; every path answers allowed or not.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_crawl::robots::Robots;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line doubles as a path to ask about.
    let probe = text.lines().next().unwrap_or("/").to_string();
    let robots = Robots::parse(&text, "Switchboard");
    for path in [probe.as_str(), "/", "/staff/secret.html", "/a%2Fb?x=1", "/*$", ""] {
        let _ = robots.allowed_path(path);
    }
    assert!(robots.sitemaps.iter().all(|s| s.len() <= text.len()));
});
