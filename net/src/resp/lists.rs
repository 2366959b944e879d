//! List commands.

use super::docs::lists as docs;
use super::parse::Args;
use super::table::{command, key, single, BeginSearch, FindKeys, KeySpec, Row};
use super::{errors, int_arg, CommandResult};
use crate::session::Session;
use engine::Engine;
use keyspace::{End, ListPosition, PosOptions, Value};

/// The list commands' rows.
pub(super) fn rows<E: Engine<Value = Value>>() -> Vec<Row<E>> {
    vec![
        command!(
            "lpush",
            -3,
            [WRITE, DENYOOM, FAST],
            [WRITE, LIST, FAST],
            [single(key::RW | key::INSERT, 1)],
            lpush,
            docs: docs::LPUSH
        ),
        command!(
            "rpush",
            -3,
            [WRITE, DENYOOM, FAST],
            [WRITE, LIST, FAST],
            [single(key::RW | key::INSERT, 1)],
            rpush,
            docs: docs::RPUSH
        ),
        command!(
            "lpushx",
            -3,
            [WRITE, DENYOOM, FAST],
            [WRITE, LIST, FAST],
            [single(key::RW | key::INSERT, 1)],
            lpushx,
            docs: docs::LPUSHX
        ),
        command!(
            "rpushx",
            -3,
            [WRITE, DENYOOM, FAST],
            [WRITE, LIST, FAST],
            [single(key::RW | key::INSERT, 1)],
            rpushx,
            docs: docs::RPUSHX
        ),
        command!(
            "lpop",
            -2,
            [WRITE, FAST],
            [WRITE, LIST, FAST],
            [single(key::RW | key::ACCESS | key::DELETE, 1)],
            lpop,
            docs: docs::LPOP
        ),
        command!(
            "rpop",
            -2,
            [WRITE, FAST],
            [WRITE, LIST, FAST],
            [single(key::RW | key::ACCESS | key::DELETE, 1)],
            rpop,
            docs: docs::RPOP
        ),
        command!(
            "llen",
            2,
            [READONLY, FAST],
            [READ, LIST, FAST],
            [single(key::RO, 1)],
            llen,
            docs: docs::LLEN
        ),
        command!(
            "lindex",
            3,
            [READONLY],
            [READ, LIST, SLOW],
            [single(key::RO | key::ACCESS, 1)],
            lindex,
            docs: docs::LINDEX
        ),
        command!(
            "lrange",
            4,
            [READONLY],
            [READ, LIST, SLOW],
            [single(key::RO | key::ACCESS, 1)],
            lrange,
            docs: docs::LRANGE
        ),
        command!(
            "lset",
            4,
            [WRITE, DENYOOM],
            [WRITE, LIST, SLOW],
            [single(key::RW | key::UPDATE, 1)],
            lset,
            docs: docs::LSET
        ),
        command!(
            "lrem",
            4,
            [WRITE],
            [WRITE, LIST, SLOW],
            [single(key::RW | key::DELETE, 1)],
            lrem,
            docs: docs::LREM
        ),
        command!(
            "ltrim",
            4,
            [WRITE],
            [WRITE, LIST, SLOW],
            [single(key::RW | key::DELETE, 1)],
            ltrim,
            docs: docs::LTRIM
        ),
        command!(
            "linsert",
            5,
            [WRITE, DENYOOM],
            [WRITE, LIST, SLOW],
            [single(key::RW | key::INSERT, 1)],
            linsert,
            docs: docs::LINSERT
        ),
        command!(
            "lpos",
            -3,
            [READONLY],
            [READ, LIST, SLOW],
            [single(key::RO | key::ACCESS, 1)],
            lpos,
            docs: docs::LPOS
        ),
        command!(
            "lmove",
            5,
            [WRITE, DENYOOM],
            [WRITE, LIST, SLOW],
            [
                single(key::RW | key::ACCESS | key::DELETE, 1),
                single(key::RW | key::INSERT, 2)
            ],
            lmove,
            docs: docs::LMOVE
        ),
        command!(
            "rpoplpush",
            3,
            [WRITE, DENYOOM],
            [WRITE, LIST, SLOW],
            [
                single(key::RW | key::ACCESS | key::DELETE, 1),
                single(key::RW | key::INSERT, 2)
            ],
            rpoplpush,
            docs: docs::RPOPLPUSH
        ),
        command!(
            "lmpop",
            -4,
            [WRITE],
            [WRITE, LIST, SLOW],
            [KeySpec {
                flags: key::RW | key::ACCESS | key::DELETE,
                begin: BeginSearch::Index(1),
                find: FindKeys::KeyNum {
                    key_num_index: 0,
                    first_key: 1,
                    step: 1
                },
                notes: ""
            }],
            lmpop,
            docs: docs::LMPOP
        ),
    ]
}

