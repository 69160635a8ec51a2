//! OPEN (RFC 4271 §4.2) with capabilities (RFC 5492), the extended optional
//! parameters length (RFC 9072), and what two OPENs negotiate.
//!
//! Decoding checks what a speaker can judge from the message alone (RFC 4271
//! §6.2: version, hold time, BGP Identifier, optional parameters; RFC 7607:
//! AS 0). Whether the AS is the one configured for the peer, and whether a
//! required capability is missing (RFC 5492 Unsupported Capability), is the
//! session's decision.

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use crate::attribute::as_path::AS_TRANS;
use crate::context::{Context, Families, MAX_MESSAGE_LEN};
use crate::error::{DecodeError, EncodeError};
use crate::framing::{HEADER_LEN, put_header};
use crate::iana::{Afi, CapabilityCode, ErrorCode, HeaderSubcode, MessageType, OpenSubcode, Safi};
use crate::message::capability::{
    self, AddPathFamily, AddPathMode, Capability, ExtendedNextHopFamily, GracefulRestart,
    LongLivedGracefulRestartFamily,
};
use crate::reader::Reader;

/// The only BGP version this crate speaks (RFC 4271 §4.2).
pub const BGP_VERSION: u8 = 4;

/// Optional parameter type of the Capabilities parameter (RFC 5492 §4).
pub const CAPABILITIES_PARAMETER: u8 = 2;

/// The Non-Ext OP Len / Non-Ext OP Type value announcing the extended
/// optional parameters format (RFC 9072 §2).
const EXTENDED_LENGTH: u8 = 255;

/// Offsets in the message (header included) of the fixed OPEN fields.
const VERSION_AT: usize = HEADER_LEN;
const MY_AS_AT: usize = HEADER_LEN + 1;
const HOLD_TIME_AT: usize = HEADER_LEN + 3;
const IDENTIFIER_AT: usize = HEADER_LEN + 5;

/// One optional parameter (RFC 4271 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OptionalParameter {
    /// Capabilities (2, RFC 5492 §4): any number per parameter.
    Capabilities(Vec<Capability>),
    /// Any other parameter. Decoding refuses these (Unsupported Optional
    /// Parameter, RFC 4271 §6.2); they exist so that a test peer can send
    /// one.
    Unknown {
        /// Parameter type.
        param_type: u8,
        /// Parameter value.
        value: Vec<u8>,
    },
}

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Open {
    /// Protocol version; always [`BGP_VERSION`] once decoded.
    pub version: u8,
    /// The 2-octet My Autonomous System field: AS_TRANS (23456) when the
    /// speaker's AS needs four octets (RFC 6793 §4.1); see [`Open::asn`].
    pub my_as: u16,
    /// Proposed hold time in seconds: 0 or at least 3.
    pub hold_time: u16,
    /// BGP Identifier (RFC 6286: any non-zero value).
    pub bgp_identifier: Ipv4Addr,
    /// Optional parameters in wire order.
    pub parameters: Vec<OptionalParameter>,
}

fn malformed(offset: usize, reason: &'static str) -> DecodeError {
    DecodeError::new(
        ErrorCode::OpenMessage(OpenSubcode::Unspecific),
        offset,
        reason,
    )
}

impl Open {
    /// Starts the OPEN this speaker sends; see [`OpenBuilder`].
    pub fn builder(asn: u32, hold_time: u16, bgp_identifier: Ipv4Addr) -> OpenBuilder {
        OpenBuilder::new(asn, hold_time, bgp_identifier)
    }

