//! The broker test kit of librarywire, shared by the publisher's unit tests
//! (`src/publish/tests`) and the end-to-end tests (`tests/e2e`).
//!
//! - [`Proxy`]: one TCP proxy between a client and the real broker that can
//!   cut, refuse, mute and inject, to stage what a network or a broker does.
//! - [`TestQueue`] and [`Deliveries`]: a test's own exchange and queue on the
//!   real RabbitMQ, and the messages arriving in it.
//! - [`Cluster`]: the three-node cluster of `scripts/rabbitmq-cluster`, and
//!   the script's commands that stop, kill and bring back its nodes.
//! - [`TestDatabase`]: a test's own database on the real PostgreSQL, dropped
//!   when the test ends, passed or failed.
//! - [`TlsServer`]: a throwaway PostgreSQL server with TLS, for the tests of
//!   `store.url`'s `sslmode`.
//!
//! It knows AMQP only as far as a proxy must (frame boundaries, and the two
//! `connection.blocked` frames it injects) and nothing of librarywire itself,
//! so it is a crate of its own instead of a file compiled into each test
//! binary: one copy, built once, with no dead-code warnings for the parts a
//! binary does not use.

mod broker;
mod cluster;
mod postgres;
mod proxy;
mod tls_server;

pub use broker::{
    BROKER_ADDR, Deliveries, PATIENCE, TestQueue, broker_url, connect, message_id, unique,
};
pub use cluster::{Cluster, Exclusive};
pub use postgres::{POSTGRES_URL, TestDatabase};
pub use proxy::Proxy;
pub use tls_server::TlsServer;
