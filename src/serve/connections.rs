//! The server's connections: our own accept loop over hyper's HTTP/1
//! connection, because `axum::serve` has no header-read timeout, no idle
//! timeout and no cap, so idle connections piled up until the file limit
//! stopped `accept` and `/healthz` went dark.
//!
//! Each connection is in one [`Phase`]: waiting for a request (fresh, or
//! idle between keep-alive requests), reading a request's head, or busy
//! with requests. A connection waiting or reading is closed when its time
//! is up (`server.header_timeout` for a head, and for a fresh connection's
//! first one; `server.idle_timeout` between requests); a busy one never is.
//! At the cap (`server.max_connections`, kept below the file limit), a new
//! connection is still accepted, and the connection idle the longest is
//! closed to make room: a flood of idle connections costs the oldest of
//! them, never `/healthz`.

use crate::config::{LiveSettings, ServerSettings};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// The largest request head (request line and headers) read; a larger one
/// is answered 431. hyper's read buffer holds the head, so its size is the
/// bound (hyper's floor is 8 KiB).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The largest request body accepted; every route is a GET, so a body is
/// never needed, and a larger declared one is answered 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// File descriptors kept out of the connection cap, for everything else
/// the daemon opens: the store, outgoing fetches, the broker, the config
/// watcher, logs. An eighth of the limit, at least this many.
const RESERVED_FILES: u64 = 256;

/// Raises the soft limit on open files to the hard limit, so the
/// connection cap can be as high as the system allows, and returns the
/// soft limit now in force.
pub fn raise_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
            warn!(error = %e, limit = soft, "cannot raise the open-file limit; keeping it");
            soft
        }
    }
}

/// The most connections a file limit of `file_limit` leaves room for.
pub fn connection_cap(file_limit: u64) -> usize {
    let reserved = (file_limit / 8).max(RESERVED_FILES);
    usize::try_from(file_limit.saturating_sub(reserved).max(16)).unwrap_or(usize::MAX)
}

/// The limits a connection is served under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `server.header_timeout`.
    pub header_timeout: Duration,
    /// `server.idle_timeout`.
    pub idle_timeout: Duration,
    /// `server.max_connections`, or what the file limit allows, whichever is lower.
    pub max_connections: usize,
}

impl Limits {
    /// The limits of `server` under a file limit of `file_limit`.
    pub fn new(server: &ServerSettings, file_limit: u64) -> Limits {
        let cap = connection_cap(file_limit);
        Limits {
            header_timeout: server.header_timeout,
            idle_timeout: server.idle_timeout,
            max_connections: server.max_connections.map_or(cap, |n| n.min(cap)),
        }
    }
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request under way: fresh since `since` (`served` false), or idle
    /// after a response, `since` its last read or write.
    Waiting { since: Instant, served: bool },
    /// A request's head is coming: its first byte came at `since` (for
    /// a fresh connection's first head, `since` is the accept); the rest
    /// has not.
    Reading { since: Instant },
    /// Requests under way.
    Busy { in_flight: usize },
}

/// One open connection, as its task, its reads and writes, its requests
/// and the accept loop see it.
#[derive(Debug)]
struct Connection {
    phase: Mutex<Phase>,
    /// Cancelled to close it (it is the one idle the longest at the cap).
    evict: CancellationToken,
}

impl Connection {
    fn new(now: Instant) -> Connection {
        Connection {
            phase: Mutex::new(Phase::Waiting {
                since: now,
                served: false,
            }),
            evict: CancellationToken::new(),
        }
    }

    // A std mutex: every critical section is a few instructions with no
    // await, and reads and writes take it from poll functions.
    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_read(&self, now: Instant) {
        let mut phase = self.phase();
        // A fresh connection's first head is timed from the accept, so a
        // client cannot wait out most of the timeout and start it afresh.
        match *phase {
            Phase::Waiting {
                since,
                served: false,
            } => *phase = Phase::Reading { since },
            Phase::Waiting { served: true, .. } => *phase = Phase::Reading { since: now },
            Phase::Reading { .. } | Phase::Busy { .. } => {}
        }
    }

    fn on_write(&self, now: Instant) {
        if let Phase::Waiting { since, .. } = &mut *self.phase() {
            *since = now;
        }
    }

