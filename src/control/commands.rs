//! The `nvabgp` subcommands that talk to a running agent: their arguments
//! (clap) and how they run. `crate::cli` lists them among the other
//! subcommands and hands each to [`run`].
//!
//! Exit status: 0 when the agent did it, 1 when it refused or could not be
//! reached (the message on standard error says why), 2 for bad arguments.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use bgp_proto::{Community, LargeCommunity, Prefix};
use clap::Args;

use super::parse::MAX_PREPEND;
use super::types::{
    Announcement, DrainMode, NextHop, Request, RouteView, RoutesQuery, parse_origin,
};
use super::{Client, DEFAULT_SOCKET, render};

/// The environment variable naming the control socket when `--socket` is
/// not given (handy with several agents on one machine, as in the lab).
pub const SOCKET_VARIABLE: &str = "NVABGP_SOCKET";

/// What every command that talks to the agent takes.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientArgs {
    /// The agent's control socket [default: $NVABGP_SOCKET, else
    /// /run/nvabgp/nvabgp.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Print the result as JSON (the API's "result") instead of text
    #[arg(long)]
    pub json: bool,
}

/// A subcommand that sends one request to the agent.
pub trait ControlArgs {
    /// Its `--socket` and `--json`.
    fn client(&self) -> &ClientArgs;
    /// The request, or what is wrong with the arguments.
    fn request(&self) -> Result<Request, String>;
}

/// `nvabgp status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    // --socket and --json.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nvabgp neighbors`.
#[derive(Debug, Clone, Args)]
pub struct NeighborsArgs {
    // --socket and --json.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nvabgp health`.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    // --socket and --json.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nvabgp undrain`.
#[derive(Debug, Clone, Args)]
pub struct UndrainArgs {
    // --socket and --json.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nvabgp routes`.
#[derive(Debug, Clone, Args)]
pub struct RoutesArgs {
    /// Only routes equal to or more specific than PREFIX (an address alone
    /// is a host route)
    #[arg(value_name = "PREFIX")]
    pub prefix: Option<Prefix>,

    /// The peer (name or address) for --adj-in and --adj-out; alone, only
    /// the Loc-RIB paths learned from it
    #[arg(long, value_name = "PEER")]
    pub peer: Option<String>,

    /// What the peer sent us, after import policy (Adj-RIB-In)
    #[arg(long, requires = "peer", conflicts_with = "adj_out")]
    pub adj_in: bool,

    /// What we advertise to the peer (Adj-RIB-Out)
    #[arg(long, requires = "peer")]
    pub adj_out: bool,

