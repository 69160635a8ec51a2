//! AS_PATH and AS4_PATH (RFC 4271 §5.1.2, RFC 5065 confederation
//! segments, RFC 6793 4-octet AS numbers and merging).

use std::fmt;

use bytes::BufMut;

/// AS_TRANS, the 2-octet stand-in for a 4-octet ASN (RFC 6793 §9).
pub const AS_TRANS: u32 = 23456;

/// AS_PATH segment types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentType {
    /// AS_SET (1): unordered, from aggregation.
    Set,
    /// AS_SEQUENCE (2): ordered.
    Sequence,
    /// AS_CONFED_SEQUENCE (3, RFC 5065).
    ConfedSequence,
    /// AS_CONFED_SET (4, RFC 5065).
    ConfedSet,
}

impl SegmentType {
    /// The wire value.
    pub const fn code(self) -> u8 {
        match self {
            Self::Set => 1,
            Self::Sequence => 2,
            Self::ConfedSequence => 3,
            Self::ConfedSet => 4,
        }
    }

    /// The type for a wire value, `None` when invalid.
    pub const fn from_code(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Set,
            2 => Self::Sequence,
            3 => Self::ConfedSequence,
            4 => Self::ConfedSet,
            _ => return None,
        })
    }

    /// True for the RFC 5065 confederation segments.
    pub const fn is_confed(self) -> bool {
        matches!(self, Self::ConfedSequence | Self::ConfedSet)
    }
}

/// One AS_PATH segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentType,
    /// The ASNs, in wire order.
    pub asns: Vec<u32>,
}

