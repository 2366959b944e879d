//! # engine: one trait, several concurrent maps
//!
//! WorkingDB keeps its whole keyspace in one concurrent map shared by every event-loop thread.
//! Which map is best is an open research question (read-heavy caches favour lock-free reads,
//! write-heavy loads favour fine-grained locks), so the server is generic over the [`Engine`]
//! trait and `--engine` picks the back-end at start-up. Dispatch is static: every call site is
//! monomorphised for the chosen back-end, so the trait costs nothing on the hot path.
//!
//! ## The contract
//!
//! Keys are byte strings. Each key maps to an [`Entry`]: the value (a type parameter, so the
//! keyspace can store typed values; byte strings for plain use), the keyspace's metadata
//! ([`Meta`]: expiry, memcached flags) and an access clock for LRU/LFU, all in the same
//! allocation as the entry, and a `version`.
//!
//! The operations are the ones a key-value server needs and nothing more:
//!
//! * [`Engine::get`]: read an entry in place through a closure (no copy, no clone);
//! * [`Engine::update`]: atomic read-modify-write of one key. The closure sees the current
//!   entry, or `None`, and returns a [`Decision`]: keep it, replace it, or remove it. Back-ends
//!   built on optimistic concurrency may call the closure more than once, so it must only
//!   compute (its result is taken from the call whose decision was installed);
//! * [`Engine::remove`];
//! * [`Engine::scan`]: a resumable cursor scan with Redis SCAN's guarantee: a key present for
//!   the whole scan is returned at least once, even when the table resizes between calls
//!   (keys may be returned more than once);
//! * [`Engine::len`] and [`Engine::clear`].
//!
//! ## Versions
//!
//! Every installed entry carries a `version: u64` drawn from the engine's one [`VersionClock`]
//! at the moment the write is installed, and a write only ever installs a version higher than
//! the one it replaces; a removal draws a version too. Readers therefore never see a key's
//! version go backwards. Versions become the memcached CAS value, the WATCH token and the order
//! of the append-only file: replaying records in version order reproduces exactly the state
//! clients saw, however many threads wrote the same key at once.
//!
//! Every back-end draws the version *after* it has observed the entry it replaces and *before*
//! its write becomes visible (under the shard lock, or before the publishing compare-and-swap).
//! The replaced entry's version was drawn before that entry was published, and we observed the
//! publication, so our draw comes later in the counter's modification order and is larger.
//!
//! ## Back-ends
//!
//! | module | design |
//! |---|---|
//! | [`sharded`] | `RwLock<hashbrown::HashMap>` shards, shard count from the core count: the baseline |
//! | [`dashmap`](crate::dashmap) | a thin adapter over the `dashmap` crate |
//! | [`flurry`](crate::flurry) | a thin adapter over the `flurry` crate (Java's ConcurrentHashMap) |
//! | [`lockfree`] | our own lock-free open-addressing table with epoch reclamation |
//!
//! Every atomic of the lock-free table comes from [`sync`](crate::sync), which switches to
//! `loom` under `cfg(loom)` so the table can be model-checked.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod counter;
#[cfg(not(loom))]
pub mod dashmap;
#[cfg(not(loom))]
pub mod flurry;
pub mod lockfree;
#[cfg(not(loom))]
pub mod sharded;
pub mod sync;

pub use lockfree::LockFree;

use std::sync::atomic::{AtomicU32, Ordering as StdOrdering};

/// The names `--engine` accepts, in the order the benchmarks list them.
pub const BACKEND_NAMES: [&str; 4] = ["sharded", "dashmap", "flurry", "lockfree"];

/// The keyspace's per-key metadata, stored inline in every entry.
///
/// It is a plain `Copy` struct so a [`Decision::Replace`] can carry it along with the value.
///
/// Packed to 12 bytes (4-byte alignment) so that it and the entry's 4-byte [`AccessClock`] fill
/// 16 bytes together: an [`Entry`] of the keyspace is then 64 bytes instead of 72, and a node of
/// the lock-free table with a 16-byte key fits mimalloc's 96-byte size class instead of 112.
/// The price is that its fields cannot be borrowed, only copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C, packed(4))]
pub struct Meta {
    /// Absolute expiry time in milliseconds since the Unix epoch; `0` means "never expires".
    pub expire_at_ms: u64,
    /// memcached's opaque 32-bit client flags (`0` for keys written over RESP).
    pub flags: u32,
}

/// An LRU/LFU clock that readers may update in place.
///
/// It is a hint for eviction, never a synchronisation point, so it is a std atomic even under
/// loom (loom would only multiply the explored interleavings without checking anything) and all
/// accesses are `Relaxed`: no other memory is published through it.
#[derive(Debug, Default)]
pub struct AccessClock(AtomicU32);

impl AccessClock {
    /// A clock reading `value`.
    pub fn new(value: u32) -> Self {
        Self(AtomicU32::new(value))
    }

    /// The last recorded access.
    pub fn get(&self) -> u32 {
        // Relaxed: a hint; see the type's docs.
        self.0.load(StdOrdering::Relaxed)
    }

    /// Records an access at `now` (the keyspace's coarse clock).
    pub fn set(&self, now: u32) {
        // Relaxed: a hint; see the type's docs.
        self.0.store(now, StdOrdering::Relaxed)
    }
}

/// What a key maps to.
#[derive(Debug)]
pub struct Entry<V> {
    /// Drawn from the engine's [`VersionClock`] when this entry was installed; strictly larger
    /// than the version of the entry it replaced.
    pub version: u64,
    /// Expiry and flags.
    pub meta: Meta,
    /// Last access, for LRU/LFU eviction.
    pub access: AccessClock,
    /// The value itself.
    pub value: V,
}

