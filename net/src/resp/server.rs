//! Server commands: `INFO`, `CONFIG`, `DBSIZE`, the flushes, persistence and `SHUTDOWN`.

use super::connection::{help, REDIS_VERSION};
use super::docs::server as docs;
use super::parse::Args;
use super::table::{command, container, Row};
use super::{errors, CommandResult};
use crate::client::flags;
use crate::config::{mutability, option_names, Mutability};
use crate::lock::Lock;
use crate::session::{Session, Shared};
use engine::Engine;
use keyspace::{glob_match, Value};
use std::fmt::Write as _;
use std::sync::PoisonError;

/// The server commands' rows.
pub(super) fn rows<E: Engine<Value = Value>>() -> Vec<Row<E>> {
    vec![
        command!("info", -1, [LOADING, STALE], [SLOW, DANGEROUS], [], info_command, tips: ["nondeterministic_output", "request_policy:all_shards", "response_policy:special"], docs: docs::INFO),
        command!("dbsize", 1, [READONLY, FAST], [KEYSPACE, READ, FAST], [], dbsize, tips: ["request_policy:all_shards", "response_policy:agg_sum"], docs: docs::DBSIZE),
        command!("flushdb", -1, [WRITE], [KEYSPACE, WRITE, SLOW, DANGEROUS], [], flushdb, tips: ["request_policy:all_shards", "response_policy:all_succeeded"], docs: docs::FLUSHDB).with_lock(Lock::Exclusive),
        command!("flushall", -1, [WRITE], [KEYSPACE, WRITE, SLOW, DANGEROUS], [], flushall, tips: ["request_policy:all_shards", "response_policy:all_succeeded"], docs: docs::FLUSHALL).with_lock(Lock::AllDatabases),
        command!("swapdb", 3, [WRITE, FAST], [KEYSPACE, WRITE, FAST, DANGEROUS], [], swapdb, docs: docs::SWAPDB).with_lock(Lock::AllDatabases),
        container!(
            "config",
            -2,
            [],
            [SLOW],
            vec![
                command!(
                    "config|get",
                    -3,
                    [ADMIN, NOSCRIPT, LOADING, STALE],
                    [ADMIN, SLOW, DANGEROUS],
                    [],
                    config_get,
                    docs: docs::CONFIG_GET
                ),
                command!("config|set", -4, [ADMIN, NOSCRIPT, LOADING, STALE], [ADMIN, SLOW, DANGEROUS], [], config_set, tips: ["request_policy:all_nodes", "response_policy:all_succeeded"], docs: docs::CONFIG_SET),
                command!(
                    "config|resetstat",
                    2,
                    [ADMIN, NOSCRIPT, LOADING, STALE],
                    [ADMIN, SLOW, DANGEROUS],
                    [],
                    config_resetstat,
                    docs: docs::CONFIG_RESETSTAT
                ),
                command!(
                    "config|rewrite",
                    2,
                    [ADMIN, NOSCRIPT, LOADING, STALE],
                    [ADMIN, SLOW, DANGEROUS],
                    [],
                    config_rewrite,
                    docs: docs::CONFIG_REWRITE
                ),
                command!("config|help", 2, [LOADING, STALE], [SLOW], [], config_help, docs: docs::CONFIG_HELP),
            ],
            docs: docs::CONFIG
        ),
        command!("time", 1, [LOADING, STALE, FAST], [FAST], [], time, tips: ["nondeterministic_output"], docs: docs::TIME),
        command!(
            "bgrewriteaof",
            1,
            [ADMIN, NOSCRIPT, NO_ASYNC_LOADING],
            [ADMIN, SLOW, DANGEROUS],
            [],
            bgrewriteaof,
            docs: docs::BGREWRITEAOF
        ),
        command!("lastsave", 1, [LOADING, STALE, FAST], [ADMIN, FAST, DANGEROUS], [], lastsave, tips: ["nondeterministic_output"], docs: docs::LASTSAVE),
        command!(
            "shutdown",
            -1,
            [ADMIN, NOSCRIPT, LOADING, STALE, NO_MULTI, ALLOW_BUSY],
            [ADMIN, SLOW, DANGEROUS],
            [],
            shutdown,
            docs: docs::SHUTDOWN
        ),
    ]
}

fn info_command<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let text = info(session, args);
    session.verbatim_text(text.as_bytes());
    Ok(())
}

fn dbsize<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let _ = args;
    let length = session.keyspace().len();
    session.integer(length as i64);
    Ok(())
}

