//! SIP over TCP at the socket: bytes a stream cannot frame (RFC 4475
//! §3.1.2.3, §3.3.9; a missing Content-Length, which a stream requires)
//! are answered 400, then the server closes the connection; a connection
//! that stalls before a whole message is closed, and connections over the
//! per-source limit are closed at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use server::{CallConfig, Config, Server, SipAddrs, SystemClock, TcpLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn request(method: &str, content_length: &str) -> String {
    format!(
        "{method} sip:room1@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKunframeable\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:room1@127.0.0.1>\r\n\
         Call-ID: unframeable\r\nCSeq: 7 {method}\r\nMax-Forwards: 70\r\n\
         {content_length}\r\nv=0\r\n"
    )
}

#[tokio::test]
async fn unframeable_bytes_get_400_then_the_connection_closes() {
    let (_dir, server, addrs) = server_with(TcpLimits::default(), (31900, 31910)).await;
    for (what, bytes, cseq) in [
        (
            "negative",
            request("OPTIONS", "Content-Length: -1\r\n"),
            "7 OPTIONS",
        ),
        (
            "repeated",
            request("OPTIONS", "Content-Length: 5\r\nl: 13\r\n"),
            "7 OPTIONS",
        ),
        ("missing", request("INVITE", ""), "7 INVITE"),
    ] {
        let mut stream = TcpStream::connect(addrs.tcp).await.unwrap();
        stream.write_all(bytes.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got))
            .await
            .unwrap_or_else(|_| panic!("{what}: the connection stayed open"))
            .unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("SIP/2.0 400 "), "{what}: {text:?}");
        assert_eq!(text.matches("SIP/2.0 ").count(), 1, "{what}: {text:?}");
        assert!(
            text.contains(&format!("\r\nCSeq: {cseq}\r\n")),
            "{what}: {text:?}"
        );
    }
    server.stop().await;
}

fn options(cseq: u32) -> String {
    format!(
        "OPTIONS sip:room1@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKopt{cseq}\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:room1@127.0.0.1>\r\n\
         Call-ID: limits-{cseq}\r\nCSeq: {cseq} OPTIONS\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A server whose TCP limits are `limits`.
async fn server_with(
    limits: TcpLimits,
    ports: (u16, u16),
) -> (tempfile::TempDir, Server, SipAddrs) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("confab.db").display());
    let store = store::Store::connect(&url).await.unwrap();
    let mut server = Server::start(store, Config::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    let mut calls = CallConfig::new("127.0.0.1:0".parse().unwrap(), ports);
    calls.sip.tcp_limits = limits;
    let addrs = server.listen_sip(calls).await.unwrap();
    (dir, server, addrs)
}

/// Sends an OPTIONS and reads its whole response (a 200 with no body).
async fn ask(stream: &mut TcpStream, cseq: u32) -> String {
    stream.write_all(options(cseq).as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 2048];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("no answer to OPTIONS")
            .unwrap();
        assert!(n > 0, "closed before answering: {got:?}");
        got.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Whether the server closes `stream` within 10 s (reading what it sends).
async fn closes(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    matches!(
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await,
        Ok(Ok(_) | Err(_))
    )
}

#[tokio::test]
async fn a_connection_that_stalls_before_a_whole_message_is_closed() {
    let limits = TcpLimits {
        stall: Duration::from_millis(300),
        ..TcpLimits::default()
    };
    let (_dir, server, addrs) = server_with(limits, (31912, 31920)).await;

    let mut silent = TcpStream::connect(addrs.tcp).await.unwrap();
    assert!(
        closes(&mut silent).await,
        "a connection that sent nothing stayed open"
    );

    let mut half = TcpStream::connect(addrs.tcp).await.unwrap();
    let whole = options(1);
    half.write_all(&whole.as_bytes()[..whole.len() / 2])
        .await
        .unwrap();
    assert!(
        closes(&mut half).await,
        "half a message kept the connection open"
    );

    // After a whole message the connection may idle (calls run over it),
    // but half of the next one is due in time again.
    let mut used = TcpStream::connect(addrs.tcp).await.unwrap();
    assert!(ask(&mut used, 2).await.starts_with("SIP/2.0 200 "));
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(ask(&mut used, 3).await.starts_with("SIP/2.0 200 "));
    used.write_all(b"OPTIONS sip:room1@127.0.0.1 SIP/2.0\r\n")
        .await
        .unwrap();
    assert!(
        closes(&mut used).await,
        "half of a second message kept it open"
    );

    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_per_source_limit_are_closed_at_once() {
    let limits = TcpLimits {
        per_source: 2,
        ..TcpLimits::default()
    };
    let (_dir, server, addrs) = server_with(limits, (31922, 31930)).await;

    let mut first = TcpStream::connect(addrs.tcp).await.unwrap();
    let mut second = TcpStream::connect(addrs.tcp).await.unwrap();
    assert!(ask(&mut first, 1).await.starts_with("SIP/2.0 200 "));
    assert!(ask(&mut second, 2).await.starts_with("SIP/2.0 200 "));

    let mut third = TcpStream::connect(addrs.tcp).await.unwrap();
    let _ = third.write_all(options(3).as_bytes()).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), third.read_to_end(&mut got))
        .await
        .expect("the third connection stayed open");
    assert!(got.is_empty(), "the third connection was answered: {got:?}");

    // One closes, so another may open; the second was never disturbed.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut next = TcpStream::connect(addrs.tcp).await.unwrap();
        if next.write_all(options(4).as_bytes()).await.is_ok() {
            let mut chunk = [0u8; 2048];
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(2), next.read(&mut chunk)).await
                && chunk[..n].starts_with(b"SIP/2.0 200 ")
            {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no connection was let in after one closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ask(&mut second, 5).await.starts_with("SIP/2.0 200 "));

    server.stop().await;
}
