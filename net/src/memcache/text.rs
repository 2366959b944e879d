//! memcached's text protocol, and the framing the meta commands share with it.
//!
//! A request is a line of space-separated tokens; storage commands are followed by a data
//! block of the announced length and `\r\n`. Replies and error texts are memcached 1.6's.

use super::{
    expire_at_ms, general_stats, meta, parse_flags, parse_i64, parse_u64, refuse_write, split_line,
    valid_key, GET_LINE_BYTES_MAX, LINE_BYTES_MAX, VERSION,
};
use crate::protocol::Processed;
use crate::session::Session;
use engine::keyspace::{ArithOutcome, DeleteOutcome, StoreMode, StoreOutcome, Str, Value};
use engine::Engine;

/// What one command did with the input.
pub(super) enum Step {
    /// Consumed this many bytes.
    Done(usize),
    /// Needs this many bytes in total (from the start of the request) before it can run.
    Incomplete(usize),
    /// Consumed this many bytes, and the next `swallow` bytes that arrive are to be
    /// discarded (the data of an item that was too large).
    Swallow(usize, usize),
    /// Close the connection after flushing (quit, or a request we cannot frame).
    Close,
}

pub(super) const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format\r\n";
const BAD_CHUNK: &[u8] = b"CLIENT_ERROR bad data chunk\r\n";
const TOO_LARGE: &[u8] = b"SERVER_ERROR object too large for cache\r\n";
const ERROR: &[u8] = b"ERROR\r\n";

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
        let Some((line, line_bytes)) = split_line(rest) else {
            // No complete line yet. Only a multi-key get may be long (memcached's rule).
            let is_get = rest.starts_with(b"get ") || rest.starts_with(b"gets ");
            if (rest.len() > LINE_BYTES_MAX && !is_get) || rest.len() > GET_LINE_BYTES_MAX {
                session.raw(b"CLIENT_ERROR line too long\r\n");
                processed.close = true;
                processed.consumed = input.len();
            }
            return processed;
        };
        let step = execute(session, rest, line, line_bytes);
        match step {
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

fn execute<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &[u8],
    line: &[u8],
    line_bytes: usize,
) -> Step {
    let tokens = tokens(line);
    let Some(&command) = tokens.first() else {
        session.raw(ERROR);
        return Step::Done(line_bytes);
    };
    session.count_command();
    let writes_at_once = matches!(
        command,
        b"gat" | b"gats" | b"incr" | b"decr" | b"delete" | b"touch" | b"flush_all"
    );
    if writes_at_once && refuse_write(session) {
        return Step::Done(line_bytes);
    }
    match command {
        b"get" | b"gets" => retrieve(session, &tokens[1..], command == b"gets", None, line_bytes),
        b"gat" | b"gats" => {
            let Some(exptime) = tokens.get(1).and_then(|t| parse_i64(t)) else {
                if tokens.len() < 3 {
                    session.raw(ERROR);
                } else {
                    session.raw(b"CLIENT_ERROR invalid exptime argument\r\n");
                }
                return Step::Done(line_bytes);
            };
            retrieve(
                session,
                &tokens[2..],
                command == b"gats",
                Some(exptime),
                line_bytes,
            )
        }
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => {
            store(session, request, &tokens, line_bytes)
        }
        b"incr" | b"decr" => {
            let Some((key, argument, noreply)) = key_and_argument(session, &tokens) else {
                return Step::Done(line_bytes);
            };
            let Some(delta) = parse_u64(argument) else {
                session.raw(b"CLIENT_ERROR invalid numeric delta argument\r\n");
                return Step::Done(line_bytes);
            };
            let outcome = session
                .keyspace()
                .arith(key, command == b"incr", delta, None, None);
            if !noreply {
                match outcome {
                    ArithOutcome::Value(value, _) => {
                        session.raw(itoa::Buffer::new().format(value).as_bytes());
                        session.raw(b"\r\n");
                    }
                    ArithOutcome::NotFound => session.raw(b"NOT_FOUND\r\n"),
                    ArithOutcome::NonNumeric => session
                        .raw(b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
                    ArithOutcome::Exists => session.raw(b"EXISTS\r\n"),
                }
            }
            Step::Done(line_bytes)
        }
        b"delete" => {
            // memcached accepts a legacy "0" time argument; anything else is refused.
            let (noreply, extra) = match &tokens[1..] {
                [_] => (false, None),
                [_, last] if *last == b"noreply" => (true, None),
                [_, time] => (false, Some(*time)),
                [_, time, last] if *last == b"noreply" => (true, Some(*time)),
                _ => {
                    session.raw(ERROR);
                    return Step::Done(line_bytes);
                }
            };
            if extra.is_some_and(|time| time != b"0") {
                session.raw(
                    b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
                );
                return Step::Done(line_bytes);
            }
            let key = tokens[1];
            if !valid_key(key) {
                session.raw(BAD_FORMAT);
                return Step::Done(line_bytes);
            }
            let outcome = session.keyspace().delete_item(key, None);
            if !noreply {
                session.raw(match outcome {
                    DeleteOutcome::Deleted => b"DELETED\r\n",
                    _ => b"NOT_FOUND\r\n",
                });
            }
            Step::Done(line_bytes)
        }
        b"touch" => {
            let Some((key, argument, noreply)) = key_and_argument(session, &tokens) else {
                return Step::Done(line_bytes);
            };
            let Some(exptime) = parse_i64(argument) else {
                session.raw(b"CLIENT_ERROR invalid exptime argument\r\n");
                return Step::Done(line_bytes);
            };
            let at = expire_at_ms(exptime, session.keyspace().now_ms());
            let touched = session.keyspace().touch_item(key, at).is_some();
            if !noreply {
                session.raw(if touched {
                    b"TOUCHED\r\n"
                } else {
                    b"NOT_FOUND\r\n"
                });
            }
            Step::Done(line_bytes)
        }
        b"flush_all" => {
            let noreply = tokens.last() == Some(&&b"noreply"[..]);
            let arguments = &tokens[1..tokens.len() - usize::from(noreply)];
            let delay = match arguments {
                [] => 0,
                [delay] => match parse_i64(delay) {
                    Some(delay) => delay,
                    None => {
                        session.raw(BAD_FORMAT);
                        return Step::Done(line_bytes);
                    }
                },
                _ => {
                    session.raw(ERROR);
                    return Step::Done(line_bytes);
                }
            };
            if delay <= 0 {
                session.keyspace().flush();
            } else {
                let at = expire_at_ms(delay, session.keyspace().now_ms());
                session.keyspace().flush_at(at);
            }
            if !noreply {
                session.raw(b"OK\r\n");
            }
            Step::Done(line_bytes)
        }
        b"version" => {
            session.raw(b"VERSION ");
            session.raw(VERSION.as_bytes());
            session.raw(b"\r\n");
            Step::Done(line_bytes)
        }
        b"verbosity" => {
            let noreply = tokens.last() == Some(&&b"noreply"[..]);
            if tokens.len() < 2 || tokens.len() > 3 {
                session.raw(ERROR);
            } else if !noreply {
                session.raw(b"OK\r\n");
            }
            Step::Done(line_bytes)
        }
        b"stats" => {
            match tokens.get(1).copied() {
                None => {
                    for (name, value) in general_stats(session) {
                        session.raw(format!("STAT {name} {value}\r\n").as_bytes());
                    }
                    session.raw(b"END\r\n");
                }
                Some(b"reset") => {
                    session.shared.stats.memcache_gets.reset();
                    session.shared.stats.memcache_sets.reset();
                    session.raw(b"RESET\r\n");
                }
                // Sub-statistics memcached keeps per slab class, per item size, per setting
                // or per connection have no counterpart here: an empty listing.
                Some(b"items" | b"slabs" | b"sizes" | b"settings" | b"conns") => {
                    session.raw(b"END\r\n")
                }
                // memcached's per-prefix statistics: we record none, so turning them on or
                // off is accepted and a dump is empty.
                Some(b"detail") => match tokens.get(2).copied() {
                    Some(b"on" | b"off") => session.raw(b"OK\r\n"),
                    Some(b"dump") => session.raw(b"END\r\n"),
                    _ => session.raw(b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"),
                },
                // Anything else (`stats noreply` included: stats has no noreply) is an unknown
                // statistics group, which memcached answers with ERROR.
                Some(_) => session.raw(ERROR),
            }
            Step::Done(line_bytes)
        }
        b"quit" => Step::Close,
        b"shutdown" => {
            session.raw(b"ERROR: shutdown not enabled\r\n");
            Step::Done(line_bytes)
        }
        b"mn" | b"mg" | b"ms" | b"md" | b"ma" | b"me" => {
            meta::execute(session, request, &tokens, line_bytes)
        }
        _ => {
            session.raw(ERROR);
            Step::Done(line_bytes)
        }
    }
}

/// The `<command> <key> <argument> [noreply]` shape of `incr`, `decr` and `touch`: the key,
/// the argument and whether `noreply` was given. Replies `ERROR` or the bad-format error and
/// returns `None` when the line does not have that shape.
fn key_and_argument<'a, E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    tokens: &[&'a [u8]],
) -> Option<(&'a [u8], &'a [u8], bool)> {
    let noreply = tokens.len() == 4 && tokens[3] == b"noreply";
    if tokens.len() != 3 && !noreply {
        session.raw(ERROR);
        return None;
    }
    if !valid_key(tokens[1]) {
        session.raw(BAD_FORMAT);
        return None;
    }
    Some((tokens[1], tokens[2], noreply))
}

