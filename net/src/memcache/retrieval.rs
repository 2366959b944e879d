//! The retrieval commands: text `get`, `gets`, `gat`, `gats`, and the binary `GET` and `GAT`
//! families (`GETQ`, `GETK`, `GETKQ`, `GATQ`, `GATK`, `GATKQ` differ only in their row's
//! quiet and with-key facts).
//!
//! `gat` and `gats` touch what they fetch: memcached counts each key as a get and a touch.

use super::binary::{self, status};
use super::numbers::strtol_32;
use super::stats::counters;
use super::table::{BinaryRequest, Flow, Step, TextRequest};
use super::text::{decimal, BAD_FORMAT, ERROR};
use super::{expire_at_ms, valid_key};
use crate::session::Session;
use engine::Engine;
use keyspace::{Str, Value};

/// `get <key>*`.
pub fn get<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    retrieve(session, request, &request.tokens[1..], false, None)
}

/// `gets <key>*`: with CAS uniques.
pub fn gets<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    retrieve(session, request, &request.tokens[1..], true, None)
}

/// `gat <exptime> <key>*`.
pub fn gat<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    get_and_touch(session, request, false)
}

/// `gats <exptime> <key>*`: with CAS uniques.
pub fn gats<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    get_and_touch(session, request, true)
}

fn get_and_touch<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
    with_cas: bool,
) -> Step {
    let Some(exptime) = request.tokens.get(1) else {
        session.raw(ERROR);
        return request.done();
    };
    let Some(exptime) = strtol_32(exptime) else {
        session.raw(b"CLIENT_ERROR invalid exptime argument\r\n");
        return request.done();
    };
    // memcached answers `gat <exptime>` with no key with an empty listing.
    let keys = &request.tokens[2..];
    retrieve(session, request, keys, with_cas, Some(i64::from(exptime)))
}

/// Lists the items of `keys`, touching each with `touch` when given.
fn retrieve<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
    keys: &[&[u8]],
    with_cas: bool,
    touch: Option<i64>,
) -> Step {
    if keys.is_empty() && touch.is_none() {
        session.raw(ERROR);
        return request.done();
    }
    // Check every key first: memcached sends nothing but the error for a bad one.
    if !keys.iter().all(|key| valid_key(key)) {
        session.raw(BAD_FORMAT);
        return request.done();
    }
    let db = session.keyspace();
    let counters = counters(session);
    for key in keys {
        let mut write = |value: &Str, flags: u32, version: u64| {
            session.raw(b"VALUE ");
            session.raw(key);
            session.raw(b" ");
            decimal(session, u64::from(flags));
            session.raw(b" ");
            decimal(session, value.len() as u64);
            if with_cas {
                session.raw(b" ");
                decimal(session, version);
            }
            session.raw(b"\r\n");
            session.raw_value(value);
            session.raw(b"\r\n");
        };
        match touch {
            None => {
                let found = db.get_item_with(key, |value, meta, version| {
                    write(value, meta.flags, version)
                });
                counters.retrieved(found.is_some());
            }
            Some(exptime) => {
                let at = expire_at_ms(exptime, db.now_ms());
                let item = db.touch_item(key, at);
                counters.touched(item.is_some());
                if let Some(item) = item {
                    write(&item.value, item.flags, item.version);
                }
            }
        }
    }
    session.raw(b"END\r\n");
    request.done()
}

/// Binary `GET`, `GETQ`, `GETK`, `GETKQ`.
pub fn binary_get<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    let header = &request.header;
    let db = session.keyspace();
    let found = db.get_item_with(request.key, |data, meta, version| {
        binary::respond(
            session,
            header,
            status::OK,
            version,
            &meta.flags.to_be_bytes(),
            request.returned_key(),
            data.as_bytes(),
        );
    });
    counters(session).retrieved(found.is_some());
    if found.is_none() && !request.quiet() {
        binary::respond(
            session,
            header,
            status::NOT_FOUND,
            0,
            &[],
            request.returned_key(),
            binary::status_text(status::NOT_FOUND),
        );
    }
    Flow::Continue
}

/// Binary `GAT`, `GATQ`, `GATK`, `GATKQ`: the exptime in the extras.
pub fn binary_gat<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    touch_and_reply(session, request, true)
}

/// Binary `TOUCH` and the `GAT` family: sets the expiry from the extras and replies with the
/// flags, plus the value when `with_value` (GAT), and the key for the `K` opcodes. A miss is
/// `NOT_FOUND`, unless the opcode is quiet.
pub(super) fn touch_and_reply<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
    with_value: bool,
) -> Flow {
    let header = &request.header;
    let now = session.keyspace().now_ms();
    let at = expire_at_ms(binary::exptime(request.extras), now);
    let item = session.keyspace().touch_item(request.key, at);
    counters(session).touched(item.is_some());
    match item {
        Some(item) => binary::respond(
            session,
            header,
            status::OK,
            item.version,
            &item.flags.to_be_bytes(),
            request.returned_key(),
            if with_value {
                item.value.as_bytes()
            } else {
                &[]
            },
        ),
        None if !request.quiet() => binary::error(session, header, status::NOT_FOUND),
        None => {}
    }
    Flow::Continue
}
