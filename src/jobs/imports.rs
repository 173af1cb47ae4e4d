//! The import worker: picks up queued imports (and imports whose instance died: their
//! lease ran out) and runs them one at a time on this instance.

use std::time::Duration;

use crate::service::{imports, new_id, Services};
use crate::store::imports as store;

/// How often the worker looks for imports to run.
const POLL: Duration = Duration::from_millis(250);

/// Starts the worker on the current runtime.
pub fn spawn(services: Services) -> actix_web::rt::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let owner = new_id();
        let mut tick = actix_web::rt::time::interval(POLL);
        loop {
            tick.tick().await;
            let ids = match services.read(|conn| Ok(store::unfinished(conn, 10)?)).await {
                Ok(ids) => ids,
                Err(e) => {
                    log::warn!("import worker: {e}");
                    continue;
                }
            };
            for id in ids {
                if let Err(e) = imports::run(&services, id.clone(), owner.clone()).await {
                    log::warn!("import {id}: {e}");
                }
            }
        }
    })
}
