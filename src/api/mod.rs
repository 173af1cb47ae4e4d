//! The HTTP surface: handlers (one file per area), extractors, middleware, and the
//! generated OpenAPI document. Handlers parse HTTP and call one service function each.

pub mod accounts;
pub mod auth;
pub mod contracts;
pub mod customer360;
pub mod extract;
pub mod integration;
pub mod lead_config;
pub mod leads;
pub mod middleware;
pub mod ops;
pub mod org;
pub mod pipeline;
pub mod reports;
pub mod service;
pub mod spec;
pub mod trust;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{scope, AppExt};

use crate::error::{AppError, FieldError};
use crate::metrics::Metrics;
use crate::service::Services;

/// What every handler can reach.
pub struct AppState {
    pub services: Services,
    pub metrics: Metrics,
    /// `CRMFLOW_HEADER_LIMIT_BYTES`.
    pub header_limit: usize,
    /// The documented paths' methods, for 405 answers.
    pub methods: spec::MethodTable,
    /// `GET /openapi.json`: the document serialised once at start-up (the in-memory
    /// document is ~15 MB; every worker holding a copy dominated resident memory).
    pub spec_json: web::Bytes,
}

/// Registers every `/api/v1` handler, in one scope per first path segment: a request is
/// matched against its collection's handlers only (actix tries a scope's routes in turn,
/// running each `{param}` route's pattern). Within a scope, literal paths come before
/// `{id}` paths of the same method. The one route whose first segment is a parameter goes
/// first, before the scopes, which would otherwise take its requests.
pub fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(integration::link_external_ref)
        .service(auth::login)
        .service(auth::me)
        .service(
            scope("/api-keys")
                .service(auth::create_api_key)
                .service(auth::list_api_keys)
                .service(auth::revoke_api_key),
        )
        .service(
            scope("/teams")
                .service(org::create_team)
                .service(org::list_teams)
                .service(org::get_team)
                .service(org::update_team),
        )
        .service(
            scope("/users")
                .service(org::create_user)
                .service(org::list_users)
                .service(org::get_user)
                .service(org::update_user),
        )
        .service(
            scope("/accounts")
                .service(accounts::create_account)
                .service(accounts::list_accounts)
                .service(accounts::upsert_account)
                .service(accounts::get_account)
                .service(accounts::update_account)
                .service(customer360::account_timeline),
        )
        .service(
            scope("/contacts")
                .service(accounts::create_contact)
                .service(accounts::list_contacts)
                .service(accounts::get_contact)
                .service(accounts::update_contact)
                .service(accounts::delete_contact),
        )
        .service(
            scope("/leads")
                .service(leads::dedup_check)
                .service(leads::create_lead)
                .service(leads::list_leads)
                .service(leads::upsert_lead)
                .service(leads::get_lead)
                .service(leads::update_lead)
                .service(leads::delete_lead)
                .service(leads::lead_history)
                .service(leads::merge_leads)
                .service(leads::accept_lead)
                .service(leads::assign_lead)
                .service(leads::qualify_lead)
                .service(leads::convert_lead)
                .service(leads::disqualify_lead)
                .service(leads::log_activity)
                .service(leads::list_activities),
        )
        .service(
            scope("/config")
                .service(lead_config::get_scoring)
                .service(lead_config::put_scoring)
                .service(lead_config::simulate_scoring)
                .service(lead_config::get_activity_rules)
                .service(lead_config::put_activity_rules)
                .service(contracts::get_settings)
                .service(contracts::put_settings)
                .service(service::get_service_settings)
                .service(service::put_service_settings)
                .service(customer360::get_renewal_rules)
                .service(customer360::put_renewal_rules),
        )
        .service(
            scope("/assignment-rules")
                .service(lead_config::create_rule)
                .service(lead_config::list_rules)
                .service(lead_config::simulate_rules)
                .service(lead_config::get_rule)
                .service(lead_config::replace_rule)
                .service(lead_config::delete_rule),
        )
        .service(
            scope("/calendars")
                .service(lead_config::create_calendar)
                .service(lead_config::list_calendars)
                .service(lead_config::get_calendar)
                .service(lead_config::replace_calendar),
        )
        .service(
            scope("/pipeline")
                .service(pipeline::get_pipeline)
                .service(pipeline::put_pipeline),
        )
        .service(
            scope("/opportunities")
                .service(pipeline::create_opportunity)
                .service(pipeline::list_opportunities)
                .service(pipeline::forecast)
                .service(pipeline::get_opportunity)
                .service(pipeline::update_opportunity)
                .service(pipeline::delete_opportunity)
                .service(pipeline::change_stage)
                .service(pipeline::lose_opportunity)
                .service(pipeline::stage_history)
                .service(pipeline::log_opportunity_activity)
                .service(pipeline::list_opportunity_activities)
                .service(pipeline::create_quote)
                .service(pipeline::list_quotes),
        )
        .service(
            scope("/quotes")
                .service(pipeline::get_quote)
                .service(pipeline::update_quote)
                .service(pipeline::submit_quote)
                .service(pipeline::approve_quote)
                .service(pipeline::reject_quote)
                .service(pipeline::send_quote)
                .service(pipeline::record_quote_view),
        )
        .service(
            scope("/contracts")
                .service(contracts::create_contract)
                .service(contracts::list_contracts)
                .service(contracts::upsert_contract)
                .service(contracts::get_contract)
                .service(contracts::update_contract)
                .service(contracts::submit_contract)
                .service(contracts::approve_contract)
                .service(contracts::reject_contract)
                .service(contracts::sign_contract)
                .service(contracts::set_installments)
                .service(contracts::record_payment)
                .service(contracts::list_payments)
                .service(contracts::set_success_plan)
                .service(contracts::go_live)
                .service(contracts::record_nps)
                .service(contracts::complete_contract)
                .service(contracts::terminate_contract),
        )
        .service(
            scope("/work-orders")
                .service(service::create_work_order)
                .service(service::list_work_orders)
                .service(service::upsert_work_order)
                .service(service::get_work_order)
                .service(service::update_work_order)
                .service(service::delete_work_order)
                .service(service::transition_work_order)
                .service(service::mes_event),
        )
        .service(
            scope("/routing-rules")
                .service(service::create_routing_rule)
                .service(service::list_routing_rules)
                .service(service::get_routing_rule)
                .service(service::replace_routing_rule)
                .service(service::delete_routing_rule),
        )
        .service(
            scope("/sla-policies")
                .service(service::create_sla_policy)
                .service(service::list_sla_policies)
                .service(service::get_sla_policy)
                .service(service::replace_sla_policy)
                .service(service::delete_sla_policy),
        )
        .service(
            scope("/assets")
                .service(customer360::create_asset)
                .service(customer360::list_assets)
                .service(customer360::upsert_asset)
                .service(customer360::get_asset)
                .service(customer360::update_asset),
        )
        .service(customer360::lookup_caller)
        .service(
            scope("/audit")
                .service(trust::list_audit)
                .service(trust::verify_audit),
        )
        .service(trust::list_events)
        .service(
            scope("/webhooks")
                .service(integration::create_webhook)
                .service(integration::list_webhooks)
                .service(integration::get_webhook)
                .service(integration::update_webhook)
                .service(integration::delete_webhook)
                .service(integration::list_deliveries)
                .service(integration::test_webhook),
        )
        .service(integration::redeliver)
        .service(
            scope("/imports")
                .service(integration::create_import)
                .service(integration::get_import),
        )
        .service(
            scope("/reports")
                .service(reports::lead_response)
                .service(reports::lead_funnel)
                .service(reports::actions)
                .service(reports::pipeline)
                .service(reports::service)
                .service(reports::data_health)
                .service(reports::lead_health_daily),
        )
        .service(
            scope("/custom-fields")
                .service(reports::create_field)
                .service(reports::list_fields)
                .service(reports::dry_run)
                .service(reports::get_field)
                .service(reports::update_field)
                .service(reports::delete_field),
        );
}

