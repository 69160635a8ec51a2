//! Reading a request line into a validated [`Request`].
//!
//! Not serde's derive: its messages name Rust types and byte columns, and
//! stop at the first problem in the JSON structure. Here every message
//! names the command and the field at fault, shows the offending value and
//! says what is expected, the way `config.rs` reports a bad file, so a
//! person typing `socat` requests or a script author can fix the request
//! from the message alone.

use std::fmt;
use std::str::FromStr;

use bgp_proto::{Community, LargeCommunity, Prefix};
use serde_json::{Map, Value};

use super::types::{
    Announcement, ApiError, Command, DrainMode, NextHop, Request, RouteView, RoutesQuery,
    parse_origin,
};

/// The most extra copies of our ASN a route or a drain may add (as in the
/// configuration file).
pub const MAX_PREPEND: u8 = 32;

/// Longest excerpt of an offending value quoted in an error message.
const QUOTE_MAX: usize = 60;

impl Request {
    /// Parses and validates one request line (JSON text).
    pub fn parse(line: &str) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_str(line).map_err(|e| {
            ApiError::bad_request(format!(
                "not a JSON object: {e}; send one object per line, e.g. {{\"command\":\"status\"}}"
            ))
        })?;
        Self::from_value(value)
    }

    /// Validates a request already read as JSON.
    pub fn from_value(value: Value) -> Result<Self, ApiError> {
        let Value::Object(mut map) = value else {
            return Err(ApiError::bad_request(format!(
                "expected a JSON object such as {{\"command\":\"status\"}}, got {}",
                quote(&value)
            )));
        };
        let command = match map.remove("command") {
            None | Some(Value::Null) => {
                return Err(ApiError::bad_request(format!(
                    "missing field \"command\": expected one of {}",
                    command_list()
                )));
            }
            Some(Value::String(name)) => Command::from_name(&name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown command {:?}: expected one of {}",
                    truncate(&name),
                    command_list()
                ))
            })?,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "field \"command\" is {}: expected a string, one of {}",
                    quote(&other),
                    command_list()
                )));
            }
        };
        let mut f = Fields::new(command, map)?;
        Ok(match command {
            Command::Status => Request::Status,
            Command::Neighbors => Request::Neighbors,
            Command::Health => Request::Health,
            Command::Undrain => Request::Undrain,
            Command::Routes => Request::Routes(routes(&mut f)?),
            Command::Announce => Request::Announce(announcement(&mut f)?),
            Command::Withdraw => Request::Withdraw {
                prefix: f.required_parsed("prefix", PREFIX_EXAMPLE)?,
            },
            Command::SetNextHop => {
                let prefix = f.required_parsed("prefix", PREFIX_EXAMPLE)?;
                let next_hop = f.required_parsed("next_hop", NEXT_HOP_EXAMPLE)?;
                check_family(command, &prefix, &next_hop)?;
                Request::SetNextHop { prefix, next_hop }
            }
            Command::Drain => Request::Drain(drain(&mut f)?),
        })
    }
}

const PREFIX_EXAMPLE: &str = "a prefix such as \"100.64.0.1/32\" or \"2001:db8::/48\"";
const NEXT_HOP_EXAMPLE: &str = "\"self\" or an IP address such as \"10.1.2.11\"";
const PEER_EXAMPLE: &str = "a peer's name or address, e.g. \"ars-0\"";

fn command_list() -> String {
    Command::ALL.map(|c| c.name()).join(", ")
}

/// The fields each command accepts besides `command`.
fn allowed_fields(command: Command) -> &'static [&'static str] {
    match command {
        Command::Status | Command::Neighbors | Command::Health | Command::Undrain => &[],
        Command::Routes => &["view", "peer", "prefix"],
        Command::Announce => &[
            "prefix",
            "next_hop",
            "prepend",
            "communities",
            "large_communities",
            "med",
            "origin",
        ],
        Command::Withdraw => &["prefix"],
        Command::SetNextHop => &["prefix", "next_hop"],
        Command::Drain => &["mode", "count"],
    }
}

