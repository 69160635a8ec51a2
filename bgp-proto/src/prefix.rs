//! IP prefixes and NLRI (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3).
//!
//! NLRI are validated once (`check_nlri`) and then iterated without
//! allocation ([`NlriIter`]): the hot path of a full-table ingest touches
//! each prefix once and never copies it to the heap.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use bytes::BufMut;

/// An IPv4 or IPv6 prefix: address bits (host bits always zero) and length.
///
/// Ordered IPv4 before IPv6, then by address, then by length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prefix {
    /// IPv4 address bits and length (0..=32).
    V4(u32, u8),
    /// IPv6 address bits and length (0..=128).
    V6(u128, u8),
}

/// Why a prefix could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// Length beyond 32 (IPv4) or 128 (IPv6).
    #[error("prefix length {0} is too long for the address family")]
    Length(u8),
    /// Not of the form `address/length`.
    #[error("expected ADDRESS/LENGTH, e.g. 10.0.0.0/8 or 2001:db8::/32")]
    Syntax,
    /// Bits set beyond the prefix length.
    #[error("host bits are set beyond the prefix length (did you mean {0}?)")]
    HostBits(Prefix),
}

const fn mask4(len: u8) -> u32 {
    // A 64-bit shift by up to 32 needs no special case for length 0.
    (u64::MAX << (32 - len)) as u32
}

const fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    }
}

impl Prefix {
    /// An IPv4 prefix; host bits are cleared.
    pub fn v4(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::Length(len));
        }
        Ok(Self::V4(u32::from(addr) & mask4(len), len))
    }

    /// An IPv6 prefix; host bits are cleared.
    pub fn v6(addr: Ipv6Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 128 {
            return Err(PrefixError::Length(len));
        }
        Ok(Self::V6(u128::from(addr) & mask6(len), len))
    }

    /// A prefix of either family; host bits are cleared.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixError> {
        match addr {
            IpAddr::V4(a) => Self::v4(a, len),
            IpAddr::V6(a) => Self::v6(a, len),
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        match *self {
            Self::V4(a, _) => IpAddr::V4(Ipv4Addr::from(a)),
            Self::V6(a, _) => IpAddr::V6(Ipv6Addr::from(a)),
        }
    }

    /// The prefix length.
    #[allow(clippy::len_without_is_empty)] // a prefix length, not a container's
    pub fn len(&self) -> u8 {
        match *self {
            Self::V4(_, l) | Self::V6(_, l) => l,
        }
    }

    /// True for a default route (length 0).
    pub fn is_default(&self) -> bool {
        self.len() == 0
    }

    /// True for an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        matches!(self, Self::V4(..))
    }

    /// True when `addr` lies inside the prefix.
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        match (*self, addr) {
            (Self::V4(p, l), IpAddr::V4(a)) => u32::from(a) & mask4(l) == p,
            (Self::V6(p, l), IpAddr::V6(a)) => u128::from(a) & mask6(l) == p,
            _ => false,
        }
    }

    /// True when `other` is equal to or more specific than `self`.
    pub fn covers(&self, other: &Prefix) -> bool {
        match (*self, *other) {
            (Self::V4(p, l), Self::V4(q, m)) => l <= m && q & mask4(l) == p,
            (Self::V6(p, l), Self::V6(q, m)) => l <= m && q & mask6(l) == p,
            _ => false,
        }
    }

    /// Bytes of address on the wire: ceil(len / 8).
    pub fn wire_bytes(&self) -> usize {
        usize::from(self.len()).div_ceil(8)
    }

    /// Writes the prefix as NLRI: length byte, then the significant bytes.
    pub fn encode(&self, out: &mut impl BufMut) {
        let n = self.wire_bytes();
        out.put_u8(self.len());
        match *self {
            Self::V4(a, _) => out.put_slice(&a.to_be_bytes()[..n]),
            Self::V6(a, _) => out.put_slice(&a.to_be_bytes()[..n]),
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len())
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// Parses `10.0.0.0/8` or `2001:db8::/32`; a bare address is a host
    /// route. Host bits beyond the length are an error, since they usually
    /// mean a typo in a config.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| PrefixError::Syntax)?;
        let len = match len {
            Some(l) => l.trim().parse::<u8>().map_err(|_| PrefixError::Syntax)?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        let p = Self::new(addr, len)?;
        if p.addr() != addr {
            return Err(PrefixError::HostBits(p));
        }
        Ok(p)
    }
}

