//! `/api/openapi.json`, generated from the handlers' annotations.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard API", description = "Supervise AI voice agents: escalations, knowledge base, agent sessions, website onboarding by crawl, live events."),
    paths(
        super::health::health,
        super::metrics::metrics,
        super::escalation::list,
        super::escalation::create,
        super::escalation::show,
        super::escalation::respond,
        super::escalation::learning,
        super::escalation::time_out,
        super::knowledge::list,
        super::knowledge::create,
        super::knowledge::show,
        super::knowledge::update,
        super::knowledge::remove,
        super::events::events,
        super::session::list,
        super::session::start,
        super::session::show,
        super::session::message,
        super::session::end,
        super::session::live,
        super::session::export,
        super::session::conversation_message,
        super::session::conversation_history,
        super::session::agent,
        super::settings::show,
        super::settings::update,
        super::settings::show_model,
        super::settings::update_model,
        super::settings::show_profile,
        super::settings::update_profile,
        super::crawl::onboard,
        super::crawl::list,
        super::crawl::show,
        super::crawl::pages,
        super::crawl::cancel,
        super::crawl::resume,
        super::crawl::recrawl,
        spec,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(spec))
}

#[utoipa::path(get, operation_id = "openapi", path = "/api/openapi.json", tag = "meta", responses((status = 200, description = "this document")))]
pub async fn spec() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
