//! String commands: `GET`, the `SET` family, counters, `APPEND` and ranges.

use super::commands::Command;
use super::parse::Args;
use super::{bulk_value, errors, int_arg, CommandError, CommandResult};
use crate::session::Session;
use engine::keyspace::{self, ExpireOption, SetCondition, SetOptions, Str, Value};
use engine::Engine;

pub(super) fn run<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    command: &Command,
    args: Args<'_>,
) -> CommandResult {
    match command.name {
        "get" => get(session, args),
        "set" => set(session, args),
        "getex" => getex(session, args),
        "getdel" => {
            let old = session.keyspace().getdel(args.get(1))?;
            reply_optional(session, old.as_ref());
            Ok(())
        }
        "getset" => {
            let options = SetOptions {
                get_old: true,
                ..SetOptions::default()
            };
            let outcome =
                session
                    .keyspace()
                    .set(args.get(1), Str::copy_from(args.get(2)), options)?;
            reply_optional(session, outcome.old.as_ref());
            Ok(())
        }
        "mget" => {
            let keys: Vec<&[u8]> = args.iter_from(1).collect();
            session.array(keys.len());
            // Each value is written while the keyspace holds it, as GET does: no clone.
            let shared = session.shared;
            shared
                .keyspace
                .mget_with(&keys, |value| reply_optional(session, value));
            Ok(())
        }
        "mset" | "msetnx" => {
            if args.len().is_multiple_of(2) {
                return Err(format!(
                    "ERR wrong number of arguments for '{}' command",
                    command.name
                )
                .into());
            }
            let pairs: Vec<(&[u8], &[u8])> = (1..args.len())
                .step_by(2)
                .map(|i| (args.get(i), args.get(i + 1)))
                .collect();
            if command.name == "mset" {
                session.keyspace().mset(&pairs);
                session.ok();
            } else {
                let written = session.keyspace().msetnx(&pairs);
                session.integer(i64::from(written));
            }
            Ok(())
        }
        "setnx" => {
            let options = SetOptions {
                condition: SetCondition::IfAbsent,
                ..SetOptions::default()
            };
            let outcome =
                session
                    .keyspace()
                    .set(args.get(1), Str::copy_from(args.get(2)), options)?;
            session.integer(i64::from(outcome.written));
            Ok(())
        }
        "setex" | "psetex" => {
            let unit_ms = if command.name == "setex" { 1000 } else { 1 };
            let at = expire_at(session, args.get(2), unit_ms, false, command.name)?;
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
        "incr" => incr(session, args.get(1), 1),
        "decr" => incr(session, args.get(1), -1),
        "incrby" => {
            let delta = int_arg(args.get(2))?;
            incr(session, args.get(1), delta)
        }
        "decrby" => {
            let delta = int_arg(args.get(2))?;
            if delta == i64::MIN {
                return Err("ERR decrement would overflow".into());
            }
            incr(session, args.get(1), -delta)
        }
        "incrbyfloat" => {
            // The keyspace parses the increment itself: Redis checks the key's type and the
            // stored value before the increment, and its errors come in that order.
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
        "append" => {
            let length = session.keyspace().append(args.get(1), args.get(2))?;
            session.integer(length as i64);
            Ok(())
        }
        "strlen" => {
            let length = session.keyspace().strlen(args.get(1))?;
            session.integer(length as i64);
            Ok(())
        }
        "getrange" | "substr" => {
            let start = int_arg(args.get(2))?;
            let end = int_arg(args.get(3))?;
            let range = session.keyspace().getrange(args.get(1), start, end)?;
            session.bulk(&range);
            Ok(())
        }
        "setrange" => {
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
        other => unreachable!("{other} is not a string command"),
    }
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
    let shared = session.shared;
    let found = shared
        .keyspace
        .get_with(args.get(1), |value| bulk_value(session, value))?;
    if found.is_none() {
        session.null();
    }
    Ok(())
}

fn incr<E: Engine<Value = Value>>(
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
