//! A TCP proxy between the publisher and the real broker, to stage what a
//! network or a broker does to a client: it can cut every live connection and
//! refuse new ones (an outage), and it can tell the client the broker blocked
//! it (`connection.blocked`) while holding back what the client sends, as
//! RabbitMQ does under a memory or disk alarm.

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

/// A running proxy; it stops when dropped.
pub(super) struct Proxy {
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
    /// Frames to slip into every connection's broker-to-client stream.
    inject: broadcast::Sender<Vec<u8>>,
    /// Connections dropped because the proxy was cut.
    refused: AtomicU64,
}

impl Proxy {
    /// Listens on a free local port and forwards to `upstream`.
    pub(super) async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            live: Mutex::new(CancellationToken::new()),
            up: watch::channel(true).0,
            holding: watch::channel(false).0,
            inject: broadcast::channel(16).0,
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
                        // An outage: the connection is dropped at once.
                        drop(client);
                        shared.refused.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        continue;
                    };
                    let live = shared.live.lock().unwrap().child_token();
                    tokio::spawn(forward(client, server, shared.clone(), live));
                }
                shared.live.lock().unwrap().cancel();
            }
        });
        Proxy { addr, shared, stop }
    }

    /// An AMQP URL that reaches the broker through this proxy.
    pub(super) fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// Kills every live connection and drops new ones until [`Proxy::restore`].
    pub(super) fn cut(&self) {
        self.shared.up.send_replace(false);
        let mut live = self.shared.live.lock().unwrap();
        live.cancel();
        *live = CancellationToken::new();
    }

    /// How many connections were dropped because the proxy was cut.
    pub(super) fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Lets connections through again.
    pub(super) fn restore(&self) {
        self.shared.up.send_replace(true);
    }

    /// Sends `connection.blocked` to every live client and holds back what
    /// the clients send until [`Proxy::unblock`].
    pub(super) fn block(&self, reason: &str) {
        self.shared.holding.send_replace(true);
        let _ = self.shared.inject.send(blocked_frame(reason));
    }

    /// Sends `connection.unblocked` and releases what the clients sent meanwhile.
    pub(super) fn unblock(&self) {
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
    tokio::select! {
        _ = live.cancelled() => {}
        _ = client_to_server(client_read, server_write, holding) => {}
        _ = read_frames(server_read, frames_tx) => {}
        _ = write_frames(client_write, frames_rx, inject) => {}
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

/// Writes the broker's frames and any injected ones to the client.
async fn write_frames(
    mut to: OwnedWriteHalf,
    mut frames: mpsc::Receiver<Vec<u8>>,
    mut inject: broadcast::Receiver<Vec<u8>>,
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
