//! Runtime configuration through the real binary: `CONFIG SET appendonly` starts and stops
//! the append-only file (and what is on disk after a `kill -9` says so), `appendfsync`
//! changes while writes go on, `CONFIG REWRITE` writes the file back and the server starts
//! from it, `CONFIG RESETSTAT` zeroes the counters, and every error text is byte for byte
//! redis-server 7.0.15's.

mod common;

use common::{resp, RedisServer, Server};
use redis::Commands;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = common::unique_temp_path(&format!("config-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(dir: &Path, appendonly: &str, extra: &[&str]) -> Server {
    let dir = dir.display().to_string();
    let mut flags = vec!["--appendonly", appendonly, "--dir", &dir];
    flags.extend_from_slice(extra);
    Server::start("lockfree", &flags)
}

fn info_field(connection: &mut redis::Connection, name: &str) -> String {
    let info: String = redis::cmd("INFO").query(connection).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("INFO has no {name}: {info}"))
        .trim()
        .to_string()
}

fn config_set(connection: &mut redis::Connection, pairs: &[(&str, &str)]) {
    let mut command = redis::cmd("CONFIG");
    command.arg("SET");
    for (name, value) in pairs {
        command.arg(*name).arg(*value);
    }
    let _: () = command.query(connection).unwrap();
}

fn config_get(connection: &mut redis::Connection, name: &str) -> String {
    let pair: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query(connection)
        .unwrap();
    assert_eq!(pair.len(), 2, "{pair:?}");
    pair[1].clone()
}