/// An owned AS path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    /// Segments in wire order (the first is the most recent AS).
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// The empty path (routes originated inside the AS).
    pub fn empty() -> Self {
        Self::default()
    }

    /// A path of one AS_SEQUENCE (empty when `asns` is).
    pub fn sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return Self::empty();
        }
        Self {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// True when the path has no segment.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Path length for the decision process (RFC 4271 §9.1.2.2 a): an AS_SET
    /// counts as one, confederation segments do not count (RFC 5065 §5.3).
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }

    /// Every ASN of every segment, in wire order.
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    /// True when `asn` appears anywhere in the path (loop detection).
    pub fn contains(&self, asn: u32) -> bool {
        self.asns().any(|a| a == asn)
    }

    /// The neighbouring AS: first ASN of a leading AS_SEQUENCE.
    pub fn first_asn(&self) -> Option<u32> {
        match self.segments.first() {
            Some(AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }) => asns.first().copied(),
            _ => None,
        }
    }

    /// The originating AS: last ASN of a trailing AS_SEQUENCE.
    pub fn origin_asn(&self) -> Option<u32> {
        match self.segments.last() {
            Some(AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }) => asns.last().copied(),
            _ => None,
        }
    }

    /// Prepends `asn` `count` times (RFC 4271 §5.1.2), starting a new
    /// AS_SEQUENCE when the path starts with another segment type or the
    /// leading one is full (255 ASNs).
    pub fn prepend(&mut self, asn: u32, count: usize) {
        for _ in 0..count {
            match self.segments.first_mut() {
                Some(s) if s.kind == SegmentType::Sequence && s.asns.len() < 255 => {
                    s.asns.insert(0, asn)
                }
                _ => self.segments.insert(
                    0,
                    AsSegment {
                        kind: SegmentType::Sequence,
                        asns: vec![asn],
                    },
                ),
            }
        }
    }

    /// Removes every occurrence of `asn` (e.g. 65515 before sending routes
    /// learned from one Azure Route Server to another region's), dropping
    /// segments left empty.
    pub fn remove_asn(&mut self, asn: u32) {
        for s in &mut self.segments {
            s.asns.retain(|&a| a != asn);
        }
        self.segments.retain(|s| !s.asns.is_empty());
    }

    /// True when some ASN does not fit in two octets, so a 2-octet session
    /// needs AS4_PATH (RFC 6793 §4.2.2).
    pub fn needs_as4(&self) -> bool {
        self.asns().any(|a| a > u32::from(u16::MAX))
    }

    /// Bytes of the attribute value on the wire.
    pub fn wire_len(&self, four_octet: bool) -> usize {
        let w = if four_octet { 4 } else { 2 };
        self.segments
            .iter()
            .map(|s| s.asns.len().div_ceil(255) * 2 + s.asns.len() * w)
            .sum()
    }

    /// Writes the attribute value. With 2-octet ASNs, each one above 65535
    /// is written as AS_TRANS. Segments longer than 255 ASNs are split.
    pub fn encode(&self, four_octet: bool, out: &mut impl BufMut) {
        for s in &self.segments {
            for chunk in s.asns.chunks(255) {
                out.put_u8(s.kind.code());
                out.put_u8(chunk.len() as u8);
                for &a in chunk {
                    if four_octet {
                        out.put_u32(a);
                    } else {
                        out.put_u16(u16::try_from(a).unwrap_or(AS_TRANS as u16));
                    }
                }
            }
        }
    }

    /// Number of ASNs as RFC 6793 §4.2.3 counts them for merging: an AS_SET
    /// counts as one, confederation segments not at all.
    fn as4_count(&self) -> usize {
        self.path_len()
    }

    /// Rebuilds the real path of a 2-octet session from AS_PATH (`self`)
    /// and AS4_PATH (RFC 6793 §4.2.3): when AS_PATH holds fewer ASNs than
    /// AS4_PATH, AS4_PATH is ignored; otherwise the leading ASNs of AS_PATH
    /// that AS4_PATH lacks are put in front of AS4_PATH.
    pub fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let n = self.as4_count();
        let m = as4.as4_count();
        if n < m {
            return self.clone();
        }
        let mut keep = n - m;
        let mut head: Vec<AsSegment> = Vec::new();
        for s in &self.segments {
            if keep == 0 {
                break;
            }
            match s.kind {
                SegmentType::ConfedSequence | SegmentType::ConfedSet => head.push(s.clone()),
                SegmentType::Set => {
                    head.push(s.clone());
                    keep -= 1;
                }
                SegmentType::Sequence => {
                    let take = keep.min(s.asns.len());
                    head.push(AsSegment {
                        kind: SegmentType::Sequence,
                        asns: s.asns[..take].to_vec(),
                    });
                    keep -= take;
                }
            }
        }
        let mut segments = head;
        for s in &as4.segments {
            // Join a leading sequence of AS4_PATH onto a trailing kept
            // sequence, so the merged path is the one the sender had.
            match (segments.last_mut(), s.kind) {
                (Some(last), SegmentType::Sequence) if last.kind == SegmentType::Sequence => {
                    last.asns.extend_from_slice(&s.asns)
                }
                _ => segments.push(s.clone()),
            }
        }
        AsPath { segments }
    }
}

impl fmt::Display for AsPath {
    /// `65010 {65020 65030} (65001) [65002 65003]`: sets in braces,
    /// confederation sequences in parentheses, confederation sets in
    /// brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.segments {
            let (open, close) = match s.kind {
                SegmentType::Sequence => ("", ""),
                SegmentType::Set => ("{", "}"),
                SegmentType::ConfedSequence => ("(", ")"),
                SegmentType::ConfedSet => ("[", "]"),
            };
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(open)?;
            for (i, a) in s.asns.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

/// A validated AS_PATH or AS4_PATH value on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsPathView<'a> {
    raw: &'a [u8],
    four_octet: bool,
}

