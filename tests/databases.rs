//! Numbered databases over the wire: SELECT, per-database keys, DBSIZE, INFO keyspace, MOVE,
//! COPY ... DB, SWAPDB, FLUSHDB and FLUSHALL, compared byte for byte with a real redis-server;
//! the `databases` option; and every database, and SWAPDB's map, through the append-only file
//! (restart, rewrite, a log of more databases than the server has).

mod common;

use common::{resp, RedisServer, Server};
use redis::Commands;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Sends `args` and returns the whole reply's bytes.
fn call(stream: &mut BufReader<TcpStream>, args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
    stream.get_mut().write_all(&resp(&args)).expect("send");
    let mut raw = Vec::new();
    read_reply(stream, &mut raw);
    raw
}

fn read_reply(stream: &mut BufReader<TcpStream>, raw: &mut Vec<u8>) {
    let start = raw.len();
    let read = stream.read_until(b'\n', raw).expect("read");
    assert!(read >= 3, "the connection closed mid-reply");
    let line = String::from_utf8_lossy(&raw[start + 1..raw.len() - 2]).into_owned();
    match raw[start] {
        b'$' => {
            let length: i64 = line.parse().expect("length");
            if length >= 0 {
                let mut body = vec![0; length as usize + 2];
                stream.read_exact(&mut body).expect("body");
                raw.extend(body);
            }
        }
        b'*' => {
            for _ in 0..line.parse::<i64>().expect("count").max(0) {
                read_reply(stream, raw);
            }
        }
        _ => {}
    }
}

fn open(port: u16) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    BufReader::new(stream)
}

#[test]
fn databases_answer_like_redis() {
    let redis = RedisServer::start();
    let server = Server::start("lockfree", &[]);
    let mut theirs = open(redis.port);
    let mut ours = open(server.port);
    let script: &[&[&str]] = &[
        &["FLUSHALL"],
        &["SET", "k", "zero"],
        &["SET", "t", "ttl", "EX", "1000"],
        &["SELECT", "1"],
        &["GET", "k"],
        &["SET", "k", "one"],
        &["RPUSH", "l", "a", "b"],
        &["DBSIZE"],
        &["SELECT", "0"],
        &["GET", "k"],
        &["DBSIZE"],
        &["SELECT", "15"],
        &["SELECT", "16"],
        &["SELECT", "-1"],
        &["SELECT", "x"],
        &["SELECT", "0"],
        // MOVE: to an empty slot, onto an existing key, a missing key, bad targets.
        &["MOVE", "t", "2"],
        &["EXISTS", "t"],
        &["MOVE", "k", "1"],
        &["MOVE", "nosuch", "1"],
        &["MOVE", "k", "0"],
        &["MOVE", "k", "16"],
        &["MOVE", "k", "x"],
        &["SELECT", "2"],
        &["GET", "t"],
        &["TTL", "t"],
        &["SELECT", "1"],
        &["LRANGE", "l", "0", "-1"],
        // COPY ... DB: to another db, onto an existing key, with REPLACE, to itself.
        &["COPY", "l", "l", "DB", "3"],
        &["COPY", "k", "k", "DB", "0"],
        &["COPY", "k", "k", "DB", "0", "REPLACE"],
        &["COPY", "k", "k", "DB", "1"],
        &["COPY", "k", "k2", "DB", "1"],
        &["COPY", "k", "k", "DB", "99"],
        &["COPY", "k", "k", "DB"],
        &["SELECT", "3"],
        &["LRANGE", "l", "0", "-1"],
        &["RPUSH", "l", "c"],
        &["SELECT", "1"],
        &["LRANGE", "l", "0", "-1"],
        &["SELECT", "0"],
        &["GET", "k"],
        // SWAPDB: both numbers see the other's keys, the connection stays on its number.
        &["SWAPDB", "0", "1"],
        &["GET", "k"],
        &["EXISTS", "k2"],
        &["SELECT", "1"],
        &["GET", "k"],
        &["SWAPDB", "1", "3"],
        &["LRANGE", "l", "0", "-1"],
        &["SWAPDB", "2", "2"],
        &["SWAPDB", "a", "1"],
        &["SWAPDB", "1", "b"],
        &["SWAPDB", "1", "16"],
        &["SWAPDB", "-1", "1"],
        &["SWAPDB", "99999999999", "1"],
        &["SWAPDB", "1", "99999999999"],
        &["SWAPDB", "1"],
        &["SWAPDB", "1", "2", "3"],
        &["SELECT", "0"],
        &["SWAPDB", "0", "1"],
        &["SWAPDB", "1", "3"],
        &["GET", "k"],
        // FLUSHDB empties the selected database only; FLUSHALL every one.
        &["SELECT", "3"],
        &["FLUSHDB"],
        &["DBSIZE"],
        &["SELECT", "1"],
        &["DBSIZE"],
        &["FLUSHALL"],
        &["DBSIZE"],
        &["SELECT", "2"],
        &["DBSIZE"],
    ];
    for command in script {
        let (mine, reference) = (call(&mut ours, command), call(&mut theirs, command));
        assert_eq!(
            String::from_utf8_lossy(&mine),
            String::from_utf8_lossy(&reference),
            "reply to {command:?}"
        );
    }
}

