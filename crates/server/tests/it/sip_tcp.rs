//! SIP over TCP at the socket: bytes a stream cannot frame (RFC 4475
//! §3.1.2.3, §3.3.9; a missing Content-Length, which a stream requires)
//! are answered 400, then the server closes the connection; a connection
//! that stalls before a whole message is closed, and connections over the
//! per-source limit are closed at once. A dropped connection does not end
//! an answered call: its BYE goes over a new connection to the caller's
//! Contact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use model::CallStatus;
use server::{CallConfig, Config, Server, SipAddrs, SystemClock, TcpLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::caller::DEADLINE;
use crate::common::rig::Rig;

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

/// A caller's INVITE over TCP whose Contact is `contact` (where it takes
/// requests), offering PCMU from `rtp`.
fn tcp_invite(local: SocketAddr, contact: SocketAddr, rtp: SocketAddr) -> String {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        rtp.port()
    );
    format!(
        "INVITE sip:dropped@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bKdrop1\r\n\
         From: <sip:drops@127.0.0.1>;tag=drops\r\nTo: <sip:dropped@127.0.0.1>\r\n\
         Call-ID: dropped-connection\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
         Contact: <sip:drops@{contact};transport=tcp>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The next whole SIP message on `stream` (headers and Content-Length
/// body), with what was read past it kept in `buf`.
async fn next_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    let name = name.trim();
                    (name.eq_ignore_ascii_case("Content-Length") || name == "l")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let message: Vec<u8> = buf.drain(..end + 4 + length).collect();
                return String::from_utf8_lossy(&message).into_owned();
            }
        }
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut chunk))
            .await
            .expect("no whole SIP message in time")
            .unwrap();
        assert!(
            n > 0,
            "closed mid-message: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(message: &'a str, name: &str) -> &'a str {
    message
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name} in {message}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_leaves_the_call_up_and_its_bye_goes_over_a_new_one() {
    // One connection per source: a second one from us is served only once
    // the server has handled the first one's close.
    let rig = Rig::with_calls((31932, 31940), 40, |calls| {
        calls.open_rooms = true;
        calls.sip.tcp_limits.per_source = 1;
    })
    .await;
    let phone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let mut conn = TcpStream::connect(rig.sip).await.unwrap();
    let local = conn.local_addr().unwrap();
    let invite = tcp_invite(
        local,
        phone.local_addr().unwrap(),
        rtp.local_addr().unwrap(),
    );
    conn.write_all(invite.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let ok = loop {
        let message = next_message(&mut conn, &mut buf).await;
        if !message.starts_with("SIP/2.0 1") {
            break message;
        }
    };
    assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");
    let to = header(&ok, "To");
    let ack = format!(
        "ACK sip:dropped@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bKdropack\r\n\
         From: <sip:drops@127.0.0.1>;tag=drops\r\nTo: {to}\r\n\
         Call-ID: dropped-connection\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    conn.write_all(ack.as_bytes()).await.unwrap();
    let (cf, calls) = rig.room_of(&rig.account, "dropped", "0", 1).await;

    // A proxy closes the idle connection.
    drop(conn);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let _fence = loop {
        let mut next = TcpStream::connect(rig.sip).await.unwrap();
        if next.write_all(options(40).as_bytes()).await.is_ok() {
            let mut chunk = [0u8; 2048];
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(2), next.read(&mut chunk)).await
                && chunk[..n].starts_with(b"SIP/2.0 200 ")
            {
                break next;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never let a second connection in"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The close has been handled, and the call is still up, in its room.
    let (same, still) = rig.room_of(&rig.account, "dropped", "0", 1).await;
    assert_eq!((same, still), (cf.clone(), calls.clone()));
    let row = rig.call_row(&calls[0], |_| true).await;
    assert_eq!(row.status, CallStatus::InProgress);

    // Kicked, the call hangs up: its BYE comes over a new connection to
    // the caller's Contact.
    let participant = format!("{}/Conferences/{cf}/Participants/{}", rig.base(), calls[0]);
    let (status, _) = rig.api(Method::DELETE, &participant, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (mut back, _) = tokio::time::timeout(DEADLINE, phone.accept())
        .await
        .expect("the server never connected to the caller's Contact")
        .unwrap();
    let mut buf = Vec::new();
    let bye = next_message(&mut back, &mut buf).await;
    assert!(
        bye.starts_with(&format!(
            "BYE sip:drops@{};transport=tcp SIP/2.0\r\n",
            phone.local_addr().unwrap()
        )),
        "{bye}"
    );
    assert_eq!(header(&bye, "Call-ID"), "dropped-connection");
    let vias: String = bye
        .lines()
        .filter(|l| l.starts_with("Via: "))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let ok = format!(
        "SIP/2.0 200 OK\r\n{vias}From: {}\r\nTo: {}\r\nCall-ID: dropped-connection\r\n\
         CSeq: {}\r\nContent-Length: 0\r\n\r\n",
        header(&bye, "From"),
        header(&bye, "To"),
        header(&bye, "CSeq"),
    );
    back.write_all(ok.as_bytes()).await.unwrap();
    let row = rig
        .call_row(&calls[0], |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::Complete);
    rig.server.stop().await;
}

/// A request of the caller in `tcp_invite`'s dialog (To tag `to`).
fn in_dialog(local: SocketAddr, to: &str, method: &str, cseq: u32, extra: &str) -> String {
    format!(
        "{method} sip:dropped@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bKdlg{cseq}\r\n\
         From: <sip:drops@127.0.0.1>;tag=drops\r\nTo: {to}\r\n\
         Call-ID: dropped-connection\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timers_update_and_options_over_a_real_connection() {
    let rig = Rig::with_calls((31942, 31950), 40, |calls| calls.open_rooms = true).await;
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut conn = TcpStream::connect(rig.sip).await.unwrap();
    let local = conn.local_addr().unwrap();
    let mut buf = Vec::new();
    let final_response = async |conn: &mut TcpStream, buf: &mut Vec<u8>| loop {
        let message = next_message(conn, buf).await;
        if !message.starts_with("SIP/2.0 1") {
            return message;
        }
    };
    let invite = tcp_invite(local, local, rtp.local_addr().unwrap());
    let with = |extra: &str| {
        invite.replacen(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\n{extra}"),
            1,
        )
    };

    // Below Min-SE: 422 with our Min-SE.
    conn.write_all(with("Session-Expires: 60\r\n").as_bytes())
        .await
        .unwrap();
    let refused = final_response(&mut conn, &mut buf).await;
    assert!(refused.starts_with("SIP/2.0 422 "), "{refused}");
    assert_eq!(header(&refused, "Min-SE"), "90");

    // `Require: timer` is taken; the 200 names the refresher.
    let asked = with("Session-Expires: 90;refresher=uac\r\nRequire: timer\r\nSupported: timer\r\n")
        .replace("branch=z9hG4bKdrop1", "branch=z9hG4bKdrop2")
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    conn.write_all(asked.as_bytes()).await.unwrap();
    let ok = final_response(&mut conn, &mut buf).await;
    assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");
    assert_eq!(header(&ok, "Session-Expires"), "90;refresher=uac");
    assert_eq!(header(&ok, "Require"), "timer");
    assert_eq!(header(&ok, "Supported"), "100rel, timer");
    let to = header(&ok, "To").to_owned();
    let ack = in_dialog(local, &to, "ACK", 2, "");
    conn.write_all(ack.as_bytes()).await.unwrap();
    let (_, calls) = rig.room_of(&rig.account, "dropped", "0", 1).await;

    // The caller refreshes with an UPDATE, and asks OPTIONS in the dialog.
    conn.write_all(
        in_dialog(
            local,
            &to,
            "UPDATE",
            3,
            "Session-Expires: 90;refresher=uac\r\n",
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let refreshed = final_response(&mut conn, &mut buf).await;
    assert!(refreshed.starts_with("SIP/2.0 200 "), "{refreshed}");
    assert!(refreshed.contains("\r\nCSeq: 3 UPDATE\r\n"), "{refreshed}");
    assert_eq!(header(&refreshed, "Session-Expires"), "90;refresher=uac");
    conn.write_all(in_dialog(local, &to, "OPTIONS", 4, "").as_bytes())
        .await
        .unwrap();
    let options = final_response(&mut conn, &mut buf).await;
    assert!(options.starts_with("SIP/2.0 200 "), "{options}");
    assert!(header(&options, "Allow").contains("UPDATE"), "{options}");

    conn.write_all(in_dialog(local, &to, "BYE", 5, "").as_bytes())
        .await
        .unwrap();
    let bye_ok = final_response(&mut conn, &mut buf).await;
    assert!(bye_ok.starts_with("SIP/2.0 200 "), "{bye_ok}");
    let row = rig
        .call_row(&calls[0], |r| r.status != CallStatus::InProgress)
        .await;
    assert_eq!(row.status, CallStatus::Complete);
    rig.server.stop().await;
}
