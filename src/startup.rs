//! Builds the whole application in one place: database, migrations, services, jobs, and
//! the HTTP server. `main` reads configuration and calls [`Application::build`]; the tests
//! call the same function.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Condition, Logger};
use actix_web::{web, App, HttpServer};
use utoipa_actix_web::{scope, AppExt};
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::api::{self, AppState};
use crate::auth::jwt::JwtKeys;
use crate::clock::Clock;
use crate::config::Settings;
use crate::error::{AppError, AppResult};
use crate::metrics::Metrics;
use crate::service::Services;
use crate::store::{self, Db, PoolOptions};

/// A built, bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    services: Services,
    /// The sweeper, the webhook worker and the import worker.
    jobs: Vec<actix_web::rt::task::JoinHandle<()>>,
}

/// Stops a running application: the HTTP server (without waiting for in-flight requests:
/// what a crash looks like to clients) and the background jobs.
pub struct StopHandle {
    server: actix_web::dev::ServerHandle,
    jobs: Vec<tokio::task::AbortHandle>,
}

impl StopHandle {
    pub async fn stop(self) {
        for job in &self.jobs {
            job.abort();
        }
        self.server.stop(false).await;
    }
}

/// Opens the database named by the settings and applies pending migrations.
pub fn open_database(settings: &Settings) -> AppResult<Db> {
    let db = Db::connect(
        &settings.database_url,
        &PoolOptions {
            size: settings.db_pool_size,
            connect_timeout: settings.db_timeout,
            busy_timeout_ms: 5000,
        },
    )?;
    let mut conn = db.write_conn()?;
    let applied = store::run_migrations(&mut conn)?;
    if applied > 0 {
        log::info!("applied {applied} migration(s)");
    }
    let blocks = crate::service::dedup::backfill_blocks(&mut conn)?;
    if blocks > 0 {
        log::info!("computed {blocks} company blocking key(s)");
    }
    Ok(db)
}

/// The services over an open database.
pub fn services(settings: &Settings, db: Db, clock: Arc<dyn Clock>) -> AppResult<Services> {
    let secret = settings
        .jwt_secret
        .clone()
        .ok_or_else(|| AppError::internal("CRMFLOW_JWT_SECRET is not set"))?;
    if secret.len() < 16 {
        return Err(AppError::internal(
            "CRMFLOW_JWT_SECRET must have at least 16 characters",
        ));
    }
    let jwt = JwtKeys::new(
        secret.as_bytes(),
        settings.jwt_issuer.clone(),
        settings.jwt_audience.clone(),
        settings.jwt_ttl_secs,
    );
    let sole_writer = db.backend() == crate::store::Backend::Sqlite;
    let callers = Arc::new(crate::auth::callers::CallerCache::new(sole_writer));
    let callers_listener = if sole_writer {
        None
    } else {
        use crate::store::listen::{Heard, Listener, CALLERS, VOUCHES_FOR};
        let cache = callers.clone();
        let listener =
            Listener::spawn(&settings.database_url, CALLERS, move |heard| match heard {
                Heard::Listening => cache.renew(VOUCHES_FOR),
                Heard::Notified => cache.forget_all(),
                Heard::Lost => cache.suspend(),
            })?;
        Some(Arc::new(listener))
    };
    Ok(Services {
        db,
        clock,
        settings: Arc::new(settings.clone()),
        jwt,
        login_throttle: Arc::new(crate::auth::throttle::LoginThrottle::new(
            settings.login_limits,
        )),
        report_slots: crate::service::ReportSlots::new(
            settings.report_concurrency,
            settings.report_wait,
        ),
        report_cache: crate::service::ReportCache::new(settings.report_cache_ttl),
        callers,
        callers_listener,
        write_groups: Arc::new(crate::service::group_commit::WriteGroups::default()),
    })
}

