//! The RESP request parser: multi-bulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline
//! (`GET k\r\n`) requests, with Redis's limits and error texts.
//!
//! The parser never copies a multi-bulk argument: it records each argument as a range of the
//! input buffer, and [`Args`] hands out slices. "Not enough bytes yet" is
//! [`Parsed::Incomplete`], with the total size the request needs when the header tells it, so
//! the connection can skip re-parsing until that many bytes have arrived. Inline requests may
//! quote and escape their arguments, so their arguments are unescaped into a scratch buffer.

use std::ops::Range;

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest inline request, and the longest line of a
/// multi-bulk header, before the request is rejected.
pub const INLINE_BYTES_MAX: usize = 64 * 1024;

/// The largest multi-bulk count: Redis refuses counts above `INT_MAX` with "invalid multibulk
/// length", and so do we. Arguments are recorded as they are parsed, never preallocated from
/// the count, so a large count alone costs nothing.
pub const MULTIBULK_COUNT_MAX: i64 = i32::MAX as i64;

/// Limits the parser enforces, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest bulk string.
    pub bulk_bytes_max: usize,
}

/// The outcome of one parse attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request of `consumed` bytes; its arguments are in the [`Request`]. A request
    /// with no arguments (an empty line, `*0`) is complete with zero arguments: skip it.
    Complete {
        /// Bytes the request took.
        consumed: usize,
    },
    /// More bytes are needed; `want` is the whole request's size when already known, else 0.
    Incomplete {
        /// Total bytes needed, if known.
        want: usize,
    },
    /// A protocol error: Redis replies `-ERR Protocol error: <message>` and closes.
    Error(&'static str),
    /// A multi-bulk argument that does not start with `$`: Redis replies
    /// `-ERR Protocol error: expected '$', got '<the byte>'` and closes.
    ExpectedDollar(u8),
}

/// Where the arguments of the last parsed request live, and how far an incomplete
/// multi-bulk request got.
///
/// A connection owns one. After [`Parsed::Incomplete`], the next [`Request::parse`] must be
/// given the same request again from its first byte, with more bytes after it (which is what
/// a connection does: it consumes only complete requests). The parser then resumes at the
/// first argument it has not parsed yet, so a request of a million arguments that arrives in
/// many reads is parsed once, not once per read.
#[derive(Debug, Default)]
pub struct Request {
    ranges: Vec<Range<usize>>,
    /// Unescaped inline arguments; the ranges point here when `inline` is set.
    scratch: Vec<u8>,
    inline: bool,
    /// An incomplete multi-bulk request: its argument count and where its next unparsed
    /// argument starts (the arguments before it are in `ranges`).
    partial: Option<(i64, usize)>,
}

/// The arguments of one request, borrowed from the input buffer (or the inline scratch).
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    bytes: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    /// The number of arguments (the command name included).
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `index`.
    pub fn get(&self, index: usize) -> &'a [u8] {
        &self.bytes[self.ranges[index].clone()]
    }

    /// The arguments from `from` on, as arguments of their own (`COMMAND GETKEYS` looks at
    /// the command line it was given as a request).
    pub fn skip(&self, from: usize) -> Args<'a> {
        Args {
            bytes: self.bytes,
            ranges: &self.ranges[from.min(self.ranges.len())..],
        }
    }

    /// The arguments from `from` on.
    pub fn iter_from(&self, from: usize) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let bytes = self.bytes;
        self.ranges[from.min(self.ranges.len())..]
            .iter()
            .map(move |range| &bytes[range.clone()])
    }
}

impl Request {
    /// The arguments, given the input the request was parsed from.
    pub fn args<'a>(&'a self, input: &'a [u8]) -> Args<'a> {
        Args {
            bytes: if self.inline { &self.scratch } else { input },
            ranges: &self.ranges,
        }
    }

    /// Frees the argument list if a large request left it big (an idle connection should
    /// hold little memory); small lists are kept for reuse.
    pub fn trim(&mut self) {
        const KEPT_ARGUMENTS_MAX: usize = 64;
        if self.partial.is_none() && self.ranges.capacity() > KEPT_ARGUMENTS_MAX {
            self.ranges = Vec::new();
        }
        if self.scratch.capacity() > 1024 {
            self.scratch = Vec::new();
        }
    }