    /// Decodes an OPEN body (after the 19-byte header).
    ///
    /// Errors carry the RFC 4271 §6.2 NOTIFICATION: Unsupported Version
    /// Number (data: the largest supported version, 4, in two octets),
    /// Unacceptable Hold Time (1 or 2 seconds), Bad BGP Identifier (0.0.0.0;
    /// RFC 6286 allows any other value), Unsupported Optional Parameter (a
    /// parameter other than Capabilities), Bad Peer AS for AS 0 (RFC 7607
    /// §2; data: the My AS field), and OPEN Message Error / Unspecific for
    /// parameter or capability lengths that do not add up. Offsets count
    /// from the start of the message.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body, HEADER_LEN);
        let fixed = (r.u8(), r.u16(), r.u16(), r.u32());
        let (Some(version), Some(my_as), Some(hold_time), Some(identifier)) = fixed else {
            let len = u16::try_from(HEADER_LEN + body.len()).unwrap_or(u16::MAX);
            return Err(DecodeError::new(
                ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength),
                16,
                "OPEN shorter than its fixed fields",
            )
            .with_data(len.to_be_bytes()));
        };
        if version != BGP_VERSION {
            // RFC 4271 §6.2: the data is the largest locally supported
            // version below the peer's, or the smallest above it: 4 either
            // way.
            return Err(DecodeError::new(
                ErrorCode::OpenMessage(OpenSubcode::UnsupportedVersionNumber),
                VERSION_AT,
                "unsupported BGP version",
            )
            .with_data(u16::from(BGP_VERSION).to_be_bytes()));
        }
        if matches!(hold_time, 1 | 2) {
            return Err(DecodeError::new(
                ErrorCode::OpenMessage(OpenSubcode::UnacceptableHoldTime),
                HOLD_TIME_AT,
                "hold time of 1 or 2 seconds",
            ));
        }
        if identifier == 0 {
            return Err(DecodeError::new(
                ErrorCode::OpenMessage(OpenSubcode::BadBgpIdentifier),
                IDENTIFIER_AT,
                "BGP Identifier is 0.0.0.0",
            ));
        }
        let parameters = decode_parameters(&mut r)?;
        let open = Self {
            version,
            my_as,
            hold_time,
            bgp_identifier: Ipv4Addr::from(identifier),
            parameters,
        };
        if my_as == 0 || open.asn() == 0 {
            return Err(DecodeError::new(
                ErrorCode::OpenMessage(OpenSubcode::BadPeerAs),
                MY_AS_AT,
                "AS 0 in OPEN",
            )
            .with_data(my_as.to_be_bytes()));
        }
        Ok(open)
    }

    /// Appends the OPEN (header included) to `out`.
    ///
    /// The classic one-octet parameter lengths are used when they suffice;
    /// otherwise the RFC 9072 extended format, which only speakers that
    /// implement it understand. Nothing is written on error. An OPEN never
    /// exceeds 4096 bytes, even with extended messages (RFC 8654 §4).
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let mut params: Vec<(u8, Vec<u8>)> = Vec::with_capacity(self.parameters.len());
        for p in &self.parameters {
            match p {
                OptionalParameter::Capabilities(caps) => {
                    let mut value = Vec::new();
                    for c in caps {
                        c.encode(&mut value)?;
                    }
                    params.push((CAPABILITIES_PARAMETER, value));
                }
                OptionalParameter::Unknown { param_type, value } => {
                    if *param_type == EXTENDED_LENGTH {
                        return Err(EncodeError::Unrepresentable(
                            "optional parameter type 255 is reserved (RFC 9072)",
                        ));
                    }
                    params.push((*param_type, value.clone()));
                }
            }
        }
        let classic_len: usize = params.iter().map(|(_, v)| 2 + v.len()).sum();
        let extended = classic_len > 255 || params.iter().any(|(_, v)| v.len() > 255);
        let (params_len, head) = if extended {
            (params.iter().map(|(_, v)| 3 + v.len()).sum::<usize>(), 4)
        } else {
            (classic_len, 1)
        };
        let len = HEADER_LEN + 9 + head + params_len;
        let too_long = EncodeError::TooLong {
            len,
            max: MAX_MESSAGE_LEN,
        };
        if len > MAX_MESSAGE_LEN {
            return Err(too_long);
        }
        let (Ok(len16), Ok(params16)) = (u16::try_from(len), u16::try_from(params_len)) else {
            return Err(too_long);
        };
        out.reserve(len);
        put_header(out, len16, MessageType::Open);
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.put_u32(u32::from(self.bgp_identifier));
        if extended {
            out.put_u8(EXTENDED_LENGTH);
            out.put_u8(EXTENDED_LENGTH);
            out.put_u16(params16);
        } else {
            // classic_len <= 255 here.
            out.put_u8(params16 as u8);
        }
        for (t, v) in &params {
            out.put_u8(*t);
            if extended {
                out.put_u16(v.len() as u16);
            } else {
                out.put_u8(v.len() as u8);
            }
            out.put_slice(v);
        }
        Ok(())
    }

    /// Every capability, across all Capabilities parameters, in wire order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.parameters.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(caps) => caps.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// True when a capability with `code` was advertised.
    pub fn has_capability(&self, code: CapabilityCode) -> bool {
        self.capabilities().any(|c| c.code() == code)
    }

    /// The AS of the 4-octet AS capability, `None` for a 2-octet speaker.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
    }

    /// The speaker's AS: the 4-octet AS capability when present, else the
    /// My AS field (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// The families of the multiprotocol capabilities, without duplicates;
    /// IPv4 unicast when there is none, which is what a speaker without
    /// RFC 4760 carries.
    pub fn families(&self) -> Vec<(Afi, Safi)> {
        let mut out: Vec<(Afi, Safi)> = Vec::new();
        for c in self.capabilities() {
            if let Capability::Multiprotocol { afi, safi } = c {
                if !out.contains(&(*afi, *safi)) {
                    out.push((*afi, *safi));
                }
            }
        }
        if out.is_empty() {
            out.push((Afi::Ipv4, Safi::Unicast));
        }
        out
    }

    /// The ADD-PATH mode advertised for a family (the last one when it is
    /// listed more than once).
    pub fn add_path_mode(&self, afi: Afi, safi: Safi) -> Option<AddPathMode> {
        self.capabilities()
            .filter_map(|c| match c {
                Capability::AddPath(families) => Some(families.as_slice()),
                _ => None,
            })
            .flatten()
            .filter(|f| f.afi == afi && f.safi == safi)
            .map(|f| f.mode)
            .last()
    }

    /// The graceful restart capability.
    pub fn graceful_restart(&self) -> Option<&GracefulRestart> {
        self.capabilities().find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr),
            _ => None,
        })
    }

    /// The long-lived graceful restart capability.
    pub fn long_lived_graceful_restart(&self) -> Option<&[LongLivedGracefulRestartFamily]> {
        self.capabilities().find_map(|c| match c {
            Capability::LongLivedGracefulRestart(f) => Some(f.as_slice()),
            _ => None,
        })
    }

    /// Host and domain name of the FQDN capability.
    pub fn fqdn(&self) -> Option<(&str, &str)> {
        self.capabilities().find_map(|c| match c {
            Capability::Fqdn { hostname, domain } => Some((hostname.as_str(), domain.as_str())),
            _ => None,
        })
    }
}

