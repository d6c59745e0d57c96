//! The command line, as clap types. Doc comments are the `--help` text.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

/// A self-hosted conference-calling server that speaks Twilio's 2008-08-01
/// Conferences and Participants API.
#[derive(Debug, Parser)]
#[command(name = "confab", version, about)]
pub struct Cli {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "CONFAB_DATABASE_URL",
        default_value = "sqlite://confab.db",
        global = true
    )]
    pub database_url: String,

    /// Log format on stderr: `text` (colours only when stderr is a terminal) or `json` (one
    /// object a line, for log shippers).
    #[arg(
        long,
        env = "CONFAB_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: SIP (UDP and TCP) with RTP media, and the REST API.
    Serve(ServeArgs),
    /// Manage accounts (each has an AccountSid and an AuthToken).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage the numbers callers dial and the voice URLs they reach.
    #[command(subcommand)]
    Numbers(NumbersCommand),
    /// Manage the outbound SIP trunks that calls to numbers go through
    /// (the 2010-04-01 API's dial-out).
    #[command(subcommand)]
    Trunks(TrunksCommand),
    /// Look after the database itself.
    #[command(subcommand)]
    Db(DbCommand),
    /// Print a join link: a URL that puts a browser tab into a room (signed
    /// with the account's AuthToken, expiring).
    JoinLink(JoinLinkArgs),
}

#[derive(Debug, Args)]
pub struct JoinLinkArgs {
    /// The account whose room it joins (its AuthToken signs the link).
    #[arg(long)]
    pub account: String,
    /// The conference's friendly name.
    #[arg(long)]
    pub room: String,
    /// How long the link works: seconds, or a number with `s`, `m`, `h` or `d`.
    #[arg(long, default_value = "1h", value_parser = parse_expiry)]
    pub expires: std::time::Duration,
    /// The browser joins muted.
    #[arg(long)]
    pub muted: bool,
    /// The address `confab serve` listens on for HTTP (the link's host,
    /// unless `--public-url` is given).
    #[arg(long, env = "CONFAB_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// The server's URL as browsers reach it (`https://confab.example`), when
    /// that is not `http://` and the HTTP address (a proxy, a wildcard bind).
    #[arg(long, env = "CONFAB_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
}

/// A link's lifetime: `90`, `90s`, `15m`, `1h`, `2d`; from 1 s to 30 days.
fn parse_node_id(s: &str) -> Result<String, String> {
    if server::valid_node_id(s) {
        Ok(s.to_owned())
    } else {
        Err("a node id is 1 to 40 letters, digits, '-' or '_'".into())
    }
}