    /// Parses one request at the start of `input` (see the type's docs for the resumption
    /// contract).
    pub fn parse(&mut self, input: &[u8], limits: Limits) -> Parsed {
        if let Some((count, position)) = self.partial.take() {
            if input.first() == Some(&b'*') && position <= input.len() {
                return self.parse_arguments(input, count, position, limits);
            }
        }
        self.ranges.clear();
        self.inline = false;
        match input.first() {
            None => Parsed::Incomplete { want: 0 },
            Some(b'*') => self.parse_multibulk(input, limits),
            Some(_) => self.parse_inline(input),
        }
    }

    fn parse_multibulk(&mut self, input: &[u8], limits: Limits) -> Parsed {
        let (count, line_end) = match plain_length(input, 1) {
            Some(found) => found,
            None => {
                let Some(line_end) = find_crlf(input, 1) else {
                    return if input.len() > INLINE_BYTES_MAX {
                        Parsed::Error("too big mbulk count string")
                    } else {
                        Parsed::Incomplete { want: 0 }
                    };
                };
                let Some(count) = parse_decimal(&input[1..line_end]) else {
                    return Parsed::Error("invalid multibulk length");
                };
                (count, line_end)
            }
        };
        if count > MULTIBULK_COUNT_MAX {
            return Parsed::Error("invalid multibulk length");
        }
        let position = line_end + 2;
        if count <= 0 {
            return Parsed::Complete { consumed: position };
        }
        self.parse_arguments(input, count, position, limits)
    }

    /// Parses the arguments of a multi-bulk request from `position`, the start of argument
    /// `self.ranges.len()` of `count`.
    fn parse_arguments(
        &mut self,
        input: &[u8],
        count: i64,
        mut position: usize,
        limits: Limits,
    ) -> Parsed {
        while (self.ranges.len() as i64) < count {
            let Some(&first) = input.get(position) else {
                self.partial = Some((count, position));
                return Parsed::Incomplete { want: 0 };
            };
            if first != b'$' {
                return Parsed::ExpectedDollar(first);
            }
            let (length, line_end) = match plain_length(input, position + 1) {
                Some(found) => found,
                None => {
                    let Some(line_end) = find_crlf(input, position + 1) else {
                        if input.len() - position > INLINE_BYTES_MAX {
                            return Parsed::Error("too big bulk count string");
                        }
                        self.partial = Some((count, position));
                        return Parsed::Incomplete { want: 0 };
                    };
                    let Some(length) = parse_decimal(&input[position + 1..line_end]) else {
                        return Parsed::Error("invalid bulk length");
                    };
                    (length, line_end)
                }
            };
            let length = match length {
                length if length >= 0 && length as u64 <= limits.bulk_bytes_max as u64 => {
                    length as usize
                }
                _ => return Parsed::Error("invalid bulk length"),
            };
            let start = line_end + 2;
            let end = start + length;
            if input.len() < end + 2 {
                self.partial = Some((count, position));
                return Parsed::Incomplete { want: end + 2 };
            }
            // Redis does not check the two bytes after the bulk; it skips them. So do we.
            self.ranges.push(start..end);
            position = end + 2;
        }
        Parsed::Complete { consumed: position }
    }

    fn parse_inline(&mut self, input: &[u8]) -> Parsed {
        let Some(newline) = input.iter().position(|&b| b == b'\n') else {
            return if input.len() > INLINE_BYTES_MAX {
                Parsed::Error("too big inline request")
            } else {
                Parsed::Incomplete { want: 0 }
            };
        };
        let mut line = &input[..newline];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        self.inline = true;
        self.scratch.clear();
        if split_args(line, &mut self.scratch, &mut self.ranges).is_none() {
            return Parsed::Error("unbalanced quotes in request");
        }
        Parsed::Complete {
            consumed: newline + 1,
        }
    }
}

/// C's `isspace`: space, tab, newline, vertical tab, form feed, carriage return.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The index of the next `\r\n` at or after `from`.
fn find_crlf(input: &[u8], from: usize) -> Option<usize> {
    let rest = input.get(from..)?;
    let mut offset = 0;
    while let Some(found) = rest[offset..].iter().position(|&b| b == b'\r') {
        let at = offset + found;
        match rest.get(at + 1) {
            Some(b'\n') => return Some(from + at),
            Some(_) => offset = at + 1,
            None => return None,
        }
    }
    None
}

