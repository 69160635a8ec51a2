//! The JSON form of decoded messages (README.md, "nvabgp decode: JSON
//! format").
//!
//! Every object is a struct, so its keys come out in declaration order
//! whatever map order serde_json is built with; absent attributes and empty
//! lists are left out rather than written as `null` or `[]`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bgp_proto::attribute::{AsPathView, NextHop, SegmentType};
use bgp_proto::message::capability::{AddPathMode, Capability};
use bgp_proto::message::open::OptionalParameter;
use bgp_proto::message::route_refresh::RouteRefreshSubtype;
use bgp_proto::{
    Action, Afi, AttributeError, AttributeType, ErrorCode, Message, Nlri, Notification, Open,
    RouteRefresh, Safi, Update,
};
use serde::Serialize;

use super::Decoded;

/// One message as JSON: `type`, `offset`, `length`, then the fields of its
/// type.
#[derive(Debug, Serialize)]
pub struct MessageJson {
    /// RFC name of the message type ("OPEN", "UPDATE", ...).
    #[serde(rename = "type")]
    pub message_type: &'static str,
    /// Offset of the message in the input.
    pub offset: usize,
    /// Length in bytes, header included.
    pub length: usize,
    /// The fields of the message type.
    #[serde(flatten)]
    pub body: BodyJson,
}

/// The type-specific fields of a message.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum BodyJson {
    /// OPEN.
    Open(OpenJson),
    /// UPDATE.
    Update(Box<UpdateJson>),
    /// NOTIFICATION.
    Notification(NotificationJson),
    /// KEEPALIVE: nothing beyond the header.
    Keepalive {},
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefreshJson),
}

/// Renders a decoded message.
pub fn to_json(d: &Decoded<'_>) -> MessageJson {
    let body = match &d.message {
        Message::Open(o) => BodyJson::Open(open_json(o)),
        Message::Update(u) => BodyJson::Update(Box::new(update_json(u, d.offset))),
        Message::Notification(n) => BodyJson::Notification(notification_json(n)),
        Message::Keepalive => BodyJson::Keepalive {},
        Message::RouteRefresh(r) => BodyJson::RouteRefresh(route_refresh_json(r)),
    };
    MessageJson {
        message_type: d.message.message_type().name(),
        offset: d.offset,
        length: d.bytes.len(),
        body,
    }
}

