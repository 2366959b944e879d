//! Server-wide counters for `INFO` and memcached's `stats`. Striped, because every loop bumps
//! them on every command; the per-command counters ([`CommandStats`]) are per loop instead.

use engine::counter::StripedCounter;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Counters shared by every loop.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted over the server's life.
    pub connections: StripedCounter,
    /// Connections refused because of `maxclients`.
    pub rejected: StripedCounter,
    /// Commands processed.
    pub commands: StripedCounter,
    /// Error replies sent.
    pub errors: StripedCounter,
    /// Bytes read from clients.
    pub net_input_bytes: StripedCounter,
    /// Bytes written to clients.
    pub net_output_bytes: StripedCounter,
    /// memcached's own counters (its `stats`).
    pub memcache: MemcacheCounters,
    /// Clients closed for passing the output hard limit.
    pub output_limit_closed: StripedCounter,
}

/// memcached's counters, named as its `stats` names them, bumped by the text, meta and binary
/// handlers alike.
#[derive(Debug, Default)]
pub struct MemcacheCounters {
    /// Keys looked up by retrieval commands (`get`, `gets`, `mg`, binary gets).
    pub cmd_get: StripedCounter,
    /// Storage commands whose data was read (`set`, `add`, ..., `ms`, binary stores).
    pub cmd_set: StripedCounter,
    /// `flush_all` and binary `FLUSH`.
    pub cmd_flush: StripedCounter,
    /// `touch`, and each key of `gat`/`gats`.
    pub cmd_touch: StripedCounter,
    /// Retrievals (not touches) that found the key.
    pub get_hits: StripedCounter,
    /// Retrievals (not touches) that did not.
    pub get_misses: StripedCounter,
    /// Deletes of a present key.
    pub delete_hits: StripedCounter,
    /// Deletes of a missing key.
    pub delete_misses: StripedCounter,
    /// Increments of a present key.
    pub incr_hits: StripedCounter,
    /// Increments of a missing key.
    pub incr_misses: StripedCounter,
    /// Decrements of a present key.
    pub decr_hits: StripedCounter,
    /// Decrements of a missing key.
    pub decr_misses: StripedCounter,
    /// CAS stores that matched.
    pub cas_hits: StripedCounter,
    /// CAS stores of a missing key.
    pub cas_misses: StripedCounter,
    /// CAS stores that did not match.
    pub cas_badval: StripedCounter,
    /// Touches (and `gat`s) that found the key.
    pub touch_hits: StripedCounter,
    /// Touches that did not.
    pub touch_misses: StripedCounter,
    /// Stores refused as larger than the item size limit.
    pub store_too_large: StripedCounter,
    /// Items stored over the server's life.
    pub total_items: StripedCounter,
}

impl MemcacheCounters {
    /// `stats reset`: every counter back to zero (memcached keeps `total_items` too; it
    /// resets it as well).
    pub fn reset(&self) {
        for counter in self.all() {
            counter.1.reset();
        }
    }

