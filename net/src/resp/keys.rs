//! Key commands: deletion, expiry, renaming, copying and iteration.

use super::docs::keys as docs;
use super::parse::Args;
use super::table::{command, container, key, range, single, Row};
use super::{errors, int_arg, CommandError, CommandResult};
use crate::lock::Lock;
use crate::session::Session;
use engine::Engine;
use keyspace::{ExpireCondition, ScanFilter, Ttl, Value};

/// The key commands' rows.
pub(super) fn rows<E: Engine<Value = Value>>() -> Vec<Row<E>> {
    vec![
        command!("del", -2, [WRITE], [KEYSPACE, WRITE, SLOW], [range(key::RM | key::DELETE, 1, -1, 1)], del, tips: ["request_policy:multi_shard", "response_policy:agg_sum"], docs: docs::DEL).with_lock(Lock::WriteKeys),
        command!("unlink", -2, [WRITE, FAST], [KEYSPACE, WRITE, FAST], [range(key::RM | key::DELETE, 1, -1, 1)], del, tips: ["request_policy:multi_shard", "response_policy:agg_sum"], docs: docs::UNLINK).with_lock(Lock::WriteKeys),
        command!("exists", -2, [READONLY, FAST], [KEYSPACE, READ, FAST], [range(key::RO, 1, -1, 1)], exists, tips: ["request_policy:multi_shard", "response_policy:agg_sum"], docs: docs::EXISTS),
        command!("touch", -2, [READONLY, FAST], [KEYSPACE, READ, FAST], [range(key::RO, 1, -1, 1)], exists, tips: ["request_policy:multi_shard", "response_policy:agg_sum"], docs: docs::TOUCH),
        command!(
            "expire",
            -3,
            [WRITE, FAST],
            [KEYSPACE, WRITE, FAST],
            [single(key::RW | key::UPDATE, 1)],
            expire,
            docs: docs::EXPIRE
        ),
        command!(
            "pexpire",
            -3,
            [WRITE, FAST],
            [KEYSPACE, WRITE, FAST],
            [single(key::RW | key::UPDATE, 1)],
            pexpire,
            docs: docs::PEXPIRE
        ),
        command!(
            "expireat",
            -3,
            [WRITE, FAST],
            [KEYSPACE, WRITE, FAST],
            [single(key::RW | key::UPDATE, 1)],
            expireat,
            docs: docs::EXPIREAT
        ),
        command!(
            "pexpireat",
            -3,
            [WRITE, FAST],
            [KEYSPACE, WRITE, FAST],
            [single(key::RW | key::UPDATE, 1)],
            pexpireat,
            docs: docs::PEXPIREAT
        ),
        command!("ttl", 2, [READONLY, FAST], [KEYSPACE, READ, FAST], [single(key::RO | key::ACCESS, 1)], ttl, tips: ["nondeterministic_output"], docs: docs::TTL),
        command!("pttl", 2, [READONLY, FAST], [KEYSPACE, READ, FAST], [single(key::RO | key::ACCESS, 1)], pttl, tips: ["nondeterministic_output"], docs: docs::PTTL),
        command!(
            "expiretime",
            2,
            [READONLY, FAST],
            [KEYSPACE, READ, FAST],
            [single(key::RO | key::ACCESS, 1)],
            expiretime,
            docs: docs::EXPIRETIME
        ),
        command!(
            "pexpiretime",
            2,
            [READONLY, FAST],
            [KEYSPACE, READ, FAST],
            [single(key::RO | key::ACCESS, 1)],
            pexpiretime,
            docs: docs::PEXPIRETIME
        ),
        command!(
            "persist",
            2,
            [WRITE, FAST],
            [KEYSPACE, WRITE, FAST],
            [single(key::RW | key::UPDATE, 1)],
            persist,
            docs: docs::PERSIST
        ),
        command!("keys", 2, [READONLY], [KEYSPACE, READ, SLOW, DANGEROUS], [], keys, tips: ["request_policy:all_shards", "nondeterministic_output_order"], docs: docs::KEYS),
        command!("scan", -2, [READONLY], [KEYSPACE, READ, SLOW], [], scan, tips: ["nondeterministic_output", "request_policy:special"], docs: docs::SCAN),
        command!(
            "type",
            2,
            [READONLY, FAST],
            [KEYSPACE, READ, FAST],
            [single(key::RO, 1)],
            type_of,
            docs: docs::TYPE
        ),
        container!(
            "object",
            -2,
            [],
            [SLOW],
            vec![
                command!("object|encoding", 3, [READONLY], [KEYSPACE, READ, SLOW], [single(key::RO, 2)], object_encoding, tips: ["nondeterministic_output"], docs: docs::OBJECT_ENCODING),
                command!("object|refcount", 3, [READONLY], [KEYSPACE, READ, SLOW], [single(key::RO, 2)], object_refcount, tips: ["nondeterministic_output"], docs: docs::OBJECT_REFCOUNT),
                command!("object|help", 2, [LOADING, STALE], [KEYSPACE, SLOW], [], object_help, docs: docs::OBJECT_HELP),
            ],
            docs: docs::OBJECT
        ),
        command!(
            "rename",
            3,
            [WRITE],
            [KEYSPACE, WRITE, SLOW],
            [
                single(key::RW | key::ACCESS | key::DELETE, 1),
                single(key::OW | key::UPDATE, 2)
            ],
            rename,
            docs: docs::RENAME
        ),
        command!(
            "renamenx",
            3,
            [WRITE, FAST],
            [KEYSPACE, WRITE, FAST],
            [
                single(key::RW | key::ACCESS | key::DELETE, 1),
                single(key::OW | key::INSERT, 2)
            ],
            renamenx,
            docs: docs::RENAMENX
        ),
        command!("randomkey", 1, [READONLY], [KEYSPACE, READ, SLOW], [], randomkey, tips: ["request_policy:all_shards", "nondeterministic_output"], docs: docs::RANDOMKEY),
        command!(
            "move",
            3,
            [WRITE, FAST],
            [KEYSPACE, WRITE, FAST],
            [single(key::RW | key::ACCESS | key::UPDATE, 1)],
            move_key,
            docs: docs::MOVE
        )
        .with_lock(Lock::AllDatabases),
        command!(
            "copy",
            -3,
            [WRITE, DENYOOM],
            [KEYSPACE, WRITE, SLOW],
            [
                single(key::RO | key::ACCESS, 1),
                single(key::OW | key::UPDATE, 2)
            ],
            copy,
            docs: docs::COPY
        )
        // COPY ... DB writes another database: every database, as MOVE.
        .with_lock(Lock::AllDatabases),
    ]
}

