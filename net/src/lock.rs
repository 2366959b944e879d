//! # Which keyspace lock a command runs under
//!
//! The keyspace never locks inside an operation (see [`keyspace::guard`] for the concurrency
//! model); the dispatcher takes the lock a command needs before calling its handler, from the
//! command's table row, and releases it when the handler returns. The handler reaches its
//! database through [`Session::keyspace`](crate::session::Session::keyspace), which hands out
//! the [`Db`](keyspace::Db) of the guard in force.
//!
//! | [`Lock`] | taken | for |
//! |---|---|---|
//! | `Shared` | the selected database's shared side | keyless commands, reads and writes of one key |
//! | `ReadKeys` | shared, and when the call names more than one key an optimistic read (checked afterwards, redone under the keys' reader stripes if a multi-key writer started) | reads that may name several keys: `MGET`, `EXISTS`, ... |
//! | `WriteKeys` | shared, and the keys' stripes as a writer when the call names more than one | writes of several keys, each written without reading the others: `MSET`, `DEL`, `UNLINK` |
//! | `ByKeys` | exclusive when the call names more than one key, else shared | writes of several keys that depend on what they read: `RENAME`, `MSETNX`, `LMOVE`, ... |
//! | `Exclusive` | the selected database's exclusive side | `FLUSHDB` |
//! | `AllDatabases` | every database's exclusive side, in index order | `FLUSHALL`, `MOVE`, `COPY`, `SWAPDB` |
//!
//! Stripes (see [`keyspace::stripes`], which argues why they make these commands atomic) let
//! two loops run `MSET`s at once unless their keys share a stripe: before them, every `MSET` of
//! several keys took the exclusive side and the loops ran them one at a time. Single-key
//! commands take no stripe; the keyspace makes them wait while a multi-key writer holds their
//! key's stripe. A command's stripes are held
//! for that command only ([`Session::with_stripes`](crate::session::Session::with_stripes)).
//!
//! A database number is looked up in `SWAPDB`'s map when its guard is taken, and again once
//! it is held ([`Databases::lock`]): the map changes only under every guard, so a command runs
//! on the database its number names for as long as it holds the guard. Guards across
//! databases are always taken in physical order, so two commands that both lock several
//! databases cannot deadlock. A sequence of commands that must be atomic together
//! (`EXEC`, a script) takes `AllDatabases` once and runs every command under it: while a
//! guard that allows a command is in force, the dispatcher takes no other (the lock is not
//! reentrant).
//!
//! ## A shared guard lasts for the batch
//!
//! Taking and dropping a shared guard costs about a hundred instructions (the thread's slot
//! of the sharded lock, the database map, the guard's bookkeeping), a tenth of a pipelined
//! `GET` (callgrind). So a shared guard on one database stays in force after its command,
//! and the next commands of the same batch (what one read of the connection brought) that
//! need no more than it reuse it; it is dropped when a command needs something else, and at
//! the end of the batch. Exclusive guards end with their command. A loop drops the guard it
//! holds before it takes another, so it never waits for a guard while holding one, and a
//! writer waiting for the exclusive side waits at most for the batches in progress.

use crate::resp::parse::Args;
use crate::resp::table::CommandSpec;
use crate::resp::table::{flag, BeginSearch, FindKeys};
use engine::Engine;
use keyspace::{Access, AllGuards, Databases, Db, Guard, Mode, Value};

/// What a command locks; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The selected database, shared.
    Shared,
    /// The selected database, shared, and the keys' stripes as a reader when the call names
    /// more than one key.
    ReadKeys,
    /// The selected database, shared, and the keys' stripes as a writer when the call names
    /// more than one key: only for writes whose keys are each written without reading the
    /// others (see [`keyspace::stripes`]).
    WriteKeys,
    /// The selected database: exclusive when the call names more than one key.
    ByKeys,
    /// The selected database, exclusive.
    Exclusive,
    /// Every database, exclusive.
    AllDatabases,
}

impl Lock {
    /// The rule a command gets unless its row says otherwise: a command whose key specs can
    /// name several keys reads them under their stripes, or, if it writes, locks by keys (a
    /// row whose keys are written independently says `WriteKeys` itself); everything else is
    /// shared.
    pub fn derived(spec: &CommandSpec) -> Self {
        let ((first, last, _), movable) = spec.legacy_range();
        let several = movable || last < 0 || last > first;
        match (several, spec.has(flag::WRITE)) {
            (false, _) => Lock::Shared,
            (true, false) => Lock::ReadKeys,
            (true, true) => Lock::ByKeys,
        }
    }

