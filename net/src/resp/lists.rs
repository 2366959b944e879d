//! List commands.

use super::commands::Command;
use super::parse::Args;
use super::{errors, int_arg, CommandResult};
use crate::session::Session;
use engine::keyspace::{End, ListPosition, PosOptions, Value};
use engine::Engine;

pub(super) fn run<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    command: &Command,
    args: Args<'_>,
) -> CommandResult {
    let key = args.get(1);
    match command.name {
        "lpush" | "rpush" | "lpushx" | "rpushx" => {
            let end = if command.name.starts_with('l') {
                End::Left
            } else {
                End::Right
            };
            let elements: Vec<&[u8]> = args.iter_from(2).collect();
            let length = if command.name.ends_with('x') {
                session.keyspace().push_existing(key, end, &elements)?
            } else {
                session.keyspace().push(key, end, &elements)?
            };
            session.integer(length as i64);
        }
        "lpop" | "rpop" => {
            let end = if command.name == "lpop" {
                End::Left
            } else {
                End::Right
            };
            if args.len() > 3 {
                return Err(format!(
                    "ERR wrong number of arguments for '{}' command",
                    command.name
                )
                .into());
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
        }
        "llen" => {
            let length = session.keyspace().llen(key)?;
            session.integer(length as i64);
        }
        "lindex" => {
            // Redis looks the key up before it parses the index: a missing key is a null
            // reply and a wrong type is WRONGTYPE, whatever the index.
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
        }
        "lrange" => {
            let start = int_arg(args.get(2))?;
            let stop = int_arg(args.get(3))?;
            let shared = session.shared;
            shared
                .keyspace
                .lrange_with(key, start, stop, |count, element| match element {
                    None => session.array(count),
                    Some(element) => session.bulk(element),
                })?;
        }
        "lset" => {
            // As LINDEX, the key before the index (lists are never empty, so a zero length
            // is a missing key).
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
        }
        "lrem" => {
            let count = int_arg(args.get(2))?;
            let removed = session.keyspace().lrem(key, count, args.get(3))?;
            session.integer(removed as i64);
        }
        "ltrim" => {
            let start = int_arg(args.get(2))?;
            let stop = int_arg(args.get(3))?;
            session.keyspace().ltrim(key, start, stop)?;
            session.ok();
        }
        "linsert" => {
            let position = match args.get(2).to_ascii_uppercase().as_slice() {
                b"BEFORE" => ListPosition::Before,
                b"AFTER" => ListPosition::After,
                _ => return Err(errors::SYNTAX.into()),
            };
            let length = session
                .keyspace()
                .linsert(key, position, args.get(3), args.get(4))?;
            session.integer(length);
        }
        "lpos" => lpos(session, args)?,
        "lmove" => {
            let end = |word: &[u8]| match word.to_ascii_uppercase().as_slice() {
                b"LEFT" => Ok(End::Left),
                b"RIGHT" => Ok(End::Right),
                _ => Err(errors::SYNTAX),
            };
            let from = end(args.get(3))?;
            let to = end(args.get(4))?;
            match session.keyspace().lmove(key, args.get(2), from, to)? {
                Some(element) => session.bulk(&element),
                None => session.null(),
            }
        }
        other => unreachable!("{other} is not a list command"),
    }
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
