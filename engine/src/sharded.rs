//! # sharded: reader-writer-locked hash tables, one per shard
//!
//! The baseline back-end, and the one the others must beat. The keyspace is split into a
//! power-of-two number of shards; each shard is a [`hashbrown::HashTable`] behind a
//! [`std::sync::RwLock`], padded to its own cache line so two shards' locks never share one.
//! Reads of one shard run in parallel; a write excludes everything else in its shard only.
//!
//! ## Decisions
//!
//! * **Shard count from the core count.** `(cores * SHARDS_PER_CORE).next_power_of_two()`,
//!   the rule dashmap uses: with four times as many shards as threads, two threads rarely want
//!   the same lock, and the fixed cost (one padded lock and one empty table per shard) stays a
//!   few kilobytes.
//! * **One hash per key.** A key is hashed once with foldhash; the shard is chosen from the
//!   high bits of that hash and the same 64-bit hash is handed to the shard's table, which is a
//!   [`HashTable`] (a table that takes precomputed hashes) rather than a `HashMap` (which would
//!   hash the key a second time). The shard bits are taken from just *below* the top seven
//!   bits, because hashbrown stores the top seven bits of every hash as the entry's control tag:
//!   if the shard came from those bits, every key of a shard would share part of its tag and
//!   the SIMD probe would report more false matches. The table's low bits choose the bucket and
//!   are untouched either way.
//! * **Writes draw their version under the write lock**, after the current entry was read and
//!   before the new one is visible, which is all the crate's version contract asks.
//! * **Old values are dropped after the lock is released.** Dropping a large value (or a whole
//!   shard in [`Engine::clear`]) can take a while; nobody should wait on a lock for it.
//! * **Poisoning is ignored.** A `RwLock` is poisoned when a thread panics while holding it.
//!   Here the only code that can panic while a guard is held is a caller's closure (`read`,
//!   `decide`, `visit`), and we call those only while the table is between mutations, never
//!   half-way through one; hashbrown's own operations are panic-safe. So the table is
//!   consistent after any such panic and we take the guard out of the
//!   [`PoisonError`] instead of failing every later request.
//!
//! ## Scans
//!
//! The scan cursor is the index of the next shard to visit. Each call visits whole shards,
//! each under its read lock, until it has visited at least `count` keys or run out of shards.
//! A key present for the whole scan lives in one shard the whole time (the shard count never
//! changes) and that shard is visited once, so the key is returned; a shard's table may resize
//! between calls without affecting this. The price is that one call's work is bounded by the
//! size of the shards it visits, not by `count`: a shard holds about `len / shard_count` keys,
//! and a call always visits at least one shard even when `count` is zero, so every call makes
//! progress.

use crate::{Decision, Engine, Entry, Inserted, Meta, Updated, VersionClock};
use crossbeam_utils::CachePadded;
use foldhash::fast::RandomState;
use hashbrown::hash_table::{Entry as TableEntry, HashTable};
use std::hash::BuildHasher;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Shards per available core (before rounding up to a power of two); see the module docs.
pub const SHARDS_PER_CORE: usize = 4;

/// The number of high hash bits hashbrown keeps as each entry's control tag; the shard index is
/// taken from the bits just below them.
const TABLE_TAG_BITS: u32 = 7;

/// What a shard's table stores: the key and its entry.
type Slot<V> = (Box<[u8]>, Entry<V>);

/// One shard: a lock around a table, alone on its cache line.
type Shard<V> = CachePadded<RwLock<HashTable<Slot<V>>>>;

/// The sharded back-end: `RwLock<HashTable>` shards, shard count from the core count.
pub struct Sharded<V> {
    shards: Box<[Shard<V>]>,
    /// `64 - log2(shards.len())`: shifting the (tag-stripped) hash right by this leaves the
    /// shard index.
    shard_shift: u32,
    hasher: RandomState,
    versions: VersionClock,
}