/// Waits until a log started at run time has its base (Redis's tests wait the same way).
fn wait_for_base(connection: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(connection, "aof_rewrite_in_progress") != "0"
        || info_field(connection, "aof_rewrites") == "0"
    {
        assert!(Instant::now() < deadline, "the base was never written");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The bytes of every part in the log directory (by name).
fn parts(dir: &Path) -> Vec<(String, u64)> {
    let mut parts: Vec<(String, u64)> = std::fs::read_dir(dir.join("appendonlydir"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    (name, entry.metadata().map_or(0, |meta| meta.len()))
                })
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    parts
}

#[test]
fn appendonly_turned_on_at_runtime_keeps_what_was_there_and_what_came_after_across_kill_9() {
    let dir = temp_dir("on");
    {
        let server = start(&dir, "no", &[]);
        let mut c = server.redis();
        let _: () = c.set("before", "1").unwrap();
        let _: i64 = c.rpush("list", &["a", "b"]).unwrap();
        assert_eq!(info_field(&mut c, "aof_enabled"), "0");
        assert!(parts(&dir).is_empty(), "no log yet: {:?}", parts(&dir));
        config_set(&mut c, &[("appendonly", "yes"), ("appendfsync", "always")]);
        assert_eq!(config_get(&mut c, "appendonly"), "yes");
        assert_eq!(info_field(&mut c, "aof_enabled"), "1");
        assert_eq!(info_field(&mut c, "aof_fsync"), "always");
        // Writes during the base go to the new segment; replay keeps the newest per key.
        let _: () = c.set("during", "2").unwrap();
        wait_for_base(&mut c);
        let _: () = c.set("after", "3").unwrap();
        let _: i64 = c.rpush("list", &["c"]).unwrap();
        let _: () = c.set("before", "1b").unwrap();
        // SIGKILL: under `always` every acknowledged write is on disk.
        server.kill();
    }
    let server = start(&dir, "yes", &[]);
    let mut c = server.redis();
    assert_eq!(c.get::<_, String>("before").unwrap(), "1b");
    assert_eq!(c.get::<_, String>("during").unwrap(), "2");
    assert_eq!(c.get::<_, String>("after").unwrap(), "3");
    assert_eq!(
        c.lrange::<_, Vec<String>>("list", 0, -1).unwrap(),
        vec!["a", "b", "c"]
    );
}

#[test]
fn appendonly_turned_off_at_runtime_stops_writing_the_file() {
    let dir = temp_dir("off");
    {
        let server = start(&dir, "yes", &["--appendfsync", "always"]);
        let mut c = server.redis();
        let _: () = c.set("kept", "1").unwrap();
        config_set(&mut c, &[("appendonly", "no")]);
        assert_eq!(config_get(&mut c, "appendonly"), "no");
        assert_eq!(info_field(&mut c, "aof_enabled"), "0");
        let on_disk = parts(&dir);
        for index in 0..200 {
            let _: () = c.set(format!("lost{index}"), "x").unwrap();
        }
        // `everysec` would have written within a second; nothing may reach the file now.
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(parts(&dir), on_disk, "the log changed after appendonly no");
        // The directory is free again: another server could take it.
        server.kill();
    }
    let server = start(&dir, "yes", &[]);
    let mut c = server.redis();
    assert_eq!(c.get::<_, String>("kept").unwrap(), "1");
    assert!(!c.exists::<_, bool>("lost0").unwrap());
}

#[test]
fn appendonly_goes_off_and_on_again_and_the_new_log_holds_everything() {
    let dir = temp_dir("off-on");
    {
        let server = start(&dir, "yes", &["--appendfsync", "always"]);
        let mut c = server.redis();
        let _: () = c.set("first", "1").unwrap();
        config_set(&mut c, &[("appendonly", "no")]);
        let _: () = c.set("while-off", "2").unwrap();
        let _: i64 = c.del("first").unwrap();
        config_set(&mut c, &[("appendonly", "yes")]);
        wait_for_base(&mut c);
        let _: () = c.set("last", "3").unwrap();
        server.kill();
    }
    let server = start(&dir, "yes", &[]);
    let mut c = server.redis();
    // The base is a snapshot of memory, so a key deleted while the log was off stays gone.
    assert!(!c.exists::<_, bool>("first").unwrap());
    assert_eq!(c.get::<_, String>("while-off").unwrap(), "2");
    assert_eq!(c.get::<_, String>("last").unwrap(), "3");
}

#[test]
fn appendfsync_changes_while_the_log_runs() {
    let dir = temp_dir("fsync");
    {
        let server = start(&dir, "yes", &["--appendfsync", "everysec"]);
        let mut c = server.redis();
        for (policy, key) in [
            ("always", "a"),
            ("no", "n"),
            ("everysec", "e"),
            ("always", "z"),
        ] {
            config_set(&mut c, &[("appendfsync", policy)]);
            assert_eq!(config_get(&mut c, "appendfsync"), policy);
            assert_eq!(info_field(&mut c, "aof_fsync"), policy);
            // A pipeline of writes under each policy (under `always`, replies wait for the
            // disk: the switch must not leave a reply held).
            let mut pipe = redis::pipe();
            for index in 0..100 {
                pipe.set(format!("{key}{index}"), index).ignore();
            }
            let _: () = pipe.query(&mut c).unwrap();
        }
        server.kill();
    }
    // The last policy was `always`: everything acknowledged is on disk.
    let server = start(&dir, "yes", &[]);
    let mut c = server.redis();
    for key in ["a99", "n99", "e99", "z99"] {
        assert!(c.exists::<_, bool>(key).unwrap(), "{key}");
    }
}

#[test]
fn config_rewrite_keeps_the_file_and_round_trips_through_a_restart() {
    let dir = temp_dir("rewrite");
    let file = dir.join("workingdb.conf");
    std::fs::write(
        &file,
        "# A comment that stays\n\nmaxclients 100\n\n\n# timeout twice: the second goes\ntimeout 5\ntimeout 6\nhash-max-ziplist-entries 100\n",
    )
    .unwrap();
    let config_flag = file.display().to_string();
    {
        let server = start(&dir, "no", &["--config", &config_flag]);
        let mut c = server.redis();
        assert_eq!(config_get(&mut c, "maxclients"), "100");
        assert_eq!(config_get(&mut c, "timeout"), "6");
        config_set(
            &mut c,
            &[
                ("maxclients", "200"),
                ("timeout", "7"),
                ("hz", "20"),
                ("appendfsync", "always"),
                ("auto-aof-rewrite-min-size", "32mb"),
            ],
        );
        // A line added by hand that no option owns stays, commented out, as Redis keeps it.
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("no-such-option 1\n");
        std::fs::write(&file, text).unwrap();
        let reply: String = redis::cmd("CONFIG").arg("REWRITE").query(&mut c).unwrap();
        assert_eq!(reply, "OK");
        server.terminate();
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# A comment that stays", "{text}");
    assert_eq!(lines[1], "", "{text}");
    assert_eq!(lines[2], "maxclients 200", "{text}");
    assert_eq!(lines[3], "", "runs of blank lines become one: {text}");
    assert_eq!(lines[4], "# timeout twice: the second goes", "{text}");
    assert_eq!(lines[5], "timeout 7", "{text}");
    assert_eq!(lines[6], "", "the repeated line is blanked: {text}");
    // An alias's line is rewritten under the primary name, as Redis does.
    assert_eq!(lines[7], "hash-max-listpack-entries 100", "{text}");
    assert!(lines.contains(&"# ??? no-such-option 1"), "{text}");
    let signature = lines
        .iter()
        .position(|line| *line == "# Generated by CONFIG REWRITE")
        .unwrap_or_else(|| panic!("{text}"));
    for appended in [
        "appendfsync always",
        "hz 20",
        "auto-aof-rewrite-min-size 32mb",
        "save \"\"",
    ] {
        let at = lines.iter().position(|line| *line == appended);
        assert!(at.is_some_and(|at| at > signature), "{appended}: {text}");
    }
    // The file as rewritten starts the server with the values set at run time.
    let server = start(&dir, "no", &["--config", &config_flag]);
    let mut c = server.redis();
    assert_eq!(config_get(&mut c, "maxclients"), "200");
    assert_eq!(config_get(&mut c, "timeout"), "7");
    assert_eq!(config_get(&mut c, "hz"), "20");
    assert_eq!(config_get(&mut c, "appendfsync"), "always");
    assert_eq!(config_get(&mut c, "auto-aof-rewrite-min-size"), "33554432");
    assert_eq!(config_get(&mut c, "hash-max-listpack-entries"), "100");
}

#[test]
fn config_resetstat_zeroes_the_counters() {
    let server = Server::start("lockfree", &[]);
    let mut c = server.redis();
    for _ in 0..10 {
        let _: () = c.set("k", "v").unwrap();
        let _: Option<String> = c.get("missing").unwrap();
    }
    assert!(
        info_field(&mut c, "keyspace_misses")
            .parse::<u64>()
            .unwrap()
            >= 10
    );
    let reply: String = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    assert_eq!(reply, "OK");
    assert_eq!(info_field(&mut c, "keyspace_misses"), "0");
    assert_eq!(info_field(&mut c, "keyspace_hits"), "0");
    // The INFO that reads it is the one command counted since.
    assert!(
        info_field(&mut c, "total_commands_processed")
            .parse::<u64>()
            .unwrap()
            <= 3
    );
}

/// Runs each command on both servers over raw sockets and compares the replies byte for byte.
fn same_replies(redis_port: u16, our_port: u16, commands: &[&[&str]]) {
    let mut theirs = common::Raw::connect(redis_port);
    let mut ours = common::Raw::connect(our_port);
    for command in commands {
        let args: Vec<&[u8]> = command.iter().map(|arg| arg.as_bytes()).collect();
        theirs.send(&resp(&args));
        ours.send(&resp(&args));
        let expected = theirs.line();
        let got = ours.line();
        assert_eq!(got, expected, "CONFIG {command:?}");
    }
}

#[test]
fn config_errors_are_redis_servers_byte_for_byte() {
    let redis = RedisServer::start();
    let server = Server::start("lockfree", &[]);
    same_replies(
        redis.port,
        server.port,
        &[
            &["CONFIG", "SET", "daemonize", "yes"],
            &["CONFIG", "SET", "databases", "4"],
            &["CONFIG", "SET", "appendfilename", "x.aof"],
            &["CONFIG", "SET", "dir", "/tmp"],
            &["CONFIG", "SET", "no-such-option", "1"],
            &["CONFIG", "SET", "daemonize", "yes", "no-such-option", "1"],
            &["CONFIG", "SET", "no-such-option", "1", "daemonize", "yes"],
            &["CONFIG", "SET", "maxclients", "10", "maxclients", "20"],
            &["CONFIG", "SET", "maxclients", "10", "timeout"],
            &["CONFIG", "SET", "appendonly", "maybe"],
            &["CONFIG", "SET", "appendfsync", "sometimes"],
            &["CONFIG", "SET", "timeout", "-1"],
            &["CONFIG", "SET", "timeout", "soon"],
            &["CONFIG", "SET", "maxclients", "0"],
            &["CONFIG", "SET", "loglevel", "loud"],
            &["CONFIG", "SET", "auto-aof-rewrite-min-size", "1xb"],
            &["CONFIG", "SET", "auto-aof-rewrite-percentage", "-5"],
            &["CONFIG", "SET", "aof-load-truncated", "maybe"],
            &["CONFIG", "SET", "proto-max-bulk-len", "10"],
            &["CONFIG", "SET", "client-output-buffer-limit", "normal 1 2"],
            &["CONFIG", "SET", "maxmemory", "-1"],
            &["CONFIG", "SET", "maxmemory-clients", "200%"],
            &["CONFIG", "SET", "maxmemory-policy", "lol"],
            &["CONFIG", "SET", "hz", "often"],
            &["CONFIG", "SET", "io-threads", "4"],
            &["CONFIG", "REWRITE"],
            &[
                "CONFIG",
                "SET",
                "maxmemory",
                "100mb",
                "maxmemory-policy",
                "allkeys-lru",
            ],
            &[
                "CONFIG",
                "SET",
                "hash-max-ziplist-entries",
                "1",
                "hash-max-listpack-entries",
                "2",
            ],
            &["CONFIG", "SET", "save", ""],
            &[
                "CONFIG",
                "SET",
                "appendfsync",
                "always",
                "auto-aof-rewrite-percentage",
                "50",
            ],
            &["CONFIG", "RESETSTAT"],
        ],
    );
}
