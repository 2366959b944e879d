//! # The command table
//!
//! One [`Row`] says everything about a command: its name, Redis's arity, its flags and ACL
//! categories (typed bit sets), its Redis 7 key specs, its command tips, the handler that runs
//! it, and its subcommands (`CONFIG|GET`, `CLIENT|LIST`, ...), which are rows of their own.
//! Dispatch is one lookup in the [`Table`] and a call through the row's handler: no second
//! match on the name anywhere. Everything else that needs to know about a command reads the
//! same row: `COMMAND` and its subcommands (which report exactly these fields, in Redis 7.0's
//! shapes), the arity check, the refusal of writes while the log cannot be written, and later
//! MULTI queueing, ACLs and per-command statistics (through the row's [`CommandId`]). A
//! command added in one place cannot drift from what `COMMAND INFO` says about it.
//!
//! Each command family file (`strings.rs`, `lists.rs`, ...) declares its rows next to its
//! handlers with the [`command!`] macro. The rows are generic over the engine (the handlers
//! are), so the table is built once per server at start-up (`Table::new`) and lives in
//! [`Shared`](crate::session::Shared); the static part of a row, [`CommandSpec`], is plain data.
//!
//! ## Where the facts come from
//!
//! Names, arities, flags, ACL categories, key specs and tips are Redis 7.0.15's (they are the
//! interface clients and proxies read); `tests/commands.rs` compares `COMMAND INFO` of every
//! row with a real redis-server. Key spec notes are written here in our own words.

use super::docs::Docs;
use super::parse::Args;
use super::CommandResult;
use crate::lock::Lock;
use crate::session::Session;
use engine::Engine;
use foldhash::HashMap;
use keyspace::Value;
use std::sync::Arc;

/// A command's flags: Redis 7's `CMD_*` bits that `COMMAND INFO` shows.
pub mod flag {
    /// May modify the keyspace.
    pub const WRITE: u32 = 1 << 0;
    /// Never modifies the keyspace.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory use (refused past `maxmemory`).
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// Publish/subscribe.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed in scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while the database loads.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a replica with stale data.
    pub const STALE: u32 = 1 << 8;
    /// Not shown to MONITOR.
    pub const SKIP_MONITOR: u32 = 1 << 9;
    /// Not logged in the slow log.
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// Allowed on an importing cluster slot.
    pub const ASKING: u32 = 1 << 11;
    /// O(1) or O(log N), never delays the server.
    pub const FAST: u32 = 1 << 12;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 13;
    /// May take no key at all.
    pub const NO_MANDATORY_KEYS: u32 = 1 << 14;
    /// Refused during asynchronous loading.
    pub const NO_ASYNC_LOADING: u32 = 1 << 15;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 16;
    /// Its keys cannot be found from the legacy first/last/step range alone (derived from
    /// the key specs, as Redis derives it; never written in a row).
    pub const MOVABLE_KEYS: u32 = 1 << 17;
    /// Allowed while a script is busy.
    pub const ALLOW_BUSY: u32 = 1 << 18;