/// One NLRI entry: a prefix and, with ADD-PATH, its path identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri {
    /// The RFC 7911 path identifier, when the family negotiated ADD-PATH.
    pub path_id: Option<u32>,
    /// The prefix.
    pub prefix: Prefix,
}

impl Nlri {
    /// An NLRI entry without path identifier.
    pub const fn new(prefix: Prefix) -> Self {
        Self {
            path_id: None,
            prefix,
        }
    }

    /// Bytes on the wire.
    pub fn wire_len(&self) -> usize {
        1 + self.prefix.wire_bytes() + if self.path_id.is_some() { 4 } else { 0 }
    }

    /// Writes the entry (path identifier first when present).
    pub fn encode(&self, out: &mut impl BufMut) {
        if let Some(id) = self.path_id {
            out.put_u32(id);
        }
        self.prefix.encode(out);
    }
}

impl From<Prefix> for Nlri {
    fn from(prefix: Prefix) -> Self {
        Self::new(prefix)
    }
}

impl fmt::Display for Nlri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path_id {
            Some(id) => write!(f, "{} (path {id})", self.prefix),
            None => self.prefix.fmt(f),
        }
    }
}

/// Where and why an NLRI field failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NlriFault {
    /// Offset of the bad entry within the field.
    pub(crate) at: usize,
    pub(crate) reason: &'static str,
}

/// Checks that `buf` is a sequence of well-formed NLRI entries and returns
/// how many there are (RFC 7606 §5.3: the length byte must not exceed the
/// family's maximum and the last entry must not overrun the field).
pub(crate) fn check_nlri(buf: &[u8], ipv6: bool, add_path: bool) -> Result<usize, NlriFault> {
    // One loop per (family, ADD-PATH) so the maximum length and the path
    // identifier's size are constants inside the loop: this walk runs over
    // every prefix of every UPDATE before the view is handed out.
    match (ipv6, add_path) {
        (false, false) => check_entries::<32, 0>(buf),
        (true, false) => check_entries::<128, 0>(buf),
        (false, true) => check_entries::<32, 4>(buf),
        (true, true) => check_entries::<128, 4>(buf),
    }
}

/// [`check_nlri`] of a field of `encoding`.
#[inline]
pub(crate) fn check_nlri_encoded(buf: &[u8], encoding: Encoding) -> Result<usize, NlriFault> {
    check_nlri(buf, encoding.ipv6(), encoding.add_path())
}

/// [`check_nlri`] for prefixes of at most `MAX` bits (32 or 128), each
/// preceded by `ID` bytes of path identifier.
#[inline(always)]
fn check_entries<const MAX: u8, const ID: usize>(buf: &[u8]) -> Result<usize, NlriFault> {
    if ID == 0 {
        // Without path identifiers the length octet of an entry that starts
        // inside the field is inside it too: one pass that only follows the
        // lengths, noting a length beyond the family's without a branch. The
        // exact fault is looked for only when there is one.
        //
        // The loop is a chain of dependent loads (where an entry starts
        // depends on the previous one's length), so it is written for the
        // shortest chain: the slice is advanced (a load with a plain pointer
        // is a cycle quicker than one with an index) by ceil(len / 8) + 1
        // computed in two operations.
        let mut rest = buf;
        let mut count = 0;
        let mut too_long = false;
        while let [len, ..] = *rest {
            too_long |= len > MAX;
            let Some(tail) = rest.get((usize::from(len) + 15) / 8..) else {
                return find_fault::<MAX, ID>(buf);
            };
            rest = tail;
            count += 1;
        }
        if !too_long {
            return Ok(count);
        }
    }
    find_fault::<MAX, ID>(buf)
}

