//! # keyspace: typed values, expiry and the operations commands need, over any engine
//!
//! The [`Engine`] trait knows byte-string keys and opaque values. The keyspace gives those
//! values types (strings and lists today; the [`Value`] enum has room for hashes, sets and
//! sorted sets), enforces expiry, and offers the operations the RESP and memcached commands are
//! made of. It knows nothing about protocols: errors are the small [`Error`] enum, and the
//! server turns them into Redis's or memcached's texts. One keyspace serves every protocol, so
//! a key set over memcached reads back with `GET` over RESP and the other way round.
//!
//! ## Values
//!
//! A string is a [`Str`]: an immutable byte string. Immutability is what the lock-free back-end
//! needs (readers look at a value while a writer replaces it). A string of up to
//! [`STR_INLINE_BYTES`] is stored inline, inside the engine's entry: a write allocates one node
//! instead of a node and a value, and a read takes one cache miss fewer (measured: -P 16 SET
//! and GET both faster, see `bench-results/server.md`). A longer string is reference-counted,
//! which is what lets the server send a large value straight from the store with a vectored
//! write, after the engine's guard is gone, without copying it.
//!
//! A list is an `Arc<List>`: a `VecDeque` behind a mutex. Copy-on-write would make `LPUSH`
//! cost O(length), and `redis-benchmark` pushes a hundred thousand elements onto one key, so a
//! list is mutated in place under its own lock. The protocol that keeps that in step with the
//! engine's versions is in [`container`]: a list writer locks the list, then installs a new version
//! of the key *only if the key still holds this very list* (pointer equality), and only then
//! mutates it. Whoever replaces a list key (SET, DEL, expiry) does not need the list's lock:
//! a list writer that loses that race notices it in the version bump and starts again.
//!
//! ## Locking and atomicity
//!
//! `MSET`, `RENAME`, `COPY`, `LMOVE` and multi-key `DEL` must never be seen half done, and
//! `EXEC` and scripts will need whole sequences of commands to be atomic. The keyspace has one
//! [`ShardedLock`](crossbeam_utils::sync::ShardedLock), but its operations never take it: they
//! are methods of [`Db`], a keyspace under a lock its caller took ([`Keyspace::shared`] or
//! [`Keyspace::exclusive`]), and an operation on several keys refuses to run unless its
//! caller also locked those keys' [`stripes`] ([`Db::lock_keys`]) or holds the exclusive side.
//! [`guard`] states what is atomic with what.
//!
//! ## Where things are
//!
//! | file | holds |
//! |---|---|
//! | [`guard`] | [`Guard`], [`Db`], [`Mode`]: the locking model |
//! | [`stripes`] | per-key stripes: multi-key commands under the shared guard |
//! | [`databases`] | [`Databases`]: the numbered databases, `SWAPDB`'s map, their locks |
//! | `value.rs` | [`Str`], [`List`], [`Value`] |
//! | [`container`] | the protocol of values mutated in place, for every collection type |
//! | `strings.rs`, `lists.rs`, `keys.rs`, `memcache.rs` | the operations, one file per data type (and one for whole keys, one for memcached items) |
//! | `expire.rs` | the sweeper and flushes |
//! | `journal.rs` | [`Effect`], [`Journal`]: what is reported to the append-only file, replay and snapshots |
//! | [`numeric`] | Redis's number parsing and its software `long double` |
//! | `clock.rs` | [`Clock`], [`SystemClock`], [`ManualClock`] |
//!
//! ## Expiry
//!
//! [`Meta::expire_at_ms`] is an absolute time on the keyspace's [`Clock`] (injectable, so tests
//! move time by hand). An expired entry is invisible: every read treats it as absent and
//! removes it (lazy expiry), every write treats it as absent. An active sweeper
//! ([`Keyspace::active_expire_cycle`], run by a background thread from
//! [`Keyspace::spawn_sweeper`]) removes keys nobody reads, with Redis's adaptive rule: look at a
//! bounded batch, and look at another while more than a tenth of the batch's keys with an expiry
//! had expired and the cycle's time budget lasts. Unlike Redis we keep no separate dictionary
//! of keys with a TTL (it would cost memory on every such key), so the sweeper walks the whole
//! keyspace with a resumable [`Engine::scan`] cursor; the cost is that keys without a TTL are
//! looked at too. To bound that cost the keyspace counts the entries that have an expiry
//! (exactly: every write to the engine goes through helpers that compare the replaced entry's
//! metadata with the new one, see `counted_update`). The sweeper sizes its batches from that
//! count, so that one holds about as many keys with an expiry as Redis's sample, and does not
//! walk at all while the count is zero. The count is `INFO`'s `expires`; the sweeper's samples
//! give `avg_ttl`, averaged as Redis does.