    /// Every flag with its name, in the order `COMMAND INFO` lists them (Redis's order,
    /// checked against every command of redis-server 7.0.15).
    pub const NAMES: [(u32, &str); 19] = [
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories (`@read`, `@string`, ...), as bits.
pub mod acl {
    /// Touches keys or the keyspace in a type-independent way.
    pub const KEYSPACE: u32 = 1 << 0;
    /// Reads values.
    pub const READ: u32 = 1 << 1;
    /// Writes values.
    pub const WRITE: u32 = 1 << 2;
    /// Sets.
    pub const SET: u32 = 1 << 3;
    /// Sorted sets.
    pub const SORTEDSET: u32 = 1 << 4;
    /// Lists.
    pub const LIST: u32 = 1 << 5;
    /// Hashes.
    pub const HASH: u32 = 1 << 6;
    /// Strings.
    pub const STRING: u32 = 1 << 7;
    /// Bitmaps.
    pub const BITMAP: u32 = 1 << 8;
    /// HyperLogLogs.
    pub const HYPERLOGLOG: u32 = 1 << 9;
    /// Geospatial indexes.
    pub const GEO: u32 = 1 << 10;
    /// Streams.
    pub const STREAM: u32 = 1 << 11;
    /// Publish/subscribe.
    pub const PUBSUB: u32 = 1 << 12;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 13;
    /// Fast commands.
    pub const FAST: u32 = 1 << 14;
    /// Everything not fast.
    pub const SLOW: u32 = 1 << 15;
    /// May block.
    pub const BLOCKING: u32 = 1 << 16;
    /// Potentially dangerous.
    pub const DANGEROUS: u32 = 1 << 17;
    /// About the connection.
    pub const CONNECTION: u32 = 1 << 18;
    /// Transactions.
    pub const TRANSACTION: u32 = 1 << 19;
    /// Scripting.
    pub const SCRIPTING: u32 = 1 << 20;

    /// Every category with its name, in the order `COMMAND INFO` lists them (Redis's order,
    /// checked against every command of redis-server 7.0.15).
    pub const NAMES: [(u32, &str); 21] = [
        (KEYSPACE, "@keyspace"),
        (READ, "@read"),
        (WRITE, "@write"),
        (SET, "@set"),
        (SORTEDSET, "@sortedset"),
        (LIST, "@list"),
        (HASH, "@hash"),
        (STRING, "@string"),
        (BITMAP, "@bitmap"),
        (HYPERLOGLOG, "@hyperloglog"),
        (GEO, "@geo"),
        (STREAM, "@stream"),
        (PUBSUB, "@pubsub"),
        (ADMIN, "@admin"),
        (FAST, "@fast"),
        (SLOW, "@slow"),
        (BLOCKING, "@blocking"),
        (DANGEROUS, "@dangerous"),
        (CONNECTION, "@connection"),
        (TRANSACTION, "@transaction"),
        (SCRIPTING, "@scripting"),
    ];
}

/// Key spec flags: how a command uses one of its keys.
pub mod key {
    /// Reads and writes the value.
    pub const RW: u32 = 1 << 0;
    /// Only reads it.
    pub const RO: u32 = 1 << 1;
    /// Overwrites it without reading it.
    pub const OW: u32 = 1 << 2;
    /// Removes the key.
    pub const RM: u32 = 1 << 3;
    /// Returns or exposes (part of) the value.
    pub const ACCESS: u32 = 1 << 4;
    /// Updates the value in place.
    pub const UPDATE: u32 = 1 << 5;
    /// Adds data to the value.
    pub const INSERT: u32 = 1 << 6;
    /// Deletes data from the value.
    pub const DELETE: u32 = 1 << 7;
    /// Not a key, though it hashes like one (cluster slot checks).
    pub const NOT_KEY: u32 = 1 << 8;
    /// The spec may miss some keys.
    pub const INCOMPLETE: u32 = 1 << 9;
    /// The flags depend on the arguments.
    pub const VARIABLE_FLAGS: u32 = 1 << 10;

    /// Every flag with its name, in `COMMAND INFO` order.
    pub const NAMES: [(u32, &str); 11] = [
        (RW, "RW"),
        (RO, "RO"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

/// The names of the bits set in `bits`, in table order.
pub fn names<'t>(
    bits: u32,
    table: &'t [(u32, &'static str)],
) -> impl Iterator<Item = &'static str> + 't {
    table
        .iter()
        .filter(move |(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
}

/// Where the search for a key spec's keys begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginSearch {
    /// At this argument index.
    Index(i32),
    /// After the first argument equal to `keyword` (any case), searching from argument
    /// `start_from` (negative: from the end, backwards).
    Keyword {
        /// The keyword.
        keyword: &'static str,
        /// Where the search starts.
        start_from: i32,
    },
}

/// How a key spec's keys are found from where the search began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindKeys {
    /// Keys from the beginning through `last_key` (relative to it; negative: counted from the
    /// end of the arguments), every `step`-th; `limit` > 1 keeps only the first
    /// 1/`limit` of the remaining arguments.
    Range {
        /// The last key, relative to the beginning (or from the end when negative).
        last_key: i32,
        /// The distance between keys.
        step: i32,
        /// 0 or 1: no limit; n: a 1/n share of the arguments.
        limit: i32,
    },
    /// A count of keys at `key_num_index` (relative to the beginning), the first key at
    /// `first_key` (relative too), every `step`-th.
    KeyNum {
        /// Where the count is.
        key_num_index: i32,
        /// The first key.
        first_key: i32,
        /// The distance between keys.
        step: i32,
    },
}

/// One Redis 7 key spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// [`key`] flags.
    pub flags: u32,
    /// Where the search begins.
    pub begin: BeginSearch,
    /// How the keys are found.
    pub find: FindKeys,
    /// A note on the flags, in our words (empty: none).
    pub notes: &'static str,
}

/// A key spec at index `index` covering `last_key` more arguments, every `step`-th.
pub const fn range(flags: u32, index: i32, last_key: i32, step: i32) -> KeySpec {
    KeySpec {
        flags,
        begin: BeginSearch::Index(index),
        find: FindKeys::Range {
            last_key,
            step,
            limit: 0,
        },
        notes: "",
    }
}

/// One key at `index`.
pub const fn single(flags: u32, index: i32) -> KeySpec {
    range(flags, index, 0, 1)
}

impl KeySpec {
    /// The same spec with a note.
    pub const fn note(mut self, notes: &'static str) -> KeySpec {
        self.notes = notes;
        self
    }
}

/// The static facts about a command: everything `COMMAND INFO` reports.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// The lowercase name; a subcommand's is `parent|sub`, as Redis names it in errors.
    pub name: &'static str,
    /// Redis's arity: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    /// [`flag`] bits as declared (`MOVABLE_KEYS` is derived, see [`CommandSpec::flags`]).
    pub declared_flags: u32,
    /// [`acl`] categories.
    pub acl: u32,
    /// Command tips for clients and proxies (`request_policy:...`, ...).
    pub tips: &'static [&'static str],
    /// The key specs.
    pub key_specs: &'static [KeySpec],
    /// For a command whose key spec has `VARIABLE_FLAGS`: the flags of that key in one call
    /// (SET reads the old value only with `GET`). `None`: the spec's flags.
    pub key_flags: Option<fn(Args<'_>) -> u32>,
    /// What `COMMAND DOCS` says about it.
    pub docs: &'static Docs,
}