    /// Every counter with its name, in memcached's `stats` order.
    pub(crate) fn all(&self) -> [(&'static str, &StripedCounter); 19] {
        [
            ("cmd_get", &self.cmd_get),
            ("cmd_set", &self.cmd_set),
            ("cmd_flush", &self.cmd_flush),
            ("cmd_touch", &self.cmd_touch),
            ("get_hits", &self.get_hits),
            ("get_misses", &self.get_misses),
            ("delete_misses", &self.delete_misses),
            ("delete_hits", &self.delete_hits),
            ("incr_misses", &self.incr_misses),
            ("incr_hits", &self.incr_hits),
            ("decr_misses", &self.decr_misses),
            ("decr_hits", &self.decr_hits),
            ("cas_misses", &self.cas_misses),
            ("cas_hits", &self.cas_hits),
            ("cas_badval", &self.cas_badval),
            ("touch_hits", &self.touch_hits),
            ("touch_misses", &self.touch_misses),
            ("store_too_large", &self.store_too_large),
            ("total_items", &self.total_items),
        ]
    }

    /// Counts a retrieval of one key.
    pub fn retrieved(&self, hit: bool) {
        self.cmd_get.add(1);
        if hit {
            self.get_hits.add(1);
        } else {
            self.get_misses.add(1);
        }
    }

    /// Counts a touch of one key (`touch`, and each key of `gat`: memcached counts those as
    /// touches only, not as gets).
    pub fn touched(&self, hit: bool) {
        self.cmd_touch.add(1);
        if hit {
            self.touch_hits.add(1);
        } else {
            self.touch_misses.add(1);
        }
    }

    /// Counts a delete.
    pub fn deleted(&self, hit: bool) {
        if hit {
            self.delete_hits.add(1);
        } else {
            self.delete_misses.add(1);
        }
    }

    /// Counts an increment or decrement that found the key (`hit`) or not.
    pub fn arithmetic(&self, increment: bool, hit: bool) {
        match (increment, hit) {
            (true, true) => self.incr_hits.add(1),
            (true, false) => self.incr_misses.add(1),
            (false, true) => self.decr_hits.add(1),
            (false, false) => self.decr_misses.add(1),
        }
    }
}

/// Redis's `INFO commandstats` and `errorstats`: per command, how often it ran, how long it
/// took, how often it was rejected before running (wrong number of arguments, writes refused)
/// and how often it ran and replied an error; per error code, how many error replies.
///
/// ## Why per loop, and why plain stores
///
/// Every RESP command updates its counters, so they must cost next to nothing at a million
/// commands a second per core. Each event loop owns one [`LoopCommandStats`]: only that loop's
/// thread writes it (a connection lives on one loop for its whole life), so an update is a
/// relaxed load and a relaxed store of a counter no other thread writes (no read-modify-write
/// instruction, no shared cache line: each command's counters fill a cache line of their own,
/// so two loops never write the same line). `INFO` on any loop sums the loops' counters with
/// relaxed loads; a count in flight shows up in the next `INFO`.
///
/// `CONFIG RESETSTAT` cannot zero counters another thread writes with a load and a store (the
/// owner could store its old value plus one right after), so it records the current sums as a
/// baseline instead, and `INFO` reports the sums minus the baseline.
///
/// ## What `usec` means here
///
/// Reading the clock twice per command (before and after it) would cost more than the rest of
/// the bookkeeping together, so a command is charged the time from the end of the command
/// before it in the same batch of input (or the start of the batch) to its own end: its
/// parsing and its execution, not the socket read or the reply's write. The clock is the
/// CPU's time-stamp counter on x86-64 (invariant on every CPU this targets; about 10 ns to
/// read, against about 20 ns for `clock_gettime`), converted to microseconds with the rate
/// measured between the server's start and the `INFO` call; elsewhere it is `Instant`.
pub struct CommandStats {
    loops: Box<[LoopCommandStats]>,
    /// The sums at the last `CONFIG RESETSTAT`, per command id.
    baseline: Mutex<Vec<CommandCounts>>,
    /// When the stats were created, on both clocks, to convert ticks to microseconds.
    origin: (Instant, u64),
}

/// One event loop's counters: written by that loop only (see [`CommandStats`]).
pub struct LoopCommandStats {
    commands: Box<[CommandCounters]>,
    /// Error replies per error code (`ERR`, `WRONGTYPE`, ...). Behind a lock: errors are rare,
    /// and the lock is the loop's own, so it is uncontended but for `INFO`.
    errors: Mutex<BTreeMap<String, u64>>,
}

/// The most error codes kept apart, as Redis (128); further codes are not counted there.
const ERROR_CODES_MAX: usize = 128;

/// The longest error code, as Redis (it looks for the space in the first 32 bytes).
const ERROR_CODE_BYTES_MAX: usize = 32;

/// One command's counters on one loop. Aligned to a cache line of its own so that no two
/// loops ever write the same line (64 bytes: x86-64's line).
#[derive(Default)]
#[repr(align(64))]
struct CommandCounters {
    calls: AtomicU64,
    ticks: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
}

/// One command's counts, summed over the loops.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommandCounts {
    /// Times it ran.
    pub calls: u64,
    /// Clock ticks charged to it (see [`CommandStats`]).
    pub ticks: u64,
    /// Times it was refused before running.
    pub rejected: u64,
    /// Times it ran and replied an error.
    pub failed: u64,
}