/// `get`, `gets`, `gat`, `gats`.
fn retrieve<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    keys: &[&[u8]],
    with_cas: bool,
    touch: Option<i64>,
    line_bytes: usize,
) -> Step {
    if keys.is_empty() {
        session.raw(ERROR);
        return Step::Done(line_bytes);
    }
    // Check every key first: memcached sends nothing but the error for a bad one.
    if !keys.iter().all(|key| valid_key(key)) {
        session.raw(BAD_FORMAT);
        return Step::Done(line_bytes);
    }
    session.shared.stats.memcache_gets.add(keys.len());
    let shared = session.shared;
    for key in keys {
        let mut write = |value: &Str, flags: u32, version: u64| {
            let mut digits = itoa::Buffer::new();
            session.raw(b"VALUE ");
            session.raw(key);
            session.raw(b" ");
            session.raw(digits.format(flags).as_bytes());
            session.raw(b" ");
            session.raw(digits.format(value.len()).as_bytes());
            if with_cas {
                session.raw(b" ");
                session.raw(digits.format(version).as_bytes());
            }
            session.raw(b"\r\n");
            session.raw_value(value);
            session.raw(b"\r\n");
        };
        match touch {
            None => {
                shared.keyspace.get_item_with(key, |value, meta, version| {
                    write(value, meta.flags, version)
                });
            }
            Some(exptime) => {
                let at = expire_at_ms(exptime, shared.keyspace.now_ms());
                if let Some(item) = shared.keyspace.touch_item(key, at) {
                    write(&item.value, item.flags, item.version);
                }
            }
        }
    }
    session.raw(b"END\r\n");
    Step::Done(line_bytes)
}

