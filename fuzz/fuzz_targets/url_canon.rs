//! URL canonicalisation: a canonical URL, printed and parsed again, is its
//! own canonical form (otherwise one page could be fetched twice).
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_crawl::canon::{Site, canonical, clean};
use url::Url;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(url) = Url::parse(&text) else { return };
    let Some(c) = clean(&url) else { return };
    let once = canonical(&c);
    let again = Url::parse(once.as_str()).expect("a canonical URL parses");
    let twice = canonical(&clean(&again).expect("a canonical URL stays clean"));
    assert_eq!(once.as_str(), twice.as_str(), "canonical form is not stable for {text:?}");
    let site = Site::of(&once);
    if let Some(adopted) = site.adopt(&once) {
        assert!(site.contains(&adopted));
    }
});