fn lpush<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    push(session, args, End::Left, false)
}

fn rpush<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    push(session, args, End::Right, false)
}

fn lpushx<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    push(session, args, End::Left, true)
}

fn rpushx<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    push(session, args, End::Right, true)
}

/// The push family: at `end`, onto an existing list only when `existing`.
fn push<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
    end: End,
    existing: bool,
) -> CommandResult {
    let key = args.get(1);
    let elements: Vec<&[u8]> = args.iter_from(2).collect();
    let length = if existing {
        session.keyspace().push_existing(key, end, &elements)?
    } else {
        session.keyspace().push(key, end, &elements)?
    };
    session.integer(length as i64);
    Ok(())
}

fn lpop<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    pop(session, args, End::Left, "lpop")
}

fn rpop<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    pop(session, args, End::Right, "rpop")
}

/// LPOP and RPOP, with or without a count.
fn pop<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
    end: End,
    command: &str,
) -> CommandResult {
    let key = args.get(1);
    if args.len() > 3 {
        return Err(format!("ERR wrong number of arguments for '{command}' command").into());
    }
    let count = if args.len() == 3 {
        let count = int_arg(args.get(2)).map_err(|_| errors::NOT_POSITIVE)?;
        if count < 0 {
            return Err(errors::NOT_POSITIVE.into());
        }
        Some(count as usize)
    } else {
        None
    };
    match count {
        None => match session.keyspace().pop(key, end, 1)? {
            Some(mut popped) => match popped.pop() {
                Some(element) => session.bulk(&element),
                None => session.null(),
            },
            None => session.null(),
        },
        Some(count) => {
            // Redis checks the key (and its type) before the zero count.
            if count == 0 {
                match session.keyspace().llen(key)? {
                    0 => session.null_array(),
                    _ => session.array(0),
                }
                return Ok(());
            }
            match session.keyspace().pop(key, end, count)? {
                Some(popped) => {
                    session.array(popped.len());
                    for element in &popped {
                        session.bulk(element);
                    }
                }
                None => session.null_array(),
            }
        }
    }
    Ok(())
}

fn llen<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let length = session.keyspace().llen(args.get(1))?;
    session.integer(length as i64);
    Ok(())
}

fn lindex<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let key = args.get(1);
    // Redis looks the key up before it parses the index: a missing key is a null reply and a
    // wrong type is WRONGTYPE, whatever the index.
    let index = match int_arg(args.get(2)) {
        Ok(index) => index,
        Err(error) => {
            if session.keyspace().llen(key)? == 0 {
                session.null();
                return Ok(());
            }
            return Err(error);
        }
    };
    match session.keyspace().lindex(key, index)? {
        Some(element) => session.bulk(&element),
        None => session.null(),
    }
    Ok(())
}

fn lrange<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let start = int_arg(args.get(2))?;
    let stop = int_arg(args.get(3))?;
    let keyspace = session.keyspace();
    keyspace.lrange_with(args.get(1), start, stop, |count, element| match element {
        None => session.array(count),
        Some(element) => session.bulk(element),
    })?;
    Ok(())
}

fn lset<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let key = args.get(1);
    // As LINDEX, the key before the index (lists are never empty, so a zero length is a
    // missing key).
    let index = match int_arg(args.get(2)) {
        Ok(index) => index,
        Err(error) => {
            if session.keyspace().llen(key)? == 0 {
                return Err(errors::NO_SUCH_KEY.into());
            }
            return Err(error);
        }
    };
    session.keyspace().lset(key, index, args.get(3))?;
    session.ok();
    Ok(())
}

fn lrem<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let count = int_arg(args.get(2))?;
    let removed = session.keyspace().lrem(args.get(1), count, args.get(3))?;
    session.integer(removed as i64);
    Ok(())
}

fn ltrim<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let start = int_arg(args.get(2))?;
    let stop = int_arg(args.get(3))?;
    session.keyspace().ltrim(args.get(1), start, stop)?;
    session.ok();
    Ok(())
}

fn linsert<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let position = match args.get(2).to_ascii_uppercase().as_slice() {
        b"BEFORE" => ListPosition::Before,
        b"AFTER" => ListPosition::After,
        _ => return Err(errors::SYNTAX.into()),
    };
    let length = session
        .keyspace()
        .linsert(args.get(1), position, args.get(3), args.get(4))?;
    session.integer(length);
    Ok(())
}