impl<'a> AsPathView<'a> {
    /// Checks `raw` as a sequence of segments of 2- or 4-octet ASNs: known
    /// type, non-zero count, no overrun, no trailing byte (RFC 7606 §7.2).
    pub fn new(raw: &'a [u8], four_octet: bool) -> Result<Self, &'static str> {
        Self::check(raw, four_octet)?;
        Ok(Self { raw, four_octet })
    }

    /// The check of [`AsPathView::new`], inlined into the UPDATE walk
    /// (which needs only whether it passes: every AS_PATH of a full table
    /// goes through it).
    #[inline(always)]
    pub(crate) fn check(raw: &[u8], four_octet: bool) -> Result<(), &'static str> {
        let w = if four_octet { 4 } else { 2 };
        let mut pos = 0;
        while pos < raw.len() {
            let (Some(&t), Some(&n)) = (raw.get(pos), raw.get(pos + 1)) else {
                return Err("AS_PATH segment header truncated");
            };
            if SegmentType::from_code(t).is_none() {
                return Err("unknown AS_PATH segment type");
            }
            if n == 0 {
                return Err("empty AS_PATH segment");
            }
            pos += 2 + usize::from(n) * w;
            if pos > raw.len() {
                return Err("AS_PATH segment overruns the attribute");
            }
        }
        Ok(())
    }

    /// A view of a value that [`AsPathView::new`] already accepted with the
    /// same ASN width (the UPDATE view's AS_PATH and AS4_PATH, checked by
    /// its walk): checking again on every read cost as much as the read.
    /// On any other input the iterators stop at the first malformed
    /// segment; nothing here can panic.
    pub(crate) fn validated(raw: &'a [u8], four_octet: bool) -> Self {
        debug_assert!(Self::new(raw, four_octet).is_ok());
        Self { raw, four_octet }
    }

    /// The raw attribute value.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// True when the path holds an AS_CONFED_SEQUENCE or AS_CONFED_SET.
    pub fn has_confed(&self) -> bool {
        self.segments().any(|(t, _)| t.is_confed())
    }

    /// The segments, each as its type and an iterator over its ASNs.
    pub fn segments(&self) -> impl Iterator<Item = (SegmentType, AsnIter<'a>)> + 'a {
        let w = if self.four_octet { 4 } else { 2 };
        let four = self.four_octet;
        let mut rest = self.raw;
        std::iter::from_fn(move || {
            let (&[t, n], tail) = rest.split_first_chunk::<2>()?;
            let kind = SegmentType::from_code(t)?;
            let len = usize::from(n) * w;
            let body = tail.get(..len)?;
            rest = &tail[len..];
            Some((
                kind,
                AsnIter {
                    raw: body,
                    four_octet: four,
                },
            ))
        })
    }

    /// Every ASN of every segment, in wire order.
    pub fn asns(&self) -> impl Iterator<Item = u32> + 'a {
        Asns {
            rest: self.raw,
            segment: AsnIter {
                raw: &[],
                four_octet: self.four_octet,
            },
        }
    }

    /// The owned path.
    pub fn to_path(&self) -> AsPath {
        AsPath {
            segments: self
                .segments()
                .map(|(kind, asns)| AsSegment {
                    kind,
                    asns: asns.collect(),
                })
                .collect(),
        }
    }
}

/// Every ASN of a path: the segments' ASNs one after the other, without
/// the per-segment iterator of `segments().flat_map(..)` (this runs for
/// every UPDATE of a full table).
struct Asns<'a> {
    /// The segments not yet started.
    rest: &'a [u8],
    /// What is left of the current segment.
    segment: AsnIter<'a>,
}

impl Iterator for Asns<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        loop {
            if let Some(asn) = self.segment.next() {
                return Some(asn);
            }
            // The next segment, stopping where `segments` would: at an
            // unknown type or a segment that overruns the value.
            let (&[t, n], tail) = self.rest.split_first_chunk::<2>()?;
            SegmentType::from_code(t)?;
            let width = if self.segment.four_octet { 4 } else { 2 };
            let Some((asns, rest)) = tail.split_at_checked(usize::from(n) * width) else {
                self.rest = &[];
                return None;
            };
            self.segment.raw = asns;
            self.rest = rest;
        }
    }
}

