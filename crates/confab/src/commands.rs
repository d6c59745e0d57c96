//! What each command does. Every command connects to the database (creating
//! it and running migrations if needed), so any of them works on a fresh
//! machine and while `serve` runs on the same SQLite file.

use std::sync::Arc;

use anyhow::{Context, bail};
use model::{AccountSid, HttpMethod, PhoneNumber, PhoneNumberSid};
use server::{
    CallConfig, Clock, Config, Networks, Server, SipAllow, SipConfig, SourceLimits, SystemClock,
};
use store::{Store, StoreError};

use crate::cli::{
    AccountsCommand, Cli, Command, DbCommand, JoinLinkArgs, NumbersCommand, ServeArgs,
    TrunksCommand,
};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let store = Store::connect(&cli.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&cli.database_url)))?;
    match cli.command {
        Command::Serve(args) => serve(store, args).await,
        Command::Accounts(command) => accounts(store, command).await,
        Command::Numbers(command) => numbers(store, command).await,
        Command::Trunks(command) => trunks(store, command).await,
        Command::Db(command) => db(store, command).await,
        Command::JoinLink(args) => join_link(store, args).await,
    }
}

/// `confab join-link`: prints one URL that joins a browser to the room.
async fn join_link(store: Store, args: JoinLinkArgs) -> anyhow::Result<()> {
    let sid = AccountSid::parse(&args.account)
        .map_err(|e| anyhow::anyhow!("--account {}: {e}", args.account))?;
    let account = store
        .account(&sid)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account {sid} in this database"))?;
    let room = args.room.trim();
    anyhow::ensure!(!room.is_empty(), "--room must name a room");
    let base = match &args.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None if args.http_addr.ip().is_unspecified() => anyhow::bail!(
            "the HTTP address {} is a wildcard: give --public-url (how browsers reach confab)",
            args.http_addr
        ),
        None => format!("http://{}", args.http_addr),
    };
    let expires =
        SystemClock.now().as_micros() + i64::try_from(args.expires.as_micros()).unwrap_or(i64::MAX);
    let claims = api::JoinClaims {
        account: sid,
        room: room.to_owned(),
        expires: model::Timestamp::from_micros(expires),
        muted: args.muted,
    };
    println!(
        "{}",
        api::join_link(&base, &claims, account.auth_token.expose())
    );
    Ok(())
}

async fn serve(store: Store, args: ServeArgs) -> anyhow::Result<()> {
    raise_open_files_limit();
    let node = args.node_id.as_ref().map(|id| server::NodeConfig {
        id: id.clone(),
        lease: std::time::Duration::from_secs(u64::from(args.node_lease)),
    });
    let store = match &node {
        Some(_) if store.backend() != store::Backend::Postgres => {
            anyhow::bail!("--node-id needs a PostgreSQL --database-url (several nodes share it)")
        }
        Some(node) => store.with_node(&node.id),
        None => store,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if let Some(account) = server::accounts::ensure_default(&store, clock.now()).await? {
        println!("AccountSid={}", account.sid);
        println!("AuthToken={}", account.auth_token.expose());
    }
    let listener = tokio::net::TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.http_addr))?;
    let addr = listener.local_addr()?;
    let config = Config {
        room_capacity: usize::try_from(args.room_capacity).unwrap_or(40),
        mix_threads: args
            .mix_threads
            .map_or_else(server::usable_cores, usize::from),
        node,
    };
    let mut server = Server::start(store, config, clock).await?;
    let calls_allowed: Vec<String> = args.sip_allow.iter().map(ToString::to_string).collect();
    let trusted: Vec<String> = args.sip_trusted.iter().map(ToString::to_string).collect();
    let loopback = server::open_rooms_by_default(args.sip_addr.ip());
    let open_rooms = args.open_rooms.unwrap_or(loopback);
    let calls = CallConfig {
        sip: SipConfig {
            public_addr: args.public_addr,
            allow: SipAllow::new(args.sip_allow),
            source_limits: SourceLimits::per_second(args.sip_rate_limit),
            trusted: Networks::new(args.sip_trusted),
            ..SipConfig::new(args.sip_addr)
        },
        rtp_ports: (args.rtp_ports.low, args.rtp_ports.high),
        open_rooms,
        rtp_timeout: (args.rtp_timeout > 0)
            .then(|| std::time::Duration::from_secs(args.rtp_timeout)),
        ..CallConfig::new(args.sip_addr, (args.rtp_ports.low, args.rtp_ports.high))
    };
    let advertising = calls.sip.advertising();
    let stop = shutdown_signal()?;
    let sip = server
        .listen_sip(calls)
        .await
        .with_context(|| format!("cannot listen for SIP on {}", args.sip_addr))?;
    println!("SIP listening on udp:{} tcp:{}", sip.udp, sip.tcp);
    tracing::info!("SIP {advertising}");
    match (args.open_rooms, loopback) {
        (Some(true), _) => tracing::info!("open rooms on (--open-rooms)"),
        (Some(false), _) => {
            tracing::info!("open rooms off (--open-rooms=false): unknown numbers get 404")
        }
        (None, true) => tracing::info!("open rooms on: SIP is bound to loopback"),
        (None, false) => tracing::info!(
            "open rooms off: SIP is not bound to loopback, so unknown numbers get 404; --open-rooms turns them on"
        ),
    }
    if !calls_allowed.is_empty() {
        tracing::info!(networks = ?calls_allowed, "SIP calls accepted only from --sip-allow");
    }
    tracing::info!(
        per_second = args.sip_rate_limit,
        trusted = ?trusted,
        "new SIP requests rate-limited per source (--sip-rate-limit), except --sip-trusted"
    );
    println!("confab listening on http://{addr}");
    tracing::info!(%addr, "serving the 2008-08-01 API");
    server.serve(listener, stop).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Raises the soft limit of open descriptors to the hard one: each call
