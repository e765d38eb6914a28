//! Framing: how a connection's byte stream is cut into `Data` events.

use crate::error::{invalid, Detail, Error, Result};
use crate::names::named_enum;

/// Longest delimiter accepted by [`Framing::delimited`].
pub const MAX_DELIMITER: usize = 8;

/// Largest frame any framed mode may be set to accept (1 GiB).
pub const MAX_FRAME_LIMIT: usize = 1 << 30;

/// Largest frame of delimited and length-prefixed framing when none is given (1 MiB).
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// Delimiter of delimited framing when none is given.
pub const DEFAULT_DELIMITER: &[u8] = b"\n";

/// Length-header size of length-prefixed framing when none is given (bytes).
pub const DEFAULT_LENGTH_HEADER: usize = 4;

named_enum! {
    argument: "mode";
    /// The framing modes, by name. The numeric values are part of the C ABI.
    pub enum FramingMode {
        /// Raw chunks as they arrive (the default).
        Stream = 0, "stream";
        /// Frames end with a delimiter.
        Delimited = 1, "delimited";
        /// Frames of one fixed size.
        Fixed = 2, "fixed";
        /// Frames preceded by a big-endian length.
        LengthPrefixed = 3, "length_prefixed";
    }
}

/// A framing's parameters as a binding receives them: each one given or
/// not. [`Framing::build`] applies the defaults and checks the rest.
#[derive(Clone, Copy, Debug, Default)]
pub struct FramingParams<'a> {
    /// Delimited: the delimiter (default [`DEFAULT_DELIMITER`]).
    pub delimiter: Option<&'a [u8]>,
    /// Fixed: the frame size (required).
    pub size: Option<usize>,
    /// Length-prefixed: the header size, 1, 2 or 4 (default [`DEFAULT_LENGTH_HEADER`]).
    pub header: Option<usize>,
    /// Delimited and length-prefixed: the largest frame (default [`DEFAULT_MAX_FRAME`]).
    pub max_frame: Option<usize>,
}

/// The [`FramingParams`] in order, for the error of a parameter given to a
/// mode that does not take it.
static NOT_TAKEN: [Detail; 4] = {
    const NONE: &str = "not given (this framing mode does not take it)";
    [
        Detail { argument: "delimiter", expected: NONE },
        Detail { argument: "size", expected: NONE },
        Detail { argument: "header", expected: NONE },
        Detail { argument: "max_frame", expected: NONE },
    ]
};

/// How incoming bytes are delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Raw chunks as they arrive (the default).
    Stream,
    /// Frames end with `delimiter` (delivered without it), at most `max` bytes.
    Delimited { delimiter: [u8; MAX_DELIMITER], delimiter_len: u8, max: u32 },
    /// Frames of exactly `size` bytes.
    Fixed { size: u32 },
    /// Frames preceded by a 1-, 2- or 4-byte big-endian length (delivered
    /// without it), at most `max` bytes.
    LengthPrefixed { header: u8, max: u32 },
}

/// What [`Framing::next`] found at the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A frame: its payload is `buf[start..start + len]`; `consumed` bytes are used up.
    Frame {
        /// Where the payload starts (after a length header).
        start: usize,
        /// The payload's length (without header or delimiter).
        len: usize,
        /// The bytes the frame takes in `buf`, header and delimiter included.
        consumed: usize,
    },
    /// Not enough bytes yet.
    Incomplete,
}

/// The big-endian length a length-prefixed frame's header declares.
fn declared_len(header: &[u8]) -> usize {
    header.iter().fold(0, |n, &b| (n << 8) | b as usize)
}

fn check_max(max: usize) -> Result<u32> {
    if max == 0 || max > MAX_FRAME_LIMIT {
        return Err(invalid!("max_frame", "1 to 1073741824 bytes"));
    }
    Ok(max as u32)
}

impl Framing {
    /// Delimiter framing; `delimiter` is 1 to 8 bytes, `max` 1 byte to 1 GiB.
    pub fn delimited(delimiter: &[u8], max: usize) -> Result<Framing> {
        if delimiter.is_empty() || delimiter.len() > MAX_DELIMITER {
            return Err(invalid!("delimiter", "1 to 8 bytes"));
        }
        let mut bytes = [0; MAX_DELIMITER];
        bytes[..delimiter.len()].copy_from_slice(delimiter);
        Ok(Framing::Delimited { delimiter: bytes, delimiter_len: delimiter.len() as u8, max: check_max(max)? })
    }

    /// Fixed-size framing; `size` is 1 byte to 1 GiB.
    pub fn fixed(size: usize) -> Result<Framing> {
        if size == 0 || size > MAX_FRAME_LIMIT {
            return Err(invalid!("size", "1 to 1073741824 bytes"));
        }
        Ok(Framing::Fixed { size: size as u32 })
    }