/// `set`, `add`, `replace`, `append`, `prepend`, `cas`.
fn store<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &[u8],
    tokens: &[&[u8]],
    line_bytes: usize,
) -> Step {
    let is_cas = tokens[0] == b"cas";
    let fields = if is_cas { 6 } else { 5 };
    let noreply = tokens.len() == fields + 1 && tokens[fields] == b"noreply";
    if tokens.len() != fields && !noreply {
        session.raw(ERROR);
        return Step::Done(line_bytes);
    }
    let key = tokens[1];
    let flags = parse_flags(tokens[2]);
    let exptime = parse_i64(tokens[3]);
    let length = parse_i64(tokens[4]);
    let cas = if is_cas {
        parse_u64(tokens[5])
    } else {
        Some(0)
    };
    let (Some(flags), Some(exptime), Some(length), Some(cas)) = (flags, exptime, length, cas)
    else {
        session.raw(BAD_FORMAT);
        return Step::Done(line_bytes);
    };
    if length < 0 || !valid_key(key) {
        session.raw(BAD_FORMAT);
        return Step::Done(line_bytes);
    }
    let length = length as usize;
    let item_size_max = session.limits.item_bytes_max;
    if length > item_size_max {
        // memcached answers at once and discards the data as it arrives.
        session.raw(TOO_LARGE);
        return Step::Swallow(line_bytes, length.saturating_add(2));
    }
    let total = line_bytes + length + 2;
    if request.len() < total {
        return Step::Incomplete(total);
    }
    let data = &request[line_bytes..line_bytes + length];
    if &request[line_bytes + length..total] != b"\r\n" {
        session.raw(BAD_CHUNK);
        return Step::Done(total);
    }
    if refuse_write(session) {
        return Step::Done(total);
    }
    let mode = match tokens[0] {
        b"set" | b"cas" => StoreMode::Set,
        b"add" => StoreMode::Add,
        b"replace" => StoreMode::Replace,
        b"append" => StoreMode::Append,
        _ => StoreMode::Prepend,
    };
    session.shared.stats.memcache_sets.add(1);
    let at = expire_at_ms(exptime, session.keyspace().now_ms());
    let outcome = session.keyspace().store(
        mode,
        key,
        Str::copy_from(data),
        flags,
        at,
        is_cas.then_some(cas),
    );
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
