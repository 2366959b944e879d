//! The maps the engine benchmark drives: ours through the [`Engine`] trait, and the anchors
//! (papaya, scc, hashbrown) storing what the engine stores. See `engine.rs`'s module docs.

use super::FoldHash;
use engine::{Decision, Engine, Meta};
use std::borrow::Borrow;
use std::cell::UnsafeCell;
use std::hash::Hash;

/// What the benchmark needs from a map. Keys are bytes for everyone; values are `u64`.
pub(crate) trait BenchMap: Send + Sync + Sized {
    /// `false` for a map that is not thread-safe; the harness then only runs it on one thread.
    const CONCURRENT: bool = true;
    fn with_capacity(capacity: usize) -> Self;
    /// The value, if the key is present.
    fn get(&self, key: &[u8]) -> Option<u64>;
    /// Inserts or replaces.
    fn insert(&self, key: &[u8], value: u64);
    /// Whether the key was present.
    fn remove(&self, key: &[u8]) -> bool;
    /// Adds one to the value if the key is present (never inserts); whether it was present.
    fn update(&self, key: &[u8]) -> bool;
    /// Exact when no operation is in flight.
    fn len(&self) -> usize;
}

/// One of our back-ends, through the `Engine` trait and nothing else.
pub(crate) struct Ours<E>(E);

