//! The integration tests' harness: the real `workingdb` binary on free ports, killed when the
//! test ends; raw-socket helpers for byte-exact protocol tests.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The engines every server test runs against.
pub const ENGINES: [&str; 4] = ["sharded", "dashmap", "flurry", "lockfree"];

/// A free TCP port on 127.0.0.1 (the kernel's pick; released before the server binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("no free port")
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
    /// Starts the binary with `--engine engine` and `extra` flags, and waits until both ports
    /// accept connections.
    ///
    /// Without `--appendonly` in `extra` the server keeps no append-only file (these tests
    /// are about the protocols); without `--dir` it gets a fresh temporary directory, so no
    /// test ever writes into the working directory.
    pub fn start(engine: &str, extra: &[&str]) -> Server {
        let port = free_port();
        let memcache_port = free_port();
        let mut defaults: Vec<String> = Vec::new();
        if !extra.contains(&"--appendonly") {
            defaults.extend(["--appendonly".into(), "no".into()]);
        }
        if !extra.contains(&"--dir") {
            let dir =
                std::env::temp_dir().join(format!("workingdb-test-{}-{port}", std::process::id()));
            defaults.extend(["--dir".into(), dir.display().to_string()]);
        }
        let child = Command::new(env!("CARGO_BIN_EXE_workingdb"))
            .args(&defaults)
            .args(["--port", &port.to_string()])
            .args(["--memcache-port", &memcache_port.to_string()])
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
        let server = Server {
            child,
            port,
            memcache_port,
        };
        server.wait_ready(port);
        server.wait_ready(memcache_port);
        server
    }

    fn wait_ready(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("workingdb did not listen on port {port} within 20 s");
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
