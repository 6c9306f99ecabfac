//! A TCP proxy between a client and the real broker, to stage what a network
//! or a broker does to a client:
//! - **refuse** new connections (they are closed at once), and **cut** every
//!   live one too: an outage;
//! - **mute** the broker: what it sends (confirms, heartbeats) is held back,
//!   while what the client sends still reaches it, as on a one-way partition;
//! - **inject** `connection.blocked` into the broker's stream while holding
//!   back what the client sends, as RabbitMQ does under a memory or disk alarm.

use crate::broker::BROKER_ADDR;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The end of every AMQP frame.
const FRAME_END: u8 = 0xCE;

/// A running proxy; it stops, and closes every connection, when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

struct Shared {
    /// Cancelled by `cut`: every connection made before it dies.
    live: Mutex<CancellationToken>,
    /// Whether new connections are let through.
    up: watch::Sender<bool>,
    /// Whether the client's bytes are held back (the broker "blocked" it).
    holding: watch::Sender<bool>,
    /// Whether the broker's bytes are held back (the broker is muted).
    muted: watch::Sender<bool>,
    /// Frames to slip into every connection's broker-to-client stream.
    inject: broadcast::Sender<Vec<u8>>,
    /// Connections let through to the broker.
    accepted: AtomicU64,
    /// Connections closed at once because the proxy refused them.
    refused: AtomicU64,
}

impl Proxy {
    /// A proxy to the test broker on [`BROKER_ADDR`].
    pub async fn to_broker() -> Proxy {
        Proxy::start(BROKER_ADDR).await
    }

    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            live: Mutex::new(CancellationToken::new()),
            up: watch::channel(true).0,
            holding: watch::channel(false).0,
            muted: watch::channel(false).0,
            inject: broadcast::channel(16).0,
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        let upstream = upstream.to_owned();
        tokio::spawn({
            let shared = shared.clone();
            let stop = stop.clone();
            async move {
                loop {
                    let client = tokio::select! {
                        _ = stop.cancelled() => break,
                        accepted = listener.accept() => match accepted {
                            Ok((client, _)) => client,
                            Err(_) => continue,
                        },
                    };
                    if !*shared.up.borrow() {
                        drop(client);
                        shared.refused.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        continue;
                    };
                    shared.accepted.fetch_add(1, Ordering::Relaxed);
                    let live = shared.live.lock().unwrap().child_token();
                    tokio::spawn(forward(client, server, shared.clone(), live));
                }
                shared.live.lock().unwrap().cancel();
            }
        });
        Proxy { addr, shared, stop }
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An AMQP URL (guest/guest, the default vhost) that reaches the broker through this proxy.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// Closes new connections at once until [`Proxy::restore`]; live ones go on.
    pub fn refuse(&self) {
        self.shared.up.send_replace(false);
    }

    /// An outage: kills every live connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.refuse();
        let mut live = self.shared.live.lock().unwrap();
        live.cancel();
        *live = CancellationToken::new();
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.shared.up.send_replace(true);
    }

    /// How many connections were let through to the broker.
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// How many connections were closed at once because the proxy refused them.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Holds back everything the broker sends (confirms included) until
    /// [`Proxy::unmute`]; what the clients send still reaches the broker.
    pub fn mute(&self) {
        self.shared.muted.send_replace(true);
    }

    /// Releases what the broker sent while muted, in order, and lets the rest through.
    pub fn unmute(&self) {
        self.shared.muted.send_replace(false);
    }

    /// Injects `connection.blocked` into every live connection and holds
    /// back what the clients send until [`Proxy::unblock`].
    pub fn block(&self, reason: &str) {
        self.shared.holding.send_replace(true);
        let _ = self.shared.inject.send(blocked_frame(reason));
    }

    /// Injects `connection.unblocked` and releases what the clients sent meanwhile.
    pub fn unblock(&self) {
        let _ = self.shared.inject.send(method_frame(10, 61, &[]));
        self.shared.holding.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Carries one connection both ways until either side closes or `live` is cancelled.
async fn forward(
    client: TcpStream,
    server: TcpStream,
    shared: Arc<Shared>,
    live: CancellationToken,
) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (frames_tx, frames_rx) = mpsc::channel(64);
    let inject = shared.inject.subscribe();
    let holding = shared.holding.subscribe();
    let muted = shared.muted.subscribe();
    tokio::select! {
        _ = live.cancelled() => {}
        _ = client_to_server(client_read, server_write, holding) => {}
        _ = read_frames(server_read, frames_tx) => {}
        _ = write_frames(client_write, frames_rx, inject, muted) => {}
    }
    // Dropping the halves closes both sockets: the client sees its broker vanish.
}

/// Copies the client's bytes to the broker, holding them while `holding` is set.
async fn client_to_server(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut holding: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if holding.wait_for(|held| !*held).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Reads whole AMQP frames from the broker, so injected frames land between them.
async fn read_frames(mut from: OwnedReadHalf, frames: mpsc::Sender<Vec<u8>>) {
    loop {
        let mut header = [0u8; 7];
        if from.read_exact(&mut header).await.is_err() {
            return;
        }
        let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]) as usize;
        let mut frame = Vec::with_capacity(7 + size + 1);
        frame.extend_from_slice(&header);
        frame.resize(7 + size + 1, 0);
        if from.read_exact(&mut frame[7..]).await.is_err() {
            return;
        }
        if frames.send(frame).await.is_err() {
            return;
        }
    }
}

/// Writes the broker's frames and any injected ones to the client, holding
/// them while `muted` is set.
async fn write_frames(
    mut to: OwnedWriteHalf,
    mut frames: mpsc::Receiver<Vec<u8>>,
    mut inject: broadcast::Receiver<Vec<u8>>,
    mut muted: watch::Receiver<bool>,
) {
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => frame,
                None => return,
            },
            injected = inject.recv() => match injected {
                Ok(frame) => frame,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if muted.wait_for(|muted| !*muted).await.is_err() {
            return;
        }
        if to.write_all(&frame).await.is_err() {
            return;
        }
    }
}

/// An AMQP method frame on channel 0.
fn method_frame(class: u16, method: u16, arguments: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&class.to_be_bytes());
    payload.extend_from_slice(&method.to_be_bytes());
    payload.extend_from_slice(arguments);
    let mut frame = vec![1u8, 0, 0];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    frame.push(FRAME_END);
    frame
}

/// `connection.blocked` (class 10, method 60) with its reason as a short string.
fn blocked_frame(reason: &str) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(255)];
    let mut arguments = vec![reason.len() as u8];
    arguments.extend_from_slice(reason);
    method_frame(10, 60, &arguments)
}
