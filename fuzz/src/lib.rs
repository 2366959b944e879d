//! Shared pieces of the fuzz targets in `fuzz_targets/`: a server without sockets that feeds
//! bytes to a codec the way a connection does, a scratch directory on tmpfs for the log
//! targets, and an independent CRC-64/NVME for checking what the decoders accept.
//!
//! The targets check properties, not only "no panic" (STYLE.md: fuzz every parser asserting
//! invariants). What each one asserts is written at the top of its file.

use engine::dashmap::DashMapEngine;
use keyspace::{Databases, Keyspace, ManualClock, Value};
use net::buffer::{Output, Pool};
use net::client::Client;
use net::config::Config;
use net::protocol::{Processed, Protocol};
use net::resp::parse::Request;
use net::resp::table::Table;
use net::session::{RuntimeLimits, Session, Shared};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// The engine every server-level target runs on: the dashmap adapter. Not the lock-free
/// table, because that one keeps a fingerprint in the top byte of its node pointers, which
/// LeakSanitizer cannot follow: every node of a live or deferred-free table would be reported
/// as leaked, and suppressing that would hide the leaks the targets are meant to catch. The
/// lock-free table's own unsafe code is checked by its loom models, miri and drop-counting
/// tests; what the targets exercise is the codecs, the keyspace and replay above any engine.
/// Not `sharded` either: each new map asks `available_parallelism` for its shard count, which
/// reads the cgroup files, and that was 14% of a run that builds four maps per input (dashmap
/// computes its shard count once).
pub type Map = DashMapEngine<Value>;

/// A fixed wall clock (2026-01-01T00:00:00Z), so expiry and TTLs do not depend on when an
/// input runs and a crash reproduces.
pub const NOW_MS: u64 = 1_767_225_600_000;

/// Output queued past this counts as "full": small, so the backpressure path (stop, flush,
/// resume) runs often.
const OUTPUT_SOFT_BYTES: usize = 4096;

/// The RESP command table, built once per process: every server gets a copy
/// (`Shared::over_with_commands`), which shares the rows and copies the name index. A table
/// holds no state (nothing changes it once built), so a copy is what a fresh build would
/// give; building and dropping one per server was over a third of the server-level targets'
/// time under ASan.
static COMMANDS: LazyLock<Table<Map>> = LazyLock::new(net::resp::table);

/// A server's shared state and one client, with no sockets and no loops.
pub struct Server {
    shared: Shared<Map>,
    client: Client,
    pool: Pool,
    limits: RuntimeLimits,
    request: Request,
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// A fresh server with two databases (so SELECT and MOVE have somewhere to go), a small
    /// memcached item limit (so "too large" and its swallowing are reachable), a small
    /// output limit and one event loop (what it is: one client, driven on this thread; the
    /// default, one loop per core, asked the kernel for the core count on every server, 7%
    /// of the time).
    ///
    /// Everything is built anew for each server except the command table, which is copied
    /// from one built once (see [`COMMANDS`]): no state carries from one input to the next.
    pub fn new() -> Self {
        let databases = (0..2)
            .map(|_| {
                Arc::new(Keyspace::with_clock(
                    <Map as engine::Engine>::new(),
                    ManualClock::new(NOW_MS),
                ))
            })
            .collect();
        let config = Config {
            max_item_size: 1024,
            databases: 2,
            threads: 1,
            ..Config::default()
        };
        let mut limits = RuntimeLimits::from_config(&config);
        limits.output_soft_bytes = OUTPUT_SOFT_BYTES;
        let shared = Shared::over_with_commands(
            Arc::new(Databases::new(databases)),
            config,
            COMMANDS.clone(),
        );
        let client = Client::new(shared.register_client(None, None, -1, 0));
        Self {
            shared,
            client,
            pool: Pool::new(),
            limits,
            request: Request::default(),
        }
    }