/// holds an RTP socket and each SIP-over-TCP caller a connection, and many
/// systems start processes at a soft limit of 1,024 however high the hard
/// one is. Only `serve` needs it.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open descriptors limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open descriptors limit"),
    }
}

/// Listens for SIGINT (Ctrl-C) and SIGTERM from now on; the future
/// resolves on the first. Called before `serve` says it is listening, so a
/// stop sent right after start is a clean one, not the default action.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
    })
}

async fn accounts(store: Store, command: AccountsCommand) -> anyhow::Result<()> {
    match command {
        AccountsCommand::Create { friendly_name } => {
            let account =
                server::accounts::create(&store, &friendly_name, SystemClock.now()).await?;
            println!("AccountSid={}", account.sid);
            println!("AuthToken={}", account.auth_token.expose());
        }
        AccountsCommand::List => {
            for a in store.accounts().await? {
                println!(
                    "AccountSid={} AuthToken={} FriendlyName={}",
                    a.sid,
                    a.auth_token.expose(),
                    a.friendly_name
                );
            }
        }
    }
    Ok(())
}

async fn numbers(store: Store, command: NumbersCommand) -> anyhow::Result<()> {
    match command {
        NumbersCommand::Add {
            account,
            number,
            url,
            method,
        } => {
            let account =
                AccountSid::parse(&account).with_context(|| format!("--account {account:?}"))?;
            check_number(&number)?;
            check_url(&url)?;
            let Some(voice_method) = HttpMethod::parse(&method) else {
                bail!("--method must be GET or POST, not {method:?}");
            };
            let now = SystemClock.now();
            let record = PhoneNumber {
                sid: server::ids::phone_number_sid(),
                account_sid: account.clone(),
                phone_number: number.clone(),
                voice_url: url,
                voice_method,
                date_created: now,
                date_updated: now,
            };
            match store.insert_phone_number(&record).await {
                Ok(()) => println!("PhoneNumberSid={}", record.sid),
                Err(StoreError::Conflict(_)) => bail!("the number {number:?} is already routed"),
                Err(StoreError::NotFound(_)) => bail!("there is no account {account}"),
                Err(e) => return Err(e.into()),
            }
        }
        NumbersCommand::List { account } => {
            let account = account
                .map(|a| AccountSid::parse(&a).with_context(|| format!("--account {a:?}")))
                .transpose()?;
            for n in store.phone_numbers(account.as_ref()).await? {
                println!(
                    "PhoneNumberSid={} AccountSid={} Number={} Method={} Url={}",
                    n.sid,
                    n.account_sid,
                    n.phone_number,
                    n.voice_method.as_str(),
                    n.voice_url
                );
            }
        }
        NumbersCommand::Remove { number } => {
            let sid = match PhoneNumberSid::parse(&number) {
                Ok(sid) => Some(sid),
                Err(_) => store.phone_number_by_number(&number).await?.map(|n| n.sid),
            };
            let removed = match &sid {
                Some(sid) => store.remove_phone_number(sid).await?,
                None => false,
            };
            match sid {
                Some(sid) if removed => println!("Removed PhoneNumberSid={sid}"),
                _ => bail!("no number {number:?}"),
            }
        }
    }
    Ok(())
}