/// Registers the operations endpoints (no prefix).
pub fn ops_routes(cfg: &mut ServiceConfig) {
    cfg.service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics);
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "crmflow",
        description = "Headless CRM workflow engine: lead intake, scoring and assignment, pipeline, contracts, \
payments and service, enforced as a process. Errors are RFC 9457 problem documents \
(`application/problem+json`). Lists take `limit` (1–500, default 50) and an opaque `cursor` and answer \
`{items, next_cursor}`. Mutable records carry `version`, sent as `ETag`; send it back in `If-Match` to \
avoid lost updates (412 `version_mismatch`). POST and PUT accept `Idempotency-Key`: a retry with the \
same key and body replays the first response with `Idempotent-Replayed: true`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    servers((url = "/", description = "This server")),
    components(schemas(crate::error::Problem)),
    modifiers(&Conventions),
    tags(
        (name = "auth", description = "Login, the caller, API keys"),
        (name = "org", description = "Teams and users"),
        (name = "accounts", description = "Accounts and contacts"),
        (name = "leads", description = "Leads: intake, lifecycle, activities"),
        (name = "lead-config", description = "Scoring model, assignment rules, business calendars, activity rules"),
        (name = "pipeline", description = "Pipeline definition, opportunities, stage gates, forecast, quotes"),
        (name = "contracts", description = "Contracts: review, signing, installments, payments, success plan, go-live, NPS"),
        (name = "service", description = "Work orders, routing rules, SLA policies"),
        (name = "customer-360", description = "Installed base, account timeline, caller lookup, renewal signals"),
        (name = "trust", description = "Audit trail, custom fields and the dry run of a custom-field change"),
        (name = "reports", description = "Process reports computed from the records, and the daily lead-health digest"),
        (name = "integration", description = "Change feed, webhooks (standard, DingTalk, Feishu, WeCom), bulk imports"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

/// Adds the bearer security scheme and the problem responses every operation can give.
struct Conventions;

const READ_ERRORS: &[(&str, &str)] = &[
    ("400", "Malformed request"),
    ("401", "Missing, invalid or expired credentials"),
    ("403", "The caller's role may not do this"),
    ("404", "No such record in the caller's scope"),
    ("422", "Invalid parameters or body"),
    ("429", "Too many requests"),
    ("500", "Unexpected server error"),
    ("503", "The database is unavailable; retry"),
];
const WRITE_ERRORS: &[(&str, &str)] = &[
    (
        "409",
        "Conflict: duplicate, invalid transition, or a concurrent request",
    ),
    ("412", "`If-Match` names an outdated version"),
    ("413", "The body is larger than the configured limit"),
    ("415", "The body is not `application/json`"),
];

fn add_problems(op: &mut Operation, codes: &[(&str, &str)]) {
    for (code, description) in codes {
        if !op.responses.responses.contains_key(*code) {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build();
            op.responses
                .responses
                .insert((*code).to_string(), response.into());
        }
    }
}

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or crmf_ API key")
                    .build(),
            ),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = !path.starts_with("/api/v1") || path == "/api/v1/auth/login";
            let ops = [
                (&mut item.get, false),
                (&mut item.delete, true),
                (&mut item.post, true),
                (&mut item.put, true),
                (&mut item.patch, true),
            ];
            for (op, writes) in ops {
                let Some(op) = op.as_mut() else { continue };
                if public {
                    op.security = Some(Vec::new());
                } else {
                    op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
                        "bearer",
                        Vec::<String>::new(),
                    )]);
                    add_problems(op, READ_ERRORS);
                    if writes {
                        add_problems(op, WRITE_ERRORS);
                    }
                }
                if path.starts_with("/api/v1/reports/") {
                    spec::date_time(op, &["from", "to"]);
                }
                if path == "/api/v1/auth/login" {
                    add_problems(
                        op,
                        &[
                            ("400", "Malformed request"),
                            ("401", "Wrong username or password"),
                            ("413", "Body too large"),
                            ("415", "Not JSON"),
                            ("422", "Invalid body"),
                            ("429", "Too many attempts"),
                            ("503", "Database unavailable"),
                        ],
                    );
                }
            }
        }
    }
}

