//! A real browser, headless, driven by a node script over one line
//! protocol (a JSON command a line in, a JSON answer a line out: see
//! `tests/dashboard_browser.js`): Chromium over the DevTools protocol
//! (`dashboard_browser.js`), Firefox over WebDriver BiDi
//! (`firefox_driver.js`). No driver crate or npm package to build.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long one command may take (a navigation, a wait of its own).
const ANSWER: Duration = Duration::from_secs(60);

/// Debian's `chromium` and `node`, or `None` (loudly) outside CI; `test`
/// names the test that needs them.
pub fn chromium(test: &str) -> Option<PathBuf> {
    found_with_node(&["chromium"], test)
}

/// Firefox (Debian's `firefox-esr`, else `firefox`) and `node`, as
/// [`chromium`].
pub fn firefox(test: &str) -> Option<PathBuf> {
    found_with_node(&["firefox-esr", "firefox"], test)
}

fn found_with_node(binaries: &[&str], test: &str) -> Option<PathBuf> {
    let runs = |name: &str| {
        std::process::Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let binary = binaries.iter().find(|b| runs(b));
    if let Some(binary) = binary.filter(|_| runs("node")) {
        return Some(PathBuf::from(binary));
    }
    let wanted = format!("{} and node", binaries.join(" or "));
    assert!(
        std::env::var_os("CI").is_none(),
        "{wanted} missing, and CI must run {test} (scripts/test installs them)"
    );
    eprintln!("!!! SKIPPED: {wanted} not installed; {test} did not run !!!");
    None
}

/// The browser, through its node driver.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    replies: Lines<BufReader<ChildStdout>>,
    /// Where screenshots go (under the target dir).
    screenshots: PathBuf,
}

impl Browser {
    /// Chromium, with `flags` added to the driver's own; screenshots go
    /// to the target dir's `tmp/{screenshots}/`.
    pub async fn chromium(binary: &Path, dir: &Path, flags: &[String], screenshots: &str) -> Self {
        let mut node = driver("dashboard_browser.js");
        node.env("CHROMIUM", binary)
            .env("CHROMIUM_LOG", dir.join("chromium.log"))
            .env("CHROMIUM_ARGS", json!(flags).to_string())
            .env("PROFILE", dir.join("profile"));
        Self::driven_by(node, screenshots).await
    }

    /// Firefox, with its own fake microphone (a 1 kHz tone).
    pub async fn firefox(binary: &Path, dir: &Path, screenshots: &str) -> Self {
        let mut node = driver("firefox_driver.js");
        node.env("FIREFOX", binary)
            .env("FIREFOX_LOG", dir.join("firefox.log"))
            .env("PROFILE", dir.join("firefox-profile"));
        Self::driven_by(node, screenshots).await
    }

    async fn driven_by(mut node: Command, screenshots: &str) -> Self {
        let mut child = node
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Not killed on drop: a failing test drops stdin, and the driver
            // then closes the browser itself (a killed driver would orphan it).
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let replies = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut browser = Self {
            child,
            stdin,
            replies,
            screenshots: Path::new(env!("CARGO_TARGET_TMPDIR")).join(screenshots),
        };
        assert_eq!(browser.reply("start").await, "ready");
        browser
    }

    async fn reply(&mut self, what: &str) -> Value {
        let line = tokio::time::timeout(ANSWER, self.replies.next_line())
            .await
            .unwrap_or_else(|_| panic!("{what}: the driver did not answer in {ANSWER:?}"))
            .unwrap()
            .unwrap_or_else(|| panic!("{what}: the driver ended"));
        let reply: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reply["ok"], true, "{what}: {}", reply["error"]);
        reply["value"].clone()
    }

    /// Runs one driver command; its value.
    pub async fn run(&mut self, command: Value) -> Value {
        let what = command.to_string();
        self.stdin
            .write_all(format!("{what}\n").as_bytes())
            .await
            .unwrap();
        self.reply(&what).await
    }

    pub async fn open(&mut self, url: &str) {
        self.run(json!({ "cmd": "open", "url": url })).await;
    }

    /// A page expression's value (a promise's, once settled).
    pub async fn eval(&mut self, expr: &str) -> Value {
        self.run(json!({ "cmd": "eval", "expr": expr })).await
    }

    /// Until the page's `expr` is truthy (the driver fails after `ms`).
    /// A pending promise counts as truthy: poll [`Browser::eval`] for one.
    pub async fn wait_for(&mut self, expr: &str, ms: u64) {
        self.run(json!({ "cmd": "waitFor", "expr": expr, "ms": ms }))
            .await;
    }

    /// A real click in the middle of `selector`'s element.
    pub async fn click(&mut self, selector: &str) {
        self.run(json!({ "cmd": "click", "selector": selector }))
            .await;
    }

    /// A PNG of the page, kept as `{name}.png`; its path is printed.
    pub async fn screenshot(&mut self, name: &str) {
        std::fs::create_dir_all(&self.screenshots).unwrap();
        let path = self.screenshots.join(format!("{name}.png"));
        self.run(json!({ "cmd": "screenshot", "path": path })).await;
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size > 1000, "an empty screenshot at {}", path.display());
        println!("screenshot: {}", path.display());
    }

    pub async fn quit(mut self) {
        let _ = self.stdin.write_all(b"{\"cmd\":\"quit\"}\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// `node tests/{script}`.
fn driver(script: &str) -> Command {
    let mut node = Command::new("node");
    node.arg(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(script),
    );
    node
}
