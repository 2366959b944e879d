//! The server as a process: clean shutdown, connection limits, idle timeouts and output
//! backpressure, over real sockets.

mod common;

use common::{resp, Raw, Server};
use redis::Commands;
use std::io::Read;
use std::time::Duration;

#[test]
fn sigterm_shuts_down_cleanly() {
    let server = Server::start("lockfree", &[]);
    let mut c = server.redis();
    let _: () = c.set("k", "v").unwrap();
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn shutdown_stops_the_server_and_keeps_what_was_written() {
    let dir = std::env::temp_dir().join(format!("workingdb-shutdown-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_flag = dir.display().to_string();
    let flags = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--dir",
        &dir_flag,
    ];
    let mut server = Server::start("lockfree", &flags);
    let mut raw = server.raw();
    // Bad forms are refused and the server goes on.
    raw.round_trip(&resp(&[b"SHUTDOWN", b"LATER"]), b"-ERR syntax error\r\n");
    raw.round_trip(
        &resp(&[b"SHUTDOWN", b"SAVE", b"NOSAVE"]),
        b"-ERR syntax error\r\n",
    );
    raw.round_trip(
        &resp(&[b"SHUTDOWN", b"ABORT"]),
        b"-ERR No shutdown in progress.\r\n",
    );
    raw.round_trip(&resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    // As from Redis: no reply, the connection closes and the process exits 0.
    raw.send(&resp(&[b"SHUTDOWN", b"NOSAVE"]));
    assert!(raw.closed(), "the connection outlived SHUTDOWN");
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("the server did not exit after SHUTDOWN");
    assert!(status.success(), "exit status {status:?}");
    // The write acknowledged under everysec was synced on the way out.
    let server = Server::start("lockfree", &flags);
    let mut c = server.redis();
    let value: Option<String> = c.get("k").unwrap();
    assert_eq!(value.as_deref(), Some("v"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn maxclients_refuses_with_redis_error() {
    let server = Server::start("lockfree", &["--maxclients", "3"]);
    // The harness's readiness probes are clients too until the server reads their EOF.
    std::thread::sleep(Duration::from_millis(300));
    let mut held: Vec<Raw> = (0..3).map(|_| server.raw()).collect();
    for raw in &mut held {
        raw.round_trip(&resp(&[b"PING"]), b"+PONG\r\n");
    }
    let mut refused = server.raw();
    refused.expect(b"-ERR max number of clients reached\r\n");
    assert!(refused.closed());
    drop(held);
    // Slots free up once clients leave.
    std::thread::sleep(Duration::from_millis(200));
    let mut again = server.raw();
    again.round_trip(&resp(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let server = Server::start("lockfree", &["--timeout", "1"]);
    let mut idle = server.raw();
    idle.round_trip(&resp(&[b"PING"]), b"+PONG\r\n");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(idle.closed(), "idle client still open after the timeout");
}

#[test]
fn a_client_that_does_not_read_is_paused_then_closed_past_the_hard_limit() {
    let server = Server::start(
        "lockfree",
        &["--client-output-buffer-limit", "normal 8mb 0 0"],
    );
    let mut c = server.redis();
    let value = vec![b'v'; 1024 * 1024];
    let _: () = c.set("big", &value).unwrap();
    // Ask for 200 MiB of replies and read none of them. The server stops reading a client
    // once its queued replies pass the soft limit (256 KiB), so this one's queue stays near
    // one reply, below the 8 MiB hard limit: it is paused, not closed, and other clients are
    // served meanwhile.
    let mut greedy = server.raw();
    let request = resp(&[b"GET", b"big"]);
    let mut pipeline = Vec::new();
    for _ in 0..200 {
        pipeline.extend_from_slice(&request);
    }
    greedy.send(&pipeline);
    std::thread::sleep(Duration::from_millis(500));
    let _: () = c.set("other", "fine").unwrap();
    assert_eq!(c.get::<_, String>("other").unwrap(), "fine");
    // Now read everything: all 200 replies arrive, in order, complete.
    let header = format!("${}\r\n", value.len());
    let mut reply = vec![0u8; header.len() + value.len() + 2];
    for _ in 0..200 {
        greedy.stream.read_exact(&mut reply).unwrap();
        assert!(reply.starts_with(header.as_bytes()));
    }
    // A lower hard limit than one reply closes the client, as Redis's limit does.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("normal 100kb 0 0")
        .query(&mut c)
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let mut limited = server.raw();
    limited.send(&pipeline);
    assert!(
        limited.closed(),
        "client past the hard limit was not closed"
    );
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1"),
        "{info}"
    );
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let server = Server::start(
        "lockfree",
        &[
            "--client-query-buffer-limit",
            "1mb",
            "--proto-max-bulk-len",
            "64mb",
        ],
    );
    let mut raw = server.raw();
    // A bulk announced larger than the query buffer may hold.
    raw.send(b"*2\r\n$3\r\nGET\r\n$10000000\r\n");
    // The server may close while we are still sending, so the write may fail with a reset.
    let _ = std::io::Write::write_all(&mut raw.stream, &vec![b'x'; 2 * 1024 * 1024]);
    assert!(raw.closed());
    let mut c = server.redis();
    let _: () = c.set("still", "up").unwrap();
}

#[test]
fn bad_flags_and_config_files_are_refused_at_start() {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_workingdb"))
        .args(["--engine", "btree"])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("unknown engine 'btree'"), "{stderr}");
    let file = std::env::temp_dir().join(format!("workingdb-test-{}.conf", std::process::id()));
    std::fs::write(&file, "port 7000\nmaxclients many\n").unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_workingdb"))
        .arg("--config")
        .arg(&file)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(status.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn config_file_values_apply_and_flags_win() {
    let file = std::env::temp_dir().join(format!("workingdb-cfg-{}.conf", std::process::id()));
    std::fs::write(&file, "maxclients 77\ntimeout 50\n").unwrap();
    let server = Server::start(
        "sharded",
        &["--config", file.to_str().unwrap(), "--timeout", "60"],
    );
    let mut c = server.redis();
    let values: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .arg("timeout")
        .arg("engine")
        .query(&mut c)
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    // CONFIG GET with several patterns answers in no particular order, as Redis does.
    let mut pairs: Vec<(String, String)> = values
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    pairs.sort();
    let expected = [
        ("engine", "sharded"),
        ("maxclients", "77"),
        ("timeout", "60"),
    ];
    assert_eq!(
        pairs,
        expected.map(|(name, value)| (name.to_string(), value.to_string()))
    );
}

#[test]
fn a_second_server_on_a_taken_port_refuses_to_start() {
    // Our listeners use SO_REUSEPORT; without a check a second process could join the first
    // one's port and silently take half its connections.
    let first = Server::start("lockfree", &[]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_workingdb"))
        .args(["--port", &first.port.to_string(), "--memcache-port", "0"])
        .args(["--appendonly", "no"])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Address already in use"), "{stderr}");
    let mut c = first.redis();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
}

#[test]
fn ports_set_to_minus_one_are_picked_by_the_kernel_and_reported() {
    // The harness starts every server with `--port -1 --memcache-port -1` and reads the ready
    // file; here the ports it read are checked against what the server itself reports.
    let server = Server::start("lockfree", &[]);
    assert_ne!(server.port, 0);
    assert_ne!(server.memcache_port, 0);
    assert_ne!(server.port, server.memcache_port);
    let mut c = server.redis();
    let info: String = redis::cmd("INFO").arg("server").query(&mut c).unwrap();
    assert!(
        info.contains(&format!("tcp_port:{}\r\n", server.port)),
        "{info}"
    );
    assert!(
        info.contains(&format!("memcache_port:{}\r\n", server.memcache_port)),
        "{info}"
    );
    let port: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(&mut c)
        .unwrap();
    assert_eq!(port, ["port".to_string(), server.port.to_string()]);
    // Both ports serve: memcached on its own.
    let mut raw = server.raw_memcache();
    raw.round_trip(b"set k 0 0 1\r\nv\r\n", b"STORED\r\n");
    // A port that is off is reported as 0.
    let ready = common::unique_temp_path("ready-off");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_workingdb"))
        .args(["--port", "-1", "--memcache-port", "0", "--appendonly", "no"])
        .args(["--ready-file", &ready.display().to_string()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (resp_port, memcache_port) = common::wait_ready_file(&mut child, &ready);
    assert_ne!(resp_port, 0);
    assert_eq!(memcache_port, 0);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&ready);
}
