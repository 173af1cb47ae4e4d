//! Business rules as pure functions and types: no diesel, no actix. Each type here is
//! parsed once at the edge (`Type::parse`) and is valid wherever it is held.

pub mod activity;
pub mod asset;
pub mod assignment;
pub mod audit;
pub mod calendar;
pub mod company;
pub mod conditions;
pub mod contact;
pub mod contract;
pub mod cursor;
pub mod custom_field;
pub mod dedup;
pub mod email;
pub mod events;
pub mod import;
pub mod lead;
pub mod money;
pub mod phone;
pub mod pipeline;
pub mod quote;
pub mod renewal;
pub mod report;
pub mod role;
pub mod scoring;
pub mod time;
pub mod uscc;
pub mod webhook;
pub mod work_order;
