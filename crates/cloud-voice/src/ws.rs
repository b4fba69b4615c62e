//! The WebSocket connection every engine opens: the URL check that keeps a
//! key off plain-text networks, the handshake with the key in the service's
//! header, and handshake failures as [`CloudError`]s.

use std::time::Duration;

use switchboard_core::speech::AudioFrame;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use url::Url;

use crate::CloudError;

pub(crate) type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `wss://` anywhere; `ws://` only to this computer (the tests' fakes).
pub(crate) fn check_url(service: &'static str, url: &Url) -> Result<(), CloudError> {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "wss" => Ok(()),
        "ws" if loopback => Ok(()),
        other => Err(CloudError::Config {
            service,
            why: format!("the URL must be wss:// (ws:// only on this computer), not {other}://"),
        }),
    }
}

/// Opens `url` with `header: value` (the key), within `timeout`.
pub(crate) async fn connect(
    service: &'static str,
    url: &Url,
    header: &'static str,
    value: &str,
    timeout: Duration,
) -> Result<Socket, CloudError> {
    check_url(service, url)?;
    let mut request =
        url.as_str().into_client_request().map_err(|e| CloudError::Config { service, why: e.to_string() })?;
    let value = HeaderValue::from_str(value)
        .map_err(|_| CloudError::Config { service, why: "the API key is not a valid header value".into() })?;
    request.headers_mut().insert(header, value);
    // Nagle's algorithm off: audio and end-of-utterance messages are small
    // and each one is latency (with it on, a message waits up to 40 ms for
    // the previous one's acknowledgement; the cloud bench measured 20 ms on
    // most turns' ends and 43 ms on each ElevenLabs clause).
    let connecting = tokio_tungstenite::connect_async_with_config(request, None, true);
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(CloudError::Timeout { service, after: timeout }),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(handshake_error(service, e)),
    }
}

fn handshake_error(service: &'static str, e: tungstenite::Error) -> CloudError {
    match e {
        tungstenite::Error::Http(resp) => match resp.status().as_u16() {
            401 | 403 => CloudError::BadKey { service },
            429 => CloudError::RateLimited { service },
            s => CloudError::Connect { service, why: format!("HTTP {s}") },
        },
        // The error's text names the URL at most, never the headers.
        other => CloudError::Connect { service, why: other.to_string() },
    }
}

/// The next message, or why there is none: nothing within `timeout`, the
/// connection ended, or a transport error. For engines that wait on the
/// service while audio is due.
pub(crate) async fn next_within(
    service: &'static str,
    ws: &mut Socket,
    timeout: Duration,
) -> Result<tungstenite::Message, CloudError> {
    use futures::StreamExt;
    match tokio::time::timeout(timeout, ws.next()).await {
        Err(_) => Err(CloudError::Timeout { service, after: timeout }),
        Ok(None) => Err(CloudError::Closed { service, why: "the connection ended before the speech did".into() }),
        Ok(Some(Err(e))) => Err(CloudError::Closed { service, why: e.to_string() }),
        Ok(Some(Ok(m))) => Ok(m),
    }
}

/// Sleeps until `at`, or forever without one: a `select!` arm for a
/// deadline that is only sometimes set.
pub(crate) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// 16-bit PCM arriving in chunks that may split a sample: the odd byte of
/// one chunk waits for the next.
#[derive(Default)]
pub(crate) struct Pcm16 {
    carry: Option<u8>,
}

impl Pcm16 {
    /// The whole samples so far as a frame at `rate`; `None` while a chunk
    /// held less than one sample.
    pub(crate) fn frame(
        &mut self,
        service: &'static str,
        rate: u32,
        bytes: &[u8],
    ) -> Result<Option<AudioFrame>, CloudError> {
        let mut pcm: Vec<u8> = self.carry.take().into_iter().chain(bytes.iter().copied()).collect();
        if pcm.len() % 2 == 1 {
            self.carry = pcm.pop();
        }
        if pcm.is_empty() {
            return Ok(None);
        }
        AudioFrame::from_pcm16_le(rate, &pcm)
            .map(Some)
            .map_err(|e| CloudError::Protocol { service, why: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_split_across_chunks_is_joined() {
        let bytes = AudioFrame::new(16_000, vec![0.25, -0.5, 0.75]).to_pcm16_le();
        let mut p = Pcm16::default();
        assert_eq!(p.frame("s", 16_000, &bytes[..1]).unwrap(), None);
        let a = p.frame("s", 16_000, &bytes[1..3]).unwrap().unwrap();
        let b = p.frame("s", 16_000, &bytes[3..]).unwrap().unwrap();
        assert_eq!(a.samples.len() + b.samples.len(), 3);
        assert!((b.samples[1] - 0.75).abs() < 1e-3);
    }
}