impl CommandSpec {
    /// Whether `count` arguments (the name included) fit the arity.
    pub fn arity_fits(&self, count: usize) -> bool {
        let count = count as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            count == arity
        } else {
            count >= -arity
        }
    }

    /// The flags, with `MOVABLE_KEYS` added where the key specs need it.
    pub fn flags(&self) -> u32 {
        self.declared_flags
            | if self.legacy_range().1 {
                flag::MOVABLE_KEYS
            } else {
                0
            }
    }

    /// Whether the command has every flag in `bits`.
    pub fn has(&self, bits: u32) -> bool {
        self.declared_flags & bits == bits
    }

    /// The legacy `(first, last, step)` key range of `COMMAND INFO`, derived from the key
    /// specs as Redis derives it, and whether the keys are "movable" (some key spec cannot be
    /// expressed as that one range).
    pub fn legacy_range(&self) -> ((i32, i32, i32), bool) {
        let specs = self.key_specs;
        match specs {
            [] => return ((0, 0, 0), false),
            [KeySpec {
                flags,
                begin: BeginSearch::Index(index),
                find: FindKeys::Range { last_key, step, .. },
                ..
            }] => {
                let last = if *last_key < 0 {
                    *last_key
                } else {
                    index + last_key
                };
                return ((*index, last, *step), flags & key::INCOMPLETE != 0);
            }
            _ => {}
        }
        let mut movable = false;
        let mut first = i32::MAX;
        // Compared as unsigned, as Redis does: a negative (from the end) last key wins.
        let mut last: i32 = 0;
        let mut previous_last = 0;
        for spec in specs {
            let (index, last_key, step) = match (spec.begin, spec.find) {
                (BeginSearch::Index(index), FindKeys::Range { last_key, step, .. }) => {
                    (index, last_key, step)
                }
                _ => {
                    movable = true;
                    continue;
                }
            };
            if step != 1 || (previous_last != 0 && previous_last != index - 1) {
                movable = true;
                continue;
            }
            if spec.flags & key::INCOMPLETE != 0 {
                movable = true;
            }
            first = first.min(index);
            let absolute = if last_key >= 0 {
                index + last_key
            } else {
                last_key
            };
            if (absolute as u32) > (last as u32) {
                last = absolute;
            }
            previous_last = last;
        }
        if first == i32::MAX {
            return ((0, 0, 0), true);
        }
        ((first, last, 1), movable)
    }

    /// The indexes of the keys among `args` (the name at 0), found through the key specs as
    /// `COMMAND GETKEYS` does, with each key's spec flags.
    pub fn key_positions(&self, args: Args<'_>) -> Vec<(usize, u32)> {
        let count = args.len() as i64;
        let mut found = Vec::new();
        for spec in self.key_specs {
            let begin = match spec.begin {
                BeginSearch::Index(index) => i64::from(index),
                BeginSearch::Keyword {
                    keyword,
                    start_from,
                } => {
                    let matches = |i: i64| {
                        args.get(i as usize)
                            .eq_ignore_ascii_case(keyword.as_bytes())
                    };
                    let hit = if start_from >= 0 {
                        (i64::from(start_from)..count).find(|&i| matches(i))
                    } else {
                        (1..=count + i64::from(start_from))
                            .rev()
                            .find(|&i| matches(i))
                    };
                    match hit {
                        Some(at) => at + 1,
                        None => continue,
                    }
                }
            };
            if begin >= count {
                continue;
            }
            let (first, last, step) = match spec.find {
                FindKeys::Range {
                    last_key,
                    step,
                    limit,
                } => {
                    let last = if last_key >= 0 {
                        begin + i64::from(last_key)
                    } else if limit <= 1 {
                        count + i64::from(last_key)
                    } else {
                        let remaining = count - begin;
                        begin + remaining / i64::from(limit) - 1
                    };
                    (begin, last, i64::from(step))
                }
                FindKeys::KeyNum {
                    key_num_index,
                    first_key,
                    step,
                } => {
                    let at = begin + i64::from(key_num_index);
                    if at >= count {
                        continue;
                    }
                    let Some(keys) = super::int_arg(args.get(at as usize))
                        .ok()
                        .filter(|&keys| keys >= 0)
                    else {
                        continue;
                    };
                    let first = begin + i64::from(first_key);
                    (first, first + (keys - 1) * i64::from(step), i64::from(step))
                }
            };
            let flags = match self.key_flags {
                Some(resolve) if spec.flags & key::VARIABLE_FLAGS != 0 => resolve(args),
                _ => spec.flags,
            };
            let mut index = first;
            while index <= last.min(count - 1) && step > 0 {
                found.push((index as usize, flags));
                index += step;
            }
        }
        found
    }
}

