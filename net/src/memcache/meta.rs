//! memcached's meta commands: `mg`, `ms`, `md`, `ma`, `mn`, `me`.
//!
//! Each takes a key and single-letter flags, some with a value glued on (`T30`, `C1234`).
//! Return flags echo back in the reply (`c` the CAS, `f` the client flags, `k` the key, `O` the
//! opaque token, `s` the size, `t` the remaining TTL). `q` makes the common reply silent
//! (`EN` for `mg`, `HD` for the others; memcached 1.6.18 still sends `md`'s `NF`, which
//! protocol.txt lists as hidden, and so do we), so a pipeline of quiet commands
//! ends with `mn` to know when it is done. Base64 keys (`b`) are not supported and get
//! `CLIENT_ERROR`.

use super::stats::counters;
use super::table::{Step, TextRequest};
use super::text::BAD_FORMAT;
use super::{expire_at_ms, parse_flags, parse_i64, parse_u64, ttl_seconds, valid_key};
use crate::session::Session;
use engine::Engine;
use keyspace::{ArithOutcome, DeleteOutcome, StoreMode, StoreOutcome, Str, Value};

/// Flags parsed from tokens: each letter with the bytes glued to it.
struct Flags<'a> {
    flags: Vec<(u8, &'a [u8])>,
}

impl<'a> Flags<'a> {
    fn parse(tokens: &[&'a [u8]]) -> Option<Self> {
        let flags = tokens
            .iter()
            .map(|token| Some((*token.first()?, &token[1..])))
            .collect::<Option<Vec<_>>>()?;
        Some(Self { flags })
    }

    fn has(&self, letter: u8) -> bool {
        self.flags.iter().any(|(flag, _)| *flag == letter)
    }

    fn value(&self, letter: u8) -> Option<&'a [u8]> {
        self.flags
            .iter()
            .find(|(flag, _)| *flag == letter)
            .map(|(_, value)| *value)
    }

    /// The numeric value of a flag; `Err` when present but not a number.
    fn number(&self, letter: u8) -> Result<Option<i64>, ()> {
        match self.value(letter) {
            None => Ok(None),
            Some(value) => parse_i64(value).map(Some).ok_or(()),
        }
    }

    fn unsigned(&self, letter: u8) -> Result<Option<u64>, ()> {
        match self.value(letter) {
            None => Ok(None),
            Some(value) => parse_u64(value).map(Some).ok_or(()),
        }
    }
}

/// The return flags of a reply: `O` and `k` are echoed for every command that takes them.
fn echo<E: Engine<Value = Value>>(session: &mut Session<'_, E>, flags: &Flags<'_>, key: &[u8]) {
    if flags.has(b'k') {
        session.raw(b" k");
        session.raw(key);
    }
    if let Some(opaque) = flags.value(b'O') {
        session.raw(b" O");
        session.raw(opaque);
    }
}

fn number<E: Engine<Value = Value>>(session: &mut Session<'_, E>, letter: u8, value: i64) {
    session.raw(&[b' ', letter]);
    session.raw(itoa::Buffer::new().format(value).as_bytes());
}

/// The key and flags every meta command but `mn` starts with (`ms` has its data length in
/// between); `Err` with the step after replying the error when they do not parse.
fn key_and_flags<'a, E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'a>,
) -> Result<(&'a [u8], Flags<'a>), Step> {
    let tokens = request.tokens;
    let Some(&key) = tokens.get(1) else {
        session.raw(BAD_FORMAT);
        return Err(request.done());
    };
    // ms carries the data length before its flags.
    let flag_tokens = if tokens[0] == b"ms" {
        tokens.get(3..).unwrap_or(&[])
    } else {
        &tokens[2..]
    };
    let Some(flags) = Flags::parse(flag_tokens) else {
        session.raw(BAD_FORMAT);
        return Err(request.done());
    };
    if flags.has(b'b') {
        session.raw(b"CLIENT_ERROR base64 keys are not supported\r\n");
        return Err(request.done());
    }
    if !valid_key(key) {
        session.raw(BAD_FORMAT);
        return Err(request.done());
    }
    Ok((key, flags))
}

/// `mn`: the end marker of a pipeline of quiet meta commands.
pub fn noop<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    session.raw(b"MN\r\n");
    request.done()
}

