//! `paperscout`: the command-line front end. Parses the command line, sets up logging, runs the
//! command and turns its error into an exit code.

mod args;
mod bench;
mod commands;
mod config;
mod output;
mod progress;
mod scratch;
mod serve_limits;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use paperscout_app::ErrorKind;

use crate::args::Global;
use crate::commands::Command;

// candle's CPU ops allocate a fresh buffer per op, tens of MB each at batch 32 × 256 tokens;
// glibc maps and unmaps every one (page faults, ~40% system time). mimalloc reuses them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Discover research papers: ingest them, then search by keywords (BM25), by meaning (a
/// sentence encoder) or by both.
#[derive(Parser, Debug)]
#[command(name = "paperscout", version, about, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve(_));
    init_tracing(cli.global.verbose.max(u8::from(serving)));
    match cli.command.run(&cli.global) {
        Ok(()) => ExitCode::SUCCESS,
        // `paperscout search … | head`: the reader left; that is not a failure.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let mut msg = format!("error: {err}");
            for cause in err.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
            }
            eprintln!("{msg}");
            let kind = err
                .downcast_ref::<paperscout_app::Error>()
                .map(paperscout_app::Error::kind);
            ExitCode::from(match kind {
                Some(ErrorKind::Invalid) => 2,
                Some(ErrorKind::NotFound) => 3,
                // EX_TEMPFAIL: another process holds the store; try again later.
                Some(ErrorKind::Busy) => 75,
                _ => 1,
            })
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("PAPERSCOUT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
