//! The `crmflow` command: `serve [--demo]`, `migrate`, `openapi`, `user create`.

use std::process::ExitCode;
use std::sync::Arc;

use crmflow::clock::SystemClock;
use crmflow::config::Settings;
use crmflow::domain::role::Role;
use crmflow::startup::{open_database, Application};

/// mimalloc returns freed memory to the OS and keeps no per-thread arenas of freed pages:
/// the blocking pool's threads otherwise inflate resident memory (glibc arenas). Built
/// without transparent huge pages (`no_thp`): with them every touched 2 MiB of its arena
/// became resident (~125 MB at start-up).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// SQLite allocates through the C library's malloc, which keeps an arena per thread (up to
/// 8 × cores) and holds on to what each arena grew to: under 16 concurrent report queries
/// the blocking threads' arenas held ~150 MB of page caches and sorters. Two arenas are
/// shared by all threads instead.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

const USAGE: &str = "usage:
  crmflow serve [--demo]      serve the API (CRMFLOW_BIND, CRMFLOW_DATABASE_URL, …)
  crmflow migrate             apply pending database migrations and exit
  crmflow openapi             print the OpenAPI document
  crmflow user create --username NAME --role ROLE [--password PASS] [--display-name NAME]";

fn main() -> ExitCode {
    limit_malloc_arenas();
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,actix_server=warn"),
    )
    .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve"] => serve(false),
        ["serve", "--demo"] => serve(true),
        ["migrate"] => migrate(),
        ["openapi"] => {
            println!(
                "{}",
                crmflow::api::openapi().to_pretty_json().unwrap_or_default()
            );
            Ok(())
        }
        ["user", "create", rest @ ..] => create_user(rest),
        ["help"] | ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown command\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crmflow: {e}");
            ExitCode::FAILURE
        }
    }
}

fn settings() -> Result<Settings, String> {
    Settings::from_env()
}

fn migrate() -> Result<(), String> {
    let s = settings()?;
    open_database(&s).map_err(|e| e.to_string())?;
    println!("database at {} is migrated", s.database_url);
    Ok(())
}

fn flag(args: &[&str], name: &str) -> Option<String> {
    args.iter()
        .position(|a| *a == name)
        .and_then(|i| args.get(i + 1))
        .map(|s| s.to_string())
}

fn create_user(args: &[&str]) -> Result<(), String> {
    let username = flag(args, "--username").ok_or("--username is required")?;
    let role = flag(args, "--role").ok_or("--role is required")?;
    let role = Role::parse(&role).ok_or_else(|| format!("unknown role `{role}`"))?;
    let (password, generated) = match flag(args, "--password") {
        Some(p) => (p, false),
        None => (crmflow::auth::tokens::random_secret(12), true),
    };
    let s = settings()?;
    let db = open_database(&s).map_err(|e| e.to_string())?;
    let mut conn = db.write_conn().map_err(|e| e.to_string())?;
    let req = crmflow::bootstrap::cli_user(
        username,
        password.clone(),
        role,
        flag(args, "--display-name"),
    );
    let user = crmflow::bootstrap::create_user(&mut conn, req).map_err(|e| e.to_string())?;
    println!(
        "created user {} ({}) with id {}",
        user.username,
        user.role.as_str(),
        user.id
    );
    if generated {
        println!("password: {password}");
    }
    Ok(())
}

fn serve(demo: bool) -> Result<(), String> {
    let mut s = settings()?;
    if s.jwt_secret.is_none() {
        if !demo {
            return Err(
                "CRMFLOW_JWT_SECRET must be set (16+ characters); `serve --demo` generates one"
                    .into(),
            );
        }
        s.jwt_secret = Some(crmflow::auth::tokens::random_secret(32));
    }
    if demo {
        let db = open_database(&s).map_err(|e| e.to_string())?;
        let mut conn = db.write_conn().map_err(|e| e.to_string())?;
        let logins = crmflow::demo::load(&mut conn).map_err(|e| e.to_string())?;
        if logins.is_empty() {
            println!(
                "demo company already loaded; every demo login's password is `{}`",
                crmflow::demo::DEMO_PASSWORD
            );
        } else {
            println!(
                "demo company loaded. Logins (password `{}` for all):",
                crmflow::demo::DEMO_PASSWORD
            );
            for (username, name, role) in logins {
                println!("  {username:<16} {role:<15} {name}", role = role.as_str());
            }
        }
    }
    let bind = s.bind.clone();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(s, Arc::new(SystemClock::default()))
            .await
            .map_err(|e| e.to_string())?;
        println!("crmflow listening on http://{bind} (docs: /docs/, spec: /openapi.json)");
        app.run().await.map_err(|e| e.to_string())
    })
}