mod clock;
pub mod container;
pub mod databases;
mod expire;
mod glob;
pub mod guard;
mod journal;
mod keys;
mod lists;
mod memcache;
pub mod numeric;
mod strings;
pub mod stripes;
#[cfg(test)]
mod tests;
mod value;

pub use clock::{Clock, ManualClock, SystemClock};
pub use container::{Contained, Container};
pub use databases::{AllGuards, Databases};
pub use expire::{
    SWEEP_BATCH_EXPIRING_KEYS, SWEEP_BATCH_KEYS_MAX, SWEEP_BATCH_KEYS_MIN, SWEEP_CYCLE_BUDGET,
    SWEEP_INTERVAL, SWEEP_STALE_PERCENT_MAX,
};
pub use guard::{Db, Guard, KeysGuard, Mode, Optimistic};
pub use numeric::parse_i64;
pub use stripes::Access;
pub use value::{List, ListItems, Str, Value, STR_INLINE_BYTES};

pub use glob::glob_match;
pub use journal::{Effect, Inconsistent, Journal};
pub use keys::{ExpireCondition, ScanFilter, Ttl};
pub use lists::{End, ListPosition, PosOptions};
pub use memcache::{ArithOutcome, DeleteOutcome, Item, StoreMode, StoreOutcome};
pub use strings::{ExpireOption, SetCondition, SetOptions, SetOutcome};

use crossbeam_utils::sync::ShardedLock;
use engine::counter::StripedCounter;
use engine::{Decision, Engine, Entry, Meta, Updated};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The largest string value, as Redis's `proto-max-bulk-len` default (512 MiB); `APPEND`,
/// `SETRANGE` and `INCRBYFLOAT` results may not grow past it.
pub const STRING_BYTES_MAX: usize = 512 * 1024 * 1024;

/// An operating error of a keyspace operation. The server maps each to its protocol's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The key holds a value of another type.
    WrongType,
    /// The value, or an argument, is not an integer that fits 64 bits.
    NotInteger,
    /// The value is not a valid float.
    NotFloat,
    /// An increment would overflow, or produce NaN or infinity.
    Overflow,
    /// The key does not exist (for commands where that is an error).
    NoSuchKey,
    /// An index is outside the list.
    IndexOutOfRange,
    /// The result would be larger than [`STRING_BYTES_MAX`].
    TooLarge,
}

/// The result of keyspace operations that can fail on bad data.
pub type Result<T> = std::result::Result<T, Error>;

/// Counters for `INFO stats`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Reads that found a live key.
    pub hits: StripedCounter,
    /// Reads that found nothing (or an expired key).
    pub misses: StripedCounter,
    /// Keys removed because they expired (lazily or by the sweeper).
    pub expired: StripedCounter,
}

/// Whether an entry with this metadata has an expiry (counts in `INFO`'s `expires`).
pub(crate) fn has_expiry(meta: &Meta) -> bool {
    meta.expire_at_ms != 0
}

/// Whether `entry` has expired at `now_ms`.
pub(crate) fn is_expired(meta: &Meta, now_ms: u64) -> bool {
    meta.expire_at_ms != 0 && meta.expire_at_ms <= now_ms
}

/// The keyspace over the engine `E`. See the module docs.
pub struct Keyspace<E: Engine<Value = Value>> {
    /// The engine. Every write to it goes through the `counted_*` helpers, which keep
    /// `expiring` exact.
    map: E,
    /// Entries in `map` with an expiry, expired or not (Redis's `dictSize(db->expires)`).
    expiring: StripedCounter,
    /// The sweeper's running estimate of the time to live of keys with an expiry, in
    /// milliseconds (Redis's `avg_ttl`); 0 when no key has an expiry.
    avg_ttl_ms: AtomicU64,
    clock: Box<dyn Clock>,
    multi: ShardedLock<()>,
    /// The stripes multi-key commands lock under the shared side of `multi`.
    stripes: stripes::Stripes,
    stats: Stats,
    /// memcached's `flush_all <delay>`: when nonzero, the clock time at which every key is to
    /// be removed; the sweeper carries it out.
    flush_at_ms: AtomicU64,
    /// Where effects are reported (the append-only file), once attached.
    journal: OnceLock<Arc<dyn Journal>>,
}

impl<E: Engine<Value = Value>> fmt::Debug for Keyspace<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyspace")
            .field("engine", &E::NAME)
            .field("len", &self.map.len())
            .finish_non_exhaustive()
    }
}

impl<E: Engine<Value = Value>> Keyspace<E> {
    /// An empty keyspace on the real clock.
    pub fn new(map: E) -> Self {
        Self::with_clock(map, SystemClock)
    }

