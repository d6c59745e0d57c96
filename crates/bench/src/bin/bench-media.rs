//! `bench-media`: the helpers of `scripts/bench-media`, the media benchmark.
//!
//! - `load`: N callers (testkit phones, real SIP over UDP, real RTP) in rooms
//!   of 10, each sending a tone; once every call is up and has settled, it
//!   samples the server process (CPU time and RSS from `/proc`) and its
//!   `/metrics` (mix tick histogram, late ticks, RTP counters) at the start
//!   and end of a measured window, prints the figures as `key=value` lines,
//!   and hangs every call up.
//! - `echo-server` / `echo-flood`: a bare UDP echo and a closed-loop flood
//!   against it, the ceiling confab's packet rate is compared against.
//! - `voice-app`: a voice URL for the call set-up run, spreading calls over
//!   a number of rooms with `<Dial><Conference>`; `/voice/NAME` puts every
//!   call in room NAME instead (one number a room, for `scripts/load`).
//!
//! Nothing here asserts a speed: the script reports what it measured.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::http::header;
use bench::Scrape;
use clap::{Parser, Subcommand};
use testkit::{Codec, Phone};

#[derive(Debug, Parser)]
#[command(name = "bench-media")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Place N calls in rooms of `--room-size`, measure the server, hang up.
    Load(LoadArgs),
    /// Echo every UDP datagram back to its sender; prints `listening on udp:ADDR`.
    EchoServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
    },
    /// Keep `--inflight` 172-byte datagrams (an RTP packet's size) in flight
    /// against an echo server; prints `echo_pps=` (datagrams echoed a second).
    EchoFlood {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 64)]
        inflight: usize,
        #[arg(long, default_value = "5", value_parser = seconds)]
        seconds: Duration,
    },
    /// The upper bound of the histogram bucket holding quantile `--q` of
    /// what `--name` observed between two scrapes of `/metrics` (files);
    /// prints it in milliseconds, or `inf`.
    Quantile {
        #[arg(long)]
        before: std::path::PathBuf,
        #[arg(long)]
        after: std::path::PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        q: f64,
    },
    /// A voice URL answering every call with `<Dial><Conference>bench-K`,
    /// K cycling over `--rooms` (`/voice`), or with room NAME
    /// (`/voice/NAME`); prints `listening on http://ADDR`.
    VoiceApp {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
    },
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    #[command(flatten)]
    target: bench::UnderTest,
    /// Callers to place.
    #[arg(long)]
    callers: usize,
    /// Callers a room.
    #[arg(long, default_value_t = 10)]
    room_size: usize,
    /// Room names are `PREFIX-K`.
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Calls set up at once.
    #[arg(long, default_value_t = 20)]
    concurrency: usize,
    /// Wait after the last call is up before measuring.
    #[arg(long, default_value = "3", value_parser = seconds)]
    settle: Duration,
    /// The measured window.
    #[arg(long, default_value = "10", value_parser = seconds)]
    measure: Duration,
    /// The server's RSS before any call (KiB), the base of RSS per
    /// participant; default: its RSS when this run starts.
    #[arg(long)]
    baseline_rss_kib: Option<u64>,
    /// Kernel clock ticks a second (`getconf CLK_TCK`), to read `/proc/PID/stat`.
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

fn seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a number of seconds"))
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Load(args) => bench::runtime()?.block_on(load(args)),
        Command::EchoServer { addr } => echo_server(addr),
        Command::EchoFlood {
            target,
            inflight,
            seconds,
        } => echo_flood(target, inflight, seconds),
        Command::Quantile {
            before,
            after,
            name,
            q,
        } => {
            let read = |p: &std::path::Path| -> anyhow::Result<Scrape> {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                Ok(Scrape::parse(&text))
            };
            match read(&after)?.histogram_quantile(&read(&before)?, &name, q) {
                Some(le) => println!("{:.3}", le * 1000.0),
                None => println!("inf"),
            }
            Ok(())
        }
        Command::VoiceApp { addr, rooms } => bench::runtime()?.block_on(voice_app(addr, rooms)),
    }
}