    /// The stripes this call takes on its keys, under the shared guard: for `ReadKeys` and
    /// `WriteKeys` when it names more than one key.
    pub fn stripes(self, spec: &CommandSpec, args: Args<'_>) -> Option<Access> {
        let access = match self {
            Lock::ReadKeys => Access::Read,
            Lock::WriteKeys => Access::Write,
            _ => return None,
        };
        names_several_keys(spec, args).then_some(access)
    }

    /// The mode to take on the selected database for this call (`args`, the name included).
    pub fn mode(self, spec: &CommandSpec, args: Args<'_>) -> Mode {
        match self {
            Lock::Shared | Lock::ReadKeys | Lock::WriteKeys => Mode::Shared,
            Lock::Exclusive | Lock::AllDatabases => Mode::Exclusive,
            Lock::ByKeys => {
                if names_several_keys(spec, args) {
                    Mode::Exclusive
                } else {
                    Mode::Shared
                }
            }
        }
    }
}

/// For the common shape of key specs (one range from a fixed index), the positions of this
/// call's keys as `(first, last, step)`, by arithmetic on the argument count; `None` for any
/// other shape.
fn simple_range(spec: &CommandSpec, args: Args<'_>) -> Option<(i64, i64, i64)> {
    let [only] = spec.key_specs else {
        return None;
    };
    let (
        BeginSearch::Index(index),
        FindKeys::Range {
            last_key,
            step,
            limit: 0 | 1,
        },
    ) = (only.begin, only.find)
    else {
        return None;
    };
    let count = args.len() as i64;
    let index = i64::from(index);
    let last = if last_key < 0 {
        count + i64::from(last_key)
    } else {
        index + i64::from(last_key)
    };
    Some((index, last.min(count - 1), i64::from(step.max(1))))
}

/// Whether this call names more than one key. For the common shape (one range spec from a
/// fixed index) it is arithmetic on the argument count; otherwise the key specs are walked.
fn names_several_keys(spec: &CommandSpec, args: Args<'_>) -> bool {
    match simple_range(spec, args) {
        Some((first, last, step)) => last - first >= step,
        None => spec.key_positions(args).len() > 1,
    }
}

/// The keys this call names, in argument order: what a multi-key command's stripes are taken
/// from. Arithmetic for the common shape, without allocating; the key specs' walk otherwise.
pub fn call_keys<'a>(spec: &CommandSpec, args: Args<'a>) -> CallKeys<'a> {
    match simple_range(spec, args) {
        Some((first, last, step)) => CallKeys::Range {
            args,
            next: first,
            last,
            step,
        },
        None => CallKeys::Listed {
            args,
            positions: spec.key_positions(args).into_iter(),
        },
    }
}

/// The iterator of [`call_keys`].
pub enum CallKeys<'a> {
    /// Every `step`-th argument from `next` to `last`.
    Range {
        /// The call.
        args: Args<'a>,
        /// The next key's position.
        next: i64,
        /// The last key's position.
        last: i64,
        /// The distance between keys.
        step: i64,
    },
    /// Positions found by walking the key specs.
    Listed {
        /// The call.
        args: Args<'a>,
        /// The positions left, with their flags.
        positions: std::vec::IntoIter<(usize, u32)>,
    },
}

impl<'a> Iterator for CallKeys<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            CallKeys::Range {
                args,
                next,
                last,
                step,
            } => {
                if *next > *last {
                    return None;
                }
                let key = args.get(*next as usize);
                *next += *step;
                Some(key)
            }
            CallKeys::Listed { args, positions } => {
                positions.next().map(|(position, _)| args.get(position))
            }
        }
    }
}