impl<V> Entry<V> {
    /// A fresh entry; the access clock starts at zero.
    pub fn new(version: u64, meta: Meta, value: V) -> Self {
        Self {
            version,
            meta,
            access: AccessClock::default(),
            value,
        }
    }
}

/// What an [`Engine::update`] closure wants done with the key.
#[derive(Debug)]
pub enum Decision<V> {
    /// Leave the key as it is (present or absent). No version is drawn.
    Keep,
    /// Install a new entry with this value and metadata; the engine stamps the version.
    Replace {
        /// The new value.
        value: V,
        /// The new metadata.
        meta: Meta,
    },
    /// Remove the key. Removing an absent key is the same as [`Decision::Keep`].
    Remove,
}

/// The result of an [`Engine::update`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Updated<R> {
    /// What the closure returned along with the decision that was installed.
    pub output: R,
    /// The version of the installed entry or of the removal; `None` when nothing changed.
    pub version: Option<u64>,
}

/// The result of an [`Engine::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    /// The version of the installed entry.
    pub version: u64,
    /// The metadata of the live entry the insert replaced; `None` when the key was absent.
    /// The keyspace counts keys with an expiry from it, as it does from the entry an
    /// [`Engine::update`] closure sees.
    pub replaced: Option<Meta>,
}

/// The one counter every version of an engine is drawn from.
///
/// Cache-padded because every write of every thread increments it.
#[derive(Debug)]
pub struct VersionClock(crossbeam_utils::CachePadded<sync::AtomicU64>);

impl Default for VersionClock {
    fn default() -> Self {
        Self(crossbeam_utils::CachePadded::new(sync::AtomicU64::new(0)))
    }
}

impl VersionClock {
    /// Draws a fresh version, larger than every version drawn before it.
    pub fn next(&self) -> u64 {
        // Relaxed is enough: the guarantee we need is "larger than the version of the entry
        // being replaced". That entry's draw happens-before its publication (Release), which
        // happens-before our observation of it (Acquire), which is sequenced before this
        // fetch_add; read-modify-writes of one atomic are totally ordered consistently with
        // happens-before, so our increment comes later and returns a larger value.
        self.0.fetch_add(1, sync::Ordering::Relaxed) + 1
    }

    /// The last version drawn.
    pub fn current(&self) -> u64 {
        self.0.load(sync::Ordering::Relaxed)
    }

    /// Makes every future version larger than `version` (replay calls this for each record).
    pub fn observe(&self, version: u64) {
        // Relaxed: replay runs before the server accepts clients; the thread spawn that follows
        // publishes the value.
        self.0.fetch_max(version, sync::Ordering::Relaxed);
    }
}

/// A concurrent map from byte-string keys to [`Entry`]s. See the crate docs for the contract.
pub trait Engine: Send + Sync + Sized + 'static {
    /// The value stored in each entry.
    type Value: Send + Sync + 'static;

    /// The name `--engine` knows this back-end by.
    const NAME: &'static str;

    /// An empty map sized for about `capacity` keys.
    fn with_capacity(capacity: usize) -> Self;

    /// An empty map.
    fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Calls `read` with the key's entry, if present, and returns its result.
    ///
    /// The entry is borrowed in place: `read` must not block or call back into the engine.
    fn get<R>(&self, key: &[u8], read: impl FnOnce(&Entry<Self::Value>) -> R) -> Option<R>;

    /// Atomic read-modify-write of one key.
    ///
    /// `decide` sees the current entry (or `None`) and returns a [`Decision`] and an output.
    /// It may be called several times; only the call whose decision is installed counts, and
    /// its output is returned. It must not call back into the engine.
    fn update<R>(
        &self,
        key: &[u8],
        decide: impl FnMut(Option<&Entry<Self::Value>>) -> (Decision<Self::Value>, R),
    ) -> Updated<R>;

    /// Removes the key; returns the version drawn for the removal, or `None` if it was absent.
    fn remove(&self, key: &[u8]) -> Option<u64> {
        self.update(key, |_| (Decision::Remove, ())).version
    }

    /// Inserts or replaces the key without looking at what was there; returns the version
    /// installed and the metadata of the entry replaced. A required method (not a default over
    /// `update`) because a blind write needs no closure and the lock-free table can then retry
    /// its compare-and-swap with the same allocation.
    fn insert(&self, key: &[u8], value: Self::Value, meta: Meta) -> Inserted;

    /// One step of a resumable scan.
    ///
    /// Start with `cursor == 0`; each call visits some entries and returns the cursor to pass
    /// next, or `0` when the scan is complete. Every key present from the first call to the
    /// last is visited at least once; keys may be visited more than once. About `count` keys
    /// are visited per call (a hint, as in Redis). `visit` must not call back into the engine.
    fn scan(&self, cursor: u64, count: usize, visit: impl FnMut(&[u8], &Entry<Self::Value>))
        -> u64;

    /// The number of keys.
    ///
    /// Exact when no write is in flight. While writes run, keys inserted or removed during
    /// the call may or may not be counted. `sharded`, `dashmap` and [`LockFree`] never count
    /// fewer than the keys present from the start of the call to its end: the shard-locked
    /// back-ends read each shard's own count under its lock, and the lock-free table's striped
    /// counter is built for that promise ([`counter`]). `flurry` takes its count from its
    /// crate's counter, which makes no such promise: there, a racing insert and removal of
    /// another key can make the count read low.
    fn len(&self) -> usize;

    /// Whether [`Engine::len`] is zero.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every key present when the call starts. Writes that race with it may survive.
    fn clear(&self);

    /// The clock versions are drawn from.
    fn versions(&self) -> &VersionClock;
}
