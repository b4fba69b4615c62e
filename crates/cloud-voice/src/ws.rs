//! The WebSocket connection every engine opens: the URL check that keeps a
//! key off plain-text networks, the handshake with the key in the service's
//! header, and handshake failures as [`CloudError`]s.

use std::time::Duration;

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
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request)).await {
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