/// DEL and UNLINK (which frees nothing later than DEL does here).
fn del<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let keys: Vec<&[u8]> = args.iter_from(1).collect();
    let removed = session.keyspace().del(&keys);
    session.integer(removed as i64);
    Ok(())
}

/// EXISTS and TOUCH (we keep no access times that TOUCH would need to update).
fn exists<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let keys: Vec<&[u8]> = args.iter_from(1).collect();
    let found = session.keyspace().exists(&keys);
    session.integer(found as i64);
    Ok(())
}

fn expire<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    set_expiry(session, args, 1000, false, "expire")
}

fn pexpire<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    set_expiry(session, args, 1, false, "pexpire")
}

fn expireat<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    set_expiry(session, args, 1000, true, "expireat")
}

fn pexpireat<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    set_expiry(session, args, 1, true, "pexpireat")
}

fn ttl<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    reply_ttl(session, args, false, false)
}

fn pttl<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    reply_ttl(session, args, true, false)
}

fn expiretime<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    reply_ttl(session, args, false, true)
}

fn pexpiretime<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    reply_ttl(session, args, true, true)
}

/// The TTL family: in milliseconds or seconds, left or absolute.
fn reply_ttl<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
    in_ms: bool,
    absolute: bool,
) -> CommandResult {
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
    Ok(())
}