/// Reads the optional parameters: the classic form (one-octet lengths) or
/// the RFC 9072 extended form (Non-Ext OP Len and Non-Ext OP Type both 255,
/// then a two-octet total and two-octet parameter lengths). They must fill
/// the rest of the message exactly.
fn decode_parameters(r: &mut Reader<'_>) -> Result<Vec<OptionalParameter>, DecodeError> {
    let len_at = r.offset();
    let Some(non_ext_len) = r.u8() else {
        return Err(malformed(len_at, "optional parameters length missing"));
    };
    let extended = non_ext_len == EXTENDED_LENGTH && r.rest().first() == Some(&EXTENDED_LENGTH);
    let params_len = if extended {
        let _marker = r.u8();
        let Some(ext_len) = r.u16() else {
            return Err(malformed(
                len_at,
                "extended optional parameters length truncated",
            ));
        };
        usize::from(ext_len)
    } else {
        usize::from(non_ext_len)
    };
    let Some(mut region) = r.sub(params_len) else {
        return Err(malformed(len_at, "optional parameters overrun the message"));
    };
    if !r.is_empty() {
        return Err(malformed(r.offset(), "bytes after the optional parameters"));
    }
    let mut params = Vec::new();
    while !region.is_empty() {
        let at = region.offset();
        let param_type = region.u8();
        let len = if extended {
            region.u16().map(usize::from)
        } else {
            region.u8().map(usize::from)
        };
        let (Some(param_type), Some(len)) = (param_type, len) else {
            return Err(malformed(at, "optional parameter header truncated"));
        };
        let value_at = region.offset();
        let Some(value) = region.bytes(len) else {
            return Err(malformed(
                at,
                "optional parameter overruns the optional parameters",
            ));
        };
        if param_type != CAPABILITIES_PARAMETER {
            return Err(DecodeError::new(
                ErrorCode::OpenMessage(OpenSubcode::UnsupportedOptionalParameter),
                at,
                "optional parameter other than capabilities",
            ));
        }
        params.push(OptionalParameter::Capabilities(capability::decode_list(
            value, value_at,
        )?));
    }
    Ok(params)
}

