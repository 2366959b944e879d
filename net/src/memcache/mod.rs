//! # memcache: memcached's protocols over the shared keyspace
//!
//! Three codecs, as memcached 1.6 speaks them (`doc/protocol.txt` and
//! `doc/protocol-binary.txt`):
//!
//! * [`text`]: the classic text commands (`get`, `set`, `cas`, `incr`, `flush_all`, ...);
//! * [`meta`]: the meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`), which share the text
//!   protocol's framing, so a connection may mix them;
//! * [`binary`]: the binary protocol (first byte `0x80`).
//!
//! Both codecs dispatch through the [`table`]: one row per text verb, meta command and binary
//! opcode, holding the facts the dispatcher acts on and the handler. The handlers are grouped
//! by family, one file each: `storage` (set, add, replace, append, prepend, cas), `retrieval`
//! (get, gets, gat, gats), `arithmetic` (incr, decr), `keys` (delete, touch), `server` (stats,
//! flush_all, version, verbosity, quit, shutdown, noop) and [`meta`]; each file serves the
//! text and the binary form of its commands. [`numbers`] reads numbers by memcached's rules and
//! [`stats`] keeps the counters its `stats` reports.
//!
//! Items live in the same keyspace as Redis strings: the memcached flags are the entry's
//! [`Meta::flags`](engine::Meta), the CAS unique is the entry's version, and the expiry is the
//! entry's expiry. Keys longer than [`KEY_BYTES_MAX`] are refused, values longer than the
//! `max-item-size` option (memcached's `-I`, 1 MB by default) are refused with memcached's
//! text and their data is skipped.

mod arithmetic;
pub mod binary;
mod keys;
pub mod meta;
pub mod numbers;
mod retrieval;
mod server;
pub mod stats;
mod storage;
pub mod table;
pub mod text;

use crate::session::Session;
use engine::Engine;
use keyspace::Value;

/// memcached's `KEY_MAX_LENGTH`.
pub const KEY_BYTES_MAX: usize = 250;

/// memcached's `REALTIME_MAXDELTA`: expiry times above this many seconds are absolute Unix
/// times, at or below it they are relative to now.
pub const RELATIVE_EXPIRY_SECONDS_MAX: i64 = 60 * 60 * 24 * 30;

/// The longest command line we wait for before deciding the client is not speaking the
/// protocol (memcached allows 2048 bytes except for multi-key gets, which may be longer).
pub const LINE_BYTES_MAX: usize = 2048;

/// The longest multi-key get line (memcached lets those grow without a fixed bound; we bound
/// them).
pub const GET_LINE_BYTES_MAX: usize = 1024 * 1024;

/// The version string `version` reports: the memcached release whose protocol we follow.
pub const VERSION: &str = "1.6.18";

/// memcached's expiry rule: 0 never expires, negative is already expired, up to 30 days is
/// relative, more is an absolute Unix time. Returns an absolute time in milliseconds (0 for
/// "never"; a time in the past for "already expired").
pub fn expire_at_ms(exptime: i64, now_ms: u64) -> u64 {
    if exptime == 0 {
        0
    } else if exptime < 0 {
        1
    } else if exptime > RELATIVE_EXPIRY_SECONDS_MAX {
        (exptime as u64).saturating_mul(1000).max(1)
    } else {
        now_ms + exptime as u64 * 1000
    }
}

/// Remaining seconds to live as memcached reports them (`-1` for never).
pub fn ttl_seconds(expire_at_ms: u64, now_ms: u64) -> i64 {
    if expire_at_ms == 0 {
        -1
    } else {
        (expire_at_ms.saturating_sub(now_ms) / 1000) as i64
    }
}

/// Whether a key is acceptable: 1 to 250 bytes.
///
/// protocol.txt says text keys carry no control characters or whitespace, but memcached 1.6
/// only enforces the length: its tokenizer splits on spaces, so a text key cannot hold one,
/// and any other byte is stored as it is. Tools rely on that (memcaslap's keys start with
/// eight 0x10 bytes), so we enforce what memcached enforces. Binary-protocol keys may hold any
/// byte.
pub fn valid_key(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= KEY_BYTES_MAX
}

/// Finds the end of the first line: returns (line without the line ending, bytes including
/// it). memcached accepts `\n` as well as `\r\n`.
pub fn split_line(input: &[u8]) -> Option<(&[u8], usize)> {
    let newline = input.iter().position(|&b| b == b'\n')?;
    let line = &input[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, newline + 1))
}

/// Parses an unsigned decimal as memcached's `safe_strtoull` (digits only here).
pub fn parse_u64(token: &[u8]) -> Option<u64> {
    if token.is_empty() || !token.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(token).ok()?.parse().ok()
}

/// Parses a signed decimal as memcached's `safe_strtol`.
pub fn parse_i64(token: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(token).ok()?;
    if text.is_empty() || text.starts_with('+') {
        return None;
    }
    text.parse().ok()
}

/// Parses client flags: an unsigned 32-bit decimal.
pub fn parse_flags(token: &[u8]) -> Option<u32> {
    parse_u64(token).and_then(|flags| u32::try_from(flags).ok())
}

/// Writes memcached's error for a write refused because the append-only file cannot be
/// written (`SERVER_ERROR ...`, sent even under `noreply`, as memcached does for server
/// errors); whether it did.
pub(super) fn refuse_write<E: Engine<Value = Value>>(session: &mut Session<'_, E>) -> bool {
    let Some(refusal) = session.shared.write_refusal() else {
        return false;
    };
    // "MISCONF Errors writing ...": memcached clients get the text after the code.
    let text = refusal.strip_prefix("MISCONF ").unwrap_or(&refusal);
    session.raw(b"SERVER_ERROR ");
    session.raw(text.as_bytes());
    session.raw(b"\r\n");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_follows_memcached() {
        let now = 1_700_000_000_000;
        assert_eq!(expire_at_ms(0, now), 0);
        assert_eq!(expire_at_ms(-1, now), 1);
        assert_eq!(expire_at_ms(10, now), now + 10_000);
        assert_eq!(
            expire_at_ms(RELATIVE_EXPIRY_SECONDS_MAX, now),
            now + 2_592_000_000
        );
        assert_eq!(expire_at_ms(1_800_000_000, now), 1_800_000_000_000);
        assert_eq!(ttl_seconds(0, now), -1);
        assert_eq!(ttl_seconds(now + 5_500, now), 5);
    }

    #[test]
    fn keys_and_numbers() {
        assert!(valid_key(b"abc"));
        assert!(!valid_key(b""));
        assert!(!valid_key(&[b'a'; 251]));
        assert!(valid_key(&[b'a'; 250]));
        // Control bytes are fine, as in memcached (memcaslap's keys start with 0x10 bytes).
        assert!(valid_key(b"\x10\x10abc"));
        assert_eq!(parse_flags(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_flags(b"4294967296"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(split_line(b"get a\r\nrest"), Some((&b"get a"[..], 7)));
        assert_eq!(split_line(b"get a\nrest"), Some((&b"get a"[..], 6)));
        assert_eq!(split_line(b"get a"), None);
    }
}
