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
        super::voice::status,
        super::voice::stream,
        super::voice::process,
        super::voice::audio_devices,
        super::voice::start_local_call,
        super::voice::end_local_call,
        super::models::list,
        super::models::install,
        super::livekit::widget_token,
        super::livekit::generate,
        super::livekit::create,
        super::livekit::list,
        super::livekit::participants,
        super::livekit::remove,
        super::settings::show_livekit,
        super::settings::update_livekit,
        super::settings::show_speech,
        super::settings::update_speech,
        super::livekit::agent_join,
        super::livekit::agent_leave,
        super::livekit::agent_status,
        super::livekit::transcript,
        super::livekit::export,
        super::livekit::rename,
        super::livekit::live,
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
        // Every operation behind the token answers 401 without it: said once
        // here rather than on each handler.
        let unauthorized = utoipa::openapi::ResponseBuilder::new()
            .description("missing or wrong API token")
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        let error = |description: &str| {
            utoipa::openapi::ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for op in ops.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                // `security(())` marks an open operation (`/health`).
                let open = op.security.as_ref().is_some_and(|s| {
                    serde_json::to_value(s)
                        .is_ok_and(|v| v.as_array().is_some_and(|a| a.iter().all(|r| r == &serde_json::json!({}))))
                });
                if !open {
                    responses.entry("401".into()).or_insert_with(|| unauthorized.clone().into());
                }
                // What `ApiJson` and `ApiQuery` answer before a handler runs.
                if op.request_body.is_some() {
                    for (code, what) in [
                        ("400", "the body is not valid JSON"),
                        ("413", "the body is too large"),
                        ("415", "the body is not sent as application/json"),
                        ("422", "the body's fields are missing, of the wrong type or invalid"),
                    ] {
                        responses.entry(code.into()).or_insert_with(|| error(what).into());
                    }
                }
                let has_query = op
                    .parameters
                    .as_ref()
                    .is_some_and(|ps| ps.iter().any(|p| serde_json::to_value(p).is_ok_and(|v| v["in"] == "query")));
                if has_query {
                    responses.entry("400".into()).or_insert_with(|| error("the query string is malformed").into());
                }
            }
        }
        // Path globs are non-blank and short (`OnboardInput`'s checks).
        if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(onboard))) =
            components.schemas.get_mut("OnboardInput")
        {
            use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
            for field in ["include", "exclude"] {
                let glob =
                    ObjectBuilder::new().schema_type(Type::String).max_length(Some(200)).pattern(Some(TEXT_PATTERN));
                let list = ArrayBuilder::new()
                    .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::Array, Type::Null]))
                    .items(glob)
                    .max_items(Some(50));
                onboard.properties.insert(field.into(), list.build().into());
            }
        }
        // A response needs an answer unless it gives up on the request: the
        // rule `RespondInput::validate` applies, said in the schema too.
        if let Some(utoipa::openapi::RefOr::T(schema)) = components.schemas.get("RespondInput").cloned() {
            use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
            let answer =
                ObjectBuilder::new().schema_type(Type::String).max_length(Some(4000)).pattern(Some(TEXT_PATTERN));
            let answered = ObjectBuilder::new().property("answer", answer).required("answer");
            let yes = ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([true]));
            let gave_up = ObjectBuilder::new().property("unresolved", yes).required("unresolved");
            let rule = AnyOfBuilder::new().item(answered).item(gave_up);
            let both = utoipa::openapi::schema::AllOfBuilder::new().item(schema).item(rule).build();
            components.schemas.insert("RespondInput".into(), utoipa::openapi::RefOr::T(both.into()));
        }
    }
}

/// Non-blank text without control characters (newlines and tabs allowed).
const TEXT_PATTERN: &str =
    r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(spec))
}

#[utoipa::path(get, operation_id = "openapi", path = "/api/openapi.json", tag = "meta", responses((status = 200, description = "this document")))]
pub async fn spec() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
