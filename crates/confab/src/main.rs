//! `confab`: the binary. Parses the command line (every flag is also an
//! environment variable), sets up logging, and runs one command. Libraries
//! never read the environment; this file turns it into typed config.

mod cli;
mod commands;

use std::io::IsTerminal;

use clap::Parser;

use crate::cli::LogFormat;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The nice value of the async runtime's threads (SIP, the API, webhooks,
/// the database's). The mix threads, started from the main thread, keep the
/// process's own (0): on a busy core the scheduler gives a mixing thread
/// about nine tenths of it against one of these, so API load cannot make a
/// tick late, and neither needs a privilege.
const RUNTIME_NICE: i32 = 10;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(yield_to_mixing)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Lowers the calling thread's priority to [`RUNTIME_NICE`] (on Linux a
/// nice value is a thread's own, inherited by the threads it starts).
fn yield_to_mixing() {
    let this = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(this), RUNTIME_NICE) {
        tracing::debug!(error = %e, "cannot lower a runtime thread's priority");
    }
}

/// Logs go to stderr (stdout carries the commands' output); `RUST_LOG`
/// overrides the default `info` level. Text is coloured only on a terminal,
/// so a log file or a journal gets no escape codes.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
}
