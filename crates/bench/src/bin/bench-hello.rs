//! `bench-hello`: the baseline of the API benchmark. `GET /hello` answers
//! 200 with a static XML body the size of a Conference instance, with no
//! auth, routing logic or database: what axum and tokio cost on their own
//! on this machine. Prints `listening on http://ADDR` once it accepts.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::http::header;
use axum::routing::get;
use clap::Parser;

// The allocator confab's binary uses, so the two differ only in the handler.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A bare axum "hello" handler for comparing confab against.
#[derive(Debug, Parser)]
#[command(name = "bench-hello")]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
}

/// Shaped and sized like confab's answer to a Conference instance GET.
const BODY: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?><TwilioResponse><Conference>"#,
    "<Sid>CF00000000000000000000000000000000</Sid>",
    "<AccountSid>AC00000000000000000000000000000000</AccountSid>",
    "<FriendlyName>standup-7</FriendlyName><Status>2</Status>",
    "<DateCreated>Thu, 03 Sep 2009 23:37:53 +0000</DateCreated>",
    "<DateUpdated>Thu, 03 Sep 2009 23:52:11 +0000</DateUpdated>",
    "</Conference></TwilioResponse>"
);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    bench::runtime()?.block_on(serve(args.addr))
}

async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    let app = axum::Router::new().route("/hello", get(hello));
    axum::serve(listener, app).await?;
    Ok(())
}

async fn hello() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        BODY,
    )
}