/// Builds the OPEN this speaker sends.
///
/// Capabilities come out in one Capabilities parameter, in a fixed order:
/// multiprotocol, route refresh, enhanced route refresh, 4-octet AS (always
/// present: this is a 4-octet speaker, RFC 6793 §3), extended message,
/// ADD-PATH, extended next hop, graceful restart, long-lived graceful
/// restart, FQDN, then any added with [`OpenBuilder::capability`].
#[derive(Debug, Clone)]
pub struct OpenBuilder {
    asn: u32,
    hold_time: u16,
    bgp_identifier: Ipv4Addr,
    families: Vec<(Afi, Safi)>,
    route_refresh: bool,
    enhanced_route_refresh: bool,
    extended_message: bool,
    add_path: Vec<AddPathFamily>,
    extended_next_hop: Vec<ExtendedNextHopFamily>,
    graceful_restart: Option<GracefulRestart>,
    long_lived_graceful_restart: Option<Vec<LongLivedGracefulRestartFamily>>,
    fqdn: Option<(String, String)>,
    extra: Vec<Capability>,
}

impl OpenBuilder {
    /// An OPEN for AS `asn` with no capability but 4-octet AS.
    pub fn new(asn: u32, hold_time: u16, bgp_identifier: Ipv4Addr) -> Self {
        Self {
            asn,
            hold_time,
            bgp_identifier,
            families: Vec::new(),
            route_refresh: false,
            enhanced_route_refresh: false,
            extended_message: false,
            add_path: Vec::new(),
            extended_next_hop: Vec::new(),
            graceful_restart: None,
            long_lived_graceful_restart: None,
            fqdn: None,
            extra: Vec::new(),
        }
    }

    /// Advertises a multiprotocol family (RFC 4760 §8).
    pub fn family(mut self, afi: Afi, safi: Safi) -> Self {
        if !self.families.contains(&(afi, safi)) {
            self.families.push((afi, safi));
        }
        self
    }

    /// Advertises route refresh (RFC 2918).
    pub fn route_refresh(mut self) -> Self {
        self.route_refresh = true;
        self
    }

    /// Advertises enhanced route refresh (RFC 7313); implies route refresh.
    pub fn enhanced_route_refresh(mut self) -> Self {
        self.route_refresh = true;
        self.enhanced_route_refresh = true;
        self
    }

    /// Advertises extended messages (RFC 8654).
    pub fn extended_message(mut self) -> Self {
        self.extended_message = true;
        self
    }

    /// Advertises ADD-PATH for a family (RFC 7911).
    pub fn add_path(mut self, afi: Afi, safi: Safi, mode: AddPathMode) -> Self {
        self.add_path.retain(|f| (f.afi, f.safi) != (afi, safi));
        self.add_path.push(AddPathFamily { afi, safi, mode });
        self
    }

    /// Advertises next hops of `next_hop_afi` for NLRI of
    /// `(nlri_afi, nlri_safi)` (RFC 8950).
    pub fn extended_next_hop(mut self, nlri_afi: Afi, nlri_safi: Safi, next_hop_afi: Afi) -> Self {
        self.extended_next_hop.push(ExtendedNextHopFamily {
            nlri_afi,
            nlri_safi,
            next_hop_afi,
        });
        self
    }