/// `me <key>`: memcached's debug view of an item.
pub fn debug<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    let (key, _) = match key_and_flags(session, request) {
        Ok(parsed) => parsed,
        Err(step) => return step,
    };
    let now = session.keyspace().now_ms();
    let db = session.keyspace();
    let found = db.get_item_with(key, |value, meta, version| {
        (value.len(), meta.expire_at_ms, version)
    });
    match found {
        Some((size, expire_at, version)) => {
            session.raw(b"ME ");
            session.raw(key);
            session.raw(
                format!(
                    " exp={} la=0 cas={version} fetch=no cls=1 size={size}\r\n",
                    ttl_seconds(expire_at, now)
                )
                .as_bytes(),
            );
        }
        None => session.raw(b"EN\r\n"),
    }
    request.done()
}

/// `mg <key> <flags>*`.
pub fn get<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    match key_and_flags(session, request) {
        Ok((key, flags)) => meta_get(session, key, &flags, request.line_bytes),
        Err(step) => step,
    }
}

/// `ms <key> <datalen> <flags>*` and a data block.
pub fn set<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    match key_and_flags(session, request) {
        Ok((key, flags)) => meta_set(session, request, key, &flags),
        Err(step) => step,
    }
}

/// `md <key> <flags>*`.
pub fn delete<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    match key_and_flags(session, request) {
        Ok((key, flags)) => meta_delete(session, key, &flags, request.line_bytes),
        Err(step) => step,
    }
}

/// `ma <key> <flags>*`.
pub fn arithmetic<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &TextRequest<'_>,
) -> Step {
    match key_and_flags(session, request) {
        Ok((key, flags)) => meta_arithmetic(session, key, &flags, request.line_bytes),
        Err(step) => step,
    }
}

fn meta_get<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    key: &[u8],
    flags: &Flags<'_>,
    line_bytes: usize,
) -> Step {
    let Ok(touch) = flags.number(b'T') else {
        session.raw(b"CLIENT_ERROR bad token in command line format\r\n");
        return Step::Done(line_bytes);
    };
    let now = session.keyspace().now_ms();
    let item = match touch {
        Some(exptime) => session
            .keyspace()
            .touch_item(key, expire_at_ms(exptime, now)),
        None => {
            let db = session.keyspace();
            db.get_item_with(key, |value, meta, version| keyspace::Item {
                value: value.clone(),
                flags: meta.flags,
                version,
                expire_at_ms: meta.expire_at_ms,
            })
        }
    };
    match touch {
        Some(_) => counters(session).touched(item.is_some()),
        None => counters(session).retrieved(item.is_some()),
    }
    let Some(item) = item else {
        if !flags.has(b'q') {
            session.raw(b"EN\r\n");
        }
        return Step::Done(line_bytes);
    };
    let with_value = flags.has(b'v');
    if with_value {
        session.raw(b"VA ");
        session.raw(itoa::Buffer::new().format(item.value.len()).as_bytes());
    } else {
        session.raw(b"HD");
    }
    if flags.has(b'c') {
        number(session, b'c', item.version as i64);
    }
    if flags.has(b'f') {
        number(session, b'f', i64::from(item.flags));
    }
    if flags.has(b's') {
        number(session, b's', item.value.len() as i64);
    }
    if flags.has(b't') {
        number(session, b't', ttl_seconds(item.expire_at_ms, now));
    }
    echo(session, flags, key);
    session.raw(b"\r\n");
    if with_value {
        session.raw_value(&item.value);
        session.raw(b"\r\n");
    }
    Step::Done(line_bytes)
}

fn meta_set<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    text: &TextRequest<'_>,
    key: &[u8],
    flags: &Flags<'_>,
) -> Step {
    let (request, line_bytes) = (text.input, text.line_bytes);
    let Some(length) = text.tokens.get(2).and_then(|token| parse_u64(token)) else {
        session.raw(BAD_FORMAT);
        return Step::Done(line_bytes);
    };
    let length = length as usize;
    if length > session.limits.item_bytes_max {
        counters(session).store_too_large.add(1);
        session.raw(b"SERVER_ERROR object too large for cache\r\n");
        return Step::Swallow(line_bytes, length.saturating_add(2));
    }
    let total = line_bytes + length + 2;
    if request.len() < total {
        return Step::Incomplete(total);
    }
    if &request[line_bytes + length..total] != b"\r\n" {
        session.raw(b"CLIENT_ERROR bad data chunk\r\n");
        return Step::Done(total);
    }
    if super::refuse_write(session) {
        return Step::Done(total);
    }
    let data = &request[line_bytes..line_bytes + length];
    let parsed = (|| {
        let client_flags = match flags.value(b'F') {
            None => 0,
            Some(value) => parse_flags(value).ok_or(())?,
        };
        let ttl = flags.number(b'T')?.unwrap_or(0);
        let cas = flags.unsigned(b'C')?;
        let mode = match flags.value(b'M') {
            None => StoreMode::Set,
            Some(b"S" | b"s") => StoreMode::Set,
            Some(b"E" | b"e") => StoreMode::Add,
            Some(b"A" | b"a") => StoreMode::Append,
            Some(b"P" | b"p") => StoreMode::Prepend,
            Some(b"R" | b"r") => StoreMode::Replace,
            Some(_) => return Err(()),
        };
        Ok((client_flags, ttl, cas, mode))
    })();
    let Ok((client_flags, ttl, cas, mode)) = parsed else {
        session.raw(b"CLIENT_ERROR bad token in command line format\r\n");
        return Step::Done(total);
    };
    counters(session).cmd_set.add(1);
    let at = expire_at_ms(ttl, session.keyspace().now_ms());
    let outcome = session
        .keyspace()
        .store(mode, key, Str::copy_from(data), client_flags, at, cas);
    super::storage::count_store(counters(session), &outcome, cas.is_some());
    match outcome {
        StoreOutcome::Stored(version) => {
            if !flags.has(b'q') {
                session.raw(b"HD");
                if flags.has(b'c') {
                    number(session, b'c', version as i64);
                }
                echo(session, flags, key);
                session.raw(b"\r\n");
            }
        }
        StoreOutcome::NotStored => reply_code(session, b"NS", flags, key),
        StoreOutcome::Exists => reply_code(session, b"EX", flags, key),
        StoreOutcome::NotFound => reply_code(session, b"NF", flags, key),
    }
    Step::Done(total)
}