    // --socket and --json.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nvabgp announce`.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Attributes, as keyword and value:\n  \
    next-hop self|ADDRESS    the next hop (default self: each session's local address)\n  \
    prepend N                extra copies of our ASN, 0..=32\n  \
    community C              65001:10 or no-export, no-advertise, ... (repeatable)\n  \
    large-community L        65001:1:2 (repeatable)\n  \
    med N                    MULTI_EXIT_DISC\n  \
    origin igp|egp|incomplete\n\n\
    Example: nvabgp announce 100.64.0.1/32 next-hop 10.1.2.11 prepend 2 community 65001:10")]
pub struct AnnounceArgs {
    /// The prefix to announce
    #[arg(value_name = "PREFIX")]
    pub prefix: Prefix,

    /// Attributes as keyword value pairs (see below)
    #[arg(value_name = "ATTRIBUTE VALUE")]
    pub attributes: Vec<String>,

    // --socket and --json.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nvabgp withdraw`.
#[derive(Debug, Clone, Args)]
pub struct WithdrawArgs {
    /// The originated prefix to withdraw
    #[arg(value_name = "PREFIX")]
    pub prefix: Prefix,

    // --socket and --json.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nvabgp set-next-hop`.
#[derive(Debug, Clone, Args)]
pub struct SetNextHopArgs {
    /// The originated prefix (a "next hop IP" VIP)
    #[arg(value_name = "PREFIX")]
    pub prefix: Prefix,

    /// The new next hop: an address, or self
    #[arg(value_name = "ADDRESS")]
    pub next_hop: NextHop,

    // --socket and --json.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `nvabgp drain`.
#[derive(Debug, Clone, Args)]
pub struct DrainArgs {
    /// Prepend our ASN N more times instead of withdrawing
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=i64::from(MAX_PREPEND)))]
    pub prepend: Option<u8>,

    // --socket and --json.
    #[command(flatten)]
    pub client: ClientArgs,
}

macro_rules! plain_request {
    ($args:ty, $request:expr) => {
        impl ControlArgs for $args {
            fn client(&self) -> &ClientArgs {
                &self.client
            }
            fn request(&self) -> Result<Request, String> {
                Ok($request)
            }
        }
    };
}

plain_request!(StatusArgs, Request::Status);
plain_request!(NeighborsArgs, Request::Neighbors);
plain_request!(HealthArgs, Request::Health);
plain_request!(UndrainArgs, Request::Undrain);

impl ControlArgs for RoutesArgs {
    fn client(&self) -> &ClientArgs {
        &self.client
    }

    fn request(&self) -> Result<Request, String> {
        let view = match (&self.peer, self.adj_in, self.adj_out) {
            (Some(peer), true, _) => RouteView::AdjIn { peer: peer.clone() },
            (Some(peer), _, true) => RouteView::AdjOut { peer: peer.clone() },
            (peer, false, false) => RouteView::LocRib { peer: peer.clone() },
            // clap requires --peer with either flag.
            (None, _, _) => return Err("--adj-in and --adj-out need --peer PEER".into()),
        };
        Ok(Request::Routes(RoutesQuery {
            view,
            prefix: self.prefix,
        }))
    }
}

impl ControlArgs for AnnounceArgs {
    fn client(&self) -> &ClientArgs {
        &self.client
    }

    fn request(&self) -> Result<Request, String> {
        announcement(self.prefix, &self.attributes).map(Request::Announce)
    }
}

impl ControlArgs for WithdrawArgs {
    fn client(&self) -> &ClientArgs {
        &self.client
    }

    fn request(&self) -> Result<Request, String> {
        Ok(Request::Withdraw {
            prefix: self.prefix,
        })
    }
}

impl ControlArgs for SetNextHopArgs {
    fn client(&self) -> &ClientArgs {
        &self.client
    }

    fn request(&self) -> Result<Request, String> {
        Ok(Request::SetNextHop {
            prefix: self.prefix,
            next_hop: self.next_hop,
        })
    }
}

impl ControlArgs for DrainArgs {
    fn client(&self) -> &ClientArgs {
        &self.client
    }

    fn request(&self) -> Result<Request, String> {
        Ok(Request::Drain(match self.prepend {
            None => DrainMode::Withdraw,
            Some(count) => DrainMode::Prepend { count },
        }))
    }
}

/// Reads `announce`'s keyword value pairs (`next-hop 10.1.2.11 prepend 2
/// community 65001:10`), the way ExaBGP's API and `birdc` take attributes.
pub fn announcement(prefix: Prefix, words: &[String]) -> Result<Announcement, String> {
    const KEYWORDS: &str = "next-hop, prepend, community, large-community, med or origin";
    let mut a = Announcement::new(prefix);
    let mut seen: Vec<&str> = Vec::new();
    let mut words = words.iter();
    while let Some(keyword) = words.next() {
        let keyword = keyword.as_str();
        if !matches!(
            keyword,
            "next-hop" | "prepend" | "community" | "large-community" | "med" | "origin"
        ) {
            return Err(format!(
                "unknown attribute {keyword:?}: expected {KEYWORDS}, each followed by its value"
            ));
        }
        let Some(value) = words.next() else {
            return Err(format!("attribute {keyword} needs a value"));
        };
        let repeatable = matches!(keyword, "community" | "large-community");
        if !repeatable && seen.contains(&keyword) {
            return Err(format!("attribute {keyword} is given twice"));
        }
        seen.push(keyword);
        let bad = |e: &dyn std::fmt::Display| format!("{keyword} {value:?}: {e}");
        match keyword {
            "next-hop" => a.next_hop = value.parse().map_err(|e| bad(&e))?,
            "prepend" => {
                a.prepend = value
                    .parse()
                    .ok()
                    .filter(|n| *n <= MAX_PREPEND)
                    .ok_or_else(|| bad(&format!("expected a count in 0..={MAX_PREPEND}")))?;
            }
            "community" => a
                .communities
                .push(value.parse::<Community>().map_err(|e| bad(&e))?),
            "large-community" => a
                .large_communities
                .push(value.parse::<LargeCommunity>().map_err(|e| bad(&e))?),
            "med" => {
                a.med = Some(
                    value
                        .parse()
                        .map_err(|_| bad(&"expected an integer in 0..=4294967295"))?,
                );
            }
            _ => {
                a.origin =
                    parse_origin(value).ok_or_else(|| bad(&"expected igp, egp or incomplete"))?;
            }
        }
    }
    Ok(a)
}

/// The socket to use: `--socket` after the subcommand, then before it,
/// then `$NVABGP_SOCKET`, then the default.
pub fn socket_path(args: &ClientArgs, top_level: Option<&Path>) -> PathBuf {
    args.socket
        .clone()
        .or_else(|| top_level.map(Path::to_path_buf))
        .or_else(|| {
            std::env::var_os(SOCKET_VARIABLE)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Sends the subcommand's request and prints the answer: text, or the
/// result as JSON with `--json`. `socket` is a `--socket` given before the
/// subcommand.
pub fn run(socket: Option<&Path>, args: &impl ControlArgs) -> anyhow::Result<ExitCode> {
    let request = match args.request() {
        Ok(request) => request,
        Err(message) => {
            eprintln!("nvabgp: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let client = args.client();
    let path = socket_path(client, socket);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let answer = runtime.block_on(async {
        let mut connection = Client::connect(&path).await?;
        connection.call(&request).await
    });
    let response = match answer {
        Ok(response) => response,
        Err(e) => {
            eprintln!("nvabgp: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let text = if client.json {
        let mut text =
            serde_json::to_string_pretty(&response).context("cannot encode the result as JSON")?;
        text.push('\n');
        text
    } else {
        render::render(&response)
    };
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `nvabgp routes | head` is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("cannot write to standard output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::Origin;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn prefix() -> Prefix {
        "100.64.0.1/32".parse().unwrap()
    }

    #[test]
    fn announce_reads_keyword_value_pairs() {
        let a = announcement(
            prefix(),
            &words(
                "next-hop 10.1.2.11 prepend 2 community 65001:10 community no-advertise \
                 large-community 65001:1:2 med 50 origin incomplete",
            ),
        )
        .unwrap();
        assert_eq!(a.next_hop, NextHop::Address("10.1.2.11".parse().unwrap()));
        assert_eq!(a.prepend, 2);
        assert_eq!(
            a.communities,
            [Community::new(65001, 10), Community::NO_ADVERTISE]
        );
        assert_eq!(a.large_communities, [LargeCommunity::new(65001, 1, 2)]);
        assert_eq!(a.med, Some(50));
        assert_eq!(a.origin, Origin::Incomplete);
        assert_eq!(announcement(prefix(), &[]), Ok(Announcement::new(prefix())));
    }

    #[test]
    fn announce_says_which_attribute_is_wrong() {
        let err = |text: &str| announcement(prefix(), &words(text)).unwrap_err();
        assert!(err("nexthop 10.1.2.11").contains("unknown attribute \"nexthop\""));
        assert!(err("med").contains("med needs a value"));
        assert!(err("med 1 med 2").contains("given twice"));
        assert!(err("prepend 33").contains("0..=32"));
        assert!(err("community 65001").contains("community \"65001\": expected ASN:VALUE"));
        assert!(err("large-community 1:2").contains("GLOBAL:LOCAL1:LOCAL2"));
        assert!(err("next-hop router").contains("\"self\" or an IP address"));
        assert!(err("origin bgp").contains("igp, egp or incomplete"));
    }

    #[test]
    fn the_socket_comes_from_the_nearest_option() {
        let near = ClientArgs {
            socket: Some("/a.sock".into()),
            json: false,
        };
        assert_eq!(
            socket_path(&near, Some(Path::new("/b.sock"))),
            PathBuf::from("/a.sock")
        );
        assert_eq!(
            socket_path(&ClientArgs::default(), Some(Path::new("/b.sock"))),
            PathBuf::from("/b.sock")
        );
    }
}