    /// Runs the codec of `protocol` over `input` as a connection would if the bytes arrived
    /// in pieces of `chunk` bytes (all at once when `chunk` is 0): buffer what arrived,
    /// discard what the codec asked to swallow, call the codec once the buffer holds what it
    /// said it wants, drop what it consumed, flush when it stops on a full output. Checks
    /// what every call reports and returns every byte of output, in order.
    pub fn drive(&mut self, protocol: Protocol, input: &[u8], chunk: usize) -> Vec<u8> {
        let chunk = if chunk == 0 {
            input.len().max(1)
        } else {
            chunk
        };
        let mut buffer: Vec<u8> = Vec::new();
        let mut output = Output::default();
        let mut written = Vec::new();
        let mut want = 0usize;
        let mut swallow = 0usize;
        'arrivals: for piece in input.chunks(chunk) {
            buffer.extend_from_slice(piece);
            loop {
                if swallow > 0 {
                    let discard = swallow.min(buffer.len());
                    buffer.drain(..discard);
                    swallow -= discard;
                }
                if buffer.is_empty() || buffer.len() < want {
                    continue 'arrivals;
                }
                let processed = self.process(protocol, &mut output, &buffer);
                check_processed(&processed, buffer.len());
                buffer.drain(..processed.consumed);
                want = processed.want;
                swallow = processed.swallow;
                flush(&mut output, &mut written, &mut self.pool);
                if processed.close {
                    break 'arrivals;
                }
                if !processed.output_full {
                    continue 'arrivals;
                }
                // Stopped on a full output with requests left: the loop flushes and resumes.
                assert!(
                    processed.consumed > 0 || !buffer.is_empty(),
                    "output full without progress"
                );
            }
        }
        flush(&mut output, &mut written, &mut self.pool);
        output.release(&mut self.pool);
        written
    }

    fn process(&mut self, protocol: Protocol, output: &mut Output, input: &[u8]) -> Processed {
        let mut session = Session {
            shared: &self.shared,
            client: &mut self.client,
            output,
            pool: &mut self.pool,
            limits: self.limits,
            held: net::lock::Held::Nothing,
            stripes: None,
        };
        match protocol {
            Protocol::Resp => net::resp::process(&mut session, &mut self.request, input),
            Protocol::MemcacheText => net::memcache::text::process(&mut session, input),
            Protocol::MemcacheBinary => net::memcache::binary::process(&mut session, input),
        }
    }
}

/// What every codec call must report (the contract in `net::protocol::Processed`).
fn check_processed(processed: &Processed, buffered: usize) {
    assert!(
        processed.consumed <= buffered,
        "consumed {} of {buffered} bytes",
        processed.consumed
    );
    let left = buffered - processed.consumed;
    assert!(
        processed.want == 0 || processed.want > left || processed.output_full,
        "waits for {} bytes with {left} already buffered",
        processed.want
    );
    if processed.swallow > 0 {
        assert_eq!(left, 0, "swallows more while buffered bytes are left");
    }
}

fn flush(output: &mut Output, written: &mut Vec<u8>, pool: &mut Pool) {
    output
        .flush_to(written, pool)
        .expect("writing to a Vec cannot fail");
}

/// A chunk size for the second, piecewise delivery of an input: small and varied, derived
/// from the input so a crash reproduces from the file alone.
pub fn chunk_size_for(input: &[u8]) -> usize {
    1 + input
        .iter()
        .fold(input.len(), |sum, &b| sum.wrapping_add(b as usize))
        % 23
}

/// CRC-64/NVME, computed independently of the crates under test (the same algorithm as
/// `persistence::record` and `nvme::blocklog`), so a target can check what they accept.
pub fn crc64_nvme(parts: &[&[u8]]) -> u64 {
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    for part in parts {
        digest.update(part);
    }
    digest.finalize()
}