fn reply_code<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    code: &[u8],
    flags: &Flags<'_>,
    key: &[u8],
) {
    session.raw(code);
    echo(session, flags, key);
    session.raw(b"\r\n");
}

fn meta_delete<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    key: &[u8],
    flags: &Flags<'_>,
    line_bytes: usize,
) -> Step {
    let Ok(cas) = flags.unsigned(b'C') else {
        session.raw(b"CLIENT_ERROR bad token in command line format\r\n");
        return Step::Done(line_bytes);
    };
    let quiet = flags.has(b'q');
    let outcome = session.keyspace().delete_item(key, cas);
    counters(session).deleted(outcome == DeleteOutcome::Deleted);
    match outcome {
        DeleteOutcome::Deleted if !quiet => reply_code(session, b"HD", flags, key),
        // `q` hides only success: memcached 1.6.18 still reports a miss.
        DeleteOutcome::NotFound => reply_code(session, b"NF", flags, key),
        DeleteOutcome::Exists => reply_code(session, b"EX", flags, key),
        _ => {}
    }
    Step::Done(line_bytes)
}

fn meta_arithmetic<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    key: &[u8],
    flags: &Flags<'_>,
    line_bytes: usize,
) -> Step {
    let parsed = (|| {
        let delta = flags.unsigned(b'D')?.unwrap_or(1);
        let initial = flags.unsigned(b'J')?.unwrap_or(0);
        let vivify = flags.number(b'N')?;
        let cas = flags.unsigned(b'C')?;
        let increment = match flags.value(b'M') {
            None | Some(b"I" | b"i" | b"+") => true,
            Some(b"D" | b"d" | b"-") => false,
            Some(_) => return Err(()),
        };
        Ok((delta, initial, vivify, cas, increment))
    })();
    let Ok((delta, initial, vivify, cas, increment)) = parsed else {
        session.raw(b"CLIENT_ERROR bad token in command line format\r\n");
        return Step::Done(line_bytes);
    };
    let now = session.keyspace().now_ms();
    let create = vivify.map(|ttl| (initial, expire_at_ms(ttl, now)));
    let outcome = session.keyspace().arith(key, increment, delta, create, cas);
    super::arithmetic::count(counters(session), &outcome, increment);
    match outcome {
        ArithOutcome::Value(value, version) => {
            let quiet = flags.has(b'q');
            if flags.has(b'v') {
                let digits = value.to_string();
                session.raw(b"VA ");
                session.raw(itoa::Buffer::new().format(digits.len()).as_bytes());
                if flags.has(b'c') {
                    number(session, b'c', version as i64);
                }
                echo(session, flags, key);
                session.raw(b"\r\n");
                session.raw(digits.as_bytes());
                session.raw(b"\r\n");
            } else if !quiet {
                session.raw(b"HD");
                if flags.has(b'c') {
                    number(session, b'c', version as i64);
                }
                echo(session, flags, key);
                session.raw(b"\r\n");
            }
        }
        ArithOutcome::NotFound => reply_code(session, b"NF", flags, key),
        ArithOutcome::NonNumeric => {
            session.raw(b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
        }
        ArithOutcome::Exists => reply_code(session, b"EX", flags, key),
    }
    Step::Done(line_bytes)
}
