//! Active expiry: the sweeper that removes expired keys nobody reads, and memcached's delayed
//! `flush_all` (see the crate docs for the rule it follows).

use crate::{has_expiry, is_expired, Db, Effect, Keyspace, Value};
use engine::Engine;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

impl<E: Engine<Value = Value>> Db<'_, E> {
    /// Removes every key (`FLUSHALL`, `FLUSHDB`, memcached `flush_all`).
    pub fn flush(&self) {
        self.require_exclusive("a flush");
        self.counted_clear();
        if let Some(journal) = self.listening_journal() {
            // Under the exclusive lock no write is in flight: every earlier write has a lower
            // version and every later one a higher one.
            let version = self.map.versions().next();
            journal.record(version, &Effect::Flush);
        }
    }
}

impl<E: Engine<Value = Value>> Keyspace<E> {
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
            self.exclusive().flush();
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
