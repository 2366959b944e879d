//! The real tools of both ecosystems run clean against workingdb: `redis-benchmark` (every
//! test reports throughput, nothing reports an error), `memccapable` (libmemcached's protocol
//! conformance suite: every test passes) and `memcaslap` (a load with data verification: no
//! errors, no misses, no corrupt values).
//!
//! These are Debian binaries, installed by `scripts/install-deps.sh`; a missing tool fails the
//! test rather than skipping it, so a machine without them cannot pass by accident.

mod common;

use common::{Server, ENGINES};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

/// The path of `name` on `PATH`; panics, naming the install script, when it is not there.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|directory| directory.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: run scripts/install-deps.sh, which installs it")
        })
}

/// What a tool did: its exit status and its output, stdout and stderr interleaved as it wrote
/// them (memccapable prints a test's name on stdout and a failure's verdict on stderr).
struct Ran {
    status: ExitStatus,
    output: String,
}

/// Runs a tool to completion with its output captured through one pipe.
fn run(name: &str, args: &[String]) -> Ran {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let mut command = Command::new(tool(name));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().expect("pipe"))
        .stderr(writer);
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {name}: {error}"));
    // The Command holds our copies of the pipe's write end; without them, the read ends when
    // the tool exits.
    drop(command);
    let mut output = Vec::new();
    reader.read_to_end(&mut output).expect("read output");
    let status = child.wait().expect("wait");
    Ran {
        status,
        output: String::from_utf8_lossy(&output).into_owned(),
    }
}

/// The tests `redis-benchmark -t ping,set,get,incr,lpush,rpush,lpop,rpop,lrange,mset`
/// reports, in its order.
const BENCHMARK_TESTS: [&str; 15] = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
];

/// Runs redis-benchmark against `port` with `extra` flags and checks its report: exactly the
/// expected tests, each with a positive rate, and no error anywhere. redis-benchmark prints a
/// server's error replies as "Error from server: ..." and a failed start-up query (it sends
/// `CONFIG GET save` and `CONFIG GET appendonly`) as a warning.
fn benchmark(engine: &str, port: u16, extra: &[&str]) {
    let mut args: Vec<String> = [
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-t",
        "ping,set,get,incr,lpush,rpush,lpop,rpop,lrange,mset",
        "-n",
        "2000",
        "-c",
        "20",
        "--csv",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    args.extend(extra.iter().map(|arg| arg.to_string()));
    let ran = run("redis-benchmark", &args);
    let context = format!(
        "redis-benchmark {extra:?} against {engine}:\n{}",
        ran.output
    );
    assert!(ran.status.success(), "{context}");
    for marker in ["rror", "ERR", "WARN", "arning"] {
        assert!(
            !ran.output.contains(marker),
            "{marker:?} in the output of {context}"
        );
    }
    let mut lines = ran.output.lines();
    assert_eq!(
        lines.next(),
        Some(
            "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\
             \"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\""
        ),
        "{context}"
    );
    let mut names = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split("\",\"").map(|f| f.trim_matches('"')).collect();
        assert_eq!(fields.len(), 8, "unexpected line {line:?} in {context}");
        let rps: f64 = fields[1]
            .parse()
            .unwrap_or_else(|_| panic!("bad rate in {line:?} of {context}"));
        assert!(rps > 0.0, "no throughput in {line:?} of {context}");
        names.push(fields[0].to_string());
    }
    assert_eq!(names, BENCHMARK_TESTS, "{context}");
}

#[test]
fn redis_benchmark_runs_clean() {
    let server = Server::start("lockfree", &[]);
    benchmark("lockfree", server.port, &[]);
    benchmark("lockfree", server.port, &["-P", "16"]);
    // The other engines with pipelining only: the same commands, in less time.
    for engine in ENGINES.into_iter().filter(|engine| *engine != "lockfree") {
        let server = Server::start(engine, &[]);
        benchmark(engine, server.port, &["-P", "16"]);
    }
}

/// Every test of libmemcached 1.1's `memccapable`, in its order: the text protocol's, then
/// the binary protocol's. `-a` runs the first 27, `-b` the last 27.
const MEMCCAPABLE_TESTS: [&str; 54] = [
    "ascii version",
    "ascii quit",
    "ascii verbosity",
    "ascii set",
    "ascii set noreply",
    "ascii get",
    "ascii gets",
    "ascii mget",
    "ascii flush",
    "ascii flush noreply",
    "ascii add",
    "ascii add noreply",
    "ascii replace",
    "ascii replace noreply",
    "ascii cas",
    "ascii cas noreply",
    "ascii delete",
    "ascii delete noreply",
    "ascii incr",
    "ascii incr noreply",
    "ascii decr",
    "ascii decr noreply",
    "ascii append",
    "ascii append noreply",
    "ascii prepend",
    "ascii prepend noreply",
    "ascii stat",
    "binary noop",
    "binary quit",
    "binary quitq",
    "binary set",
    "binary setq",
    "binary flush",
    "binary flushq",
    "binary add",
    "binary addq",
    "binary replace",
    "binary replaceq",
    "binary delete",
    "binary deleteq",
    "binary get",
    "binary getq",
    "binary getk",
    "binary getkq",
    "binary incr",
    "binary incrq",
    "binary decr",
    "binary decrq",
    "binary version",
    "binary append",
    "binary appendq",
    "binary prepend",
    "binary prependq",
    "binary stat",
];

