//! The daemon's endpoints under connections that hold on: beyond `max_connections` a new
//! connection is closed at once and the daemon keeps answering once the holders go; a
//! connection that never completes its headers is closed (header-read timeout); a connection
//! that goes quiet mid-request is closed (idle timeout); `/status` is served on the main
//! listener, a separate one, or not at all.
//!
//! Timeouts are short here and every wait for a close is long and generous: what is checked is
//! that a connection IS closed, never how fast.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

const CAP: usize = 32;
const IDLE_SOCKETS: usize = 64;
/// Far longer than any timeout a test sets short.
const LONG: &str = "120s";

struct Daemon {
    child: std::process::Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `akv-rotator run` with `[daemon]` keys `daemon` (TOML lines), and waits for /healthz.
async fn start_daemon(world: &World, daemon: &str) -> Daemon {
    let port = free_port();
    let config = world.dir.path().join("daemon-limits.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[daemon]\nschedule = \"0 0 * * *\"\njitter = \"0s\"\nlisten = \"127.0.0.1:{port}\"\n{daemon}\n",
            world.config_text()
        ),
    )
    .unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_akv-rotator"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon { child, port };
    // A plain request that the daemon closes, so no connection of ours is left behind.
    for _ in 0..200 {
        if get_status(port, "/healthz").await.is_some() {
            return daemon;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the daemon never answered /healthz");
}

/// Whether the daemon closes `stream` (end of stream or reset) within `within`; bytes it
/// sends first (a 408 answer, say) are read and ignored.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A full GET on a fresh connection: the status code, or `None` when the connection was
/// closed without an answer.
async fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_cap_are_closed_and_the_daemon_answers_once_the_holders_go() {
    let world = World::start(vec![TestApp::new("sales")]).await;
    let daemon = start_daemon(
        &world,
        &format!(
            "max_connections = {CAP}\nheader_read_timeout = \"{LONG}\"\nidle_timeout = \"{LONG}\"\n"
        ),
    )
    .await;

    // Arrange: 64 connections that never send a byte.
    let mut idle = Vec::new();
    for _ in 0..IDLE_SOCKETS {
        idle.push(
            TcpStream::connect(("127.0.0.1", daemon.port))
                .await
                .unwrap(),
        );
    }

    // Act: see which ones the daemon closes.
    let checks = idle.into_iter().map(|mut s| async move {
        let closed = closed_within(&mut s, Duration::from_secs(5)).await;
        (closed, s)
    });
    let results = futures::future::join_all(checks).await;
    let open: Vec<TcpStream> = results
        .into_iter()
        .filter_map(|(closed, s)| (!closed).then_some(s))
        .collect();

    // Assert: the cap held open, the rest closed; with the cap full, a fresh request gets no
    // answer.
    assert_eq!(
        open.len(),
        CAP,
        "idle connections held open of {IDLE_SOCKETS} with max_connections = {CAP}"
    );
    assert_eq!(get_status(daemon.port, "/healthz").await, None);

    // Once the holders go, the daemon answers again.
    drop(open);
    let mut answered = None;
    for _ in 0..100 {
        answered = get_status(daemon.port, "/healthz").await;
        if answered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answered, Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_without_headers_or_gone_quiet_mid_request_is_closed() {
    let world = World::start(vec![TestApp::new("sales")]).await;

    // Header-read timeout: one connection sends nothing, one half a request.
    let daemon = start_daemon(
        &world,
        &format!("header_read_timeout = \"1s\"\nidle_timeout = \"{LONG}\"\n"),
    )
    .await;
    let mut silent = TcpStream::connect(("127.0.0.1", daemon.port))
        .await
        .unwrap();
    let mut partial = TcpStream::connect(("127.0.0.1", daemon.port))
        .await
        .unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(60)).await,
        "a connection that never sends headers stays open"
    );
    assert!(
        closed_within(&mut partial, Duration::from_secs(60)).await,
        "a connection that never finishes its headers stays open"
    );
    assert_eq!(get_status(daemon.port, "/healthz").await, Some(200));
    drop(daemon);

    // Idle timeout alone (the header-read timeout far away): a request that stops mid-way.
    let daemon = start_daemon(
        &world,
        &format!("header_read_timeout = \"{LONG}\"\nidle_timeout = \"1s\"\n"),
    )
    .await;
    let mut stalled = TcpStream::connect(("127.0.0.1", daemon.port))
        .await
        .unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut stalled, Duration::from_secs(60)).await,
        "a connection quiet for longer than idle_timeout stays open"
    );
    assert_eq!(get_status(daemon.port, "/healthz").await, Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn status_is_served_on_the_main_listener_a_separate_one_or_not_at_all() {
    let world = World::start(vec![TestApp::new("sales")]).await;

    let daemon = start_daemon(&world, "").await;
    assert_eq!(get_status(daemon.port, "/status").await, Some(200));
    drop(daemon);

    let status_port = free_port();
    let daemon = start_daemon(&world, &format!("status = \"127.0.0.1:{status_port}\"\n")).await;
    assert_eq!(get_status(status_port, "/status").await, Some(200));
    assert_eq!(get_status(daemon.port, "/status").await, Some(404));
    assert_eq!(get_status(status_port, "/healthz").await, Some(404));
    assert_eq!(get_status(daemon.port, "/healthz").await, Some(200));
    drop(daemon);

    let daemon = start_daemon(&world, "status = \"off\"\n").await;
    assert_eq!(get_status(daemon.port, "/status").await, Some(404));
    assert_eq!(get_status(daemon.port, "/metrics").await, Some(200));
}
