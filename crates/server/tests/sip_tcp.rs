//! SIP over TCP at the socket: bytes a stream cannot frame (RFC 4475
//! §3.1.2.3, §3.3.9; a missing Content-Length, which a stream requires)
//! are answered 400, then the server closes the connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use server::{CallConfig, Config, Server, SystemClock};
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
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("confab.db").display());
    let store = store::Store::connect(&url).await.unwrap();
    let mut server = Server::start(store, Config::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    let calls = CallConfig::new("127.0.0.1:0".parse().unwrap(), (31900, 31910));
    let addrs = server.listen_sip(calls).await.unwrap();
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
