//! The storage commands: text `set`, `add`, `replace`, `append`, `prepend`, `cas`, and the
//! binary `SET`, `ADD`, `REPLACE`, `APPEND`, `PREPEND` (and their quiet twins).
//!
//! A text storage command is a line `<verb> <key> <flags> <exptime> <bytes> [<cas>]
//! [noreply]` and a data block. Its numbers follow memcached's [`numbers`](super::numbers)
//! rules; a line that does not parse gets `CLIENT_ERROR bad command line format` and its data
//! block is then read as commands, as memcached reads it. A value past the item size limit
//! gets `SERVER_ERROR object too large for cache`, its data is discarded as it arrives, and a
//! `set` (only a `set`) removes the old value.

use super::binary::{self, read_u32, status};
use super::numbers::{strtol_32, strtoul_32, strtoull};
use super::stats::counters;
use super::table::{BinaryRequest, Flow, Step, TextRequest};
use super::text::{BAD_CHUNK, BAD_FORMAT, ERROR, TOO_LARGE};
use super::{expire_at_ms, refuse_write, valid_key};
use crate::session::Session;
use crate::stats::MemcacheCounters;
use engine::Engine;
use keyspace::{StoreMode, StoreOutcome, Str, Value};

/// memcached refuses lengths whose block (with its `\r\n`) would not fit a C `int`.
const DATA_BYTES_MAX: i32 = i32::MAX - 2;

/// `set`.
pub fn set<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    store(session, request, StoreMode::Set, false)
}

/// `add`.
pub fn add<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    store(session, request, StoreMode::Add, false)
}

/// `replace`.
pub fn replace<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    store(session, request, StoreMode::Replace, false)
}

/// `append`.
pub fn append<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    store(session, request, StoreMode::Append, false)
}

/// `prepend`.
pub fn prepend<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    store(session, request, StoreMode::Prepend, false)
}

/// `cas`: a `set` that only succeeds while the item's CAS unique is the one given.
pub fn cas<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    store(session, request, StoreMode::Set, true)
}

/// The text storage commands.
fn store<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
    mode: StoreMode,
    is_cas: bool,
) -> Step {
    let tokens = request.tokens;
    // The fields, then an optional last token that is `noreply` or ignored.
    let fields = if is_cas { 6 } else { 5 };
    if tokens.len() != fields && tokens.len() != fields + 1 {
        session.raw(ERROR);
        return request.done();
    }
    let noreply = tokens.len() == fields + 1 && tokens[fields] == b"noreply";
    let key = tokens[1];
    if !valid_key(key) {
        session.raw(BAD_FORMAT);
        return request.done();
    }
    let flags = strtoul_32(tokens[2]);
    let exptime = strtol_32(tokens[3]);
    let length = strtol_32(tokens[4]);
    let cas = if is_cas { strtoull(tokens[5]) } else { Some(0) };
    let (Some(flags), Some(exptime), Some(length), Some(cas)) = (flags, exptime, length, cas)
    else {
        session.raw(BAD_FORMAT);
        return request.done();
    };
    if !(0..=DATA_BYTES_MAX).contains(&length) {
        session.raw(BAD_FORMAT);
        return request.done();
    }
    let length = length as usize;
    let line_bytes = request.line_bytes;
    if length > session.limits.item_bytes_max {
        // memcached answers and discards the data as it arrives; a failed `set` must not
        // leave the old value readable.
        if mode == StoreMode::Set && !is_cas {
            if refuse_write(session) {
                return Step::Swallow(line_bytes, length + 2);
            }
            session.keyspace().delete_item(key, None);
        }
        counters(session).store_too_large.add(1);
        session.raw(TOO_LARGE);
        return Step::Swallow(line_bytes, length + 2);
    }
    let total = line_bytes + length + 2;
    if request.input.len() < total {
        return Step::Incomplete(total);
    }
    let data = &request.input[line_bytes..line_bytes + length];
    if &request.input[line_bytes + length..total] != b"\r\n" {
        session.raw(BAD_CHUNK);
        return Step::Done(total);
    }
    if refuse_write(session) {
        return Step::Done(total);
    }
    counters(session).cmd_set.add(1);
    let at = expire_at_ms(i64::from(exptime), session.keyspace().now_ms());
    let outcome = session.keyspace().store(
        mode,
        key,
        Str::copy_from(data),
        flags,
        at,
        is_cas.then_some(cas),
    );
    count_store(counters(session), &outcome, is_cas);
    if !noreply {
        session.raw(match outcome {
            StoreOutcome::Stored(_) => b"STORED\r\n",
            StoreOutcome::NotStored => b"NOT_STORED\r\n",
            StoreOutcome::Exists => b"EXISTS\r\n",
            StoreOutcome::NotFound => b"NOT_FOUND\r\n",
        });
    }
    Step::Done(total)
}