impl<V> Sharded<V> {
    /// An empty map with `shard_count` shards (a power of two) sized for about `capacity` keys.
    fn with_capacity_and_shards(capacity: usize, shard_count: usize) -> Self {
        assert!(
            shard_count.is_power_of_two(),
            "shard count {shard_count} is not a power of two"
        );
        let shard_bits = shard_count.trailing_zeros();
        // At least one shard bit keeps the shift below 64; at most 57 keeps the index out of
        // the tag bits.
        assert!(
            (1..=u64::BITS - TABLE_TAG_BITS).contains(&shard_bits),
            "shard count {shard_count} out of range"
        );
        let per_shard = capacity.div_ceil(shard_count);
        Self {
            shards: (0..shard_count)
                .map(|_| CachePadded::new(RwLock::new(HashTable::with_capacity(per_shard))))
                .collect(),
            shard_shift: u64::BITS - shard_bits,
            hasher: RandomState::default(),
            versions: VersionClock::default(),
        }
    }

    /// The number of shards (fixed for the map's lifetime).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &RwLock<HashTable<Slot<V>>> {
        let index = (hash << TABLE_TAG_BITS) >> self.shard_shift;
        // The cast cannot truncate: index < shard_count, a usize.
        &self.shards[index as usize]
    }

    /// The hasher a table needs when it resizes: the same function that chose the bucket.
    fn rehash(&self) -> impl Fn(&Slot<V>) -> u64 + '_ {
        move |(key, _)| self.hash(key)
    }
}

/// Takes a shard's read lock, recovering from poisoning (see the module docs).
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Takes a shard's write lock, recovering from poisoning (see the module docs).
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// The number of shards for this machine: see [`SHARDS_PER_CORE`].
fn default_shard_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    (cores * SHARDS_PER_CORE).next_power_of_two()
}

