//! # flurry: a thin adapter over the `flurry` crate
//!
//! [`flurry::HashMap`] is a port of Java's `ConcurrentHashMap`: lock-free reads, and writes
//! that lock one bin (a short chain of nodes) at a time, with a resize that many threads help
//! with. It stands for the "lock-free reads, fine-grained write locks" corner of the design
//! space, between our `RwLock` shards and our fully lock-free table.
//!
//! ## Atomic updates: the tombstone protocol
//!
//! Our version contract needs every install and every removal to draw its version after
//! observing the entry it replaces and before publishing, which means under flurry's bin lock.
//! The one flurry call that runs our code under the bin lock is
//! [`compute_if_present`](flurry::HashMap::compute_if_present), and it does nothing for an
//! absent key; flurry has no atomic "update or insert". So the map's values are `Slot`s,
//! which may be a `Slot::Tombstone` that every read treats as absent, and
//! [`Engine::update`] runs this loop:
//!
//! 1. `compute_if_present(key, f)`. Under the bin lock, `f` calls the caller's closure with
//!    the entry, or with `None` for a tombstone, draws the version, and returns the new slot
//!    (Replace), `None` to remove the node (Remove, and also Keep or Remove on a tombstone, so a
//!    tombstone never outlives the update that resolves it), or a clone of the current entry
//!    (Keep on a present key: flurry cannot express "leave it alone", hence the `Clone` bound
//!    below). If `f` ran, we are done.
//! 2. Otherwise the key was absent: `try_insert(key, Tombstone)`, ignoring whether it wins
//!    (if it loses, some other slot is there, which is what we wanted), and go back to 1. If
//!    the key is removed again between the two steps, step 1 misses and we loop.
//!
//! Starting with step 1 costs a present key one map operation instead of two. Every install
//! draws its version under the bin lock after observing what it replaces, so a key's versions
//! only grow and removals are ordered with the writes around them. The closure runs exactly
//! once. [`Engine::insert`] is the same loop with a closure that always replaces; a plain
//! `flurry::HashMap::insert` would draw its version before taking the lock and could install
//! it over a newer one.
//!
//! A tombstone is only inserted by an update that then keeps calling step 1 until it resolves
//! *some* slot of that key, and resolving a tombstone removes or replaces it, so no tombstone
//! survives once every update has returned: [`Engine::len`] (which counts flurry's nodes,
//! tombstones included) is exact when the map is quiescent and may count in-flight tombstones
//! otherwise, which the contract allows. The price is paid by updates that find the key
//! absent: even one that decides Keep plants a tombstone and removes it again, two writes under
//! the bin lock where the other back-ends take one lock and write nothing.
//!
//! ## Why `V: Clone`
//!
//! Only this back-end needs it, for Keep on a present key (see step 1). The clone keeps the
//! version, metadata and access clock, but it is a new allocation that replaces the old one:
//! an access recorded on the old entry by a concurrent reader after we copied its clock is
//! lost, which is harmless for an eviction hint.
//!
//! ## Scans
//!
//! flurry exposes neither shards nor stable positions to resume from, only an iterator over the
//! whole map. So [`Engine::scan`] ignores `cursor` and `count`, visits every key in one call
//! and returns 0. That keeps the SCAN guarantee (every key present throughout is visited), but
//! one call costs a walk of the whole keyspace: a server on this back-end answers SCAN with all
//! keys at once, so it should not be used with keyspaces too large for that.

use crate::{AccessClock, Decision, Engine, Entry, Inserted, Meta, Updated, VersionClock};
use foldhash::fast::RandomState;

/// What the flurry map stores for a key.
#[derive(Debug)]
enum Slot<V> {
    /// A placeholder an update inserted so that `compute_if_present` has something to lock;
    /// every read treats it as absent. See the module docs.
    Tombstone,
    /// A live entry.
    Present(Entry<V>),
}

/// The flurry back-end.
pub struct FlurryEngine<V> {
    map: flurry::HashMap<Box<[u8]>, Slot<V>, RandomState>,
    versions: VersionClock,
}

