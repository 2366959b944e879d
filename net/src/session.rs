//! What a command sees while it runs: the server's shared state, its own client, and the
//! connection's output with the loop's buffer pool, plus the encoders for RESP replies.

use crate::aof::AofSlot;
use crate::buffer::{Output, Pool};
use crate::client::{Client, ClientInfo, Inbox, Message};
use crate::config::Config;
use crate::lock::{Held, Lock};
use crate::resp::parse::{Args, Limits};
use crate::resp::table::{CommandSpec, Table};
use crate::stats::{CommandStats, ServerStats};
use engine::Engine;
use keyspace::{Access, Databases, Db, KeysGuard, Keyspace, Mode, Str, Value};
use persistence::log::AppendLog;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Instant, SystemTime};

/// Changes the process's log level to a `loglevel` value.
pub type LogLevelSetter = Box<dyn Fn(&str) + Send + Sync>;

/// State every loop shares.
pub struct Shared<E: Engine<Value = Value>> {
    /// The numbered databases (`SELECT`'s numbers, `SWAPDB`'s map); memcached uses
    /// database 0, as a new RESP client does.
    pub databases: Arc<Databases<E>>,
    /// The live configuration (`CONFIG SET` changes it).
    pub config: RwLock<Config>,
    /// Counters for `INFO` and memcached `stats`.
    pub stats: ServerStats,
    /// Per-command counters for `INFO commandstats` and `errorstats`, per event loop.
    pub command_stats: CommandStats,
    /// Every connected client, for `CLIENT LIST` and `INFO clients`.
    pub clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    /// The RESP command table.
    pub commands: Table<E>,
    /// Each event loop's inbox, in loop order (set once the loops start).
    pub inboxes: OnceLock<Vec<Arc<Inbox>>>,
    /// When the server started.
    pub started: Instant,
    /// A random id for this run (`INFO server run_id`).
    pub run_id: String,
    /// The replication id of this server's history (`INFO replication master_replid`): random
    /// per start, as Redis's is without a saved one.
    pub repl_id: String,
    /// The ports actually bound (RESP, memcached), for INFO and the tests.
    pub ports: Mutex<(u16, u16)>,
    next_client_id: AtomicU64,
    /// Connected clients (the registry's size, without its lock).
    connected: AtomicUsize,
    /// Bumped on every configuration change, so loops know to refresh their limits.
    config_generation: AtomicU64,
    /// The append-only file, when `appendonly yes` (`CONFIG SET appendonly` switches it).
    pub aof: AofSlot,
    /// The config file the server was started with (`CONFIG REWRITE` writes it back), made
    /// absolute; `None` without one.
    pub config_file: Option<std::path::PathBuf>,
    /// Unix time of the start (`LASTSAVE` without an append-only file).
    pub started_unix: u64,
    /// Asks the process to shut down as SIGTERM does (`SHUTDOWN`); `None` where nothing can
    /// (a server embedded in a test), and `SHUTDOWN` then fails as Redis's does.
    pub shutdown: Option<Box<dyn Fn() + Send + Sync>>,
    /// Changes the process's log level (`CONFIG SET loglevel`); `None` in a server embedded
    /// in a test, where the level is the test's.
    pub set_log_level: Option<LogLevelSetter>,
}

impl<E: Engine<Value = Value>> Shared<E> {
    /// Shared state over `databases` (the numbered databases' keyspaces, at least one) with
    /// `config`.
    pub fn new(databases: Vec<Arc<Keyspace<E>>>, config: Config) -> Self {
        Self::over(Arc::new(Databases::new(databases)), config)
    }

    /// Shared state over `databases` (as a log's replay left their map) with `config`.
    pub fn over(databases: Arc<Databases<E>>, config: Config) -> Self {
        Self::over_with_commands(databases, config, crate::resp::table())
    }