/// Counts a store's outcome: an item stored, and for a CAS store, how it matched.
pub(super) fn count_store(counters: &MemcacheCounters, outcome: &StoreOutcome, is_cas: bool) {
    if matches!(outcome, StoreOutcome::Stored(_)) {
        counters.total_items.add(1);
    }
    if is_cas {
        match outcome {
            StoreOutcome::Stored(_) => counters.cas_hits.add(1),
            StoreOutcome::Exists => counters.cas_badval.add(1),
            StoreOutcome::NotFound => counters.cas_misses.add(1),
            StoreOutcome::NotStored => {}
        }
    }
}

/// Binary `SET`, `SETQ`.
pub fn binary_set<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    binary_store(session, request, StoreMode::Set)
}

/// Binary `ADD`, `ADDQ`.
pub fn binary_add<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    binary_store(session, request, StoreMode::Add)
}

/// Binary `REPLACE`, `REPLACEQ`.
pub fn binary_replace<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    binary_store(session, request, StoreMode::Replace)
}

/// Binary `APPEND`, `APPENDQ`.
pub fn binary_append<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    binary_store(session, request, StoreMode::Append)
}

/// Binary `PREPEND`, `PREPENDQ`.
pub fn binary_prepend<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    binary_store(session, request, StoreMode::Prepend)
}

/// The binary stores: flags and exptime in the extras (none for append and prepend), the CAS
/// unique to match in the header.
fn binary_store<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
    mode: StoreMode,
) -> Flow {
    let header = &request.header;
    if request.value.len() > session.limits.item_bytes_max {
        let head_bytes = header.extras_length + header.key_length;
        let mut head = request.extras.to_vec();
        head.extend_from_slice(request.key);
        debug_assert_eq!(head.len(), head_bytes);
        binary::refuse_too_large(session, header, &head);
        return Flow::Continue;
    }
    let (flags, expire_at) = if request.extras.len() == 8 {
        let exptime = binary::exptime(&request.extras[4..]);
        let now = session.keyspace().now_ms();
        (read_u32(request.extras), expire_at_ms(exptime, now))
    } else {
        (0, 0)
    };
    counters(session).cmd_set.add(1);
    let cas = request.cas();
    let outcome = session.keyspace().store(
        mode,
        request.key,
        Str::copy_from(request.value),
        flags,
        expire_at,
        cas,
    );
    count_store(counters(session), &outcome, cas.is_some());
    match outcome {
        StoreOutcome::Stored(_) if request.quiet() => {}
        StoreOutcome::Stored(version) => {
            binary::respond(session, header, status::OK, version, &[], &[], &[])
        }
        // memcached maps NOT_STORED to "exists" for add, "not found" for replace, and "not
        // stored" for append/prepend.
        StoreOutcome::NotStored => {
            let code = match mode {
                StoreMode::Add => status::EXISTS,
                StoreMode::Replace => status::NOT_FOUND,
                _ => status::NOT_STORED,
            };
            binary::error(session, header, code);
        }
        StoreOutcome::Exists => binary::error(session, header, status::EXISTS),
        StoreOutcome::NotFound => binary::error(session, header, status::NOT_FOUND),
    }
    Flow::Continue
}
