//! memcached's text protocol, and the framing the meta commands share with it.
//!
//! A request is a line of space-separated tokens; storage commands are followed by a data
//! block of the announced length and `\r\n`. [`process`] frames lines and runs each through
//! its row of the [`Table`]: one lookup of the verb, the refusal of writes while the
//! append-only file cannot be written, and the row's handler. An empty line or an unknown verb
//! gets `ERROR`. Replies and error texts are memcached 1.6's.

use super::table::{flag, Step, Table, TextRequest};
use super::{refuse_write, split_line, GET_LINE_BYTES_MAX, LINE_BYTES_MAX};
use crate::lock::Lock;
use crate::protocol::Processed;
use crate::session::Session;
use engine::Engine;
use keyspace::Value;

/// A malformed command line.
pub(super) const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format\r\n";
/// A data block not followed by `\r\n`.
pub(super) const BAD_CHUNK: &[u8] = b"CLIENT_ERROR bad data chunk\r\n";
/// An item past the size limit.
pub(super) const TOO_LARGE: &[u8] = b"SERVER_ERROR object too large for cache\r\n";
/// An unknown command, or a known one with the wrong number of tokens.
pub(super) const ERROR: &[u8] = b"ERROR\r\n";

/// Splits a line into tokens on spaces (runs of spaces separate once, as memcached's
/// tokenizer).
pub(super) fn tokens(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| b == b' ')
        .filter(|token| !token.is_empty())
        .collect()
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
        let complete = split_line(rest);
        // The line so far when it is not complete yet (a trailing `\r` may be the start of
        // its terminator, which a complete line does not count either).
        let line_so_far = complete.map_or_else(
            || rest.strip_suffix(b"\r").unwrap_or(rest),
            |(line, _)| line,
        );
        if line_too_long(line_so_far) {
            session.raw(b"CLIENT_ERROR line too long\r\n");
            processed.close = true;
            processed.consumed = input.len();
            return processed;
        }
        let Some((line, line_bytes)) = complete else {
            return processed;
        };
        match execute(session, rest, line, line_bytes) {
            Step::Done(consumed) => processed.consumed += consumed,
            Step::Incomplete(want) => {
                processed.want = want;
                return processed;
            }
            Step::Swallow(consumed, swallow) => {
                processed.consumed += consumed;
                let available = input.len() - processed.consumed;
                let now = swallow.min(available);
                processed.consumed += now;
                processed.swallow = swallow - now;
                if processed.swallow > 0 {
                    return processed;
                }
            }
            Step::Close => {
                processed.close = true;
                processed.consumed = input.len();
                return processed;
            }
        }
    }
    processed
}

/// Whether a command line (or the part of one received so far) is past memcached's limit:
/// only a multi-key get may be long. Judged on the line, complete or not, so the answer does
/// not depend on how the bytes arrived: the check used to apply only while the line was
/// incomplete, so a long line read in one piece was run and the same line read in parts
/// closed the connection (the memcache_text fuzz target found it, 2026-12-06).
fn line_too_long(line: &[u8]) -> bool {
    let is_get = line.starts_with(b"get ") || line.starts_with(b"gets ");
    (line.len() > LINE_BYTES_MAX && !is_get) || line.len() > GET_LINE_BYTES_MAX
}

/// Looks the verb up and runs its row: one lookup and a call.
fn execute<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    input: &[u8],
    line: &[u8],
    line_bytes: usize,
) -> Step {
    let tokens = tokens(line);
    let Some(row) = tokens.first().and_then(|verb| Table::<E>::text(verb)) else {
        session.raw(ERROR);
        return Step::Done(line_bytes);
    };
    session.count_command();
    // A command with a data block is refused only after its block is read (its handler
    // checks), so the block is not taken for commands.
    if row.has(flag::WRITE) && !row.has(flag::DATA) && refuse_write(session) {
        return Step::Done(line_bytes);
    }
    let request = TextRequest {
        input,
        tokens: &tokens,
        line_bytes,
    };
    let mode = super::table::lock_mode(row.flags);
    session.locked(Lock::Shared, mode, |session| {
        (row.handler)(session, &request)
    })
}

/// Writes a decimal number.
pub(super) fn decimal<E: Engine<Value = Value>>(session: &mut Session<'_, E>, value: u64) {
    session.raw(itoa::Buffer::new().format(value).as_bytes());
}