/// A copy of `entry` with the same version, metadata and access time, for Keep.
fn clone_entry<V: Clone>(entry: &Entry<V>) -> Entry<V> {
    Entry {
        version: entry.version,
        meta: entry.meta,
        access: AccessClock::new(entry.access.get()),
        value: entry.value.clone(),
    }
}

impl<V: Clone + Send + Sync + 'static> FlurryEngine<V> {
    /// The update loop of the module docs, with a closure that is called exactly once.
    fn update_once<R>(
        &self,
        key: &[u8],
        decide: impl FnOnce(Option<&Entry<V>>) -> (Decision<V>, R),
    ) -> Updated<R> {
        let guard = self.map.guard();
        // `decide` moves into the remapping closure of the one `compute_if_present` that finds
        // the key; that closure leaves the result here.
        let mut decide = Some(decide);
        let mut updated = None;
        loop {
            self.map.compute_if_present(
                key,
                |_, slot| {
                    let decide = decide.take().expect("flurry remapped a key twice");
                    let current = match slot {
                        Slot::Present(entry) => Some(entry),
                        Slot::Tombstone => None,
                    };
                    let (decision, output) = decide(current);
                    let (version, new) = match (decision, current) {
                        (Decision::Keep, Some(entry)) => {
                            (None, Some(Slot::Present(clone_entry(entry))))
                        }
                        // Keep or Remove of a tombstone: nothing changes for readers, and
                        // removing the node leaves no tombstone behind.
                        (Decision::Keep | Decision::Remove, None) => (None, None),
                        (Decision::Remove, Some(_)) => (Some(self.versions.next()), None),
                        (Decision::Replace { value, meta }, _) => {
                            let version = self.versions.next();
                            (
                                Some(version),
                                Some(Slot::Present(Entry::new(version, meta, value))),
                            )
                        }
                    };
                    updated = Some(Updated { output, version });
                    new
                },
                &guard,
            );
            if let Some(updated) = updated {
                return updated;
            }
            // The key is absent: plant a tombstone for the next round to lock. Losing the race
            // to another writer is as good as winning.
            let _ = self.map.try_insert(Box::from(key), Slot::Tombstone, &guard);
        }
    }
}