#[test]
fn info_keyspace_lists_each_database_and_clients_keep_their_own() {
    let server = Server::start("lockfree", &[]);
    let mut a = server.redis();
    let mut b = server.redis();
    let _: () = redis::cmd("SELECT").arg(5).query(&mut a).unwrap();
    let _: () = a.set("in5", "x").unwrap();
    let _: () = a.set_ex("in5-ttl", "x", 100).unwrap();
    let _: () = b.set("in0", "y").unwrap();
    // b is still in db 0; a in db 5.
    assert_eq!(b.get::<_, Option<String>>("in5").unwrap(), None);
    assert_eq!(a.get::<_, Option<String>>("in0").unwrap(), None);
    let info: String = redis::cmd("INFO").arg("keyspace").query(&mut b).unwrap();
    assert!(info.contains("db0:keys=1,expires=0,"), "{info}");
    assert!(info.contains("db5:keys=2,expires=1,"), "{info}");
    assert!(!info.contains("db1:"), "{info}");
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut b).unwrap();
    assert!(list.contains(" db=5 "), "{list}");
    // memcached speaks to database 0.
    let mut memcache = server.raw_memcache();
    memcache.round_trip(b"get in0\r\n", b"VALUE in0 0 1\r\ny\r\nEND\r\n");
    memcache.round_trip(b"get in5\r\n", b"END\r\n");
}

