//! IANA codepoints: message types, address families, attribute and capability
//! codes, NOTIFICATION codes and subcodes.
//!
//! Every enum that can meet a value it does not know has an `Unknown(_)`
//! fallback so that decoding never loses information. Subcodes are spelled
//! out per error code (RFC 4271 §4.5 and the registries that extend it); they
//! are never derived from another enum's discriminant.

/// Generates a `u8`/`u16` codepoint enum with an `Unknown` fallback, its
/// conversions and its RFC names.
macro_rules! codepoint {
    (
        $(#[$meta:meta])*
        $name:ident: $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this crate has no name for, kept as received.
            Unknown($repr),
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => Self::$variant, )*
                    other => Self::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )*
                    $name::Unknown(other) => other,
                }
            }
        }

        impl $name {
            /// The name the RFCs and IANA registry use, or `None` when unknown.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( Self::$variant => Some($text), )*
                    Self::Unknown(_) => None,
                }
            }
        }
    };
}

codepoint! {
    /// Address Family Identifier (IANA "Address Family Numbers").
    Afi: u16 {
        /// IPv4.
        Ipv4 = 1 => "IPv4",
        /// IPv6.
        Ipv6 = 2 => "IPv6",
        /// Layer-2 VPN (RFC 4761).
        L2vpn = 25 => "L2VPN",
        /// BGP-LS (RFC 7752).
        BgpLs = 16388 => "BGP-LS",
    }
}

codepoint! {
    /// Subsequent Address Family Identifier (RFC 4760).
    Safi: u8 {
        /// Unicast forwarding.
        Unicast = 1 => "unicast",
        /// Multicast forwarding.
        Multicast = 2 => "multicast",
        /// Labeled unicast (RFC 8277).
        LabeledUnicast = 4 => "labeled-unicast",
        /// EVPN (RFC 7432).
        Evpn = 70 => "evpn",
        /// MPLS-labeled VPN (RFC 4364).
        MplsVpn = 128 => "mpls-vpn",
        /// Flow specification (RFC 8955).
        FlowSpec = 133 => "flowspec",
    }
}

codepoint! {
    /// Path attribute type codes (RFC 4271 §5 and the IANA registry).
    AttributeType: u8 {
        /// ORIGIN (RFC 4271 §5.1.1).
        Origin = 1 => "ORIGIN",
        /// AS_PATH (RFC 4271 §5.1.2).
        AsPath = 2 => "AS_PATH",
        /// NEXT_HOP (RFC 4271 §5.1.3).
        NextHop = 3 => "NEXT_HOP",
        /// MULTI_EXIT_DISC (RFC 4271 §5.1.4).
        MultiExitDisc = 4 => "MULTI_EXIT_DISC",
        /// LOCAL_PREF (RFC 4271 §5.1.5).
        LocalPref = 5 => "LOCAL_PREF",
        /// ATOMIC_AGGREGATE (RFC 4271 §5.1.6).
        AtomicAggregate = 6 => "ATOMIC_AGGREGATE",
        /// AGGREGATOR (RFC 4271 §5.1.7).
        Aggregator = 7 => "AGGREGATOR",
        /// COMMUNITIES (RFC 1997).
        Communities = 8 => "COMMUNITIES",
        /// ORIGINATOR_ID (RFC 4456).
        OriginatorId = 9 => "ORIGINATOR_ID",
        /// CLUSTER_LIST (RFC 4456).
        ClusterList = 10 => "CLUSTER_LIST",
        /// MP_REACH_NLRI (RFC 4760).
        MpReachNlri = 14 => "MP_REACH_NLRI",
        /// MP_UNREACH_NLRI (RFC 4760).
        MpUnreachNlri = 15 => "MP_UNREACH_NLRI",
        /// EXTENDED_COMMUNITIES (RFC 4360).
        ExtendedCommunities = 16 => "EXTENDED_COMMUNITIES",
        /// AS4_PATH (RFC 6793).
        As4Path = 17 => "AS4_PATH",
        /// AS4_AGGREGATOR (RFC 6793).
        As4Aggregator = 18 => "AS4_AGGREGATOR",
        /// LARGE_COMMUNITY (RFC 8092).
        LargeCommunities = 32 => "LARGE_COMMUNITY",
        /// Only to Customer (RFC 9234).
        OnlyToCustomer = 35 => "OTC",
    }
}

