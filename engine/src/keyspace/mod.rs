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
//! engine's versions is in [`lists`]: a list writer locks the list, then installs a new version
//! of the key *only if the key still holds this very list* (pointer equality), and only then
//! mutates it. Whoever replaces a list key (SET, DEL, expiry) does not need the list's lock:
//! a list writer that loses that race notices it in the version bump and starts again.
//!
//! ## Atomicity of multi-key commands
//!
//! `MSET`, `RENAME`, `COPY`, `LMOVE` and multi-key `DEL` must never be seen half done. Every
//! operation therefore holds one lock of a [`ShardedLock`] (crossbeam's "big reader" lock: one
//! reader-writer lock per thread slot, so readers on different threads never touch the same
//! cache line): single-key operations take the shared side, which costs one uncontended atomic
//! on the calling thread's own slot, and multi-key operations take the exclusive side, which
//! locks every slot. Public methods take the lock; the private `*_locked` helpers assume it is
//! held (the lock is not reentrant).
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

mod glob;
mod journal;
mod keys;
mod lists;
mod memcache;
mod strings;
#[cfg(test)]
mod tests;

pub use glob::glob_match;
pub use journal::{Effect, Inconsistent, Journal};
pub use keys::{ExpireCondition, ScanFilter, Ttl};
pub use lists::{End, ListPosition, PosOptions};
pub use memcache::{ArithOutcome, DeleteOutcome, Item, StoreMode, StoreOutcome};
pub use strings::{ExpireOption, SetCondition, SetOptions, SetOutcome};

use crate::counter::StripedCounter;
use crate::{Decision, Engine, Entry, Meta, Updated};
use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The largest string value, as Redis's `proto-max-bulk-len` default (512 MiB); `APPEND`,
/// `SETRANGE` and `INCRBYFLOAT` results may not grow past it.
pub const STRING_BYTES_MAX: usize = 512 * 1024 * 1024;

/// Keys with an expiry the sweeper aims to look at per batch (Redis's
/// `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`). We scan the whole keyspace, not a dictionary of
/// keys with an expiry, so a batch looks at this many times `len / expires` keys, between
/// [`SWEEP_BATCH_KEYS_MIN`] and [`SWEEP_BATCH_KEYS_MAX`].
pub const SWEEP_BATCH_EXPIRING_KEYS: usize = 20;

/// The fewest keys a sweeper batch looks at.
pub const SWEEP_BATCH_KEYS_MIN: usize = 64;

/// The most keys a sweeper batch looks at: about 100 µs of scanning, so a keyspace where few
/// keys expire is still walked at some tens of thousands of keys per cycle at most, within
/// the cycle's budget.
pub const SWEEP_BATCH_KEYS_MAX: usize = 4096;

/// A batch in which more than this percentage of the keys with an expiry had expired is
/// followed by another batch in the same cycle (Redis's `ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE`
/// is 10%).
pub const SWEEP_STALE_PERCENT_MAX: usize = 10;

/// The time budget of one sweeper cycle: 25% of a 100 ms tick, as Redis's slow cycle at hz 10.
pub const SWEEP_CYCLE_BUDGET: Duration = Duration::from_millis(25);

/// How often the sweeper thread runs a cycle (Redis's default `hz 10`).
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// Expiry times are absolute on this clock. The server uses [`SystemClock`]; tests use
/// [`ManualClock`] and move time by hand.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64)
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Self(AtomicU64::new(now_ms))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        // Relaxed: the clock publishes no other memory; tests that move it and then read the
        // keyspace do both on one thread, or hand over through a join.
        self.0.fetch_add(ms, Ordering::Relaxed);
    }

    /// Sets the clock.
    pub fn set(&self, now_ms: u64) {
        // Relaxed: as in `advance`.
        self.0.store(now_ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        // Relaxed: as in `advance`.
        self.0.load(Ordering::Relaxed)
    }
}

