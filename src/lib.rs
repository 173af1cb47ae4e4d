//! crmflow: a headless CRM workflow engine (see `DESIGN.md` in the shared folder and the
//! README). Layers: `api` (HTTP) → `service` (one function per use case, one transaction)
//! → `domain` (pure rules) and `store` (diesel); `jobs` runs the sweeper.

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod service;
pub mod startup;
pub mod store;