/// A scratch directory, one per process, emptied before each use: under
/// `WORKINGDB_FUZZ_SCRATCH` when set (scripts/fuzz.sh gives each run its own and removes it
/// afterwards), else under `/dev/shm` (memory: the log targets create and remove files on
/// every run).
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// The directory for this process, created on first use.
    pub fn new(name: &str) -> Self {
        let base = match std::env::var_os("WORKINGDB_FUZZ_SCRATCH") {
            Some(base) => PathBuf::from(base),
            None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
            None => std::env::temp_dir(),
        };
        let path = base.join(format!("workingdb-fuzz-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create the scratch directory");
        Self { path }
    }

    /// The directory, emptied.
    pub fn fresh(&self) -> &Path {
        for entry in std::fs::read_dir(&self.path)
            .expect("read the scratch directory")
            .flatten()
        {
            let _ = std::fs::remove_file(entry.path());
        }
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs memcached input (text or binary) on two fresh servers, all at once and in pieces of
/// `chunk` bytes, and checks that the replies are the same bytes. Replies to `stats` carry
/// process-wide counters, the clock and CPU times, so an exchange that got them (its output
/// holds `uptime`, a line of both the text and the binary general stats) is not compared
/// (each server counts its own, so the rest of a run does not depend on earlier ones).
pub fn check_memcache_split(protocol: Protocol, input: &[u8], chunk: usize) {
    let whole = Server::new().drive(protocol, input, 0);
    let pieces = Server::new().drive(protocol, input, chunk);
    let has_stats = |output: &[u8]| {
        output
            .windows(b"uptime".len())
            .any(|window| window == b"uptime")
    };
    if !has_stats(&whole) && !has_stats(&pieces) {
        assert!(
            whole == pieces,
            "replies differ when the input arrives in pieces of {chunk} bytes:\nwhole:  {:?}\npieces: {:?}",
            String::from_utf8_lossy(&whole),
            String::from_utf8_lossy(&pieces)
        );
    }
}

/// Gives each record framed in `bytes` (a length field, then that many bytes) the checksum
/// its bytes call for, walking from the start until a length does not fit; returns how many
/// it repaired. Random bytes almost never carry a right CRC, so the log targets repair them
/// on request to get past the checksum to the record bodies and what replay does with them.
pub fn repair_checksums(bytes: &mut [u8]) -> usize {
    use persistence::record::{FIXED_BYTES, LENGTH_BYTES, RECORD_BYTES_MAX};
    let mut offset = 0;
    let mut repaired = 0;
    while let Some(field) = bytes.get(offset..offset + LENGTH_BYTES) {
        let length = u32::from_le_bytes(field.try_into().expect("4 bytes")) as usize;
        let end = offset + LENGTH_BYTES + length;
        if !(FIXED_BYTES..=RECORD_BYTES_MAX).contains(&length) || end > bytes.len() {
            break;
        }
        let crc = crc64_nvme(&[&bytes[offset..offset + 4], &bytes[offset + 12..end]]);
        bytes[offset + 4..offset + 12].copy_from_slice(&crc.to_le_bytes());
        repaired += 1;
        offset = end;
    }
    repaired
}

/// Whether the record at the start of `bytes` frames and carries the right checksum, by this
/// crate's own reading of the format (persistence/src/record.rs's module docs): its size
/// when it does.
pub fn checksum_holds(bytes: &[u8]) -> Option<usize> {
    use persistence::record::{FIXED_BYTES, LENGTH_BYTES, RECORD_BYTES_MAX};
    let length = u32::from_le_bytes(bytes.get(..LENGTH_BYTES)?.try_into().ok()?) as usize;
    let end = LENGTH_BYTES + length;
    if !(FIXED_BYTES..=RECORD_BYTES_MAX).contains(&length) || end > bytes.len() {
        return None;
    }
    let stored = u64::from_le_bytes(bytes[4..12].try_into().ok()?);
    (crc64_nvme(&[&bytes[..4], &bytes[12..end]]) == stored).then_some(end)
}