impl<V: Clone + Send + Sync + 'static> Engine for FlurryEngine<V> {
    type Value = V;

    const NAME: &'static str = "flurry";

    fn with_capacity(capacity: usize) -> Self {
        Self {
            map: flurry::HashMap::with_capacity_and_hasher(capacity, RandomState::default()),
            versions: VersionClock::default(),
        }
    }

    fn get<R>(&self, key: &[u8], read: impl FnOnce(&Entry<V>) -> R) -> Option<R> {
        let guard = self.map.guard();
        match self.map.get(key, &guard)? {
            Slot::Present(entry) => Some(read(entry)),
            Slot::Tombstone => None,
        }
    }

    fn update<R>(
        &self,
        key: &[u8],
        decide: impl FnMut(Option<&Entry<V>>) -> (Decision<V>, R),
    ) -> Updated<R> {
        self.update_once(key, decide)
    }

    fn insert(&self, key: &[u8], value: V, meta: Meta) -> Inserted {
        let updated = self.update_once(key, |current| {
            (
                Decision::Replace { value, meta },
                current.map(|entry| entry.meta),
            )
        });
        Inserted {
            version: updated.version.expect("a Replace always installs"),
            replaced: updated.output,
        }
    }

    fn scan(&self, _cursor: u64, _count: usize, mut visit: impl FnMut(&[u8], &Entry<V>)) -> u64 {
        // The whole map in one call; see the module docs.
        let guard = self.map.guard();
        for (key, slot) in self.map.iter(&guard) {
            if let Slot::Present(entry) = slot {
                visit(key, entry);
            }
        }
        0
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn clear(&self) {
        let guard = self.map.guard();
        self.map.clear(&guard);
    }

    fn versions(&self) -> &VersionClock {
        &self.versions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn keep_or_remove_on_absent_leaves_no_tombstone() {
        let map = FlurryEngine::<u64>::new();
        let keep = map.update(b"k", |current| (Decision::Keep, current.is_none()));
        assert_eq!(
            keep,
            Updated {
                output: true,
                version: None
            }
        );
        assert_eq!(map.len(), 0);
        assert_eq!(map.remove(b"k"), None);
        assert_eq!(map.len(), 0);
        assert_eq!(map.map.pin().get(b"k".as_slice()).map(|_| ()), None);
    }

    #[test]
    fn tombstones_read_as_absent_and_are_resolved() {
        let map = FlurryEngine::<u64>::new();
        // Plant tombstones as an update in flight would.
        for key in [b"a", b"b", b"c"] {
            map.map
                .pin()
                .insert(Box::from(key.as_slice()), Slot::Tombstone);
        }
        map.insert(b"live", 7, Meta::default());
        assert_eq!(map.get(b"a", |_| ()), None);
        let mut seen = Vec::new();
        assert_eq!(map.scan(0, 1, |key, _| seen.push(key.to_vec())), 0);
        assert_eq!(seen, vec![b"live".to_vec()]);

        // Keep, Remove and Replace each resolve the tombstone they find.
        let keep = map.update(b"a", |current| (Decision::Keep, current.is_none()));
        assert_eq!(
            keep,
            Updated {
                output: true,
                version: None
            }
        );
        assert_eq!(map.update(b"b", |_| (Decision::Remove, ())).version, None);
        let replaced = map.update(b"c", |current| {
            assert!(current.is_none());
            (
                Decision::Replace {
                    value: 3,
                    meta: Meta::default(),
                },
                (),
            )
        });
        assert_eq!(
            map.get(b"c", |entry| (entry.value, entry.version)),
            replaced.version.map(|v| (3, v))
        );
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn keep_on_present_keeps_version_and_value() {
        let map = FlurryEngine::<String>::new();
        let meta = Meta {
            expire_at_ms: 5,
            flags: 9,
        };
        let version = map.insert(b"k", "v".to_owned(), meta).version;
        map.get(b"k", |entry| entry.access.set(42));
        let mut calls = 0;
        let keep = map.update(b"k", |current| {
            calls += 1;
            (Decision::Keep, current.map(|entry| entry.value.clone()))
        });
        assert_eq!(calls, 1);
        assert_eq!(
            keep,
            Updated {
                output: Some("v".to_owned()),
                version: None
            }
        );
        let after = map.get(b"k", |entry| {
            (
                entry.version,
                entry.meta,
                entry.access.get(),
                entry.value.clone(),
            )
        });
        assert_eq!(after, Some((version, meta, 42, "v".to_owned())));
        assert!(map.remove(b"k").unwrap() > version);
        assert!(map.is_empty());
    }

    #[test]
    fn scan_visits_everything_in_one_call() {
        let map = FlurryEngine::<u64>::new();
        let expected: BTreeSet<Vec<u8>> =
            (0..500).map(|i| format!("key:{i}").into_bytes()).collect();
        for key in &expected {
            map.insert(key, 0, Meta::default());
        }
        let mut seen = BTreeSet::new();
        assert_eq!(
            map.scan(0, 10, |key, _| assert!(seen.insert(key.to_vec()))),
            0
        );
        assert_eq!(seen, expected);
        map.clear();
        assert!(map.is_empty());
    }

    #[test]
    fn concurrent_updates_and_removals_are_atomic() {
        const THREADS: usize = 4;
        const ROUNDS: u64 = if cfg!(miri) { 20 } else { 2000 };
        let map = FlurryEngine::<u64>::new();
        // One thread keeps removing a second key and another keeps Keep-ing it while it is
        // absent, so tombstones are planted and resolved concurrently with the increments.
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
                        match thread {
                            0 => {
                                map.remove(b"flicker");
                            }
                            1 => {
                                map.update(b"flicker", |_| (Decision::Keep, ()));
                            }
                            _ => {
                                map.insert(b"flicker", 1, Meta::default());
                            }
                        }
                    }
                });
            }
        });
        assert_eq!(
            map.get(b"counter", |entry| entry.value),
            Some(THREADS as u64 * ROUNDS)
        );
        // Quiescent: no tombstone is left, so len counts exactly the live keys.
        let live = usize::from(map.get(b"flicker", |_| ()).is_some());
        assert_eq!(map.len(), 1 + live);
    }
}