    /// Advertises graceful restart (RFC 4724).
    pub fn graceful_restart(mut self, gr: GracefulRestart) -> Self {
        self.graceful_restart = Some(gr);
        self
    }

    /// Advertises long-lived graceful restart (RFC 9494).
    pub fn long_lived_graceful_restart(
        mut self,
        families: Vec<LongLivedGracefulRestartFamily>,
    ) -> Self {
        self.long_lived_graceful_restart = Some(families);
        self
    }

    /// Advertises a host and domain name (draft-walton-bgp-hostname).
    pub fn fqdn(mut self, hostname: impl Into<String>, domain: impl Into<String>) -> Self {
        self.fqdn = Some((hostname.into(), domain.into()));
        self
    }

    /// Adds any other capability, after the ones above.
    pub fn capability(mut self, capability: Capability) -> Self {
        self.extra.push(capability);
        self
    }

    /// The OPEN. An AS above 65535 goes in the 4-octet AS capability with
    /// AS_TRANS in My AS (RFC 6793 §4.1).
    ///
    /// Refuses AS 0 (RFC 7607) and AS_TRANS, a hold time of 1 or 2 seconds
    /// (RFC 4271 §4.2), BGP Identifier 0.0.0.0 (RFC 6286), and anything the
    /// encoding cannot hold (a capability over 255 bytes, an OPEN over 4096).
    pub fn build(self) -> Result<Open, EncodeError> {
        if self.asn == 0 || self.asn == AS_TRANS {
            return Err(EncodeError::Unrepresentable(
                "AS 0 and AS_TRANS cannot be a speaker's AS",
            ));
        }
        if matches!(self.hold_time, 1 | 2) {
            return Err(EncodeError::Unrepresentable(
                "hold time must be 0 or at least 3 seconds",
            ));
        }
        if self.bgp_identifier.is_unspecified() {
            return Err(EncodeError::Unrepresentable(
                "BGP Identifier must not be 0.0.0.0",
            ));
        }
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|&(afi, safi)| Capability::Multiprotocol { afi, safi })
            .collect();
        if self.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if self.enhanced_route_refresh {
            caps.push(Capability::EnhancedRouteRefresh);
        }
        caps.push(Capability::FourOctetAs(self.asn));
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if !self.add_path.is_empty() {
            caps.push(Capability::AddPath(self.add_path));
        }
        if !self.extended_next_hop.is_empty() {
            caps.push(Capability::ExtendedNextHop(self.extended_next_hop));
        }
        if let Some(gr) = self.graceful_restart {
            caps.push(Capability::GracefulRestart(gr));
        }
        if let Some(llgr) = self.long_lived_graceful_restart {
            caps.push(Capability::LongLivedGracefulRestart(llgr));
        }
        if let Some((hostname, domain)) = self.fqdn {
            caps.push(Capability::Fqdn { hostname, domain });
        }
        caps.extend(self.extra);
        let open = Open {
            version: BGP_VERSION,
            my_as: u16::try_from(self.asn).unwrap_or(AS_TRANS as u16),
            hold_time: self.hold_time,
            bgp_identifier: self.bgp_identifier,
            parameters: vec![OptionalParameter::Capabilities(caps)],
        };
        // Surface encoding limits now rather than at session start.
        open.encode(&mut BytesMut::new())?;
        Ok(open)
    }
}

