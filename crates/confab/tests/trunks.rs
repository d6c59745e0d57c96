//! `confab trunks add|list|remove` against the real binary: what it
//! prints, what it refuses, and that a password never comes back out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{confab, db_url, value};

#[test]
fn trunks_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(dir.path());
    let (ok, out, err) = confab(&db, &["accounts", "create"]);
    assert!(ok, "{err}");
    let account = value(&out, "AccountSid").to_owned();

    let (ok, out, err) = confab(
        &db,
        &[
            "trunks",
            "add",
            "--account",
            &account,
            "--uri",
            "sip:trunk.example.com:5070",
            "--username",
            "confab",
            "--password",
            "s3cret",
        ],
    );
    assert!(ok, "{err}");
    let sid = value(&out, "TrunkSid").to_owned();
    assert!(sid.starts_with("TK") && sid.len() == 34, "{sid}");
    let (ok, _, err) = confab(
        &db,
        &[
            "trunks",
            "add",
            "--account",
            &account,
            "--uri",
            "sip:[2001:db8::1]",
        ],
    );
    assert!(ok, "{err}");

    let (ok, out, _) = confab(&db, &["trunks", "list", "--account", &account]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(
        lines[0],
        format!(
            "TrunkSid={sid} AccountSid={account} Uri=sip:trunk.example.com:5070 Username=confab"
        )
    );
    assert!(!out.contains("s3cret"), "{out}");

    for bad in [
        "http://trunk.example.com",
        "sip:",
        "sip:user@host",
        "sip:host:0",
        "sip:host:99999",
        "sip:host;transport=tcp",
        "sip:[not-v6]",
    ] {
        let (ok, _, err) = confab(&db, &["trunks", "add", "--account", &account, "--uri", bad]);
        assert!(!ok, "{bad} was taken");
        assert!(
            err.contains("--uri must be sip:HOST[:PORT]"),
            "{bad}: {err}"
        );
    }
    // A user name without a password (or the reverse) is refused by clap.
    let (ok, _, _) = confab(
        &db,
        &[
            "trunks",
            "add",
            "--account",
            &account,
            "--uri",
            "sip:h",
            "--username",
            "u",
        ],
    );
    assert!(!ok);
    let unknown = "AC00000000000000000000000000000000";
    let (ok, _, err) = confab(
        &db,
        &["trunks", "add", "--account", unknown, "--uri", "sip:h"],
    );
    assert!(!ok && err.contains("there is no account"), "{err}");

    let (ok, out, err) = confab(&db, &["trunks", "remove", &sid]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("Removed TrunkSid={sid}"));
    let (ok, _, err) = confab(&db, &["trunks", "remove", &sid]);
    assert!(!ok && err.contains("no trunk"), "{err}");
    let (_, out, _) = confab(&db, &["trunks", "list"]);
    assert_eq!(out.lines().count(), 1, "{out}");
}