fn routes(f: &mut Fields) -> Result<RoutesQuery, ApiError> {
    let view = f.optional_string("view", "\"loc-rib\", \"adj-in\" or \"adj-out\"")?;
    let peer = f.optional_string("peer", PEER_EXAMPLE)?;
    let view = match view.as_deref() {
        None | Some("loc-rib") => RouteView::LocRib { peer },
        Some(name @ ("adj-in" | "adj-out")) => {
            let Some(peer) = peer else {
                return Err(f.error(format!(
                    "view {name:?} needs field \"peer\": expected {PEER_EXAMPLE}"
                )));
            };
            if name == "adj-in" {
                RouteView::AdjIn { peer }
            } else {
                RouteView::AdjOut { peer }
            }
        }
        Some(other) => {
            return Err(f.error(format!(
                "field \"view\" is {other:?}: expected \"loc-rib\", \"adj-in\" or \"adj-out\""
            )));
        }
    };
    let prefix = f.optional_parsed("prefix", PREFIX_EXAMPLE)?;
    Ok(RoutesQuery { view, prefix })
}

fn announcement(f: &mut Fields) -> Result<Announcement, ApiError> {
    let prefix = f.required_parsed("prefix", PREFIX_EXAMPLE)?;
    let mut a = Announcement::new(prefix);
    if let Some(next_hop) = f.optional_parsed("next_hop", NEXT_HOP_EXAMPLE)? {
        check_family(Command::Announce, &prefix, &next_hop)?;
        a.next_hop = next_hop;
    }
    if let Some(n) = f.optional_integer("prepend", 0, u64::from(MAX_PREPEND))? {
        // Within 0..=MAX_PREPEND, checked above.
        a.prepend = u8::try_from(n).unwrap_or(MAX_PREPEND);
    }
    a.communities = f.parsed_list::<Community>(
        "communities",
        "strings such as \"65001:10\" or \"no-advertise\"",
    )?;
    a.large_communities =
        f.parsed_list::<LargeCommunity>("large_communities", "strings such as \"65001:1:2\"")?;
    if let Some(n) = f.optional_integer("med", 0, u64::from(u32::MAX))? {
        a.med = u32::try_from(n).ok();
    }
    if let Some(name) = f.optional_string("origin", "\"igp\", \"egp\" or \"incomplete\"")? {
        a.origin = parse_origin(&name).ok_or_else(|| {
            f.error(format!(
                "field \"origin\" is {name:?}: expected \"igp\", \"egp\" or \"incomplete\""
            ))
        })?;
    }
    Ok(a)
}

fn drain(f: &mut Fields) -> Result<DrainMode, ApiError> {
    let mode = f.optional_string("mode", "\"withdraw\" or \"prepend\"")?;
    let count = f.optional_integer("count", 1, u64::from(MAX_PREPEND))?;
    match (mode.as_deref(), count) {
        (None | Some("withdraw"), None) => Ok(DrainMode::Withdraw),
        (None | Some("withdraw"), Some(_)) => Err(f.error(
            "field \"count\" only goes with \"mode\": \"prepend\" (a withdraw drain sends no route to prepend)",
        )),
        (Some("prepend"), Some(n)) => Ok(DrainMode::Prepend {
            // Within 1..=MAX_PREPEND, checked above.
            count: u8::try_from(n).unwrap_or(MAX_PREPEND),
        }),
        (Some("prepend"), None) => Err(f.error(format!(
            "mode \"prepend\" needs field \"count\": expected how many extra copies of our ASN, 1..={MAX_PREPEND}"
        ))),
        (Some(other), _) => Err(f.error(format!(
            "field \"mode\" is {other:?}: expected \"withdraw\" or \"prepend\""
        ))),
    }
}

/// A next hop of the other family than the prefix cannot be sent: IPv4
/// NLRI go in the NEXT_HOP attribute (RFC 4271 §5.1.3), IPv6 ones with an
/// IPv6 next hop in MP_REACH_NLRI (RFC 2545 §3); the RFC 8950 extended
/// next hop is not supported.
fn check_family(command: Command, prefix: &Prefix, next_hop: &NextHop) -> Result<(), ApiError> {
    let NextHop::Address(address) = next_hop else {
        return Ok(());
    };
    if address.is_ipv4() == prefix.is_ipv4() {
        return Ok(());
    }
    let (hop, route) = if prefix.is_ipv4() {
        ("IPv6", "IPv4")
    } else {
        ("IPv4", "IPv6")
    };
    Err(ApiError::bad_request(format!(
        "{command}: next_hop {address} is {hop} for the {route} prefix {prefix}: expected an {route} address or \"self\""
    )))
}