/// What a session's two OPENs negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Both sent the 4-octet AS capability (RFC 6793 §4).
    pub four_octet_as: bool,
    /// Both sent the extended message capability (RFC 8654 §3).
    pub extended_message: bool,
    /// Both sent the route refresh capability (code 2, RFC 2918 §2): each
    /// side may send ROUTE-REFRESH. The pre-standard code 128 does not count.
    pub route_refresh: bool,
    /// Both sent route refresh and enhanced route refresh (RFC 7313 §3):
    /// BoRR / EoRR markers may be used.
    pub enhanced_route_refresh: bool,
    /// Families whose NLRI from the peer carry path identifiers: we
    /// advertised receive, the peer send (RFC 7911 §4).
    pub add_path_receive: Families,
    /// Families whose NLRI to the peer carry path identifiers: we
    /// advertised send, the peer receive.
    pub add_path_send: Families,
    /// Multiprotocol families both advertised, in our order (RFC 4760 §8).
    pub families: Vec<(Afi, Safi)>,
    /// The smaller of the two hold times (RFC 4271 §4.2): 0 (no keepalives)
    /// or at least 3 seconds.
    pub hold_time: u16,
    /// The peer's graceful restart capability (RFC 4724).
    pub peer_graceful_restart: Option<GracefulRestart>,
    /// The peer's long-lived graceful restart families (RFC 9494).
    pub peer_long_lived_graceful_restart: Option<Vec<LongLivedGracefulRestartFamily>>,
    /// State for decoding what the peer sends.
    pub rx: Context,
    /// State for encoding what we send.
    pub tx: Context,
}

impl Negotiated {
    /// True when both advertised `(afi, safi)`.
    pub fn has_family(&self, afi: Afi, safi: Safi) -> bool {
        self.families.contains(&(afi, safi))
    }

    /// The negotiated families among those whose NLRI this crate decodes.
    pub fn unicast_families(&self) -> Families {
        self.families
            .iter()
            .filter_map(|&(afi, safi)| Families::of(afi, safi))
            .fold(Families::NONE, Families::union)
    }
}