impl<E: Engine<Value = u64>> BenchMap for Ours<E> {
    fn with_capacity(capacity: usize) -> Self {
        Self(E::with_capacity(capacity))
    }
    fn get(&self, key: &[u8]) -> Option<u64> {
        self.0.get(key, |entry| entry.value)
    }
    fn insert(&self, key: &[u8], value: u64) {
        self.0.insert(key, value, Meta::default());
    }
    fn remove(&self, key: &[u8]) -> bool {
        self.0.remove(key).is_some()
    }
    fn update(&self, key: &[u8]) -> bool {
        self.0
            .update(key, |current| match current {
                Some(entry) => {
                    let value = entry.value.wrapping_add(1);
                    (
                        Decision::Replace {
                            value,
                            meta: entry.meta,
                        },
                        true,
                    )
                }
                None => (Decision::Keep, false),
            })
            .output
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// How an anchor stores a key: `Box<[u8]>` like our engines, or the `u64` itself.
pub(crate) trait StoredKey: Hash + Eq + Send + Sync + 'static {
    /// What lookups borrow the stored key as.
    type Lookup: ?Sized + Hash + Eq;
    /// The owned key, for inserts.
    fn owned(key: &[u8]) -> Self;
    /// Calls `f` with the borrowed form of `key`.
    fn lookup<R>(key: &[u8], f: impl FnOnce(&Self::Lookup) -> R) -> R;
}

impl StoredKey for Box<[u8]> {
    type Lookup = [u8];
    fn owned(key: &[u8]) -> Self {
        Box::from(key)
    }
    fn lookup<R>(key: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
        f(key)
    }
}

impl StoredKey for u64 {
    type Lookup = u64;
    fn owned(key: &[u8]) -> Self {
        u64::from_le_bytes(
            key.try_into()
                .expect("native u64 maps only get 8-byte keys"),
        )
    }
    fn lookup<R>(key: &[u8], f: impl FnOnce(&u64) -> R) -> R {
        f(&Self::owned(key))
    }
}

/// papaya, the read-heavy leader. Each operation pins its own guard, as a server would.
pub(crate) struct Papaya<K>(papaya::HashMap<K, u64, FoldHash>);

impl<K: StoredKey + Borrow<K::Lookup>> BenchMap for Papaya<K> {
    fn with_capacity(capacity: usize) -> Self {
        Self(papaya::HashMap::with_capacity_and_hasher(
            capacity,
            FoldHash::default(),
        ))
    }
    fn get(&self, key: &[u8]) -> Option<u64> {
        K::lookup(key, |key| self.0.pin().get(key).copied())
    }
    fn insert(&self, key: &[u8], value: u64) {
        self.0.pin().insert(K::owned(key), value);
    }
    fn remove(&self, key: &[u8]) -> bool {
        K::lookup(key, |key| self.0.pin().remove(key).is_some())
    }
    fn update(&self, key: &[u8]) -> bool {
        // papaya's update takes the key by value: with Box<[u8]> keys this allocates.
        self.0
            .pin()
            .update(K::owned(key), |value| value.wrapping_add(1))
            .is_some()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// scc, the write-heavy leader, through its synchronous API.
pub(crate) struct Scc<K>(scc::HashMap<K, u64, FoldHash>);

impl<K: StoredKey + Borrow<K::Lookup>> BenchMap for Scc<K> {
    fn with_capacity(capacity: usize) -> Self {
        Self(scc::HashMap::with_capacity_and_hasher(
            capacity,
            FoldHash::default(),
        ))
    }
    fn get(&self, key: &[u8]) -> Option<u64> {
        K::lookup(key, |key| self.0.read_sync(key, |_, value| *value))
    }
    fn insert(&self, key: &[u8], value: u64) {
        self.0.upsert_sync(K::owned(key), value);
    }
    fn remove(&self, key: &[u8]) -> bool {
        K::lookup(key, |key| self.0.remove_sync(key).is_some())
    }
    fn update(&self, key: &[u8]) -> bool {
        K::lookup(key, |key| {
            self.0.update_sync(key, |_, value| *value += 1).is_some()
        })
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// hashbrown with no synchronisation at all: what one core can do.
///
/// The `UnsafeCell` gives the `&self` interface the harness calls through; see the `Sync`
/// impl for why that is sound here.
pub(crate) struct Hashbrown<K>(UnsafeCell<hashbrown::HashMap<K, u64, FoldHash>>);

// SAFETY: `Hashbrown` hands out `&` and `&mut` references to the inner map from `&self`, which
// is sound only if no two threads ever use the map at the same time. (1) `CONCURRENT` is
// false, and `bench_map` skips every plan with more than one thread for such maps, so one
// worker thread runs all the operations (prefill and mix). (2) The main thread only touches
// the map (to create it, check `len` and drop it) after receiving that worker's `done` message
// and before sending its next job; the channel's send and receive order those accesses with
// the worker's. (3) Each method's reference lives only for that call, and no method calls
// another, so no `&mut` overlaps another reference even on one thread.
unsafe impl<K: Send> Sync for Hashbrown<K> {}

impl<K: StoredKey + Borrow<K::Lookup>> BenchMap for Hashbrown<K> {
    const CONCURRENT: bool = false;
    fn with_capacity(capacity: usize) -> Self {
        let map = hashbrown::HashMap::with_capacity_and_hasher(capacity, FoldHash::default());
        Self(UnsafeCell::new(map))
    }
    fn get(&self, key: &[u8]) -> Option<u64> {
        // SAFETY: one thread at a time and no overlapping references; see the `Sync` impl.
        let map = unsafe { &*self.0.get() };
        K::lookup(key, |key| map.get(key).copied())
    }
    fn insert(&self, key: &[u8], value: u64) {
        // SAFETY: one thread at a time and no overlapping references; see the `Sync` impl.
        let map = unsafe { &mut *self.0.get() };
        map.insert(K::owned(key), value);
    }
    fn remove(&self, key: &[u8]) -> bool {
        // SAFETY: one thread at a time and no overlapping references; see the `Sync` impl.
        let map = unsafe { &mut *self.0.get() };
        K::lookup(key, |key| map.remove(key).is_some())
    }
    fn update(&self, key: &[u8]) -> bool {
        // SAFETY: one thread at a time and no overlapping references; see the `Sync` impl.
        let map = unsafe { &mut *self.0.get() };
        K::lookup(key, |key| {
            map.get_mut(key).map(|value| *value += 1).is_some()
        })
    }
    fn len(&self) -> usize {
        // SAFETY: one thread at a time and no overlapping references; see the `Sync` impl.
        unsafe { &*self.0.get() }.len()
    }
}