/// Runs a command: its arguments are already checked against the row's arity.
pub type Handler<E> = for<'s, 'a> fn(&mut Session<'s, E>, Args<'a>) -> CommandResult;

/// A command's index in its [`Table`]: dense, so per-command statistics can be an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u16);

/// One command: its facts, its handler and its subcommands.
pub struct Row<E: Engine<Value = Value>> {
    /// The facts.
    pub spec: CommandSpec,
    /// Runs it; `None` for a container command, which only dispatches to its subcommands.
    pub handler: Option<Handler<E>>,
    /// The subcommands (`CONFIG|GET`, ...), in `COMMAND INFO` order.
    pub subcommands: Vec<Row<E>>,
    /// Its index in the table (set when the table is built).
    pub id: CommandId,
    /// The keyspace lock the dispatcher takes for it (ours, not a Redis fact; derived from
    /// the flags and key specs unless the row says otherwise, see [`crate::lock`]).
    pub lock: Lock,
}

impl<E: Engine<Value = Value>> Row<E> {
    /// A command run by `handler`.
    pub fn new(spec: CommandSpec, handler: Handler<E>) -> Self {
        Self {
            lock: Lock::derived(&spec),
            spec,
            handler: Some(handler),
            subcommands: Vec::new(),
            id: CommandId(0),
        }
    }

