//! Key commands: deletion, expiry, renaming, copying and iteration.

use super::commands::Command;
use super::parse::Args;
use super::{errors, int_arg, CommandError, CommandResult};
use crate::session::Session;
use engine::keyspace::{ExpireCondition, ScanFilter, Ttl, Value};
use engine::Engine;

pub(super) fn run<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    command: &Command,
    args: Args<'_>,
) -> CommandResult {
    match command.name {
        "del" | "unlink" => {
            let keys: Vec<&[u8]> = args.iter_from(1).collect();
            let removed = session.keyspace().del(&keys);
            session.integer(removed as i64);
        }
        "exists" | "touch" => {
            let keys: Vec<&[u8]> = args.iter_from(1).collect();
            let found = session.keyspace().exists(&keys);
            session.integer(found as i64);
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => expire(session, command.name, args)?,
        "ttl" | "pttl" | "expiretime" | "pexpiretime" => {
            let in_ms = command.name.starts_with('p');
            let absolute = command.name.ends_with("time");
            match session.keyspace().ttl(args.get(1)) {
                Ttl::Missing => session.integer(-2),
                Ttl::Persistent => session.integer(-1),
                Ttl::ExpiresAt(at) => {
                    let now = session.keyspace().now_ms();
                    let value = if absolute { at } else { at.saturating_sub(now) };
                    // Redis rounds seconds to the nearest. In u64: an expiry may be as late as
                    // i64::MAX milliseconds, where adding 500 overflows an i64.
                    let reply = if in_ms { value } else { (value + 500) / 1000 };
                    session.integer(reply as i64);
                }
            }
        }
        "persist" => {
            let removed = session.keyspace().persist(args.get(1));
            session.integer(i64::from(removed));
        }
        "keys" => {
            let keys = session.keyspace().keys(args.get(1));
            session.array(keys.len());
            for key in &keys {
                session.bulk(key);
            }
        }
        "scan" => scan(session, args)?,
        "type" => {
            let name = session.keyspace().type_of(args.get(1)).unwrap_or("none");
            session.simple(name);
        }
        "rename" => {
            session.keyspace().rename(args.get(1), args.get(2), false)?;
            session.ok();
        }
        "renamenx" => {
            let renamed = session.keyspace().rename(args.get(1), args.get(2), true)?;
            session.integer(i64::from(renamed));
        }
        "randomkey" => {
            let seed = random_seed();
            match session.keyspace().random_key(seed) {
                Some(key) => session.bulk(&key),
                None => session.null(),
            }
        }
        "copy" => {
            let mut replace = false;
            let mut index = 3;
            while index < args.len() {
                match args.get(index).to_ascii_uppercase().as_slice() {
                    b"REPLACE" => replace = true,
                    b"DB" if index + 1 < args.len() => {
                        let db = int_arg(args.get(index + 1))?;
                        if db != 0 {
                            return Err("ERR DB index is out of range".into());
                        }
                        index += 1;
                    }
                    _ => return Err(errors::SYNTAX.into()),
                }
                index += 1;
            }
            // Redis refuses a copy onto itself before it looks at the key.
            if args.get(1) == args.get(2) {
                return Err("ERR source and destination objects are the same".into());
            }
            let copied = session.keyspace().copy(args.get(1), args.get(2), replace);
            session.integer(i64::from(copied));
        }
        other => unreachable!("{other} is not a key command"),
    }
    Ok(())
}

/// A seed for `RANDOMKEY`: the clock's nanoseconds mixed with a per-thread counter.
fn random_seed() -> u64 {
    use std::cell::Cell;
    thread_local!(static COUNTER: Cell<u64> = const { Cell::new(0) });
    let count = COUNTER.with(|counter| {
        counter.set(counter.get().wrapping_add(1));
        counter.get()
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    // splitmix64 finaliser, so nearby inputs give unrelated seeds.
    let mut z = nanos ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn expire<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    name: &str,
    args: Args<'_>,
) -> CommandResult {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in args.iter_from(3) {
        match option.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(
                    format!("ERR Unsupported option {}", String::from_utf8_lossy(option)).into(),
                )
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if gt && lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    let condition = if nx {
        ExpireCondition::IfNone
    } else if xx && gt {
        ExpireCondition::IfGreater
    } else if xx && lt {
        // XX LT: needs an expiry and an earlier one; IfLess already treats "none" as
        // infinitely late, so XX is checked here.
        ExpireCondition::IfLess
    } else if xx {
        ExpireCondition::IfSome
    } else if gt {
        ExpireCondition::IfGreater
    } else if lt {
        ExpireCondition::IfLess
    } else {
        ExpireCondition::Always
    };
    let amount = int_arg(args.get(2))?;
    let invalid =
        || -> CommandError { format!("ERR invalid expire time in '{name}' command").into() };
    let unit_ms: i64 = if name.starts_with('p') { 1 } else { 1000 };
    let absolute = name.ends_with("at");
    let mut at = amount.checked_mul(unit_ms).ok_or_else(invalid)?;
    if !absolute {
        at = at
            .checked_add(session.keyspace().now_ms() as i64)
            .ok_or_else(invalid)?;
    }
    if xx && lt && session.keyspace().ttl(args.get(1)) == Ttl::Persistent {
        session.integer(0);
        return Ok(());
    }
    let at = at.max(0) as u64;
    let set = session.keyspace().expire_at(args.get(1), at, condition);
    session.integer(i64::from(set));
    Ok(())
}

fn scan<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let cursor = std::str::from_utf8(args.get(1))
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or("ERR invalid cursor")?;
    let mut count = 10usize;
    let mut filter = ScanFilter::default();
    let mut index = 2;
    while index < args.len() {
        if index + 1 >= args.len() {
            return Err(errors::SYNTAX.into());
        }
        let value = args.get(index + 1);
        match args.get(index).to_ascii_uppercase().as_slice() {
            b"COUNT" => {
                let wanted = int_arg(value)?;
                if wanted < 1 {
                    return Err(errors::SYNTAX.into());
                }
                count = wanted as usize;
            }
            b"MATCH" => filter.pattern = Some(value),
            b"TYPE" => filter.type_name = Some(value),
            _ => return Err(errors::SYNTAX.into()),
        }
        index += 2;
    }
    let mut keys = Vec::new();
    let next = session
        .keyspace()
        .scan(cursor, count, filter, |key| keys.push(key.to_vec()));
    session.array(2);
    session.bulk(next.to_string().as_bytes());
    session.array(keys.len());
    for key in &keys {
        session.bulk(key);
    }
    Ok(())
}
