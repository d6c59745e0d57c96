//! The 2008 docs' raw `DateCreated>=` filters, end to end: a real server on
//! `127.0.0.1:0`, requests written byte for byte on a TCP socket the way
//! curl and urllib send them, so hyper's request-line parser is in the path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use model::{Account, Timestamp};
use server::{Config, Server, SystemClock};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// No request here should take long; a hung server fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(20);

struct Running {
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    account: Account,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db").display());
        let store = store::Store::connect(&url).await.unwrap();
        let account = server::accounts::create(&store, "x", Timestamp::from(SystemTime::now()))
            .await
            .unwrap();
        let server = Server::start(store, Config::default(), Arc::new(SystemClock))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        Self {
            _dir: dir,
            addr,
            account,
            stop,
            serving,
        }
    }

    fn conferences(&self) -> String {
        format!("/2008-08-01/Accounts/{}/Conferences", self.account.sid)
    }

    /// A request head as curl would write it, `target` untouched.
    fn request(&self, method: &str, target: &str, extra: &str) -> String {
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.account.sid,
            self.account.auth_token.expose()
        ));
        format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {credentials}\r\n\
             User-Agent: curl/8.5.0\r\nAccept: */*\r\n{extra}\r\n",
            self.addr
        )
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(DEADLINE, self.serving)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    body: String,
}

/// Reads one response, framed by its `Content-Length`.
async fn read_response(reader: &mut BufReader<OwnedReadHalf>) -> Response {
    tokio::time::timeout(DEADLINE, async {
        let mut status_line = String::new();
        reader.read_line(&mut status_line).await.unwrap();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {status_line:?}"));
        let mut length = None;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = Some(value.trim().parse::<usize>().unwrap());
            }
        }
        let mut body = vec![0; length.expect("a Content-Length on every response")];
        reader.read_exact(&mut body).await.unwrap();
        Response {
            status,
            body: String::from_utf8(body).unwrap(),
        }
    })
    .await
    .expect("a response before the deadline")
}

async fn connect(addr: SocketAddr) -> (BufReader<OwnedReadHalf>, tokio::net::tcp::OwnedWriteHalf) {
    let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
    (BufReader::new(read), write)
}

/// Whether the connection was closed by the server (EOF, no more bytes).
async fn closed(reader: &mut BufReader<OwnedReadHalf>) -> bool {
    let mut rest = Vec::new();
    tokio::time::timeout(DEADLINE, reader.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection")
        .unwrap();
    rest.is_empty()
}

fn assert_conference_list(r: &Response) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.starts_with("<?xml") && r.body.contains("<Conferences"),
        "{}",
        r.body
    );
}

fn assert_bad_date_created(r: &Response) {
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("<RestException>"), "{}", r.body);
    assert!(r.body.contains("DateCreated"), "{}", r.body);
}

#[tokio::test]
async fn raw_angle_brackets_in_date_filters_reach_the_api() {
    let s = Running::start().await;

    let (mut reader, mut writer) = connect(s.addr).await;
    let target = format!("{}?Status=1&DateCreated>=2009-07-06", s.conferences());
    writer
        .write_all(
            s.request("GET", &target, "Connection: close\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    assert_conference_list(&read_response(&mut reader).await);
    assert!(closed(&mut reader).await);

    let (mut reader, mut writer) = connect(s.addr).await;
    let target = format!("{}?DateCreated<=july", s.conferences());
    writer
        .write_all(
            s.request("GET", &target, "Connection: close\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let r = read_response(&mut reader).await;
    assert_bad_date_created(&r);
    assert!(r.body.contains("DateCreated&lt;"), "{}", r.body);
    assert!(closed(&mut reader).await);

    s.stop().await;
}

#[tokio::test]
async fn every_request_on_a_keep_alive_connection_is_rewritten() {
    let s = Running::start().await;
    let (mut reader, mut writer) = connect(s.addr).await;
    let list = s.conferences();

    // One at a time: the second request starts after a response.
    let first = s.request(
        "GET",
        &format!("{list}?Status=1&DateCreated>=2009-07-06"),
        "",
    );
    writer.write_all(first.as_bytes()).await.unwrap();
    assert_conference_list(&read_response(&mut reader).await);
    let second = s.request("GET", &format!("{list}?DateCreated<=july"), "");
    writer.write_all(second.as_bytes()).await.unwrap();
    assert_bad_date_created(&read_response(&mut reader).await);

    // Pipelined in one write, with a body that must not be rewritten (or
    // taken for a request line) between them.
    let body = "x=<>&y=GET /a>b HTTP/1.1\r\n";
    let post = s.request(
        "POST",
        &list,
        &format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ),
    ) + body;
    let last = s.request(
        "GET",
        &format!("{list}?DateCreated>=2009-07-06&DateCreated<=2009-07-07"),
        "Connection: close\r\n",
    );
    writer
        .write_all(format!("{first}{post}{last}").as_bytes())
        .await
        .unwrap();
    assert_conference_list(&read_response(&mut reader).await);
    let r = read_response(&mut reader).await;
    assert_eq!(r.status, 405, "{}", r.body);
    assert_conference_list(&read_response(&mut reader).await);
    assert!(closed(&mut reader).await);

    s.stop().await;
}