    /// A container command (`CONFIG`, `CLIENT`, ...): its handler is its subcommands'.
    pub fn container(spec: CommandSpec, subcommands: Vec<Row<E>>) -> Self {
        Self {
            lock: Lock::derived(&spec),
            spec,
            handler: None,
            subcommands,
            id: CommandId(0),
        }
    }

    /// The same command with `resolve` giving its variable key flags per call.
    pub fn with_key_flags(mut self, resolve: fn(Args<'_>) -> u32) -> Self {
        self.spec.key_flags = Some(resolve);
        self
    }

    /// The same command under another lock than the derived one (see [`crate::lock`]).
    pub fn with_lock(mut self, lock: Lock) -> Self {
        self.lock = lock;
        self
    }

    /// The same command with subcommands (`COMMAND`, which runs alone too).
    pub fn with_subcommands(mut self, subcommands: Vec<Row<E>>) -> Self {
        self.subcommands = subcommands;
        self
    }

    /// The subcommand named `name` (any case), if any.
    pub fn subcommand(&self, name: &[u8]) -> Option<&Row<E>> {
        self.subcommands.iter().find(|sub| {
            let short = sub.spec.name.rsplit('|').next().unwrap_or(sub.spec.name);
            short.as_bytes().eq_ignore_ascii_case(name)
        })
    }
}

/// Declares a row: `command!(name, arity, [FLAGS], [ACL], [key specs], handler, docs: DOCS)`,
/// with an optional `tips: [...]` between the handler and the docs. Flags and ACL categories
/// are the names of the [`flag`] and [`acl`] constants; key specs are [`single`], [`range`] or
/// [`KeySpec`] values; the docs are a [`Docs`] constant of the family's docs module.
macro_rules! command {
    ($name:literal, $arity:expr, [$($flag:ident),*], [$($acl:ident),*], [$($spec:expr),* $(,)?],
     $handler:ident $(, tips: [$($tip:literal),*])?, docs: $docs:path $(,)?) => {
        $crate::resp::table::Row::new(
            command!(@spec $name, $arity, [$($flag),*], [$($acl),*], [$($spec),*], $docs $(, [$($tip),*])?),
            $handler,
        )
    };
    (@spec $name:literal, $arity:expr, [$($flag:ident),*], [$($acl:ident),*], [$($spec:expr),*],
     $docs:path $(, [$($tip:literal),*])?) => {
        $crate::resp::table::CommandSpec {
            name: $name,
            arity: $arity,
            declared_flags: 0 $(| $crate::resp::table::flag::$flag)*,
            acl: 0 $(| $crate::resp::table::acl::$acl)*,
            tips: &[$($($tip),*)?],
            key_specs: const { &[$($spec),*] },
            key_flags: None,
            docs: &$docs,
        }
    };
}
pub(crate) use command;

/// Declares a container row:
/// `container!(name, arity, [FLAGS], [ACL], [subcommand rows], docs: DOCS)`.
macro_rules! container {
    ($name:literal, $arity:expr, [$($flag:ident),*], [$($acl:ident),*], $subcommands:expr,
     docs: $docs:path $(,)?) => {
        $crate::resp::table::Row::container(
            $crate::resp::table::command!(@spec $name, $arity, [$($flag),*], [$($acl),*], [], $docs),
            $subcommands,
        )
    };
}
pub(crate) use container;

/// The longest command name (for the lowercase lookup buffer).
const NAME_BYTES_MAX: usize = 32;

/// Every command a server serves, with the index that finds one by name.
pub struct Table<E: Engine<Value = Value>> {
    /// Shared by the table's copies (see its `Clone`); as many indirections to a row as a
    /// `Vec`'s.
    rows: Arc<[Row<E>]>,
    by_name: HashMap<&'static [u8], usize>,
    /// Rows and subcommand rows: the number of [`CommandId`]s.
    count: usize,
}

/// A copy shares the rows, which never change once the table is built, and copies the name
/// index (one allocation): what builds many servers in one process (the fuzz targets) copies
/// one table instead of building it for each, which runs every family's row functions.
impl<E: Engine<Value = Value>> Clone for Table<E> {
    fn clone(&self) -> Self {
        Self {
            rows: Arc::clone(&self.rows),
            by_name: self.by_name.clone(),
            count: self.count,
        }
    }
}

impl<E: Engine<Value = Value>> Table<E> {
    /// The table of `rows`, in `COMMAND` order; numbers every row and subcommand row.
    pub fn new(mut rows: Vec<Row<E>>) -> Self {
        let mut next = 0u16;
        let mut number = |row: &mut Row<E>| {
            row.id = CommandId(next);
            next += 1;
        };
        for row in &mut rows {
            number(row);
            for sub in &mut row.subcommands {
                number(sub);
            }
        }
        let mut by_name = HashMap::default();
        for (index, row) in rows.iter().enumerate() {
            assert!(
                row.spec.name.len() <= NAME_BYTES_MAX,
                "{} is too long",
                row.spec.name
            );
            assert!(
                row.spec.name.bytes().all(|b| !b.is_ascii_uppercase()),
                "{} is not lowercase",
                row.spec.name
            );
            let previous = by_name.insert(row.spec.name.as_bytes(), index);
            assert!(previous.is_none(), "{} is listed twice", row.spec.name);
        }
        Self {
            rows: rows.into(),
            by_name,
            count: usize::from(next),
        }
    }

