//! The arithmetic commands: text `incr` and `decr`, binary `INCREMENT` and `DECREMENT` (and
//! their quiet twins). Values are unsigned 64-bit decimals: an increment wraps at 2^64, a
//! decrement stops at 0, as in memcached.

use super::binary::{self, read_u32, read_u64, status};
use super::expire_at_ms;
use super::keys::key_and_argument;
use super::numbers::strtoull;
use super::stats::counters;
use super::table::{BinaryRequest, Flow, Step, TextRequest};
use super::text::decimal;
use crate::session::Session;
use crate::stats::MemcacheCounters;
use engine::Engine;
use keyspace::{ArithOutcome, Value};

/// The binary exptime that means "do not create a missing key".
const NO_CREATE_EXPTIME: u32 = u32::MAX;

/// `incr <key> <delta> [noreply]`.
pub fn incr<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    arithmetic(session, request, true)
}

/// `decr <key> <delta> [noreply]`.
pub fn decr<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    arithmetic(session, request, false)
}

fn arithmetic<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
    increment: bool,
) -> Step {
    let Some((key, argument, noreply)) = key_and_argument(session, request) else {
        return request.done();
    };
    let Some(delta) = strtoull(argument) else {
        session.raw(b"CLIENT_ERROR invalid numeric delta argument\r\n");
        return request.done();
    };
    let outcome = session.keyspace().arith(key, increment, delta, None, None);
    count(counters(session), &outcome, increment);
    if !noreply {
        match outcome {
            ArithOutcome::Value(value, _) => {
                decimal(session, value);
                session.raw(b"\r\n");
            }
            ArithOutcome::NonNumeric => {
                session.raw(b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
            }
            ArithOutcome::Exists => session.raw(b"EXISTS\r\n"),
            ArithOutcome::NotFound => session.raw(b"NOT_FOUND\r\n"),
        }
    }
    request.done()
}

/// Counts an arithmetic outcome as memcached does: a hit when the key held a number or was
/// created, a miss when it was missing.
pub(super) fn count(counters: &MemcacheCounters, outcome: &ArithOutcome, increment: bool) {
    match outcome {
        ArithOutcome::Value(..) => counters.arithmetic(increment, true),
        ArithOutcome::NotFound => counters.arithmetic(increment, false),
        ArithOutcome::NonNumeric | ArithOutcome::Exists => {}
    }
}

/// Binary `INCREMENT`, `INCREMENTQ`.
pub fn binary_incr<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    binary_arithmetic(session, request, true)
}

/// Binary `DECREMENT`, `DECREMENTQ`.
pub fn binary_decr<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    binary_arithmetic(session, request, false)
}

/// The extras are the delta, the initial value of a missing key, and its exptime (all ones:
/// do not create it).
fn binary_arithmetic<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
    increment: bool,
) -> Flow {
    let header = &request.header;
    let extras = request.extras;
    let delta = read_u64(extras);
    let initial = read_u64(&extras[8..]);
    let exptime = read_u32(&extras[16..]);
    let now = session.keyspace().now_ms();
    let create = (exptime != NO_CREATE_EXPTIME)
        .then(|| (initial, expire_at_ms(binary::exptime(&extras[16..]), now)));
    let outcome = session
        .keyspace()
        .arith(request.key, increment, delta, create, request.cas());
    count(counters(session), &outcome, increment);
    match outcome {
        ArithOutcome::Value(..) if request.quiet() => {}
        ArithOutcome::Value(value, version) => binary::respond(
            session,
            header,
            status::OK,
            version,
            &[],
            &[],
            &value.to_be_bytes(),
        ),
        ArithOutcome::NotFound => binary::error(session, header, status::NOT_FOUND),
        ArithOutcome::NonNumeric => binary::error(session, header, status::NON_NUMERIC),
        ArithOutcome::Exists => binary::error(session, header, status::EXISTS),
    }
    Flow::Continue
}