    /// An empty keyspace on the given clock.
    pub fn with_clock(map: E, clock: impl Clock) -> Self {
        Self {
            map,
            expiring: StripedCounter::default(),
            avg_ttl_ms: AtomicU64::new(0),
            clock: Box::new(clock),
            multi: ShardedLock::new(()),
            stripes: stripes::Stripes::default(),
            stats: Stats::default(),
            flush_at_ms: AtomicU64::new(0),
            journal: OnceLock::new(),
        }
    }

    /// The engine underneath.
    pub fn engine(&self) -> &E {
        &self.map
    }

    /// The keyspace's current time.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Counters for `INFO stats`.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The number of keys, counting expired keys not yet removed (as Redis's `DBSIZE` does).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The number of keys with an expiry, counting expired keys not yet removed (`INFO`
    /// keyspace's `expires`). Exact when no write is in flight.
    pub fn expiring_len(&self) -> usize {
        self.expiring.sum()
    }

    /// The sweeper's estimate of the average time to live of keys with an expiry, in
    /// milliseconds (`INFO` keyspace's `avg_ttl`): a moving average over the keys its cycles
    /// look at, as Redis keeps it; 0 when no key has an expiry.
    pub fn avg_ttl_ms(&self) -> u64 {
        // Relaxed: a statistic; nothing is published with it.
        self.avg_ttl_ms.load(Ordering::Relaxed)
    }

    /// Counts a write that changed a key from `before` to `after` (each: whether the entry
    /// had an expiry).
    fn count_expiry_change(&self, before: bool, after: bool) {
        match (before, after) {
            (false, true) => self.expiring.add(1),
            (true, false) => self.expiring.sub(1),
            _ => {}
        }
    }

    /// [`Engine::update`], counting keys with an expiry. `decide` sees the raw entry
    /// (expired or not).
    fn counted_update<R>(
        &self,
        key: &[u8],
        mut decide: impl FnMut(Option<&Entry<Value>>) -> (Decision<Value>, R),
    ) -> Updated<R> {
        self.stripes.settle(key);
        let updated = self.map.update(key, |current| {
            let before = current.is_some_and(|entry| has_expiry(&entry.meta));
            let (decision, output) = decide(current);
            let after = match &decision {
                Decision::Keep => before,
                Decision::Replace { meta, .. } => has_expiry(meta),
                Decision::Remove => false,
            };
            (decision, (output, before, after))
        });
        let (output, before, after) = updated.output;
        // Only the call whose decision was installed returns, so `before` describes the very
        // entry that was replaced; no version means nothing changed.
        if updated.version.is_some() {
            self.count_expiry_change(before, after);
        }
        Updated {
            output,
            version: updated.version,
        }
    }

    /// [`Engine::insert`], counting keys with an expiry.
    fn counted_insert(&self, key: &[u8], value: Value, meta: Meta) -> u64 {
        self.stripes.settle(key);
        let inserted = self.map.insert(key, value, meta);
        let before = inserted.replaced.is_some_and(|old| has_expiry(&old));
        self.count_expiry_change(before, has_expiry(&meta));
        inserted.version
    }

    /// [`Engine::remove`], counting keys with an expiry.
    fn counted_remove(&self, key: &[u8]) -> Option<u64> {
        self.counted_update(key, |_| (Decision::Remove, ())).version
    }

    /// [`Engine::clear`]; the caller holds the exclusive lock (so no write races it and the map
    /// is empty afterwards). Resets `avg_ttl` too, as Redis's flush does.
    fn counted_clear(&self) {
        self.map.clear();
        self.expiring.reset();
        // Relaxed: a statistic.
        self.avg_ttl_ms.store(0, Ordering::Relaxed);
    }

    /// The keyspace's address: who a [`Guard`] is for, in debug checks and lock ordering.
    pub fn address(&self) -> usize {
        self as *const Self as usize
    }

    /// Reads the live entry of `key` through `read`; an expired entry is removed and reads as
    /// absent. Counts a hit or a miss.
    fn read_locked<R>(&self, key: &[u8], read: impl FnOnce(&Entry<Value>) -> R) -> Option<R> {
        let found = self.peek_locked(key, read);
        if found.is_some() {
            self.stats.hits.add(1);
        } else {
            self.stats.misses.add(1);
        }
        found
    }

    /// Like `read_locked`, without counting hits and misses (for commands such as `TYPE` and
    /// `TTL`, which Redis does not count either).
    fn peek_locked<R>(&self, key: &[u8], read: impl FnOnce(&Entry<Value>) -> R) -> Option<R> {
        // `get` takes its closure by value, but we call `read` only for a live entry. The
        // clock is read only for an entry with a deadline (most have none).
        self.stripes.settle(key);
        let found = self
            .map
            .get(key, |entry| match self.expired_at(&entry.meta) {
                Some(now) => Err(now),
                None => Ok(read(entry)),
            })?;
        match found {
            Ok(read) => Some(read),
            Err(now) => {
                self.remove_if_expired(key, now);
                None
            }
        }
    }