codepoint! {
    /// Capability codes (RFC 5492 and the IANA registry).
    CapabilityCode: u8 {
        /// Multiprotocol extensions (RFC 4760).
        Multiprotocol = 1 => "multiprotocol",
        /// Route refresh (RFC 2918).
        RouteRefresh = 2 => "route-refresh",
        /// Outbound route filtering (RFC 5291).
        OutboundRouteFiltering = 3 => "outbound-route-filtering",
        /// Extended next hop encoding (RFC 8950).
        ExtendedNextHop = 5 => "extended-next-hop",
        /// Extended message (RFC 8654).
        ExtendedMessage = 6 => "extended-message",
        /// BGP role (RFC 9234).
        Role = 9 => "role",
        /// Graceful restart (RFC 4724).
        GracefulRestart = 64 => "graceful-restart",
        /// Support for 4-octet AS numbers (RFC 6793).
        FourOctetAs = 65 => "four-octet-as",
        /// ADD-PATH (RFC 7911).
        AddPath = 69 => "add-path",
        /// Enhanced route refresh (RFC 7313).
        EnhancedRouteRefresh = 70 => "enhanced-route-refresh",
        /// Long-lived graceful restart (RFC 9494).
        LongLivedGracefulRestart = 71 => "long-lived-graceful-restart",
        /// FQDN / hostname (draft-walton-bgp-hostname-capability).
        Fqdn = 73 => "fqdn",
        /// Pre-standard route refresh (Cisco, code 128).
        RouteRefreshCisco = 128 => "route-refresh-cisco",
    }
}

/// The five BGP-4 message types (RFC 4271 §4.1, RFC 2918 §3).
///
/// No `Unknown` fallback: a message of another type is a header error
/// (Bad Message Type), never something to carry on with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// OPEN (1).
    Open,
    /// UPDATE (2).
    Update,
    /// NOTIFICATION (3).
    Notification,
    /// KEEPALIVE (4).
    Keepalive,
    /// ROUTE-REFRESH (5).
    RouteRefresh,
}

impl MessageType {
    /// The type code on the wire.
    pub const fn code(self) -> u8 {
        match self {
            Self::Open => 1,
            Self::Update => 2,
            Self::Notification => 3,
            Self::Keepalive => 4,
            Self::RouteRefresh => 5,
        }
    }

    /// The type for a wire code, `None` when it is not a BGP-4 message type.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Open,
            2 => Self::Update,
            3 => Self::Notification,
            4 => Self::Keepalive,
            5 => Self::RouteRefresh,
            _ => return None,
        })
    }

    /// The RFC name, as used in logs and in `nvabgp decode` output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Update => "UPDATE",
            Self::Notification => "NOTIFICATION",
            Self::Keepalive => "KEEPALIVE",
            Self::RouteRefresh => "ROUTE-REFRESH",
        }
    }
}

codepoint! {
    /// Message Header Error subcodes (RFC 4271 §6.1).
    HeaderSubcode: u8 {
        /// Unspecific (0).
        Unspecific = 0 => "Unspecific",
        /// Connection Not Synchronized (1): bad marker.
        ConnectionNotSynchronized = 1 => "Connection Not Synchronized",
        /// Bad Message Length (2).
        BadMessageLength = 2 => "Bad Message Length",
        /// Bad Message Type (3).
        BadMessageType = 3 => "Bad Message Type",
    }
}

codepoint! {
    /// OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492, RFC 9234).
    OpenSubcode: u8 {
        /// Unspecific (0).
        Unspecific = 0 => "Unspecific",
        /// Unsupported Version Number (1).
        UnsupportedVersionNumber = 1 => "Unsupported Version Number",
        /// Bad Peer AS (2).
        BadPeerAs = 2 => "Bad Peer AS",
        /// Bad BGP Identifier (3).
        BadBgpIdentifier = 3 => "Bad BGP Identifier",
        /// Unsupported Optional Parameter (4).
        UnsupportedOptionalParameter = 4 => "Unsupported Optional Parameter",
        /// Unacceptable Hold Time (6).
        UnacceptableHoldTime = 6 => "Unacceptable Hold Time",
        /// Unsupported Capability (7, RFC 5492).
        UnsupportedCapability = 7 => "Unsupported Capability",
        /// Role Mismatch (11, RFC 9234).
        RoleMismatch = 11 => "Role Mismatch",
    }
}