// ---------------------------------------------------------------- load

/// What `/proc` and `/metrics` say of the server at one instant.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    cpu_ticks: u64,
    rss_kib: u64,
    metrics: Scrape,
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    if args.callers == 0 || args.room_size == 0 {
        bail!("--callers and --room-size must be positive");
    }
    let http = reqwest::Client::new();
    let metrics_url = format!("http://{}/metrics", args.target.http);
    let baseline_rss_kib = match args.baseline_rss_kib {
        Some(kib) => kib,
        None => rss_kib(args.target.pid)?,
    };

    let setup_started = Instant::now();
    let calls = place_calls(&args).await?;
    let setup = setup_started.elapsed();
    println!(
        "calls_up={} setup_s={:.2}",
        calls.len(),
        setup.as_secs_f64()
    );

    tokio::time::sleep(args.settle).await;
    // The load generator's own CPU, to show whether it, not the server, is
    // the limit.
    let own_before = cpu_ticks(std::process::id())?;
    let before = sample(&http, &metrics_url, args.target.pid).await?;
    let received_before: u64 = calls.iter().map(|c| c.rtp_stats().received).sum();
    tokio::time::sleep(args.measure).await;
    let after = sample(&http, &metrics_url, args.target.pid).await?;
    let own_after = cpu_ticks(std::process::id())?;
    let received_after: u64 = calls.iter().map(|c| c.rtp_stats().received).sum();

    let window = after.at.duration_since(before.at).as_secs_f64();
    let n = calls.len() as f64;
    let cpu_s = (after.cpu_ticks - before.cpu_ticks) as f64 / args.clk_tck as f64;
    let cpu_share = cpu_s / window;
    let delta = |name| after.metrics.delta(&before.metrics, name);
    let ticks = delta("confab_mix_tick_seconds_count");
    let late = delta("confab_mix_ticks_late_total");
    let rtp_in = delta("confab_rtp_packets_received_total");
    let rtp_out = delta("confab_rtp_packets_sent_total");
    let p99 = after
        .metrics
        .histogram_quantile(&before.metrics, "confab_mix_tick_seconds", 0.99);
    let expected = n * 50.0 * window;
    let delivered = (received_after - received_before) as f64;

    println!("participants={}", calls.len());
    println!("window_s={window:.2}");
    println!("cpu_core_share={cpu_share:.4}");
    println!(
        "load_cpu_core_share={:.4}",
        (own_after - own_before) as f64 / args.clk_tck as f64 / window
    );
    println!("cpu_per_participant_pct={:.4}", 100.0 * cpu_share / n);
    println!("rss_mib={:.1}", after.rss_kib as f64 / 1024.0);
    println!("rss_baseline_mib={:.1}", baseline_rss_kib as f64 / 1024.0);
    println!(
        "rss_per_participant_kib={:.1}",
        after.rss_kib.saturating_sub(baseline_rss_kib) as f64 / n
    );
    println!("mix_ticks={ticks:.0}");
    println!("late_ticks={late:.0}");
    println!(
        "late_tick_share_pct={:.4}",
        if ticks > 0.0 {
            100.0 * late / ticks
        } else {
            0.0
        }
    );
    match p99 {
        Some(le) => println!("tick_p99_ms_le={:.3}", le * 1000.0),
        None => println!("tick_p99_ms_le=inf"),
    }
    println!("server_rtp_in_pps={:.0}", rtp_in / window);
    println!("server_rtp_out_pps={:.0}", rtp_out / window);
    println!(
        "callers_received_share_pct={:.2}",
        100.0 * delivered / expected
    );

    let mut ended = 0;
    for mut call in calls {
        if call.hang_up().await.is_ok() {
            ended += 1;
        }
    }
    println!("hung_up={ended}");
    Ok(())
}