/// The fields of one request object, taken one by one; what was not taken
/// is an unknown field.
struct Fields {
    command: Command,
    map: Map<String, Value>,
}

impl Fields {
    /// Rejects unknown fields first: a misspelt optional field (`nexthop`)
    /// would otherwise be silently ignored.
    fn new(command: Command, map: Map<String, Value>) -> Result<Self, ApiError> {
        let allowed = allowed_fields(command);
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            let expected = if allowed.is_empty() {
                "it takes no other field".to_owned()
            } else {
                format!("expected {}", allowed.join(", "))
            };
            return Err(ApiError::bad_request(format!(
                "{command}: unknown field {:?}: {expected}",
                truncate(unknown)
            )));
        }
        Ok(Self { command, map })
    }

    fn error(&self, message: impl fmt::Display) -> ApiError {
        ApiError::bad_request(format!("{}: {message}", self.command))
    }

    /// The field's value; `null` counts as absent.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    fn optional_string(&mut self, name: &str, expected: &str) -> Result<Option<String>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.error(format!(
                "field {name:?} is {}: expected {expected}",
                quote(&other)
            ))),
        }
    }

    fn optional_parsed<T>(&mut self, name: &str, expected: &str) -> Result<Option<T>, ApiError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let Some(text) = self.optional_string(name, expected)? else {
            return Ok(None);
        };
        text.parse()
            .map(Some)
            .map_err(|e| self.error(format!("field {name:?} is {:?}: {e}", truncate(&text))))
    }

    fn required_parsed<T>(&mut self, name: &str, expected: &str) -> Result<T, ApiError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.optional_parsed(name, expected)?
            .ok_or_else(|| self.error(format!("missing field {name:?}: expected {expected}")))
    }

    fn optional_integer(
        &mut self,
        name: &str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ApiError> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        match value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(self.error(format!(
                "field {name:?} is {}: expected an integer in {min}..={max}",
                quote(&value)
            ))),
        }
    }

    fn parsed_list<T>(&mut self, name: &str, expected: &str) -> Result<Vec<T>, ApiError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let items = match self.take(name) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.error(format!(
                    "field {name:?} is {}: expected a list of {expected}",
                    quote(&other)
                )));
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(text) => text
                    .parse()
                    .map_err(|e| self.error(format!("{name}[{i}] is {:?}: {e}", truncate(text)))),
                other => Err(self.error(format!(
                    "{name}[{i}] is {}: expected one of {expected}",
                    quote(other)
                ))),
            })
            .collect()
    }
}

