//! HTML (and text) extraction, then chunking into passages: any page gives
//! passages that keep the chunker's word limit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use switchboard_crawl::{ChunkConfig, Chunker, ContentKind, Extractor, HeadingChunker, HtmlExtractor};

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let url = url::Url::parse("https://shop.example/page").expect("valid url");
    let config = ChunkConfig::default();
    let max_words = config.max_words;
    let chunker = HeadingChunker::new(config);
    for kind in [ContentKind::Html, ContentKind::Text] {
        let page = HtmlExtractor.extract(&url, kind, &body);
        let _ = page.markdown();
        for chunk in chunker.chunk(&page) {
            let words = chunk.text.split_whitespace().count();
            assert!(words <= max_words, "a passage of {words} words (limit {max_words})");
        }
    }
});