/// Places every call, `--concurrency` at a time, each sending its room's
/// tone for its seat; any failure aborts the run (a benchmark of a server
/// that drops calls means nothing).
async fn place_calls(args: &LoadArgs) -> anyhow::Result<Vec<testkit::PhoneCall>> {
    let phone = Arc::new(Phone::bind(args.target.sip).await?);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let phone = phone.clone();
        let next = next.clone();
        let (callers, room_size, prefix) = (args.callers, args.room_size, args.prefix.clone());
        workers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= callers {
                    return anyhow::Ok(mine);
                }
                let room = format!("{prefix}-{}", i / room_size);
                let call = phone
                    .call(&room, Codec::Pcmu)
                    .await
                    .with_context(|| format!("call {i} to {room}"))?;
                // Seat k of a room sends 300 + 100 (k mod 10) Hz.
                call.send_tone(300 + 100 * (i % room_size % 10) as u32);
                mine.push(call);
            }
        });
    }
    let mut calls = Vec::with_capacity(args.callers);
    while let Some(done) = workers.join_next().await {
        calls.extend(done??);
    }
    Ok(calls)
}

async fn sample(http: &reqwest::Client, url: &str, pid: u32) -> anyhow::Result<Sample> {
    let metrics = Scrape::fetch(http, url).await?;
    Ok(Sample {
        at: Instant::now(),
        cpu_ticks: cpu_ticks(pid)?,
        rss_kib: rss_kib(pid)?,
        metrics,
    })
}

/// utime + stime of a process, in clock ticks (`proc(5)`, fields 14 and 15).
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is parenthesised and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field N is fields[N - 3].
    let field = |n: usize| -> anyhow::Result<u64> {
        Ok(fields.get(n - 3).context("short /proc/PID/stat")?.parse()?)
    };
    Ok(field(14)? + field(15)?)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .context("no VmRSS in /proc/PID/status")?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

// ---------------------------------------------------------------- echo

fn echo_server(addr: SocketAddr) -> anyhow::Result<()> {
    let socket = UdpSocket::bind(addr).with_context(|| format!("cannot bind {addr}"))?;
    println!("listening on udp:{}", socket.local_addr()?);
    let mut buf = [0u8; 2048];
    loop {
        let (len, from) = socket.recv_from(&mut buf)?;
        // A peer that went away makes the next send fail; keep echoing.
        let _ = socket.send_to(&buf[..len], from);
    }
}

fn echo_flood(target: SocketAddr, inflight: usize, duration: Duration) -> anyhow::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(target)?;
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let packet = [0x80u8; 172];
    for _ in 0..inflight {
        socket.send(&packet)?;
    }
    let mut echoed = 0u64;
    let started = Instant::now();
    let mut buf = [0u8; 2048];
    while started.elapsed() < duration {
        match socket.recv(&mut buf) {
            Ok(_) => {
                echoed += 1;
                socket.send(&packet)?;
            }
            // A datagram lost on the way: put another one in flight.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                socket.send(&packet)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                socket.send(&packet)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let pps = echoed as f64 / started.elapsed().as_secs_f64();
    println!("echo_pps={pps:.0}");
    Ok(())
}

// ---------------------------------------------------------------- voice app

async fn voice_app(addr: SocketAddr, rooms: usize) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    let next = Arc::new(AtomicUsize::new(0));
    let rooms = rooms.max(1);
    let answer = move || {
        let k = next.fetch_add(1, Ordering::Relaxed) % rooms;
        async move {
            (
                [(header::CONTENT_TYPE, "application/xml")],
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                     <Response><Dial><Conference>bench-{k}</Conference></Dial></Response>"
                ),
            )
        }
    };
    let named = |axum::extract::Path(room): axum::extract::Path<String>| async move {
        // Room names here are the script's own (`room-N`): no markup to escape.
        (
            [(header::CONTENT_TYPE, "application/xml")],
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                 <Response><Dial><Conference>{room}</Conference></Dial></Response>"
            ),
        )
    };
    let app = axum::Router::new()
        .route("/voice", axum::routing::any(answer))
        .route("/voice/{room}", axum::routing::any(named));
    axum::serve(listener, app).await?;
    Ok(())
}
