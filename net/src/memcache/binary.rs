//! memcached's binary protocol (`protocol-binary.txt`): a 24-byte header, then extras, key and
//! value. [`process`] frames requests and runs each through its opcode's row of the
//! [`Table`], which says which extras, key and value the opcode takes (anything else gets
//! status "invalid arguments") and whether it writes. Every opcode libmemcached's
//! `memccapable` exercises is served; unknown opcodes get status `0x81`. Quiet variants stay
//! silent on the common outcome (a miss for gets, success for writes) so clients can pipeline
//! them and end with a `noop`.

use super::table::{flag, BinaryRequest, Flow, Table};
use crate::lock::Lock;
use crate::protocol::Processed;
use crate::session::Session;
use engine::Engine;
use keyspace::Value;

/// Request magic.
pub const REQUEST_MAGIC: u8 = 0x80;
/// Response magic.
pub const RESPONSE_MAGIC: u8 = 0x81;
/// Header bytes.
pub const HEADER_BYTES: usize = 24;

/// Response statuses.
pub(super) mod status {
    pub const OK: u16 = 0x0000;
    pub const NOT_FOUND: u16 = 0x0001;
    pub const EXISTS: u16 = 0x0002;
    pub const TOO_LARGE: u16 = 0x0003;
    pub const INVALID: u16 = 0x0004;
    pub const NOT_STORED: u16 = 0x0005;
    pub const NON_NUMERIC: u16 = 0x0006;
    pub const UNKNOWN_COMMAND: u16 = 0x0081;
    pub const INTERNAL_ERROR: u16 = 0x0084;
}

/// memcached's texts for the statuses.
pub(super) fn status_text(status: u16) -> &'static [u8] {
    match status {
        status::NOT_FOUND => b"Not found",
        status::EXISTS => b"Data exists for key.",
        status::TOO_LARGE => b"Too large.",
        status::INVALID => b"Invalid arguments",
        status::NOT_STORED => b"Not stored.",
        status::NON_NUMERIC => b"Non-numeric server-side value for incr or decr",
        status::UNKNOWN_COMMAND => b"Unknown command",
        _ => b"",
    }
}

/// A parsed request header.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// The opcode.
    pub opcode: u8,
    /// Key bytes.
    pub key_length: usize,
    /// Extras bytes.
    pub extras_length: usize,
    /// Extras, key and value bytes.
    pub body_length: usize,
    /// Echoed in the response.
    pub opaque: u32,
    /// The CAS unique to match (0: none).
    pub cas: u64,
}

pub(super) fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"))
}

pub(super) fn read_u64(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"))
}

impl Header {
    fn parse(bytes: &[u8]) -> Self {
        Self {
            opcode: bytes[1],
            key_length: usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
            extras_length: usize::from(bytes[4]),
            body_length: read_u32(&bytes[8..]) as usize,
            opaque: read_u32(&bytes[12..]),
            cas: read_u64(&bytes[16..]),
        }
    }
}

/// Writes one response.
pub(super) fn respond<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    header: &Header,
    status: u16,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) {
    let mut head = [0u8; HEADER_BYTES];
    head[0] = RESPONSE_MAGIC;
    head[1] = header.opcode;
    head[2..4].copy_from_slice(&(key.len() as u16).to_be_bytes());
    head[4] = extras.len() as u8;
    head[6..8].copy_from_slice(&status.to_be_bytes());
    let body = (extras.len() + key.len() + value.len()) as u32;
    head[8..12].copy_from_slice(&body.to_be_bytes());
    head[12..16].copy_from_slice(&header.opaque.to_be_bytes());
    head[16..24].copy_from_slice(&cas.to_be_bytes());
    session.raw(&head);
    session.raw(extras);
    session.raw(key);
    session.raw(value);
}

/// Writes an error status with memcached's text for it.
pub(super) fn error<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    header: &Header,
    status: u16,
) {
    respond(session, header, status, 0, &[], &[], status_text(status));
}

