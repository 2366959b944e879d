//! The append-only file through the real binary: data survives a restart over both protocols,
//! BGREWRITEAOF and INFO persistence, LASTSAVE, the directory lock, and a disk that fails
//! (the active segment is a symlink to `/dev/full`, whose writes fail with ENOSPC).

mod common;

use common::{resp, Server};
use redis::Commands;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("workingdb-aof-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(dir: &Path, fsync: &str) -> Server {
    let dir = dir.display().to_string();
    Server::start(
        "lockfree",
        &["--appendonly", "yes", "--appendfsync", fsync, "--dir", &dir],
    )
}

fn info_field(connection: &mut redis::Connection, name: &str) -> String {
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query(connection)
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("INFO persistence has no {name}: {info}"))
        .trim()
        .to_string()
}

#[test]
fn data_survives_a_restart_and_a_rewrite() {
    let dir = temp_dir("restart");
    {
        let server = start(&dir, "always");
        let mut c = server.redis();
        let _: () = c.set("s", "string").unwrap();
        let _: () = c.set_ex("ttl", "expires", 1000).unwrap();
        let _: i64 = c.rpush("l", &["a", "b", "c"]).unwrap();
        let _: Option<String> = c.lpop("l", None).unwrap();
        let _: i64 = c.incr("n", 41).unwrap();
        let _: i64 = c.incr("n", 1).unwrap();
        let _: () = c.set("gone", "x").unwrap();
        let _: i64 = c.del("gone").unwrap();
        let mut memcache = server.raw_memcache();
        memcache.round_trip(b"set m 42 0 5\r\nhello\r\n", b"STORED\r\n");
        assert_eq!(info_field(&mut c, "aof_enabled"), "1");
        assert_eq!(info_field(&mut c, "aof_last_write_status"), "ok");
        assert_eq!(info_field(&mut c, "aof_fsync"), "always");
        assert_eq!(
            redis::cmd("CONFIG")
                .arg("GET")
                .arg("appendfsync")
                .query::<Vec<String>>(&mut c)
                .unwrap(),
            vec!["appendfsync", "always"]
        );
        // SIGKILL: under `always` every acknowledged write is on disk already.
        server.kill();
    }
    {
        let server = start(&dir, "everysec");
        let mut c = server.redis();
        assert_eq!(c.get::<_, String>("s").unwrap(), "string");
        let ttl: i64 = c.ttl("ttl").unwrap();
        assert!((990..=1000).contains(&ttl), "{ttl}");
        assert_eq!(
            c.lrange::<_, Vec<String>>("l", 0, -1).unwrap(),
            vec!["b", "c"]
        );
        assert_eq!(c.get::<_, i64>("n").unwrap(), 42);
        assert!(!c.exists::<_, bool>("gone").unwrap());
        // The memcached item kept its flags.
        let mut memcache = server.raw_memcache();
        memcache.round_trip(b"get m\r\n", b"VALUE m 42 5\r\nhello\r\nEND\r\n");

        // A rewrite replaces the parts with a base and a fresh segment.
        let reply: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
        assert_eq!(reply, "Background append only file rewriting started");
        let deadline = Instant::now() + Duration::from_secs(20);
        while info_field(&mut c, "aof_rewrites") != "1" {
            assert!(Instant::now() < deadline, "the rewrite did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
        let manifest =
            std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
        assert!(
            manifest.contains("type b") && manifest.contains("type i"),
            "{manifest}"
        );
        let lastsave: i64 = redis::cmd("LASTSAVE").query(&mut c).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(
            (now - 60..=now + 1).contains(&lastsave),
            "{lastsave} vs {now}"
        );
        let _: () = c.set("after", "rewrite").unwrap();
        // SIGTERM syncs what everysec had not yet.
        assert!(server.terminate().success());
    }
    {
        let server = start(&dir, "no");
        let mut c = server.redis();
        assert_eq!(c.get::<_, String>("s").unwrap(), "string");
        assert_eq!(c.get::<_, String>("after").unwrap(), "rewrite");
        assert_eq!(
            c.lrange::<_, Vec<String>>("l", 0, -1).unwrap(),
            vec!["b", "c"]
        );
        let keys: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(keys, 6);
        // Replay counted the one key with an expiry.
        let info: String = redis::cmd("INFO").arg("keyspace").query(&mut c).unwrap();
        assert!(info.contains("db0:keys=6,expires=1,"), "{info}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts the binary on `dir` (default AOF options), expects it to refuse, returns its stderr.
fn refused_start(dir: &Path) -> String {
    refused_start_with(dir, &[])
}

/// The same with `extra` flags.
fn refused_start_with(dir: &Path, extra: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_workingdb"))
        .args(["--port", "-1"])
        .args(["--memcache-port", "0", "--dir", &dir.display().to_string()])
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success(), "the server started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_second_server_on_the_same_directory_is_refused() {
    let dir = temp_dir("lock");
    let first = start(&dir, "everysec");
    let stderr = refused_start(&dir);
    assert!(stderr.contains("in use by another server"), "{stderr}");
    let mut c = first.redis();
    let _: () = c.set("k", "v").unwrap();
    drop(first);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_log_refuses_to_start_naming_file_and_offset() {
    let dir = temp_dir("corrupt");
    {
        let server = start(&dir, "always");
        let mut c = server.redis();
        for index in 0..10 {
            let _: () = c.set(format!("k{index}"), "value").unwrap();
        }
        assert!(server.terminate().success());
    }
    let segment = dir.join("appendonlydir/appendonly.aof.1.incr.wdb");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[40] ^= 0x10; // inside the first record's arguments
    std::fs::write(&segment, &bytes).unwrap();
    let stderr = refused_start(&dir);
    assert!(
        stderr.contains("appendonly.aof.1.incr.wdb at offset 0"),
        "{stderr}"
    );
    // Asked to, it cuts the log there and starts (with nothing: the first record was bad).
    let dir_text = dir.display().to_string();
    let server = Server::start(
        "lockfree",
        &[
            "--appendonly",
            "yes",
            "--dir",
            &dir_text,
            "--aof-load-truncate-corrupt",
            "yes",
        ],
    );
    let keys: i64 = redis::cmd("DBSIZE").query(&mut server.redis()).unwrap();
    assert_eq!(keys, 0);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The active segment is a symlink to `/dev/full`: every write fails with ENOSPC.
#[test]
fn a_failing_disk_refuses_writes_with_misconf_and_serves_reads() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full here");
        return;
    }
    let dir = temp_dir("full");
    let log = dir.join("appendonlydir");
    std::fs::create_dir_all(&log).unwrap();
    std::fs::write(
        log.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.incr.wdb seq 1 type i\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/full", log.join("appendonly.aof.1.incr.wdb")).unwrap();
    let server = start(&dir, "everysec");
    let mut c = server.redis();
    // Under everysec the first write is answered from memory; its batch then fails.
    let _: () = c.set("k", "v").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "aof_last_write_status") != "err" {
        assert!(Instant::now() < deadline, "the write error was not noticed");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut raw = server.raw();
    raw.send(&resp(&[b"SET", b"k2", b"v"]));
    let line = raw.line();
    assert!(
        line.starts_with("-MISCONF Errors writing to the AOF file: No space left on device"),
        "{line}"
    );
    raw.send(&resp(&[b"PING"]));
    assert!(raw.line().starts_with("-MISCONF"));
    // Reads go on.
    raw.send(&resp(&[b"GET", b"k"]));
    assert_eq!(raw.line(), "$1\r\n");
    assert_eq!(raw.line(), "v\r\n");
    raw.send(&resp(&[b"DEL", b"k"]));
    assert!(raw.line().starts_with("-MISCONF"));
    // memcached writes get memcached's server error; reads go on.
    let mut memcache = server.raw_memcache();
    memcache.send(b"set m 0 0 1\r\nx\r\n");
    let line = memcache.line();
    assert!(
        line.starts_with("SERVER_ERROR Errors writing to the AOF file:"),
        "{line}"
    );
    memcache.round_trip(b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n");
    memcache.send(b"delete k noreply\r\n");
    assert!(memcache.line().starts_with("SERVER_ERROR"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh path for an `--aof-device` file, or `None` (with the reason printed) where the
/// device path cannot run: it needs io_uring. The file lives in the target directory, since
/// /tmp may be a tmpfs elsewhere, which has no direct I/O.
fn device_file(name: &str) -> Option<PathBuf> {
    if std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").is_ok_and(|v| v.trim() != "0")
    {
        println!("skipped: io_uring is disabled on this machine");
        return None;
    }
    let path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("aof-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    Some(path)
}

#[test]
fn segments_on_an_aof_device_survive_rewrites_and_a_crash() {
    let Some(device) = device_file("device") else {
        return;
    };
    let dir = temp_dir("device");
    let dir_flag = dir.display().to_string();
    let device_flag = device.display().to_string();
    let flags = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &dir_flag,
        "--aof-device",
        &device_flag,
        "--aof-device-size",
        "16mb",
    ];
    // A log written without the device first: the start with it moves the active segment
    // onto the device by a rewrite.
    {
        let server = start(&dir, "always");
        let mut c = server.redis();
        let _: () = c.set("before", "the device").unwrap();
        server.terminate();
    }
    let incremental_stubs = || -> Vec<String> {
        std::fs::read_dir(dir.join("appendonlydir"))
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.to_string_lossy().ends_with(".incr.wdb"))
            .map(|path| String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned())
            .filter(|text| text.starts_with("workingdb-device-segment 1\n"))
            .collect()
    };
    assert!(incremental_stubs().is_empty());
    let server = Server::start("lockfree", &flags);
    let deadline = Instant::now() + Duration::from_secs(20);
    while incremental_stubs().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the segment did not move to the device"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut c = server.redis();
    let before: String = c.get("before").unwrap();
    assert_eq!(before, "the device");
    let mut memcache = server.raw_memcache();
    for round in 0..3 {
        for index in 0..200 {
            let _: () = c
                .set(format!("k{index}"), format!("v{round}-{index}"))
                .unwrap();
        }
        let _: i64 = c.rpush("list", round).unwrap();
        memcache.round_trip(
            format!("set m{round} 7 0 2\r\nm{round}\r\n").as_bytes(),
            b"STORED\r\n",
        );
        if round < 2 {
            let before: i64 = info_field(&mut c, "aof_rewrites").parse().unwrap();
            let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while info_field(&mut c, "aof_rewrites").parse::<i64>().unwrap() == before {
                assert!(Instant::now() < deadline, "the rewrite did not finish");
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
        }
    }
    let _: i64 = c.del("k0").unwrap();
    assert_eq!(
        std::fs::metadata(&device).unwrap().len(),
        16 << 20,
        "the device file is created at its size"
    );
    // A crash: everything acknowledged under `always` is on the device.
    server.kill();
    let stubs = incremental_stubs();
    assert_eq!(stubs.len(), 1, "one segment after the rewrites: {stubs:?}");
    assert!(stubs[0].contains(&device_flag), "{}", stubs[0]);

    let server = Server::start("lockfree", &flags);
    let mut c = server.redis();
    let value: Option<String> = c.get("k0").unwrap();
    assert_eq!(value, None);
    let value: String = c.get("k199").unwrap();
    assert_eq!(value, "v2-199");
    let before: String = c.get("before").unwrap();
    assert_eq!(before, "the device");
    let list: Vec<String> = c.lrange("list", 0, -1).unwrap();
    assert_eq!(list, ["0", "1", "2"]);
    let mut memcache = server.raw_memcache();
    memcache.round_trip(b"get m1\r\n", b"VALUE m1 7 2\r\nm1\r\nEND\r\n");
    drop(server);

    // The segment is on the device: without it the start is refused by name.
    let stderr = refused_start_with(&dir, &[]);
    assert!(
        stderr.contains("--aof-device") && stderr.contains(&device_flag),
        "{stderr}"
    );
    // A wiped device: the segment the manifest names is not there, and the start says so.
    let wiped = std::fs::OpenOptions::new()
        .write(true)
        .open(&device)
        .unwrap();
    wiped.set_len(0).unwrap();
    wiped.set_len(16 << 20).unwrap();
    drop(wiped);
    let stderr = refused_start_with(
        &dir,
        &["--aof-device", &device_flag, "--aof-device-size", "16mb"],
    );
    assert!(stderr.contains("does not hold the segment"), "{stderr}");
    // A size that is not whole blocks, and a device on a memory file system.
    let stderr = refused_start_with(
        &dir,
        &["--aof-device", &device_flag, "--aof-device-size", "1000"],
    );
    assert!(stderr.contains("multiple of 4096"), "{stderr}");
    let small = format!("{device_flag}-small");
    let stderr = refused_start_with(&dir, &["--aof-device", &small, "--aof-device-size", "64kb"]);
    assert!(stderr.contains("too small"), "{stderr}");
    assert!(
        !Path::new(&small).exists(),
        "a refused device file is not created"
    );
    if Path::new("/dev/shm").is_dir() {
        let shm = format!("/dev/shm/workingdb-aof-device-{}", std::process::id());
        let stderr = refused_start_with(&dir, &["--aof-device", &shm]);
        let _ = std::fs::remove_file(&shm);
        assert!(
            stderr.contains("direct I/O") || stderr.contains("memory file system"),
            "{stderr}"
        );
    }
    let _ = std::fs::remove_file(&device);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_log_with_an_aof_device_starts_its_first_segment_there() {
    let Some(device) = device_file("device-fresh") else {
        return;
    };
    let dir = temp_dir("device-fresh");
    let dir_flag = dir.display().to_string();
    let device_flag = device.display().to_string();
    let flags = [
        "--appendfsync",
        "everysec",
        "--appendonly",
        "yes",
        "--dir",
        &dir_flag,
        "--aof-device",
        &device_flag,
        "--aof-device-size",
        "8mb",
        "--aof-device-sync",
        "fdatasync",
    ];
    let server = Server::start("lockfree", &flags);
    let first = dir.join("appendonlydir").join("appendonly.aof.1.incr.wdb");
    let stub = std::fs::read_to_string(&first).unwrap();
    assert!(
        stub.starts_with(&format!(
            "workingdb-device-segment 1\ndevice {device_flag}\n"
        )),
        "{stub}"
    );
    assert!(stub.contains("slot 0"), "{stub}");
    let mut c = server.redis();
    let _: () = c.set("k", "v").unwrap();
    // SIGTERM syncs what everysec had not.
    assert!(server.terminate().success());
    let server = Server::start("lockfree", &flags);
    let mut c = server.redis();
    let value: String = c.get("k").unwrap();
    assert_eq!(value, "v");
    drop(server);
    let _ = std::fs::remove_file(&device);
    let _ = std::fs::remove_dir_all(&dir);

    // A device that holds something else is refused and left as it was.
    let other_dir = temp_dir("device-foreign");
    let foreign = device_file("device-foreign-file").expect("io_uring was there a moment ago");
    std::fs::write(&foreign, vec![0x5a; 8 << 20]).unwrap();
    let foreign_flag = foreign.display().to_string();
    let stderr = refused_start_with(
        &other_dir,
        &["--aof-device", &foreign_flag, "--aof-device-size", "8mb"],
    );
    assert!(stderr.contains("refusing to overwrite"), "{stderr}");
    assert!(std::fs::read(&foreign)
        .unwrap()
        .iter()
        .all(|&byte| byte == 0x5a));
    let _ = std::fs::remove_file(&foreign);
    let _ = std::fs::remove_dir_all(&other_dir);
}
