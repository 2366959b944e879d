//! # journal: the effect of every mutation, for the append-only file
//!
//! A keyspace with a [`Journal`] attached reports the *effect* of every mutation it installs,
//! with the version the engine drew for it: never the command (a `SET NX` that lost is not
//! reported, a relative TTL is already an absolute time, `INCR` reports the string it
//! produced), and also the mutations no client asked for (expiry deletes). The persistence
//! crate's journal turns each into a record; replay turns records back into [`Effect`]s and
//! hands them to [`Keyspace::apply`] in version order.
//!
//! ## Why version order reproduces what clients saw
//!
//! Versions come from one counter and every install on a key draws a larger one than the
//! entry it replaces, so per key, version order *is* the order in which clients saw the
//! writes. Whole-value effects ([`Effect::PutString`], [`Effect::Delete`],
//! [`Effect::PutList`]) need nothing else. The relative list effects (push, pop, set, remove,
//! trim, insert) also need the list they change to be, at their version, what it was live;
//! the list protocol (see [`super::lists`]) gives exactly that: a list mutation bumps the
//! key's version under the list's lock and mutates under the same lock, so no other change
//! of that list falls between its version and its mutation. [`Effect::Flush`] and the
//! multi-key commands that read before they write (`RENAME`, `COPY`, `MSETNX`, `LMOVE`) run
//! under the exclusive side of the keyspace lock, so no single-key write is in flight across
//! them and their versions split the history cleanly. `MSET` and `DEL` of several keys run
//! under their keys' stripes (see [`crate::stripes`]): their effects are whole-value puts and
//! deletes, one version per key, so per key version order is still the order clients saw.
//!
//! ## When an effect is reported
//!
//! After the engine installed it, on the thread that installed it, before the operation
//! returns to its caller (so a reply is never sent for a write the journal has not seen). A
//! list effect is reported while the list's lock is still held, so the journal receives the
//! effects of one list in version order; other effects may reach it slightly out of version
//! order, which replay sorts out. A multi-key command reports its effects from one thread,
//! in version order; under the exclusive lock they reach the journal back to back, under
//! stripes other keys' effects may fall between them.

use super::{End, Keyspace, List, ListPosition, Str, Value};
use engine::{Engine, Meta};
use std::collections::VecDeque;
use std::sync::Arc;

/// One mutation's effect. Keys and bytes are borrowed from the caller for the duration of
/// [`Journal::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect<'a> {
    /// The key now holds this string with this metadata.
    PutString {
        /// The key.
        key: &'a [u8],
        /// The whole new value.
        value: &'a [u8],
        /// Flags and absolute expiry.
        meta: Meta,
    },
    /// The key's metadata changed; its value did not.
    SetMeta {
        /// The key.
        key: &'a [u8],
        /// The new metadata.
        meta: Meta,
    },
    /// The key is gone (DEL, expiry, a list popped empty, the source of a RENAME).
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// `LPUSH`/`RPUSH` semantics: the elements pushed one by one at `end`, creating the list
    /// when the key is absent.
    ListPush {
        /// The key.
        key: &'a [u8],
        /// Which end.
        end: End,
        /// In argument order.
        elements: &'a [&'a [u8]],
    },
    /// Up to `count` elements popped at `end` (the key goes when the list empties).
    ListPop {
        /// The key.
        key: &'a [u8],
        /// Which end.
        end: End,
        /// How many were asked for.
        count: u64,
    },
    /// `LSET` semantics.
    ListSet {
        /// The key.
        key: &'a [u8],
        /// The index, possibly negative.
        index: i64,
        /// The new element.
        element: &'a [u8],
    },
    /// `LREM` semantics.
    ListRemove {
        /// The key.
        key: &'a [u8],
        /// As `LREM`'s count.
        count: i64,
        /// The element to remove.
        element: &'a [u8],
    },
    /// `LTRIM` semantics.
    ListTrim {
        /// The key.
        key: &'a [u8],
        /// First index kept.
        start: i64,
        /// Last index kept.
        stop: i64,
    },
    /// `LINSERT` semantics.
    ListInsert {
        /// The key.
        key: &'a [u8],
        /// Before or after the pivot.
        position: ListPosition,
        /// The element to find.
        pivot: &'a [u8],
        /// The element to insert.
        element: &'a [u8],
    },
    /// The key now holds this whole list (RENAME, COPY, a rewrite's base).
    PutList {
        /// The key.
        key: &'a [u8],
        /// Its metadata.
        meta: Meta,
        /// Every element, head first.
        elements: &'a [&'a [u8]],
    },
    /// Every key is gone.
    Flush,
    /// The numbered databases are mapped anew (`SWAPDB`): `map[logical]` is the physical
    /// database a client selecting `logical` sees. Reported by [`crate::Databases`], not by a
    /// keyspace, with the map's epoch as its version; see [`crate::databases`].
    DatabaseMap {
        /// One byte per logical database.
        map: &'a [u8],
    },
}