/// [`check_entries`], entry by entry, stopping at the first fault.
#[inline(never)]
fn find_fault<const MAX: u8, const ID: usize>(buf: &[u8]) -> Result<usize, NlriFault> {
    let mut pos = 0;
    let mut count = 0;
    while pos < buf.len() {
        let Some(&len) = buf.get(pos + ID) else {
            return Err(NlriFault {
                at: pos,
                reason: "NLRI entry truncated before its length",
            });
        };
        if len > MAX {
            return Err(NlriFault {
                at: pos,
                reason: "prefix length exceeds the address family's",
            });
        }
        let next = pos + ID + 1 + usize::from(len).div_ceil(8);
        if next > buf.len() {
            return Err(NlriFault {
                at: pos,
                reason: "prefix overruns the NLRI field",
            });
        }
        pos = next;
        count += 1;
    }
    Ok(count)
}

/// How the entries of one NLRI field are encoded: the address family and
/// whether each entry starts with a path identifier (RFC 7911 §3).
///
/// One byte, so that [`NlriIter`] decides how to read an entry with one
/// comparison (plain IPv4, the bulk of a full table, has its own short
/// path), and so that an `Option` of it is one byte too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Encoding {
    /// IPv4 prefixes.
    Ipv4 = 0,
    /// IPv6 prefixes.
    Ipv6 = 1,
    /// Path identifier and IPv4 prefix.
    Ipv4AddPath = 2,
    /// Path identifier and IPv6 prefix.
    Ipv6AddPath = 3,
}

impl Encoding {
    /// The encoding of a unicast family, with or without ADD-PATH.
    pub(crate) const fn new(ipv6: bool, add_path: bool) -> Self {
        match (ipv6, add_path) {
            (false, false) => Self::Ipv4,
            (true, false) => Self::Ipv6,
            (false, true) => Self::Ipv4AddPath,
            (true, true) => Self::Ipv6AddPath,
        }
    }

    /// True for IPv6 prefixes.
    pub(crate) const fn ipv6(self) -> bool {
        self as u8 & 1 != 0
    }

    /// True when each entry starts with a 4-octet path identifier.
    pub(crate) const fn add_path(self) -> bool {
        self as u8 & 2 != 0
    }
}

/// Iterator over NLRI entries: one field, or two fields one after the
/// other (each of one family), as [`crate::Update::announced`] gives
/// MP_REACH_NLRI then the NLRI field.
///
/// Built by the UPDATE view over fields `check_nlri` accepted; on any
/// other input it stops at the first malformed entry rather than panicking.
/// Two fields are held in one iterator rather than with
/// [`Iterator::chain`] because this loop runs once per prefix of a full
/// table, and the adapter's extra state checks showed in the profile.
#[derive(Debug, Clone)]
pub struct NlriIter<'a> {
    buf: &'a [u8],
    /// The second field, iterated once `buf` is used up.
    then: &'a [u8],
    encoding: Encoding,
    then_encoding: Encoding,
    /// `encoding == Encoding::Ipv4`, tested on every entry. Kept apart
    /// from `encoding`: testing the enum, the optimiser merged the test
    /// with `read_other`'s into a dispatch that tried IPv6 first.
    plain: bool,
}

impl<'a> NlriIter<'a> {
    pub(crate) fn new(buf: &'a [u8], ipv6: bool, add_path: bool) -> Self {
        Self::with_encoding(buf, Encoding::new(ipv6, add_path))
    }

    pub(crate) fn with_encoding(buf: &'a [u8], encoding: Encoding) -> Self {
        Self {
            buf,
            then: &[],
            encoding,
            then_encoding: Encoding::Ipv4,
            plain: encoding as u8 == Encoding::Ipv4 as u8,
        }
    }

    /// This field, then `next`'s. Both must be single fields (from
    /// [`NlriIter::new`] or [`NlriIter::empty`]), as the UPDATE view makes
    /// them.
    pub(crate) fn followed_by(self, next: NlriIter<'a>) -> Self {
        debug_assert!(self.then.is_empty() && next.then.is_empty());
        if self.buf.is_empty() {
            return next;
        }
        Self {
            then: next.buf,
            then_encoding: next.encoding,
            ..self
        }
    }

