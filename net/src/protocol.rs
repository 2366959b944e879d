//! Protocol detection, and what every codec reports after processing input.
//!
//! Both ports accept every protocol; the first bytes of a connection decide which it speaks
//! for its whole life. Bytes that fit no protocol are read as the port's own ("home")
//! protocol, so a client gets the errors of the server it meant to talk to:
//!
//! | first bytes | protocol |
//! |---|---|
//! | `*` | RESP (multi-bulk) |
//! | `0x80` | memcached binary |
//! | a lowercase word only memcached has, or `get`, followed by a space or line end (`get `, `gets `, `mg `, `stats\r\n`, ...) | memcached text |
//! | a lowercase word both have (`set`, `append`, `incr`, `decr`, `touch`, `quit`, `shutdown`): on the RESP port, memcached text only when the whole first line fits memcached's grammar for it (`set k 0 0 5`), else RESP inline; on the memcached port, memcached text | |
//! | anything else, on the RESP port | RESP inline |
//! | anything else, on the memcached port | memcached text (a blank line or an unknown word gets `ERROR`) |
//!
//! Redis clients always send multi-bulk requests; people typing at a terminal use inline
//! commands, which Redis matches in any case. On the RESP port a lowercase inline command that
//! is also a memcached verb reaches RESP unless its line is a memcached command line (`set k v`
//! is Redis's, `set k 0 0 1` memcached's); the one ambiguity left is `get k`, read as
//! memcached. Uppercase inline commands (`GET k`) and everything a client library sends reach
//! RESP. On
//! the memcached port nothing but a multi-bulk request is RESP, and the first byte decides at
//! once: a client that sends an unknown word gets memcached's answer, never a wait.

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RESP, multi-bulk or inline.
    Resp,
    /// memcached text and meta commands.
    MemcacheText,
    /// memcached binary.
    MemcacheBinary,
}

/// memcached's text verbs and meta commands: the names of the rows of
/// [`Table::TEXT`](crate::memcache::table::Table::TEXT) (a test there checks each is here).
const MEMCACHE_VERBS: &[&[u8]] = &[
    b"get",
    b"gets",
    b"gat",
    b"gats",
    b"set",
    b"add",
    b"replace",
    b"append",
    b"prepend",
    b"cas",
    b"incr",
    b"decr",
    b"touch",
    b"delete",
    b"flush_all",
    b"stats",
    b"version",
    b"verbosity",
    b"quit",
    b"shutdown",
    b"mg",
    b"ms",
    b"md",
    b"ma",
    b"mn",
    b"me",
];

/// The longest verb plus its separator: enough bytes to decide.
const DECIDE_BYTES: usize = 10;

/// The protocol of a connection whose first bytes are `first`, accepted on a port whose own
/// protocol is `home` ([`Protocol::Resp`] or [`Protocol::MemcacheText`]); `None` when more
/// bytes are needed to tell.
pub fn detect(first: &[u8], home: Protocol) -> Option<Protocol> {
    match first.first()? {
        b'*' => return Some(Protocol::Resp),
        0x80 => return Some(Protocol::MemcacheBinary),
        _ if home != Protocol::Resp => return Some(home),
        b'a'..=b'z' => {}
        _ => return Some(Protocol::Resp),
    }
    let word_end = first
        .iter()
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'));
    let Some(word_end) = word_end else {
        // No separator yet: wait, unless the word is already too long to be a verb.
        return if first.len() >= DECIDE_BYTES {
            Some(Protocol::Resp)
        } else {
            None
        };
    };
    let word = &first[..word_end];
    if !MEMCACHE_VERBS.contains(&word) {
        return Some(Protocol::Resp);
    }
    if !SHARED_VERBS.contains(&word) {
        return Some(Protocol::MemcacheText);
    }
    // A word both protocols have: the whole first line decides.
    let Some(line_end) = first.iter().position(|&b| b == b'\n') else {
        return if first.len() >= LINE_DECIDE_BYTES_MAX {
            Some(Protocol::Resp)
        } else {
            None
        };
    };
    let line = first[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&first[..line_end]);
    if fits_memcache_grammar(line) {
        Some(Protocol::MemcacheText)
    } else {
        Some(Protocol::Resp)
    }
}