async fn trunks(store: Store, command: TrunksCommand) -> anyhow::Result<()> {
    match command {
        TrunksCommand::Add {
            account,
            uri,
            username,
            password,
        } => {
            let account =
                AccountSid::parse(&account).with_context(|| format!("--account {account:?}"))?;
            check_trunk_uri(&uri)?;
            let hex: String = server::ids::random_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let trunk = store::Trunk {
                sid: format!("{}{hex}", store::TRUNK_SID_PREFIX),
                account_sid: account.clone(),
                uri,
                username,
                password,
                date_created: SystemClock.now(),
            };
            match store.insert_trunk(&trunk).await {
                Ok(()) => println!("TrunkSid={}", trunk.sid),
                Err(StoreError::NotFound(_)) => bail!("there is no account {account}"),
                Err(e) => return Err(e.into()),
            }
        }
        TrunksCommand::List { account } => {
            let account = account
                .map(|a| AccountSid::parse(&a).with_context(|| format!("--account {a:?}")))
                .transpose()?;
            for t in store.trunks(account.as_ref()).await? {
                println!(
                    "TrunkSid={} AccountSid={} Uri={} Username={}",
                    t.sid,
                    t.account_sid,
                    t.uri,
                    t.username.as_deref().unwrap_or("")
                );
            }
        }
        TrunksCommand::Remove { trunk } => {
            if !store.remove_trunk(&trunk).await? {
                bail!("no trunk {trunk:?}");
            }
            println!("Removed TrunkSid={trunk}");
        }
    }
    Ok(())
}

/// `sip:HOST[:PORT]`: a host name, an IPv4 address or a bracketed IPv6
/// one, and a port from 1 to 65535; no user part, parameters or headers.
fn check_trunk_uri(uri: &str) -> anyhow::Result<()> {
    let bad = || anyhow::anyhow!("--uri must be sip:HOST[:PORT], not {uri:?}");
    let rest = uri
        .get(..4)
        .filter(|scheme| scheme.eq_ignore_ascii_case("sip:"))
        .and_then(|_| uri.get(4..))
        .ok_or_else(bad)?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port))
            if !host.ends_with(':') && (!host.starts_with('[') || host.ends_with(']')) =>
        {
            (host, Some(port))
        }
        _ => (rest, None),
    };
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        }
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

async fn db(store: Store, command: DbCommand) -> anyhow::Result<()> {
    match command {
        DbCommand::Check => {
            let problems = store.check_integrity().await?;
            if problems.is_empty() {
                println!("ok");
                return Ok(());
            }
            for problem in &problems {
                println!("{problem}");
            }
            bail!("the database check found {} problem(s)", problems.len());
        }
    }
}

/// A number is the user part of a SIP URI: no spaces or URI delimiters.
fn check_number(number: &str) -> anyhow::Result<()> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "@:;?/<>\"".contains(c);
    if number.is_empty() || number.len() > 64 || number.chars().any(bad) {
        bail!("--number {number:?} must be 1 to 64 characters with no spaces or any of @:;?/<>\"");
    }
    Ok(())
}

fn check_url(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("--url {url:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--url must be http:// or https://, not {url:?}");
    }
    Ok(())
}

/// The URL without its password, for messages.
fn redact(database_url: &str) -> String {
    match url::Url::parse(database_url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => database_url.to_owned(),
    }
}