/// The guards a command (or a sequence of commands) holds.
pub enum Held<'a, E: Engine<Value = Value>> {
    /// None: a command that touches no keyspace, or between commands.
    Nothing,
    /// One database's guard, with its (logical) number.
    One(usize, Guard<'a, E>),
    /// Every database's exclusive guard.
    All(AllGuards<'a, E>),
}

impl<'a, E: Engine<Value = Value>> Held<'a, E> {
    /// Takes `lock` in `mode` over `databases`, `selected` being the client's database.
    pub fn take(databases: &'a Databases<E>, lock: Lock, mode: Mode, selected: usize) -> Self {
        match lock {
            Lock::AllDatabases => Held::All(databases.lock_all()),
            _ => Held::One(selected, databases.lock(selected, mode)),
        }
    }

    /// The [`Db`] of database `index` under the guard in force, if one covers it.
    pub fn db(&self, index: usize) -> Option<Db<'a, E>> {
        match self {
            Held::Nothing => None,
            Held::One(held, guard) => (*held == index).then(|| guard.db()),
            Held::All(guards) => guards.db(index),
        }
    }

    /// Whether the guard in force already allows a command that needs `lock` in `mode` on
    /// database `selected`: every database's guards allow anything; one database's allow a
    /// command on that database that needs no more than the mode they hold.
    pub fn covers(&self, lock: Lock, mode: Mode, selected: usize) -> bool {
        match self {
            Held::Nothing => false,
            Held::All(_) => true,
            Held::One(held, guard) => {
                lock != Lock::AllDatabases && *held == selected && guard.db().mode() >= mode
            }
        }
    }

    /// Whether the guard may stay in force after its command, for the next commands of the
    /// same batch: only one database's shared guard (see the module docs).
    pub fn may_outlive_its_command(&self) -> bool {
        matches!(self, Held::One(_, guard) if guard.db().mode() == Mode::Shared)
    }

    /// Every database's guard, when they are all held (`SWAPDB` needs them).
    pub fn all(&self) -> Option<&AllGuards<'a, E>> {
        match self {
            Held::All(guards) => Some(guards),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::table::Row;
    use engine::LockFree;

    fn every_row(rows: &[Row<LockFree<Value>>], out: &mut Vec<(&'static str, Lock, u32, bool)>) {
        for row in rows {
            let ((first, last, _), movable) = row.spec.legacy_range();
            let several = movable || last < 0 || last > first;
            out.push((row.spec.name, row.lock, row.spec.flags(), several));
            every_row(&row.subcommands, out);
        }
    }

    /// `call_keys` (arithmetic for the common shape) names the same keys as the general walk
    /// of the key specs, for every row and argument counts around its arity.
    #[test]
    fn call_keys_agree_with_the_key_specs_for_every_command() {
        use crate::resp::parse::{Limits, Parsed, Request};
        let table = crate::resp::table::<LockFree<Value>>();
        let mut rows = Vec::new();
        fn collect<'t>(rows: &'t [Row<LockFree<Value>>], out: &mut Vec<&'t Row<LockFree<Value>>>) {
            for row in rows {
                out.push(row);
                collect(&row.subcommands, out);
            }
        }
        collect(table.rows(), &mut rows);
        let mut checked = 0;
        for row in rows {
            for count in 1..12usize {
                // The name (both words of a subcommand), then numbered words; numkeys-style
                // specs read "2" at their index.
                let mut words: Vec<String> = row.spec.name.split('|').map(str::to_string).collect();
                while words.len() < count {
                    words.push(if words.len() == 1 {
                        "2".into()
                    } else {
                        format!("k{}", words.len())
                    });
                }
                let line = format!("{}\r\n", words.join(" "));
                let mut request = Request::default();
                let limits = Limits {
                    bulk_bytes_max: 1 << 20,
                };
                assert!(matches!(
                    request.parse(line.as_bytes(), limits),
                    Parsed::Complete { .. }
                ));
                let args = request.args(line.as_bytes());
                let general: Vec<&[u8]> = row
                    .spec
                    .key_positions(args)
                    .into_iter()
                    .map(|(position, _)| args.get(position))
                    .collect();
                assert_eq!(
                    call_keys(&row.spec, args).collect::<Vec<_>>(),
                    general,
                    "{} with {count} words",
                    row.spec.name
                );
                assert_eq!(
                    names_several_keys(&row.spec, args),
                    general.len() > 1,
                    "{}",
                    row.spec.name
                );
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    /// The lock rules of the whole table, checked against what `keyspace::stripes` argues:
    /// only writes whose keys are each written without reading the others may take writer
    /// stripes instead of the exclusive side, every other write that can name several keys
    /// locks by keys (or more), and every read that can name several keys reads them under
    /// their stripes. A new row that gets this wrong fails here.
    #[test]
    fn every_command_that_can_name_several_keys_takes_a_lock_that_makes_it_atomic() {
        let table = crate::resp::table::<LockFree<Value>>();
        let mut rows = Vec::new();
        every_row(table.rows(), &mut rows);
        let independent_writes = ["mset", "del", "unlink"];
        for (name, lock, flags, several) in rows {
            if lock == Lock::WriteKeys {
                assert!(
                    independent_writes.contains(&name),
                    "{name} takes writer stripes, but only writes of independent keys may"
                );
            }
            if !several {
                continue;
            }
            if flags & flag::WRITE != 0 {
                assert!(
                    matches!(
                        lock,
                        Lock::WriteKeys | Lock::ByKeys | Lock::Exclusive | Lock::AllDatabases
                    ),
                    "{name} writes several keys under {lock:?}"
                );
            } else {
                assert!(
                    matches!(lock, Lock::ReadKeys | Lock::Exclusive | Lock::AllDatabases),
                    "{name} reads several keys under {lock:?}"
                );
            }
        }
        for name in independent_writes {
            let row = table.lookup(name.as_bytes()).expect("served");
            assert_eq!(row.lock, Lock::WriteKeys, "{name}");
        }
    }
}
