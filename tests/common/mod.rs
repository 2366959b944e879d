//! The integration tests' harness: the real `workingdb` binary on free ports, killed when the
//! test ends; raw-socket helpers for byte-exact protocol tests.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The engines every server test runs against.
pub const ENGINES: [&str; 4] = ["sharded", "dashmap", "flurry", "lockfree"];

/// A TCP port that was free on 127.0.0.1 a moment ago (the kernel's pick, released again).
///
/// Only for reference servers that cannot report the port they bound (`redis-server`): the
/// port can be taken before they bind it, so whoever uses this must retry on a failed start
/// (see `differential.rs`). Our own server binds `-1` ports and reports them instead.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("no free port")
}

/// A path in the temporary directory that no other server of any test process uses.
pub fn unique_temp_path(what: &str) -> std::path::PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let serial = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "workingdb-test-{}-{serial}-{what}",
        std::process::id()
    ))
}

/// A running server process.
pub struct Server {
    child: Child,
    /// Its RESP port.
    pub port: u16,
    /// Its memcached port.
    pub memcache_port: u16,
}

impl Server {
    /// Starts the binary with `--engine engine` and `extra` flags on ports the kernel picks
    /// (`-1`), and waits until it reports them in its ready file, which it writes once both
    /// ports listen. No port is ever released between being picked and being listened on, so
    /// a busy machine cannot take it in between (issue 21).
    ///
    /// Without `--appendonly` in `extra` the server keeps no append-only file (these tests
    /// are about the protocols); without `--dir` it gets a fresh temporary directory, so no
    /// test ever writes into the working directory.
    pub fn start(engine: &str, extra: &[&str]) -> Server {
        let ready_file = unique_temp_path("ready");
        let _ = std::fs::remove_file(&ready_file);
        let mut defaults: Vec<String> = Vec::new();
        if !extra.contains(&"--appendonly") {
            defaults.extend(["--appendonly".into(), "no".into()]);
        }
        if !extra.contains(&"--dir") {
            let dir = unique_temp_path("dir");
            defaults.extend(["--dir".into(), dir.display().to_string()]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_workingdb"))
            .args(&defaults)
            .args(["--port", "-1", "--memcache-port", "-1"])
            .args(["--ready-file", &ready_file.display().to_string()])
            .args([
                "--engine",
                engine,
                "--threads",
                "2",
                "--loglevel",
                "warning",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start workingdb");
        let (port, memcache_port) = wait_ready_file(&mut child, &ready_file);
        let _ = std::fs::remove_file(&ready_file);
        Server {
            child,
            port,
            memcache_port,
        }
    }

    /// A `redis` crate connection.
    pub fn redis(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .and_then(|client| client.get_connection())
            .expect("redis connection")
    }

    /// A raw socket to the RESP port.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// A raw socket to the memcached port.
    pub fn raw_memcache(&self) -> Raw {
        Raw::connect(self.memcache_port)
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "workingdb ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the process with SIGKILL, as a crash would, and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }
}

/// Waits up to 20 s for `child` to write its ready file and returns the ports in it (RESP,
/// memcached). Panics, with the exit status, if the process ends first.
pub fn wait_ready_file(child: &mut Child, path: &std::path::Path) -> (u16, u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            let port_of = |name: &str| -> u16 {
                text.lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                    .unwrap_or_else(|| panic!("no '{name}' line in the ready file: {text:?}"))
            };
            return (port_of("port"), port_of("memcache-port"));
        }
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("workingdb exited at start-up with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "workingdb did not write its ready file {} within 20 s",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw client socket with a read timeout.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    /// Connects to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Raw { stream }
    }

    /// Sends bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads exactly `count` bytes.
    pub fn read_exact(&mut self, count: usize) -> Vec<u8> {
        let mut buffer = vec![0; count];
        self.stream.read_exact(&mut buffer).expect("read");
        buffer
    }

    /// Reads until `expected.len()` bytes arrived and returns them as text (lossy), for
    /// comparing with an expected reply.
    pub fn expect(&mut self, expected: &[u8]) {
        let got = self.read_exact(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "unexpected reply"
        );
    }

    /// Sends `request` and checks the reply is exactly `reply`.
    pub fn round_trip(&mut self, request: &[u8], reply: &[u8]) {
        self.send(request);
        self.expect(reply);
    }

    /// Reads one line (through `\n`).
    pub fn line(&mut self) -> String {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            self.stream.read_exact(&mut byte).expect("read line");
            line.push(byte[0]);
            if byte[0] == b'\n' {
                return String::from_utf8_lossy(&line).into_owned();
            }
        }
    }

    /// Whether the server closed the connection (EOF within the timeout, after draining
    /// anything still pending).
    pub fn closed(&mut self) -> bool {
        let mut buffer = [0u8; 4096];
        loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                    ) =>
                {
                    return true
                }
                Err(_) => return false,
            }
        }
    }
}