impl Application {
    /// Connects, migrates, creates the bootstrap admin, binds the listener and starts the
    /// background jobs. The server runs once [`Application::run`] is awaited.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> AppResult<Application> {
        let s = settings.clone();
        let db = actix_web::rt::task::spawn_blocking(move || open_database(&s))
            .await
            .map_err(|e| AppError::internal(e.to_string()))??;
        let services = services(&settings, db, clock)?;
        if let Some((user, password)) = settings.bootstrap_admin.clone() {
            crate::bootstrap::ensure_first_admin(&services, user, password).await?;
        }
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| AppError::internal(format!("cannot bind {}: {e}", settings.bind)))?;
        let port = listener
            .local_addr()
            .map_err(|e| AppError::internal(e.to_string()))?
            .port();
        let jobs = vec![
            crate::jobs::spawn(services.clone()),
            crate::jobs::webhooks::spawn(services.clone()),
            crate::jobs::imports::spawn(services.clone()),
        ];
        let server = http_server(services.clone(), listener, &settings)?;
        Ok(Application {
            server,
            port,
            services,
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// A handle that stops this application once it runs.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            server: self.server.handle(),
            jobs: self.jobs.iter().map(|j| j.abort_handle()).collect(),
        }
    }

    /// Serves until SIGTERM/SIGINT (in-flight requests finish first), then stops the background jobs.
    pub async fn run(self) -> std::io::Result<()> {
        let result = self.server.await;
        for job in &self.jobs {
            job.abort();
        }
        result
    }
}

/// CORS for browser front ends on the `CRMFLOW_CORS_ORIGINS` allow-list (none by default:
/// then no CORS headers are sent and browsers keep other origins out).
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            "authorization",
            "content-type",
            "if-match",
            "idempotency-key",
            "x-request-id",
        ])
        .expose_headers([
            "etag",
            "location",
            "retry-after",
            "idempotent-replayed",
            "x-request-id",
        ])
        .max_age(3600);
    for o in origins {
        cors = cors.allowed_origin(o);
    }
    cors
}

fn http_server(
    services: Services,
    listener: TcpListener,
    settings: &Settings,
) -> AppResult<Server> {
    let doc = api::openapi();
    let spec_json = serde_json::to_vec(&doc)
        .map_err(|e| AppError::internal(format!("cannot serialise the OpenAPI document: {e}")))?;
    let state = web::Data::new(AppState {
        services,
        metrics: Metrics::new(),
        header_limit: settings.header_limit_bytes,
        methods: api::spec::MethodTable::new(&doc),
        spec_json: web::Bytes::from(spec_json),
    });
    drop(doc);
    let body_limit = settings.body_limit_bytes;
    let origins = settings.cors_origins.clone();
    let server = HttpServer::new(move || {
        let (json, query, path, payload) = api::extractor_config(body_limit);
        let (app, _) = App::new()
            .into_utoipa_app()
            .app_data(state.clone())
            .app_data(json)
            .app_data(query)
            .app_data(path)
            .app_data(payload)
            .service(
                scope::scope("/api/v1")
                    .wrap(from_fn(api::middleware::idempotency_keys))
                    .configure(api::api_v1),
            )
            .configure(api::ops_routes)
            .split_for_parts();
        app.route("/openapi.json", web::get().to(api::ops::openapi_json))
            .service(SwaggerUi::new("/docs/{_:.*}").config(SwaggerConfig::from("/openapi.json")))
            .default_service(web::to(api::no_route))
            .wrap(from_fn(api::middleware::limit_headers))
            .wrap(from_fn(api::middleware::request_id_and_metrics))
            .wrap(Condition::new(!origins.is_empty(), cors(&origins)))
            .wrap(Logger::new(r#"%a "%r" %s %b %Dms rid=%{x-request-id}o"#))
    })
    .workers(settings.workers)
    // Database work runs on each worker's blocking pool and waits for one of the pool's
    // connections anyway: threads beyond the pool (actix's default is 512 / cores per
    // worker) only queue there, each with its own stack and allocator caches.
    .worker_max_blocking_threads(settings.db_pool_size as usize + 2)
    .shutdown_timeout(30)
    .listen(listener)
    .map_err(|e| AppError::internal(format!("cannot listen: {e}")))?
    .run();
    Ok(server)
}
