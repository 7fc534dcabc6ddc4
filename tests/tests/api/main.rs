//! End-to-end tests of every behaviour of SPEC §3 against the local server over HTTP.

mod auth;
mod bad_input;
mod durability;
mod exports;
mod ingest;
mod meta;
mod query;
mod slow_clients;