fn hex(b: &[u8]) -> String {
    use fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// `ipv4-unicast`, `ipv6-unicast`, `l2vpn-evpn`...; `AFI/SAFI` in numbers
/// when either has no name.
pub fn family_name(afi: Afi, safi: Safi) -> String {
    match (afi.name(), safi.name()) {
        (Some(a), Some(s)) => format!("{}-{s}", a.to_ascii_lowercase()),
        _ => format!("{}/{}", u16::from(afi), u8::from(safi)),
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A prefix: `"10.0.0.0/8"`, or `{"prefix": "10.0.0.0/8", "path_id": 1}`
/// when the family carries ADD-PATH identifiers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PrefixJson {
    /// Without path identifier.
    Plain(String),
    /// With an RFC 7911 path identifier.
    WithPathId {
        /// The prefix.
        prefix: String,
        /// The path identifier.
        path_id: u32,
    },
}

fn prefixes(it: impl Iterator<Item = Nlri>) -> Vec<PrefixJson> {
    it.map(|n| match n.path_id {
        None => PrefixJson::Plain(n.prefix.to_string()),
        Some(path_id) => PrefixJson::WithPathId {
            prefix: n.prefix.to_string(),
            path_id,
        },
    })
    .collect()
}

// ---- OPEN ----

/// OPEN (RFC 4271 §4.2).
#[derive(Debug, Serialize)]
pub struct OpenJson {
    /// Protocol version.
    pub version: u8,
    /// The 2-octet My AS field (23456 for a 4-octet AS).
    pub my_as: u16,
    /// The speaker's AS: the 4-octet AS capability, else My AS.
    pub asn: u32,
    /// Proposed hold time, seconds.
    pub hold_time: u16,
    /// BGP Identifier.
    pub bgp_identifier: Ipv4Addr,
    /// Capabilities in wire order, across all optional parameters.
    pub capabilities: Vec<CapabilityJson>,
    /// Optional parameters other than capabilities.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_parameters: Vec<ParameterJson>,
}

/// An optional parameter other than Capabilities.
#[derive(Debug, Serialize)]
pub struct ParameterJson {
    /// Parameter type.
    #[serde(rename = "type")]
    pub param_type: u8,
    /// Value in hex.
    pub value: String,
}

/// One capability: `code`, `name`, and the fields of its type.
#[derive(Debug, Default, Serialize)]
pub struct CapabilityJson {
    /// Capability code.
    pub code: u8,
    /// Its IANA name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    /// Multiprotocol: the family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// 4-octet AS: the AS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// Graceful restart: the 4 restart flag bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_flags: Option<u8>,
    /// Graceful restart: the restart time, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_time: Option<u16>,
    /// FQDN: host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// FQDN: domain name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// ADD-PATH, graceful restart, long-lived graceful restart, extended
    /// next hop: one entry per family.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<CapabilityFamilyJson>,
    /// Any other capability: the value in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One family of a capability.
#[derive(Debug, Default, Serialize)]
pub struct CapabilityFamilyJson {
    /// `ipv4-unicast`, ...
    pub family: String,
    /// ADD-PATH: "receive", "send" or "both".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_path: Option<String>,
    /// Graceful restart and LLGR: the family's flags octet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u8>,
    /// LLGR: long-lived stale time, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_time: Option<u32>,
    /// Extended next hop: AFI of the next hop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop_afi: Option<u16>,
}

fn open_json(o: &Open) -> OpenJson {
    OpenJson {
        version: o.version,
        my_as: o.my_as,
        asn: o.asn(),
        hold_time: o.hold_time,
        bgp_identifier: o.bgp_identifier,
        capabilities: o.capabilities().map(capability_json).collect(),
        other_parameters: o
            .parameters
            .iter()
            .filter_map(|p| match p {
                OptionalParameter::Unknown { param_type, value } => Some(ParameterJson {
                    param_type: *param_type,
                    value: hex(value),
                }),
                OptionalParameter::Capabilities(_) => None,
            })
            .collect(),
    }
}

fn capability_json(c: &Capability) -> CapabilityJson {
    let code = c.code();
    let mut j = CapabilityJson {
        code: code.into(),
        name: code.name(),
        ..CapabilityJson::default()
    };
    let family = |afi, safi| CapabilityFamilyJson {
        family: family_name(afi, safi),
        ..CapabilityFamilyJson::default()
    };
    match c {
        Capability::Multiprotocol { afi, safi } => j.family = Some(family_name(*afi, *safi)),
        Capability::FourOctetAs(asn) => j.asn = Some(*asn),
        Capability::GracefulRestart(gr) => {
            j.restart_flags = Some(gr.flags);
            j.restart_time = Some(gr.restart_time);
            j.families = gr
                .families
                .iter()
                .map(|f| CapabilityFamilyJson {
                    flags: Some(f.flags),
                    ..family(f.afi, f.safi)
                })
                .collect();
        }
        Capability::AddPath(families) => {
            j.families = families
                .iter()
                .map(|f| CapabilityFamilyJson {
                    add_path: Some(match f.mode {
                        AddPathMode::Receive => "receive".to_string(),
                        AddPathMode::Send => "send".to_string(),
                        AddPathMode::Both => "both".to_string(),
                        AddPathMode::Unknown(v) => v.to_string(),
                    }),
                    ..family(f.afi, f.safi)
                })
                .collect();
        }
        Capability::ExtendedNextHop(families) => {
            j.families = families
                .iter()
                .map(|f| CapabilityFamilyJson {
                    next_hop_afi: Some(f.next_hop_afi.into()),
                    ..family(f.nlri_afi, f.nlri_safi)
                })
                .collect();
        }
        Capability::LongLivedGracefulRestart(families) => {
            j.families = families
                .iter()
                .map(|f| CapabilityFamilyJson {
                    flags: Some(f.flags),
                    stale_time: Some(f.stale_time),
                    ..family(f.afi, f.safi)
                })
                .collect();
        }
        Capability::Fqdn { hostname, domain } => {
            j.hostname = Some(hostname.clone());
            j.domain = Some(domain.clone());
        }
        Capability::Unknown { value, .. } => j.value = Some(hex(value)),
        Capability::RouteRefresh
        | Capability::RouteRefreshCisco
        | Capability::EnhancedRouteRefresh
        | Capability::ExtendedMessage => {}
    }
    j
}

// ---- UPDATE ----

/// UPDATE (RFC 4271 §4.3). Absent attributes and empty lists are left out.
#[derive(Debug, Default, Serialize)]
pub struct UpdateJson {
    /// The Withdrawn Routes field (IPv4).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<PrefixJson>,
    /// ORIGIN: "igp", "egp", "incomplete".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<&'static str>,
    /// AS_PATH as received (2-octet ASNs on a 2-octet session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_path: Option<Vec<SegmentJson>>,
    /// The AS path a speaker uses, as text: AS_PATH, merged with AS4_PATH
    /// on a 2-octet session (RFC 6793 §4.2.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_path_string: Option<String>,
    /// AS4_PATH as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as4_path: Option<Vec<SegmentJson>>,
    /// NEXT_HOP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,
    /// LOCAL_PREF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    #[serde(skip_serializing_if = "is_false")]
    pub atomic_aggregate: bool,
    /// AGGREGATOR as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregator: Option<AggregatorJson>,
    /// AS4_AGGREGATOR as received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as4_aggregator: Option<AggregatorJson>,
    /// COMMUNITIES, `"65001:10"`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// LARGE_COMMUNITY, `"65001:1:2"`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub large_communities: Vec<String>,
    /// EXTENDED_COMMUNITIES: `"rt:65001:100"`, `"soo:192.0.2.1:7"`, or
    /// the 8 bytes in hex (`"0x..."`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extended_communities: Vec<String>,
    /// ORIGINATOR_ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cluster_list: Vec<Ipv4Addr>,
    /// MP_REACH_NLRI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mp_reach: Option<MpReachJson>,
    /// MP_UNREACH_NLRI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mp_unreach: Option<MpUnreachJson>,
    /// Attributes of types without a field above, as received.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_attributes: Vec<RawAttributeJson>,
    /// The NLRI field (IPv4).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nlri: Vec<PrefixJson>,
    /// The family this UPDATE is the End-of-RIB marker of (RFC 4724 §2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_of_rib: Option<String>,
    /// RFC 7606 findings, in the order found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<AttributeErrorJson>,
    /// The strongest RFC 7606 action the findings call for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
}

/// One AS_PATH segment.
#[derive(Debug, Serialize)]
pub struct SegmentJson {
    /// "AS_SEQUENCE", "AS_SET", "AS_CONFED_SEQUENCE", "AS_CONFED_SET".
    #[serde(rename = "type")]
    pub segment_type: &'static str,
    /// The ASNs in wire order.
    pub asns: Vec<u32>,
}

/// AGGREGATOR or AS4_AGGREGATOR.
#[derive(Debug, Serialize)]
pub struct AggregatorJson {
    /// The aggregating AS.
    pub asn: u32,
    /// The aggregating speaker's address.
    pub address: Ipv4Addr,
}

/// MP_REACH_NLRI (RFC 4760 §3).
#[derive(Debug, Serialize)]
pub struct MpReachJson {
    /// Family name.
    pub family: String,
    /// AFI.
    pub afi: u16,
    /// SAFI.
    pub safi: u8,
    /// Next hop (the global address for IPv6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<IpAddr>,
    /// IPv6 link-local next hop, when 32 bytes were sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_local_next_hop: Option<Ipv6Addr>,
    /// A next hop of another length, in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop_hex: Option<String>,
    /// Prefixes of IPv4/IPv6 unicast.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nlri: Vec<PrefixJson>,
    /// The NLRI field of other families, in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nlri_hex: Option<String>,
}

/// MP_UNREACH_NLRI (RFC 4760 §4).
#[derive(Debug, Serialize)]
pub struct MpUnreachJson {
    /// Family name.
    pub family: String,
    /// AFI.
    pub afi: u16,
    /// SAFI.
    pub safi: u8,
    /// Withdrawn prefixes of IPv4/IPv6 unicast.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<PrefixJson>,
    /// The withdrawn routes field of other families, in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_hex: Option<String>,
}

/// An attribute shown as received.
#[derive(Debug, Serialize)]
pub struct RawAttributeJson {
    /// Type code.
    pub type_code: u8,
    /// Flags octet.
    pub flags: u8,
    /// Value in hex.
    pub value: String,
}

/// An RFC 7606 finding.
#[derive(Debug, Serialize)]
pub struct AttributeErrorJson {
    /// Attribute name (or "attribute NN" when it has none).
    pub attribute: String,
    /// Its type code.
    pub type_code: u8,
    /// "attribute-discard", "treat-as-withdraw", ...
    pub action: &'static str,
    /// The NOTIFICATION code it would have been without RFC 7606.
    pub code: u8,
    /// The NOTIFICATION subcode.
    pub subcode: u8,
    /// Name of the subcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subcode_name: Option<&'static str>,
    /// What was wrong.
    pub reason: &'static str,
    /// Offset of the attribute in the input.
    pub offset: usize,
    /// The NOTIFICATION data in hex.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data: String,
}

fn segments(view: &AsPathView<'_>) -> Vec<SegmentJson> {
    view.segments()
        .map(|(kind, asns)| SegmentJson {
            segment_type: match kind {
                SegmentType::Set => "AS_SET",
                SegmentType::Sequence => "AS_SEQUENCE",
                SegmentType::ConfedSequence => "AS_CONFED_SEQUENCE",
                SegmentType::ConfedSet => "AS_CONFED_SET",
            },
            asns: asns.collect(),
        })
        .collect()
}

/// Attribute types with their own field in [`UpdateJson`].
fn has_field(t: AttributeType) -> bool {
    !matches!(t, AttributeType::OnlyToCustomer | AttributeType::Unknown(_))
}

fn update_json(u: &Update<'_>, message_offset: usize) -> UpdateJson {
    let aggregator = |a: bgp_proto::Aggregator| AggregatorJson {
        asn: a.asn,
        address: a.address,
    };
    UpdateJson {
        withdrawn: prefixes(u.withdrawn_routes()),
        origin: u.origin().map(|o| o.name()),
        as_path: u.as_path_view().map(|v| segments(&v)),
        as_path_string: u.as_path().map(|p| p.to_string()),
        as4_path: u.as4_path_view().map(|v| segments(&v)),
        next_hop: u.next_hop(),
        med: u.med(),
        local_pref: u.local_pref(),
        atomic_aggregate: u.atomic_aggregate(),
        aggregator: u.aggregator_raw().map(aggregator),
        as4_aggregator: u.as4_aggregator().map(aggregator),
        communities: u.communities().map(|c| c.to_string()).collect(),
        large_communities: u.large_communities().map(|c| c.to_string()).collect(),
        extended_communities: u.extended_communities().map(|c| c.to_string()).collect(),
        originator_id: u.originator_id(),
        cluster_list: u.cluster_list().collect(),
        mp_reach: u.mp_reach().map(|m| {
            let (next_hop, link_local_next_hop, next_hop_hex) = match m.next_hop() {
                NextHop::V4(a) => (Some(IpAddr::V4(a)), None, None),
                NextHop::V6 { global, link_local } => (Some(IpAddr::V6(global)), link_local, None),
                NextHop::Other(b) => (None, None, Some(hex(&b))),
            };
            let nlri = prefixes(m.nlri());
            MpReachJson {
                family: family_name(m.afi, m.safi),
                afi: m.afi.into(),
                safi: m.safi.into(),
                next_hop,
                link_local_next_hop,
                next_hop_hex,
                nlri_hex: (nlri.is_empty() && !m.nlri_bytes.is_empty()).then(|| hex(m.nlri_bytes)),
                nlri,
            }
        }),
        mp_unreach: u.mp_unreach().map(|m| {
            let withdrawn = prefixes(m.nlri());
            MpUnreachJson {
                family: family_name(m.afi, m.safi),
                afi: m.afi.into(),
                safi: m.safi.into(),
                withdrawn_hex: (withdrawn.is_empty() && !m.nlri_bytes.is_empty())
                    .then(|| hex(m.nlri_bytes)),
                withdrawn,
            }
        }),
        other_attributes: u
            .attributes()
            .filter(|a| a.usable && !has_field(a.attribute_type()))
            .map(|a| RawAttributeJson {
                type_code: a.type_code,
                flags: a.flags,
                value: hex(a.value),
            })
            .collect(),
        nlri: prefixes(u.nlri()),
        end_of_rib: u.end_of_rib().map(|(afi, safi)| family_name(afi, safi)),
        errors: u
            .errors()
            .iter()
            .map(|e| attribute_error_json(e, message_offset))
            .collect(),
        action: u.action().map(Action::name),
    }
}

fn attribute_error_json(e: &AttributeError, message_offset: usize) -> AttributeErrorJson {
    let type_code = u8::from(e.attribute);
    AttributeErrorJson {
        attribute: e
            .attribute
            .name()
            .map_or_else(|| format!("attribute {type_code}"), str::to_string),
        type_code,
        action: e.action.name(),
        code: e.code.code(),
        subcode: e.code.subcode(),
        subcode_name: e.code.subcode_name(),
        reason: e.reason,
        offset: message_offset + e.offset,
        data: hex(&e.data),
    }
}

// ---- NOTIFICATION ----

/// NOTIFICATION (RFC 4271 §4.5).
#[derive(Debug, Serialize)]
pub struct NotificationJson {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Name of the code.
    pub code_name: &'static str,
    /// Name of the subcode, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subcode_name: Option<&'static str>,
    /// The RFC 8203 / RFC 9003 shutdown communication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_message: Option<String>,
    /// Data in hex.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data: String,
}

fn notification_json(n: &Notification) -> NotificationJson {
    let code: ErrorCode = n.code;
    NotificationJson {
        code: code.code(),
        subcode: code.subcode(),
        code_name: code.code_name(),
        subcode_name: code.subcode_name(),
        shutdown_message: n.shutdown_message().map(str::to_string),
        data: hex(&n.data),
    }
}

// ---- ROUTE-REFRESH ----

/// ROUTE-REFRESH (RFC 2918, RFC 7313).
#[derive(Debug, Serialize)]
pub struct RouteRefreshJson {
    /// Family name.
    pub family: String,
    /// AFI.
    pub afi: u16,
    /// SAFI.
    pub safi: u8,
    /// Message subtype: 0 request, 1 BoRR, 2 EoRR.
    pub subtype: u8,
    /// "request", "BoRR", "EoRR" (RFC 7313 §3.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtype_name: Option<&'static str>,
}

fn route_refresh_json(r: &RouteRefresh) -> RouteRefreshJson {
    RouteRefreshJson {
        family: family_name(r.afi, r.safi),
        afi: r.afi.into(),
        safi: r.safi.into(),
        subtype: r.subtype.into(),
        subtype_name: match r.subtype {
            RouteRefreshSubtype::Normal => Some("request"),
            RouteRefreshSubtype::BeginningOfRouteRefresh => Some("BoRR"),
            RouteRefreshSubtype::EndOfRouteRefresh => Some("EoRR"),
            RouteRefreshSubtype::Unknown(_) => None,
        },
    }
}