/// The OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(scope::scope("/api/v1").configure(api_v1))
        .configure(ops_routes)
        .split_for_parts();
    let mut doc = doc;
    Conventions.modify(&mut doc);
    spec::merge_strict_views(&mut doc);
    spec::problem_media_type(&mut doc);
    spec::tighten_parameters(&mut doc);
    doc
}

/// The first back-quoted name in a serde message (`unknown field `x``, `missing field `y``).
fn quoted_name(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

/// Maps JSON body errors to problem documents (never actix's plain-text defaults).
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => AppError::payload_too_large(*limit),
        JsonPayloadError::ContentType => {
            AppError::unsupported_media_type("send the body as `application/json`")
        }
        JsonPayloadError::Deserialize(de) if de.is_data() => {
            let message = de.to_string();
            let field =
                if message.starts_with("unknown field") || message.starts_with("missing field") {
                    quoted_name(&message).unwrap_or_else(|| "body".into())
                } else {
                    "body".into()
                };
            let code = if message.starts_with("unknown field") {
                "unknown_field"
            } else if message.starts_with("missing field") {
                "required"
            } else {
                "invalid_type"
            };
            AppError::validation(vec![FieldError {
                field,
                code: code.into(),
                message,
            }])
        }
        JsonPayloadError::Deserialize(de) => {
            AppError::bad_request(format!("the body is not valid JSON: {de}"))
        }
        other => AppError::bad_request(format!("could not read the body: {other}")),
    };
    e.into()
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    AppError::validation(vec![FieldError {
        field: "query".into(),
        code: "invalid_parameter".into(),
        message: err.to_string(),
    }])
    .into()
}

pub fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    AppError::not_found("resource").into()
}

/// Requests no handler matched: 405 with `Allow` when the path is documented for other
/// methods, else a 404 problem document.
pub async fn no_route(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let method = req.method().as_str();
    let e = match state.methods.allowed(method, req.path()) {
        Some(methods) => AppError::method_not_allowed(method, methods),
        None => AppError::not_found("route"),
    };
    actix_web::ResponseError::error_response(&e)
}

/// JSON, query and path extractor settings with problem-document errors.
pub fn extractor_config(
    body_limit: usize,
) -> (
    web::JsonConfig,
    web::QueryConfig,
    web::PathConfig,
    web::PayloadConfig,
) {
    (
        web::JsonConfig::default()
            .limit(body_limit)
            .error_handler(json_error),
        web::QueryConfig::default().error_handler(query_error),
        web::PathConfig::default().error_handler(path_error),
        web::PayloadConfig::default().limit(body_limit),
    )
}