    /// An iterator that yields nothing.
    pub fn empty() -> Self {
        Self::with_encoding(&[], Encoding::Ipv4)
    }

    /// The raw bytes of the field being iterated that are still to come
    /// (not those of a second field).
    pub fn as_slice(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads an entry of any encoding other than plain IPv4. Inlined too:
    /// IPv6 routes come this way.
    #[inline(always)]
    fn read_other(&mut self) -> Option<Nlri> {
        let mut buf = self.buf;
        let path_id = if self.encoding.add_path() {
            let (id, rest) = buf.split_first_chunk::<4>()?;
            buf = rest;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let (&len, rest) = buf.split_first()?;
        let prefix = if self.encoding.ipv6() {
            let mask = *MASK6.get(usize::from(len))?;
            Prefix::V6(load_u128(rest) & mask, len)
        } else {
            let mask = *MASK4.get(usize::from(len))?;
            Prefix::V4(load_u32(rest) & mask, len)
        };
        self.buf = rest.get(usize::from(len).div_ceil(8)..)?;
        Some(Nlri { path_id, prefix })
    }
}

/// Reads an IPv4 entry without path identifier from the front of `buf`.
#[inline(always)]
fn read_ipv4(buf: &mut &[u8]) -> Option<Nlri> {
    let (&len, rest) = buf.split_first()?;
    // The table lookup is also the check that the length is at most 32.
    let mask = *MASK4.get(usize::from(len))?;
    let addr = load_u32(rest) & mask;
    *buf = rest.get(usize::from(len).div_ceil(8)..)?;
    Some(Nlri::new(Prefix::V4(addr, len)))
}

/// The netmask of each IPv4 prefix length: one load instead of a shift
/// whose amount must be kept in range.
static MASK4: [u32; 33] = {
    let mut m = [0u32; 33];
    let mut len = 0;
    while len <= 32 {
        m[len] = mask4(len as u8);
        len += 1;
    }
    m
};

/// The netmask of each IPv6 prefix length (2 KiB): a 128-bit shift by a
/// variable amount is a dozen instructions on x86-64.
static MASK6: [u128; 129] = {
    let mut m = [0u128; 129];
    let mut len = 0;
    while len <= 128 {
        m[len] = mask6(len as u8);
        len += 1;
    }
    m
};

// The address of an NLRI entry is read as a whole big-endian word from the
// bytes after its length octet and then masked to the prefix length, so
// bytes past the prefix (the next entry's) never show. Reading exactly
// ceil(len / 8) bytes instead costs a variable-length copy (a `memcpy` call)
// per prefix. Only the last entry of a field, with fewer than a word's bytes
// behind it, takes the short-input paths below, which use at most two
// overlapping loads rather than a byte loop.

/// The first four bytes of `b` as a big-endian word, zero-padded.
#[inline(always)]
fn load_u32(b: &[u8]) -> u32 {
    match b.first_chunk::<4>() {
        Some(word) => u32::from_be_bytes(*word),
        None => load_u32_short(b),
    }
}

/// [`load_u32`] of fewer than four bytes.
#[inline]
fn load_u32_short(b: &[u8]) -> u32 {
    match *b {
        [x, y, z, ..] => u32::from_be_bytes([x, y, z, 0]),
        [x, y] => u32::from_be_bytes([x, y, 0, 0]),
        [x] => u32::from(x) << 24,
        [] => 0,
    }
}

/// The first eight bytes of `b` as a big-endian word, zero-padded.
#[inline]
fn load_u64(b: &[u8]) -> u64 {
    if let Some(word) = b.first_chunk::<8>() {
        return u64::from_be_bytes(*word);
    }
    // Four to seven bytes: the first four and the last four, overlapping,
    // the last shifted to their place.
    if let (Some(head), Some(tail)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        let shift = 8 * (8 - b.len() as u32);
        return u64::from(u32::from_be_bytes(*head)) << 32
            | u64::from(u32::from_be_bytes(*tail)) << shift;
    }
    u64::from(load_u32_short(b)) << 32
}

/// The first sixteen bytes of `b` as a big-endian word, zero-padded.
#[inline(always)]
fn load_u128(b: &[u8]) -> u128 {
    match b.first_chunk::<16>() {
        Some(word) => u128::from_be_bytes(*word),
        None => load_u128_short(b),
    }
}

/// [`load_u128`] of fewer than sixteen bytes.
#[inline]
fn load_u128_short(b: &[u8]) -> u128 {
    let low = b.get(8..).map_or(0, load_u64);
    u128::from(load_u64(b)) << 64 | u128::from(low)
}

/// A malformed NLRI entry, met by [`NlriIter::next_entry`]: where and why
/// is left to the caller, who knows which field it was (this is the hot
/// loop's answer, one bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

impl NlriIter<'_> {
    /// The next entry; `Some(Err(Malformed))` at a malformed one (length
    /// beyond the family's, entry overrunning the field, path identifier
    /// cut short), after which the iterator is empty, second field
    /// included: [`NlriIter::next`] with the fault told apart from the
    /// end, for the lazily checked iterator.
    // Always inlined: called once per prefix of a full table, and the call
    // would cost as much as the read.
    #[inline(always)]
    pub(crate) fn next_entry(&mut self) -> Option<Result<Nlri, Malformed>> {
        if self.buf.is_empty() {
            if self.then.is_empty() {
                return None;
            }
            self.buf = std::mem::take(&mut self.then);
            self.encoding = self.then_encoding;
            self.plain = self.encoding as u8 == Encoding::Ipv4 as u8;
        }
        // Every read fails only on a malformed entry: `buf` is not empty.
        let r = if self.plain {
            read_ipv4(&mut self.buf)
        } else {
            self.read_other()
        };
        match r {
            Some(n) => Some(Ok(n)),
            None => {
                self.buf = &[];
                self.then = &[];
                Some(Err(Malformed))
            }
        }
    }
}

impl NlriIter<'_> {
    /// Calls `f` on each entry still to come, field after field, stopping
    /// at a malformed one: what [`NlriIter::next_entry`] yields, as one
    /// loop per field with the encoding decided once per field rather than
    /// once per entry (the plain IPv4 loop is [`read_ipv4`] and nothing
    /// else).
    #[inline(always)]
    pub(crate) fn for_each_entry(self, mut f: impl FnMut(Nlri)) -> Result<(), Malformed> {
        let fields = [(self.buf, self.encoding), (self.then, self.then_encoding)];
        for (mut buf, encoding) in fields {
            if encoding as u8 == Encoding::Ipv4 as u8 {
                while !buf.is_empty() {
                    f(read_ipv4(&mut buf).ok_or(Malformed)?);
                }
            } else {
                let mut other = Self::with_encoding(buf, encoding);
                while !other.buf.is_empty() {
                    f(other.read_other().ok_or(Malformed)?);
                }
            }
        }
        Ok(())
    }
}