/// Encodes a command as a RESP multi-bulk request.
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A `redis-server` child process on a free port, killed when dropped.
pub struct RedisServer {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl RedisServer {
    /// Starts `redis-server` on a port that was free a moment ago. redis-server cannot bind a
    /// port the kernel picks and report it, so the port may be taken before it binds it: a
    /// start that fails is retried on another port (issue 21), and the server that answers is
    /// checked to be our child by its `process_id`, in case another process got the port.
    pub fn start() -> RedisServer {
        const ATTEMPTS: usize = 10;
        for attempt in 1..=ATTEMPTS {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no", "--loglevel", "warning"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|error| {
                    panic!(
                        "cannot start redis-server ({error}); the differential test needs it: \
                         run scripts/install-deps.sh"
                    )
                });
            let mut redis = RedisServer { child, port };
            if redis.wait_ready() {
                return redis;
            }
            eprintln!("redis-server did not start on port {port} (attempt {attempt}); retrying");
        }
        panic!("redis-server did not start in {ATTEMPTS} attempts");
    }

    /// Waits until our child answers on its port; false if it exited (its port was taken) or
    /// another process answers there.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(_status) = self.child.try_wait().expect("wait") {
                return false;
            }
            match server_process_id(self.port) {
                Some(pid) if pid == self.child.id() => return true,
                Some(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return false;
                }
                None => {}
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The `process_id` that the Redis server on `port` reports in `INFO server`, or `None` while
/// nothing answers (or it answers `-LOADING`).
fn server_process_id(port: u16) -> Option<u32> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(&resp(&[b"INFO", b"server"])).ok()?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&reply);
        if let Some(rest) = text.split("process_id:").nth(1) {
            if let Some((digits, _)) = rest.split_once("\r\n") {
                return digits.parse().ok();
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(count) => reply.extend_from_slice(&chunk[..count]),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real `memcached` for differential tests, killed when dropped.
pub struct Memcached {
    child: Child,
    /// Its TCP port.
    pub port: u16,
}

impl Memcached {
    /// Starts `memcached` with `extra` flags on a port the kernel picks: memcached binds `-p
    /// -1` as port 0 and writes the port it got to the file named by `MEMCACHED_PORT_FILENAME`
    /// ("TCP INET: <port>"), so no other process can take the port first (checked with
    /// memcached 1.6.18). UDP is off; `-u root` only matters when the tests run as root
    /// (memcached refuses to run as root without it).
    pub fn start(extra: &[&str]) -> Memcached {
        let port_file = unique_temp_path("memcached-ports");
        let _ = std::fs::remove_file(&port_file);
        let mut child = Command::new("memcached")
            .args(["-p", "-1", "-U", "0", "-l", "127.0.0.1", "-u", "root"])
            .args(extra)
            .env("MEMCACHED_PORT_FILENAME", &port_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start memcached ({error}); the differential test needs it: run \
                     scripts/install-deps.sh"
                )
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            let text = std::fs::read_to_string(&port_file).unwrap_or_default();
            // Only whole lines: a line still being written could hold part of the number.
            let port = text
                .split_inclusive('\n')
                .filter(|line| line.ends_with('\n'))
                .find_map(|line| line.strip_prefix("TCP INET: ")?.trim().parse().ok());
            if let Some(port) = port {
                break port;
            }
            if let Some(status) = child.try_wait().expect("wait") {
                panic!("memcached exited at start-up with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "memcached did not write its port file within 20 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = std::fs::remove_file(&port_file);
        Memcached { child, port }
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