fn flushdb<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    flush_mode(args)?;
    session.keyspace().flush();
    session.ok();
    Ok(())
}

fn flushall<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    flush_mode(args)?;
    for index in 0..session.shared.databases.len() {
        session.db(index).flush();
    }
    session.ok();
    Ok(())
}

/// `SWAPDB index1 index2`: clients of either database see the other's keys from now on
/// (see `keyspace::databases`: two entries of a map change, no key moves).
fn swapdb<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    // Redis reads each index as a C int, with its own error, before it checks the range.
    let index = |text: &[u8], which: &str| {
        keyspace::parse_i64(text)
            .filter(|index| i32::try_from(*index).is_ok())
            .ok_or_else(|| format!("ERR invalid {which} DB index"))
    };
    let first = index(args.get(1), "first")?;
    let second = index(args.get(2), "second")?;
    let count = session.shared.databases.len();
    let in_range = |index: i64| usize::try_from(index).ok().filter(|&index| index < count);
    let (Some(first), Some(second)) = (in_range(first), in_range(second)) else {
        return Err("ERR DB index is out of range".into());
    };
    session
        .held
        .all()
        .expect("SWAPDB's row takes every database")
        .swap(first, second);
    session.ok();
    Ok(())
}

/// The flushes' optional `ASYNC` or `SYNC` (both flush at once here).
fn flush_mode(args: Args<'_>) -> CommandResult {
    match args.len() {
        1 => Ok(()),
        2 if matches!(
            args.get(1).to_ascii_uppercase().as_slice(),
            b"ASYNC" | b"SYNC"
        ) =>
        {
            Ok(())
        }
        _ => Err(errors::SYNTAX.into()),
    }
}

fn time<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let _ = args;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    session.array(2);
    session.bulk(now.as_secs().to_string().as_bytes());
    session.bulk(now.subsec_micros().to_string().as_bytes());
    Ok(())
}

fn bgrewriteaof<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let _ = args;
    match &session.shared.aof.get() {
        // Redis without an AOF writes a fresh one from scratch; we have none to write.
        None => Err(
            "ERR Background append only file rewriting is not possible: appendonly is off".into(),
        ),
        Some(aof) => match aof.rewrite() {
            Ok(()) => {
                session.simple("Background append only file rewriting started");
                Ok(())
            }
            Err(text) => Err(format!("ERR {text}").into()),
        },
    }
}

