//! End to end: the real binary (release under `scripts/test`) on free ports,
//! its CLI creating accounts and numbers, and real HTTP against its API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_confab");

fn confab(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("CONFAB_DATABASE_URL", db)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn value<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {stdout:?}"))
}

/// A running `confab serve`; killed if the test fails.
struct Serve {
    child: Child,
    addr: String,
    /// Lines printed before the "listening" line.
    preamble: Vec<String>,
}

impl Serve {
    fn start(db: &str) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--http-addr",
                "127.0.0.1:0",
                "--sip-addr",
                "127.0.0.1:0",
                "--rtp-ports",
                "30000-30100",
            ])
            .env("CONFAB_DATABASE_URL", db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut preamble = Vec::new();
        let addr = loop {
            let line = lines
                .next()
                .expect("serve exited before listening")
                .unwrap();
            if let Some(addr) = line.strip_prefix("confab listening on http://") {
                break addr.to_owned();
            }
            preamble.push(line);
        };
        Self {
            child,
            addr,
            preamble,
        }
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a fresh connection; returns (status, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some((user, pass)) = auth {
        request += &format!(
            "Authorization: Basic {}\r\n",
            base64(&format!("{user}:{pass}"))
        );
    }
    request += "\r\n";
    request += body;
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn base64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("confab.db").display())
}

#[test]
fn cli_and_api_against_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());

    let (ok, out, err) = confab(&db, &["accounts", "create", "--friendly-name", "Team A"]);
    assert!(ok, "{err}");
    let sid = value(&out, "AccountSid").to_owned();
    let token = value(&out, "AuthToken").to_owned();
    assert!(sid.starts_with("AC") && sid.len() == 34, "{sid}");
    assert_eq!(token.len(), 32);

    let (ok, out, err) = confab(
        &db,
        &[
            "numbers",
            "add",
            "--account",
            &sid,
            "--number",
            "1000",
            "--url",
            "http://127.0.0.1:9/voice",
        ],
    );
    assert!(ok, "{err}");
    let pn = value(&out, "PhoneNumberSid").to_owned();
    assert!(pn.starts_with("PN") && pn.len() == 34, "{pn}");

    // A database that has an account: serve prints no credentials.
    let serve = Serve::start(&db);
    assert!(
        serve.preamble.iter().all(|l| !l.starts_with("AuthToken=")),
        "{:?}",
        serve.preamble
    );
    let addr = serve.addr.clone();

    // The CLI works while serve holds the same SQLite file.
    let (ok, out, err) = confab(
        &db,
        &[
            "numbers",
            "add",
            "--account",
            &sid,
            "--number",
            "2000",
            "--url",
            "https://example.com/x",
            "--method",
            "GET",
        ],
    );
    assert!(ok, "{err}");
    let pn2 = value(&out, "PhoneNumberSid").to_owned();
    let (ok, out, _) = confab(&db, &["numbers", "list"]);
    assert!(ok);
    assert!(
        out.contains(&pn) && out.contains(&pn2) && out.contains("Method=GET"),
        "{out}"
    );
    let (ok, out, _) = confab(&db, &["accounts", "list"]);
    assert!(
        ok && out.contains(&sid) && out.contains("FriendlyName=Team A"),
        "{out}"
    );
    let (ok, _, _) = confab(&db, &["numbers", "remove", "2000"]);
    assert!(ok);
    let (ok, out, _) = confab(&db, &["numbers", "list"]);
    assert!(ok && !out.contains(&pn2), "{out}");

    // The API answers with the right auth and shapes.
    let list = format!("/2008-08-01/Accounts/{sid}/Conferences");
    let (status, body) = http(&addr, "GET", &list, Some((&sid, &token)), "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Conferences page=\"0\" numpages=\"0\" pagesize=\"50\" total=\"0\" start=\"0\" end=\"0\""), "{body}");
    let (status, body) = http(&addr, "GET", &list, Some((&sid, "wrong")), "");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("<Code>20003</Code>"), "{body}");
    // The raw `DateCreated>=` key form, as 2009 clients put it on the wire.
    let (status, body) = http(
        &addr,
        "GET",
        &format!("{list}?Status=1&DateCreated>=2009-07-06"),
        Some((&sid, &token)),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        &addr,
        "GET",
        &format!("{list}?DateCreated<=july"),
        Some((&sid, &token)),
        "",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("DateCreated"), "{body}");
    let (status, _) = http(&addr, "GET", &format!("/{list}?"), Some((&sid, &token)), "");
    assert_eq!(status, 200);
    let (status, _) = http(&addr, "DELETE", &list, Some((&sid, &token)), "");
    assert_eq!(status, 405);
    let (status, _) = http(
        &addr,
        "GET",
        &format!("{list}/CF00000000000000000000000000000000"),
        Some((&sid, &token)),
        "",
    );
    assert_eq!(status, 404);
    let (status, body) = http(&addr, "GET", "/healthz", None, "");
    assert_eq!((status, body.trim()), (200, "ok"));

    assert!(serve.stop(), "serve did not exit cleanly on SIGTERM");
}

#[test]
fn first_serve_creates_and_prints_a_default_account_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let serve = Serve::start(&db);
    let printed = serve.preamble.join("\n");
    let sid = value(&printed, "AccountSid").to_owned();
    let token = value(&printed, "AuthToken").to_owned();
    let (status, body) = http(
        &serve.addr,
        "GET",
        &format!("/2008-08-01/Accounts/{sid}/Conferences"),
        Some((&sid, &token)),
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(serve.stop());

    let again = Serve::start(&db);
    assert!(
        again.preamble.iter().all(|l| !l.contains("AuthToken")),
        "{:?}",
        again.preamble
    );
    let (ok, out, _) = confab(&db, &["accounts", "list"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("FriendlyName=default"), "{out}");
    assert!(again.stop());
}

#[test]
fn bad_cli_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let (ok, out, _) = confab(&db, &["accounts", "create"]);
    assert!(ok);
    let sid = value(&out, "AccountSid").to_owned();
    let add = |account: &str, number: &str, url: &str, method: &str| -> Vec<String> {
        let args = [
            "numbers",
            "add",
            "--account",
            account,
            "--number",
            number,
            "--url",
            url,
            "--method",
            method,
        ];
        args.iter().map(|s| (*s).to_owned()).collect()
    };
    let unknown = "AC00000000000000000000000000000000";
    let cases: Vec<Vec<String>> = vec![
        add("ACnope", "1", "http://x/", "POST"),
        add(unknown, "1", "http://x/", "POST"),
        add(&sid, "1", "not a url", "POST"),
        add(&sid, "1", "ftp://x/", "POST"),
        add(&sid, "a b", "http://x/", "POST"),
        add(&sid, "1", "http://x/", "PUT"),
        vec!["numbers".into(), "remove".into(), "nothing".into()],
        vec!["serve".into(), "--rtp-ports".into(), "20000-10000".into()],
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, _, err) = confab(&db, &args);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
    let (ok, _, _) = confab(
        &db,
        &[
            "numbers",
            "add",
            "--account",
            &sid,
            "--number",
            "1",
            "--url",
            "http://x/",
        ],
    );
    assert!(ok);
    let (ok, _, err) = confab(
        &db,
        &[
            "numbers",
            "add",
            "--account",
            &sid,
            "--number",
            "1",
            "--url",
            "http://x/",
        ],
    );
    assert!(!ok && err.contains("already"), "{err}");
}
