//! The command line: `nvabgp <COMMAND> [ARGS]`.
//!
//! Each subcommand is a variant of [`Command`] holding its own `clap::Args`
//! struct, and [`run`] dispatches on it; a new subcommand is one variant,
//! one struct and one match arm. Everything here returns `anyhow` errors:
//! this is the top of the program, where errors become messages.

use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bgp_proto::{Context, Families};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::control::commands as control;
use crate::decode::{self, Messages};

/// nvabgp: a BGP-4 speaker for network virtual appliances in Azure.
#[derive(Debug, Parser)]
#[command(name = "nvabgp", version, propagate_version = true)]
pub struct Cli {
    /// The running agent's control socket, for the commands that talk to
    /// it (status, neighbors, routes, ...) [default: $NVABGP_SOCKET, else
    /// /run/nvabgp/nvabgp.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode raw BGP messages into JSON, one object per line
    ///
    /// The input is a stream of complete BGP messages back to back (16-byte
    /// marker, length, type, body), as one side of a session sends them: a
    /// TCP stream saved from a capture, say. Each message becomes one JSON
    /// object on standard output (format: README.md, "nvabgp decode: JSON
    /// format").
    ///
    /// How messages decode depends on what the session negotiated; by
    /// default: 4-octet AS numbers, no ADD-PATH, extended messages (up to
    /// 65535 bytes) allowed.
    ///
    /// A malformed message stops decoding: the messages before it are
    /// printed, and standard error says where it is (byte offset in the
    /// input, and within the message) and which NOTIFICATION a BGP speaker
    /// would answer it with.
    ///
    /// Exit status: 0 when the whole input decoded; 1 for malformed or
    /// truncated input, or an I/O error; 2 for bad arguments.
    Decode(DecodeArgs),

    /// Run the BGP speaker with a configuration file
    ///
    /// Peers with every configured neighbor (connecting out and accepting
    /// connections), advertises the configured routes and keeps the
    /// learned ones in its RIB. Logs go to standard error (RUST_LOG sets
    /// the level, default info). SIGTERM or SIGINT closes every session
    /// with Cease / Administrative Shutdown and exits.
    Run(ConfigArgs),

    /// Check a configuration file and exit: 0 when it is valid, 1 with the
    /// problem and what to fix otherwise
    Check(ConfigArgs),

    /// Show the running agent: version, AS, uptime, peers, RIB size, drain
    Status(control::StatusArgs),

    /// List the peers and their sessions
    Neighbors(control::NeighborsArgs),

    /// Show routes: the Loc-RIB, or one peer's Adj-RIB-In or Adj-RIB-Out
    Routes(control::RoutesArgs),

    /// Show the health checks that gate originated routes
    Health(control::HealthArgs),

    /// Originate a route, or change one already originated (one UPDATE)
    Announce(control::AnnounceArgs),

    /// Stop originating a route
    Withdraw(control::WithdrawArgs),

    /// Move an originated route (a "next hop IP" VIP) to another next hop,
    /// in one UPDATE (no withdraw in between)
    SetNextHop(control::SetNextHopArgs),

    /// Take this node out of service: withdraw (or, with --prepend, prepend
    /// our ASN to) every originated route
    Drain(control::DrainArgs),

    /// Put this node back in service after a drain
    Undrain(control::UndrainArgs),

    /// Show the whole job in a namespace lab, without Azure (needs root)
    ///
    /// Builds an Azure-like hub in network namespaces (the NVA, the
    /// virtual router, two Route Server stand-ins), runs nvabgp on the NVA
    /// with a static, an anycast and a next-hop-ip route, fails a web
    /// server and the anycast service, narrates what happens on both
    /// sides, and removes everything at the end (also on Ctrl-C).
    Lab(crate::lab::demo::LabArgs),
}

/// The arguments of `nvabgp run` and `nvabgp check`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The TOML configuration file
    #[arg(
        long,
        short,
        value_name = "FILE",
        default_value = "/etc/nvabgp/nvabgp.toml"
    )]
    pub config: PathBuf,
}

/// The arguments of `nvabgp decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The input is hex text (whitespace and ':' are ignored), not raw bytes
    #[arg(long)]
    pub hex: bool,

    /// The sender did not negotiate 4-octet AS numbers: AS_PATH and AGGREGATOR
    /// hold 2-octet ASNs (RFC 6793)
    #[arg(long)]
    pub two_octet_as: bool,

    /// Families whose NLRI carry ADD-PATH path identifiers (RFC 7911),
    /// comma-separated
    #[arg(long, value_name = "FAMILIES", value_delimiter = ',', value_enum)]
    pub add_path: Vec<AddPathFamily>,

    /// File to read, or - for standard input
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
}