/// The common length line, read in one pass: a digit from 1 to 9, at most 16 more digits,
/// then `\r\n`. Returns the value and the index of the `\r`. Anything else (`0`, a sign, a
/// leading zero, a longer number, a line not complete yet) gives `None`, and the caller reads
/// the line the general way ([`find_crlf`], [`parse_decimal`]), which accepts exactly the
/// same lines with the same values: this only skips a second pass and a call for ~1-3 digits
/// that took ~60 instructions each (callgrind, pipelined `GET`).
#[inline]
fn plain_length(input: &[u8], from: usize) -> Option<(i64, usize)> {
    let line = input.get(from..)?;
    let first = *line.first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut value = i64::from(first - b'0');
    let mut offset = 1;
    while offset < line.len().min(18) {
        match line[offset] {
            byte @ b'0'..=b'9' => value = value * 10 + i64::from(byte - b'0'),
            b'\r' if line.get(offset + 1) == Some(&b'\n') => return Some((value, from + offset)),
            _ => return None,
        }
        offset += 1;
    }
    None
}

/// A decimal integer as Redis's `string2ll` reads a length: optional `-`, digits.
fn parse_decimal(bytes: &[u8]) -> Option<i64> {
    keyspace::parse_i64(bytes)
}

/// Splits an inline line into arguments as Redis's `sdssplitargs`: spaces separate, "double
/// quotes" support `\n \r \t \b \a \\ \" \xHH`, 'single quotes' support `\'`, and a closing
/// quote must be followed by a space or the end. `None` on unbalanced quotes.
pub fn split_args(
    line: &[u8],
    scratch: &mut Vec<u8>,
    ranges: &mut Vec<Range<usize>>,
) -> Option<()> {
    // Redis splits a C string: a NUL byte ends the line.
    let line = line.split(|&b| b == 0).next().unwrap_or(&[]);
    let mut index = 0;
    loop {
        while index < line.len() && is_c_space(line[index]) {
            index += 1;
        }
        if index >= line.len() {
            return Some(());
        }
        let start = scratch.len();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let byte = line.get(index).copied();
            if in_double {
                match byte {
                    None => return None,
                    Some(b'\\')
                        if index + 3 < line.len()
                            && line[index + 1] == b'x'
                            && line[index + 2].is_ascii_hexdigit()
                            && line[index + 3].is_ascii_hexdigit() =>
                    {
                        let hex = std::str::from_utf8(&line[index + 2..index + 4]).ok()?;
                        scratch.push(u8::from_str_radix(hex, 16).ok()?);
                        index += 4;
                        continue;
                    }
                    Some(b'\\') if index + 1 < line.len() => {
                        let escaped = match line[index + 1] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        };
                        scratch.push(escaped);
                        index += 2;
                        continue;
                    }
                    Some(b'"') => {
                        // The closing quote must be followed by a space or nothing.
                        if line.get(index + 1).is_some_and(|&b| !is_c_space(b)) {
                            return None;
                        }
                        index += 1;
                        break;
                    }
                    Some(other) => scratch.push(other),
                }
            } else if in_single {
                match byte {
                    None => return None,
                    Some(b'\\') if line.get(index + 1) == Some(&b'\'') => {
                        scratch.push(b'\'');
                        index += 2;
                        continue;
                    }
                    Some(b'\'') => {
                        if line.get(index + 1).is_some_and(|&b| !is_c_space(b)) {
                            return None;
                        }
                        index += 1;
                        break;
                    }
                    Some(other) => scratch.push(other),
                }
            } else {
                match byte {
                    None => break,
                    Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => scratch.push(other),
                }
            }
            index += 1;
        }
        ranges.push(start..scratch.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        bulk_bytes_max: 512 * 1024 * 1024,
    };

    fn parse(input: &[u8]) -> (Parsed, Vec<Vec<u8>>) {
        let mut request = Request::default();
        let parsed = request.parse(input, LIMITS);
        let args = request.args(input);
        let list = (0..args.len()).map(|i| args.get(i).to_vec()).collect();
        (parsed, list)
    }

    /// The one-pass reading of a length line agrees with the general one wherever it answers,
    /// and answers for the lengths clients send.
    #[test]
    fn the_plain_length_fast_path_reads_what_the_general_path_reads() {
        let general = |line: &[u8]| {
            let end = find_crlf(line, 0)?;
            Some((parse_decimal(&line[..end])?, end))
        };
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for text in [
            "0",
            "1",
            "9",
            "10",
            "32",
            "512",
            "-1",
            "-0",
            "01",
            "+1",
            " 1",
            "1 ",
            "1a",
            "9999999999999999",
            "99999999999999999",
            "999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "",
        ] {
            for end in ["\r\n", "\r", "\rx\r\n", "\n", ""] {
                lines.push(format!("{text}{end}").into_bytes());
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let length = (seed % 22) as usize;
            let line: Vec<u8> = (0..length)
                .map(|i| b"0123456789\r\n-x"[((seed >> (i * 3 % 60)) % 14) as usize])
                .collect();
            lines.push(line);
        }
        let mut answered = 0;
        for line in &lines {
            if let Some(fast) = plain_length(line, 0) {
                answered += 1;
                assert_eq!(
                    Some(fast),
                    general(line),
                    "{:?}",
                    String::from_utf8_lossy(line)
                );
            }
        }
        assert!(plain_length(b"3\r\n", 0) == Some((3, 1)));
        assert!(plain_length(b"9999999999999999\r\n", 0).is_some());
        assert!(answered > 100, "{answered}");
    }

    #[test]
    fn multibulk() {
        let (parsed, args) = parse(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nextra");
        assert_eq!(parsed, Parsed::Complete { consumed: 20 });
        assert_eq!(args, vec![b"GET".to_vec(), b"k".to_vec()]);
        // Every prefix is incomplete, never an error.
        let whole = b"*2\r\n$3\r\nSET\r\n$5\r\nhello\r\n";
        for cut in 0..whole.len() {
            assert!(
                matches!(parse(&whole[..cut]).0, Parsed::Incomplete { .. }),
                "prefix of {cut} bytes"
            );
        }
        assert_eq!(
            parse(&whole[..18]).0,
            Parsed::Incomplete { want: whole.len() }
        );
        assert_eq!(parse(b"*0\r\n").0, Parsed::Complete { consumed: 4 });
        assert_eq!(parse(b"*-1\r\n").0, Parsed::Complete { consumed: 5 });
    }

    #[test]
    fn multibulk_errors() {
        assert_eq!(
            parse(b"*x\r\n").0,
            Parsed::Error("invalid multibulk length")
        );
        assert_eq!(
            parse(b"*3000000000\r\n").0,
            Parsed::Error("invalid multibulk length")
        );
        assert_eq!(parse(b"*1\r\n+3\r\n").0, Parsed::ExpectedDollar(b'+'));
        assert_eq!(
            parse(b"*1\r\n$-1\r\n").0,
            Parsed::Error("invalid bulk length")
        );
        assert_eq!(
            parse(b"*1\r\n$abc\r\n").0,
            Parsed::Error("invalid bulk length")
        );
        let mut request = Request::default();
        let small = Limits { bulk_bytes_max: 4 };
        assert_eq!(
            request.parse(b"*1\r\n$5\r\n", small),
            Parsed::Error("invalid bulk length")
        );
        let long = vec![b'1'; INLINE_BYTES_MAX + 10];
        let mut input = b"*".to_vec();
        input.extend_from_slice(&long);
        assert_eq!(parse(&input).0, Parsed::Error("too big mbulk count string"));
    }

    #[test]
    fn a_request_arriving_in_pieces_resumes_where_it_stopped() {
        let args: Vec<Vec<u8>> = (0..10_000)
            .map(|i| format!("arg{i}").into_bytes())
            .collect();
        let mut whole = format!("*{}\r\n", args.len()).into_bytes();
        for arg in &args {
            whole.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            whole.extend_from_slice(arg);
            whole.extend_from_slice(b"\r\n");
        }
        let mut request = Request::default();
        let mut cut = 0;
        let consumed = loop {
            cut = (cut + 97).min(whole.len());
            match request.parse(&whole[..cut], LIMITS) {
                Parsed::Incomplete { .. } => assert!(cut < whole.len()),
                Parsed::Complete { consumed } => break consumed,
                other => panic!("{other:?} at {cut}"),
            }
            // The parser kept what it had: it resumes instead of starting over.
            assert!(request.ranges.len() <= args.len());
        };
        assert_eq!(consumed, whole.len());
        let parsed = request.args(&whole);
        assert_eq!(parsed.len(), args.len());
        assert_eq!(parsed.get(9_999), b"arg9999");
        // The next request starts from scratch.
        assert_eq!(
            request.parse(b"*1\r\n$4\r\nPING\r\n", LIMITS),
            Parsed::Complete { consumed: 14 }
        );
        assert_eq!(request.args(b"*1\r\n$4\r\nPING\r\n").len(), 1);
    }

    #[test]
    fn inline() {
        let (parsed, args) = parse(b"SET k \"a b\\n\" 'c\\'d' \"\\x41\"\r\nrest");
        assert_eq!(parsed, Parsed::Complete { consumed: 29 });
        assert_eq!(
            args,
            vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"a b\n".to_vec(),
                b"c'd".to_vec(),
                b"A".to_vec()
            ]
        );
        assert_eq!(parse(b"PING\n").1, vec![b"PING".to_vec()]);
        // A NUL ends the line, as in Redis's C-string splitter (the property test below
        // found that a NUL once made the splitter spin forever).
        assert_eq!(
            parse(b"GET a\0b c\r\n").1,
            vec![b"GET".to_vec(), b"a".to_vec()]
        );
        assert_eq!(parse(b"\x0bGET\x0ck\r\n").1, vec![b"GET\x0ck".to_vec()]);
        assert_eq!(parse(b"\r\n").0, Parsed::Complete { consumed: 2 });
        assert!(parse(b"\r\n").1.is_empty());
        assert_eq!(
            parse(b"GET \"k\r\n").0,
            Parsed::Error("unbalanced quotes in request")
        );
        assert_eq!(
            parse(b"GET \"k\"x\r\n").0,
            Parsed::Error("unbalanced quotes in request")
        );
        assert_eq!(parse(b"GET k").0, Parsed::Incomplete { want: 0 });
        let long = vec![b'a'; INLINE_BYTES_MAX + 1];
        assert_eq!(parse(&long).0, Parsed::Error("too big inline request"));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        const LIMITS: Limits = Limits {
            bulk_bytes_max: 1 << 20,
        };

        fn encode(args: &[Vec<u8>]) -> Vec<u8> {
            let mut out = format!("*{}\r\n", args.len()).into_bytes();
            for arg in args {
                out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                out.extend_from_slice(arg);
                out.extend_from_slice(b"\r\n");
            }
            out
        }

        proptest! {
            /// Arbitrary bytes never panic, and a complete parse never claims more than it
            /// was given; "incomplete" never asks for fewer bytes than it has.
            #[test]
            fn arbitrary_bytes_are_handled(input in proptest::collection::vec(any::<u8>(), 0..512)) {
                let mut request = Request::default();
                match request.parse(&input, LIMITS) {
                    Parsed::Complete { consumed } => {
                        prop_assert!(consumed <= input.len());
                        let args = request.args(&input);
                        for index in 0..args.len() {
                            let _ = args.get(index);
                        }
                    }
                    Parsed::Incomplete { want } => prop_assert!(want == 0 || want > input.len()),
                    Parsed::Error(_) | Parsed::ExpectedDollar(_) => {}
                }
            }

            /// Any request round-trips: the whole encoding parses to exactly its arguments,
            /// every strict prefix is incomplete, and trailing bytes are left alone.
            #[test]
            fn encoded_requests_round_trip(
                args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8),
                trailing in proptest::collection::vec(any::<u8>(), 0..16),
            ) {
                let encoded = encode(&args);
                let mut input = encoded.clone();
                input.extend_from_slice(&trailing);
                let mut request = Request::default();
                prop_assert_eq!(request.parse(&input, LIMITS), Parsed::Complete { consumed: encoded.len() });
                let parsed = request.args(&input);
                let parsed: Vec<Vec<u8>> = (0..parsed.len()).map(|i| parsed.get(i).to_vec()).collect();
                prop_assert_eq!(parsed, args);
                for cut in 0..encoded.len() {
                    let parsed = request.parse(&encoded[..cut], LIMITS);
                    prop_assert!(
                        matches!(parsed, Parsed::Incomplete { want } if want == 0 || want <= encoded.len()),
                        "prefix {} gave {:?}", cut, parsed
                    );
                }
            }
        }
    }
}