/// Runs memccapable with `mode` (`None` for both protocols, `-a` or `-b`) against the memcached
/// port of a fresh server of `engine`, and checks that it ran exactly `expected` and that
/// every one passed. Each run gets its own server: memccapable flushes the one it tests.
fn memccapable(engine: &str, mode: Option<&str>, expected: &[&str]) {
    let server = Server::start(engine, &[]);
    let mut args = vec![
        "-h".to_string(),
        "127.0.0.1".to_string(),
        "-p".to_string(),
        server.memcache_port.to_string(),
        "-t".to_string(),
        "10".to_string(),
    ];
    args.extend(mode.map(str::to_string));
    let ran = run("memccapable", &args);
    let context = format!("memccapable {mode:?} against {engine}:\n{}", ran.output);
    // Each test prints "<name>   [pass]" (or [FAIL], or [skip] when it was skipped).
    let mut tests = Vec::new();
    let mut failed = Vec::new();
    for line in ran.output.lines() {
        let Some((name, verdict)) = line.rsplit_once(' ').filter(|(_, v)| v.starts_with('['))
        else {
            continue;
        };
        let name = name.trim_end().to_string();
        if verdict != "[pass]" {
            failed.push(format!("{name} {verdict}"));
        }
        tests.push(name);
    }
    assert_eq!(failed, Vec::<String>::new(), "{context}");
    assert_eq!(tests, expected, "{context}");
    assert!(ran.output.contains("All tests passed"), "{context}");
    assert!(ran.status.success(), "{context}");
}

#[test]
fn memccapable_passes_every_test() {
    // memccapable spends most of its time waiting (it checks that quiet commands stay quiet
    // with short timeouts), so the runs go in parallel, each against its own server.
    let (ascii, binary) = MEMCCAPABLE_TESTS.split_at(27);
    let mut runs: Vec<(&str, Option<&str>, &[&str])> = vec![
        ("lockfree", Some("-a"), ascii),
        ("lockfree", Some("-b"), binary),
    ];
    for engine in ENGINES {
        runs.push((engine, None, &MEMCCAPABLE_TESTS));
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|&(engine, mode, expected)| {
                scope.spawn(move || memccapable(engine, mode, expected))
            })
            .collect();
        for handle in handles {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// The statistics memcaslap prints at the end, by name.
fn memcaslap_stats(stdout: &str) -> std::collections::BTreeMap<String, u64> {
    stdout
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(": ")?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Runs memcaslap for one second with `extra` flags and checks that it did work and that
/// nothing went wrong: no error lines, no misses (memcaslap only reads keys it has written,
/// and we never evict), and with `-v` no missing or corrupt values.
fn memcaslap(port: u16, extra: &[&str]) {
    let mut args: Vec<String> = [
        "-s",
        &format!("127.0.0.1:{port}"),
        "-t",
        "1s",
        "-T",
        "1",
        "-c",
        "10",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    args.extend(extra.iter().map(|arg| arg.to_string()));
    let ran = run("memcaslap", &args);
    let context = format!("memcaslap {extra:?}:\n{}", ran.output);
    assert!(ran.status.success(), "{context}");
    // memcaslap echoes an unexpected server line prefixed with '<'; errors name themselves.
    for line in ran.output.lines() {
        assert!(
            !line.starts_with('<') && !line.to_ascii_lowercase().contains("error"),
            "{line:?} in {context}"
        );
    }
    let stats = memcaslap_stats(&ran.output);
    for (name, wanted) in [("cmd_get", true), ("cmd_set", true), ("get_misses", false)] {
        let value = *stats
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {context}"));
        assert_eq!(value > 0, wanted, "{name} is {value} in {context}");
    }
    if extra.contains(&"-v") {
        for name in ["verify_misses", "verify_failed"] {
            assert_eq!(stats.get(name), Some(&0), "{name} in {context}");
        }
    }
}

#[test]
fn memcaslap_runs_clean() {
    let server = Server::start("lockfree", &[]);
    // The text protocol, verifying a fifth of the values it reads.
    memcaslap(server.memcache_port, &["-v", "0.2"]);
    // The binary protocol, the same way.
    memcaslap(server.memcache_port, &["-B", "-v", "0.2"]);
    // Multi-key gets of eight keys.
    memcaslap(server.memcache_port, &["-d", "8", "-v", "0.2"]);
}