/// memcached verbs that are Redis commands too. On the RESP port such a first line is read as
/// memcached only when it fits memcached's grammar for the verb ([`fits_memcache_grammar`]);
/// otherwise it is Redis's inline command, with Redis's replies and errors (`set k v`, `incr k`,
/// `quit`). Words that only memcached has (`gets`, `add`, `mg`, `stats`, ...) decide at once,
/// and so does `get`, whose memcached and Redis forms read alike (`get k`): it stays memcached.
const SHARED_VERBS: &[&[u8]] = &[
    b"set",
    b"append",
    b"incr",
    b"decr",
    b"touch",
    b"quit",
    b"shutdown",
];

/// The longest first line waited for when a shared verb leaves the protocol open: longer than
/// any memcached command line of those verbs (a key is at most 250 bytes).
const LINE_DECIDE_BYTES_MAX: usize = 1024;

/// Whether a first line starting with a [`SHARED_VERBS`] word is a memcached command: `set` and
/// `append` with flags, exptime and byte count (`set <key> <flags> <exptime> <bytes>
/// [noreply]`), `incr`/`decr` with a number (`incr <key> <value> [noreply]`), `touch <key>
/// <exptime> [noreply]`. `quit` and `shutdown` are Redis's on the RESP port.
fn fits_memcache_grammar(line: &[u8]) -> bool {
    let tokens: Vec<&[u8]> = line
        .split(|&b| b == b' ')
        .filter(|token| !token.is_empty())
        .collect();
    let number = |token: &[u8]| {
        let digits = token.strip_prefix(b"-").unwrap_or(token);
        !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
    };
    // The optional last word after `fixed` words.
    let noreply_after = |fixed: usize| tokens.len() == fixed || tokens[fixed] == b"noreply";
    match (tokens.first().copied(), tokens.len()) {
        (Some(b"set" | b"append"), 5 | 6) => {
            tokens[2..5].iter().all(|token| number(token)) && noreply_after(5)
        }
        (Some(b"incr" | b"decr" | b"touch"), 3 | 4) => number(tokens[2]) && noreply_after(3),
        _ => false,
    }
}

