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
        (
            "switchboard_sessions_live",
            "Agent sessions in memory (live calls and chats).",
            s.sessions.hub().live_ids().len() as u64,
        ),
    ];
    if let Some(rss) = resident_bytes() {
        gauges.push(("switchboard_process_resident_memory_bytes", "Resident memory of the process.", rss));
    }
    let mut body = String::new();
    for (name, help, value) in gauges {
        body.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
    }
    s.voice_latency.render(&mut body);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// From `/proc/self/statm` (pages × page size); `None` off Linux.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Upper bounds (ms) of the voice latency histogram buckets.
const BUCKETS_MS: [f64; 13] =
    [50.0, 100.0, 200.0, 300.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 3000.0, 5000.0, 10000.0, 30000.0];

/// The stages of a spoken turn, each measured from the end of the caller's
/// speech (the fields of `TurnTimings`).
const STAGES: [&str; 7] =
    ["end_of_turn", "transcript_final", "retrieval", "first_token", "first_audio", "playback_start", "total"];

/// Per-stage latency histograms of spoken turns, fed by every call.
#[derive(Default)]
pub struct VoiceLatency {
    inner: std::sync::Mutex<Vec<Histo>>,
}

#[derive(Clone, Default)]
struct Histo {
    counts: [u64; BUCKETS_MS.len()],
    count: u64,
    sum: f64,
}

impl VoiceLatency {
    pub fn record(&self, t: &switchboard_core::session::TurnTimings) {
        let values = [
            t.end_of_turn_ms,
            t.transcript_final_ms,
            t.retrieval_ms,
            t.first_token_ms,
            t.first_audio_ms,
            t.playback_start_ms,
            t.total_ms,
        ];
        let mut h = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if h.is_empty() {
            h.resize(STAGES.len(), Histo::default());
        }
        for (histo, v) in h.iter_mut().zip(values) {
            let Some(v) = v.filter(|v| v.is_finite() && *v >= 0.0) else { continue };
            histo.count += 1;
            histo.sum += v;
            for (i, le) in BUCKETS_MS.iter().enumerate() {
                if v <= *le {
                    histo.counts[i] += 1;
                }
            }
        }
    }

    fn render(&self, body: &mut String) {
        let h = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let name = "switchboard_voice_turn_stage_ms";
        body.push_str(&format!(
            "# HELP {name} Spoken turns: time from the end of the caller's speech to each stage, in ms.\n# TYPE {name} histogram\n"
        ));
        let empty = Histo::default();
        for (i, stage) in STAGES.iter().enumerate() {
            let histo = h.get(i).unwrap_or(&empty);
            for (b, le) in BUCKETS_MS.iter().enumerate() {
                body.push_str(&format!("{name}_bucket{{stage=\"{stage}\",le=\"{le}\"}} {}\n", histo.counts[b]));
            }
            body.push_str(&format!("{name}_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {}\n", histo.count));
            body.push_str(&format!("{name}_sum{{stage=\"{stage}\"}} {}\n", histo.sum));
            body.push_str(&format!("{name}_count{{stage=\"{stage}\"}} {}\n", histo.count));
        }
    }
}