/// Where a keyspace reports effects. See the module docs for when it is called.
pub trait Journal: Send + Sync + 'static {
    /// Takes note of `effect`, installed with `version`. Must not block for long and must not
    /// call back into the keyspace: the caller may hold a list's lock or the exclusive lock.
    fn record(&self, version: u64, effect: &Effect<'_>);

    /// Whether a [`Journal::record`] now would reach anyone. The keyspace asks after the
    /// mutation is installed, where it would call `record`, and skips building the effect on
    /// a no: the server's journal stays attached while the append-only file is off, and every
    /// write would otherwise pay for an effect nobody reads. The default says yes.
    fn listening(&self) -> bool {
        true
    }
}

/// What a logged [`Keyspace::write_locked`] will report once it knows the version.
pub(super) enum Pending {
    Nothing,
    Put(Str, Meta),
    Meta(Meta),
    Delete,
}

impl Pending {
    /// What installing `decision` over `current` reports.
    pub(super) fn of(
        current: Option<&engine::Entry<Value>>,
        decision: &engine::Decision<Value>,
    ) -> Self {
        use engine::Decision;
        match decision {
            Decision::Keep => Pending::Nothing,
            Decision::Remove => Pending::Delete,
            Decision::Replace { value, meta } => {
                let same_value = match (current.map(|entry| &entry.value), value) {
                    (Some(Value::Str(old)), Value::Str(new)) => old.is_same(new),
                    (Some(Value::List(old)), Value::List(new)) => Arc::ptr_eq(old, new),
                    _ => false,
                };
                match value {
                    Value::Str(_) if same_value => Pending::Meta(*meta),
                    Value::Str(new) => Pending::Put(new.clone(), *meta),
                    // The list protocol's bump (same list, same metadata) is reported by the
                    // list operation itself, which knows what it did.
                    Value::List(_) if same_value => {
                        if current.is_some_and(|entry| entry.meta != *meta) {
                            Pending::Meta(*meta)
                        } else {
                            Pending::Nothing
                        }
                    }
                    Value::List(_) => {
                        unreachable!("a new list is installed only by paths that report it")
                    }
                }
            }
        }
    }

    pub(super) fn report(self, journal: &dyn Journal, version: u64, key: &[u8]) {
        match self {
            Pending::Nothing => {}
            Pending::Put(value, meta) => journal.record(
                version,
                &Effect::PutString {
                    key,
                    value: value.as_bytes(),
                    meta,
                },
            ),
            Pending::Meta(meta) => journal.record(version, &Effect::SetMeta { key, meta }),
            Pending::Delete => journal.record(version, &Effect::Delete { key }),
        }
    }
}

/// Reports a whole value installed at `key` (RENAME, COPY, a rewrite's base). A list is read
/// under its lock; the caller makes sure nobody mutates it meanwhile in a way that matters.
pub(super) fn report_value(
    journal: &dyn Journal,
    version: u64,
    key: &[u8],
    value: &Value,
    meta: Meta,
) {
    match value {
        Value::Str(value) => journal.record(
            version,
            &Effect::PutString {
                key,
                value: value.as_bytes(),
                meta,
            },
        ),
        Value::List(list) => {
            let items = list.lock();
            report_list(journal, version, key, &items, meta);
        }
    }
}

/// Reports [`Effect::PutList`] of `items`.
pub(super) fn report_list(
    journal: &dyn Journal,
    version: u64,
    key: &[u8],
    items: &VecDeque<Box<[u8]>>,
    meta: Meta,
) {
    let elements: Vec<&[u8]> = items.iter().map(|item| &**item).collect();
    journal.record(
        version,
        &Effect::PutList {
            key,
            meta,
            elements: &elements,
        },
    );
}

/// What [`Keyspace::apply`] found wrong with an effect: the log holds something a consistent
/// history cannot (a list effect on a string, an index outside the list). Replay counts these
/// and goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inconsistent;

impl<E: Engine<Value = Value>> Keyspace<E> {
    /// Attaches the journal every later mutation is reported to. Call it once, after replay
    /// and before the keyspace is shared; a second call is refused (returns the journal).
    pub fn set_journal(&self, journal: Arc<dyn Journal>) -> Result<(), Arc<dyn Journal>> {
        self.journal.set(journal)
    }

    /// The attached journal, if any.
    pub(super) fn journal(&self) -> Option<&dyn Journal> {
        self.journal.get().map(|journal| &**journal)
    }

    /// The attached journal if it listens now ([`Journal::listening`]): what a mutation asks
    /// once it is installed, before it builds its effect.
    pub(super) fn listening_journal(&self) -> Option<&dyn Journal> {
        self.journal().filter(|journal| journal.listening())
    }

