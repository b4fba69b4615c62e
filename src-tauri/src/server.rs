//! The in-process server: the same App and HTTP surface as `switchboard
//! serve`, started on the caller's tokio runtime (Tauri's, in the desktop)
//! and stopped, awaited to the end, on exit.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use switchboard_server::http::AppState;
use switchboard_server::{App, Config, StartError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::settings::reachable_addr;

/// How long a clean stop may take (background tasks, index and database).
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Server {
    addr: SocketAddr,
    token: String,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), StartError>>,
}

impl Server {
    /// Binds `bind`, starts the App (storage, index, sweeper, outbox) and
    /// serves it. Must run inside a tokio runtime.
    pub async fn start(config: Config, bind: SocketAddr) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
        let addr = listener.local_addr().context("listener address")?;
        let app = App::start(config).await?;
        let token = app.api_token().to_string();
        let state = app.state();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(switchboard_server::serve(app, listener, async move {
            // A dropped sender (the Server was dropped) also stops the server.
            let _ = stopped.await;
        }));
        Ok(Server { addr, token, state, stop: Some(stop), task })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The UI's address with the API token in the fragment (never sent to a server).
    pub fn ui_url(&self) -> String {
        format!("http://{}/#token={}", reachable_addr(self.addr), self.token)
    }

    /// The services, for the shell's own subscribers (tray, notifications).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `signal` completes (or the server stops by itself), then stops.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::select! {
            _ = signal => self.stop().await,
            ended = &mut self.task => flatten(ended),
        }
    }

    /// Stops serving and waits until every background task has finished and
    /// the index and database are closed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(STOP_TIMEOUT, &mut self.task).await {
            Ok(ended) => flatten(ended),
            Err(_) => anyhow::bail!("the server did not stop within {STOP_TIMEOUT:?}"),
        }
    }
}

fn flatten(ended: Result<Result<(), StartError>, tokio::task::JoinError>) -> anyhow::Result<()> {
    ended.context("server task")?.context("server")
}
