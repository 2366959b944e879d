//! Server-wide counters for `INFO` and memcached's `stats`. Striped, because every loop bumps
//! them on every command.

use engine::counter::StripedCounter;

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
