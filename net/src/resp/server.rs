//! Server and connection commands: `PING`, `INFO`, `CONFIG`, `COMMAND`, `CLIENT`, ...

use super::commands::{Command, COMMANDS};
use super::parse::Args;
use super::{errors, int_arg, truncate_lossy, CommandResult};
use crate::config::OPTIONS;
use crate::session::Session;
use engine::keyspace::{glob_match, Value};
use engine::Engine;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;

/// The Redis version we report: the one whose commands and replies we follow. Clients check it
/// to decide which commands they may use.
pub const REDIS_VERSION: &str = "7.0.15";

pub(super) fn run<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    command: &Command,
    args: Args<'_>,
) -> CommandResult {
    match command.name {
        "ping" => match args.len() {
            1 => session.simple("PONG"),
            2 => session.bulk(args.get(1)),
            _ => return Err("ERR wrong number of arguments for 'ping' command".into()),
        },
        "echo" => session.bulk(args.get(1)),
        "info" => {
            let text = info(session, args);
            session.bulk(text.as_bytes());
        }
        "dbsize" => {
            let length = session.keyspace().len();
            session.integer(length as i64);
        }
        "flushdb" | "flushall" => {
            match args.len() {
                1 => {}
                2 if matches!(
                    args.get(1).to_ascii_uppercase().as_slice(),
                    b"ASYNC" | b"SYNC"
                ) => {}
                _ => return Err(errors::SYNTAX.into()),
            }
            session.keyspace().flush();
            session.ok();
        }
        "command" => command_command(session, args)?,
        "config" => config(session, args)?,
        "time" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            session.array(2);
            session.bulk(now.as_secs().to_string().as_bytes());
            session.bulk(now.subsec_micros().to_string().as_bytes());
        }
        "select" => {
            let index = int_arg(args.get(1)).map_err(|_| errors::NOT_INTEGER)?;
            if index != 0 {
                return Err("ERR DB index is out of range".into());
            }
            session.ok();
        }
        "bgrewriteaof" => {
            match &session.shared.aof {
                None => {
                    // Redis without an AOF writes a fresh one from scratch; we have none to write.
                    return Err("ERR Background append only file rewriting is not possible: appendonly is off".into());
                }
                Some(aof) => match aof.rewrite() {
                    Ok(()) => session.simple("Background append only file rewriting started"),
                    Err(text) => return Err(format!("ERR {text}").into()),
                },
            }
        }
        "lastsave" => {
            let at = match &session.shared.aof {
                Some(aof) => aof.last_save_unix(),
                None => session.shared.started_unix,
            };
            session.integer(at as i64);
        }
        "hello" => hello(session, args)?,
        "client" => client(session, args)?,
        "shutdown" => shutdown(session, args)?,
        other => unreachable!("{other} is not a server command"),
    }
    Ok(())
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`. There is no RDB to save and no replica to
/// wait for, so every accepted form stops the server at once, as SIGTERM does (the AOF is
/// synced first); the client gets no reply, only the closed connection, as from Redis.
/// `ABORT` finds no shutdown in progress.
pub(super) fn shutdown<E: Engine<Value = Value>>(
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
            Ok(())
        }
        None => Err("ERR Errors trying to SHUTDOWN. Check logs.".into()),
    }
}

fn unknown_subcommand(args: Args<'_>, command: &str) -> super::CommandError {
    format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        truncate_lossy(args.get(1), 128),
        command
    )
    .into()
}

fn subcommand_arity(args: Args<'_>, name: &str, arity: i32) -> CommandResult {
    let count = args.len() as i32;
    let ok = if arity >= 0 {
        count == arity
    } else {
        count >= -arity
    };
    if ok {
        Ok(())
    } else {
        Err(format!("ERR wrong number of arguments for '{name}' command").into())
    }
}

fn hello<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    if args.len() >= 2 {
        let version = int_arg(args.get(1))
            .map_err(|_| "ERR Protocol version is not an integer or out of range")?;
        if version != 2 {
            return Err("NOPROTO unsupported protocol version".into());
        }
        let mut index = 2;
        while index < args.len() {
            match args.get(index).to_ascii_uppercase().as_slice() {
                // No users or passwords: the default user needs none, as in a Redis without
                // `requirepass`, where AUTH default <anything> succeeds.
                b"AUTH" if index + 2 < args.len() => index += 3,
                b"SETNAME" if index + 1 < args.len() => {
                    set_client_name(session, args.get(index + 1))?;
                    index += 2;
                }
                _ => {
                    return Err(format!(
                        "ERR Syntax error in HELLO option '{}'",
                        truncate_lossy(args.get(index), 128)
                    )
                    .into())
                }
            }
        }
    }
    session.array(14);
    session.bulk(b"server");
    session.bulk(b"redis");
    session.bulk(b"version");
    session.bulk(REDIS_VERSION.as_bytes());
    session.bulk(b"proto");
    session.integer(2);
    session.bulk(b"id");
    session.integer(session.client.id as i64);
    session.bulk(b"mode");
    session.bulk(b"standalone");
    session.bulk(b"role");
    session.bulk(b"master");
    session.bulk(b"modules");
    session.array(0);
    Ok(())
}

fn set_client_name<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    name: &[u8],
) -> CommandResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(
            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
        );
    }
    *session
        .client
        .name
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = name.to_vec();
    Ok(())
}

fn client<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    match args.get(1).to_ascii_uppercase().as_slice() {
        b"SETNAME" => {
            subcommand_arity(args, "client|setname", 3)?;
            set_client_name(session, args.get(2))?;
            session.ok();
        }
        b"GETNAME" => {
            subcommand_arity(args, "client|getname", 2)?;
            let name = session
                .client
                .name
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if name.is_empty() {
                session.null();
            } else {
                session.bulk(&name);
            }
        }
        b"ID" => {
            subcommand_arity(args, "client|id", 2)?;
            session.integer(session.client.id as i64);
        }
        b"SETINFO" => {
            subcommand_arity(args, "client|setinfo", 4)?;
            session.ok();
        }
        b"INFO" => {
            subcommand_arity(args, "client|info", 2)?;
            let line = client_line(session.client);
            session.bulk(line.as_bytes());
        }
        b"LIST" => {
            let clients: Vec<_> = session
                .shared
                .clients
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned()
                .collect();
            let mut text = String::new();
            for client in &clients {
                text.push_str(&client_line(client));
            }
            session.bulk(text.as_bytes());
        }
        _ => return Err(unknown_subcommand(args, "CLIENT")),
    }
    Ok(())
}

/// One line of `CLIENT LIST`, in Redis's field order (the fields we track).
fn client_line(client: &crate::session::ClientInfo) -> String {
    let age = client.connected.elapsed().as_secs();
    let last = client.last_command.load(Ordering::Relaxed) / 1000;
    let idle = age.saturating_sub(last);
    let name = client
        .name
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let address = |a: Option<std::net::SocketAddr>| a.map_or_else(String::new, |a| a.to_string());
    format!(
        "id={} addr={} laddr={} name={} age={} idle={} flags=N db=0 sub=0 psub=0 multi=-1\n",
        client.id,
        address(client.peer),
        address(client.local),
        String::from_utf8_lossy(&name),
        age,
        idle
    )
}

fn config<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    match args.get(1).to_ascii_uppercase().as_slice() {
        b"GET" => {
            subcommand_arity(args, "config|get", -3)?;
            let config = session.shared.config();
            let mut pairs = Vec::new();
            for option in OPTIONS {
                if args
                    .iter_from(2)
                    .any(|pattern| glob_match(pattern, option.name.as_bytes(), true))
                {
                    if let Some(value) = config.get(option.name) {
                        pairs.push((option.name, value));
                    }
                }
            }
            session.array(pairs.len() * 2);
            for (name, value) in pairs {
                session.bulk(name.as_bytes());
                session.bulk(value.as_bytes());
            }
        }
        b"SET" => {
            subcommand_arity(args, "config|set", -4)?;
            if !args.len().is_multiple_of(2) {
                return Err("ERR wrong number of arguments for 'config|set' command".into());
            }
            // All or nothing: apply to a copy, then install it.
            let mut config = session.shared.config();
            for index in (2..args.len()).step_by(2) {
                let name = String::from_utf8_lossy(args.get(index)).to_string();
                let value = String::from_utf8_lossy(args.get(index + 1)).to_string();
                let runtime = OPTIONS
                    .iter()
                    .find(|option| option.name.eq_ignore_ascii_case(&name))
                    .map(|option| option.runtime);
                let result = match runtime {
                    Some(false) => Err("can't set immutable config".to_string()),
                    _ => config.set(&name, &value),
                };
                if let Err(reason) = result {
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
                    )
                    .into());
                }
            }
            session.shared.set_config(config);
            session.ok();
        }
        b"RESETSTAT" => {
            subcommand_arity(args, "config|resetstat", 2)?;
            let stats = &session.shared.stats;
            stats.commands.reset();
            stats.errors.reset();
            stats.connections.reset();
            stats.rejected.reset();
            let keyspace_stats = session.keyspace().stats();
            keyspace_stats.hits.reset();
            keyspace_stats.misses.reset();
            keyspace_stats.expired.reset();
            session.ok();
        }
        b"REWRITE" => return Err("ERR The server is running without a config file".into()),
        _ => return Err(unknown_subcommand(args, "CONFIG")),
    }
    Ok(())
}

/// One `COMMAND INFO` entry, as Redis 7 prints it (ten fields).
fn command_entry<E: Engine<Value = Value>>(session: &mut Session<'_, E>, command: &Command) {
    session.array(10);
    session.bulk(command.name.as_bytes());
    session.integer(i64::from(command.arity));
    session.array(command.flags.len());
    for flag in command.flags {
        session.simple(flag);
    }
    session.integer(i64::from(command.keys.0));
    session.integer(i64::from(command.keys.1));
    session.integer(i64::from(command.keys.2));
    session.array(0); // ACL categories
    session.array(0); // tips
    session.array(0); // key specs
    session.array(0); // subcommands
}

fn command_command<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    if args.len() == 1 {
        session.array(COMMANDS.len());
        for command in COMMANDS {
            command_entry(session, command);
        }
        return Ok(());
    }
    match args.get(1).to_ascii_uppercase().as_slice() {
        b"COUNT" => {
            subcommand_arity(args, "command|count", 2)?;
            session.integer(COMMANDS.len() as i64);
        }
        b"INFO" => {
            let names: Vec<&[u8]> = args.iter_from(2).collect();
            if names.is_empty() {
                session.array(COMMANDS.len());
                for command in COMMANDS {
                    command_entry(session, command);
                }
            } else {
                session.array(names.len());
                for name in names {
                    match super::commands::lookup(name) {
                        Some(command) => command_entry(session, command),
                        None => session.null_array(),
                    }
                }
            }
        }
        b"LIST" => {
            session.array(COMMANDS.len());
            for command in COMMANDS {
                session.bulk(command.name.as_bytes());
            }
        }
        // We keep no command docs; an empty map is what Redis answers for unknown names.
        b"DOCS" => session.array(0),
        b"GETKEYS" => {
            subcommand_arity(args, "command|getkeys", -3)?;
            let Some(command) = super::commands::lookup(args.get(2)) else {
                return Err("ERR Invalid command specified".into());
            };
            let (first, last, step) = command.keys;
            let count = args.len() as i32 - 2;
            if first == 0 {
                return Err("ERR The command has no key arguments".into());
            }
            let last = if last < 0 { count + last } else { last };
            let keys: Vec<&[u8]> = (first..=last.min(count - 1))
                .step_by(step.max(1) as usize)
                .map(|i| args.get(i as usize + 2))
                .collect();
            session.array(keys.len());
            for key in keys {
                session.bulk(key);
            }
        }
        _ => return Err(unknown_subcommand(args, "COMMAND")),
    }
    Ok(())
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
        let last_save = shared
            .aof
            .as_ref()
            .map_or(shared.started_unix, |aof| aof.last_save_unix());
        let _ = write!(
            text,
            "rdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{last_save}\r\nrdb_last_bgsave_status:ok\r\n"
        );
        match &shared.aof {
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
        let keyspace_stats = session.keyspace().stats();
        let _ = write!(
            text,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\ntotal_error_replies:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n\r\n",
            stats.connections.sum(),
            stats.commands.sum(),
            stats.net_input_bytes.sum(),
            stats.net_output_bytes.sum(),
            stats.rejected.sum(),
            keyspace_stats.expired.sum(),
            keyspace_stats.hits.sum(),
            keyspace_stats.misses.sum(),
            stats.errors.sum(),
            stats.output_limit_closed.sum(),
        );
    }
    if include("keyspace") {
        text.push_str("# Keyspace\r\n");
        let keyspace = session.keyspace();
        let keys = keyspace.len();
        if keys > 0 {
            // Both read without a lock, so a write in flight can make `expires` exceed `keys`
            // for a moment; Redis never shows that.
            let expires = keyspace.expiring_len().min(keys);
            let avg_ttl = keyspace.avg_ttl_ms();
            let _ = write!(
                text,
                "db0:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n"
            );
        }
        text.push_str("\r\n");
    }
    // Redis ends the text without the last blank line.
    while text.ends_with("\r\n\r\n") {
        text.truncate(text.len() - 2);
    }
    text
}
