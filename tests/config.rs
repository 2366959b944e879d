//! Runtime configuration through the real binary: `CONFIG SET appendonly` starts and stops
//! the append-only file (and what is on disk after a `kill -9` says so), `appendfsync`
//! changes while writes go on, `CONFIG REWRITE` writes the file back and the server starts
//! from it, `CONFIG RESETSTAT` zeroes the counters, `CONFIG SET port|bind|memcache-port`
//! moves the listeners while connections stay, and every error text is byte for byte
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

/// Whether a connection to `address` is refused now.
fn refused(address: (&str, u16)) -> bool {
    match std::net::TcpStream::connect_timeout(
        &std::net::ToSocketAddrs::to_socket_addrs(&address)
            .unwrap()
            .next()
            .unwrap(),
        Duration::from_secs(5),
    ) {
        Ok(_) => false,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

/// Waits until connections to `address` are refused (the loops close their old sockets when
/// they next wake).
fn wait_refused(address: (&str, u16)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !refused(address) {
        assert!(Instant::now() < deadline, "{address:?} still accepts");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ping(address: (&str, u16)) {
    let mut raw = common::Raw {
        stream: std::net::TcpStream::connect(address).expect("connect"),
    };
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    raw.round_trip(&resp(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn listeners_move_at_runtime_and_open_connections_stay() {
    let server = Server::start("lockfree", &[]);
    let old_port = server.port;
    let mut open = server.redis();
    let _: () = open.set("k", "v").unwrap();
    // `-1`: any free port, race-free; CONFIG GET tells which.
    config_set(&mut open, &[("port", "-1")]);
    let port: u16 = config_get(&mut open, "port").parse().unwrap();
    assert_ne!(port, old_port);
    ping(("127.0.0.1", port));
    wait_refused(("127.0.0.1", old_port));
    // The connection that asked is still served, by the same loop.
    assert_eq!(open.get::<_, String>("k").unwrap(), "v");
    // Another address of the loopback network, then back.
    config_set(&mut open, &[("bind", "127.0.0.2")]);
    ping(("127.0.0.2", port));
    wait_refused(("127.0.0.1", port));
    config_set(&mut open, &[("bind", "127.0.0.1")]);
    ping(("127.0.0.1", port));
    // The memcached port moves too, and its connections start in memcached's protocol.
    config_set(&mut open, &[("memcache-port", "-1")]);
    let memcache_port: u16 = config_get(&mut open, "memcache-port").parse().unwrap();
    let mut memcache = common::Raw::connect(memcache_port);
    memcache.round_trip(b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n");
    // A port taken by another process, or the other protocol's port: refused, nothing moves.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let mut raw = common::Raw::connect(port);
    for (name, value, reason) in [
        (
            "port",
            taken_port.as_str(),
            "Unable to listen on this port. Check server logs.",
        ),
        (
            "port",
            &memcache_port.to_string(),
            "Unable to listen on this port. Check server logs.",
        ),
        (
            "bind",
            "192.0.2.1",
            "Failed to bind to specified addresses.",
        ),
    ] {
        raw.round_trip(
            &resp(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()]),
            format!(
                "-ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}\r\n"
            )
            .as_bytes(),
        );
    }
    assert_eq!(config_get(&mut open, "port"), port.to_string());
    assert_eq!(config_get(&mut open, "bind"), "127.0.0.1");
    ping(("127.0.0.1", port));
    memcache.round_trip(b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n");
}

#[test]
fn bind_takes_redis_wildcards_and_optional_addresses() {
    let server = Server::start("lockfree", &[]);
    let port = server.port;
    let mut open = server.redis();
    // `*` is every IPv4 address, so 127.0.0.2 answers too; `-::*` every IPv6 address if the
    // machine has IPv6, skipped if not.
    config_set(&mut open, &[("bind", "* -::*")]);
    assert_eq!(config_get(&mut open, "bind"), "* -::*");
    ping(("127.0.0.2", port));
    ping(("127.0.0.1", port));
    // An optional address the machine lacks is skipped; the others are listened on.
    config_set(&mut open, &[("bind", "-192.0.2.1 127.0.0.1")]);
    ping(("127.0.0.1", port));
    wait_refused(("127.0.0.2", port));
    // A name is read in its word's family: `localhost` is 127.0.0.1.
    config_set(&mut open, &[("bind", "localhost")]);
    ping(("127.0.0.1", port));
    // Named twice, or not optional and not the machine's: refused, nothing moves.
    let mut raw = common::Raw::connect(port);
    for value in ["127.0.0.1 localhost", "192.0.2.1 127.0.0.1"] {
        raw.round_trip(
            &resp(&[b"CONFIG", b"SET", b"bind", value.as_bytes()]),
            b"-ERR CONFIG SET failed (possibly related to argument 'bind') - \
              Failed to bind to specified addresses.\r\n",
        );
    }
    assert_eq!(config_get(&mut open, "bind"), "localhost");
    ping(("127.0.0.1", port));
}

#[test]
fn config_errors_are_redis_servers_byte_for_byte() {
    let redis = RedisServer::start();
    let server = Server::start("lockfree", &[]);
    // A port some other process listens on: both servers refuse to move there.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let seventeen: Vec<String> = (1..=17).map(|host| format!("127.0.0.{host}")).collect();
    let seventeen = seventeen.join(" ");
    same_replies(
        redis.port,
        server.port,
        &[
            &["CONFIG", "SET", "port", &taken_port],
            &["CONFIG", "SET", "port", "70000"],
            &["CONFIG", "SET", "port", "abc"],
            &["CONFIG", "SET", "bind", "192.0.2.1"],
            &["CONFIG", "SET", "bind", &seventeen],
            &["CONFIG", "SET", "bind", "127.0.0.1 127.0.0.1"],
            &["CONFIG", "SET", "bind", "-192.0.2.1 127.0.0.1"],
            &["CONFIG", "GET", "bind"],
            &["CONFIG", "SET", "bind", "127.0.0.1"],
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

/// `CONFIG SET loglevel` changes what the running process logs, at once.
#[test]
fn loglevel_changes_at_runtime() {
    let dir = temp_dir("loglevel");
    let log = dir.join("stderr.log");
    let ready = dir.join("ready");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_workingdb"))
        .args([
            "--port",
            "-1",
            "--memcache-port",
            "-1",
            "--appendonly",
            "no",
        ])
        .args(["--loglevel", "warning", "--dir", &dir.display().to_string()])
        .args(["--ready-file", &ready.display().to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let (port, _) = common::wait_ready_file(&mut child, &ready);
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    // Turning the log on and off logs a notice each way; count the "off" ones.
    let cycle = |c: &mut redis::Connection| {
        config_set(c, &[("appendonly", "yes")]);
        wait_for_base(c);
        config_set(c, &[("appendonly", "no")]);
        std::fs::read_to_string(&log)
            .unwrap()
            .matches("AOF turned off at run time")
            .count()
    };
    assert_eq!(cycle(&mut c), 0, "a notice logged at loglevel warning");
    config_set(&mut c, &[("loglevel", "notice")]);
    assert_eq!(cycle(&mut c), 1, "no notice at loglevel notice");
    config_set(&mut c, &[("loglevel", "warning")]);
    assert_eq!(
        cycle(&mut c),
        1,
        "a notice logged after going back to warning"
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
