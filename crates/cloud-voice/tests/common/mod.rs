//! Helpers the engines' tests share.

use std::time::Duration;

use switchboard_core::speech::{AudioStream, SpeechError};

/// Reads synthesised speech to its end: the samples heard, and the error
/// that ended it, if one did. Panics if the stream hangs.
#[allow(dead_code)] // Used by the text-to-speech tests only.
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

/// A local fake of a service: listens on a free loopback port and serves
/// every connection with `serve`, all sharing one log of what the client
/// did. Returns the fake's `ws://` URL and the log.
pub async fn listen<L, F, Fut>(serve: F) -> (url::Url, std::sync::Arc<std::sync::Mutex<L>>)
where
    L: Default + Send + 'static,
    F: Fn(tokio::net::TcpStream, std::sync::Arc<std::sync::Mutex<L>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("ws://{}", listener.local_addr().unwrap())).unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(L::default()));
    let shared = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp, shared.clone()));
        }
    });
    (url, log)
}