    /// The same with `commands` as the RESP command table, which must be
    /// [`crate::resp::table`]'s (a copy of one built before: a table holds no state, so a
    /// copy is as fresh as a new one). For what builds many servers in one process: the fuzz
    /// targets build two per input, and building the table was a quarter of their time.
    pub fn over_with_commands(
        databases: Arc<Databases<E>>,
        config: Config,
        commands: Table<E>,
    ) -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let run_id = format!("{:040x}", seed ^ (u128::from(std::process::id()) << 64));
        let command_stats = CommandStats::new(config.loop_count(), commands.id_count());
        Self {
            databases,
            config: RwLock::new(config),
            stats: ServerStats::default(),
            command_stats,
            clients: Mutex::new(BTreeMap::new()),
            commands,
            inboxes: OnceLock::new(),
            started: Instant::now(),
            run_id: run_id[run_id.len() - 40..].to_string(),
            repl_id: random_hex_id(),
            ports: Mutex::new((0, 0)),
            next_client_id: AtomicU64::new(1),
            connected: AtomicUsize::new(0),
            config_generation: AtomicU64::new(0),
            aof: AofSlot::default(),
            config_file: None,
            started_unix: (seed / 1_000_000_000) as u64,
            shutdown: None,
            set_log_level: None,
        }
    }

    /// The same, writing to `aof`.
    pub fn with_aof(self, aof: Arc<AppendLog>) -> Self {
        self.aof.install(Some(aof));
        self
    }

    /// The same, started with the config file at `path` (`CONFIG REWRITE` writes it back).
    pub fn with_config_file(mut self, path: std::path::PathBuf) -> Self {
        self.config_file = Some(std::path::absolute(&path).unwrap_or(path));
        self
    }

    /// The same, with `request` as the way `SHUTDOWN` stops the process.
    pub fn with_shutdown(mut self, request: impl Fn() + Send + Sync + 'static) -> Self {
        self.shutdown = Some(Box::new(request));
        self
    }

    /// The same, with `set` as the way `CONFIG SET loglevel` changes the log level.
    pub fn with_log_level(mut self, set: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.set_log_level = Some(Box::new(set));
        self
    }

    /// Why writes are refused now, in Redis's words (`MISCONF ...`): the append-only file
    /// cannot be written. `None` when writes are accepted.
    #[inline]
    pub fn write_refusal(&self) -> Option<String> {
        // Without a log nothing can refuse: skip this thread's copy of the slot. A log being
        // installed meanwhile has had no write error yet.
        if !self.aof.is_running() {
            return None;
        }
        self.aof_write_refusal()
    }

    /// [`Shared::write_refusal`] when a log runs: whether it failed to write.
    fn aof_write_refusal(&self) -> Option<String> {
        let error = self.aof.with(|log| log?.write_error())?;
        Some(format!("MISCONF Errors writing to the AOF file: {error}"))
    }

    /// A copy of the configuration.
    pub fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the configuration (`CONFIG SET`).
    pub fn set_config(&self, config: Config) {
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
        // Release pairs with the Acquire in `runtime_limits`: a loop that sees the new
        // generation reads the new configuration (the RwLock orders it anyway).
        self.config_generation.fetch_add(1, Ordering::Release);
    }

    /// The limits the loops apply, and the configuration generation they come from.
    pub fn runtime_limits(&self) -> (RuntimeLimits, u64) {
        // Acquire: see `set_config`.
        let generation = self.config_generation.load(Ordering::Acquire);
        let config = self.config.read().unwrap_or_else(PoisonError::into_inner);
        (RuntimeLimits::from_config(&config), generation)
    }

    /// Registers a new client of loop `loop_index` and returns its record.
    pub fn register_client(
        &self,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
        fd: i32,
        loop_index: usize,
    ) -> Arc<ClientInfo> {
        // Relaxed: ids only need to be unique.
        let id = self.next_client_id.fetch_add(1, Ordering::Relaxed);
        let info = Arc::new(ClientInfo::new(id, peer, local, fd, loop_index));
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&info));
        // Relaxed: a count for maxclients and INFO, not a synchronisation point.
        self.connected.fetch_add(1, Ordering::Relaxed);
        info
    }

    /// A snapshot of the registered clients, in id order.
    pub fn client_list(&self) -> Vec<Arc<ClientInfo>> {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Posts `message` to loop `loop_index`'s inbox; false when the loops are not running.
    pub fn post(&self, loop_index: usize, message: Message) -> bool {
        match self
            .inboxes
            .get()
            .and_then(|inboxes| inboxes.get(loop_index))
        {
            Some(inbox) => {
                inbox.post(message);
                true
            }
            None => false,
        }
    }

    /// Forgets a client.
    pub fn unregister_client(&self, id: u64) {
        let removed = self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if removed.is_some() {
            // Relaxed: as in `register_client`.
            self.connected.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Connected clients.
    pub fn client_count(&self) -> usize {
        // Relaxed: as in `register_client`.
        self.connected.load(Ordering::Relaxed)
    }
}

/// A command's view of the server and its connection.
pub struct Session<'a, E: Engine<Value = Value>> {
    /// Shared server state.
    pub shared: &'a Shared<E>,
    /// This client's own state.
    pub client: &'a mut Client,
    /// Where replies go.
    pub output: &'a mut Output,
    /// The loop's buffers.
    pub pool: &'a mut Pool,
    /// The limits in force.
    pub limits: RuntimeLimits,
    /// The keyspace guards the dispatcher took for the command running (see [`crate::lock`]).
    pub held: Held<'a, E>,
    /// The stripes of the running command's keys, while it holds them, or its optimistic
    /// read (see [`crate::lock`]).
    pub stripes: Option<KeysHeld<'a, E>>,
}

/// 40 random hexadecimal digits (std's per-process random hash keys as the source).
fn random_hex_id() -> String {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new();
    let words: Vec<u64> = (0u8..3).map(|i| random.hash_one(i)).collect();
    format!("{:016x}{:016x}{:08x}", words[0], words[1], words[2] as u32)
}

/// How the running command reads or writes several keys (see [`Session::with_stripes`]).
pub enum KeysHeld<'a, E: Engine<Value = Value>> {
    /// Their stripes are held.
    Locked(KeysGuard<'a, E>),
    /// A read without stripes, checked when it ends.
    Optimistic(keyspace::Optimistic<'a, E>),
}

/// A database used without a guard: the command's row names the wrong lock.
#[cold]
fn no_guard(index: usize) -> ! {
    panic!("database {index} used without a guard: the command's lock rule is wrong")
}

/// The configuration values the loops consult on every request, copied out of [`Config`] so
/// the hot path reads plain fields; loops refresh their copy when the configuration changes.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeLimits {
    /// Stop executing requests once this much output is queued.
    pub output_soft_bytes: usize,
    /// Close a client with more output queued than this (0: never).
    pub output_hard_bytes: usize,
    /// `proto-max-bulk-len`.
    pub bulk_bytes_max: usize,
    /// `client-query-buffer-limit`.
    pub query_buffer_bytes: usize,
    /// `max-item-size`.
    pub item_bytes_max: usize,
    /// `maxclients`.
    pub maxclients: usize,
    /// `timeout`.
    pub timeout_secs: u64,
}

impl RuntimeLimits {
    /// The limits of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            output_soft_bytes: config.client_output_soft_bytes,
            output_hard_bytes: config.client_output_hard_bytes,
            bulk_bytes_max: config.proto_max_bulk_len,
            query_buffer_bytes: config.client_query_buffer_limit,
            item_bytes_max: config.max_item_size,
            maxclients: config.maxclients,
            timeout_secs: config.timeout_secs,
        }
    }
}