    /// The command named `name`, any case.
    pub fn lookup(&self, name: &[u8]) -> Option<&Row<E>> {
        if name.len() > NAME_BYTES_MAX {
            return None;
        }
        let mut lower = [0u8; NAME_BYTES_MAX];
        for (to, from) in lower.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
        }
        self.by_name
            .get(&lower[..name.len()])
            .map(|&index| &self.rows[index])
    }

    /// The command or subcommand named `name` (`config|get`), any case.
    pub fn lookup_full(&self, name: &[u8]) -> Option<&Row<E>> {
        match name.iter().position(|&b| b == b'|') {
            None => self.lookup(name),
            Some(bar) => self.lookup(&name[..bar])?.subcommand(&name[bar + 1..]),
        }
    }

    /// The full name of the command or subcommand numbered `id` (`None` for an id no command
    /// has, such as a client's before its first command).
    pub fn name_of(&self, id: u16) -> Option<&'static str> {
        self.rows
            .iter()
            .flat_map(|row| std::iter::once(row).chain(&row.subcommands))
            .find(|row| row.id.0 == id)
            .map(|row| row.spec.name)
    }

    /// Every command, in `COMMAND` order.
    pub fn rows(&self) -> &[Row<E>] {
        &self.rows
    }

    /// The number of command ids (commands and subcommands).
    pub fn id_count(&self) -> usize {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::parse::{Parsed, Request};
    use engine::LockFree;

    fn spec(key_specs: &'static [KeySpec]) -> CommandSpec {
        CommandSpec {
            name: "x",
            arity: -1,
            declared_flags: 0,
            acl: 0,
            tips: &[],
            key_specs,
            key_flags: None,
            docs: &crate::resp::docs::strings::GET,
        }
    }

    /// The key positions `spec` finds in the inline request `line`.
    fn positions(spec: &CommandSpec, line: &str) -> Vec<usize> {
        let mut request = Request::default();
        let input = format!("{line}\r\n");
        let limits = crate::resp::parse::Limits {
            bulk_bytes_max: 1 << 20,
        };
        assert!(matches!(
            request.parse(input.as_bytes(), limits),
            Parsed::Complete { .. }
        ));
        let args = request.args(input.as_bytes());
        spec.key_positions(args)
            .into_iter()
            .map(|(at, _)| at)
            .collect()
    }

    #[test]
    fn legacy_ranges_are_derived_as_redis_derives_them() {
        // One range spec: as it stands (MSET).
        assert_eq!(
            spec(const { &[range(key::OW, 1, -1, 2)] }).legacy_range(),
            ((1, -1, 2), false)
        );
        // Two adjacent single keys (LMOVE): one range.
        assert_eq!(
            spec(const { &[single(key::RW, 1), single(key::RW, 2)] }).legacy_range(),
            ((1, 2, 1), false)
        );
        // No key: zeros, not movable.
        assert_eq!(spec(&[]).legacy_range(), ((0, 0, 0), false));
        // A keyword spec alone: movable (ZUNIONSTORE-like commands set `movablekeys`).
        const KEYWORD: KeySpec = KeySpec {
            flags: key::RO,
            begin: BeginSearch::Keyword {
                keyword: "STREAMS",
                start_from: 1,
            },
            find: FindKeys::Range {
                last_key: -1,
                step: 1,
                limit: 2,
            },
            notes: "",
        };
        let streams = spec(&[KEYWORD]);
        assert_eq!(streams.legacy_range(), ((0, 0, 0), true));
        assert_ne!(streams.flags() & flag::MOVABLE_KEYS, 0);
        // XREAD-like: the keys are the first half after STREAMS.
        assert_eq!(positions(&streams, "xread count 2 streams a b 0 0"), [4, 5]);
        assert_eq!(positions(&streams, "xread count 2"), Vec::<usize>::new());
    }

    #[test]
    fn keynum_specs_read_the_count() {
        const NUMKEYS: KeySpec = KeySpec {
            flags: key::RW,
            begin: BeginSearch::Index(2),
            find: FindKeys::KeyNum {
                key_num_index: 0,
                first_key: 1,
                step: 1,
            },
            notes: "",
        };
        let zunion = spec(&[NUMKEYS]);
        assert_eq!(
            positions(&zunion, "zunionstore d 2 a b weights 1 2"),
            [3, 4]
        );
        // A bad or negative count finds nothing, as Redis.
        assert_eq!(
            positions(&zunion, "zunionstore d x a b"),
            Vec::<usize>::new()
        );
        assert_eq!(
            positions(&zunion, "zunionstore d -1 a"),
            Vec::<usize>::new()
        );
        // A count past the arguments stops at the end.
        assert_eq!(positions(&zunion, "zunionstore d 5 a"), [3]);
    }

    #[test]
    fn the_table_finds_commands_and_subcommands_in_any_case() {
        let table: Table<LockFree<Value>> = crate::resp::table();
        assert_eq!(table.lookup(b"GeT").unwrap().spec.name, "get");
        assert!(table.lookup(b"nosuchcommand").is_none());
        assert!(table.lookup(b"").is_none());
        assert!(table.lookup(&[b'a'; 100]).is_none());
        let get = table.lookup_full(b"CONFIG|Get").unwrap();
        assert_eq!(get.spec.name, "config|get");
        assert!(table.lookup_full(b"config|nosuch").is_none());
        assert!(table.lookup_full(b"get|x").is_none());
        // Ids are dense and name every row.
        let mut ids = Vec::new();
        for row in table.rows() {
            for row in std::iter::once(row).chain(&row.subcommands) {
                assert_eq!(table.name_of(row.id.0), Some(row.spec.name));
                ids.push(row.id.0);
            }
        }
        ids.sort_unstable();
        assert_eq!(ids, (0..table.id_count() as u16).collect::<Vec<_>>());
        // Every row but a container has a handler, and every container has subcommands.
        for row in table.rows() {
            assert_eq!(
                row.handler.is_none(),
                !row.subcommands.is_empty() && row.spec.name != "command"
            );
        }
    }
}