fn parse_expiry(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 15m, 1h or 2d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    let secs = n.saturating_mul(unit);
    if secs == 0 || secs > 30 * 86_400 {
        return Err("a join link lasts from 1 s to 30 days".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "CONFAB_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,

    /// Address SIP listens on, UDP and TCP (port 0 picks a free port).
    #[arg(long, env = "CONFAB_SIP_ADDR", default_value = "127.0.0.1:5060")]
    pub sip_addr: SocketAddr,

    /// The address written into Contact, Via and SDP (`o=`, `c=`) for
    /// every call (confab, the endpoint, adds no Record-Route of its own):
    /// where callers reach this server, e.g. behind NAT. Default: the SIP address, or, bound to a wildcard (0.0.0.0,
    /// [::]), the address each request arrived on.
    #[arg(long, env = "CONFAB_PUBLIC_ADDR")]
    pub public_addr: Option<IpAddr>,

    /// UDP port range for RTP media legs, as LO-HI (one even port a call).
    #[arg(long, env = "CONFAB_RTP_PORTS", default_value = "10000-20000")]
    pub rtp_ports: PortRange,

    /// Calls to a number nobody added join the default account's room named
    /// after it (sip:standup@host → room "standup"); off, they get 404.
    /// Default: on while SIP is bound to loopback, off anywhere else (a
    /// wildcard included), where it takes `--open-rooms` to turn them on.
    #[arg(
        long,
        env = "CONFAB_OPEN_ROOMS",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub open_rooms: Option<bool>,

    /// Participants a conference room holds unless its creator sets maxParticipants.
    #[arg(long, env = "CONFAB_ROOM_CAPACITY", default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    pub room_capacity: u32,

    /// Threads that mix rooms, each room on one of them for its whole life
    /// (placed on the one with the fewest legs). Default: the number of
    /// cores this process may use.
    #[arg(long, env = "CONFAB_MIX_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub mix_threads: Option<u16>,

    /// Run as one node of several on one PostgreSQL database, named this
    /// (letters, digits, `-`, `_`; unique among the nodes). Each room runs
    /// on one node; callers whose room runs on another are redirected there
    /// (302) and the API reaches it from any node. See docs/scaling.md.
    #[arg(long, env = "CONFAB_NODE_ID", value_parser = parse_node_id)]
    pub node_id: Option<String>,

    /// With --node-id: seconds without renewing its lease after which a
    /// node counts as dead, and another ends its rooms and calls.
    #[arg(long, env = "CONFAB_NODE_LEASE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=3600))]
    pub node_lease: u32,

    /// Accept calls (INVITEs) only from these networks, e.g. a trunk's or a
    /// PBX's: CIDR[,CIDR…] (a bare address is one host). Others get 403
    /// Forbidden. Default: calls from anywhere.
    #[arg(
        long,
        env = "CONFAB_SIP_ALLOW",
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = parse_network
    )]
    pub sip_allow: Vec<IpNet>,

    /// New INVITEs and OPTIONS one source address may send a second (in
    /// bursts of twice that); more are dropped unanswered.
    #[arg(long, env = "CONFAB_SIP_RATE_LIMIT", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub sip_rate_limit: u32,

    /// Sources never rate-limited, e.g. a carrier's SBC or a PBX that brings
    /// every call from one address: CIDR[,CIDR…] (a bare address is one host).
    #[arg(
        long,
        env = "CONFAB_SIP_TRUSTED",
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = parse_network
    )]
    pub sip_trusted: Vec<IpNet>,

    /// Hang up a call (BYE; it leaves its conference, its record ends
    /// completed) whose caller sent no RTP for SECS while not on hold: a
    /// dead peer. RTCP does not count (peers send it on hold too). 0: never.
    #[arg(
        long,
        env = "CONFAB_RTP_TIMEOUT",
        value_name = "SECS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(0..=86_400)
    )]
    pub rtp_timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create an account and print its `AccountSid=` and `AuthToken=` lines.
    Create {
        /// A name for people; not used for anything else.
        #[arg(long, default_value = "confab")]
        friendly_name: String,
    },
    /// List every account: `AccountSid=… AuthToken=… FriendlyName=…`, oldest first.
    List,
}

#[derive(Debug, Subcommand)]
pub enum NumbersCommand {
    /// Route calls to NUMBER (the SIP Request-URI user part) to a voice URL;
    /// prints `PhoneNumberSid=PN…`.
    Add {
        /// The account the number and its calls belong to.
        #[arg(long)]
        account: String,
        /// What callers dial: `sip:NUMBER@host` reaches it.
        #[arg(long)]
        number: String,
        /// The voice URL that returns TwiML for each call.
        #[arg(long)]
        url: String,
        /// How the voice URL is requested.
        #[arg(long, default_value = "POST")]
        method: String,
    },
    /// List numbers: `PhoneNumberSid=… AccountSid=… Number=… Method=… Url=…`.
    List {
        /// Only this account's numbers.
        #[arg(long)]
        account: Option<String>,
    },
    /// Remove a number, named by its PhoneNumberSid or by the number itself.
    Remove {
        /// `PN…` or the number.
        number: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TrunksCommand {
    /// Send the account's calls to numbers to a SIP trunk (its oldest one
    /// is used); prints `TrunkSid=TK…`.
    Add {
        /// The account whose calls use the trunk.
        #[arg(long)]
        account: String,
        /// `sip:HOST[:PORT]`: the number called becomes the user part.
        #[arg(long)]
        uri: String,
        /// The user name for the trunk's digest challenge.
        #[arg(long, requires = "password")]
        username: Option<String>,
        /// The password for the trunk's digest challenge.
        #[arg(long, requires = "username", env = "CONFAB_TRUNK_PASSWORD")]
        password: Option<String>,
    },
    /// List trunks: `TrunkSid=… AccountSid=… Uri=… Username=…` (never the
    /// password), oldest first.
    List {
        /// Only this account's trunks.
        #[arg(long)]
        account: Option<String>,
    },
    /// Remove a trunk.
    Remove {
        /// `TK…`.
        trunk: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Check the database: SQLite's own integrity and foreign key checks,
    /// and confab's invariants (list counts equal the rows, no participant
    /// of a completed or missing conference). Prints `ok`, or one line per
    /// problem and exits 1.
    Check,
}

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), or one
/// address standing for itself (`192.0.2.7`).
fn parse_network(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is not a network (CIDR such as 10.0.0.0/8) or an address"))
}

/// An inclusive UDP port range, `LO-HI`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (low, high) = s
            .split_once('-')
            .ok_or("expected LO-HI, e.g. 10000-20000")?;
        let parse = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port number"))
        };
        let (low, high) = (parse(low)?, parse(high)?);
        if low == 0 || low > high {
            return Err("expected 1 <= LO <= HI <= 65535".into());
        }
        Ok(Self { low, high })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(
            "10000-20000".parse(),
            Ok(PortRange {
                low: 10000,
                high: 20000
            })
        );
        assert_eq!("5-5".parse(), Ok(PortRange { low: 5, high: 5 }));
        for bad in ["", "10000", "2-1", "0-10", "1-70000", "a-b"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
    }