    /// Replays one effect (before a journal is attached, so nothing is reported again).
    /// Effects must come in version order; see the module docs.
    pub fn apply(&self, effect: &Effect<'_>) -> Result<(), Inconsistent> {
        debug_assert!(self.journal.get().is_none(), "apply reports to no journal");
        let fine = |result: super::Result<()>| result.map_err(|_| Inconsistent);
        if let Effect::Flush = effect {
            let _exclusive = self.exclusive();
            self.counted_clear();
            return Ok(());
        }
        // Replay runs alone, before the server serves anyone; the shared guard is what every
        // single-key operation runs under.
        let db = self.shared();
        match *effect {
            Effect::PutString { key, value, meta } => {
                self.counted_insert(key, Value::Str(Str::copy_from(value)), meta);
                Ok(())
            }
            Effect::SetMeta { key, meta } => {
                let updated = self.counted_update(key, |current| match current {
                    Some(entry) => (
                        engine::Decision::Replace {
                            value: entry.value.clone(),
                            meta,
                        },
                        true,
                    ),
                    None => (engine::Decision::Keep, false),
                });
                if updated.output {
                    Ok(())
                } else {
                    Err(Inconsistent)
                }
            }
            Effect::Delete { key } => {
                self.counted_remove(key);
                Ok(())
            }
            Effect::ListPush { key, end, elements } => fine(db.push(key, end, elements).map(drop)),
            Effect::ListPop { key, end, count } => {
                let count = usize::try_from(count).unwrap_or(usize::MAX);
                fine(db.pop(key, end, count).map(drop))
            }
            Effect::ListSet {
                key,
                index,
                element,
            } => fine(db.lset(key, index, element)),
            Effect::ListRemove {
                key,
                count,
                element,
            } => fine(db.lrem(key, count, element).map(drop)),
            Effect::ListTrim { key, start, stop } => fine(db.ltrim(key, start, stop)),
            Effect::ListInsert {
                key,
                position,
                pivot,
                element,
            } => fine(db.linsert(key, position, pivot, element).map(drop)),
            Effect::PutList {
                key,
                meta,
                elements,
            } => {
                let items: VecDeque<Box<[u8]>> =
                    elements.iter().map(|element| Box::from(*element)).collect();
                if items.is_empty() {
                    self.counted_remove(key);
                } else {
                    self.counted_insert(key, Value::List(Arc::new(List::new(items))), meta);
                }
                Ok(())
            }
            Effect::Flush => unreachable!("handled above"),
            // The map belongs to the set of databases, which replay hands it to.
            Effect::DatabaseMap { .. } => Err(Inconsistent),
        }
    }

    /// Calls `visit` with a whole-value effect for every live key, with the version of the
    /// entry it describes: the base of an append-only-file rewrite. Each key's value is read
    /// consistently with its version (a list under its lock); keys written during the walk
    /// may be visited with either their old or their new state, which replay, keeping the
    /// highest version per key, gets right. Returns the number of keys visited.
    pub fn snapshot(&self, mut visit: impl FnMut(u64, &Effect<'_>)) -> usize {
        let mut cursor = 0;
        let mut visited = 0;
        let mut batch: Vec<(Vec<u8>, u64, Meta, Value)> = Vec::new();
        loop {
            batch.clear();
            {
                let _shared = self.shared();
                let now = self.now_ms();
                cursor = self.map.scan(cursor, 256, |key, entry| {
                    if !super::is_expired(&entry.meta, now) {
                        batch.push((key.to_vec(), entry.version, entry.meta, entry.value.clone()));
                    }
                });
            }
            for (key, version, meta, value) in &batch {
                match value {
                    Value::Str(value) => visit(
                        *version,
                        &Effect::PutString {
                            key,
                            value: value.as_bytes(),
                            meta: *meta,
                        },
                    ),
                    Value::List(list) => {
                        // Under the list's lock, re-read the version: a list mutation bumps it
                        // under this lock, so the pair (version, elements) is consistent. If
                        // the key no longer holds this list, its replacement has a later
                        // version that the new segment carries; skip it.
                        // Lock order as everywhere: the shared side first, then the list.
                        let _shared = self.shared();
                        let items = list.lock();
                        let current = self.map.get(key, |entry| match &entry.value {
                            Value::List(now) if Arc::ptr_eq(now, list) => {
                                Some((entry.version, entry.meta))
                            }
                            _ => None,
                        });
                        let Some(Some((version, meta))) = current else {
                            continue;
                        };
                        let elements: Vec<&[u8]> = items.iter().map(|item| &**item).collect();
                        visit(
                            version,
                            &Effect::PutList {
                                key,
                                meta,
                                elements: &elements,
                            },
                        );
                    }
                }
                visited += 1;
            }
            if cursor == 0 {
                return visited;
            }
        }
    }
}
