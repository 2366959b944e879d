//! String commands: `GET`, the `SET` family, counters, `APPEND` and ranges.

use super::docs::strings as docs;
use super::parse::Args;
use super::table::{command, key, range, single, Row};
use super::{bulk_value, errors, int_arg, CommandError, CommandResult};
use crate::lock::Lock;
use crate::session::Session;
use engine::Engine;
use keyspace::{self, ExpireOption, SetCondition, SetOptions, Str, Value};

/// The string commands' rows.
pub(super) fn rows<E: Engine<Value = Value>>() -> Vec<Row<E>> {
    vec![
        command!(
            "get",
            2,
            [READONLY, FAST],
            [READ, STRING, FAST],
            [single(key::RO | key::ACCESS, 1)],
            get,
            docs: docs::GET
        ),
        command!(
            "set",
            -3,
            [WRITE, DENYOOM],
            [WRITE, STRING, SLOW],
            [
                single(key::RW | key::ACCESS | key::UPDATE | key::VARIABLE_FLAGS, 1)
                    .note("reads the old value only with GET")
            ],
            set,
            docs: docs::SET
        )
        .with_key_flags(set_key_flags),
        command!(
            "getex",
            -2,
            [WRITE, FAST],
            [WRITE, STRING, FAST],
            [single(key::RW | key::ACCESS | key::UPDATE, 1)
                .note("writes only when an expiry option is given")],
            getex,
            docs: docs::GETEX
        ),
        command!(
            "getdel",
            2,
            [WRITE, FAST],
            [WRITE, STRING, FAST],
            [single(key::RW | key::ACCESS | key::DELETE, 1)],
            getdel,
            docs: docs::GETDEL
        ),
        command!(
            "getset",
            3,
            [WRITE, DENYOOM, FAST],
            [WRITE, STRING, FAST],
            [single(key::RW | key::ACCESS | key::UPDATE, 1)],
            getset,
            docs: docs::GETSET
        ),
        command!("mget", -2, [READONLY, FAST], [READ, STRING, FAST], [range(key::RO | key::ACCESS, 1, -1, 1)], mget, tips: ["request_policy:multi_shard"], docs: docs::MGET),
        command!("mset", -3, [WRITE, DENYOOM], [WRITE, STRING, SLOW], [range(key::OW | key::UPDATE, 1, -1, 2)], mset, tips: ["request_policy:multi_shard", "response_policy:all_succeeded"], docs: docs::MSET).with_lock(Lock::WriteKeys),
        command!("msetnx", -3, [WRITE, DENYOOM], [WRITE, STRING, SLOW], [range(key::OW | key::INSERT, 1, -1, 2)], msetnx, tips: ["request_policy:multi_shard", "response_policy:agg_min"], docs: docs::MSETNX)
            // Check, then write: exclusive even for one key.
            .with_lock(Lock::Exclusive),
        command!(
            "setnx",
            3,
            [WRITE, DENYOOM, FAST],
            [WRITE, STRING, FAST],
            [single(key::OW | key::INSERT, 1)],
            setnx,
            docs: docs::SETNX
        ),
        command!(
            "setex",
            4,
            [WRITE, DENYOOM],
            [WRITE, STRING, SLOW],
            [single(key::OW | key::UPDATE, 1)],
            setex,
            docs: docs::SETEX
        ),
        command!(
            "psetex",
            4,
            [WRITE, DENYOOM],
            [WRITE, STRING, SLOW],
            [single(key::OW | key::UPDATE, 1)],
            psetex,
            docs: docs::PSETEX
        ),
        command!(
            "incr",
            2,
            [WRITE, DENYOOM, FAST],
            [WRITE, STRING, FAST],
            [single(key::RW | key::ACCESS | key::UPDATE, 1)],
            incr,
            docs: docs::INCR
        ),
        command!(
            "incrby",
            3,
            [WRITE, DENYOOM, FAST],
            [WRITE, STRING, FAST],
            [single(key::RW | key::ACCESS | key::UPDATE, 1)],
            incrby,
            docs: docs::INCRBY
        ),
        command!(
            "incrbyfloat",
            3,
            [WRITE, DENYOOM, FAST],
            [WRITE, STRING, FAST],
            [single(key::RW | key::ACCESS | key::UPDATE, 1)],
            incrbyfloat,
            docs: docs::INCRBYFLOAT
        ),
        command!(
            "decr",
            2,
            [WRITE, DENYOOM, FAST],
            [WRITE, STRING, FAST],
            [single(key::RW | key::ACCESS | key::UPDATE, 1)],
            decr,
            docs: docs::DECR
        ),
        command!(
            "decrby",
            3,
            [WRITE, DENYOOM, FAST],
            [WRITE, STRING, FAST],
            [single(key::RW | key::ACCESS | key::UPDATE, 1)],
            decrby,
            docs: docs::DECRBY
        ),
        command!(
            "append",
            3,
            [WRITE, DENYOOM, FAST],
            [WRITE, STRING, FAST],
            [single(key::RW | key::INSERT, 1)],
            append,
            docs: docs::APPEND
        ),
        command!(
            "strlen",
            2,
            [READONLY, FAST],
            [READ, STRING, FAST],
            [single(key::RO, 1)],
            strlen,
            docs: docs::STRLEN
        ),
        command!(
            "getrange",
            4,
            [READONLY],
            [READ, STRING, SLOW],
            [single(key::RO | key::ACCESS, 1)],
            getrange,
            docs: docs::GETRANGE
        ),
        command!(
            "substr",
            4,
            [READONLY],
            [READ, STRING, SLOW],
            [single(key::RO | key::ACCESS, 1)],
            getrange,
            docs: docs::SUBSTR
        ),
        command!(
            "setrange",
            4,
            [WRITE, DENYOOM],
            [WRITE, STRING, SLOW],
            [single(key::RW | key::UPDATE, 1)],
            setrange,
            docs: docs::SETRANGE
        ),
    ]
}