#[test]
fn the_databases_option_bounds_select() {
    let server = Server::start("lockfree", &["--databases", "4"]);
    let mut raw = server.raw();
    raw.round_trip(&resp(&[b"SELECT", b"3"]), b"+OK\r\n");
    raw.round_trip(
        &resp(&[b"SELECT", b"4"]),
        b"-ERR DB index is out of range\r\n",
    );
    raw.round_trip(
        &resp(&[b"CONFIG", b"GET", b"databases"]),
        b"*2\r\n$9\r\ndatabases\r\n$1\r\n4\r\n",
    );
    raw.round_trip(
        &resp(&[b"CONFIG", b"SET", b"databases", b"8"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n",
    );
    for bad in ["0", "257", "x"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_workingdb"))
            .args(["--port", "-1", "--memcache-port", "0", "--appendonly", "no"])
            .args(["--databases", bad])
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert!(!output.status.success(), "--databases {bad} was accepted");
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = common::unique_temp_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start_aof(dir: &Path, extra: &[&str]) -> Server {
    let dir = dir.display().to_string();
    let mut flags = vec![
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &dir,
    ];
    flags.extend_from_slice(extra);
    Server::start("lockfree", &flags)
}

/// The keys of every database, sorted, as (db, key, value of GET or the list's elements).
fn contents(server: &Server, databases: usize) -> Vec<(usize, String, String)> {
    let mut c = server.redis();
    let mut all = Vec::new();
    for db in 0..databases {
        let _: () = redis::cmd("SELECT").arg(db).query(&mut c).unwrap();
        let mut keys: Vec<String> = c.keys("*").unwrap();
        keys.sort();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query(&mut c).unwrap();
            let value = if kind == "list" {
                c.lrange::<_, Vec<String>>(&key, 0, -1).unwrap().join(",")
            } else {
                c.get(&key).unwrap()
            };
            all.push((db, key, value));
        }
    }
    all
}

fn rewrite_and_wait(c: &mut redis::Connection) {
    let _: String = redis::cmd("BGREWRITEAOF").query(c).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
        if info.contains("aof_rewrite_in_progress:0") {
            return;
        }
        assert!(Instant::now() < deadline, "the rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_database_survives_restarts_and_a_rewrite() {
    let dir = temp_dir("databases-aof");
    let expected;
    {
        let server = start_aof(&dir, &[]);
        let mut c = server.redis();
        for db in [0usize, 1, 7, 15] {
            let _: () = redis::cmd("SELECT").arg(db).query(&mut c).unwrap();
            let _: () = c.set("same", format!("db{db}")).unwrap();
            let _: i64 = c.rpush("list", &[db.to_string(), "x".into()]).unwrap();
        }
        let _: () = redis::cmd("SELECT").arg(7).query(&mut c).unwrap();
        let _: i64 = redis::cmd("MOVE").arg("same").arg(9).query(&mut c).unwrap();
        let _: i64 = redis::cmd("COPY")
            .arg("list")
            .arg("copied")
            .arg("DB")
            .arg(2)
            .query(&mut c)
            .unwrap();
        let _: () = redis::cmd("SELECT").arg(15).query(&mut c).unwrap();
        let _: () = redis::cmd("FLUSHDB").query(&mut c).unwrap();
        expected = contents(&server, 16);
        assert!(
            expected.contains(&(9, "same".into(), "db7".into())),
            "{expected:?}"
        );
        assert!(
            expected.contains(&(2, "copied".into(), "7,x".into())),
            "{expected:?}"
        );
        assert!(
            !expected.iter().any(|(db, _, _)| *db == 15),
            "FLUSHDB left keys: {expected:?}"
        );
        server.terminate();
    }
    {
        let server = start_aof(&dir, &[]);
        assert_eq!(contents(&server, 16), expected, "after a restart");
        let mut c = server.redis();
        rewrite_and_wait(&mut c);
        let _: () = redis::cmd("SELECT").arg(4).query(&mut c).unwrap();
        let _: () = c.set("after-rewrite", "4").unwrap();
        server.terminate();
    }
    let server = start_aof(&dir, &[]);
    let mut after = expected.clone();
    after.push((4, "after-rewrite".into(), "4".into()));
    after.sort();
    let mut found = contents(&server, 16);
    found.sort();
    assert_eq!(found, after, "after a rewrite and a restart");
    drop(server);
    // A server with fewer databases than the log names refuses to start, saying why.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_workingdb"))
        .args(["--port", "-1", "--memcache-port", "0", "--databases", "8"])
        .args(["--dir", &dir.display().to_string()])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a record of database 9, but the server has 8 databases"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn swapped_databases_follow_every_client_and_survive_restarts_and_a_rewrite() {
    let dir = temp_dir("databases-swapdb");
    let expected;
    {
        let server = start_aof(&dir, &[]);
        let mut c = server.redis();
        let mut other = server.redis();
        let _: () = redis::cmd("SELECT").arg(1).query(&mut other).unwrap();
        let _: () = c.set("k", "zero").unwrap();
        let _: () = other.set("k", "one").unwrap();
        let _: () = redis::cmd("SWAPDB").arg(0).arg(1).query(&mut c).unwrap();
        // Both connections keep their numbers and see the other database.
        assert_eq!(c.get::<_, String>("k").unwrap(), "one");
        assert_eq!(other.get::<_, String>("k").unwrap(), "zero");
        // memcached speaks to database 0, whichever keyspace that now is.
        let mut memcache = server.raw_memcache();
        memcache.round_trip(b"get k\r\n", b"VALUE k 0 3\r\none\r\nEND\r\n");
        memcache.round_trip(b"set m 0 0 1\r\nm\r\n", b"STORED\r\n");
        // INFO keyspace counts by number.
        let _: () = redis::cmd("SELECT").arg(2).query(&mut other).unwrap();
        let _: () = other.set("two-a", "2").unwrap();
        let _: () = other.set("two-b", "2").unwrap();
        let _: () = redis::cmd("SWAPDB").arg(2).arg(5).query(&mut c).unwrap();
        let info: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
        assert!(info.contains("db0:keys=2,"), "{info}");
        assert!(info.contains("db5:keys=2,"), "{info}");
        assert!(!info.contains("db2:"), "{info}");
        // Writes after a swap land where the number now points, and MOVE follows the map.
        let _: () = other.set("in-2-after", "x").unwrap();
        let _: i64 = redis::cmd("MOVE").arg("m").arg(5).query(&mut c).unwrap();
        expected = contents(&server, 16);
        assert_eq!(
            expected,
            vec![
                (0, "k".into(), "one".into()),
                (1, "k".into(), "zero".into()),
                (2, "in-2-after".into(), "x".into()),
                (5, "m".into(), "m".into()),
                (5, "two-a".into(), "2".into()),
                (5, "two-b".into(), "2".into()),
            ]
        );
        server.terminate();
    }
    {
        let server = start_aof(&dir, &[]);
        assert_eq!(contents(&server, 16), expected, "after a restart");
        let mut c = server.redis();
        rewrite_and_wait(&mut c);
        // A swap after the rewrite's base is in the new segment, with a later epoch.
        let _: () = redis::cmd("SWAPDB").arg(0).arg(1).query(&mut c).unwrap();
        server.terminate();
    }
    let mut after: Vec<(usize, String, String)> = expected
        .iter()
        .map(|(db, key, value)| {
            let db = match db {
                0 => 1,
                1 => 0,
                other => *other,
            };
            (db, key.clone(), value.clone())
        })
        .collect();
    after.sort();
    let server = start_aof(&dir, &[]);
    assert_eq!(
        contents(&server, 16),
        after,
        "after a rewrite, a swap and a restart"
    );
    let mut c = server.redis();
    rewrite_and_wait(&mut c);
    server.terminate();
    let server = start_aof(&dir, &[]);
    assert_eq!(contents(&server, 16), after, "after a second rewrite");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Clients incrementing a counter in database 0 while another swaps 0 and 1 over and over:
/// every increment lands in one of the two, none is lost, and the swaps' log replays to the
/// same split.
#[test]
fn increments_racing_swaps_are_all_counted() {
    let dir = temp_dir("databases-swap-race");
    let server = start_aof(&dir, &[]);
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = server.redis();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let _: i64 = c.incr("counter", 1).unwrap();
                }
            })
        })
        .collect();
    let mut swapper = server.redis();
    let mut swaps = 0;
    while !writers.iter().all(|writer| writer.is_finished()) {
        let _: () = redis::cmd("SWAPDB")
            .arg(0)
            .arg(1)
            .query(&mut swapper)
            .unwrap();
        swaps += 1;
    }
    for writer in writers {
        writer.join().unwrap();
    }
    let split = |server: &Server| -> (i64, i64) {
        let mut c = server.redis();
        let zero: Option<i64> = c.get("counter").unwrap();
        let _: () = redis::cmd("SELECT").arg(1).query(&mut c).unwrap();
        let one: Option<i64> = c.get("counter").unwrap();
        (zero.unwrap_or(0), one.unwrap_or(0))
    };
    let before = split(&server);
    assert_eq!(before.0 + before.1, 4000, "after {swaps} swaps: {before:?}");
    server.terminate();
    let server = start_aof(&dir, &[]);
    assert_eq!(split(&server), before, "after a restart");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