    /// The time at which `meta`'s deadline is found passed, if it is: the clock is read only
    /// when there is a deadline.
    #[inline]
    fn expired_at(&self, meta: &Meta) -> Option<u64> {
        if meta.expire_at_ms == 0 {
            return None;
        }
        let now = self.clock.now_ms();
        is_expired(meta, now).then_some(now)
    }

    /// Removes `key` if it is still expired at `now`; returns whether it did. The removal is
    /// reported to the journal like any delete.
    fn remove_if_expired(&self, key: &[u8], now: u64) -> bool {
        let version = self
            .counted_update(key, |current| match current {
                Some(entry) if is_expired(&entry.meta, now) => (Decision::Remove, ()),
                _ => (Decision::Keep, ()),
            })
            .version;
        let Some(version) = version else {
            return false;
        };
        self.stats.expired.add(1);
        if let Some(journal) = self.listening_journal() {
            journal.record(version, &Effect::Delete { key });
        }
        true
    }

    /// An atomic read-modify-write that sees expired entries as absent, and reports what it
    /// installed to the journal (a string put, a metadata change, a delete; a list's own
    /// mutations are reported by the list operations, see [`journal`]).
    fn write_locked<R>(
        &self,
        key: &[u8],
        mut decide: impl FnMut(Option<&Entry<Value>>) -> (Decision<Value>, R),
    ) -> Updated<R> {
        let Some(journal) = self.journal() else {
            return self.write_unreported(key, decide);
        };
        if !journal.listening() {
            // Nobody to report to: capture nothing (see `report_late`).
            let updated = self.write_unreported(key, decide);
            if let (Some(version), true) = (updated.version, journal.listening()) {
                self.report_late(journal, key, version);
            }
            return updated;
        }
        let mut pending = journal::Pending::Nothing;
        let updated = self.write_unreported(key, |current| {
            let (decision, output) = decide(current);
            // The engine installs the decision of its last call (earlier calls lost a race).
            pending = journal::Pending::of(current, &decision);
            (decision, output)
        });
        // Whether anyone listens is asked once the write is installed (see `Journal::listening`).
        if let (Some(version), true) = (updated.version, journal.listening()) {
            pending.report(journal, version, key);
        }
        updated
    }

    /// [`Keyspace::write_locked`] without reporting: for the list protocol, whose callers
    /// report their own effects.
    fn write_unreported<R>(
        &self,
        key: &[u8],
        mut decide: impl FnMut(Option<&Entry<Value>>) -> (Decision<Value>, R),
    ) -> Updated<R> {
        self.counted_update(key, |current| {
            decide(current.filter(|entry| self.expired_at(&entry.meta).is_none()))
        })
    }

    /// A blind insert, reported to the journal. `value` must not be a list other operations
    /// can reach yet (or the caller holds the exclusive lock).
    fn insert_locked(&self, key: &[u8], value: Value, meta: Meta) -> u64 {
        match self.journal() {
            None => self.counted_insert(key, value, meta),
            Some(journal) if !journal.listening() => {
                let version = self.counted_insert(key, value, meta);
                if journal.listening() {
                    self.report_late(journal, key, version);
                }
                version
            }
            Some(journal) => {
                let reported = value.clone();
                let version = self.counted_insert(key, value, meta);
                if journal.listening() {
                    journal::report_value(journal, version, key, &reported, meta);
                }
                version
            }
        }
    }

    /// Reports the write of `version` at `key` that captured nothing because nobody listened
    /// before it, called when someone listens now: a subscription came while the write was in
    /// flight, and its snapshot may have missed the install, so the write is reported from
    /// what the key holds. Still this write's entry: its whole value. No entry: a delete (this write's,
    /// or a later one that reports its own too; either way the key ends absent). A later
    /// version: that write reports itself.
    #[cold]
    fn report_late(&self, journal: &dyn Journal, key: &[u8], version: u64) {
        // The value is taken out first: a list is read under its own lock, which must never
        // be waited for inside the engine's read (a list writer holds it while it updates the
        // engine).
        let found = self.map.get(key, |entry| {
            (entry.version == version).then(|| (entry.value.clone(), entry.meta))
        });
        match found {
            Some(Some((value, meta))) => {
                journal::report_value(journal, version, key, &value, meta);
            }
            Some(None) => {}
            None => journal.record(version, &Effect::Delete { key }),
        }
    }

    /// A removal, reported to the journal; the version, or `None` if the key was absent.
    fn remove_locked(&self, key: &[u8]) -> Option<u64> {
        let version = self.counted_remove(key)?;
        if let Some(journal) = self.listening_journal() {
            journal.record(version, &Effect::Delete { key });
        }
        Some(version)
    }
}