/// SET's key flags in one call: it reads (and returns) the old value only with `GET`.
fn set_key_flags(args: Args<'_>) -> u32 {
    if args
        .iter_from(3)
        .any(|arg| arg.eq_ignore_ascii_case(b"GET"))
    {
        key::RW | key::ACCESS | key::UPDATE
    } else {
        key::OW | key::UPDATE
    }
}

fn getdel<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let old = session.keyspace().getdel(args.get(1))?;
    reply_optional(session, old.as_ref());
    Ok(())
}

fn getset<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let options = SetOptions {
        get_old: true,
        ..SetOptions::default()
    };
    let outcome = session
        .keyspace()
        .set(args.get(1), Str::copy_from(args.get(2)), options)?;
    reply_optional(session, outcome.old.as_ref());
    Ok(())
}

fn mget<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let keys: Vec<&[u8]> = args.iter_from(1).collect();
    session.array(keys.len());
    // Each value is written while the keyspace holds it, as GET does: no clone.
    let keyspace = session.keyspace();
    keyspace.mget_with(&keys, |value| reply_optional(session, value));
    Ok(())
}

/// A key and its value among a command's arguments.
type KeyValue<'a> = (&'a [u8], &'a [u8]);

/// The key-value pairs of MSET and MSETNX; Redis checks their count after the arity.
fn pairs<'a>(args: Args<'a>, command: &str) -> Result<Vec<KeyValue<'a>>, CommandError> {
    if args.len().is_multiple_of(2) {
        return Err(format!("ERR wrong number of arguments for '{command}' command").into());
    }
    Ok((1..args.len())
        .step_by(2)
        .map(|i| (args.get(i), args.get(i + 1)))
        .collect())
}

fn mset<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let pairs = pairs(args, "mset")?;
    session.keyspace().mset(&pairs);
    session.ok();
    Ok(())
}

fn msetnx<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let pairs = pairs(args, "msetnx")?;
    let written = session.keyspace().msetnx(&pairs);
    session.integer(i64::from(written));
    Ok(())
}

fn setnx<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let options = SetOptions {
        condition: SetCondition::IfAbsent,
        ..SetOptions::default()
    };
    let outcome = session
        .keyspace()
        .set(args.get(1), Str::copy_from(args.get(2)), options)?;
    session.integer(i64::from(outcome.written));
    Ok(())
}

/// SETEX and PSETEX: the expiry in units of `unit_ms`.
fn set_expiring<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
    unit_ms: i64,
    command: &str,
) -> CommandResult {
    let at = expire_at(session, args.get(2), unit_ms, false, command)?;
    let options = SetOptions {
        expire: ExpireOption::At(at),
        ..SetOptions::default()
    };
    session
        .keyspace()
        .set(args.get(1), Str::copy_from(args.get(3)), options)?;
    session.ok();
    Ok(())
}

