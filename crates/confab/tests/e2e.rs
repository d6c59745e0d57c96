//! End to end: the real binary (release under `scripts/test`) on free ports,
//! its CLI creating accounts and numbers, and real HTTP against its API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Serve, confab, db_url, http, value};

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