/// A JSON value for an error message, cut short when long.
fn quote(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(QUOTE_MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// A string for an error message, cut short when long.
fn truncate(text: &str) -> String {
    match text.char_indices().nth(QUOTE_MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::types::ErrorCode;
    use bgp_proto::Origin;

    fn bad(line: &str) -> String {
        match Request::parse(line) {
            Ok(r) => panic!("{line} parsed as {r:?}"),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::BadRequest, "{line}");
                e.message
            }
        }
    }

    #[test]
    fn every_request_round_trips_through_its_wire_form() {
        let mut full = Announcement::new("2001:db8::/48".parse().unwrap());
        full.next_hop = NextHop::Address("2001:db8::1".parse().unwrap());
        full.prepend = 3;
        full.communities = vec![Community::new(65001, 10), Community::NO_ADVERTISE];
        full.large_communities = vec![LargeCommunity::new(65001, 1, 2)];
        full.med = Some(0);
        full.origin = Origin::Incomplete;
        let requests = [
            Request::Status,
            Request::Neighbors,
            Request::Health,
            Request::Undrain,
            Request::Routes(RoutesQuery {
                view: RouteView::LocRib { peer: None },
                prefix: None,
            }),
            Request::Routes(RoutesQuery {
                view: RouteView::LocRib {
                    peer: Some("ars-0".into()),
                },
                prefix: Some("10.0.0.0/8".parse().unwrap()),
            }),
            Request::Routes(RoutesQuery {
                view: RouteView::AdjIn {
                    peer: "10.1.1.4".into(),
                },
                prefix: None,
            }),
            Request::Routes(RoutesQuery {
                view: RouteView::AdjOut {
                    peer: "ars-1".into(),
                },
                prefix: Some("10.1.2.3/32".parse().unwrap()),
            }),
            Request::Announce(Announcement::new("100.64.0.1/32".parse().unwrap())),
            Request::Announce(full),
            Request::Withdraw {
                prefix: "100.64.0.1/32".parse().unwrap(),
            },
            Request::SetNextHop {
                prefix: "100.64.0.1/32".parse().unwrap(),
                next_hop: NextHop::Address("10.1.2.11".parse().unwrap()),
            },
            Request::SetNextHop {
                prefix: "100.64.0.1/32".parse().unwrap(),
                next_hop: NextHop::Own,
            },
            Request::Drain(DrainMode::Withdraw),
            Request::Drain(DrainMode::Prepend { count: 4 }),
        ];
        for request in requests {
            let line = serde_json::to_string(&request).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(Request::parse(&line), Ok(request.clone()), "{line}");
            let via_serde: Request = serde_json::from_str(&line).unwrap();
            assert_eq!(via_serde, request);
        }
    }

    #[test]
    fn the_wire_form_is_the_documented_one() {
        let line = serde_json::to_string(&Request::Routes(RoutesQuery {
            view: RouteView::AdjIn {
                peer: "ars-0".into(),
            },
            prefix: Some("10.0.0.0/8".parse().unwrap()),
        }))
        .unwrap();
        assert_eq!(
            line,
            r#"{"command":"routes","view":"adj-in","peer":"ars-0","prefix":"10.0.0.0/8"}"#
        );
        let line = serde_json::to_string(&Request::Drain(DrainMode::Prepend { count: 3 })).unwrap();
        assert_eq!(line, r#"{"command":"drain","mode":"prepend","count":3}"#);
        let line = serde_json::to_string(&Request::SetNextHop {
            prefix: "100.64.0.1/32".parse().unwrap(),
            next_hop: NextHop::Own,
        })
        .unwrap();
        assert_eq!(
            line,
            r#"{"command":"set-next-hop","prefix":"100.64.0.1/32","next_hop":"self"}"#
        );
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        assert_eq!(
            Request::parse(r#"{"command":"announce","prefix":"100.64.0.1/32"}"#),
            Ok(Request::Announce(Announcement::new(
                "100.64.0.1/32".parse().unwrap()
            )))
        );
        assert_eq!(
            Request::parse(r#"{"command":"announce","prefix":"100.64.0.1/32","med":null}"#),
            Ok(Request::Announce(Announcement::new(
                "100.64.0.1/32".parse().unwrap()
            )))
        );
        assert_eq!(
            Request::parse(r#"{"command":"routes"}"#),
            Ok(Request::Routes(RoutesQuery {
                view: RouteView::LocRib { peer: None },
                prefix: None
            }))
        );
        assert_eq!(
            Request::parse(r#"{"command":"drain"}"#),
            Ok(Request::Drain(DrainMode::Withdraw))
        );
    }

    #[test]
    fn messages_name_the_field_and_what_it_expects() {
        let m = bad("hello");
        assert!(m.starts_with("not a JSON object"), "{m}");
        let m = bad("[1,2]");
        assert!(m.contains("expected a JSON object"), "{m}");
        let m = bad(r#"{"prefix":"10.0.0.0/8"}"#);
        assert!(
            m.contains("missing field \"command\"") && m.contains("set-next-hop"),
            "{m}"
        );
        let m = bad(r#"{"command":"shutdown"}"#);
        assert!(m.contains("unknown command \"shutdown\""), "{m}");
        let m = bad(r#"{"command":7}"#);
        assert!(m.contains("expected a string"), "{m}");
        let m = bad(r#"{"command":"announce"}"#);
        assert_eq!(
            m,
            "announce: missing field \"prefix\": expected a prefix such as \"100.64.0.1/32\" or \"2001:db8::/48\""
        );
        let m = bad(r#"{"command":"announce","prefix":"10.0.0.1/8"}"#);
        assert!(m.contains("host bits") && m.contains("10.0.0.0/8"), "{m}");
        let m = bad(r#"{"command":"withdraw","prefix":"10.0.0.0/33"}"#);
        assert!(m.contains("\"prefix\"") && m.contains("too long"), "{m}");
        let m = bad(r#"{"command":"withdraw","prefix":"banana"}"#);
        assert!(m.contains("ADDRESS/LENGTH"), "{m}");
        let m = bad(
            r#"{"command":"announce","prefix":"10.0.0.0/8","communities":["65001:10","65536:1"]}"#,
        );
        assert!(
            m.contains("communities[1]") && m.contains("65536:1") && m.contains("ASN:VALUE"),
            "{m}"
        );
        let m = bad(r#"{"command":"announce","prefix":"10.0.0.0/8","communities":"65001:10"}"#);
        assert!(m.contains("expected a list"), "{m}");
        let m = bad(r#"{"command":"announce","prefix":"10.0.0.0/8","large_communities":["1:2"]}"#);
        assert!(m.contains("large_communities[0]"), "{m}");
        let m = bad(r#"{"command":"announce","prefix":"10.0.0.0/8","med":-1}"#);
        assert!(
            m.contains("\"med\" is -1") && m.contains("0..=4294967295"),
            "{m}"
        );
        let m = bad(r#"{"command":"announce","prefix":"10.0.0.0/8","med":"10"}"#);
        assert!(m.contains("\"med\""), "{m}");
        let m = bad(r#"{"command":"announce","prefix":"10.0.0.0/8","prepend":33}"#);
        assert!(m.contains("0..=32"), "{m}");
        let m = bad(r#"{"command":"announce","prefix":"10.0.0.0/8","origin":"bgp"}"#);
        assert!(m.contains("\"igp\""), "{m}");
        let m = bad(r#"{"command":"announce","prefix":"10.0.0.0/8","nexthop":"self"}"#);
        assert!(
            m.contains("unknown field \"nexthop\"") && m.contains("next_hop"),
            "{m}"
        );
        let m = bad(r#"{"command":"announce","prefix":"10.0.0.0/8","next_hop":"2001:db8::1"}"#);
        assert!(m.contains("IPv6 for the IPv4 prefix"), "{m}");
        let m = bad(r#"{"command":"set-next-hop","prefix":"10.0.0.0/8","next_hop":"here"}"#);
        assert!(m.contains("\"self\" or an IP address"), "{m}");
        let m = bad(r#"{"command":"set-next-hop","prefix":"2001:db8::/48","next_hop":"10.1.2.3"}"#);
        assert!(m.contains("IPv4 for the IPv6 prefix"), "{m}");
        let m = bad(r#"{"command":"routes","view":"adj-in"}"#);
        assert!(m.contains("needs field \"peer\""), "{m}");
        let m = bad(r#"{"command":"routes","view":"rib"}"#);
        assert!(m.contains("\"loc-rib\""), "{m}");
        let m = bad(r#"{"command":"drain","mode":"prepend"}"#);
        assert!(m.contains("needs field \"count\""), "{m}");
        let m = bad(r#"{"command":"drain","mode":"prepend","count":0}"#);
        assert!(m.contains("1..=32"), "{m}");
        let m = bad(r#"{"command":"drain","count":2}"#);
        assert!(m.contains("only goes with"), "{m}");
        let m = bad(r#"{"command":"status","verbose":true}"#);
        assert!(m.contains("takes no other field"), "{m}");
    }

    #[test]
    fn long_values_are_cut_short_in_messages() {
        let long = "x".repeat(10_000);
        let m = bad(&format!(r#"{{"command":"withdraw","prefix":"{long}"}}"#));
        assert!(m.len() < 300, "{} bytes", m.len());
        let m = bad(&format!(r#"{{"command":"{long}"}}"#));
        assert!(m.len() < 300, "{} bytes", m.len());
        let m = bad(&format!(r#"{{"command":"status","{long}":1}}"#));
        assert!(m.len() < 300, "{} bytes", m.len());
    }
}