/// The ASNs of one segment.
#[derive(Debug, Clone)]
pub struct AsnIter<'a> {
    raw: &'a [u8],
    four_octet: bool,
}

impl Iterator for AsnIter<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        if self.four_octet {
            let (a, rest) = self.raw.split_first_chunk::<4>()?;
            self.raw = rest;
            Some(u32::from_be_bytes(*a))
        } else {
            let (a, rest) = self.raw.split_first_chunk::<2>()?;
            self.raw = rest;
            Some(u32::from(u16::from_be_bytes(*a)))
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.raw.len() / if self.four_octet { 4 } else { 2 };
        (n, Some(n))
    }
}

impl ExactSizeIterator for AsnIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(a: &[u32]) -> AsSegment {
        AsSegment {
            kind: SegmentType::Sequence,
            asns: a.to_vec(),
        }
    }

    #[test]
    fn view_round_trips_and_rejects_malformed_paths() {
        let p = AsPath {
            segments: vec![
                seq(&[65010]),
                AsSegment {
                    kind: SegmentType::Set,
                    asns: vec![65020, 65030],
                },
            ],
        };
        for four in [false, true] {
            let mut b = Vec::new();
            p.encode(four, &mut b);
            assert_eq!(b.len(), p.wire_len(four));
            let v = AsPathView::new(&b, four).unwrap();
            assert_eq!(v.to_path(), p);
        }
        assert_eq!(p.to_string(), "65010 {65020 65030}");
        assert_eq!(p.path_len(), 2);
        assert!(AsPathView::new(&[2, 0], true).is_err());
        assert!(AsPathView::new(&[5, 1, 0, 0, 0, 1], true).is_err());
        assert!(AsPathView::new(&[2, 2, 0, 0, 0, 1], true).is_err());
        assert!(AsPathView::new(&[2], true).is_err());
    }

    #[test]
    fn prepend_and_strip() {
        let mut p = AsPath::sequence([65001]);
        p.prepend(65001, 2);
        assert_eq!(p.to_string(), "65001 65001 65001");
        let mut q = AsPath::sequence([65515, 65001]);
        q.remove_asn(65515);
        assert_eq!(q.to_string(), "65001");
    }

    #[test]
    fn long_segments_are_split_on_the_wire() {
        let p = AsPath::sequence(1..=300);
        let mut b = Vec::new();
        p.encode(true, &mut b);
        assert_eq!(b.len(), p.wire_len(true));
        assert_eq!(AsPathView::new(&b, true).unwrap().asns().count(), 300);
    }

    #[test]
    fn two_octet_encoding_uses_as_trans() {
        let p = AsPath::sequence([4_200_000_001, 65001]);
        assert!(p.needs_as4());
        let mut b = Vec::new();
        p.encode(false, &mut b);
        assert_eq!(b, [2, 2, 0x5b, 0xa0, 0xfd, 0xe9]);
    }

    #[test]
    fn as4_merge_follows_rfc6793() {
        // A 2-octet speaker prepended 65001 to a path that an AS4 speaker
        // had built: AS_PATH 65001 23456 23456, AS4_PATH 4200000001 4200000002.
        let old = AsPath::sequence([65001, AS_TRANS, AS_TRANS]);
        let as4 = AsPath::sequence([4_200_000_001, 4_200_000_002]);
        assert_eq!(
            old.merge_as4(&as4).to_string(),
            "65001 4200000001 4200000002"
        );
        // AS4_PATH longer than AS_PATH: ignored.
        let short = AsPath::sequence([AS_TRANS]);
        assert_eq!(short.merge_as4(&as4), short);
        // Equal lengths: AS4_PATH wins whole.
        let same = AsPath::sequence([AS_TRANS, AS_TRANS]);
        assert_eq!(same.merge_as4(&as4), as4);
    }
}