    /// Length-prefixed framing with a `header`-byte (1, 2 or 4) big-endian
    /// length; `max` 1 byte to 1 GiB.
    pub fn length_prefixed(header: usize, max: usize) -> Result<Framing> {
        if !matches!(header, 1 | 2 | 4) {
            return Err(invalid!("header", "1, 2 or 4 bytes"));
        }
        Ok(Framing::LengthPrefixed { header: header as u8, max: check_max(max)? })
    }

    /// The framing of `mode` with `params`, defaults filled in. A parameter
    /// the mode does not take is `EINVAL` naming it, as is a fixed framing
    /// without a size.
    pub fn build(mode: FramingMode, params: FramingParams<'_>) -> Result<Framing> {
        use FramingMode::*;
        let FramingParams { delimiter, size, header, max_frame } = params;
        let given_and_taken = [
            (delimiter.is_some(), mode == Delimited),
            (size.is_some(), mode == Fixed),
            (header.is_some(), mode == LengthPrefixed),
            (max_frame.is_some(), matches!(mode, Delimited | LengthPrefixed)),
        ];
        if let Some(i) = given_and_taken.iter().position(|&(given, taken)| given && !taken) {
            return Err(Error::invalid(&NOT_TAKEN[i]));
        }
        let max = max_frame.unwrap_or(DEFAULT_MAX_FRAME);
        match mode {
            Stream => Ok(Framing::Stream),
            Delimited => Framing::delimited(delimiter.unwrap_or(DEFAULT_DELIMITER), max),
            Fixed => Framing::fixed(size.ok_or(invalid!("size", "the frame size (fixed framing needs one)"))?),
            LengthPrefixed => Framing::length_prefixed(header.unwrap_or(DEFAULT_LENGTH_HEADER), max),
        }
    }

    /// The mode of this framing.
    pub fn mode(&self) -> FramingMode {
        match self {
            Framing::Stream => FramingMode::Stream,
            Framing::Delimited { .. } => FramingMode::Delimited,
            Framing::Fixed { .. } => FramingMode::Fixed,
            Framing::LengthPrefixed { .. } => FramingMode::LengthPrefixed,
        }
    }

    /// Finds the next frame at the front of `buf`. An oversized frame is
    /// `EMSGSIZE` as soon as it is known to be oversized, so a peer can never
    /// make the connection buffer more than `max` bytes.
    ///
    /// `scanned` is how many bytes at the front of `buf` an earlier call
    /// found [`Next::Incomplete`] (0 if none): a delimiter search resumes
    /// there, so a frame arriving in many reads is searched once, not once
    /// per read.
    pub fn next(&self, buf: &[u8], scanned: usize) -> Result<Next> {
        match *self {
            Framing::Stream if buf.is_empty() => Ok(Next::Incomplete),
            Framing::Stream => Ok(Next::Frame { start: 0, len: buf.len(), consumed: buf.len() }),
            Framing::Delimited { ref delimiter, delimiter_len, max } => {
                let delimiter = &delimiter[..delimiter_len as usize];
                let window = buf.len().min(max as usize + delimiter.len());
                // A delimiter may straddle the end of what was scanned.
                let from = scanned.saturating_sub(delimiter.len() - 1).min(window);
                let found = match delimiter {
                    [byte] => memchr::memchr(*byte, &buf[from..window]),
                    _ => memchr::memmem::find(&buf[from..window], delimiter),
                }
                .map(|at| from + at);
                match found {
                    Some(len) if len <= max as usize => {
                        Ok(Next::Frame { start: 0, len, consumed: len + delimiter.len() })
                    }
                    Some(_) => Err(Error::EMSGSIZE),
                    None if buf.len() >= max as usize + delimiter.len() => Err(Error::EMSGSIZE),
                    None => Ok(Next::Incomplete),
                }
            }
            Framing::Fixed { size } => {
                let size = size as usize;
                Ok(if buf.len() >= size {
                    Next::Frame { start: 0, len: size, consumed: size }
                } else {
                    Next::Incomplete
                })
            }
            Framing::LengthPrefixed { header, max } => {
                let header = header as usize;
                if buf.len() < header {
                    return Ok(Next::Incomplete);
                }
                let len = declared_len(&buf[..header]);
                if len > max as usize {
                    return Err(Error::EMSGSIZE);
                }
                Ok(if buf.len() >= header + len {
                    Next::Frame { start: header, len, consumed: header + len }
                } else {
                    Next::Incomplete
                })
            }
        }
    }