impl<C: Clock> Clock for Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// Strings up to this many bytes are stored inside the [`Str`] itself, so inside the engine's
/// entry: no allocation of their own, and no cache miss of their own when read. 38 bytes make
/// the inline form as large as it can be without making `Str` (40 bytes) or [`Value`] larger.
pub const STR_INLINE_BYTES: usize = 38;

/// An immutable byte string: the keyspace's string value.
///
/// Short strings (up to [`STR_INLINE_BYTES`]) are stored inline; cloning one copies 40 bytes.
/// Longer strings are one reference-counted allocation holding the count and the bytes;
/// cloning one is an atomic increment, so the server can keep a large value alive in its
/// output queue after the engine's guard is released, without copying it.
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        bytes: [u8; STR_INLINE_BYTES],
    },
    Shared(Arc<[u8]>),
}

impl Str {
    /// A string holding a copy of `bytes`.
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self::inline(bytes).unwrap_or_else(|| Self(Repr::Shared(Arc::from(bytes))))
    }

    /// `bytes` stored inline, when short enough.
    fn inline(bytes: &[u8]) -> Option<Self> {
        let len = u8::try_from(bytes.len())
            .ok()
            .filter(|&len| usize::from(len) <= STR_INLINE_BYTES)?;
        let mut inline = [0; STR_INLINE_BYTES];
        inline[..bytes.len()].copy_from_slice(bytes);
        Some(Self(Repr::Inline { len, bytes: inline }))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(bytes) => bytes,
        }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `other` is this very value: the same allocation for a shared string, the same
    /// bytes for an inline one. Cheap either way (never compares long strings); the journal
    /// uses it to tell a metadata-only change from a new value.
    pub fn is_same(&self, other: &Str) -> bool {
        match (&self.0, &other.0) {
            (Repr::Shared(mine), Repr::Shared(theirs)) => Arc::ptr_eq(mine, theirs),
            (Repr::Inline { .. }, Repr::Inline { .. }) => self.as_bytes() == other.as_bytes(),
            _ => false,
        }
    }
}

