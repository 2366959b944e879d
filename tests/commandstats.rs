//! `INFO commandstats` and `errorstats`: the same commands, good and bad, sent to us and to a
//! real redis-server 7.0.15 give the same counts (calls, rejected and failed calls per
//! command, error replies per code), `CONFIG RESETSTAT` zeroes them, and the sections appear
//! where Redis puts them. Only `usec` differs by nature; it is checked for being consistent.

mod common;

use common::{resp, RedisServer, Server};
use std::collections::BTreeMap;

/// Sends one command and ignores the reply, error or not.
fn send(connection: &mut redis::Connection, args: &[&str]) {
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    let _ = command.query::<redis::Value>(connection);
}

fn info(connection: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(connection).unwrap()
}

/// `INFO commandstats` as name -> (calls, usec, usec_per_call, rejected, failed).
fn command_stats(text: &str) -> BTreeMap<String, (u64, u64, f64, u64, u64)> {
    let mut stats = BTreeMap::new();
    for line in text.lines().filter(|line| line.starts_with("cmdstat_")) {
        let (name, fields) = line["cmdstat_".len()..].split_once(':').unwrap();
        let field: BTreeMap<&str, &str> = fields
            .split(',')
            .map(|pair| pair.split_once('=').unwrap())
            .collect();
        let number = |key: &str| field[key].parse::<u64>().unwrap();
        stats.insert(
            name.to_string(),
            (
                number("calls"),
                number("usec"),
                field["usec_per_call"].parse::<f64>().unwrap(),
                number("rejected_calls"),
                number("failed_calls"),
            ),
        );
    }
    stats
}

/// The counts without the times, which differ between servers by nature.
fn counts(text: &str) -> BTreeMap<String, (u64, u64, u64)> {
    command_stats(text)
        .into_iter()
        .map(|(name, (calls, _, _, rejected, failed))| (name, (calls, rejected, failed)))
        .collect()
}

/// The lines of one section that start with `prefix`, sorted.
fn lines(text: &str, prefix: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| line.starts_with(prefix))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Good commands, failing commands, refused commands and unknown ones.
const SCRIPT: &[&[&str]] = &[
    &["SET", "a", "1"],
    &["SET", "a", "2"],
    &["GET", "a"],
    &["INCR", "a"],
    &["LPUSH", "a", "x"],
    &["GET"],
    &["INCRBY", "a", "notanumber"],
    &["CONFIG", "GET"],
    &["CONFIG", "NOSUCH"],
    &["NOSUCHCOMMAND", "x"],
    &["CLIENT", "ID"],
    &["SET", "a", "b", "EX", "0"],
    &["SELECT", "99"],
    &["ECHO", "hello"],
];

#[test]
fn command_and_error_stats_count_as_redis_does() {
    let redis_server = RedisServer::start();
    let ours = Server::start("lockfree", &[]);
    let mut theirs = redis::Client::open(format!("redis://127.0.0.1:{}/", redis_server.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut mine = ours.redis();
    for connection in [&mut theirs, &mut mine] {
        send(connection, &["CONFIG", "RESETSTAT"]);
        for args in SCRIPT {
            send(connection, args);
        }
    }
    let (their_stats, my_stats) = (
        info(&mut theirs, "commandstats"),
        info(&mut mine, "commandstats"),
    );
    assert_eq!(counts(&my_stats), counts(&their_stats), "{my_stats}");
    assert!(my_stats.starts_with("# Commandstats\r\n"), "{my_stats}");
    assert_eq!(counts(&my_stats)["set"], (3, 0, 1));
    assert_eq!(counts(&my_stats)["get"], (1, 1, 0));
    assert_eq!(counts(&my_stats)["config|get"], (0, 1, 0));
    // Times: a command that ran has some, one that never ran none, and the mean is the mean.
    for (name, (calls, usec, per_call, _, _)) in command_stats(&my_stats) {
        if calls == 0 {
            assert_eq!((usec, per_call), (0, 0.0), "{name}");
        } else {
            let mean = usec as f64 / calls as f64;
            assert!(
                (per_call - mean).abs() < 0.01,
                "{name}: {per_call} vs {mean}"
            );
        }
    }
    let (their_errors, my_errors) = (
        info(&mut theirs, "errorstats"),
        info(&mut mine, "errorstats"),
    );
    assert_eq!(
        lines(&my_errors, "errorstat_"),
        lines(&their_errors, "errorstat_")
    );
    assert!(my_errors.starts_with("# Errorstats\r\n"), "{my_errors}");
    let total = |text: &str| lines(text, "total_error_replies")[0].clone();
    let (their_stats, my_stats) = (info(&mut theirs, "stats"), info(&mut mine, "stats"));
    assert_eq!(total(&my_stats), total(&their_stats));
    let processed = |text: &str| lines(text, "total_commands_processed")[0].clone();
    assert_eq!(processed(&my_stats), processed(&their_stats));

    // CONFIG RESETSTAT: only itself is left (it is counted once it returns, as in Redis).
    for connection in [&mut theirs, &mut mine] {
        send(connection, &["CONFIG", "RESETSTAT"]);
    }
    let (theirs_after, mine_after) = (
        info(&mut theirs, "commandstats"),
        info(&mut mine, "commandstats"),
    );
    assert_eq!(counts(&mine_after), counts(&theirs_after));
    assert_eq!(
        counts(&mine_after).into_iter().collect::<Vec<_>>(),
        [("config|resetstat".to_string(), (1, 0, 0))]
    );
    assert_eq!(
        lines(&info(&mut mine, "errorstats"), "errorstat_"),
        Vec::<String>::new()
    );

    // Sections: the default leaves commandstats out and keeps errorstats; `all` has both.
    send(&mut mine, &["GET"]);
    let default = info(&mut mine, "default");
    assert!(!default.contains("# Commandstats"), "{default}");
    assert!(
        default.contains("# Errorstats\r\nerrorstat_ERR:count=1\r\n"),
        "{default}"
    );
    let all = info(&mut mine, "all");
    assert!(all.contains("# Commandstats\r\ncmdstat_get:"), "{all}");
    let everything: String = redis::cmd("INFO").query(&mut mine).unwrap();
    assert!(!everything.contains("# Commandstats"));
}

#[test]
fn pipelined_commands_are_each_counted_and_timed() {
    let ours = Server::start("lockfree", &[]);
    let mut raw = ours.raw();
    let mut batch = Vec::new();
    for index in 0..1000 {
        batch.extend(resp(&[b"SET", format!("k{index}").as_bytes(), b"v"]));
        batch.extend(resp(&[b"GET", format!("k{index}").as_bytes()]));
    }
    raw.send(&batch);
    for _ in 0..1000 {
        raw.expect(b"+OK\r\n$1\r\nv\r\n");
    }
    let mut mine = ours.redis();
    let stats = command_stats(&info(&mut mine, "commandstats"));
    let (calls, usec, per_call, rejected, failed) = stats["set"];
    assert_eq!((calls, rejected, failed), (1000, 0, 0));
    assert_eq!(stats["get"].0, 1000);
    // A debug build on a busy machine still does a SET in far less than 10 ms.
    assert!(per_call < 10_000.0, "usec={usec} per_call={per_call}");
}