codepoint! {
    /// UPDATE Message Error subcodes (RFC 4271 §6.3).
    UpdateSubcode: u8 {
        /// Unspecific (0).
        Unspecific = 0 => "Unspecific",
        /// Malformed Attribute List (1).
        MalformedAttributeList = 1 => "Malformed Attribute List",
        /// Unrecognized Well-known Attribute (2).
        UnrecognizedWellKnownAttribute = 2 => "Unrecognized Well-known Attribute",
        /// Missing Well-known Attribute (3).
        MissingWellKnownAttribute = 3 => "Missing Well-known Attribute",
        /// Attribute Flags Error (4).
        AttributeFlagsError = 4 => "Attribute Flags Error",
        /// Attribute Length Error (5).
        AttributeLengthError = 5 => "Attribute Length Error",
        /// Invalid ORIGIN Attribute (6).
        InvalidOriginAttribute = 6 => "Invalid ORIGIN Attribute",
        /// Invalid NEXT_HOP Attribute (8).
        InvalidNextHopAttribute = 8 => "Invalid NEXT_HOP Attribute",
        /// Optional Attribute Error (9).
        OptionalAttributeError = 9 => "Optional Attribute Error",
        /// Invalid Network Field (10).
        InvalidNetworkField = 10 => "Invalid Network Field",
        /// Malformed AS_PATH (11).
        MalformedAsPath = 11 => "Malformed AS_PATH",
    }
}

codepoint! {
    /// Finite State Machine Error subcodes (RFC 6608).
    FsmSubcode: u8 {
        /// Unspecified Error (0).
        Unspecified = 0 => "Unspecified Error",
        /// Receive Unexpected Message in OpenSent State (1).
        UnexpectedMessageInOpenSent = 1 => "Receive Unexpected Message in OpenSent State",
        /// Receive Unexpected Message in OpenConfirm State (2).
        UnexpectedMessageInOpenConfirm = 2 => "Receive Unexpected Message in OpenConfirm State",
        /// Receive Unexpected Message in Established State (3).
        UnexpectedMessageInEstablished = 3 => "Receive Unexpected Message in Established State",
    }
}

codepoint! {
    /// Cease subcodes (RFC 4486, RFC 8538).
    CeaseSubcode: u8 {
        /// Unspecific (0).
        Unspecific = 0 => "Unspecific",
        /// Maximum Number of Prefixes Reached (1).
        MaximumNumberOfPrefixesReached = 1 => "Maximum Number of Prefixes Reached",
        /// Administrative Shutdown (2); may carry an RFC 8203/9003 message.
        AdministrativeShutdown = 2 => "Administrative Shutdown",
        /// Peer De-configured (3).
        PeerDeconfigured = 3 => "Peer De-configured",
        /// Administrative Reset (4); may carry an RFC 8203/9003 message.
        AdministrativeReset = 4 => "Administrative Reset",
        /// Connection Rejected (5).
        ConnectionRejected = 5 => "Connection Rejected",
        /// Other Configuration Change (6).
        OtherConfigurationChange = 6 => "Other Configuration Change",
        /// Connection Collision Resolution (7).
        ConnectionCollisionResolution = 7 => "Connection Collision Resolution",
        /// Out of Resources (8).
        OutOfResources = 8 => "Out of Resources",
        /// Hard Reset (9, RFC 8538).
        HardReset = 9 => "Hard Reset",
        /// BFD Down (10, RFC 9384).
        BfdDown = 10 => "BFD Down",
    }
}

codepoint! {
    /// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
    RouteRefreshSubcode: u8 {
        /// Reserved (0).
        Reserved = 0 => "Reserved",
        /// Invalid Message Length (1).
        InvalidMessageLength = 1 => "Invalid Message Length",
    }
}

/// A NOTIFICATION error code with its subcode, each named (RFC 4271 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Message Header Error (1).
    MessageHeader(HeaderSubcode),
    /// OPEN Message Error (2).
    OpenMessage(OpenSubcode),
    /// UPDATE Message Error (3).
    UpdateMessage(UpdateSubcode),
    /// Hold Timer Expired (4); the subcode is carried for completeness.
    HoldTimerExpired(u8),
    /// Finite State Machine Error (5).
    FiniteStateMachine(FsmSubcode),
    /// Cease (6).
    Cease(CeaseSubcode),
    /// ROUTE-REFRESH Message Error (7).
    RouteRefresh(RouteRefreshSubcode),
    /// An error code this crate has no name for.
    Unknown {
        /// Error code.
        code: u8,
        /// Error subcode.
        subcode: u8,
    },
}