impl Default for Str {
    fn default() -> Self {
        Self(Repr::Inline {
            len: 0,
            bytes: [0; STR_INLINE_BYTES],
        })
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl std::hash::Hash for Str {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl From<Vec<u8>> for Str {
    fn from(bytes: Vec<u8>) -> Self {
        Self::inline(&bytes).unwrap_or_else(|| Self(Repr::Shared(Arc::from(bytes))))
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Str({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A list value: its elements behind the list's own lock (see the module docs for why).
#[derive(Debug, Default)]
pub struct List(Mutex<VecDeque<Box<[u8]>>>);

impl List {
    /// A list holding `items`.
    pub fn new(items: VecDeque<Box<[u8]>>) -> Self {
        Self(Mutex::new(items))
    }

    /// Locks the elements. A panic while the lock was held cannot leave the deque half-updated
    /// (every mutation is one `VecDeque` call or a loop of them that is complete between
    /// iterations), so a poisoned lock is taken as it is.
    pub fn lock(&self) -> MutexGuard<'_, VecDeque<Box<[u8]>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A typed value.
#[derive(Debug, Clone)]
pub enum Value {
    /// A byte string (Redis string, memcached item).
    Str(Str),
    /// A list of byte strings.
    List(Arc<List>),
}

impl Value {
    /// The name Redis's `TYPE` command gives this kind of value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
        }
    }
}

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
fn has_expiry(meta: &Meta) -> bool {
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
        let inserted = self.map.insert(key, value, meta);
        let before = inserted.replaced.is_some_and(|old| has_expiry(&old));
        self.count_expiry_change(before, has_expiry(&meta));
        inserted.version
    }

    /// [`Engine::remove`], counting keys with an expiry.
    fn counted_remove(&self, key: &[u8]) -> Option<u64> {
        self.counted_update(key, |_| (Decision::Remove, ())).version
    }

    /// [`Engine::clear`], under the exclusive lock (so no write races it and the map is empty
    /// afterwards). Resets `avg_ttl` too, as Redis's flush does.
    fn counted_clear(&self, _exclusive: &ShardedLockWriteGuard<'_, ()>) {
        self.map.clear();
        self.expiring.reset();
        // Relaxed: a statistic.
        self.avg_ttl_ms.store(0, Ordering::Relaxed);
    }

    /// The shared side of the multi-key lock: every single-key operation holds it.
    fn shared(&self) -> ShardedLockReadGuard<'_, ()> {
        // Poisoning: nothing panics while holding it except a bug in a keyspace operation, and
        // the engine underneath stays consistent through any such panic (see the back-ends).
        self.multi.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The exclusive side: multi-key operations hold it so nobody sees them half done.
    fn exclusive(&self) -> ShardedLockWriteGuard<'_, ()> {
        // Poisoning: as in `shared`.
        self.multi.write().unwrap_or_else(PoisonError::into_inner)
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
        let now = self.clock.now_ms();
        // `get` takes its closure by value, but we call `read` only for a live entry.
        let found = self.map.get(key, |entry| {
            (!is_expired(&entry.meta, now)).then(|| read(entry))
        })?;
        if found.is_none() {
            self.remove_if_expired(key, now);
        }
        found
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
        if let Some(journal) = self.journal() {
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
        let mut pending = journal::Pending::Nothing;
        let updated = self.write_unreported(key, |current| {
            let (decision, output) = decide(current);
            // The engine installs the decision of its last call (earlier calls lost a race).
            pending = journal::Pending::of(current, &decision);
            (decision, output)
        });
        if let Some(version) = updated.version {
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
        let now = self.clock.now_ms();
        self.counted_update(key, |current| {
            decide(current.filter(|entry| !is_expired(&entry.meta, now)))
        })
    }

    /// A blind insert, reported to the journal. `value` must not be a list other operations
    /// can reach yet (or the caller holds the exclusive lock).
    fn insert_locked(&self, key: &[u8], value: Value, meta: Meta) -> u64 {
        match self.journal() {
            None => self.counted_insert(key, value, meta),
            Some(journal) => {
                let reported = value.clone();
                let version = self.counted_insert(key, value, meta);
                journal::report_value(journal, version, key, &reported, meta);
                version
            }
        }
    }

    /// A removal, reported to the journal; the version, or `None` if the key was absent.
    fn remove_locked(&self, key: &[u8]) -> Option<u64> {
        let version = self.counted_remove(key)?;
        if let Some(journal) = self.journal() {
            journal.record(version, &Effect::Delete { key });
        }
        Some(version)
    }

    /// Removes every key (`FLUSHALL`, `FLUSHDB`, memcached `flush_all`).
    pub fn flush(&self) {
        let exclusive = self.exclusive();
        self.counted_clear(&exclusive);
        if let Some(journal) = self.journal() {
            // Under the exclusive lock no write is in flight: every earlier write has a lower
            // version and every later one a higher one.
            let version = self.map.versions().next();
            journal.record(version, &Effect::Flush);
        }
    }

    /// memcached's `flush_all <delay>`: every key is removed once the clock reaches `at_ms`.
    /// A later call replaces an earlier one; `at_ms == 0` cancels.
    pub fn flush_at(&self, at_ms: u64) {
        // Relaxed: the sweeper reads it on its next cycle; nothing else is published with it.
        self.flush_at_ms.store(at_ms, Ordering::Relaxed);
    }

    /// One cycle of active expiry, starting at `cursor` and returning the cursor to resume
    /// from. Looks at batches of keys sized to hold about [`SWEEP_BATCH_EXPIRING_KEYS`] keys
    /// with an expiry, and at another batch while more than [`SWEEP_STALE_PERCENT_MAX`]
    /// percent of those had expired and `budget` is not spent. Does nothing while no key has
    /// an expiry. Updates the `avg_ttl` estimate from the keys it looks at, and carries out a
    /// due `flush_all <delay>`. Returns the keys removed.
    pub fn active_expire_cycle(&self, cursor: &mut u64, budget: Duration) -> usize {
        let started = Instant::now();
        let now = self.clock.now_ms();
        // Relaxed: see `flush_at`.
        let flush_at = self.flush_at_ms.load(Ordering::Relaxed);
        if flush_at != 0 && flush_at <= now {
            self.flush_at_ms.store(0, Ordering::Relaxed);
            self.flush();
            *cursor = 0;
            return 0;
        }
        let mut removed_total = 0;
        let mut expired_keys: Vec<Vec<u8>> = Vec::new();
        loop {
            let expiring = self.expiring.sum();
            if expiring == 0 {
                // As Redis does for a database whose expires dictionary is empty. Relaxed: a
                // statistic.
                self.avg_ttl_ms.store(0, Ordering::Relaxed);
                return removed_total;
            }
            let batch = (SWEEP_BATCH_EXPIRING_KEYS.saturating_mul(self.map.len()) / expiring)
                .clamp(SWEEP_BATCH_KEYS_MIN, SWEEP_BATCH_KEYS_MAX);
            expired_keys.clear();
            let mut looked_at = 0;
            let mut ttl_sum: u128 = 0;
            let mut ttl_samples: u128 = 0;
            {
                let _shared = self.shared();
                *cursor = self.map.scan(*cursor, batch, |key, entry| {
                    if !has_expiry(&entry.meta) {
                        return;
                    }
                    looked_at += 1;
                    if is_expired(&entry.meta, now) {
                        expired_keys.push(key.to_vec());
                    } else {
                        ttl_sum += u128::from(entry.meta.expire_at_ms - now);
                        ttl_samples += 1;
                    }
                });
                for key in &expired_keys {
                    if self.remove_if_expired(key, now) {
                        removed_total += 1;
                    }
                }
            }
            if let Some(batch_avg) = ttl_sum.checked_div(ttl_samples) {
                self.fold_avg_ttl(u64::try_from(batch_avg).unwrap_or(u64::MAX));
            }
            let stale = expired_keys.len() * 100 > looked_at * SWEEP_STALE_PERCENT_MAX;
            if *cursor == 0 || !stale || started.elapsed() >= budget {
                return removed_total;
            }
        }
    }

    /// Folds one batch's average time to live into the estimate, with Redis's weights: the
    /// first batch sets it, later ones move it by a fiftieth of the difference.
    fn fold_avg_ttl(&self, batch_avg: u64) {
        // Relaxed: a statistic. Only the sweeper thread folds; a flush racing this fold may
        // be undone by it until the next cycle sees no key with an expiry.
        let old = self.avg_ttl_ms.load(Ordering::Relaxed);
        let new = if old == 0 {
            batch_avg
        } else {
            (old / 50) * 49 + batch_avg / 50
        };
        self.avg_ttl_ms.store(new, Ordering::Relaxed);
    }

    /// Starts the background thread that runs [`Keyspace::active_expire_cycle`] every
    /// [`SWEEP_INTERVAL`] until `stop` returns true.
    pub fn spawn_sweeper(
        self: &Arc<Self>,
        stop: impl Fn() -> bool + Send + 'static,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let keyspace = Arc::clone(self);
        std::thread::Builder::new()
            .name("expiry-sweeper".into())
            .spawn(move || {
                let mut cursor = 0;
                while !stop() {
                    keyspace.active_expire_cycle(&mut cursor, SWEEP_CYCLE_BUDGET);
                    std::thread::sleep(SWEEP_INTERVAL);
                }
            })
    }
}

/// Parses a whole byte string as a signed 64-bit decimal integer, as Redis's `string2ll`: an
/// optional `-`, digits, no leading zeros (except "0" itself), no spaces, no `+`.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || negative) {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        if magnitude == 1 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|m| -m)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}
