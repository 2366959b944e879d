//! # redis: every option Redis 7.0 has, for the ones we do not implement
//!
//! [`REDIS_OPTIONS`] lists Redis 7.0.15's configuration table: each option's name, its Redis 6
//! alias, whether `CONFIG SET` may change it ([`Mutability`]), its type and range, and its
//! default as `CONFIG GET` prints it. Generated from Redis's `src/config.c` (the names, flags,
//! bounds and enum values) and a fresh `redis-server`'s `CONFIG GET *` (the defaults).
//!
//! Options we implement are in [`super::OPTIONS`] and that table wins. For the others,
//! `CONFIG SET` and the config file accept what Redis accepts, refuse what it refuses with its
//! words, keep the value for `CONFIG GET` and `CONFIG REWRITE`, and change nothing else: the
//! feature behind them (replication, RDB snapshots, eviction, TLS, ...) is not here. Client
//! code and Redis's own test suite set many of them, and a redis.conf full of them loads.

use super::Mutability;

/// How a Redis option's value is checked, as Redis checks that type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisKind {
    /// `yes` or `no`.
    Bool,
    /// An integer in `min..=max`; `memory` also takes sizes (`64mb`), `percent` also `N%`.
    Number {
        /// The smallest value.
        min: i128,
        /// The largest value.
        max: i128,
        /// Redis reads it into an unsigned type (its range error prints unsigned numbers).
        unsigned: bool,
        /// Sizes with units are accepted.
        memory: bool,
        /// `N%` is accepted.
        percent: bool,
    },
    /// One of these words (any case).
    Enum(&'static [&'static str]),
    /// Any text.
    Text,
    /// Redis parses it its own way (several arguments, octal, ...): any text is kept.
    Special,
}

/// One of Redis's options.
#[derive(Debug, Clone, Copy)]
pub struct RedisOption {
    /// Its name.
    pub name: &'static str,
    /// Its Redis 6 name (empty: none).
    pub alias: &'static str,
    /// Whether `CONFIG SET` may change it.
    pub runtime: Mutability,
    /// Its type.
    pub kind: RedisKind,
    /// Its default, as `CONFIG GET` prints it.
    pub default: &'static str,
    /// Left out of `CONFIG GET *` (Redis's `HIDDEN_CONFIG`, debugging knobs).
    pub hidden: bool,
}

/// The Redis option named `name` (or aliased so), any case.
pub fn redis_option(name: &str) -> Option<&'static RedisOption> {
    REDIS_OPTIONS.iter().find(|option| {
        option.name.eq_ignore_ascii_case(name)
            || (!option.alias.is_empty() && option.alias.eq_ignore_ascii_case(name))
    })
}