impl<V: Send + Sync + 'static> Engine for Sharded<V> {
    type Value = V;

    const NAME: &'static str = "sharded";

    fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_shards(capacity, default_shard_count())
    }

    fn get<R>(&self, key: &[u8], read_entry: impl FnOnce(&Entry<V>) -> R) -> Option<R> {
        let hash = self.hash(key);
        let table = read(self.shard(hash));
        table
            .find(hash, |(candidate, _)| **candidate == *key)
            .map(|(_, entry)| read_entry(entry))
    }

    fn update<R>(
        &self,
        key: &[u8],
        mut decide: impl FnMut(Option<&Entry<V>>) -> (Decision<V>, R),
    ) -> Updated<R> {
        let hash = self.hash(key);
        // The entry this update replaced or removed, dropped once the lock is released.
        let replaced: Option<Entry<V>>;
        let updated = {
            let mut table = write(self.shard(hash));
            match table.find_entry(hash, |(candidate, _)| **candidate == *key) {
                Ok(mut occupied) => {
                    let (decision, output) = decide(Some(&occupied.get().1));
                    match decision {
                        Decision::Keep => {
                            replaced = None;
                            Updated {
                                output,
                                version: None,
                            }
                        }
                        Decision::Replace { value, meta } => {
                            let version = self.versions.next();
                            let new = Entry::new(version, meta, value);
                            replaced = Some(std::mem::replace(&mut occupied.get_mut().1, new));
                            Updated {
                                output,
                                version: Some(version),
                            }
                        }
                        Decision::Remove => {
                            let version = self.versions.next();
                            let ((_, old), _) = occupied.remove();
                            replaced = Some(old);
                            Updated {
                                output,
                                version: Some(version),
                            }
                        }
                    }
                }
                Err(absent) => {
                    replaced = None;
                    let (decision, output) = decide(None);
                    match decision {
                        // Removing an absent key is a no-op, as the contract says.
                        Decision::Keep | Decision::Remove => Updated {
                            output,
                            version: None,
                        },
                        Decision::Replace { value, meta } => {
                            let version = self.versions.next();
                            let slot = (Box::from(key), Entry::new(version, meta, value));
                            absent.into_table().insert_unique(hash, slot, self.rehash());
                            Updated {
                                output,
                                version: Some(version),
                            }
                        }
                    }
                }
            }
        };
        drop(replaced);
        updated
    }

    fn insert(&self, key: &[u8], value: V, meta: Meta) -> Inserted {
        let hash = self.hash(key);
        let (version, replaced) = {
            let mut table = write(self.shard(hash));
            match table.entry(hash, |(candidate, _)| **candidate == *key, self.rehash()) {
                TableEntry::Occupied(mut occupied) => {
                    let version = self.versions.next();
                    let new = Entry::new(version, meta, value);
                    let old = std::mem::replace(&mut occupied.get_mut().1, new);
                    (version, Some(old))
                }
                TableEntry::Vacant(vacant) => {
                    let version = self.versions.next();
                    vacant.insert((Box::from(key), Entry::new(version, meta, value)));
                    (version, None)
                }
            }
        };
        Inserted {
            version,
            replaced: replaced.map(|old| old.meta),
        }
    }

    fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &Entry<V>)) -> u64 {
        // A cursor we never handed out (past the last shard) ends the scan.
        let mut index = usize::try_from(cursor).unwrap_or(usize::MAX);
        let mut visited = 0;
        while index < self.shards.len() {
            let table = read(&self.shards[index]);
            for (key, entry) in table.iter() {
                visit(key, entry);
            }
            visited += table.len();
            drop(table);
            index += 1;
            if visited >= count {
                break;
            }
        }
        if index >= self.shards.len() {
            0
        } else {
            // Never 0 here: at least one shard was visited, so index >= 1.
            index as u64
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|shard| read(shard).len()).sum()
    }

    fn clear(&self) {
        for shard in self.shards.iter() {
            // Swap the table out under the lock and drop its entries after releasing it.
            let removed = std::mem::take(&mut *write(shard));
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
    fn shard_count_follows_core_count() {
        let map = Sharded::<u64>::new();
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        assert!(map.shard_count().is_power_of_two());
        assert!(map.shard_count() >= cores * SHARDS_PER_CORE);
        assert!(map.shard_count() < 2 * cores * SHARDS_PER_CORE);
    }

    #[test]
    fn keys_spread_over_every_shard() {
        let map = Sharded::<u64>::with_capacity_and_shards(0, 16);
        for i in 0..4096 {
            map.insert(&key(i), i as u64, Meta::default());
        }
        // 256 keys per shard on average: an empty shard would mean a broken shard index.
        for shard in map.shards.iter() {
            assert!(read(shard).len() > 100);
        }
        assert_eq!(map.len(), 4096);
    }

    #[test]
    fn scan_cursor_walks_every_shard_in_order() {
        let map = Sharded::<u64>::with_capacity_and_shards(0, 16);
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
        assert_eq!(calls, 16);
        assert_eq!(seen, expected);

        // A large count finishes in one call; a bogus cursor ends the scan.
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
        let map = Sharded::<u64>::new();
        let keep = map.update(b"k", |current| (Decision::Keep, current.is_none()));
        assert_eq!(
            keep,
            Updated {
                output: true,
                version: None
            }
        );
        assert_eq!(map.update(b"k", |_| (Decision::Remove, ())).version, None);
        assert_eq!(map.len(), 0);

        let first = map.insert(b"k", 1, Meta::default()).version;
        let second = map
            .update(b"k", |current| {
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
        assert!(second > first);
        assert_eq!(
            map.get(b"k", |entry| (entry.value, entry.version)),
            Some((2, second))
        );
        let removed = map.remove(b"k").unwrap();
        assert!(removed > second);
        assert_eq!(map.get(b"k", |_| ()), None);
    }

    #[test]
    fn panicking_closure_poisons_nothing() {
        let map = Sharded::<u64>::with_capacity_and_shards(0, 2);
        map.insert(b"k", 1, Meta::default());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map.update(b"k", |_| -> (Decision<u64>, ()) { panic!("decide panics") })
        }));
        assert!(panicked.is_err());
        // The shard's lock is poisoned now; the map keeps working and kept the entry.
        assert_eq!(map.get(b"k", |entry| entry.value), Some(1));
        map.insert(b"k", 2, Meta::default());
        assert_eq!(map.get(b"k", |entry| entry.value), Some(2));
        map.clear();
        assert!(map.is_empty());
    }

    #[test]
    fn concurrent_updates_are_atomic() {
        const THREADS: usize = 4;
        const ROUNDS: u64 = if cfg!(miri) { 20 } else { 2000 };
        let map = Sharded::<u64>::with_capacity_and_shards(0, 2);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    let mut last = 0;
                    for _ in 0..ROUNDS {
                        let updated = map.update(b"counter", |current| {
                            let value = current.map_or(0, |entry| entry.value) + 1;
                            (
                                Decision::Replace {
                                    value,
                                    meta: Meta::default(),
                                },
                                (),
                            )
                        });
                        let version = updated.version.unwrap();
                        assert!(version > last);
                        last = version;
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
