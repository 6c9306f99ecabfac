//! The three-node RabbitMQ cluster of `scripts/rabbitmq-cluster`, as the
//! cluster tests and benches see it: the nodes' URLs, and the script's
//! commands to stop, kill and bring back a node.
//!
//! `scripts/test` starts the cluster once per run and exports
//! `LIBRARYWIRE_TEST_CLUSTER` (the URLs, comma-separated) and
//! `LIBRARYWIRE_TEST_CLUSTER_CTL` (the script). Tests share the cluster, each
//! with exchanges and queues of its own; those that stop nodes take
//! [`Cluster::exclusive`] first, so two never stop nodes under each other.

use std::path::PathBuf;
use std::sync::OnceLock;
use tokio::process::Command;
use tokio::sync::{Mutex, MutexGuard};

/// The nodes of the test cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    urls: Vec<String>,
    ctl: PathBuf,
}

/// Held by a test while it stops and starts nodes.
pub type Exclusive = MutexGuard<'static, ()>;

fn turn() -> &'static Mutex<()> {
    static TURN: OnceLock<Mutex<()>> = OnceLock::new();
    TURN.get_or_init(|| Mutex::new(()))
}

impl Cluster {
    /// The cluster `scripts/test` started, or `None` when it did not.
    pub fn from_env() -> Option<Cluster> {
        let urls = std::env::var("LIBRARYWIRE_TEST_CLUSTER").ok()?;
        let ctl = std::env::var_os("LIBRARYWIRE_TEST_CLUSTER_CTL")?;
        let urls: Vec<String> = urls
            .split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        (urls.len() == 3).then(|| Cluster {
            urls,
            ctl: PathBuf::from(ctl),
        })
    }

    /// The cluster, or fails the test saying how to start one.
    pub fn get() -> Cluster {
        Cluster::from_env().unwrap_or_else(|| {
            panic!(
                "the cluster tests need the three-node RabbitMQ cluster of scripts/rabbitmq-cluster: \
                 run them with scripts/test, which starts and stops it, or start it yourself with \
                 `scripts/rabbitmq-cluster start` and export \
                 LIBRARYWIRE_TEST_CLUSTER=\"$(scripts/rabbitmq-cluster urls)\" and \
                 LIBRARYWIRE_TEST_CLUSTER_CTL=\"$PWD/scripts/rabbitmq-cluster\""
            )
        })
    }

    /// Waits for the turn to stop and start nodes, then makes sure every
    /// node runs (a test that failed half-way may have left one down).
    pub async fn exclusive(&self) -> Exclusive {
        let turn = turn().lock().await;
        self.run(&["heal"]).await;
        turn
    }

    /// The AMQP URLs of nodes 1, 2 and 3 (guest/guest, the default vhost).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The URL of node `n` (1..=3).
    pub fn url(&self, n: usize) -> &str {
        &self.urls[n - 1]
    }

    /// The port of node `n`'s AMQP listener.
    pub fn port(&self, n: usize) -> u16 {
        let url = self.url(n);
        let authority = url.rsplit('@').next().unwrap_or(url);
        let port = authority
            .split('/')
            .next()
            .and_then(|hostport| hostport.rsplit(':').next())
            .and_then(|port| port.parse().ok());
        port.unwrap_or_else(|| panic!("no port in {url}"))
    }

    /// Which node (1..=3) an address such as `amqp://127.0.0.1:5702//` names.
    pub fn node_of(&self, address: &str) -> Option<usize> {
        (1..=3).find(|&n| address.contains(&format!(":{}/", self.port(n))))
    }

    /// Stops the RabbitMQ application on node `n` (`rabbitmqctl stop_app`):
    /// its connections close, the Erlang node stays.
    pub async fn stop_app(&self, n: usize) {
        self.run(&["stop-app", &n.to_string()]).await;
    }

    /// Starts node `n`'s application again and waits until it serves.
    pub async fn start_app(&self, n: usize) {
        self.run(&["start-app", &n.to_string()]).await;
    }

    /// Kills node `n`'s process with SIGKILL.
    pub async fn kill(&self, n: usize) {
        self.run(&["kill", &n.to_string()]).await;
    }

    /// Starts killed node `n` again and waits until it serves; it rejoins.
    pub async fn start_node(&self, n: usize) {
        self.run(&["start-node", &n.to_string()]).await;
    }

    /// Runs the script without holding up the test's runtime, where the
    /// daemon under test runs too.
    async fn run(&self, args: &[&str]) {
        let out = Command::new(&self.ctl)
            .args(args)
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.ctl.display()));
        assert!(
            out.status.success(),
            "{} {} failed: {}",
            self.ctl.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