/// A family `--add-path` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AddPathFamily {
    /// IPv4 unicast
    Ipv4,
    /// IPv6 unicast
    Ipv6,
}

impl DecodeArgs {
    /// The session state the options describe.
    pub fn context(&self) -> Context {
        let add_path = self.add_path.iter().fold(Families::NONE, |set, f| match f {
            AddPathFamily::Ipv4 => set | Families::IPV4_UNICAST,
            AddPathFamily::Ipv6 => set | Families::IPV6_UNICAST,
        });
        Context {
            four_octet_as: !self.two_octet_as,
            add_path,
            extended_message: true,
        }
    }
}

/// Runs the command; the exit status tells how it went.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Decode(args) => run_decode(&args),
        Command::Run(args) => run_daemon(&args),
        Command::Check(args) => {
            let config = crate::config::Config::load(&args.config).with_context(|| {
                format!("{} is not a valid configuration", args.config.display())
            })?;
            println!(
                "{}: valid ({} peers, {} static routes, {} health-gated routes)",
                args.config.display(),
                config.peers.len(),
                config.routes.len(),
                config.health_routes.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => control::run(cli.socket.as_deref(), &args),
        Command::Neighbors(args) => control::run(cli.socket.as_deref(), &args),
        Command::Routes(args) => control::run(cli.socket.as_deref(), &args),
        Command::Health(args) => control::run(cli.socket.as_deref(), &args),
        Command::Announce(args) => control::run(cli.socket.as_deref(), &args),
        Command::Withdraw(args) => control::run(cli.socket.as_deref(), &args),
        Command::SetNextHop(args) => control::run(cli.socket.as_deref(), &args),
        Command::Drain(args) => control::run(cli.socket.as_deref(), &args),
        Command::Undrain(args) => control::run(cli.socket.as_deref(), &args),
        Command::Lab(args) => crate::lab::demo::run(&args),
    }
}

fn run_daemon(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::Config::load(&args.config)
        .with_context(|| format!("{} is not a valid configuration", args.config.display()))?;
    crate::telemetry::init();
    // One thread: the agent's work is I/O-bound and small, and a single
    // thread keeps its idle footprint at a few megabytes.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = async {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => std::future::pending().await,
            }
        };
        crate::daemon::run(config, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn read_input(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path.as_os_str() == "-" {
        io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
    } else {
        buf = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(buf)
}

fn run_decode(args: &DecodeArgs) -> anyhow::Result<ExitCode> {
    let raw = read_input(&args.input)?;
    let input = if args.hex {
        decode::parse_hex(&raw)?
    } else {
        raw
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for item in Messages::new(&input, args.context()) {
        match item {
            Ok(message) => {
                let written = serde_json::to_writer(&mut out, &decode::to_json(&message))
                    .map_err(io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
                if let Err(e) = written {
                    return output_error(e);
                }
            }
            Err(e) => {
                // The messages before the error come first.
                if let Err(e) = out.flush() {
                    return output_error(e);
                }
                eprintln!("nvabgp decode: {e}");
                eprintln!("nvabgp decode: {}", decode::consequence(&e));
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    if let Err(e) = out.flush() {
        return output_error(e);
    }
    Ok(ExitCode::SUCCESS)
}

/// A reader that went away (`nvabgp decode x | head`) is not an error.
fn output_error(e: io::Error) -> anyhow::Result<ExitCode> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Ok(ExitCode::SUCCESS);
    }
    Err(e).context("cannot write to standard output")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn decode_args(argv: &[&str]) -> DecodeArgs {
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Decode(args) => args,
            #[allow(unreachable_patterns)] // once there are other subcommands
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn decode_options_give_the_session_state() {
        let args = decode_args(&[
            "nvabgp",
            "decode",
            "--two-octet-as",
            "--add-path",
            "ipv4,ipv6",
            "-",
        ]);
        assert_eq!(args.input, PathBuf::from("-"));
        assert_eq!(
            args.context(),
            Context {
                four_octet_as: false,
                add_path: Families::ALL,
                extended_message: true,
            }
        );
        assert_eq!(
            decode_args(&["nvabgp", "decode", "x.bin"]).context(),
            Context {
                four_octet_as: true,
                add_path: Families::NONE,
                extended_message: true,
            }
        );
        assert!(Cli::try_parse_from(["nvabgp", "decode", "--add-path", "ipv5", "-"]).is_err());
    }
}