fn setex<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    set_expiring(session, args, 1000, "setex")
}

fn psetex<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    set_expiring(session, args, 1, "psetex")
}

fn incr<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    add(session, args.get(1), 1)
}

fn decr<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    add(session, args.get(1), -1)
}

fn incrby<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let delta = int_arg(args.get(2))?;
    add(session, args.get(1), delta)
}

fn decrby<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let delta = int_arg(args.get(2))?;
    if delta == i64::MIN {
        return Err("ERR decrement would overflow".into());
    }
    add(session, args.get(1), -delta)
}

fn incrbyfloat<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    // The keyspace parses the increment itself: Redis checks the key's type and the stored
    // value before the increment, and its errors come in that order.
    match session
        .keyspace()
        .incr_by_float_text(args.get(1), args.get(2))
    {
        Ok(value) => {
            session.bulk(value.as_bytes());
            Ok(())
        }
        Err(keyspace::Error::Overflow) => Err(errors::FLOAT_OVERFLOW.into()),
        Err(error) => Err(error.into()),
    }
}

fn append<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let length = session.keyspace().append(args.get(1), args.get(2))?;
    session.integer(length as i64);
    Ok(())
}

fn strlen<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let length = session.keyspace().strlen(args.get(1))?;
    session.integer(length as i64);
    Ok(())
}

/// GETRANGE and its old name SUBSTR.
fn getrange<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let start = int_arg(args.get(2))?;
    let end = int_arg(args.get(3))?;
    let range = session.keyspace().getrange(args.get(1), start, end)?;
    session.bulk(&range);
    Ok(())
}

fn setrange<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let offset = int_arg(args.get(2))?;
    if offset < 0 {
        return Err("ERR offset is out of range".into());
    }
    let length = session
        .keyspace()
        .setrange(args.get(1), offset as usize, args.get(3))?;
    session.integer(length as i64);
    Ok(())
}

fn reply_optional<E: Engine<Value = Value>>(session: &mut Session<'_, E>, value: Option<&Str>) {
    match value {
        Some(value) => bulk_value(session, value),
        None => session.null(),
    }
}

fn get<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    // Small values are copied into the output under the engine's guard; large ones are
    // queued by reference (see `Output::extend_value`).
    let keyspace = session.keyspace();
    let found = keyspace.get_with(args.get(1), |value| bulk_value(session, value))?;
    if found.is_none() {
        session.null();
    }
    Ok(())
}

/// Adds `delta` to the integer at `key` and replies with the result.
fn add<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    key: &[u8],
    delta: i64,
) -> CommandResult {
    let value = session.keyspace().incr_by(key, delta)?;
    session.integer(value);
    Ok(())
}

/// An expiry argument turned into an absolute time: `amount` in units of `unit_ms`, relative to
/// now unless `absolute`. Redis's checks and texts: not an integer (the integer error); not
/// positive, or overflowing: "invalid expire time in '<command>' command".
pub(super) fn expire_at<E: Engine<Value = Value>>(
    session: &Session<'_, E>,
    amount: &[u8],
    unit_ms: i64,
    absolute: bool,
    command: &str,
) -> Result<u64, CommandError> {
    let amount = int_arg(amount)?;
    let invalid =
        || -> CommandError { format!("ERR invalid expire time in '{command}' command").into() };
    if amount <= 0 {
        return Err(invalid());
    }
    let ms = amount.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(session.keyspace().now_ms() as i64)
            .ok_or_else(invalid)?
    };
    Ok(at as u64)
}

/// The options `SET` and `GETEX` share, as bits of [`Extended::flags`].
mod flag {
    pub const NX: u16 = 1;
    pub const XX: u16 = 1 << 1;
    pub const GET: u16 = 1 << 2;
    pub const KEEPTTL: u16 = 1 << 3;
    pub const PERSIST: u16 = 1 << 4;
    pub const EX: u16 = 1 << 5;
    pub const PX: u16 = 1 << 6;
    pub const EXAT: u16 = 1 << 7;
    pub const PXAT: u16 = 1 << 8;
    /// Every expiry unit.
    pub const UNITS: u16 = EX | PX | EXAT | PXAT;
}

/// The options of `SET` (from argument 3) or `GETEX` (from argument 2).
struct Extended<'a> {
    flags: u16,
    /// The last expiry unit's flag and its argument.
    expire: Option<(u16, &'a [u8])>,
}