    fn request_started(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy { in_flight } => Phase::Busy {
                in_flight: in_flight + 1,
            },
            _ => Phase::Busy { in_flight: 1 },
        };
    }

    fn request_finished(&self, now: Instant) {
        let mut phase = self.phase();
        if let Phase::Busy { in_flight } = *phase {
            *phase = if in_flight > 1 {
                Phase::Busy {
                    in_flight: in_flight - 1,
                }
            } else {
                Phase::Waiting {
                    since: now,
                    served: true,
                }
            };
        }
    }

    /// When it is to be closed if nothing happens meanwhile; `None` while busy.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        match *self.phase() {
            Phase::Waiting {
                since,
                served: false,
            }
            | Phase::Reading { since } => Some(since + limits.header_timeout),
            Phase::Waiting {
                since,
                served: true,
            } => Some(since + limits.idle_timeout),
            Phase::Busy { .. } => None,
        }
    }

    /// Since when it has been idle (waiting, or reading a head); `None` while busy.
    fn idle_since(&self) -> Option<Instant> {
        match *self.phase() {
            Phase::Waiting { since, .. } | Phase::Reading { since } => Some(since),
            Phase::Busy { .. } => None,
        }
    }
}

/// The open connections, for the cap.
#[derive(Default)]
struct Registry {
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: AtomicU64,
    closed: tokio::sync::Notify,
}

impl Registry {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn len(&self) -> usize {
        self.open().len()
    }

    fn add(&self, connection: Arc<Connection>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.open().insert(id, connection);
        id
    }

    fn remove(&self, id: u64) {
        self.open().remove(&id);
        self.closed.notify_waiters();
    }

