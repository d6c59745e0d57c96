//! What the end-to-end tests share: the real `confab` binary started on
//! free ports ([`Serve`]), its CLI, plain HTTP against its API, free ports
//! for peers, and the rule for tests that need a real peer installed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod browser;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_confab");

/// How long `serve` may take to print its addresses, and to stop.
const START_STOP: Duration = Duration::from_secs(20);

/// Runs one CLI command; returns (success, stdout, stderr).
pub fn confab(db: &str, args: &[&str]) -> (bool, String, String) {
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

/// The value of a `KEY=value` line.
pub fn value<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {stdout:?}"))
}

/// A SQLite database in `dir`.
pub fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("confab.db").display())
}

/// A running `confab serve`; killed if the test fails.
pub struct Serve {
    child: Child,
    /// The HTTP API's address.
    pub addr: String,
    /// Where SIP listens on UDP and on TCP.
    pub sip_udp: SocketAddr,
    pub sip_tcp: SocketAddr,
    /// Lines printed before the "confab listening" line.
    pub preamble: Vec<String>,
    /// The server's log (stderr), when started with one.
    log: Option<PathBuf>,
}

impl Serve {
    /// `serve` on free ports with RTP on 30000-30100, its log discarded.
    pub fn start(db: &str) -> Self {
        Self::start_with(db, "30000-30100", None)
    }

    /// `serve` on free ports, RTP on `rtp_ports` (`LO-HI`), stderr to `log`
    /// if given (shown by [`Serve::log_tail`] when a test fails).
    pub fn start_with(db: &str, rtp_ports: &str, log: Option<&Path>) -> Self {
        // What calls and rooms did, for the log tail of a failing test.
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info,server=debug".into());
        Self::spawn(db, rtp_ports, log, Some(&filter), &[])
    }

    /// `serve` as an operator runs it: no `RUST_LOG` (the binary's own
    /// default level), stderr to `log`, and `extra` flags.
    pub fn start_as_deployed(db: &str, rtp_ports: &str, log: &Path, extra: &[&str]) -> Self {
        Self::spawn(db, rtp_ports, Some(log), None, extra)
    }

    fn spawn(
        db: &str,
        rtp_ports: &str,
        log: Option<&Path>,
        filter: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        };
        let mut command = Command::new(BIN);
        command.args([
            "serve",
            "--http-addr",
            "127.0.0.1:0",
            "--rtp-ports",
            rtp_ports,
        ]);
        // SIP on loopback, unless the test binds it elsewhere.
        if !extra.iter().any(|a| a.starts_with("--sip-addr")) {
            command.args(["--sip-addr", "127.0.0.1:0"]);
        }
        command
            .args(extra)
            .env("CONFAB_DATABASE_URL", db)
            .stdout(Stdio::piped())
            .stderr(stderr);
        match filter {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        let mut child = command.spawn().unwrap();
        // Read the addresses on a thread, so a server that hangs before
        // printing them fails the test instead of blocking it.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut preamble = Vec::new();
            let found = loop {
                match lines.next() {
                    Some(Ok(line)) => match line.strip_prefix("confab listening on http://") {
                        Some(addr) => break Some(addr.to_owned()),
                        None => preamble.push(line),
                    },
                    _ => break None,
                }
            };
            let _ = tx.send((found, preamble));
            // Keep draining, so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let (addr, preamble) = match rx.recv_timeout(START_STOP) {
            Ok((Some(addr), preamble)) => (addr, preamble),
            other => {
                let _ = child.kill();
                panic!("serve did not print its HTTP address: {other:?}");
            }
        };
        let sip = preamble
            .iter()
            .find_map(|l| l.strip_prefix("SIP listening on "))
            .unwrap_or_else(|| panic!("no SIP address in {preamble:?}"));
        let (udp, tcp) = sip.split_once(' ').unwrap();
        Self {
            child,
            addr,
            sip_udp: udp.strip_prefix("udp:").unwrap().parse().unwrap(),
            sip_tcp: tcp.strip_prefix("tcp:").unwrap().parse().unwrap(),
            preamble,
            log: log.map(Path::to_path_buf),
        }
    }

    /// The default account `serve` created and printed on a fresh database.
    pub fn default_account(&self) -> (String, String) {
        let printed = self.preamble.join("\n");
        (
            value(&printed, "AccountSid").to_owned(),
            value(&printed, "AuthToken").to_owned(),
        )
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process has not exited.
    pub fn is_alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Whether the server's whole log so far contains `needle`.
    pub fn log_contains(&self, needle: &str) -> bool {
        self.log
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .is_some_and(|text| text.contains(needle))
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let Some(path) = &self.log else {
            return "(no server log kept)".into();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!("--- server log (tail) ---\n{}", lines[from..].join("\n"))
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + START_STOP;
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
pub fn http(
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

/// The text of every `<name>` element of an API answer, in order.
pub fn elements(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(text, _)| text.to_owned()))
        .collect()
}

pub fn base64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `n` samples of a sine at `freq_hz`, 8 kHz, at testkit's tone level.
pub fn tone(freq_hz: u32, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let x =
                testkit::TONE_AMPLITUDE * (std::f64::consts::TAU * f64::from(freq_hz) * t).sin();
            x.round() as i16
        })
        .collect()
}

/// A voice URL server on a free port: every request (GET or POST, its
/// head and form body read whole) is answered with the TwiML
/// `twiml(path)` returns for its path. Serves until the test ends.
pub fn voice_app(twiml: impl Fn(&str) -> String + Send + 'static) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(START_STOP));
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((name, v)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let target = request_line.split(' ').nth(1).unwrap_or("/");
            let path = target.split('?').next().unwrap_or(target);
            let doc = twiml(path);
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{doc}",
                doc.len()
            );
        }
    });
    addr
}
