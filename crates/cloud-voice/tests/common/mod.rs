//! Helpers the engines' tests share.

use std::time::Duration;

use switchboard_core::speech::{AudioStream, SpeechError};

/// Reads synthesised speech to its end: the samples heard, and the error
/// that ended it, if one did. Panics if the stream hangs.
pub async fn drain(mut s: AudioStream) -> (usize, Option<SpeechError>) {
    let read = tokio::time::timeout(Duration::from_secs(10), async move {
        let mut samples = 0;
        while let Some(item) = s.recv().await {
            match item {
                Ok(f) => samples += f.samples.len(),
                Err(e) => return (samples, Some(e)),
            }
        }
        (samples, None)
    });
    read.await.expect("the stream ends, never hangs")
}