fn lastsave<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let _ = args;
    let at = match &session.shared.aof.get() {
        Some(aof) => aof.last_save_unix(),
        None => session.shared.started_unix,
    };
    session.integer(at as i64);
    Ok(())
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`. There is no RDB to save and no replica to
/// wait for, so every accepted form stops the server at once, as SIGTERM does (the AOF is
/// synced first); the client gets no reply, only the closed connection, as from Redis.
/// `ABORT` finds no shutdown in progress.
fn shutdown<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let mut abort = false;
    let mut other = false;
    let (mut save, mut nosave) = (false, false);
    for index in 1..args.len() {
        match args.get(index).to_ascii_uppercase().as_slice() {
            b"NOSAVE" => nosave = true,
            b"SAVE" => save = true,
            b"NOW" | b"FORCE" => other = true,
            b"ABORT" => abort = true,
            _ => return Err(errors::SYNTAX.into()),
        }
    }
    if (save && nosave) || (abort && (save || nosave || other)) {
        return Err(errors::SYNTAX.into());
    }
    if abort {
        return Err("ERR No shutdown in progress.".into());
    }
    match &session.shared.shutdown {
        Some(request) => {
            tracing::warn!("User requested shutdown...");
            request();
            session.client.set_flags(flags::CLOSE_AFTER_REPLY, true);
            Ok(())
        }
        None => Err("ERR Errors trying to SHUTDOWN. Check logs.".into()),
    }
}

fn config_get<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let config = session.shared.config();
    let mut pairs = Vec::new();
    for name in option_names() {
        if args
            .iter_from(2)
            .any(|pattern| glob_match(pattern, name.as_bytes(), true))
        {
            if let Some(value) = config.get(name) {
                pairs.push((name.to_string(), value));
            }
        }
    }
    // A hidden option (Redis's debugging knobs) answers only to its exact name.
    for pattern in args.iter_from(2) {
        let name = String::from_utf8_lossy(pattern).to_ascii_lowercase();
        let hidden = crate::config::redis::redis_option(&name).is_some_and(|option| option.hidden);
        if hidden && !pairs.iter().any(|(listed, _)| *listed == name) {
            if let Some(value) = config.get(&name) {
                pairs.push((name, value));
            }
        }
    }
    session.map(pairs.len());
    for (name, value) in pairs {
        session.bulk(name.as_bytes());
        session.bulk(value.as_bytes());
    }
    Ok(())
}

fn config_set<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    if !args.len().is_multiple_of(2) {
        return Err(errors::SYNTAX.into());
    }
    let failed = |name: &str, reason: &str| -> CommandResult {
        Err(
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
                .into(),
        )
    };
    // As Redis: every name is checked before any value, and the first problem in argument
    // order is the one reported (an unknown name, an option that cannot change, a repeat).
    let mut pairs: Vec<(String, String)> = Vec::new();
    for index in (2..args.len()).step_by(2) {
        let name = String::from_utf8_lossy(args.get(index)).into_owned();
        let Some(runtime) = mutability(&name) else {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )
            .into());
        };
        match runtime {
            Mutability::Immutable => return failed(&name, "can't set immutable config"),
            Mutability::Protected => return failed(&name, "can't set protected config"),
            Mutability::Runtime => {}
        }
        // Redis 7.0 tells a name from its alias here: only the same name twice is a repeat.
        let lower = name.to_ascii_lowercase();
        if pairs.iter().any(|(seen, _)| *seen == lower) {
            return failed(&name, "duplicate parameter");
        }
        let value = String::from_utf8_lossy(args.get(index + 1)).into_owned();
        pairs.push((lower, value));
    }
    // All or nothing: values go to a copy, which is applied, then installed.
    let shared = session.shared;
    let before = shared.config();
    let mut config = before.clone();
    for (name, value) in &pairs {
        if let Err(reason) = config.set(name, value) {
            return failed(name, &reason);
        }
    }
    let listening = |config: &crate::config::Config| {
        (
            config.bind.clone(),
            config.port.to_string(),
            config.memcache_port.to_string(),
        )
    };
    let rebound = listening(&config) != listening(&before);
    if rebound {
        if let Err(error) = crate::server::rebind(shared, &before, &mut config) {
            tracing::warn!("CONFIG SET cannot listen as asked: {error}");
            // Redis's words: one for `bind`, one for the ports.
            let (name, _) = pairs
                .iter()
                .find(|(name, _)| ["bind", "port", "memcache-port"].contains(&name.as_str()))
                .expect("a listening option changed");
            let reason = if name == "bind" {
                "Failed to bind to specified addresses."
            } else {
                "Unable to listen on this port. Check server logs."
            };
            return failed(name, reason);
        }
    }
    if config.appendonly != before.appendonly {
        if let Err(reason) = shared.aof.set_enabled(config.appendonly, &config) {
            tracing::warn!(
                "CONFIG SET appendonly {}: {reason}",
                config.get("appendonly").unwrap_or_default()
            );
            if rebound {
                // All or nothing: listen as before again.
                if let Err(error) = crate::server::rebind(shared, &config, &mut before.clone()) {
                    tracing::warn!("CONFIG SET cannot listen as before: {error}");
                }
            }
            return failed("appendonly", "Unable to turn on AOF. Check server logs.");
        }
    }
    if let Some(log) = shared.aof.get() {
        if log.fsync() != config.appendfsync {
            log.set_fsync(config.appendfsync);
        }
        log.set_auto_rewrite(
            config.auto_aof_rewrite_percentage,
            config.auto_aof_rewrite_min_size,
        );
    }
    if config.loglevel != before.loglevel {
        if let Some(set) = &shared.set_log_level {
            set(&config.loglevel);
        }
    }
    shared.set_config(config);
    session.ok();
    Ok(())
}

/// `CONFIG RESETSTAT`: zeroes what Redis's `resetServerStats` zeroes that we count.
fn config_resetstat<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let _ = args;
    let stats = &session.shared.stats;
    for counter in [
        &stats.commands,
        &stats.errors,
        &stats.connections,
        &stats.rejected,
        &stats.net_input_bytes,
        &stats.net_output_bytes,
        &stats.output_limit_closed,
    ] {
        counter.reset();
    }
    session.shared.command_stats.reset();
    for keyspace in session.shared.databases.physical() {
        let keyspace_stats = keyspace.stats();
        keyspace_stats.hits.reset();
        keyspace_stats.misses.reset();
        keyspace_stats.expired.reset();
    }
    session.ok();
    Ok(())
}

/// `CONFIG REWRITE`: writes the running configuration into the file the server was started
/// with (see `Config::rewrite_file` for what is kept), replacing it atomically.
fn config_rewrite<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let _ = args;
    let Some(path) = session.shared.config_file.clone() else {
        return Err("ERR The server is running without a config file".into());
    };
    let result = match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text),
        // Redis rewrites a file that has gone as an empty one.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(error),
    }
    .and_then(|old| replace_file(&path, &session.shared.config().rewrite_file(&old)));
    match result {
        Ok(()) => {
            tracing::warn!("CONFIG REWRITE executed with success.");
            session.ok();
            Ok(())
        }
        Err(error) => {
            tracing::warn!("CONFIG REWRITE failed: {error}");
            Err(format!("ERR Rewriting config file: {}", strerror(&error)).into())
        }
    }
}

/// The C library's text for an error (what Redis's `strerror` prints), without Rust's
/// " (os error N)".
fn strerror(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Replaces `path` with `text` atomically, as Redis does: a temporary file beside it, fsync,
/// mode 0644, rename over it, fsync of the directory.
fn replace_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = std::path::PathBuf::from(temporary);
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        std::fs::rename(&temporary, path)?;
        let directory = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        std::fs::File::open(directory)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

fn config_help<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let _ = args;
    help(
        session,
        &[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    The options whose names match the glob pattern, with their values.",
            "SET <option> <value> [<option> <value> ...]",
            "    Changes options at runtime: all of them, or none when one is refused.",
            "RESETSTAT",
            "    Zeroes the counters INFO reports.",
            "REWRITE",
            "    Writes the running configuration back to the config file.",
            "HELP",
            "    This text.",
        ],
    );
    Ok(())
}

/// The CPU time the process has used, in seconds: (system, user), every thread counted (the
/// event loops, the log writer, the sweeper).
fn cpu_seconds() -> (f64, f64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` through the pointer, which points to one we own and
    // that lives across the call; RUSAGE_SELF is always valid, so it cannot fail.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if status != 0 {
        return (0.0, 0.0);
    }
    // SAFETY: zero-initialised, and filled in by the successful call above.
    let usage = unsafe { usage.assume_init() };
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1_000_000.0;
    (seconds(usage.ru_stime), seconds(usage.ru_utime))
}

