//! The commands about the server rather than items: text `stats`, `flush_all`, `version`,
//! `verbosity`, `quit`, `shutdown`; binary `STAT`, `FLUSH`, `VERSION`, `VERBOSITY`, `NOOP`,
//! `QUIT` (and the quiet twins).

use super::binary::{self, status};
use super::numbers::{strtol_32, strtoul_32};
use super::stats::{self, counters};
use super::table::{BinaryRequest, Flow, Step, TextRequest};
use super::text::{BAD_FORMAT, ERROR};
use super::{expire_at_ms, VERSION};
use crate::session::Session;
use engine::Engine;
use keyspace::Value;

/// `stats [group]`.
pub fn stats<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    let tokens = request.tokens;
    match tokens.get(1).copied() {
        None => {
            for (name, value) in stats::general(session) {
                session.raw(format!("STAT {name} {value}\r\n").as_bytes());
            }
            session.raw(b"END\r\n");
        }
        Some(b"reset") => {
            counters(session).reset();
            session.raw(b"RESET\r\n");
        }
        // Sub-statistics memcached keeps per slab class, per item size, per setting or per
        // connection have no counterpart here: an empty listing.
        Some(b"items" | b"slabs" | b"sizes" | b"settings" | b"conns") => session.raw(b"END\r\n"),
        // memcached's per-prefix statistics: we record none, so turning them on or off is
        // accepted and a dump is empty.
        Some(b"detail") => match tokens.get(2).copied() {
            Some(b"on" | b"off") => session.raw(b"OK\r\n"),
            Some(b"dump") => session.raw(b"END\r\n"),
            _ => session.raw(b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"),
        },
        // Anything else (`stats noreply` included: stats has no noreply) is an unknown
        // statistics group, which memcached answers with ERROR.
        Some(_) => session.raw(ERROR),
    }
    request.done()
}

/// `flush_all [delay] [noreply]`: a delay of 0 or less flushes now (memcached 1.6.18 takes
/// `-1` as "now" too); more, at that time.
pub fn flush_all<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    let tokens = request.tokens;
    if tokens.len() > 3 {
        session.raw(ERROR);
        return request.done();
    }
    let noreply = request.noreply();
    // A second token that is not `noreply` is the delay; a third is ignored.
    let delay = if tokens.len() > 1 + usize::from(noreply) {
        match strtol_32(tokens[1]) {
            Some(delay) => delay,
            None => {
                // Under noreply memcached sends nothing, not even this error.
                if !noreply {
                    session.raw(b"CLIENT_ERROR invalid exptime argument\r\n");
                }
                return request.done();
            }
        }
    } else {
        0
    };
    counters(session).cmd_flush.add(1);
    flush(session, i64::from(delay));
    if !noreply {
        session.raw(b"OK\r\n");
    }
    request.done()
}

/// Flushes now, or once `delay` seconds have passed (memcached's exptime rules).
fn flush<E: Engine<Value = Value>>(session: &mut Session<'_, E>, delay: i64) {
    if delay <= 0 {
        session.keyspace().flush();
    } else {
        let at = expire_at_ms(delay, session.keyspace().now_ms());
        session.keyspace().flush_at(at);
    }
}

/// `version`.
pub fn version<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    session.raw(b"VERSION ");
    session.raw(VERSION.as_bytes());
    session.raw(b"\r\n");
    request.done()
}

/// `verbosity <level> [noreply]`: accepted and ignored (we log through `--loglevel`).
pub fn verbosity<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    let tokens = request.tokens;
    let noreply = request.noreply();
    if !(2..=3).contains(&tokens.len()) {
        session.raw(ERROR);
        return request.done();
    }
    // Under noreply nothing is sent, not even the error for a bad level (`verbosity
    // noreply` has none): memcached's rule.
    if noreply {
        return request.done();
    }
    if strtoul_32(tokens[1]).is_some() {
        session.raw(b"OK\r\n");
    } else {
        session.raw(BAD_FORMAT);
    }
    request.done()
}

/// `quit`: close once the replies before it are written.
pub fn quit<E: Engine<Value = Value>>(_: &mut Session<'_, E>, _: &TextRequest<'_>) -> Step {
    Step::Close
}

/// `shutdown`: memcached refuses it unless started with `-A`; so do we, always.
pub fn shutdown<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    session.raw(b"ERROR: shutdown not enabled\r\n");
    request.done()
}

/// Binary `STAT`: one response per statistic, then an empty one; the key names a group
/// (`reset` resets; the others we do not keep list nothing).
pub fn binary_stat<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    let header = &request.header;
    if request.key.is_empty() {
        for (name, value) in stats::general(session) {
            binary::respond(
                session,
                header,
                status::OK,
                0,
                &[],
                name.as_bytes(),
                value.as_bytes(),
            );
        }
    } else if request.key == b"reset" {
        counters(session).reset();
    }
    binary::respond(session, header, status::OK, 0, &[], &[], &[]);
    Flow::Continue
}

/// Binary `FLUSH`, `FLUSHQ`: an optional 4-byte delay in the extras.
pub fn binary_flush<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    let delay = if request.extras.is_empty() {
        0
    } else {
        binary::exptime(request.extras)
    };
    counters(session).cmd_flush.add(1);
    flush(session, delay);
    if !request.quiet() {
        binary::respond(session, &request.header, status::OK, 0, &[], &[], &[]);
    }
    Flow::Continue
}

/// Binary `NOOP`: the end marker of a pipeline of quiet requests.
pub fn binary_noop<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    binary::respond(session, &request.header, status::OK, 0, &[], &[], &[]);
    Flow::Continue
}

/// Binary `VERSION`.
pub fn binary_version<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    let header = &request.header;
    binary::respond(session, header, status::OK, 0, &[], &[], VERSION.as_bytes());
    Flow::Continue
}

/// Binary `VERBOSITY`: accepted and ignored.
pub fn binary_verbosity<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    binary::respond(session, &request.header, status::OK, 0, &[], &[], &[]);
    Flow::Continue
}

/// Binary `QUIT`, `QUITQ`: `QUIT` answers first.
pub fn binary_quit<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &BinaryRequest<'_>,
) -> Flow {
    if !request.quiet() {
        binary::respond(session, &request.header, status::OK, 0, &[], &[], &[]);
    }
    Flow::Close
}