/// Runs every complete request at the start of `input`.
pub fn process<E: Engine<Value = Value>>(session: &mut Session<'_, E>, input: &[u8]) -> Processed {
    let mut processed = Processed::default();
    while processed.consumed < input.len() {
        if session.output_full() {
            processed.output_full = true;
            return processed;
        }
        let rest = &input[processed.consumed..];
        if rest[0] != REQUEST_MAGIC {
            // Not a request: memcached drops such a connection.
            processed.close = true;
            processed.consumed = input.len();
            return processed;
        }
        if rest.len() < HEADER_BYTES {
            processed.want = HEADER_BYTES;
            return processed;
        }
        let header = Header::parse(rest);
        if header.key_length + header.extras_length > header.body_length {
            error(session, &header, status::INVALID);
            processed.close = true;
            processed.consumed = input.len();
            return processed;
        }
        let total = HEADER_BYTES + header.body_length;
        // A body past the item limit (plus room for extras and key) is refused and skipped
        // as it arrives, without buffering it; only its extras and key are waited for, so an
        // unconditional store can remove the old value (memcached's rule).
        if header.body_length > session.limits.item_bytes_max + 512 {
            let head_bytes = HEADER_BYTES + header.extras_length + header.key_length;
            if rest.len() < head_bytes {
                processed.want = head_bytes;
                return processed;
            }
            refuse_too_large(session, &header, &rest[HEADER_BYTES..head_bytes]);
            let available = rest.len() - HEADER_BYTES;
            let skip = header.body_length.min(available);
            processed.consumed += HEADER_BYTES + skip;
            processed.swallow = header.body_length - skip;
            if processed.swallow > 0 {
                return processed;
            }
            continue;
        }
        if rest.len() < total {
            processed.want = total;
            return processed;
        }
        let body = &rest[HEADER_BYTES..total];
        processed.consumed += total;
        session.count_command();
        if execute(session, header, body) == Flow::Close {
            processed.close = true;
            return processed;
        }
    }
    processed
}

/// Looks the opcode up and runs its row: one lookup, the shape check, the refusal of writes
/// while the append-only file cannot be written, and a call.
fn execute<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    header: Header,
    body: &[u8],
) -> Flow {
    let Some(row) = Table::<E>::binary(header.opcode) else {
        error(session, &header, status::UNKNOWN_COMMAND);
        return Flow::Continue;
    };
    let (extras, rest) = body.split_at(header.extras_length);
    let (key, value) = rest.split_at(header.key_length);
    if !row.shape.fits(extras, key, value) {
        // memcached answers and closes: it cannot trust the framing of what follows.
        error(session, &header, status::INVALID);
        return Flow::Close;
    }
    if row.has(flag::WRITE) {
        if let Some(refusal) = session.shared.write_refusal() {
            // Sent for quiet opcodes too: quiet hides success, never an error.
            let text = refusal.strip_prefix("MISCONF ").unwrap_or(&refusal);
            let text = text.as_bytes().to_vec();
            respond(session, &header, status::INTERNAL_ERROR, 0, &[], &[], &text);
            return Flow::Continue;
        }
    }
    let request = BinaryRequest {
        header,
        flags: row.flags,
        extras,
        key,
        value,
    };
    let mode = super::table::lock_mode(row.flags);
    session.locked(Lock::Shared, mode, |session| {
        (row.handler)(session, &request)
    })
}

/// A binary exptime: a 32-bit big-endian *unsigned* number of seconds, so, unlike the text
/// protocol's, it is never negative (`0xffffffff` is an absolute time far ahead, as memcached
/// reads it).
pub(super) fn exptime(bytes: &[u8]) -> i64 {
    i64::from(read_u32(bytes))
}

/// Answers a store whose value is past the item size limit: "too large", counted, and for an
/// unconditional store the old value removed. `head` holds the extras and the key.
pub(super) fn refuse_too_large<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    header: &Header,
    head: &[u8],
) {
    let row = Table::<E>::binary(header.opcode);
    if row.is_some_and(|row| row.has(flag::DROP_ON_TOO_LARGE)) {
        let key = &head[header.extras_length..];
        // While writes are refused the old value stays: removing it would be a write.
        if super::valid_key(key) && session.shared.write_refusal().is_none() {
            session.locked(Lock::Shared, keyspace::Mode::Shared, |session| {
                session.keyspace().delete_item(key, None)
            });
        }
    }
    super::stats::counters(session).store_too_large.add(1);
    error(session, header, status::TOO_LARGE);
}
