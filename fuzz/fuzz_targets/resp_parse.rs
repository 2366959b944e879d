//! The RESP request parser (`net::resp::parse`), multi-bulk and inline, and protocol
//! detection on a connection's first bytes.
//!
//! Asserts:
//! * a complete parse consumes no more than it was given, and "incomplete" never asks for
//!   fewer bytes than are already there;
//! * a parsed request re-encodes: its arguments as a multi-bulk request parse back to exactly
//!   those arguments, consuming exactly the encoding, and so do they as an inline request with
//!   every byte escaped (`"\xHH"`), when that fits an inline line;
//! * resuming is parsing: feeding the input in growing prefixes to one `Request` (the
//!   connection's contract) ends exactly as parsing the whole input at once;
//! * detection does not depend on how the bytes arrive: once a prefix decides a protocol,
//!   every longer prefix decides the same one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::protocol::{detect, Protocol};
use net::resp::parse::{Limits, Parsed, Request, INLINE_BYTES_MAX};

/// Small, so the bulk-length limit is reachable by the fuzzer.
const LIMITS: Limits = Limits {
    bulk_bytes_max: 1 << 16,
};

fn arguments(request: &Request, input: &[u8]) -> Vec<Vec<u8>> {
    let args = request.args(input);
    (0..args.len())
        .map(|index| args.get(index).to_vec())
        .collect()
}

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn inline(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, arg) in args.iter().enumerate() {
        if index > 0 {
            out.push(b' ');
        }
        out.push(b'"');
        for byte in arg {
            out.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Parses `input` with a fresh request: the outcome and the arguments.
fn parse_once(input: &[u8]) -> (Parsed, Vec<Vec<u8>>) {
    let mut request = Request::default();
    let parsed = request.parse(input, LIMITS);
    let args = match parsed {
        Parsed::Complete { .. } => arguments(&request, input),
        _ => Vec::new(),
    };
    (parsed, args)
}

fn check_round_trip(args: &[Vec<u8>]) {
    let encoded = multibulk(args);
    let (parsed, again) = parse_once(&encoded);
    assert_eq!(
        parsed,
        Parsed::Complete {
            consumed: encoded.len()
        }
    );
    assert_eq!(again, args, "multi-bulk re-encoding");
    let encoded = inline(args);
    if encoded.len() <= INLINE_BYTES_MAX {
        let (parsed, again) = parse_once(&encoded);
        assert_eq!(
            parsed,
            Parsed::Complete {
                consumed: encoded.len()
            }
        );
        assert_eq!(again, args, "inline re-encoding");
    }
}

fuzz_target!(|input: &[u8]| {
    let (whole, args) = parse_once(input);
    match whole {
        Parsed::Complete { consumed } => {
            assert!(consumed <= input.len() && consumed > 0);
            // A NUL ends an inline line (Redis splits a C string), so an inline argument
            // never holds one; the escaped re-encoding carries any byte.
            if !args.is_empty() {
                check_round_trip(&args);
            }
        }
        Parsed::Incomplete { want } => assert!(want == 0 || want > input.len()),
        Parsed::Error(_) | Parsed::ExpectedDollar(_) => {}
    }

    // The same bytes arriving in pieces: one request, parsed again after each arrival.
    let step = 1 + input.first().map_or(0, |&b| b as usize % 61);
    let mut request = Request::default();
    let mut end = 0;
    let resumed = loop {
        end = (end + step).min(input.len());
        let parsed = request.parse(&input[..end], LIMITS);
        match parsed {
            Parsed::Incomplete { want } if end < input.len() => {
                assert!(want == 0 || want > end);
            }
            _ => break parsed,
        }
    };
    assert_eq!(resumed, whole, "resumed parse differs from one-shot parse");
    if let Parsed::Complete { .. } = resumed {
        assert_eq!(arguments(&request, input), args);
    }

    // Detection is decided once and never changes as more bytes arrive.
    for home in [Protocol::Resp, Protocol::MemcacheText] {
        let mut decided = None;
        // Every `step`-th prefix (every prefix would make each input quadratic).
        let ends = (0..=input.len().min(1100))
            .step_by(step)
            .chain([input.len()]);
        for end in ends {
            let found = detect(&input[..end], home);
            if let Some(first) = decided {
                assert_eq!(found, Some(first), "detection changed at {end} bytes");
            }
            decided = decided.or(found);
        }
    }
});
