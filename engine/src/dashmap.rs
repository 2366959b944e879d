//! # dashmap: a thin adapter over the `dashmap` crate
//!
//! [`::dashmap::DashMap`] is the most used concurrent map in the Rust ecosystem and has the
//! same design as our [`sharded`](crate::sharded) baseline: `RwLock`-protected hashbrown tables,
//! `(cores * 4).next_power_of_two()` shards, the shard chosen from the hash bits just below
//! hashbrown's tag and the same hash reused inside the shard. What differs is the lock (its own
//! spin-then-park `RwLock` on `parking_lot_core` where we use std's) and the table (hashbrown
//! 0.14's `RawTable` where we use 0.17's `HashTable`), so comparing the two measures exactly
//! those choices, and this adapter does as little as it can to keep it that way.
//!
//! ## Atomic updates through the public API
//!
//! [`Engine::update`] must read the current entry and install its decision under one write
//! lock. dashmap offers no single call that does that for both a present and an absent key,
//! so an update takes two steps, each of which holds one shard write lock from reading to
//! installing:
//!
//! 1. [`DashMap::remove_if_mut`](::dashmap::DashMap::remove_if_mut) handles a present key: its
//!    closure gets `&mut Entry` under the write lock, and we replace the entry in place
//!    (Replace), remove it by returning `true` (Remove) or leave it (Keep). `get_mut` would
//!    do for Keep and Replace but cannot remove under the same lock.
//! 2. If the key was absent, [`DashMap::entry`](::dashmap::DashMap::entry) takes the write lock
//!    again and looks once more: another thread may have inserted the key in between, so both
//!    the occupied and the vacant case are handled there. `entry` needs an owned key, so the
//!    key is only allocated on this path.
//!
//! The closure runs in exactly one of the two steps, so it is called exactly once. The version
//! is drawn inside the step that installs, after reading the current entry and before
//! releasing the lock.
//!
//! ## Scans
//!
//! As in [`sharded`](crate::sharded): the cursor is the index of the next shard, and each call
//! visits whole shards under their read locks until `count` keys were visited (at least one
//! shard per call), so per-call work is bounded by shard size, not by `count`. dashmap's own
//! iterator always starts at shard 0 and cannot resume, so we reach the shards through its
//! `raw-api` ([`DashMap::shards`](::dashmap::DashMap::shards)). The shard tables are
//! hashbrown 0.14 `RawTable`s whose iterator is an `unsafe fn`; [`DashMapEngine::scan`] holds
//! the one `unsafe` block of this module, justified there.

use crate::{Decision, Engine, Entry, Inserted, Meta, Updated, VersionClock};
use ::dashmap::mapref::entry::Entry as MapEntry;
use ::dashmap::DashMap;
use foldhash::fast::RandomState;

/// The dashmap back-end.
pub struct DashMapEngine<V> {
    map: DashMap<Box<[u8]>, Entry<V>, RandomState>,
    versions: VersionClock,
}

impl<V> DashMapEngine<V> {
    /// The number of shards (fixed for the map's lifetime; one scan cursor step each).
    pub fn shard_count(&self) -> usize {
        self.map.shards().len()
    }
}

