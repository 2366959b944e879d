//! The commands on a key's existence and lifetime: text `delete` and `touch`, binary
//! `DELETE`, `DELETEQ` and `TOUCH`.

use super::binary::{self, status};
use super::numbers::strtol_32;
use super::stats::counters;
use super::table::{BinaryRequest, Flow, Step, TextRequest};
use super::text::{BAD_FORMAT, ERROR};
use super::{expire_at_ms, valid_key};
use crate::session::Session;
use engine::Engine;
use keyspace::{DeleteOutcome, Value};

/// `delete <key> [0] [noreply]`. memcached still accepts the time argument of its old
/// delayed deletes when it is exactly `0`; any other argument gets its usage error.
pub fn delete<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    let tokens = request.tokens;
    if !(2..=4).contains(&tokens.len()) {
        session.raw(ERROR);
        return request.done();
    }
    let noreply = request.noreply();
    if tokens.len() > 2 {
        let time_is_zero = tokens[2] == b"0";
        let valid = match tokens.len() {
            3 => time_is_zero || noreply,
            _ => time_is_zero && noreply,
        };
        if !valid {
            session
                .raw(b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
            return request.done();
        }
    }
    let key = tokens[1];
    if !valid_key(key) {
        session.raw(BAD_FORMAT);
        return request.done();
    }
    let outcome = session.keyspace().delete_item(key, None);
    counters(session).deleted(outcome == DeleteOutcome::Deleted);
    if !noreply {
        session.raw(match outcome {
            DeleteOutcome::Deleted => b"DELETED\r\n",
            _ => b"NOT_FOUND\r\n",
        });
    }
    request.done()
}

/// `touch <key> <exptime> [noreply]`.
pub fn touch<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    let Some((key, argument, noreply)) = key_and_argument(session, request) else {
        return request.done();
    };
    let Some(exptime) = strtol_32(argument) else {
        session.raw(b"CLIENT_ERROR invalid exptime argument\r\n");
        return request.done();
    };
    let at = expire_at_ms(i64::from(exptime), session.keyspace().now_ms());
    let touched = session.keyspace().touch_item(key, at).is_some();
    counters(session).touched(touched);
    if !noreply {
        session.raw(if touched {
            b"TOUCHED\r\n"
        } else {
            b"NOT_FOUND\r\n"
        });
    }
    request.done()
}

/// The `<verb> <key> <argument> [noreply]` shape of `incr`, `decr` and `touch`: the key, the
/// argument and whether `noreply` was given (a fourth token that is not `noreply` is ignored,
/// as memcached ignores it). Replies `ERROR` or the bad-format error and returns `None` when
/// the line does not have that shape.
pub(super) fn key_and_argument<'a, E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'a>,
) -> Option<(&'a [u8], &'a [u8], bool)> {
    let tokens = request.tokens;
    if tokens.len() != 3 && tokens.len() != 4 {
        session.raw(ERROR);
        return None;
    }
    if !valid_key(tokens[1]) {
        session.raw(BAD_FORMAT);
        return None;
    }
    Some((tokens[1], tokens[2], request.noreply()))
}

/// Binary `DELETE`, `DELETEQ`, with an optional CAS unique to match.
pub fn binary_delete<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    let header = &request.header;
    let outcome = session.keyspace().delete_item(request.key, request.cas());
    counters(session).deleted(outcome == DeleteOutcome::Deleted);
    match outcome {
        DeleteOutcome::Deleted if request.quiet() => {}
        DeleteOutcome::Deleted => binary::respond(session, header, status::OK, 0, &[], &[], &[]),
        DeleteOutcome::NotFound => binary::error(session, header, status::NOT_FOUND),
        DeleteOutcome::Exists => binary::error(session, header, status::EXISTS),
    }
    Flow::Continue
}

/// Binary `TOUCH`: the exptime in the extras; the reply carries the flags (GAT without the
/// value).
pub fn binary_touch<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    super::retrieval::touch_and_reply(session, request, false)
}