/// Resident set size in bytes, from `/proc/self/statm` (0 where there is no procfs).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// `INFO commandstats`: one line per command or subcommand that ran or was refused since the
/// last `CONFIG RESETSTAT`, in Redis's format, in table order. See `stats::CommandStats` for
/// what `usec` measures here.
fn command_stats<E: Engine<Value = Value>>(shared: &Shared<E>, text: &mut String) {
    text.push_str("# Commandstats\r\n");
    for row in shared.commands.rows() {
        for row in std::iter::once(row).chain(&row.subcommands) {
            let counts = shared.command_stats.counts(usize::from(row.id.0));
            if counts.calls == 0 && counts.rejected == 0 && counts.failed == 0 {
                continue;
            }
            let usec = shared.command_stats.microseconds(counts.ticks);
            let per_call = if counts.calls == 0 {
                0.0
            } else {
                usec as f64 / counts.calls as f64
            };
            let _ = write!(
                text,
                "cmdstat_{}:calls={},usec={usec},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                row.spec.name, counts.calls, counts.rejected, counts.failed
            );
        }
    }
    text.push_str("\r\n");
}

fn info<E: Engine<Value = Value>>(session: &Session<'_, E>, args: Args<'_>) -> String {
    let wanted: Vec<String> = args
        .iter_from(1)
        .map(|section| String::from_utf8_lossy(section).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|s| s == "all" || s == "default" || s == "everything");
    let include = |section: &str| all || wanted.iter().any(|s| s == section);
    // As in Redis, the default sections leave the per-command statistics out.
    let everything = wanted.iter().any(|s| s == "all" || s == "everything");
    let include_commandstats = everything || wanted.iter().any(|s| s == "commandstats");
    let shared = session.shared;
    let config = shared.config();
    let ports = *shared.ports.lock().unwrap_or_else(PoisonError::into_inner);
    let mut text = String::new();
    if include("server") {
        let uptime = shared.started.elapsed().as_secs();
        let _ = write!(
            text,
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nworkingdb_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nmemcache_port:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:10\r\nexecutable:workingdb\r\nengine:{}\r\nevent_loops:{}\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            shared.run_id,
            ports.0,
            ports.1,
            uptime,
            uptime / 86_400,
            E::NAME,
            config.loop_count(),
        );
    }
    if include("clients") {
        let _ = write!(
            text,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:0\r\n\r\n",
            shared.client_count(),
            config.maxclients
        );
    }
    if include("memory") {
        // We do not count allocations (a global counting allocator would put an atomic on
        // every allocation), so used_memory is the resident set size too. The binary links
        // mimalloc (src/main.rs).
        let rss = resident_bytes();
        let _ = write!(
            text,
            "# Memory\r\nused_memory:{rss}\r\nused_memory_human:{:.2}M\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{:.2}M\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\nmem_allocator:mimalloc\r\n\r\n",
            rss as f64 / 1048576.0,
            rss as f64 / 1048576.0
        );
    }
    if include("persistence") {
        text.push_str("# Persistence\r\nloading:0\r\nasync_loading:0\r\n");
        let aof = shared.aof.get();
        let last_save = aof
            .as_ref()
            .map_or(shared.started_unix, |aof| aof.last_save_unix());
        let _ = write!(
            text,
            "rdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{last_save}\r\nrdb_last_bgsave_status:ok\r\n"
        );
        match &aof {
            None => text.push_str("aof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\naof_last_write_status:ok\r\n"),
            Some(aof) => {
                for (name, value) in aof.info() {
                    let _ = write!(text, "{name}:{value}\r\n");
                }
                let _ = write!(text, "aof_fsync:{}\r\n", aof.fsync().name());
            }
        }
        text.push_str("\r\n");
    }
    if include("stats") {
        let stats = &shared.stats;
        let databases = &shared.databases;
        let sum = |counter: fn(&keyspace::Stats) -> usize| -> usize {
            databases
                .physical()
                .iter()
                .map(|keyspace| counter(keyspace.stats()))
                .sum()
        };
        let _ = write!(
            text,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\ntotal_error_replies:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n\r\n",
            stats.connections.sum(),
            stats.commands.sum() as u64 + shared.command_stats.total_calls(),
            stats.net_input_bytes.sum(),
            stats.net_output_bytes.sum(),
            stats.rejected.sum(),
            sum(|stats| stats.expired.sum()),
            sum(|stats| stats.hits.sum()),
            sum(|stats| stats.misses.sum()),
            stats.errors.sum(),
            stats.output_limit_closed.sum(),
        );
    }
    if include("replication") {
        // A master with no replicas and no backlog: what this server is until replication
        // comes (its own issue). Redis's fields, in its order.
        let _ = write!(
            text,
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n\r\n",
            shared.repl_id,
            config
                .get("repl-backlog-size")
                .unwrap_or_else(|| "1048576".into()),
        );
    }
    if include("cpu") {
        let (system, user) = cpu_seconds();
        // We never fork, so the children's times are 0.
        let _ = write!(
            text,
            "# CPU\r\nused_cpu_sys:{system:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n\r\n"
        );
    }
    if include("modules") {
        // No modules: the section is there and empty, as in a Redis without any.
        text.push_str("# Modules\r\n\r\n");
    }
    if include_commandstats {
        command_stats(shared, &mut text);
    }
    if include("errorstats") {
        text.push_str("# Errorstats\r\n");
        for (code, count) in shared.command_stats.error_counts() {
            let _ = write!(text, "errorstat_{code}:count={count}\r\n");
        }
        text.push_str("\r\n");
    }
    if include("cluster") {
        text.push_str("# Cluster\r\ncluster_enabled:0\r\n\r\n");
    }
    if include("keyspace") {
        text.push_str("# Keyspace\r\n");
        for db in 0..shared.databases.len() {
            let keyspace = shared.databases.unlocked(db);
            let keys = keyspace.len();
            if keys > 0 {
                // Both read without a lock, so a write in flight can make `expires` exceed
                // `keys` for a moment; Redis never shows that.
                let expires = keyspace.expiring_len().min(keys);
                let avg_ttl = keyspace.avg_ttl_ms();
                let _ = write!(
                    text,
                    "db{db}:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n"
                );
            }
        }
        text.push_str("\r\n");
    }
    // Redis ends the text without the last blank line.
    while text.ends_with("\r\n\r\n") {
        text.truncate(text.len() - 2);
    }
    text
}
