//! One integration-test binary (one link on small machines); one module per API area.

mod accounts;
mod audit_events;
mod auth;
mod cli;
mod contracts;
mod conventions;
mod customer360;
mod dedup;
mod demo;
mod helpers;
mod integration;
mod lead_engine;
mod leads;
mod openapi;
mod ops;
mod org;
mod pipeline;
mod reports;
mod security;
mod service;