fn persist<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let removed = session.keyspace().persist(args.get(1));
    session.integer(i64::from(removed));
    Ok(())
}

fn keys<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let keys = session.keyspace().keys(args.get(1));
    session.array(keys.len());
    for key in &keys {
        session.bulk(key);
    }
    Ok(())
}

fn type_of<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let name = session.keyspace().type_of(args.get(1)).unwrap_or("none");
    session.simple(name);
    Ok(())
}

fn rename<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    session.keyspace().rename(args.get(1), args.get(2), false)?;
    session.ok();
    Ok(())
}

fn renamenx<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let renamed = session.keyspace().rename(args.get(1), args.get(2), true)?;
    session.integer(i64::from(renamed));
    Ok(())
}

fn randomkey<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let _ = args;
    let seed = random_seed();
    match session.keyspace().random_key(seed) {
        Some(key) => session.bulk(&key),
        None => session.null(),
    }
    Ok(())
}

fn copy<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let mut replace = false;
    let mut db = None;
    let mut index = 3;
    while index < args.len() {
        match args.get(index).to_ascii_uppercase().as_slice() {
            b"REPLACE" => replace = true,
            b"DB" if index + 1 < args.len() => {
                db = Some(db_index(session, args.get(index + 1))?);
                index += 1;
            }
            _ => return Err(errors::SYNTAX.into()),
        }
        index += 1;
    }
    let here = session.client.db();
    let there = db.unwrap_or(here);
    // Redis refuses a copy onto itself before it looks at the key.
    if there == here && args.get(1) == args.get(2) {
        return Err("ERR source and destination objects are the same".into());
    }
    let copied = if there == here {
        session.keyspace().copy(args.get(1), args.get(2), replace)
    } else {
        let to = session.db(there);
        session
            .keyspace()
            .transfer(to, args.get(1), args.get(2), replace, false)
    };
    session.integer(i64::from(copied));
    Ok(())
}

/// `MOVE key db`: 1 when moved; 0 when the key is missing here or present there.
fn move_key<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let there = db_index(session, args.get(2))?;
    if there == session.client.db() {
        return Err("ERR source and destination objects are the same".into());
    }
    let to = session.db(there);
    let moved = session
        .keyspace()
        .transfer(to, args.get(1), args.get(1), false, true);
    session.integer(i64::from(moved));
    Ok(())
}

/// `OBJECT ENCODING key`: Redis's name for how the value would be stored (see
/// `keyspace::Value::encoding_name`), nil for a missing key.
fn object_encoding<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    match session.keyspace().encoding_of(args.get(2)) {
        Some(name) => session.bulk(name.as_bytes()),
        None => session.null(),
    }
    Ok(())
}

/// `OBJECT REFCOUNT key`: as Redis reports it (see `keyspace::Value::reference_count`), nil
/// for a missing key.
fn object_refcount<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    match session.keyspace().reference_count_of(args.get(2)) {
        Some(count) => session.integer(count),
        None => session.null(),
    }
    Ok(())
}

fn object_help<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let _ = args;
    super::connection::help(
        session,
        &[
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    How Redis would store the key's value: int, embstr, raw, quicklist.",
            "REFCOUNT <key>",
            "    How many references Redis would count to the key's value.",
            "HELP",
            "    This text.",
        ],
    );
    Ok(())
}

/// A database index argument, checked as Redis checks it: an integer (Redis's integer
/// error), then within `databases` ("DB index is out of range").
pub(super) fn db_index<E: Engine<Value = Value>>(
    session: &Session<'_, E>,
    text: &[u8],
) -> Result<usize, CommandError> {
    let index = int_arg(text)?;
    usize::try_from(index)
        .ok()
        .filter(|&index| index < session.shared.databases.len())
        .ok_or_else(|| "ERR DB index is out of range".into())
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

/// The EXPIRE family: `amount` in units of `unit_ms`, relative to now unless `absolute`.
fn set_expiry<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
    unit_ms: i64,
    absolute: bool,
    name: &str,
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
