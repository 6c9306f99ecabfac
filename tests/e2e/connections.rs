//! The server's connections through the daemon binary: a flood of idle
//! connections at the common 1,024 open-file limit leaves `/healthz`
//! answering; a client sending its headers byte by byte is cut off after
//! `server.header_timeout`; an oversized head is a 431 and an oversized
//! body a 413, never a 5xx.

use crate::cli::librarywire;
use crate::helpers::{DaemonProcess, PATIENCE, free_port};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A daemon with no sources and `server` keys of `extra`, started with
/// `command_setup` applied to its command.
async fn daemon(extra: &str, setup: impl FnOnce(&mut Command)) -> (DaemonProcess, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://news.example.org/\"\n{extra}\n\
         [store]\npath = \"{}\"\n\
         [amqp]\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\nmax_backoff = \"1s\"\n",
        dir.path().join("store/librarywire.db").display(),
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let mut command = librarywire();
    command.arg("--config").arg(&path);
    setup(&mut command);
    let (daemon, _lines) = DaemonProcess::start_healthy(&mut command, port).await;
    // The folder outlives the test's use of it: the daemon is killed first.
    std::mem::forget(dir);
    (daemon, port)
}

/// The status line of the answer to `request`, sent whole on a fresh
/// connection; `None` when the server closed the connection instead.
async fn status_line(port: u16, request: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    if stream.write_all(request).await.is_err() {
        return None;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(2).any(|w| w == b"\r\n") {
                    break;
                }
            }
            Err(_) => panic!("no answer and no close within {PATIENCE:?}"),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn healthz_answers_with_1100_idle_connections_open_at_a_1024_file_limit() {
    // This test holds 1,100 sockets of its own.
    let own = rlimit::increase_nofile_limit(4096).unwrap();
    assert!(own >= 1200, "the test needs 1,200 open files, has {own}");
    // Timeouts far beyond the wait below: only the connection cap can
    // make room for /healthz.
    let (_daemon, port) = daemon(
        "header_timeout = \"1h\"\nidle_timeout = \"1h\"",
        |command| {
            // SAFETY: setrlimit is async-signal-safe, and nothing else runs
            // between fork and exec.
            unsafe {
                command.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 1024, 1024));
            }
        },
    )
    .await;

    let mut idle = Vec::with_capacity(1100);
    for _ in 0..1100 {
        idle.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let answer = loop {
        match client.get(&url).send().await {
            Ok(reply) => break reply.status(),
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("/healthz not answering yet: {e}");
            }
            Err(e) => panic!("/healthz never answered with 1,100 idle connections open: {e}"),
        }
    };
    assert_eq!(answer, 200);
    drop(idle);
}

#[tokio::test]
async fn slow_heads_are_cut_off_and_oversized_requests_refused() {
    let (_daemon, port) = daemon("header_timeout = \"1s\"", |_| {}).await;

    // A head sent a byte at a time, never finished: closed after the
    // header timeout, however long the client keeps sending.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut sent = 0usize;
    let closed = loop {
        assert!(
            sent < 75,
            "the connection is still open after 15 s of a byte every 200 ms"
        );
        let byte = head.get(sent).copied().unwrap_or(b'a');
        if slow.write_all(&[byte]).await.is_err() {
            break sent;
        }
        sent += 1;
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break sent,
            Ok(Ok(n)) => panic!(
                "an answer to an unfinished head: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_) => {}
        }
    };
    assert!(
        closed > 1,
        "closed after {closed} bytes, before the timeout"
    );

    // A head past the bound: 431.
    let big_head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let line = status_line(port, big_head.as_bytes()).await;
    assert!(
        line.as_deref().is_some_and(|l| l.contains(" 431 ")),
        "{line:?}"
    );

    // A body past the bound: 413 (or a closed connection), never a 5xx.
    let body = "a".repeat(1 << 20);
    let big_body = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let line = status_line(port, big_body.as_bytes()).await;
    if let Some(line) = &line {
        assert!(line.contains(" 413 "), "{line}");
    }

    // And the server still answers.
    let ok = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}
