//! The `nvabgp` binary: parses the command line and hands over to the
//! library ([`nvabgp::cli`]).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = nvabgp::cli::Cli::parse();
    match nvabgp::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nvabgp: {e:#}");
            ExitCode::FAILURE
        }
    }
}
