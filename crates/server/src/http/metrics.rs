//! `/metrics`: gauges in the Prometheus text format, behind the same token
//! as the API. The soak suite reads them to prove that tasks and sessions
//! do not pile up.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Router, middleware};

use super::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new().route("/metrics", get(metrics)).layer(middleware::from_fn_with_state(state, super::require_token))
}

#[utoipa::path(get, operation_id = "metrics", path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"), (status = 401)))]
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let runtime = tokio::runtime::Handle::current().metrics();
    let mut gauges = vec![
        ("switchboard_runtime_alive_tasks", "Tasks alive on the async runtime.", runtime.num_alive_tasks() as u64),
        ("switchboard_runtime_workers", "Worker threads of the async runtime.", runtime.num_workers() as u64),
        ("switchboard_sessions_live", "Agent sessions in memory (live calls and chats).", s.sessions.hub().live_ids().len() as u64),
    ];
    if let Some(rss) = resident_bytes() {
        gauges.push(("switchboard_process_resident_memory_bytes", "Resident memory of the process.", rss));
    }
    let mut body = String::new();
    for (name, help, value) in gauges {
        body.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// From `/proc/self/statm` (pages × page size); `None` off Linux.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
