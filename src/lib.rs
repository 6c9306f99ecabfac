//! librarywire: polls library news feeds and pages, keeps every item in an
//! embedded store, publishes new and changed items to RabbitMQ through an
//! outbox, and serves one merged feed over HTTP.
//!
//! The stages, each a module with typed input and output:
//! [`fetch`] → [`parse`] → [`normalize`] → [`store`] (with its outbox) →
//! [`publish`], with [`serve`] reading the store. [`refresh`] runs the first
//! four for one source, putting the items through the admin's [`rules`]
//! before the store; [`schedule`] decides when; [`app`] wires it all.

pub mod app;
pub mod background;
pub mod cli;
pub mod config;
pub mod control;
pub mod dedup;
pub mod error;
pub mod event;
pub mod fetch;
pub mod item;
pub mod metrics;
pub mod normalize;
pub mod opml;
pub mod page;
pub mod parse;
pub mod publish;
pub mod refresh;
pub mod reload;
pub mod rules;
pub mod schedule;
pub mod serve;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod websub;