    /// Closes the connection idle the longest, other than `keep`; whether
    /// there was one.
    fn evict_idlest(&self, keep: u64) -> bool {
        let open = self.open();
        let idlest = open
            .iter()
            .filter(|(id, c)| **id != keep && !c.evict.is_cancelled())
            .filter_map(|(_, c)| c.idle_since().map(|since| (since, c)))
            .min_by_key(|(since, _)| *since);
        match idlest {
            Some((_, connection)) => {
                connection.evict.cancel();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` until `shutdown`, then lets the requests
/// under way finish (idle connections close at once) and returns when
/// every connection has closed. The limits are read from the live
/// settings at each accept, so a reload applies to new connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: LiveSettings,
    file_limit: u64,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let registry = Arc::new(Registry::default());
    let tracker = TaskTracker::new();
    let mut accept_failing = false;
    loop {
        let limits = Limits::new(&settings.borrow().server, file_limit);
        // At most one over the cap: with no idle connection to close, the
        // next accept waits for one to end (the kernel's backlog holds the
        // newcomers meanwhile).
        while registry.len() > limits.max_connections {
            let closed = registry.closed.notified();
            if registry.len() <= limits.max_connections {
                break;
            }
            tokio::select! {
                _ = closed => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                accept_failing = false;
                stream
            }
            Err(e) => {
                // Out of files (or another passing trouble): log it once
                // per episode and try again shortly.
                if !accept_failing {
                    warn!(error = %e, open = registry.len(), "cannot accept a connection; retrying");
                    accept_failing = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let connection = Arc::new(Connection::new(Instant::now()));
        let id = registry.add(connection.clone());
        if registry.len() > limits.max_connections {
            registry.evict_idlest(id);
        }
        let (registry, router, shutdown) = (registry.clone(), router.clone(), shutdown.clone());
        tracker.spawn(async move {
            serve_connection(stream, connection, router, limits, shutdown).await;
            registry.remove(id);
        });
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    connection: Arc<Connection>,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let io = TokioIo::new(Watched {
        inner: stream,
        connection: connection.clone(),
    });
    let service = Tracked {
        inner: TowerToHyperService::new(router),
        connection: connection.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(MAX_HEAD_BYTES);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let mut stopping = false;
    loop {
        // Busy connections are looked at again after a while: the phase
        // moves on without waking this loop.
        let deadline = connection
            .deadline(&limits)
            .unwrap_or_else(|| Instant::now() + limits.header_timeout);
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep_until(deadline) => {
                if connection.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    debug!("closing a connection past its header or idle timeout");
                    return;
                }
            }
            _ = connection.evict.cancelled() => {
                debug!("closing the connection idle the longest, at the connection cap");
                return;
            }
            _ = shutdown.cancelled(), if !stopping => {
                stopping = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The connection's socket, telling the connection of every read and write.
struct Watched {
    inner: TcpStream,
    connection: Arc<Connection>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.connection.on_read(Instant::now());
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.connection.on_write(Instant::now());
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.connection.on_write(Instant::now());
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The router as hyper's service, telling the connection when each
/// request starts and ends.
struct Tracked {
    inner: TowerToHyperService<Router>,
    connection: Arc<Connection>,
}

/// Ends a request in its connection's phase when dropped, however the
/// response future ends.
struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished(Instant::now());
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = <TowerToHyperService<Router> as hyper::service::Service<
        hyper::Request<Incoming>,
    >>::Response;
    type Error =
        <TowerToHyperService<Router> as hyper::service::Service<hyper::Request<Incoming>>>::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        self.connection.request_started();
        let in_flight = InFlight(self.connection.clone());
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 2,
    };

    #[test]
    fn the_cap_stays_below_the_file_limit() {
        assert_eq!(connection_cap(1024), 768);
        assert_eq!(connection_cap(65536), 57344);
        assert_eq!(connection_cap(100), 16);
        let server = ServerSettings::default();
        assert_eq!(Limits::new(&server, 1024).max_connections, 768);
        let capped = ServerSettings {
            max_connections: Some(100_000),
            ..ServerSettings::default()
        };
        assert_eq!(Limits::new(&capped, 1024).max_connections, 768);
        let low = ServerSettings {
            max_connections: Some(50),
            ..ServerSettings::default()
        };
        assert_eq!(Limits::new(&low, 1024).max_connections, 50);
    }

    #[tokio::test(start_paused = true)]
    async fn each_phase_has_its_deadline() {
        let start = Instant::now();
        let c = Connection::new(start);
        assert_eq!(c.deadline(&LIMITS), Some(start + LIMITS.header_timeout));
        let later = start + Duration::from_secs(3);
        c.on_read(later);
        // A fresh connection's first head is timed from the accept.
        c.on_read(later + Duration::from_secs(1));
        assert_eq!(c.deadline(&LIMITS), Some(start + LIMITS.header_timeout));
        c.request_started();
        c.request_started();
        assert_eq!(c.deadline(&LIMITS), None);
        assert_eq!(c.idle_since(), None);
        c.request_finished(later);
        assert_eq!(c.deadline(&LIMITS), None, "one request is still under way");
        let done = later + Duration::from_secs(2);
        c.request_finished(done);
        assert_eq!(c.deadline(&LIMITS), Some(done + LIMITS.idle_timeout));
        let written = done + Duration::from_secs(5);
        c.on_write(written);
        assert_eq!(c.deadline(&LIMITS), Some(written + LIMITS.idle_timeout));
        // The next head on the kept-alive connection is timed from its first byte.
        let next = written + Duration::from_secs(30);
        c.on_read(next);
        c.on_read(next + Duration::from_secs(1));
        assert_eq!(c.deadline(&LIMITS), Some(next + LIMITS.header_timeout));
    }

    #[tokio::test(start_paused = true)]
    async fn the_cap_closes_the_connection_idle_the_longest_never_a_busy_one() {
        let registry = Registry::default();
        let now = Instant::now();
        let oldest_busy = Arc::new(Connection::new(now));
        oldest_busy.request_started();
        let idle = Arc::new(Connection::new(now + Duration::from_secs(1)));
        let newer = Arc::new(Connection::new(now + Duration::from_secs(2)));
        registry.add(oldest_busy.clone());
        registry.add(idle.clone());
        let newest = registry.add(newer.clone());
        assert!(registry.evict_idlest(newest));
        assert!(idle.evict.is_cancelled());
        assert!(!oldest_busy.evict.is_cancelled() && !newer.evict.is_cancelled());
        // The one already told to close is not counted again; the newest is kept.
        assert!(!registry.evict_idlest(newest));
    }
}
