//! memcached's binary protocol (`protocol-binary.txt`): a 24-byte header, then extras, key and
//! value. Every opcode libmemcached's `memccapable` exercises is served; unknown opcodes get
//! status `0x81`. Quiet variants stay silent on the common outcome (a miss for gets, success
//! for writes) so clients can pipeline them and end with a `noop`.

use super::{expire_at_ms, general_stats, valid_key, VERSION};
use crate::protocol::Processed;
use crate::session::Session;
use engine::keyspace::{ArithOutcome, DeleteOutcome, StoreMode, StoreOutcome, Str, Value};
use engine::Engine;

/// Request magic.
pub const REQUEST_MAGIC: u8 = 0x80;
/// Response magic.
pub const RESPONSE_MAGIC: u8 = 0x81;
/// Header bytes.
pub const HEADER_BYTES: usize = 24;

/// Response statuses.
mod status {
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
fn status_text(status: u16) -> &'static [u8] {
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

/// Opcodes.
mod op {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCREMENT: u8 = 0x05;
    pub const DECREMENT: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCREMENTQ: u8 = 0x15;
    pub const DECREMENTQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    pub const VERBOSITY: u8 = 0x1b;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}

/// A parsed request header.
#[derive(Debug, Clone, Copy)]
struct Header {
    opcode: u8,
    key_length: usize,
    extras_length: usize,
    body_length: usize,
    opaque: u32,
    cas: u64,
}

fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &[u8]) -> u64 {
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
fn respond<E: Engine<Value = Value>>(
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

fn error<E: Engine<Value = Value>>(session: &mut Session<'_, E>, header: &Header, status: u16) {
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
        // as it arrives, without buffering it.
        if header.body_length > session.limits.item_bytes_max + 512 {
            error(session, &header, status::TOO_LARGE);
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
        if execute(session, &header, body) {
            processed.close = true;
            return processed;
        }
    }
    processed
}

/// Runs one request; returns true when the connection is to close.
fn execute<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    header: &Header,
    body: &[u8],
) -> bool {
    let extras = &body[..header.extras_length];
    let key = &body[header.extras_length..header.extras_length + header.key_length];
    let value = &body[header.extras_length + header.key_length..];
    // The shape each opcode requires: (extras length, key required, value allowed).
    let shape_ok = |extras_length: usize, needs_key: bool, value_allowed: bool| {
        extras.len() == extras_length
            && (!needs_key || valid_key(key))
            && (needs_key || key.is_empty())
            && (value_allowed || value.is_empty())
    };
    let writes = matches!(
        header.opcode,
        op::SET
            | op::ADD
            | op::REPLACE
            | op::DELETE
            | op::INCREMENT
            | op::DECREMENT
            | op::FLUSH
            | op::APPEND
            | op::PREPEND
            | op::SETQ
            | op::ADDQ
            | op::REPLACEQ
            | op::DELETEQ
            | op::INCREMENTQ
            | op::DECREMENTQ
            | op::FLUSHQ
            | op::APPENDQ
            | op::PREPENDQ
            | op::TOUCH
            | op::GAT
            | op::GATQ
            | op::GATK
            | op::GATKQ
    );
    if writes {
        if let Some(refusal) = session.shared.write_refusal() {
            // Sent for quiet opcodes too: quiet hides success, never an error.
            let text = refusal
                .strip_prefix("MISCONF ")
                .unwrap_or(&refusal)
                .to_owned();
            respond(
                session,
                header,
                status::INTERNAL_ERROR,
                0,
                &[],
                &[],
                text.as_bytes(),
            );
            return false;
        }
    }
    let now = session.keyspace().now_ms();
    match header.opcode {
        op::GET | op::GETQ | op::GETK | op::GETKQ => {
            if !shape_ok(0, true, false) {
                error(session, header, status::INVALID);
                return false;
            }
            session.shared.stats.memcache_gets.add(1);
            let quiet = matches!(header.opcode, op::GETQ | op::GETKQ);
            let with_key = matches!(header.opcode, op::GETK | op::GETKQ);
            let shared = session.shared;
            let found = shared.keyspace.get_item_with(key, |data, meta, version| {
                let returned_key: &[u8] = if with_key { key } else { &[] };
                respond(
                    session,
                    header,
                    status::OK,
                    version,
                    &meta.flags.to_be_bytes(),
                    returned_key,
                    data.as_bytes(),
                );
            });
            if found.is_none() && !quiet {
                let returned_key: &[u8] = if with_key { key } else { &[] };
                respond(
                    session,
                    header,
                    status::NOT_FOUND,
                    0,
                    &[],
                    returned_key,
                    status_text(status::NOT_FOUND),
                );
            }
        }
        op::GAT | op::GATQ | op::GATK | op::GATKQ | op::TOUCH => {
            if !shape_ok(4, true, false) {
                error(session, header, status::INVALID);
                return false;
            }
            let exptime = i64::from(read_u32(extras) as i32);
            let quiet = matches!(header.opcode, op::GATQ | op::GATKQ);
            let with_key = matches!(header.opcode, op::GATK | op::GATKQ);
            match session
                .keyspace()
                .touch_item(key, expire_at_ms(exptime, now))
            {
                Some(item) => {
                    let returned_key: &[u8] = if with_key { key } else { &[] };
                    let data: &[u8] = if header.opcode == op::TOUCH {
                        &[]
                    } else {
                        item.value.as_bytes()
                    };
                    respond(
                        session,
                        header,
                        status::OK,
                        item.version,
                        &item.flags.to_be_bytes(),
                        returned_key,
                        data,
                    );
                }
                None if !quiet => error(session, header, status::NOT_FOUND),
                None => {}
            }
        }
        op::SET | op::ADD | op::REPLACE | op::SETQ | op::ADDQ | op::REPLACEQ => {
            if !shape_ok(8, true, true) {
                error(session, header, status::INVALID);
                return false;
            }
            let flags = read_u32(extras);
            let exptime = i64::from(read_u32(&extras[4..]) as i32);
            let mode = match header.opcode {
                op::SET | op::SETQ => StoreMode::Set,
                op::ADD | op::ADDQ => StoreMode::Add,
                _ => StoreMode::Replace,
            };
            let quiet = matches!(header.opcode, op::SETQ | op::ADDQ | op::REPLACEQ);
            store(
                session,
                header,
                mode,
                key,
                value,
                flags,
                expire_at_ms(exptime, now),
                quiet,
            );
        }
        op::APPEND | op::PREPEND | op::APPENDQ | op::PREPENDQ => {
            if !shape_ok(0, true, true) {
                error(session, header, status::INVALID);
                return false;
            }
            let mode = if matches!(header.opcode, op::APPEND | op::APPENDQ) {
                StoreMode::Append
            } else {
                StoreMode::Prepend
            };
            let quiet = matches!(header.opcode, op::APPENDQ | op::PREPENDQ);
            store(session, header, mode, key, value, 0, 0, quiet);
        }
        op::DELETE | op::DELETEQ => {
            if !shape_ok(0, true, false) {
                error(session, header, status::INVALID);
                return false;
            }
            let cas = (header.cas != 0).then_some(header.cas);
            match session.keyspace().delete_item(key, cas) {
                DeleteOutcome::Deleted if header.opcode == op::DELETEQ => {}
                DeleteOutcome::Deleted => respond(session, header, status::OK, 0, &[], &[], &[]),
                DeleteOutcome::NotFound => error(session, header, status::NOT_FOUND),
                DeleteOutcome::Exists => error(session, header, status::EXISTS),
            }
        }
        op::INCREMENT | op::DECREMENT | op::INCREMENTQ | op::DECREMENTQ => {
            if !shape_ok(20, true, false) {
                error(session, header, status::INVALID);
                return false;
            }
            let delta = read_u64(extras);
            let initial = read_u64(&extras[8..]);
            let exptime = read_u32(&extras[16..]);
            // 0xffffffff: do not create a missing key.
            let create = (exptime != u32::MAX)
                .then(|| (initial, expire_at_ms(i64::from(exptime as i32), now)));
            let increment = matches!(header.opcode, op::INCREMENT | op::INCREMENTQ);
            let quiet = matches!(header.opcode, op::INCREMENTQ | op::DECREMENTQ);
            let cas = (header.cas != 0).then_some(header.cas);
            match session.keyspace().arith(key, increment, delta, create, cas) {
                ArithOutcome::Value(_, _) if quiet => {}
                ArithOutcome::Value(value, version) => respond(
                    session,
                    header,
                    status::OK,
                    version,
                    &[],
                    &[],
                    &value.to_be_bytes(),
                ),
                ArithOutcome::NotFound => error(session, header, status::NOT_FOUND),
                ArithOutcome::NonNumeric => error(session, header, status::NON_NUMERIC),
                ArithOutcome::Exists => error(session, header, status::EXISTS),
            }
        }
        op::QUIT | op::QUITQ => {
            if header.opcode == op::QUIT {
                respond(session, header, status::OK, 0, &[], &[], &[]);
            }
            return true;
        }
        op::FLUSH | op::FLUSHQ => {
            if !(extras.is_empty() || extras.len() == 4) || !key.is_empty() || !value.is_empty() {
                error(session, header, status::INVALID);
                return false;
            }
            let delay = if extras.len() == 4 {
                i64::from(read_u32(extras) as i32)
            } else {
                0
            };
            if delay <= 0 {
                session.keyspace().flush();
            } else {
                session.keyspace().flush_at(expire_at_ms(delay, now));
            }
            if header.opcode == op::FLUSH {
                respond(session, header, status::OK, 0, &[], &[], &[]);
            }
        }
        op::NOOP => respond(session, header, status::OK, 0, &[], &[], &[]),
        op::VERSION => respond(session, header, status::OK, 0, &[], &[], VERSION.as_bytes()),
        op::VERBOSITY => {
            if extras.len() != 4 {
                error(session, header, status::INVALID);
                return false;
            }
            respond(session, header, status::OK, 0, &[], &[], &[]);
        }
        op::STAT => {
            if key.is_empty() {
                for (name, value) in general_stats(session) {
                    respond(
                        session,
                        header,
                        status::OK,
                        0,
                        &[],
                        name.as_bytes(),
                        value.as_bytes(),
                    );
                }
            } else if key == b"reset" {
                session.shared.stats.memcache_gets.reset();
                session.shared.stats.memcache_sets.reset();
            }
            // The terminating empty stat.
            respond(session, header, status::OK, 0, &[], &[], &[]);
        }
        _ => error(session, header, status::UNKNOWN_COMMAND),
    }
    false
}

#[allow(clippy::too_many_arguments)]
fn store<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    header: &Header,
    mode: StoreMode,
    key: &[u8],
    value: &[u8],
    flags: u32,
    expire_at: u64,
    quiet: bool,
) {
    if value.len() > session.limits.item_bytes_max {
        error(session, header, status::TOO_LARGE);
        return;
    }
    session.shared.stats.memcache_sets.add(1);
    let cas = (header.cas != 0).then_some(header.cas);
    let outcome = session
        .keyspace()
        .store(mode, key, Str::copy_from(value), flags, expire_at, cas);
    match outcome {
        StoreOutcome::Stored(_) if quiet => {}
        StoreOutcome::Stored(version) => {
            respond(session, header, status::OK, version, &[], &[], &[])
        }
        // memcached maps NOT_STORED to "exists" for add, "not found" for replace, and "not
        // stored" for append/prepend.
        StoreOutcome::NotStored => {
            let code = match mode {
                StoreMode::Add => status::EXISTS,
                StoreMode::Replace => status::NOT_FOUND,
                _ => status::NOT_STORED,
            };
            error(session, header, code);
        }
        StoreOutcome::Exists => error(session, header, status::EXISTS),
        StoreOutcome::NotFound => error(session, header, status::NOT_FOUND),
    }
}
