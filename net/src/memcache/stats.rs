//! memcached's statistics: the counters its `stats` reports, bumped by the text, meta and
//! binary handlers alike, and the report itself.
//!
//! The counters are [`MemcacheCounters`], a part of the server's
//! [`ServerStats`](crate::stats::ServerStats), so each server counts its own.

use crate::session::Session;
use crate::stats::MemcacheCounters;
use engine::Engine;
use keyspace::Value;

/// The server's memcached counters: they live in its [`ServerStats`], so two servers in one
/// process (the tests) count apart.
pub fn counters<'a, E: Engine<Value = Value>>(session: &Session<'a, E>) -> &'a MemcacheCounters {
    &session.shared.stats.memcache
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
    let counters = stats.memcache.all();
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

#[cfg(test)]
mod tests {
    use crate::buffer::{Output, Pool};
    use crate::config::Config;
    use crate::session::{RuntimeLimits, Session, Shared};
    use engine::LockFree;
    use keyspace::{Keyspace, Value};
    use std::sync::Arc;

    fn server() -> Shared<LockFree<Value>> {
        let keyspace = Arc::new(Keyspace::new(<LockFree<Value> as engine::Engine>::new()));
        Shared::new(vec![keyspace], Config::default())
    }

    /// Runs memcached text requests against `shared` and returns the replies.
    fn run(shared: &Shared<LockFree<Value>>, input: &[u8]) -> String {
        let config = Config::default();
        let mut client = crate::client::Client::new(shared.register_client(None, None, -1, 0));
        let mut pool = Pool::new();
        let mut output = Output::default();
        let mut session = Session {
            shared,
            client: &mut client,
            output: &mut output,
            pool: &mut pool,
            limits: RuntimeLimits::from_config(&config),
            held: crate::lock::Held::Nothing,
            stripes: None,
        };
        let processed = super::super::text::process(&mut session, input);
        drop(session);
        assert_eq!(processed.consumed, input.len());
        let replies = String::from_utf8_lossy(&output.contents()).into_owned();
        output.release(&mut pool);
        replies
    }

    #[test]
    fn each_server_counts_its_own_requests() {
        let (first, second) = (server(), server());
        run(
            &first,
            b"set k 0 0 1\r\nv\r\nget k\r\nget missing\r\ndelete k\r\n",
        );
        // A bad command line counts nothing.
        let bad = run(&first, b"incr k notanumber\r\n");
        assert!(bad.starts_with("CLIENT_ERROR"), "{bad}");
        run(&second, b"get k\r\n");
        let counters = &first.stats.memcache;
        assert_eq!(counters.cmd_set.sum(), 1);
        assert_eq!(counters.cmd_get.sum(), 2);
        assert_eq!(counters.get_hits.sum(), 1);
        assert_eq!(counters.get_misses.sum(), 1);
        assert_eq!(counters.delete_hits.sum(), 1);
        assert_eq!(counters.incr_misses.sum(), 0);
        let other = &second.stats.memcache;
        assert_eq!(other.cmd_set.sum(), 0);
        assert_eq!((other.cmd_get.sum(), other.get_misses.sum()), (1, 1));
        // `stats` reports the server's own counts, and `stats reset` zeroes only them.
        let stats = run(&first, b"stats\r\n");
        assert!(stats.contains("STAT cmd_get 2\r\n"), "{stats}");
        assert_eq!(run(&second, b"stats reset\r\n"), "RESET\r\n");
        assert_eq!(first.stats.memcache.cmd_get.sum(), 2);
        assert_eq!(second.stats.memcache.cmd_get.sum(), 0);
    }
}