/// What the OPEN we sent (`local`) and the one the peer sent (`remote`)
/// negotiate.
pub fn negotiate(local: &Open, remote: &Open) -> Negotiated {
    let both = |code| local.has_capability(code) && remote.has_capability(code);
    let four_octet_as = local.four_octet_as().is_some() && remote.four_octet_as().is_some();
    let extended_message = both(CapabilityCode::ExtendedMessage);
    let route_refresh = both(CapabilityCode::RouteRefresh);
    let enhanced_route_refresh = route_refresh && both(CapabilityCode::EnhancedRouteRefresh);

    let remote_families = remote.families();
    let families: Vec<(Afi, Safi)> = local
        .families()
        .into_iter()
        .filter(|f| remote_families.contains(f))
        .collect();

    let mut add_path_receive = Families::NONE;
    let mut add_path_send = Families::NONE;
    for (afi, safi, set) in [
        (Afi::Ipv4, Safi::Unicast, Families::IPV4_UNICAST),
        (Afi::Ipv6, Safi::Unicast, Families::IPV6_UNICAST),
    ] {
        let (Some(ours), Some(theirs)) = (
            local.add_path_mode(afi, safi),
            remote.add_path_mode(afi, safi),
        ) else {
            continue;
        };
        if ours.receives() && theirs.sends() {
            add_path_receive = add_path_receive | set;
        }
        if ours.sends() && theirs.receives() {
            add_path_send = add_path_send | set;
        }
    }

    let hold_time = match local.hold_time.min(remote.hold_time) {
        // Only reachable with an unchecked local OPEN: never go below 3.
        1 | 2 => 3,
        h => h,
    };
    Negotiated {
        four_octet_as,
        extended_message,
        route_refresh,
        enhanced_route_refresh,
        add_path_receive,
        add_path_send,
        families,
        hold_time,
        peer_graceful_restart: remote.graceful_restart().cloned(),
        peer_long_lived_graceful_restart: remote.long_lived_graceful_restart().map(<[_]>::to_vec),
        rx: Context {
            four_octet_as,
            add_path: add_path_receive,
            extended_message,
        },
        tx: Context {
            four_octet_as,
            add_path: add_path_send,
            extended_message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(open: &Open) -> Vec<u8> {
        let mut out = BytesMut::new();
        open.encode(&mut out).unwrap();
        out[HEADER_LEN..].to_vec()
    }

    fn agent() -> Open {
        Open::builder(4_200_000_001, 90, Ipv4Addr::new(10, 0, 0, 4))
            .family(Afi::Ipv4, Safi::Unicast)
            .family(Afi::Ipv6, Safi::Unicast)
            .enhanced_route_refresh()
            .extended_message()
            .add_path(Afi::Ipv4, Safi::Unicast, AddPathMode::Receive)
            .build()
            .unwrap()
    }

    #[test]
    fn builder_puts_large_asns_in_the_capability() {
        let open = agent();
        assert_eq!(open.my_as, 23456);
        assert_eq!(open.asn(), 4_200_000_001);
        let small = Open::builder(65001, 180, Ipv4Addr::new(10, 0, 0, 4))
            .build()
            .unwrap();
        assert_eq!(small.my_as, 65001);
        assert_eq!(small.four_octet_as(), Some(65001));
        assert_eq!(small.families(), [(Afi::Ipv4, Safi::Unicast)]);
        assert_eq!(Open::decode(&body(&open)).unwrap(), open);
    }

    #[test]
    fn builder_refuses_invalid_values() {
        let id = Ipv4Addr::new(10, 0, 0, 4);
        assert!(Open::builder(0, 90, id).build().is_err());
        assert!(Open::builder(23456, 90, id).build().is_err());
        assert!(Open::builder(65001, 2, id).build().is_err());
        assert!(
            Open::builder(65001, 90, Ipv4Addr::UNSPECIFIED)
                .build()
                .is_err()
        );
        assert!(Open::builder(65001, 0, id).build().is_ok());
    }

    #[test]
    fn large_parameters_use_the_extended_format() {
        let mut b = Open::builder(65001, 90, Ipv4Addr::new(192, 0, 2, 1));
        for code in 200..=240u8 {
            b = b.capability(Capability::Unknown {
                code,
                value: vec![code; 6],
            });
        }
        let open = b.build().unwrap();
        let wire = body(&open);
        assert_eq!(&wire[9..11], [255, 255]);
        let ext_len = usize::from(u16::from_be_bytes([wire[11], wire[12]]));
        assert_eq!(ext_len, wire.len() - 13);
        assert_eq!(wire[13], CAPABILITIES_PARAMETER);
        assert_eq!(Open::decode(&wire).unwrap(), open);
    }

    #[test]
    fn negotiation_takes_the_intersection() {
        let local = agent();
        let remote = Open::builder(65515, 180, Ipv4Addr::new(10, 1, 0, 4))
            .family(Afi::Ipv4, Safi::Unicast)
            .route_refresh()
            .add_path(Afi::Ipv4, Safi::Unicast, AddPathMode::Both)
            .graceful_restart(GracefulRestart {
                flags: 0,
                restart_time: 120,
                families: vec![],
            })
            .build()
            .unwrap();
        let n = negotiate(&local, &remote);
        assert!(n.four_octet_as && n.route_refresh);
        assert!(!n.enhanced_route_refresh && !n.extended_message);
        assert_eq!(n.families, [(Afi::Ipv4, Safi::Unicast)]);
        assert_eq!(n.unicast_families(), Families::IPV4_UNICAST);
        assert_eq!(n.hold_time, 90);
        assert_eq!(n.add_path_receive, Families::IPV4_UNICAST);
        assert_eq!(n.add_path_send, Families::NONE);
        assert_eq!(n.rx.add_path, Families::IPV4_UNICAST);
        assert_eq!(n.tx.add_path, Families::NONE);
        assert_eq!(n.peer_graceful_restart.map(|g| g.restart_time), Some(120));
        // The other direction mirrors it.
        let m = negotiate(&remote, &local);
        assert_eq!(m.add_path_send, Families::IPV4_UNICAST);
        assert_eq!(m.add_path_receive, Families::NONE);
        assert!(m.peer_graceful_restart.is_none());
    }

    #[test]
    fn hold_time_zero_wins() {
        let mut local = agent();
        local.hold_time = 0;
        assert_eq!(negotiate(&local, &agent()).hold_time, 0);
        local.hold_time = 1;
        assert_eq!(negotiate(&local, &agent()).hold_time, 3);
    }
}