impl<V: Send + Sync + 'static> Engine for DashMapEngine<V> {
    type Value = V;

    const NAME: &'static str = "dashmap";

    fn with_capacity(capacity: usize) -> Self {
        Self {
            // dashmap's default shard count is the one we want: (cores * 4).next_power_of_two().
            map: DashMap::with_capacity_and_hasher(capacity, RandomState::default()),
            versions: VersionClock::default(),
        }
    }

    fn get<R>(&self, key: &[u8], read: impl FnOnce(&Entry<V>) -> R) -> Option<R> {
        self.map.view(key, |_, entry| read(entry))
    }

    fn update<R>(
        &self,
        key: &[u8],
        mut decide: impl FnMut(Option<&Entry<V>>) -> (Decision<V>, R),
    ) -> Updated<R> {
        // Step 1: the key is present. `replaced` carries the old entry of a Replace out of the
        // lock so it is dropped after the lock is released (a removed entry is returned by
        // `remove_if_mut` and dropped after the lock too).
        let mut updated = None;
        let mut replaced = None;
        let removed = self.map.remove_if_mut(key, |_, current| {
            let (decision, output) = decide(Some(current));
            let (version, remove) = match decision {
                Decision::Keep => (None, false),
                Decision::Replace { value, meta } => {
                    let version = self.versions.next();
                    replaced = Some(std::mem::replace(current, Entry::new(version, meta, value)));
                    (Some(version), false)
                }
                Decision::Remove => (Some(self.versions.next()), true),
            };
            updated = Some(Updated { output, version });
            remove
        });
        drop((removed, replaced));
        if let Some(updated) = updated {
            return updated;
        }

        // Step 2: the key was absent a moment ago; look again under a fresh write lock.
        let (updated, replaced) = match self.map.entry(Box::from(key)) {
            MapEntry::Occupied(mut occupied) => {
                let (decision, output) = decide(Some(occupied.get()));
                match decision {
                    Decision::Keep => (
                        Updated {
                            output,
                            version: None,
                        },
                        None,
                    ),
                    Decision::Replace { value, meta } => {
                        let version = self.versions.next();
                        let old = occupied.insert(Entry::new(version, meta, value));
                        (
                            Updated {
                                output,
                                version: Some(version),
                            },
                            Some(old),
                        )
                    }
                    Decision::Remove => {
                        let version = self.versions.next();
                        let old = occupied.remove();
                        (
                            Updated {
                                output,
                                version: Some(version),
                            },
                            Some(old),
                        )
                    }
                }
            }
            MapEntry::Vacant(vacant) => {
                let (decision, output) = decide(None);
                match decision {
                    Decision::Keep | Decision::Remove => (
                        Updated {
                            output,
                            version: None,
                        },
                        None,
                    ),
                    Decision::Replace { value, meta } => {
                        let version = self.versions.next();
                        vacant.insert(Entry::new(version, meta, value));
                        (
                            Updated {
                                output,
                                version: Some(version),
                            },
                            None,
                        )
                    }
                }
            }
        };
        // The entry, and with it the lock, was dropped at the end of its match arm.
        drop(replaced);
        updated
    }

    fn insert(&self, key: &[u8], value: V, meta: Meta) -> Inserted {
        // Present key: replace in place under the write lock `get_mut` holds, no key allocation.
        if let Some(mut current) = self.map.get_mut(key) {
            let version = self.versions.next();
            let old = std::mem::replace(&mut *current, Entry::new(version, meta, value));
            drop(current);
            let replaced = Some(old.meta);
            drop(old);
            return Inserted { version, replaced };
        }
        // Absent a moment ago: `entry` handles both outcomes under one write lock.
        let (version, replaced) = match self.map.entry(Box::from(key)) {
            MapEntry::Occupied(mut occupied) => {
                let version = self.versions.next();
                (
                    version,
                    Some(occupied.insert(Entry::new(version, meta, value))),
                )
            }
            MapEntry::Vacant(vacant) => {
                let version = self.versions.next();
                vacant.insert(Entry::new(version, meta, value));
                (version, None)
            }
        };
        // The entry, and with it the lock, was dropped at the end of its match arm.
        Inserted {
            version,
            replaced: replaced.map(|old| old.meta),
        }
    }

    fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &Entry<V>)) -> u64 {
        let shards = self.map.shards();
        // A cursor we never handed out (past the last shard) ends the scan.
        let mut index = usize::try_from(cursor).unwrap_or(usize::MAX);
        let mut visited = 0;
        while index < shards.len() {
            let table = shards[index].read();
            // SAFETY: `RawTable::iter` requires that the table outlive the iterator, and
            // `Bucket::as_ref` that the bucket still hold an element and not be mutated while
            // the reference lives. (1) The iterator and every reference it yields are used only
            // inside this loop body, while `table` (the shard's read guard) is alive, so the
            // table is neither freed nor resized. (2) The read guard excludes every writer,
            // and dashmap only mutates a shard under its write lock, so no bucket is erased or
            // written while we read it. (3) `RawIter` yields only full buckets.
            for bucket in unsafe { table.iter() } {
                // SAFETY: see above.
                let (key, entry) = unsafe { bucket.as_ref() };
                visit(key, entry.get());
            }
            visited += table.len();
            drop(table);
            index += 1;
            if visited >= count {
                break;
            }
        }
        if index >= shards.len() {
            0
        } else {
            // Never 0 here: at least one shard was visited, so index >= 1.
            index as u64
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn clear(&self) {
        // `DashMap::clear` would drop every entry under the shard's write lock; swapping each
        // table out and dropping it after the lock is released keeps the locks short.
        for shard in self.map.shards() {
            let removed = std::mem::take(&mut *shard.write());
            drop(removed);
        }
    }

    fn versions(&self) -> &VersionClock {
        &self.versions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn key(i: usize) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    #[test]
    fn scan_cursor_walks_every_shard_in_order() {
        let map = DashMapEngine::<u64>::new();
        let expected: BTreeSet<Vec<u8>> = (0..1000).map(key).collect();
        for k in &expected {
            map.insert(k, 0, Meta::default());
        }
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            // count 0 must still make progress: one whole shard per call.
            let next = map.scan(cursor, 0, |k, _| assert!(seen.insert(k.to_vec())));
            calls += 1;
            if next == 0 {
                break;
            }
            assert_eq!(next, cursor + 1);
            cursor = next;
        }
        assert_eq!(calls, map.shard_count());
        assert_eq!(seen, expected);

        let mut visited = 0;
        assert_eq!(map.scan(0, usize::MAX, |_, _| visited += 1), 0);
        assert_eq!(visited, 1000);
        assert_eq!(
            map.scan(u64::MAX, 10, |_, _| panic!("visited past the end")),
            0
        );
    }

    #[test]
    fn update_reports_versions_per_decision() {
        let map = DashMapEngine::<u64>::new();
        let keep = map.update(b"k", |current| (Decision::Keep, current.is_none()));
        assert_eq!(
            keep,
            Updated {
                output: true,
                version: None
            }
        );
        assert_eq!(map.update(b"k", |_| (Decision::Remove, ())).version, None);
        assert!(map.is_empty());

        let first = map.insert(b"k", 1, Meta::default()).version;
        let mut calls = 0;
        let second = map
            .update(b"k", |current| {
                calls += 1;
                let value = current.unwrap().value + 1;
                (
                    Decision::Replace {
                        value,
                        meta: Meta::default(),
                    },
                    (),
                )
            })
            .version
            .unwrap();
        assert_eq!(calls, 1);
        assert!(second > first);
        assert_eq!(
            map.get(b"k", |entry| (entry.value, entry.version)),
            Some((2, second))
        );
        let third = map.insert(b"k", 3, Meta::default());
        assert_eq!(third.replaced, Some(Meta::default()));
        let third = third.version;
        assert!(third > second);
        assert!(map.remove(b"k").unwrap() > third);
        assert_eq!(map.get(b"k", |_| ()), None);

        map.insert(b"a", 1, Meta::default());
        map.insert(b"b", 2, Meta::default());
        map.clear();
        assert!(map.is_empty());
    }

    #[test]
    fn concurrent_updates_and_removals_are_atomic() {
        const THREADS: usize = 4;
        const ROUNDS: u64 = if cfg!(miri) { 20 } else { 2000 };
        let map = DashMapEngine::<u64>::new();
        // Every thread increments one counter; one thread also keeps removing and re-adding a
        // second key, so the others' updates of it race between remove_if_mut and entry.
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let map = &map;
                scope.spawn(move || {
                    for _ in 0..ROUNDS {
                        map.update(b"counter", |current| {
                            let value = current.map_or(0, |entry| entry.value) + 1;
                            (
                                Decision::Replace {
                                    value,
                                    meta: Meta::default(),
                                },
                                (),
                            )
                        });
                        if thread == 0 {
                            map.remove(b"flicker");
                        } else {
                            map.update(b"flicker", |current| {
                                let value = current.map_or(0, |entry| entry.value) + 1;
                                (
                                    Decision::Replace {
                                        value,
                                        meta: Meta::default(),
                                    },
                                    (),
                                )
                            });
                        }
                    }
                });
            }
        });
        assert_eq!(
            map.get(b"counter", |entry| entry.value),
            Some(THREADS as u64 * ROUNDS)
        );
    }
}
