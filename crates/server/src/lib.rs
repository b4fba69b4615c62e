//! `switchboard-server` owns the application wiring and the HTTP shell:
//! [`App`] builds every domain service once and owns their background tasks;
//! [`http::router`] exposes them over HTTP and WebSocket; [`run`] serves a
//! router on a listener until a shutdown signal, then awaits every task.
//!
//! Invariants:
//! - Handlers are thin: parse, call one service method, map the result. No
//!   domain rules and no SQL here.
//! - Errors map to HTTP status in exactly one place (`http::error`); internal
//!   error text is logged, never sent.
//! - One cancellation token stops everything; `run` returns only after every
//!   background task has finished.

pub mod app;
pub mod config;
mod demo;
pub mod http;
pub mod local_call;
pub mod settings;

use std::future::Future;

pub use app::{App, StartError};
pub use config::{Config, EmbedderChoice};
use tokio::net::TcpListener;

/// Serves the app on `listener` until `shutdown` completes, then stops every
/// background task and closes the database and index.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    serve(App::start(config).await?, listener, shutdown).await
}

/// Serves an already started app (so a caller can read its token first).
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let addr = listener.local_addr().map_err(StartError::Io)?;
    let router = http::router(app.state(), addr);
    app.onboard_demo_site(addr).await;
    let cancel = app.cancel_token();
    let signal = {
        let cancel = cancel.clone();
        async move {
            tokio::select! {
                _ = shutdown => {}
                _ = cancel.cancelled() => {}
            }
            // Long-lived WebSockets watch the same token and close themselves.
            cancel.cancel();
        }
    };
    accept_loop(listener, router, signal).await;
    app.shutdown().await;
    Ok(())
}

/// A client has this long to send a request's headers (slowloris: a
/// connection that trickles bytes must not be held open forever).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves HTTP/1.1 (with WebSocket upgrades) until `signal`, then waits for
/// the open connections to finish. Hand-rolled rather than `axum::serve`
/// for the limit it does not set: a header read timeout.
async fn accept_loop(listener: TcpListener, router: axum::Router, signal: impl Future<Output = ()> + Send + 'static) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    // Open connections finish their request in progress, then close.
    let closing = tokio_util::sync::CancellationToken::new();
    let connections = tokio_util::task::TaskTracker::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        let tcp = tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Replies stream token by token: without TCP_NODELAY, Nagle's
        // algorithm holds each small write back until the previous one is
        // acknowledged (about 40 ms with delayed ACKs), which dominated a
        // learned answer's first-token time.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let conn = builder.serve_connection(TokioIo::new(tcp), service).with_upgrades();
        let closing = closing.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => Some(r),
                _ = closing.cancelled() => None,
            };
            let result = match ended {
                Some(r) => r,
                None => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    closing.cancel();
    connections.close();
    connections.wait().await;
}

/// Completes on Ctrl+C (SIGINT) or SIGTERM: the shutdown signal of both shells.
///
/// The handlers are installed when this is *called*, not when the future is
/// first polled, so a signal that arrives right after start-up (say, just as
/// the URL is printed) already means a clean stop rather than the default
/// kill. Call it inside a tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut i), Ok(mut t)) => {
                    tokio::select! {
                        _ = i.recv() => {}
                        _ = t.recv() => {}
                    }
                }
                _ => {
                    tracing::warn!("cannot install signal handlers; only Ctrl+C stops the server");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Logging for both shells: on stderr (stdout carries only the URL lines, for
/// scripts to read), colour only on a terminal, `RUST_LOG` to filter.
pub fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tantivy=warn,tower_http=warn".into()),
        )
        .init();
}
