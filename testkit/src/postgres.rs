//! A test's own database on the real PostgreSQL (127.0.0.1:5432, user
//! `postgres`, trust auth; `LIBRARYWIRE_TEST_POSTGRES` names another server).
//!
//! Each [`TestDatabase`] is created with a random name and dropped when it
//! goes out of scope, even when the test panics. A test process that was
//! killed cannot drop its databases, so every creation first sweeps the
//! test databases left behind more than an hour ago (their names carry the
//! time they were made).

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_postgres::NoTls;

/// The server the tests use, as a URL of its `postgres` database.
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The prefix of every test database's name.
const PREFIX: &str = "lw_test_";

/// How old a test database must be before a sweep drops it: older than any
/// test run, so a sweep never takes one from a test still running.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// The server's URL: `LIBRARYWIRE_TEST_POSTGRES`, else [`POSTGRES_URL`].
fn server_url() -> String {
    std::env::var("LIBRARYWIRE_TEST_POSTGRES").unwrap_or_else(|_| POSTGRES_URL.to_owned())
}

/// A database of one test's own; dropped with this value.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database with a fresh name. Panics with what to do
    /// when no server answers.
    pub async fn create() -> TestDatabase {
        let server = server_url();
        let admin = admin(&server).await;
        sweep(&admin).await;
        let made = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = format!("{PREFIX}{made}_{:016x}", rand::random::<u64>());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let url = match server.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("{server} has no database part to replace"),
        };
        TestDatabase { name, url }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside a test's runtime, which cannot be blocked on,
        // or during a panic: a thread with a runtime of its own does the work.
        let (server, name) = (server_url(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                let admin = admin(&server).await;
                // FORCE ends the connections a store pool may still hold.
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop test database {}: no server", self.name),
        }
    }
}

/// A connection to the server's `postgres` database, for creating and
/// dropping databases.
async fn admin(server: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(server, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the store tests need PostgreSQL at {server} (user postgres, trust auth): {e}; \
                 scripts/test starts one, or set LIBRARYWIRE_TEST_POSTGRES"
            )
        });
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Drops the test databases made more than [`STALE_AFTER`] ago.
async fn sweep(admin: &tokio_postgres::Client) {
    let Ok(rows) = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            &[&format!("{PREFIX}%")],
        )
        .await
    else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for row in rows {
        let name: String = row.get(0);
        let made = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if made.is_some_and(|made| now.saturating_sub(made) > STALE_AFTER.as_secs()) {
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}
