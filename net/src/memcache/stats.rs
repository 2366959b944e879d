//! memcached's statistics: the counters its `stats` reports, bumped by the text, meta and
//! binary handlers alike, and the report itself.
//!
//! The counters are process-wide: a `workingdb` process serves one server, as a `memcached`
//! process does. (They belong with the server's other counters in `ServerStats`; they live
//! here until that struct can take them, which is one move of this struct.) Each is a
//! [`StripedCounter`], because every loop bumps them on every command.

use crate::session::Session;
use engine::counter::StripedCounter;
use engine::Engine;
use keyspace::Value;
use std::sync::LazyLock;

/// The counters, named as memcached's `stats` names them.
#[derive(Debug, Default)]
pub struct Counters {
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

static COUNTERS: LazyLock<Counters> = LazyLock::new(Counters::default);

/// The process's counters.
pub fn counters() -> &'static Counters {
    &COUNTERS
}

impl Counters {
    /// `stats reset`: every counter back to zero (memcached keeps `total_items` too; it
    /// resets it as well).
    pub fn reset(&self) {
        for counter in self.all() {
            counter.1.reset();
        }
    }

    /// Every counter with its name, in memcached's `stats` order.
    fn all(&self) -> [(&'static str, &StripedCounter); 19] {
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

/// `stats`: the general statistics memcached reports that we can report truthfully, in its
/// order. Slab, LRU and connection-structure details have no counterpart here.
pub fn general<E: Engine<Value = Value>>(session: &Session<'_, E>) -> Vec<(&'static str, String)> {
    let shared = session.shared;
    let stats = &shared.stats;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let config = shared.config();
    let mut report: Vec<(&'static str, String)> = vec![
        ("pid", std::process::id().to_string()),
        ("uptime", shared.started.elapsed().as_secs().to_string()),
        ("time", now.to_string()),
        ("version", super::VERSION.into()),
        ("pointer_size", "64".into()),
        ("max_connections", config.maxclients.to_string()),
        ("curr_connections", shared.client_count().to_string()),
        ("total_connections", stats.connections.sum().to_string()),
        ("rejected_connections", stats.rejected.sum().to_string()),
    ];
    let counters = counters().all();
    let (commands, rest) = counters.split_at(4);
    report.extend(
        commands
            .iter()
            .map(|(name, counter)| (*name, counter.sum().to_string())),
    );
    let (hits, rest) = rest.split_at(2);
    report.extend(
        hits.iter()
            .map(|(name, counter)| (*name, counter.sum().to_string())),
    );
    // Keys found expired on access or by the sweeper: memcached counts only the former.
    let expired = session.keyspace().stats().expired.sum();
    report.push(("get_expired", expired.to_string()));
    report.push(("get_flushed", "0".into()));
    let (outcomes, totals) = rest.split_at(rest.len() - 1);
    report.extend(
        outcomes
            .iter()
            .map(|(name, counter)| (*name, counter.sum().to_string())),
    );
    report.extend([
        ("bytes_read", stats.net_input_bytes.sum().to_string()),
        ("bytes_written", stats.net_output_bytes.sum().to_string()),
        ("threads", config.loop_count().to_string()),
        ("curr_items", session.keyspace().len().to_string()),
    ]);
    report.extend(
        totals
            .iter()
            .map(|(name, counter)| (*name, counter.sum().to_string())),
    );
    // We never evict: a write past memory fails instead.
    report.push(("evictions", "0".into()));
    report.push(("item_size_max", config.max_item_size.to_string()));
    report.push(("engine", E::NAME.into()));
    report
}