impl<'a, E: Engine<Value = Value>> Session<'a, E> {
    /// The client's selected database, under the guard the dispatcher took for this command
    /// (see [`crate::lock`]). It borrows the shared state, not the session, so a handler can
    /// write replies while it holds a value of the keyspace.
    ///
    /// Panics when no guard covers the database: the command's row names the wrong lock.
    #[inline]
    pub fn keyspace(&self) -> Db<'a, E> {
        self.db(self.client.db())
    }

    /// Database `index` under the guard in force; panics as [`Session::keyspace`] does.
    #[inline]
    pub fn db(&self, index: usize) -> Db<'a, E> {
        match &self.stripes {
            Some(KeysHeld::Locked(stripes)) if index == self.client.db() => stripes.db(),
            Some(KeysHeld::Optimistic(read)) if index == self.client.db() => read.db(),
            _ => self.held.db(index).unwrap_or_else(|| no_guard(index)),
        }
    }

    /// Runs `run` under `lock` (taken in `mode` on the selected database), unless the guard in
    /// force allows it already (a shared guard kept from an earlier command of the batch, or a
    /// sequence of commands holding every database; see [`crate::lock`]). A guard taken here
    /// is released afterwards, unless it is a shared one, which the batch keeps until the
    /// session ends.
    pub fn locked<R>(&mut self, lock: Lock, mode: Mode, run: impl FnOnce(&mut Self) -> R) -> R {
        let selected = self.client.db();
        if self.held.covers(lock, mode, selected) {
            return run(self);
        }
        // Drop what is held first: a loop never waits for a guard while it holds one.
        self.held = Held::Nothing;
        self.held = Held::take(&self.shared.databases, lock, mode, selected);
        let result = run(self);
        if !self.held.may_outlive_its_command() {
            self.held = Held::Nothing;
        }
        result
    }

    /// Runs `run` holding the stripes of this call's keys (`spec`'s key specs over `args`)
    /// with `access`, on the selected database, under the guard in force; see
    /// [`crate::lock`].
    ///
    /// A read first runs without stripes when no multi-key writer is at work, and is kept if
    /// none started meanwhile ([`keyspace::Optimistic`]); otherwise its reply is dropped and
    /// it runs again under the stripes. Taking a reader's stripes costs an atomic
    /// read-modify-write on two cache lines per key, a third of a pipelined `MGET`
    /// (callgrind); the check costs two loads. What a discarded run counted (hits and misses,
    /// error replies) stays counted.
    pub fn with_stripes<R>(
        &mut self,
        spec: &CommandSpec,
        args: Args<'_>,
        access: Access,
        mut run: impl FnMut(&mut Self) -> R,
    ) -> R {
        if access == Access::Read {
            if let Some(read) = self.keyspace().read_optimistically() {
                let mark = self.output.pending();
                self.stripes = Some(KeysHeld::Optimistic(read));
                let result = run(self);
                let valid = match self.stripes.take() {
                    Some(KeysHeld::Optimistic(read)) => read.still_valid(),
                    _ => unreachable!("the optimistic read is the running command's"),
                };
                if valid {
                    return result;
                }
                drop(result);
                self.output.truncate_to(mark, self.pool);
            }
        }
        let keys = crate::lock::call_keys(spec, args);
        self.stripes = Some(KeysHeld::Locked(self.keyspace().lock_keys(keys, access)));
        let result = run(self);
        self.stripes = None;
        result
    }

    /// Parser limits from the configuration.
    pub fn parse_limits(&self) -> Limits {
        Limits {
            bulk_bytes_max: self.limits.bulk_bytes_max,
        }
    }

    /// Whether the output is over the soft limit.
    pub fn output_full(&self) -> bool {
        self.output.pending() >= self.limits.output_soft_bytes
    }

    /// Counts a processed memcached command (RESP commands are counted per command id, in
    /// [`Shared::command_stats`]).
    pub fn count_command(&self) {
        self.shared.stats.commands.add(1);
    }

    /// Appends raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.output.extend(bytes, self.pool);
    }

    /// Appends a stored value's bytes (by reference when large).
    pub fn raw_value(&mut self, value: &Str) {
        self.output.extend_value(value, self.pool);
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.raw(b"+OK\r\n");
    }

    /// A simple string.
    pub fn simple(&mut self, text: &str) {
        self.raw(b"+");
        self.raw(text.as_bytes());
        self.raw(b"\r\n");
    }

    /// An error reply; `text` starts with its code (`ERR`, `WRONGTYPE`, ...).
    pub fn error(&mut self, text: &str) {
        self.count_error(text.as_bytes());
        self.raw(b"-");
        self.raw(text.as_bytes());
        self.raw(b"\r\n");
    }

    /// An error reply from raw bytes (Redis echoes client bytes in some errors verbatim).
    pub fn error_bytes(&mut self, text: &[u8]) {
        self.count_error(text);
        self.raw(b"-");
        self.raw(text);
        self.raw(b"\r\n");
    }

    /// Counts an error reply: in total, for the command running (see `resp::execute`) and
    /// under its error code.
    fn count_error(&mut self, text: &[u8]) {
        self.shared.stats.errors.add(1);
        self.client.error_replies += 1;
        self.shared
            .command_stats
            .of_loop(self.client.info.loop_index)
            .error_reply(text);
    }

    /// An integer.
    pub fn integer(&mut self, value: i64) {
        let mut digits = itoa::Buffer::new();
        self.raw(b":");
        self.raw(digits.format(value).as_bytes());
        self.raw(b"\r\n");
    }

    /// `$<length>\r\n`.
    pub fn bulk_header(&mut self, length: usize) {
        let mut digits = itoa::Buffer::new();
        self.raw(b"$");
        self.raw(digits.format(length).as_bytes());
        self.raw(b"\r\n");
    }

    /// A bulk string.
    pub fn bulk(&mut self, bytes: &[u8]) {
        self.bulk_header(bytes.len());
        self.raw(bytes);
        self.raw(b"\r\n");
    }

    /// Whether replies are RESP3 (after `HELLO 3`).
    #[inline]
    pub fn resp3(&self) -> bool {
        self.client.resp() == 3
    }

    /// The null bulk string (RESP3: the null).
    pub fn null(&mut self) {
        let null: &[u8] = if self.resp3() { b"_\r\n" } else { b"$-1\r\n" };
        self.raw(null);
    }

    /// The null array (RESP3: the null).
    pub fn null_array(&mut self) {
        let null: &[u8] = if self.resp3() { b"_\r\n" } else { b"*-1\r\n" };
        self.raw(null);
    }

    /// A map header of `pairs` key-value pairs (RESP2: an array of twice as many items).
    pub fn map(&mut self, pairs: usize) {
        if self.resp3() {
            self.aggregate(b'%', pairs);
        } else {
            self.aggregate(b'*', pairs * 2);
        }
    }

    /// A set header (RESP2: an array header).
    pub fn set(&mut self, length: usize) {
        let kind = if self.resp3() { b'~' } else { b'*' };
        self.aggregate(kind, length);
    }

    /// Text for people (`INFO`, `CLIENT LIST`): RESP3's verbatim string of format `txt`,
    /// RESP2's bulk string.
    pub fn verbatim_text(&mut self, text: &[u8]) {
        if self.resp3() {
            let mut digits = itoa::Buffer::new();
            self.raw(b"=");
            self.raw(digits.format(text.len() + 4).as_bytes());
            self.raw(b"\r\ntxt:");
            self.raw(text);
            self.raw(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    fn aggregate(&mut self, kind: u8, length: usize) {
        let mut digits = itoa::Buffer::new();
        self.raw(&[kind]);
        self.raw(digits.format(length).as_bytes());
        self.raw(b"\r\n");
    }

    /// An array header.
    pub fn array(&mut self, length: usize) {
        let mut digits = itoa::Buffer::new();
        self.raw(b"*");
        self.raw(digits.format(length).as_bytes());
        self.raw(b"\r\n");
    }
}
