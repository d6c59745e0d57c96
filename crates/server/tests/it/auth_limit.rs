//! The limit on bad credentials over real HTTP: the server's listener hands
//! the API each peer's address, ten bad attempts from one address are 401s,
//! the next are 429s with a RestException and Retry-After, and the right
//! owner, a client sending no credentials, and another address are served
//! as before (the rules are in `api`'s `throttle` module).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use model::Account;
use server::{Clock, Config, Server, SystemClock};
use tokio::sync::oneshot;

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn exception(&self, field: &str) -> String {
        let doc = roxmltree::Document::parse(&self.body)
            .unwrap_or_else(|e| panic!("not XML ({e}): {}", self.body));
        doc.descendants()
            .find(|n| {
                n.has_tag_name(field) && n.parent().is_some_and(|p| p.has_tag_name("RestException"))
            })
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("no RestException/{field} in {}", self.body))
            .to_owned()
    }
}

/// A client whose connections come from `ip`.
fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .build()
        .unwrap()
}

async fn get(
    client: &reqwest::Client,
    http: SocketAddr,
    path: &str,
    auth: Option<(&str, &str)>,
) -> Reply {
    let mut request = client.get(format!("http://{http}{path}"));
    if let Some((user, pass)) = auth {
        request = request.basic_auth(user, Some(pass));
    }
    let response = request.send().await.unwrap();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

#[tokio::test]
async fn bad_credentials_from_one_address_are_slowed_and_the_owner_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("confab.db").display());
    let store = store::Store::connect(&url).await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let owner: Account = server::accounts::create(&store, "owner", clock.now())
        .await
        .unwrap();
    let other: Account = server::accounts::create(&store, "other", clock.now())
        .await
        .unwrap();
    let server = Server::start(store, Config::default(), clock)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));

    let sid = owner.sid.as_str();
    let token = owner.auth_token.expose();
    let list = format!("/2008-08-01/Accounts/{sid}/Conferences");
    let wrong = "0123456789abcdef0123456789abcdef";
    let here = client_from(Ipv4Addr::LOCALHOST);

    for i in 0..10 {
        let r = get(&here, http, &list, Some((sid, wrong))).await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.body);
        assert_eq!(r.exception("Code"), "20003");
    }
    // The 11th, and every kind of bad credentials after it: 429.
    for auth in [
        Some((sid, wrong)),
        Some((sid, "")),
        Some(("AC00000000000000000000000000000000", token)),
        Some(("not an account", wrong)),
    ] {
        let r = get(&here, http, &list, auth).await;
        assert_eq!(r.status, 429, "{auth:?}: {}", r.body);
        assert_eq!(r.exception("Status"), "429");
        assert_eq!(r.exception("Code"), "20429");
        assert_eq!(
            r.exception("MoreInfo"),
            "http://www.twilio.com/docs/errors/20429"
        );
        assert!(r.exception("Message").contains("Too many"), "{}", r.body);
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(r.headers.get("www-authenticate").is_none());
    }
    // A header that is not Basic at all is bad credentials too.
    let r = here
        .get(format!("http://{http}{list}"))
        .header("authorization", "Bearer nothing")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);

    // The owner, from the same address, is served.
    for _ in 0..3 {
        let r = get(&here, http, &list, Some((sid, token))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = get(&here, http, &list, Some((sid, wrong))).await;
        assert_eq!(r.status, 429);
    }
    // No credentials: still the challenge a browser needs first.
    let r = get(&here, http, &list, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.headers["www-authenticate"], r#"Basic realm="confab""#);
    // Right credentials on another account's URL: 401, not counted.
    let theirs = format!("/2008-08-01/Accounts/{}/Conferences", other.sid);
    let r = get(&here, http, &theirs, Some((sid, token))).await;
    assert_eq!((r.status, r.exception("Code")), (401, "20003".to_owned()));
    let r = get(
        &here,
        http,
        &theirs,
        Some((other.sid.as_str(), other.auth_token.expose())),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Another address has a count of its own.
    let there = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let r = get(&there, http, &list, Some((sid, wrong))).await;
    assert_eq!((r.status, r.exception("Code")), (401, "20003".to_owned()));

    let _ = stop.send(());
    served.await.unwrap().unwrap();
}
