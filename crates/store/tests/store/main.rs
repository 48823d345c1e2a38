//! The store's integration tests, one binary (linking is the slow part of a test build): every
//! public method on both backends through `store::backend_tests!`, plus what only one backend
//! or two stores at once can show.

mod bots;
mod common;
mod concurrency;
mod connect;
mod corrupt;
mod credentials;
mod notifications;
mod orders;
mod sessions;
mod trades;
mod users;
mod venues;
mod workers;