/// Bumps a counter only its owner writes: a load and a store, both relaxed, because no other
/// thread writes it and readers (`INFO`) need no ordering with anything else.
#[inline]
fn bump(counter: &AtomicU64, delta: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(delta),
        Ordering::Relaxed,
    );
}

impl LoopCommandStats {
    fn new(ids: usize) -> Self {
        Self {
            commands: (0..ids).map(|_| CommandCounters::default()).collect(),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts one run of command `id` that took `ticks` and failed or not.
    #[inline]
    pub fn ran(&self, id: usize, ticks: u64, failed: bool) {
        let Some(counters) = self.commands.get(id) else {
            return;
        };
        bump(&counters.calls, 1);
        bump(&counters.ticks, ticks);
        if failed {
            bump(&counters.failed, 1);
        }
    }

    /// Counts a refusal of command `id` before it ran.
    pub fn rejected(&self, id: usize) {
        if let Some(counters) = self.commands.get(id) {
            bump(&counters.rejected, 1);
        }
    }

    /// Counts an error reply whose text (without the `-`) is `text`: under its code, the
    /// first word, or `ERR` when there is no space in the first 32 bytes (as Redis).
    pub fn error_reply(&self, text: &[u8]) {
        let head = &text[..text.len().min(ERROR_CODE_BYTES_MAX)];
        let code = match head.iter().position(|&b| b == b' ') {
            Some(space) => &text[..space],
            None => b"ERR",
        };
        let code = String::from_utf8_lossy(code);
        let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = errors.get_mut(code.as_ref()) {
            *count += 1;
        } else if errors.len() < ERROR_CODES_MAX {
            errors.insert(code.into_owned(), 1);
        }
    }
}

impl CommandStats {
    /// Counters for `loops` event loops and `ids` command ids.
    pub fn new(loops: usize, ids: usize) -> Self {
        Self {
            loops: (0..loops.max(1))
                .map(|_| LoopCommandStats::new(ids))
                .collect(),
            baseline: Mutex::new(vec![CommandCounts::default(); ids]),
            origin: (Instant::now(), ticks()),
        }
    }

    /// Loop `index`'s counters (a loop past the count shares one: tests that run sessions
    /// outside the loops).
    #[inline]
    pub fn of_loop(&self, index: usize) -> &LoopCommandStats {
        &self.loops[index % self.loops.len()]
    }

    /// Command `id`'s counts since the last reset, summed over the loops.
    pub fn counts(&self, id: usize) -> CommandCounts {
        let mut total = CommandCounts::default();
        for one in self.loops.iter() {
            if let Some(counters) = one.commands.get(id) {
                total.calls += counters.calls.load(Ordering::Relaxed);
                total.ticks += counters.ticks.load(Ordering::Relaxed);
                total.rejected += counters.rejected.load(Ordering::Relaxed);
                total.failed += counters.failed.load(Ordering::Relaxed);
            }
        }
        let baseline = self.baseline.lock().unwrap_or_else(PoisonError::into_inner);
        let base = baseline.get(id).copied().unwrap_or_default();
        CommandCounts {
            calls: total.calls.saturating_sub(base.calls),
            ticks: total.ticks.saturating_sub(base.ticks),
            rejected: total.rejected.saturating_sub(base.rejected),
            failed: total.failed.saturating_sub(base.failed),
        }
    }

    /// Commands run since the last reset, every command together.
    pub fn total_calls(&self) -> u64 {
        let ids = self
            .baseline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        (0..ids).map(|id| self.counts(id).calls).sum()
    }

    /// Error replies per code since the last reset, summed over the loops.
    pub fn error_counts(&self) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for one in self.loops.iter() {
            let errors = one.errors.lock().unwrap_or_else(PoisonError::into_inner);
            for (code, count) in errors.iter() {
                *total.entry(code.clone()).or_insert(0) += count;
            }
        }
        total
    }

    /// `CONFIG RESETSTAT`: the current sums become the baseline, and the error counts go.
    pub fn reset(&self) {
        let ids = self
            .baseline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let mut sums = vec![CommandCounts::default(); ids];
        for one in self.loops.iter() {
            for (sum, counters) in sums.iter_mut().zip(one.commands.iter()) {
                sum.calls += counters.calls.load(Ordering::Relaxed);
                sum.ticks += counters.ticks.load(Ordering::Relaxed);
                sum.rejected += counters.rejected.load(Ordering::Relaxed);
                sum.failed += counters.failed.load(Ordering::Relaxed);
            }
            one.errors
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
        *self.baseline.lock().unwrap_or_else(PoisonError::into_inner) = sums;
    }

    /// `ticks` in microseconds, at the rate the clock ran since the stats were created.
    pub fn microseconds(&self, ticks: u64) -> u64 {
        let elapsed_ns = self.origin.0.elapsed().as_nanos().max(1);
        let elapsed_ticks = u128::from(crate::stats::ticks().wrapping_sub(self.origin.1)).max(1);
        (u128::from(ticks) * elapsed_ns / elapsed_ticks / 1000) as u64
    }
}

/// The command clock: the CPU's time-stamp counter on x86-64, nanoseconds since the first
/// call elsewhere. Only differences mean anything; see [`CommandStats`] for the unit.
#[inline]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no memory effects and exists on every x86-64 CPU.
        unsafe { std::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_the_first_word_as_in_redis() {
        let stats = CommandStats::new(2, 4);
        let first = stats.of_loop(0);
        first.error_reply(b"WRONGTYPE Operation against a key");
        first.error_reply(b"ERR syntax error");
        stats
            .of_loop(1)
            .error_reply(b"ERR wrong number of arguments");
        // No space in the first 32 bytes: counted as ERR.
        first.error_reply(b"NOSPACE");
        first.error_reply(format!("{} x", "A".repeat(40)).as_bytes());
        let counts = stats.error_counts();
        assert_eq!(counts["ERR"], 4);
        assert_eq!(counts["WRONGTYPE"], 1);
        assert_eq!(counts.len(), 2);
        // At most ERROR_CODES_MAX codes are kept apart.
        for code in 0..200 {
            first.error_reply(format!("CODE{code} x").as_bytes());
        }
        assert_eq!(stats.error_counts().len(), ERROR_CODES_MAX);
    }

    #[test]
    fn counts_sum_over_loops_and_reset_to_a_baseline() {
        let stats = CommandStats::new(2, 3);
        stats.of_loop(0).ran(1, 100, false);
        stats.of_loop(1).ran(1, 50, true);
        stats.of_loop(1).rejected(1);
        // An id past the table is ignored, and a loop past the count shares one.
        stats.of_loop(0).ran(7, 1, false);
        stats.of_loop(3).ran(2, 5, false);
        let expected = CommandCounts {
            calls: 2,
            ticks: 150,
            rejected: 1,
            failed: 1,
        };
        assert_eq!(stats.counts(1), expected);
        assert_eq!(stats.total_calls(), 3);
        stats.reset();
        assert_eq!(stats.counts(1), CommandCounts::default());
        stats.of_loop(0).ran(1, 10, false);
        assert_eq!(stats.counts(1).calls, 1);
        assert_eq!(stats.counts(1).ticks, 10);
        assert!(stats.error_counts().is_empty());
    }
}