/// What a codec did with the input it was given.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Processed {
    /// Bytes of input consumed.
    pub consumed: usize,
    /// When the next request is incomplete: the bytes it needs in all, counted from the first
    /// byte *not* consumed, if known (0: unknown). The connection does not call the codec
    /// again until that much input is buffered.
    pub want: usize,
    /// Close the connection once the replies are flushed.
    pub close: bool,
    /// Processing stopped because the output passed its soft limit, with requests left.
    pub output_full: bool,
    /// Bytes still to be discarded as they arrive (the data of a refused memcached item).
    pub swallow: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_decide_on_the_memcached_port() {
        let detect = |first: &[u8]| detect(first, Protocol::MemcacheText);
        assert_eq!(detect(b"*1\r\n"), Some(Protocol::Resp));
        assert_eq!(detect(&[0x80, 0]), Some(Protocol::MemcacheBinary));
        assert_eq!(detect(b"get k\r\n"), Some(Protocol::MemcacheText));
        // What fits no protocol is memcached's, decided on the first byte: no wait.
        assert_eq!(detect(b"\r\n"), Some(Protocol::MemcacheText));
        assert_eq!(detect(b"\n"), Some(Protocol::MemcacheText));
        assert_eq!(detect(b"ge"), Some(Protocol::MemcacheText));
        assert_eq!(detect(b"PING\r\n"), Some(Protocol::MemcacheText));
        assert_eq!(detect(b"abcdefghijk"), Some(Protocol::MemcacheText));
        assert_eq!(detect(b""), None);
    }

    #[test]
    fn first_bytes_decide_on_the_resp_port() {
        let detect = |first: &[u8]| detect(first, Protocol::Resp);
        assert_eq!(detect(b"*1\r\n"), Some(Protocol::Resp));
        assert_eq!(detect(&[0x80, 0]), Some(Protocol::MemcacheBinary));
        assert_eq!(detect(b"get k\r\n"), Some(Protocol::MemcacheText));
        assert_eq!(detect(b"stats\r\n"), Some(Protocol::MemcacheText));
        assert_eq!(detect(b"mn\r\n"), Some(Protocol::MemcacheText));
        assert_eq!(detect(b"GET k\r\n"), Some(Protocol::Resp));
        assert_eq!(detect(b"ping\r\n"), Some(Protocol::Resp));
        assert_eq!(detect(b"\r\n"), Some(Protocol::Resp));
        assert_eq!(detect(b"ge"), None);
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b"abcdefghijk"), Some(Protocol::Resp));
        // Words both protocols have: the whole line decides, and needs its end.
        assert_eq!(detect(b"set k 0 0 5\r\n"), Some(Protocol::MemcacheText));
        assert_eq!(
            detect(b"set k 0 -1 5 noreply\r\n"),
            Some(Protocol::MemcacheText)
        );
        assert_eq!(detect(b"append k 1 2 3\n"), Some(Protocol::MemcacheText));
        assert_eq!(detect(b"incr k 5\r\n"), Some(Protocol::MemcacheText));
        assert_eq!(
            detect(b"touch k 10 noreply\r\n"),
            Some(Protocol::MemcacheText)
        );
        assert_eq!(detect(b"set k 0 0"), None);
        assert_eq!(detect(b"set k v\r\n"), Some(Protocol::Resp));
        assert_eq!(
            detect(b"set \"\"\"test-key\"\"\" test-value\r\n"),
            Some(Protocol::Resp)
        );
        assert_eq!(detect(b"set k 0 0 5 later\r\n"), Some(Protocol::Resp));
        assert_eq!(detect(b"incr k\r\n"), Some(Protocol::Resp));
        assert_eq!(detect(b"incr k x\r\n"), Some(Protocol::Resp));
        assert_eq!(detect(b"quit\r\n"), Some(Protocol::Resp));
        assert_eq!(detect(b"shutdown nosave\r\n"), Some(Protocol::Resp));
        // A line that never ends is not waited for past the longest memcached line.
        let mut long = b"set ".to_vec();
        long.resize(LINE_DECIDE_BYTES_MAX, b'k');
        assert_eq!(detect(&long), Some(Protocol::Resp));
    }

    mod properties {
        use crate::buffer::{Output, Pool};
        use crate::config::Config;
        use crate::resp::parse::Request;
        use crate::session::{RuntimeLimits, Session, Shared};
        use crate::{memcache, resp};
        use engine::LockFree;
        use keyspace::{Keyspace, Value};
        use proptest::prelude::*;
        use std::sync::Arc;

        /// Runs every codec over `input` and checks what each reports.
        fn check_codecs(input: &[u8]) -> Result<(), TestCaseError> {
            let keyspace = Arc::new(Keyspace::new(<LockFree<Value> as engine::Engine>::new()));
            let config = Config {
                max_item_size: 64,
                ..Config::default()
            };
            let shared = Shared::new(vec![keyspace], config.clone());
            let mut client = crate::client::Client::new(shared.register_client(None, None, -1, 0));
            let mut pool = Pool::new();
            for codec in 0..3 {
                let mut output = Output::default();
                let mut session = Session {
                    shared: &shared,
                    client: &mut client,
                    output: &mut output,
                    pool: &mut pool,
                    limits: RuntimeLimits::from_config(&config),
                    held: crate::lock::Held::Nothing,
                    stripes: None,
                };
                let processed = match codec {
                    0 => resp::process(&mut session, &mut Request::default(), input),
                    1 => memcache::text::process(&mut session, input),
                    _ => memcache::binary::process(&mut session, input),
                };
                drop(session);
                prop_assert!(
                    processed.consumed <= input.len(),
                    "codec {} over-consumed",
                    codec
                );
                let left = input.len() - processed.consumed;
                prop_assert!(
                    processed.want == 0 || processed.want > left || processed.output_full,
                    "codec {} waits for {} bytes with {} already buffered",
                    codec,
                    processed.want,
                    left
                );
                output.release(&mut pool);
            }
            Ok(())
        }

        /// Inputs that start like real requests, so the fuzzing gets past the first byte.
        fn seeded_input() -> impl Strategy<Value = Vec<u8>> {
            let prefixes = prop_oneof![
                Just(b"*".to_vec()),
                Just(b"*2\r\n$3\r\nGET\r\n$".to_vec()),
                Just(b"set k 0 0 ".to_vec()),
                Just(b"get ".to_vec()),
                Just(b"ms k ".to_vec()),
                Just(b"mg k v ".to_vec()),
                Just(b"ma k ".to_vec()),
                Just(vec![0x80]),
                Just(vec![0x80, 0x01, 0, 1, 8, 0, 0, 0, 0, 0, 0, 10]),
                Just(Vec::new()),
            ];
            (prefixes, proptest::collection::vec(any::<u8>(), 0..300)).prop_map(
                |(mut prefix, rest)| {
                    prefix.extend(rest);
                    prefix
                },
            )
        }

        proptest! {
            /// No input panics a codec, none consumes bytes it was not given, and "need more
            /// input" always asks for more than is already there (else the connection would
            /// wait forever for bytes it has).
            #[test]
            fn codecs_survive_arbitrary_input(input in seeded_input()) {
                check_codecs(&input)?;
            }
        }
    }
}