fn lmove<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let end = |word: &[u8]| match word.to_ascii_uppercase().as_slice() {
        b"LEFT" => Ok(End::Left),
        b"RIGHT" => Ok(End::Right),
        _ => Err(errors::SYNTAX),
    };
    let from = end(args.get(3))?;
    let to = end(args.get(4))?;
    move_element(session, args, from, to)
}

/// `LMOVE` and `RPOPLPUSH`: moves one element from the list at `args[1]` to the list at
/// `args[2]` and replies with it (null when the source is empty).
fn move_element<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
    from: End,
    to: End,
) -> CommandResult {
    match session
        .keyspace()
        .lmove(args.get(1), args.get(2), from, to)?
    {
        Some(element) => session.bulk(&element),
        None => session.null(),
    }
    Ok(())
}

/// `RPOPLPUSH source destination`: `LMOVE source destination RIGHT LEFT`.
fn rpoplpush<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    move_element(session, args, End::Right, End::Left)
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`: up to `count` elements from the
/// first of the keys that holds a list, with its name; the null array when none does. A key
/// of another type before it is an error, as in Redis, which checks the keys in order.
fn lmpop<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = match int_arg(args.get(1)) {
        Ok(numkeys) if numkeys >= 1 => numkeys as usize,
        _ => return Err(NUMKEYS.into()),
    };
    let where_at = numkeys.saturating_add(2);
    if where_at >= args.len() {
        return Err(errors::SYNTAX.into());
    }
    let end = match args.get(where_at).to_ascii_uppercase().as_slice() {
        b"LEFT" => End::Left,
        b"RIGHT" => End::Right,
        _ => return Err(errors::SYNTAX.into()),
    };
    let mut count = None;
    let mut index = where_at + 1;
    while index < args.len() {
        if count.is_none()
            && args.get(index).eq_ignore_ascii_case(b"COUNT")
            && index + 1 < args.len()
        {
            match int_arg(args.get(index + 1)) {
                Ok(value) if value >= 1 => count = Some(value as usize),
                _ => return Err("ERR count should be greater than 0".into()),
            }
            index += 2;
        } else {
            return Err(errors::SYNTAX.into());
        }
    }
    let count = count.unwrap_or(1);
    let keyspace = session.keyspace();
    for position in 2..where_at {
        let key = args.get(position);
        if let Some(popped) = keyspace.pop(key, end, count)? {
            session.array(2);
            session.bulk(key);
            session.array(popped.len());
            for element in &popped {
                session.bulk(element);
            }
            return Ok(());
        }
    }
    session.null_array();
    Ok(())
}

fn lpos<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let mut options = PosOptions {
        rank: 1,
        count: None,
        max_len: 0,
    };
    let mut index = 3;
    while index < args.len() {
        let option = args.get(index).to_ascii_uppercase();
        if index + 1 >= args.len() {
            return Err(errors::SYNTAX.into());
        }
        let value = args.get(index + 1);
        match option.as_slice() {
            b"RANK" => {
                let rank = int_arg(value)?;
                if rank == 0 {
                    return Err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list".into());
                }
                options.rank = rank;
            }
            // For COUNT and MAXLEN Redis gives its one message for anything but a
            // non-negative integer.
            b"COUNT" => {
                let count = int_arg(value)
                    .ok()
                    .filter(|count| *count >= 0)
                    .ok_or("ERR COUNT can't be negative")?;
                options.count = Some(count as usize);
            }
            b"MAXLEN" => {
                let max_len = int_arg(value)
                    .ok()
                    .filter(|max_len| *max_len >= 0)
                    .ok_or("ERR MAXLEN can't be negative")?;
                options.max_len = max_len as usize;
            }
            _ => return Err(errors::SYNTAX.into()),
        }
        index += 2;
    }
    if options.rank == i64::MIN {
        // Redis 7.0 negates the rank to search from the tail, and the negation of i64::MIN
        // overflows back to i64::MIN: every match then counts as "at or past the rank", and
        // the COUNT limit (compared against `matches - rank + 1`, which overflows to a
        // negative number) is never reached. So it answers the first match from the tail, or
        // with COUNT every match from the tail.
        options.rank = -1;
        if options.count.is_some() {
            options.count = Some(0);
        }
    }
    let positions = session.keyspace().lpos(args.get(1), args.get(2), options)?;
    match options.count {
        None => match positions.first() {
            Some(&position) => session.integer(position as i64),
            None => session.null(),
        },
        Some(_) => {
            session.array(positions.len());
            for position in positions {
                session.integer(position as i64);
            }
        }
    }
    Ok(())
}