impl Iterator for NlriIter<'_> {
    type Item = Nlri;

    // [`NlriIter::next_entry`] without the fault: written out rather than
    // `self.next_entry()?.ok()`, which costs the checked view's callers
    // 17 instructions per UPDATE in bench/codec (the optimiser keeps the
    // `Result` a step longer).
    #[inline(always)]
    fn next(&mut self) -> Option<Nlri> {
        if self.buf.is_empty() {
            if self.then.is_empty() {
                return None;
            }
            self.buf = std::mem::take(&mut self.then);
            self.encoding = self.then_encoding;
            self.plain = self.encoding as u8 == Encoding::Ipv4 as u8;
        }
        let r = if self.plain {
            read_ipv4(&mut self.buf)
        } else {
            self.read_other()
        };
        if r.is_none() {
            // A malformed entry ends the iteration, second field included.
            self.buf = &[];
            self.then = &[];
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p: Prefix = "10.1.0.0/16".parse().unwrap();
        assert_eq!(p, Prefix::V4(0x0a01_0000, 16));
        assert_eq!(p.to_string(), "10.1.0.0/16");
        let p: Prefix = "2001:db8::/32".parse().unwrap();
        assert_eq!(p.to_string(), "2001:db8::/32");
        assert_eq!("9.9.9.9".parse::<Prefix>().unwrap().len(), 32);
        assert!(matches!(
            "10.1.2.3/16".parse::<Prefix>(),
            Err(PrefixError::HostBits(_))
        ));
        assert_eq!(
            "10.0.0.0/33".parse::<Prefix>(),
            Err(PrefixError::Length(33))
        );
        assert_eq!("nonsense".parse::<Prefix>(), Err(PrefixError::Syntax));
    }

    #[test]
    fn containment() {
        let rs: Prefix = "10.1.1.0/24".parse().unwrap();
        let vnet: Prefix = "10.1.0.0/16".parse().unwrap();
        assert!(vnet.covers(&rs));
        assert!(!rs.covers(&vnet));
        assert!(vnet.contains_addr("10.1.1.4".parse().unwrap()));
        assert!(Prefix::V4(0, 0).covers(&rs));
        assert!(!Prefix::V6(0, 0).covers(&rs));
    }

    #[test]
    fn nlri_round_trip_and_checks() {
        let mut buf = Vec::new();
        let entries = [
            Nlri::new("0.0.0.0/0".parse().unwrap()),
            Nlri::new("10.0.0.0/8".parse().unwrap()),
            Nlri::new("192.0.2.128/25".parse().unwrap()),
            Nlri::new("9.9.9.9/32".parse().unwrap()),
        ];
        for e in &entries {
            e.encode(&mut buf);
        }
        assert_eq!(check_nlri(&buf, false, false), Ok(4));
        let back: Vec<_> = NlriIter::new(&buf, false, false).collect();
        assert_eq!(back, entries);
        // Truncated last entry.
        assert!(check_nlri(&buf[..buf.len() - 1], false, false).is_err());
        // Length 33 for IPv4.
        assert!(check_nlri(&[33, 1, 2, 3, 4, 5], false, false).is_err());
        assert!(check_nlri(&[33, 1, 2, 3, 4, 5], true, false).is_ok());
        // Path identifier truncated.
        assert!(check_nlri(&[0, 0, 1], false, true).is_err());
    }

    #[test]
    fn host_bits_on_the_wire_are_cleared() {
        let v: Vec<_> = NlriIter::new(&[23, 10, 0, 3], false, false).collect();
        assert_eq!(v[0].prefix.to_string(), "10.0.2.0/23");
    }

    #[test]
    fn addresses_are_read_whole_word_and_masked() {
        // 10.0.0.0/8 is followed by 192.0.2.0/24: the four bytes read for
        // the first entry include the second's, which the mask must drop.
        let v: Vec<_> = NlriIter::new(&[8, 10, 24, 192, 0, 2], false, false).collect();
        assert_eq!(
            v,
            [
                Nlri::new(Prefix::V4(0x0a00_0000, 8)),
                Nlri::new(Prefix::V4(0xc000_0200, 24)),
            ]
        );
        // Every length from 0 to 128 as the last entry, with and without a
        // word's worth of bytes behind it, and with all host bits set.
        for len in 0..=128u8 {
            let n = usize::from(len).div_ceil(8);
            let expected = Prefix::V6(mask6(len), len);
            let mut field = vec![len];
            field.extend(std::iter::repeat_n(0xff, n));
            let last: Vec<_> = NlriIter::new(&field, true, false).collect();
            assert_eq!(last, [Nlri::new(expected)], "/{len} at the end");
            field.extend_from_slice(&[0, 0xff, 0xff]);
            let first: Vec<_> = NlriIter::new(&field, true, false).collect();
            assert_eq!(
                first,
                [Nlri::new(expected), Nlri::new(Prefix::V6(0, 0))],
                "/{len} followed by more"
            );
        }
        for len in 0..=32u8 {
            let n = usize::from(len).div_ceil(8);
            let mut field = vec![len];
            field.extend(std::iter::repeat_n(0xff, n));
            let v: Vec<_> = NlriIter::new(&field, false, false).collect();
            assert_eq!(v, [Nlri::new(Prefix::V4(mask4(len), len))]);
        }
    }

    /// The one-pass check gives exactly what the entry-by-entry walk
    /// gives (count, or fault and offset), on every field of up to four
    /// octets over telling values, and on pseudo-random fields.
    #[test]
    fn the_quick_check_agrees_with_the_walk_entry_by_entry() {
        let octets = [0u8, 1, 8, 9, 24, 32, 33, 64, 128, 129, 255];
        let mut fields: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..4 {
            let longer: Vec<Vec<u8>> = fields
                .iter()
                .filter(|f| f.len() == fields.last().map_or(0, Vec::len))
                .flat_map(|f| {
                    octets.iter().map(move |&o| {
                        let mut g = f.clone();
                        g.push(o);
                        g
                    })
                })
                .collect();
            fields.extend(longer);
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for n in 0..2000 {
            let field = (0..n % 60)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 40) as u8
                })
                .collect();
            fields.push(field);
        }
        let mut faults = 0;
        for f in &fields {
            let v4 = check_entries::<32, 0>(f);
            assert_eq!(v4, find_fault::<32, 0>(f), "{f:?}");
            assert_eq!(check_entries::<128, 0>(f), find_fault::<128, 0>(f), "{f:?}");
            faults += usize::from(v4.is_err());
        }
        // Both outcomes are well represented.
        assert!(faults > 1000 && fields.len() - faults > 500, "{faults}");
    }

    #[test]
    fn short_inputs_load_zero_padded() {
        // Every length below and at each word size, against a byte-by-byte
        // reference: the overlapping loads must put each byte in its place.
        let bytes: Vec<u8> = (1..=20).map(|i| i * 11).collect();
        for n in 0..=bytes.len() {
            let b = &bytes[..n];
            let reference = |width: usize| -> u128 {
                b.iter()
                    .take(width)
                    .enumerate()
                    .fold(0, |v, (i, &x)| v | u128::from(x) << (8 * (width - 1 - i)))
            };
            assert_eq!(u128::from(load_u32(b)), reference(4), "u32 of {n} bytes");
            assert_eq!(u128::from(load_u64(b)), reference(8), "u64 of {n} bytes");
            assert_eq!(load_u128(b), reference(16), "u128 of {n} bytes");
        }
    }

    #[test]
    fn iteration_stops_at_a_malformed_entry() {
        // The iterator is only built over checked fields, but must not
        // panic or loop on anything else.
        assert_eq!(NlriIter::new(&[33, 1, 2, 3, 4, 5], false, false).count(), 0);
        assert_eq!(
            NlriIter::new(&[24, 10, 0, 0, 24, 10], false, false).count(),
            1
        );
        assert_eq!(NlriIter::new(&[0, 0, 0], false, true).count(), 0);
        assert_eq!(NlriIter::new(&[129; 20], true, false).count(), 0);
    }

    proptest::proptest! {
        /// Encoding any list of entries and iterating it gives the list
        /// back, and the check counts exactly those entries.
        #[test]
        fn nlri_fields_round_trip(
            entries in proptest::collection::vec(
                (proptest::prelude::any::<u128>(), 0u8..=128, proptest::prelude::any::<u32>()),
                0..40,
            ),
            ipv6 in proptest::prelude::any::<bool>(),
            add_path in proptest::prelude::any::<bool>(),
        ) {
            let entries: Vec<Nlri> = entries
                .into_iter()
                .map(|(a, l, id)| {
                    let prefix = if ipv6 {
                        Prefix::V6(a & mask6(l), l)
                    } else {
                        let l = l % 33;
                        Prefix::V4((a as u32) & mask4(l), l)
                    };
                    Nlri { path_id: add_path.then_some(id), prefix }
                })
                .collect();
            let mut buf = Vec::new();
            for e in &entries {
                e.encode(&mut buf);
            }
            proptest::prop_assert_eq!(check_nlri(&buf, ipv6, add_path), Ok(entries.len()));
            let back: Vec<_> = NlriIter::new(&buf, ipv6, add_path).collect();
            proptest::prop_assert_eq!(back, entries);
        }
    }
}