/// Parses `SET`'s or `GETEX`'s options exactly as Redis 7.0's
/// `parseExtendedStringArgumentsOrReply`: an option may repeat (the last expiry wins), but
/// `NX` and `XX` exclude each other, the expiry units exclude each other and `KEEPTTL` (or
/// `PERSIST`), and an expiry unit without an argument, or anything else, is a syntax error.
/// The expiry's number is checked later, after the syntax.
fn parse_extended(args: Args<'_>, set: bool) -> Result<Extended<'_>, CommandError> {
    use flag::*;
    let mut parsed = Extended {
        flags: 0,
        expire: None,
    };
    let mut index = if set { 3 } else { 2 };
    while index < args.len() {
        let option = args.get(index);
        let has_next = index + 1 < args.len();
        let is = |name: &str| option.eq_ignore_ascii_case(name.as_bytes());
        let unit = [("EX", EX), ("PX", PX), ("EXAT", EXAT), ("PXAT", PXAT)]
            .into_iter()
            .find(|(name, _)| is(name))
            .map_or(0, |(_, unit)| unit);
        let flags = parsed.flags;
        if set && is("NX") && flags & XX == 0 {
            parsed.flags |= NX;
        } else if set && is("XX") && flags & NX == 0 {
            parsed.flags |= XX;
        } else if set && is("GET") {
            parsed.flags |= GET;
        } else if set && is("KEEPTTL") && flags & (PERSIST | UNITS) == 0 {
            parsed.flags |= KEEPTTL;
        } else if !set && is("PERSIST") && flags & (KEEPTTL | UNITS) == 0 {
            parsed.flags |= PERSIST;
        } else if unit != 0 && flags & (KEEPTTL | PERSIST | (UNITS & !unit)) == 0 && has_next {
            parsed.flags |= unit;
            parsed.expire = Some((unit, args.get(index + 1)));
            index += 1;
        } else {
            return Err(errors::SYNTAX.into());
        }
        index += 1;
    }
    Ok(parsed)
}

/// The absolute expiry time of a parsed expiry option (Redis's `getExpireMillisecondsOrReply`).
fn extended_expire_at<E: Engine<Value = Value>>(
    session: &Session<'_, E>,
    (unit, amount): (u16, &[u8]),
    command: &str,
) -> Result<u64, CommandError> {
    let unit_ms = if unit & (flag::EX | flag::EXAT) != 0 {
        1000
    } else {
        1
    };
    let absolute = unit & (flag::EXAT | flag::PXAT) != 0;
    expire_at(session, amount, unit_ms, absolute, command)
}

fn set<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let parsed = parse_extended(args, true)?;
    let mut options = SetOptions {
        get_old: parsed.flags & flag::GET != 0,
        ..SetOptions::default()
    };
    if parsed.flags & flag::NX != 0 {
        options.condition = SetCondition::IfAbsent;
    } else if parsed.flags & flag::XX != 0 {
        options.condition = SetCondition::IfPresent;
    }
    if parsed.flags & flag::KEEPTTL != 0 {
        options.expire = ExpireOption::Keep;
    }
    // Redis checks the expiry's number before anything else looks at the key.
    if let Some(expire) = parsed.expire {
        options.expire = ExpireOption::At(extended_expire_at(session, expire, "set")?);
    }
    let outcome = session
        .keyspace()
        .set(args.get(1), Str::copy_from(args.get(2)), options)?;
    if options.get_old {
        reply_optional(session, outcome.old.as_ref());
    } else if outcome.written {
        session.ok();
    } else {
        session.null();
    }
    Ok(())
}

fn getex<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let parsed = parse_extended(args, false)?;
    let option = if let Some(expire) = parsed.expire {
        match extended_expire_at(session, expire, "getex") {
            Ok(at) => Some(ExpireOption::At(at)),
            Err(error) => {
                // Redis looks the key up before it checks the expiry's number: a missing key
                // is a null reply and a list is WRONGTYPE, whatever the number.
                if session.keyspace().get(args.get(1))?.is_none() {
                    session.null();
                    return Ok(());
                }
                return Err(error);
            }
        }
    } else if parsed.flags & flag::PERSIST != 0 {
        Some(ExpireOption::Clear)
    } else {
        None
    };
    let value = session.keyspace().getex(args.get(1), option)?;
    reply_optional(session, value.as_ref());
    Ok(())
}
