//! ROUTE-REFRESH (RFC 2918 §3) with the enhanced route refresh subtypes of
//! RFC 7313 §3.2.

use bytes::{BufMut, BytesMut};

use crate::error::DecodeError;
use crate::framing::{HEADER_LEN, MARKER, put_header};
use crate::iana::{Afi, ErrorCode, MessageType, RouteRefreshSubcode, Safi};

/// Length of a ROUTE-REFRESH message, header included.
pub const ROUTE_REFRESH_LEN: usize = HEADER_LEN + 4;

/// The Message Subtype field (RFC 7313 §3.2), in RFC 2918 the Reserved
/// octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteRefreshSubtype {
    /// A route refresh request (0).
    Normal,
    /// Beginning of Route Refresh, BoRR (1).
    BeginningOfRouteRefresh,
    /// End of Route Refresh, EoRR (2).
    EndOfRouteRefresh,
    /// Any other value: RFC 7313 §5 says to ignore the message.
    Unknown(u8),
}

impl From<u8> for RouteRefreshSubtype {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::Normal,
            1 => Self::BeginningOfRouteRefresh,
            2 => Self::EndOfRouteRefresh,
            other => Self::Unknown(other),
        }
    }
}

impl From<RouteRefreshSubtype> for u8 {
    fn from(v: RouteRefreshSubtype) -> Self {
        match v {
            RouteRefreshSubtype::Normal => 0,
            RouteRefreshSubtype::BeginningOfRouteRefresh => 1,
            RouteRefreshSubtype::EndOfRouteRefresh => 2,
            RouteRefreshSubtype::Unknown(other) => other,
        }
    }
}

/// A ROUTE-REFRESH message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// Address family.
    pub afi: Afi,
    /// Request, BoRR or EoRR.
    pub subtype: RouteRefreshSubtype,
    /// Subsequent address family.
    pub safi: Safi,
}

impl RouteRefresh {
    /// A request to re-send the Adj-RIB-Out of a family (RFC 2918).
    pub fn request(afi: Afi, safi: Safi) -> Self {
        Self {
            afi,
            subtype: RouteRefreshSubtype::Normal,
            safi,
        }
    }

    /// Decodes a ROUTE-REFRESH body (after the header).
    ///
    /// A body that is not 4 bytes is the RFC 7313 §5 error: ROUTE-REFRESH
    /// Message Error / Invalid Message Length, whose data is the complete
    /// message. RFC 7313 states it for BoRR and EoRR; RFC 2918 fixes the
    /// length of every ROUTE-REFRESH, and a body too short to hold the
    /// subtype cannot be told apart, so it applies to all.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let &[a0, a1, subtype, safi] = body else {
            return Err(DecodeError::new(
                ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength),
                16,
                "ROUTE-REFRESH is not 23 bytes",
            )
            .with_data(whole_message(body)));
        };
        Ok(Self {
            afi: Afi::from(u16::from_be_bytes([a0, a1])),
            subtype: subtype.into(),
            safi: Safi::from(safi),
        })
    }

    /// Appends the message (header included) to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(ROUTE_REFRESH_LEN);
        put_header(out, ROUTE_REFRESH_LEN as u16, MessageType::RouteRefresh);
        out.put_u16(u16::from(self.afi));
        out.put_u8(self.subtype.into());
        out.put_u8(u8::from(self.safi));
    }
}

/// The message as it was received: framing has already checked the marker,
/// the length matches the body, and the type is ROUTE-REFRESH, so the header
/// is rebuilt exactly.
fn whole_message(body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(HEADER_LEN + body.len()).unwrap_or(u16::MAX);
    let mut v = Vec::with_capacity(HEADER_LEN + body.len());
    v.extend_from_slice(&MARKER);
    v.extend_from_slice(&len.to_be_bytes());
    v.push(MessageType::RouteRefresh.code());
    v.extend_from_slice(body);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_subtype() {
        for subtype in [0u8, 1, 2, 255] {
            let rr = RouteRefresh {
                afi: Afi::Ipv6,
                subtype: subtype.into(),
                safi: Safi::Unicast,
            };
            let mut out = BytesMut::new();
            rr.encode(&mut out);
            assert_eq!(out.len(), ROUTE_REFRESH_LEN);
            assert_eq!(&out[16..], [0, 23, 5, 0, 2, subtype, 1]);
            assert_eq!(RouteRefresh::decode(&out[HEADER_LEN..]), Ok(rr));
        }
        assert_eq!(
            RouteRefresh::decode(&[0, 1, 7, 1]).unwrap().subtype,
            RouteRefreshSubtype::Unknown(7)
        );
    }

    #[test]
    fn wrong_length_carries_the_whole_message() {
        for body in [&[][..], &[0, 1, 1][..], &[0, 1, 2, 1, 0][..]] {
            let e = RouteRefresh::decode(body).unwrap_err();
            assert_eq!(
                e.code,
                ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength)
            );
            assert_eq!(e.data.len(), HEADER_LEN + body.len());
            assert_eq!(&e.data[..16], MARKER);
            assert_eq!(
                usize::from(u16::from_be_bytes([e.data[16], e.data[17]])),
                e.data.len()
            );
            assert_eq!(e.data[18], 5);
            assert_eq!(&e.data[HEADER_LEN..], body);
        }
    }
}