impl ErrorCode {
    /// Builds the named form of a wire (code, subcode) pair.
    pub fn from_wire(code: u8, subcode: u8) -> Self {
        match code {
            1 => Self::MessageHeader(subcode.into()),
            2 => Self::OpenMessage(subcode.into()),
            3 => Self::UpdateMessage(subcode.into()),
            4 => Self::HoldTimerExpired(subcode),
            5 => Self::FiniteStateMachine(subcode.into()),
            6 => Self::Cease(subcode.into()),
            7 => Self::RouteRefresh(subcode.into()),
            _ => Self::Unknown { code, subcode },
        }
    }

    /// The error code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::MessageHeader(_) => 1,
            Self::OpenMessage(_) => 2,
            Self::UpdateMessage(_) => 3,
            Self::HoldTimerExpired(_) => 4,
            Self::FiniteStateMachine(_) => 5,
            Self::Cease(_) => 6,
            Self::RouteRefresh(_) => 7,
            Self::Unknown { code, .. } => code,
        }
    }

    /// The error subcode on the wire.
    pub fn subcode(self) -> u8 {
        match self {
            Self::MessageHeader(s) => s.into(),
            Self::OpenMessage(s) => s.into(),
            Self::UpdateMessage(s) => s.into(),
            Self::HoldTimerExpired(s) => s,
            Self::FiniteStateMachine(s) => s.into(),
            Self::Cease(s) => s.into(),
            Self::RouteRefresh(s) => s.into(),
            Self::Unknown { subcode, .. } => subcode,
        }
    }

    /// The name of the error code.
    pub fn code_name(self) -> &'static str {
        match self {
            Self::MessageHeader(_) => "Message Header Error",
            Self::OpenMessage(_) => "OPEN Message Error",
            Self::UpdateMessage(_) => "UPDATE Message Error",
            Self::HoldTimerExpired(_) => "Hold Timer Expired",
            Self::FiniteStateMachine(_) => "Finite State Machine Error",
            Self::Cease(_) => "Cease",
            Self::RouteRefresh(_) => "ROUTE-REFRESH Message Error",
            Self::Unknown { .. } => "Unknown",
        }
    }

    /// The name of the subcode, `None` when it has none.
    pub fn subcode_name(self) -> Option<&'static str> {
        match self {
            Self::MessageHeader(s) => s.name(),
            Self::OpenMessage(s) => s.name(),
            Self::UpdateMessage(s) => s.name(),
            Self::HoldTimerExpired(_) => None,
            Self::FiniteStateMachine(s) => s.name(),
            Self::Cease(s) => s.name(),
            Self::RouteRefresh(s) => s.name(),
            Self::Unknown { .. } => None,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}/{})",
            self.code_name(),
            self.code(),
            self.subcode()
        )?;
        if let Some(sub) = self.subcode_name() {
            write!(f, ": {sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_round_trips_through_the_wire_pair() {
        for code in 0..=8u8 {
            for subcode in 0..=12u8 {
                let e = ErrorCode::from_wire(code, subcode);
                assert_eq!((e.code(), e.subcode()), (code, subcode), "{e:?}");
            }
        }
    }

    #[test]
    fn subcodes_are_named_as_in_the_rfcs() {
        let e = ErrorCode::from_wire(6, 2);
        assert_eq!(e, ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown));
        assert_eq!(e.to_string(), "Cease (6/2): Administrative Shutdown");
        assert_eq!(
            ErrorCode::from_wire(3, 11),
            ErrorCode::UpdateMessage(UpdateSubcode::MalformedAsPath)
        );
        assert_eq!(
            ErrorCode::from_wire(5, 2),
            ErrorCode::FiniteStateMachine(FsmSubcode::UnexpectedMessageInOpenConfirm)
        );
        assert_eq!(AttributeType::from(32), AttributeType::LargeCommunities);
        assert_eq!(u8::from(AttributeType::Unknown(99)), 99);
    }
}