    fn serve(args: &[&str]) -> ServeArgs {
        match Cli::try_parse_from(["confab", "serve"].iter().chain(args.iter())) {
            Ok(Cli {
                command: Command::Serve(args),
                ..
            }) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn open_rooms_is_unset_unless_given() {
        let open = |args: &[&str]| serve(args).open_rooms;
        assert_eq!(open(&[]), None);
        assert_eq!(open(&["--open-rooms"]), Some(true));
        assert_eq!(open(&["--open-rooms=true"]), Some(true));
        assert_eq!(open(&["--open-rooms=false"]), Some(false));
    }

    #[test]
    fn the_rate_limit_and_trusted_sources() {
        assert_eq!(serve(&[]).sip_rate_limit, 50);
        assert_eq!(serve(&["--sip-rate-limit", "200"]).sip_rate_limit, 200);
        let trusted = serve(&["--sip-trusted", "192.0.2.0/24,2001:db8::5"]).sip_trusted;
        let trusted: Vec<String> = trusted.iter().map(ToString::to_string).collect();
        assert_eq!(trusted, ["192.0.2.0/24", "2001:db8::5/128"]);
        for bad in [["--sip-rate-limit", "0"], ["--sip-trusted", "example.com"]] {
            let args = ["confab", "serve", bad[0], bad[1]];
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rtp_timeout_defaults_to_a_minute_and_zero_is_off() {
        let serve = |args: &[&str]| match Cli::try_parse_from(
            ["confab", "serve"].iter().chain(args.iter()),
        ) {
            Ok(Cli {
                command: Command::Serve(args),
                ..
            }) => Ok(args.rtp_timeout),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.kind()),
        };
        assert_eq!(serve(&[]), Ok(60));
        assert_eq!(serve(&["--rtp-timeout", "5"]), Ok(5));
        assert_eq!(serve(&["--rtp-timeout=0"]), Ok(0));
        assert!(serve(&["--rtp-timeout", "-1"]).is_err());
    }

    #[test]
    fn sip_allow_takes_networks_and_addresses() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["confab", "serve"].iter().chain(args.iter())).map(|cli| match cli
                .command
            {
                Command::Serve(args) => args
                    .sip_allow
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(parse(&[]).unwrap(), Vec::<String>::new());
        assert_eq!(
            parse(&["--sip-allow", "10.0.0.0/8,192.0.2.7, 2001:db8::/32"]).unwrap(),
            ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
        );
        assert_eq!(
            parse(&["--sip-allow", "10.0.0.0/8", "--sip-allow=::1"]).unwrap(),
            ["10.0.0.0/8", "::1/128"]
        );
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0.0/8,", "1.2.3"] {
            assert!(parse(&["--sip-allow", bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn join_link_lifetimes() {
        let secs = |s| parse_expiry(s).map(|d| d.as_secs());
        assert_eq!(secs("90"), Ok(90));
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("15m"), Ok(900));
        assert_eq!(secs("1h"), Ok(3600));
        assert_eq!(secs("30d"), Ok(30 * 86_400));
        for bad in [
            "",
            "0",
            "0h",
            "31d",
            "1w",
            "h",
            "-1h",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_expiry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn join_link_takes_its_flags_and_a_public_url() {
        let Cli {
            command: Command::JoinLink(args),
            ..
        } = Cli::try_parse_from([
            "confab",
            "join-link",
            "--account",
            "AC1",
            "--room",
            "r",
            "--muted",
            "--public-url",
            "https://confab.example/",
        ])
        .unwrap()
        else {
            panic!("not join-link");
        };
        assert!(args.muted);
        assert_eq!(args.expires.as_secs(), 3600);
        assert_eq!(args.public_url.unwrap().as_str(), "https://confab.example/");
    }
}