impl RedisOption {
    /// Checks `value` as Redis would and returns it as `CONFIG GET` will print it, or
    /// Redis's reason for refusing it.
    pub fn check(&self, value: &str) -> Result<String, String> {
        match self.kind {
            RedisKind::Bool => match value.to_ascii_lowercase().as_str() {
                word @ ("yes" | "no") => Ok(word.to_string()),
                _ => Err("argument must be 'yes' or 'no'".into()),
            },
            RedisKind::Enum(words) => words
                .iter()
                .find(|word| word.eq_ignore_ascii_case(value))
                .map(|word| word.to_string())
                .ok_or_else(|| {
                    format!(
                        "argument(s) must be one of the following: {}",
                        words.join(", ")
                    )
                }),
            RedisKind::Number {
                min,
                max,
                unsigned,
                memory,
                percent,
            } => {
                let parsed = if memory {
                    super::parse_memory(value).map(|bytes| bytes as i128)
                } else {
                    None
                };
                let percent_value = value
                    .strip_suffix('%')
                    .filter(|_| percent && value.len() > 1)
                    .and_then(|digits| digits.parse::<i64>().ok())
                    .filter(|number| *number >= 0);
                if let Some(percent_value) = percent_value {
                    // Redis keeps a percentage as a negative number, bounded by `-min`.
                    if i128::from(percent_value) > -min {
                        return Err(format!(
                            "percentage argument must be less or equal to {}",
                            -min
                        ));
                    }
                    return Ok(format!("{percent_value}%"));
                }
                let parsed = match parsed {
                    Some(number) => number,
                    None if memory => {
                        return Err(if percent {
                            "argument must be a memory or percent value".into()
                        } else {
                            "argument must be a memory value".into()
                        })
                    }
                    None => match value.parse::<i64>() {
                        Ok(number) => i128::from(number),
                        Err(_) => return Err("argument couldn't be parsed into an integer".into()),
                    },
                };
                // Redis checks an unsigned option on the value read as unsigned: -1 is huge.
                let checked = if unsigned && parsed < 0 {
                    parsed + (1i128 << 64)
                } else {
                    parsed
                };
                if checked < min || checked > max {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                Ok(checked.to_string())
            }
            RedisKind::Text | RedisKind::Special => Ok(value.to_string()),
        }
    }
}

/// Redis 7.0.15's options (see the module docs).
#[rustfmt::skip]
pub const REDIS_OPTIONS: &[RedisOption] = &[
    RedisOption { name: "rdbchecksum", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "daemonize", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "io-threads-do-reads", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "always-show-logo", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "protected-mode", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "rdbcompression", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "rdb-del-sync-files", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "activerehashing", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "stop-writes-on-bgsave-error", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "set-proc-title", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "dynamic-hz", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "lazyfree-lazy-eviction", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "lazyfree-lazy-expire", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "lazyfree-lazy-server-del", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "lazyfree-lazy-user-del", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "lazyfree-lazy-user-flush", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "repl-disable-tcp-nodelay", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "repl-diskless-sync", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "aof-rewrite-incremental-fsync", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "no-appendfsync-on-rewrite", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "cluster-require-full-coverage", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "rdb-save-incremental-fsync", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "aof-load-truncated", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "aof-use-rdb-preamble", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "aof-timestamp-enabled", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "cluster-replica-no-failover", alias: "cluster-slave-no-failover", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "replica-lazy-flush", alias: "slave-lazy-flush", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "replica-serve-stale-data", alias: "slave-serve-stale-data", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "replica-read-only", alias: "slave-read-only", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "replica-ignore-maxmemory", alias: "slave-ignore-maxmemory", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "jemalloc-bg-thread", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "activedefrag", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "syslog-enabled", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "cluster-enabled", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "appendonly", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "cluster-allow-reads-when-down", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "cluster-allow-pubsubshard-when-down", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "crash-log-enabled", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "crash-memcheck-enabled", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "use-exit-on-panic", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: true },
    RedisOption { name: "disable-thp", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "cluster-allow-replica-migration", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "replica-announced", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "latency-tracking", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "aof-disable-auto-gc", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "replica-ignore-disk-write-errors", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "aclfile", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "unixsocket", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "pidfile", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "replica-announce-ip", alias: "slave-announce-ip", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "masteruser", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "cluster-announce-ip", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "cluster-config-file", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "nodes.conf", hidden: false },
    RedisOption { name: "cluster-announce-hostname", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "syslog-ident", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "redis", hidden: false },
    RedisOption { name: "dbfilename", alias: "", runtime: Mutability::Protected, kind: RedisKind::Text, default: "dump.rdb", hidden: false },
    RedisOption { name: "appendfilename", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "appendonly.aof", hidden: false },
    RedisOption { name: "appenddirname", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "appendonlydir", hidden: false },
    RedisOption { name: "server_cpulist", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "bio_cpulist", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "aof_rewrite_cpulist", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "bgsave_cpulist", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "ignore-warnings", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "proc-title-template", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "{title} {listen-addr} {server-mode}", hidden: false },
    RedisOption { name: "bind-source-addr", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "logfile", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "masterauth", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "requirepass", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "supervised", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Enum(&["upstart", "systemd", "auto", "no"]), default: "no", hidden: false },
    RedisOption { name: "syslog-facility", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Enum(&["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]), default: "local0", hidden: false },
    RedisOption { name: "repl-diskless-load", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["disabled", "on-empty-db", "swapdb"]), default: "disabled", hidden: false },
    RedisOption { name: "loglevel", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["debug", "verbose", "notice", "warning"]), default: "notice", hidden: false },
    RedisOption { name: "maxmemory-policy", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"]), default: "noeviction", hidden: false },
    RedisOption { name: "appendfsync", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["everysec", "always", "no"]), default: "everysec", hidden: false },
    RedisOption { name: "oom-score-adj", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["no", "yes", "relative", "absolute"]), default: "no", hidden: false },
    RedisOption { name: "acl-pubsub-default", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["allchannels", "resetchannels"]), default: "resetchannels", hidden: false },
    RedisOption { name: "sanitize-dump-payload", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["no", "yes", "clients"]), default: "no", hidden: false },
    RedisOption { name: "enable-protected-configs", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Enum(&["no", "yes", "local"]), default: "no", hidden: false },
    RedisOption { name: "enable-debug-command", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Enum(&["no", "yes", "local"]), default: "no", hidden: false },
    RedisOption { name: "enable-module-command", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Enum(&["no", "yes", "local"]), default: "no", hidden: false },
    RedisOption { name: "cluster-preferred-endpoint-type", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["ip", "hostname", "unknown-endpoint"]), default: "ip", hidden: false },
    RedisOption { name: "propagation-error-behavior", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["ignore", "panic", "panic-on-replicas"]), default: "ignore", hidden: false },
    RedisOption { name: "shutdown-on-sigint", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["default", "save", "nosave", "now", "force"]), default: "default", hidden: false },
    RedisOption { name: "shutdown-on-sigterm", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["default", "save", "nosave", "now", "force"]), default: "default", hidden: false },
    RedisOption { name: "databases", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Number { min: 1, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "16", hidden: false },
    RedisOption { name: "port", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 65535, unsigned: false, memory: false, percent: false }, default: "7702", hidden: false },
    RedisOption { name: "io-threads", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Number { min: 1, max: 128, unsigned: false, memory: false, percent: false }, default: "1", hidden: false },
    RedisOption { name: "auto-aof-rewrite-percentage", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "100", hidden: false },
    RedisOption { name: "cluster-replica-validity-factor", alias: "cluster-slave-validity-factor", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "10", hidden: false },
    RedisOption { name: "list-max-listpack-size", alias: "list-max-ziplist-size", runtime: Mutability::Runtime, kind: RedisKind::Number { min: -2147483648, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "-2", hidden: false },
    RedisOption { name: "tcp-keepalive", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "300", hidden: false },
    RedisOption { name: "cluster-migration-barrier", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "1", hidden: false },
    RedisOption { name: "active-defrag-cycle-min", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1, max: 99, unsigned: false, memory: false, percent: false }, default: "1", hidden: false },
    RedisOption { name: "active-defrag-cycle-max", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1, max: 99, unsigned: false, memory: false, percent: false }, default: "25", hidden: false },
    RedisOption { name: "active-defrag-threshold-lower", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 1000, unsigned: false, memory: false, percent: false }, default: "10", hidden: false },
    RedisOption { name: "active-defrag-threshold-upper", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 1000, unsigned: false, memory: false, percent: false }, default: "100", hidden: false },
    RedisOption { name: "lfu-log-factor", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "10", hidden: false },
    RedisOption { name: "lfu-decay-time", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "1", hidden: false },
    RedisOption { name: "replica-priority", alias: "slave-priority", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "100", hidden: false },
    RedisOption { name: "repl-diskless-sync-delay", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "5", hidden: false },
    RedisOption { name: "maxmemory-samples", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "5", hidden: false },
    RedisOption { name: "maxmemory-eviction-tenacity", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 100, unsigned: false, memory: false, percent: false }, default: "10", hidden: false },
    RedisOption { name: "timeout", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "replica-announce-port", alias: "slave-announce-port", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 65535, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "tcp-backlog", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "511", hidden: false },
    RedisOption { name: "cluster-port", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Number { min: 0, max: 65535, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "cluster-announce-bus-port", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 65535, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "cluster-announce-port", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 65535, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "cluster-announce-tls-port", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 65535, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "repl-timeout", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "60", hidden: false },
    RedisOption { name: "repl-ping-replica-period", alias: "repl-ping-slave-period", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "10", hidden: false },
    RedisOption { name: "list-compress-depth", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "rdb-key-save-delay", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: -2147483648, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "0", hidden: true },
    RedisOption { name: "key-load-delay", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: -2147483648, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "0", hidden: true },
    RedisOption { name: "active-expire-effort", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1, max: 10, unsigned: false, memory: false, percent: false }, default: "1", hidden: false },
    RedisOption { name: "hz", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "10", hidden: false },
    RedisOption { name: "min-replicas-to-write", alias: "min-slaves-to-write", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "min-replicas-max-lag", alias: "min-slaves-max-lag", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "10", hidden: false },
    RedisOption { name: "watchdog-period", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "0", hidden: true },
    RedisOption { name: "shutdown-timeout", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "10", hidden: false },
    RedisOption { name: "repl-diskless-sync-max-replicas", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "maxclients", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1, max: 4294967295, unsigned: true, memory: false, percent: false }, default: "10000", hidden: false },
    RedisOption { name: "unixsocketperm", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Special, default: "0", hidden: false },
    RedisOption { name: "socket-mark-id", alias: "", runtime: Mutability::Immutable, kind: RedisKind::Number { min: 0, max: 4294967295, unsigned: true, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "active-defrag-max-scan-fields", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1, max: 9223372036854775807, unsigned: true, memory: false, percent: false }, default: "1000", hidden: false },
    RedisOption { name: "slowlog-max-len", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }, default: "128", hidden: false },
    RedisOption { name: "acllog-max-len", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }, default: "128", hidden: false },
    RedisOption { name: "busy-reply-threshold", alias: "lua-time-limit", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }, default: "5000", hidden: false },
    RedisOption { name: "cluster-node-timeout", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }, default: "15000", hidden: false },
    RedisOption { name: "slowlog-log-slower-than", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: -1, max: 9223372036854775807, unsigned: false, memory: false, percent: false }, default: "10000", hidden: false },
    RedisOption { name: "latency-monitor-threshold", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "proto-max-bulk-len", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1048576, max: 9223372036854775807, unsigned: false, memory: true, percent: false }, default: "536870912", hidden: false },
    RedisOption { name: "stream-node-max-entries", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }, default: "100", hidden: false },
    RedisOption { name: "repl-backlog-size", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1, max: 9223372036854775807, unsigned: false, memory: true, percent: false }, default: "1048576", hidden: false },
    RedisOption { name: "maxmemory", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 18446744073709551615, unsigned: true, memory: true, percent: false }, default: "0", hidden: false },
    RedisOption { name: "cluster-link-sendbuf-limit", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 18446744073709551615, unsigned: true, memory: true, percent: false }, default: "0", hidden: false },
    RedisOption { name: "hash-max-listpack-entries", alias: "hash-max-ziplist-entries", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }, default: "2", hidden: false },
    RedisOption { name: "set-max-intset-entries", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }, default: "512", hidden: false },
    RedisOption { name: "zset-max-listpack-entries", alias: "zset-max-ziplist-entries", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }, default: "128", hidden: false },
    RedisOption { name: "active-defrag-ignore-bytes", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1, max: 9223372036854775807, unsigned: true, memory: true, percent: false }, default: "104857600", hidden: false },
    RedisOption { name: "hash-max-listpack-value", alias: "hash-max-ziplist-value", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: true, memory: true, percent: false }, default: "64", hidden: false },
    RedisOption { name: "stream-node-max-bytes", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: true, memory: true, percent: false }, default: "4096", hidden: false },
    RedisOption { name: "zset-max-listpack-value", alias: "zset-max-ziplist-value", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: true, memory: true, percent: false }, default: "64", hidden: false },
    RedisOption { name: "hll-sparse-max-bytes", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: true, memory: true, percent: false }, default: "3000", hidden: false },
    RedisOption { name: "tracking-table-max-keys", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: true, memory: false, percent: false }, default: "1000000", hidden: false },
    RedisOption { name: "client-query-buffer-limit", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1048576, max: 9223372036854775807, unsigned: true, memory: true, percent: false }, default: "1073741824", hidden: false },
    RedisOption { name: "maxmemory-clients", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: -100, max: 9223372036854775807, unsigned: false, memory: true, percent: true }, default: "0", hidden: false },
    RedisOption { name: "repl-backlog-ttl", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: false, memory: false, percent: false }, default: "3600", hidden: false },
    RedisOption { name: "auto-aof-rewrite-min-size", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 9223372036854775807, unsigned: false, memory: true, percent: false }, default: "67108864", hidden: false },
    RedisOption { name: "loading-process-events-interval-bytes", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 1024, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "2097152", hidden: true },
    RedisOption { name: "tls-port", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 65535, unsigned: false, memory: false, percent: false }, default: "0", hidden: false },
    RedisOption { name: "tls-session-cache-size", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "20480", hidden: false },
    RedisOption { name: "tls-session-cache-timeout", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Number { min: 0, max: 2147483647, unsigned: false, memory: false, percent: false }, default: "300", hidden: false },
    RedisOption { name: "tls-cluster", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "tls-replication", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "tls-auth-clients", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Enum(&["no", "yes", "optional"]), default: "yes", hidden: false },
    RedisOption { name: "tls-prefer-server-ciphers", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "no", hidden: false },
    RedisOption { name: "tls-session-caching", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Bool, default: "yes", hidden: false },
    RedisOption { name: "tls-cert-file", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-key-file", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-key-file-pass", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-client-cert-file", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-client-key-file", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-client-key-file-pass", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-dh-params-file", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-ca-cert-file", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-ca-cert-dir", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-protocols", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-ciphers", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "tls-ciphersuites", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Text, default: "", hidden: false },
    RedisOption { name: "dir", alias: "", runtime: Mutability::Protected, kind: RedisKind::Special, default: "", hidden: false },
    RedisOption { name: "save", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Special, default: "", hidden: false },
    RedisOption { name: "client-output-buffer-limit", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Special, default: "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", hidden: false },
    RedisOption { name: "oom-score-adj-values", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Special, default: "0 200 800", hidden: false },
    RedisOption { name: "notify-keyspace-events", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Special, default: "", hidden: false },
    RedisOption { name: "bind", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Special, default: "* -::*", hidden: false },
    RedisOption { name: "replicaof", alias: "slaveof", runtime: Mutability::Immutable, kind: RedisKind::Special, default: "", hidden: false },
    RedisOption { name: "latency-tracking-info-percentiles", alias: "", runtime: Mutability::Runtime, kind: RedisKind::Special, default: "50 99 99.9", hidden: false },
];