    /// The most bytes the incomplete frame at the front of `buf` can still
    /// take: reading more into a frame's own buffer would only read the
    /// frames after it (or an oversized frame, for a delimiter).
    pub(crate) fn room(&self, buf: &[u8]) -> usize {
        match *self {
            Framing::Stream => usize::MAX,
            Framing::Delimited { delimiter_len, max, .. } => {
                (max as usize + delimiter_len as usize).saturating_sub(buf.len())
            }
            Framing::Fixed { size } => (size as usize).saturating_sub(buf.len()),
            Framing::LengthPrefixed { header, max } => {
                let header = header as usize;
                let len = buf.get(..header).map_or(max as usize, declared_len);
                (header + len).saturating_sub(buf.len())
            }
        }
    }

    /// The bytes a trailing partial frame still holds at end of stream are
    /// delivered as a last frame only in delimiter mode (a last line without
    /// its newline); in fixed and length-prefixed modes they are incomplete
    /// and dropped.
    pub(crate) fn delivers_tail(&self) -> bool {
        matches!(self, Framing::Delimited { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_fills_in_the_defaults_and_names_what_it_refuses() {
        let params = FramingParams::default();
        assert_eq!(Framing::build(FramingMode::Stream, params), Ok(Framing::Stream));
        assert_eq!(Framing::build(FramingMode::Delimited, params), Framing::delimited(b"\n", DEFAULT_MAX_FRAME));
        assert_eq!(Framing::build(FramingMode::LengthPrefixed, params), Framing::length_prefixed(4, DEFAULT_MAX_FRAME));
        let refused = |mode, params| Framing::build(mode, params).unwrap_err().detail().map(|d| d.argument);
        assert_eq!(refused(FramingMode::Fixed, params), Some("size"));
        assert_eq!(refused(FramingMode::Fixed, FramingParams { size: Some(0), ..params }), Some("size"));
        assert_eq!(refused(FramingMode::Stream, FramingParams { max_frame: Some(9), ..params }), Some("max_frame"));
        assert_eq!(refused(FramingMode::Delimited, FramingParams { header: Some(2), ..params }), Some("header"));
        assert_eq!(
            refused(FramingMode::Delimited, FramingParams { delimiter: Some(b""), ..params }),
            Some("delimiter")
        );
        assert_eq!(refused(FramingMode::LengthPrefixed, FramingParams { header: Some(3), ..params }), Some("header"));
        for &mode in FramingMode::ALL {
            let params = if mode == FramingMode::Fixed { FramingParams { size: Some(8), ..params } } else { params };
            assert_eq!(Framing::build(mode, params).map(|f| f.mode()), Ok(mode));
        }
    }

    fn frames(framing: &Framing, mut buf: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        while let Next::Frame { start, len, consumed } = framing.next(buf, 0)? {
            out.push(buf[start..start + len].to_vec());
            buf = &buf[consumed..];
        }
        Ok(out)
    }

    #[test]
    fn delimiter_frames_exclude_the_delimiter() {
        let f = Framing::delimited(b"\n", 10).unwrap();
        assert_eq!(frames(&f, b"ab\n\ncd\nef").unwrap(), [b"ab".to_vec(), vec![], b"cd".to_vec()]);
        let f = Framing::delimited(b"\r\n", 10).unwrap();
        assert_eq!(frames(&f, b"a\r\nb\r").unwrap(), [b"a".to_vec()]);
    }

    #[test]
    fn oversized_frames_fail_early() {
        let f = Framing::delimited(b"\n", 4).unwrap();
        assert_eq!(frames(&f, b"abcd\n").unwrap(), [b"abcd".to_vec()]);
        assert_eq!(f.next(b"abcde", 0), Err(Error::EMSGSIZE));
        assert_eq!(f.next(b"abcd", 0), Ok(Next::Incomplete));
        let f = Framing::length_prefixed(4, 100).unwrap();
        assert_eq!(f.next(&[0, 0, 0, 101], 0), Err(Error::EMSGSIZE));
    }

    #[test]
    fn length_prefixed_and_fixed() {
        let f = Framing::length_prefixed(2, 100).unwrap();
        assert_eq!(frames(&f, &[0, 2, 7, 8, 0, 0, 0, 1]).unwrap(), [vec![7, 8], vec![]]);
        let f = Framing::fixed(3).unwrap();
        assert_eq!(frames(&f, b"abcdefg").unwrap(), [b"abc".to_vec(), b"def".to_vec()]);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(Framing::delimited(b"", 10).is_err());
        assert!(Framing::delimited(b"123456789", 10).is_err());
        assert!(Framing::delimited(b"\n", 0).is_err());
        assert!(Framing::length_prefixed(3, 10).is_err());
        assert!(Framing::fixed(MAX_FRAME_LIMIT + 1).is_err());
    }
}
