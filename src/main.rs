//! `workingdb`: start-up wiring only. Parses the configuration (defaults, then a `--config`
//! file, then flags, which win), builds the keyspace over the chosen engine, starts the event
//! loops and the expiry sweeper, and shuts down cleanly on SIGINT or SIGTERM.

use clap::Parser;
use engine::dashmap::DashMapEngine;
use engine::flurry::FlurryEngine;
use engine::sharded::Sharded;
use engine::{Engine, LockFree};
use keyspace::{Keyspace, Value, SWEEP_CYCLE_BUDGET, SWEEP_INTERVAL};
use net::aof::AofControl;
use net::{Config, Shared};
use persistence::device::DeviceSegments;
use persistence::journal::{DbJournal, Journal, Subscriber, SubscriptionId};
use persistence::log::{self, AppendLog, Io};
use persistence::replay;
use persistence::uring::UringStorage;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// mimalloc instead of glibc malloc: the server allocates a node and a value per write and
/// frees the replaced ones from whichever thread the epoch collector runs them on, and in
/// the profile of `redis-benchmark -P 16 -t set,get` glibc spent 5-9% of the loops' time in
/// `_int_malloc` and `malloc_consolidate` (cross-thread frees defeat its per-thread caches).
/// See bench-results/server.md for the measured difference.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An in-memory key-value server speaking RESP (Redis) and memcached (text, meta, binary)
/// over one keyspace. Options use Redis's config names; every option can also be set in a
/// `--config` file as a `name value` line, and flags win over the file.
#[derive(Debug, Parser)]
#[command(name = "workingdb", version)]
struct Flags {
    /// A redis.conf-style file of `name value` lines.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Addresses to listen on, space-separated [default: 127.0.0.1].
    #[arg(long)]
    bind: Option<String>,
    /// RESP port; every protocol is accepted on it too (0: off, -1: any free port)
    /// [default: 6379].
    #[arg(long, allow_hyphen_values = true)]
    port: Option<String>,
    /// memcached port; every protocol is accepted on it too (0: off, -1: any free port)
    /// [default: 11211].
    #[arg(long = "memcache-port", allow_hyphen_values = true)]
    memcache_port: Option<String>,
    /// Once every port listens, write the ports bound to this file, as `port N` and
    /// `memcache-port N` lines (for `-1` ports) [default: none].
    #[arg(long = "ready-file", value_name = "FILE")]
    ready_file: Option<String>,
    /// Numbered databases, SELECT 0 to N-1 (1 to 256) [default: 16].
    #[arg(long)]
    databases: Option<String>,
    /// Event-loop threads (0: one per core) [default: 0].
    #[arg(long)]
    threads: Option<String>,
    /// Map back-end: sharded, dashmap, flurry or lockfree [default: lockfree].
    #[arg(long)]
    engine: Option<String>,
    /// Most clients connected at once [default: 10000].
    #[arg(long)]
    maxclients: Option<String>,
    /// Close clients idle for this many seconds (0: never) [default: 0].
    #[arg(long)]
    timeout: Option<String>,
    /// Largest bulk string in a request, e.g. 512mb [default: 512mb].
    #[arg(long = "proto-max-bulk-len")]
    proto_max_bulk_len: Option<String>,
    /// Most unparsed input per client, e.g. 1gb [default: 1gb].
    #[arg(long = "client-query-buffer-limit")]
    client_query_buffer_limit: Option<String>,
    /// "normal <hard> <soft> <seconds>": close a client whose queued replies pass <hard>
    /// bytes (0: no limit) [default: normal 0 0 0].
    #[arg(long = "client-output-buffer-limit")]
    client_output_buffer_limit: Option<String>,
    /// Largest memcached item, as memcached's -I [default: 1mb].
    #[arg(short = 'I', long = "max-item-size")]
    max_item_size: Option<String>,
    /// Listen backlog [default: 511].
    #[arg(long = "tcp-backlog")]
    tcp_backlog: Option<String>,
    /// debug, verbose, notice or warning [default: notice].
    #[arg(long)]
    loglevel: Option<String>,
    /// Directory holding the append-only file's directory [default: ./data].
    #[arg(long)]
    dir: Option<String>,
    /// Keep an append-only file: yes or no [default: yes].
    #[arg(long)]
    appendonly: Option<String>,
    /// When to fsync the append-only file: always, everysec or no [default: everysec].
    #[arg(long)]
    appendfsync: Option<String>,
    /// Stem of the append-only file's part names [default: appendonly.aof].
    #[arg(long)]
    appendfilename: Option<String>,
    /// The append-only file's directory, inside --dir [default: appendonlydir].
    #[arg(long)]
    appenddirname: Option<String>,
    /// Rewrite the log when it grew this many percent since the last rewrite (0: never)
    /// [default: 100].
    #[arg(long = "auto-aof-rewrite-percentage")]
    auto_aof_rewrite_percentage: Option<String>,
    /// No automatic rewrite below this size [default: 64mb].
    #[arg(long = "auto-aof-rewrite-min-size")]
    auto_aof_rewrite_min_size: Option<String>,
    /// Start after cutting a torn tail off the log: yes or no [default: yes].
    #[arg(long = "aof-load-truncated")]
    aof_load_truncated: Option<String>,
    /// Start after cutting the log at a corrupt record in its middle, losing what follows:
    /// yes or no [default: no].
    #[arg(long = "aof-load-truncate-corrupt")]
    aof_load_truncate_corrupt: Option<String>,
    /// How the log is written: auto (io_uring when the kernel allows it, else plain writes),
    /// uring or sync [default: auto].
    #[arg(long = "aof-io")]
    aof_io: Option<String>,
    /// Under appendfsync always over io_uring: batches in flight at once, 1 to 8
    /// [default: 1].
    #[arg(long = "aof-pipeline-depth")]
    aof_pipeline_depth: Option<String>,
    /// A block device, or a file (created and preallocated when it does not exist), that the
    /// AOF's incremental segments are written to with O_DIRECT; the manifest and the bases
    /// stay in the AOF directory [default: none].
    #[arg(long = "aof-device")]
    aof_device: Option<String>,
    /// The size of the file --aof-device creates, a multiple of 4096 [default: 1gb].
    #[arg(long = "aof-device-size")]
    aof_device_size: Option<String>,
    /// How a batch on --aof-device is made durable: dsync (each write RWF_DSYNC) or fdatasync
    /// [default: dsync].
    #[arg(long = "aof-device-sync")]
    aof_device_sync: Option<String>,
}

impl Flags {
    /// The flags given, as (option name, value).
    fn options(&self) -> Vec<(&'static str, &str)> {
        [
            ("bind", &self.bind),
            ("port", &self.port),
            ("memcache-port", &self.memcache_port),
            ("ready-file", &self.ready_file),
            ("databases", &self.databases),
            ("threads", &self.threads),
            ("engine", &self.engine),
            ("maxclients", &self.maxclients),
            ("timeout", &self.timeout),
            ("proto-max-bulk-len", &self.proto_max_bulk_len),
            ("client-query-buffer-limit", &self.client_query_buffer_limit),
            (
                "client-output-buffer-limit",
                &self.client_output_buffer_limit,
            ),
            ("max-item-size", &self.max_item_size),
            ("tcp-backlog", &self.tcp_backlog),
            ("loglevel", &self.loglevel),
            ("dir", &self.dir),
            ("appendonly", &self.appendonly),
            ("appendfsync", &self.appendfsync),
            ("appendfilename", &self.appendfilename),
            ("appenddirname", &self.appenddirname),
            (
                "auto-aof-rewrite-percentage",
                &self.auto_aof_rewrite_percentage,
            ),
            ("auto-aof-rewrite-min-size", &self.auto_aof_rewrite_min_size),
            ("aof-load-truncated", &self.aof_load_truncated),
            ("aof-load-truncate-corrupt", &self.aof_load_truncate_corrupt),
            ("aof-io", &self.aof_io),
            ("aof-pipeline-depth", &self.aof_pipeline_depth),
            ("aof-device", &self.aof_device),
            ("aof-device-size", &self.aof_device_size),
            ("aof-device-sync", &self.aof_device_sync),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|value| (name, value)))
        .collect()
    }
}

fn load_config(flags: &Flags) -> Result<Config, String> {
    let mut config = Config::default();
    if let Some(path) = &flags.config {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        config
            .apply_file(&text)
            .map_err(|error| format!("{}: {error}", path.display()))?;
    }
    for (name, value) in flags.options() {
        config
            .set(name, value)
            .map_err(|error| format!("--{name} {value}: {error}"))?;
    }
    Ok(config)
}

/// The tracing level of a Redis `loglevel` (`verbose` has no level of its own in tracing).
fn level_filter(level: &str) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    match level {
        "debug" | "verbose" => LevelFilter::DEBUG,
        "warning" | "nothing" => LevelFilter::WARN,
        _ => LevelFilter::INFO,
    }
}

/// Logs to stderr at `level`; returns what changes the level later.
fn init_logging(level: &str) -> net::session::LogLevelSetter {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(level_filter(level));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    Box::new(move |level| {
        if let Err(error) = handle.reload(level_filter(level)) {
            tracing::warn!("cannot change the log level: {error}");
        }
    })
}

/// The append-only file, opened: the directory lock (held while the log runs), the log and
/// its subscription to the journal.
struct Aof {
    lock: std::fs::File,
    log: Arc<AppendLog>,
    subscription: SubscriptionId,
}

/// Replays the log into `keyspace` and starts its writer; the keyspace reports to it from then
/// on.
/// The most keys replay sizes the map for up front (a log of many updates to few keys would
/// otherwise reserve a table for keys that never exist): 16M keys, a few hundred MB of table
/// at most. Past it the map grows as it does in service.
const REPLAY_PRESIZE_KEYS_MAX: usize = 1 << 24;

/// Writes in flight at once on an `--aof-device`, and the size of each: an `always` batch of
/// up to 2 MiB goes out in one round (the AOF's batches are far smaller but for bulk loads).
const AOF_DEVICE_QUEUE_DEPTH: usize = 8;
const AOF_DEVICE_BUFFER_BYTES: usize = 256 * 1024;

/// How the log is written: `aof-io`, and whether the kernel has io_uring.
fn choose_io(config: &Config) -> Result<Io, String> {
    let io = match (config.aof_io.as_str(), UringStorage::probe()) {
        ("sync", _) => Io::Sync,
        (_, Ok(())) => Io::Uring,
        ("uring", Err(error)) => {
            return Err(format!(
                "--aof-io uring: io_uring is not available: {error}"
            ));
        }
        (_, Err(error)) => {
            tracing::warn!(
                "io_uring is not available ({error}): the AOF is written with pwrite and fdatasync"
            );
            Io::Sync
        }
    };
    Ok(io)
}

/// The numbered databases: their keyspaces and `SWAPDB`'s map.
type Databases<E> = Arc<keyspace::Databases<E>>;

/// Opens and replays the AOF, creating each database's keyspace sized for what the log holds
/// of it.
fn open_aof<E: Engine<Value = Value>>(
    config: &Config,
    journal: &Arc<Journal>,
) -> Result<(Databases<E>, Aof), String> {
    let dir = std::path::Path::new(&config.dir).join(&config.appenddirname);
    let lock = replay::lock_dir(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let io = choose_io(config)?;
    let options = replay::LoadOptions {
        load_truncated: config.aof_load_truncated,
        truncate_corrupt: config.aof_load_truncate_corrupt,
    };
    let devices = if config.aof_device.is_empty() {
        None
    } else {
        let sync = match config.aof_device_sync.as_str() {
            "fdatasync" => nvme::Durability::Fdatasync,
            _ => nvme::Durability::Dsync,
        };
        let device_options = nvme::DeviceOptions {
            queue_depth: AOF_DEVICE_QUEUE_DEPTH,
            buffer_bytes: AOF_DEVICE_BUFFER_BYTES,
            sqpoll_idle_ms: None,
            durability: sync,
            file_bytes: Some(config.aof_device_size),
        };
        let path = std::path::Path::new(&config.aof_device);
        Some(
            DeviceSegments::open(path, device_options, &dir, &config.appendfilename)
                .map_err(|error| format!("--aof-device {}: {error}", path.display()))?,
        )
    };
    let scanned = replay::scan(&dir, &config.appendfilename, options, devices.as_deref())
        .map_err(|error| error.to_string())?;
    let keyspaces: Vec<Arc<Keyspace<E>>> = (0..config.databases)
        .map(|db| {
            let records = scanned.records_in(db as u8);
            Arc::new(Keyspace::new(E::with_capacity(
                records.min(REPLAY_PRESIZE_KEYS_MAX),
            )))
        })
        .collect();
    let active_on_device = scanned.active_is_stub();
    let views: Vec<&Keyspace<E>> = keyspaces.iter().map(|keyspace| &**keyspace).collect();
    let loaded = scanned
        .apply_all(&views)
        .map_err(|error| error.to_string())?;
    let databases: Databases<E> = Arc::new(match &loaded.database_map {
        Some((epoch, map)) => keyspace::Databases::with_map(keyspaces, map, *epoch)
            .map_err(|error| format!("{}: {error}", dir.display()))?,
        None => keyspace::Databases::new(keyspaces),
    });
    let seconds = loaded.elapsed.as_secs_f64();
    tracing::info!(
        "DB loaded from append only file: {seconds:.3} seconds, {} records, {:.1} MB ({:.0} records/s, {:.1} MB/s), {} keys",
        loaded.records,
        loaded.bytes as f64 / 1e6,
        loaded.records as f64 / seconds.max(1e-9),
        loaded.bytes as f64 / 1e6 / seconds.max(1e-9),
        databases
            .physical()
            .iter()
            .map(|keyspace| keyspace.len())
            .sum::<usize>(),
    );
    let snapshotter = snapshotter(Arc::downgrade(&databases));
    let options = log_options(config, dir);
    let log = AppendLog::start(
        options,
        loaded.manifest,
        loaded.active_bytes,
        match &devices {
            Some(devices) => devices.opener(log::file_opener(io)),
            None => log::file_opener(io),
        },
        snapshotter,
    )
    .map_err(|error| format!("cannot start the AOF writer: {error}"))?;
    let log = Arc::new(log);
    let subscription = journal.subscribe(Arc::clone(&log) as Arc<dyn Subscriber>);
    if devices.is_some() && !active_on_device {
        // The log was written without the device until now: a rewrite moves it there.
        tracing::info!("AOF: rewriting to move the active segment onto --aof-device");
        let _ = log.rewrite();
    }
    tracing::info!(
        "AOF: {} (appendfsync {}, {})",
        config.appenddirname,
        config.appendfsync.name(),
        match io {
            Io::Uring => "io_uring",
            Io::Sync => "pwrite/fdatasync",
        }
    );
    let aof = Aof {
        lock,
        log,
        subscription,
    };
    Ok((databases, aof))
}

/// The log's options from the configuration.
fn log_options(config: &Config, dir: std::path::PathBuf) -> log::Options {
    log::Options {
        dir,
        file_name: config.appendfilename.clone(),
        fsync: config.appendfsync,
        auto_rewrite_percentage: config.auto_aof_rewrite_percentage,
        auto_rewrite_min_bytes: config.auto_aof_rewrite_min_size,
        pipeline_depth: config.aof_pipeline_depth,
    }
}

/// Walks every database that still exists, for a rewrite's base.
fn snapshotter<E: Engine<Value = Value>>(
    databases: Weak<keyspace::Databases<E>>,
) -> log::Snapshotter {
    Arc::new(move |visit| {
        let Some(databases) = databases.upgrade() else {
            return;
        };
        // The map first, as it is now: a swap after this is in the new segment, with a
        // higher epoch (see `keyspace::databases`). A server never swapped writes none.
        let (epoch, map) = databases.map();
        if epoch > 0 {
            visit(0, epoch, &keyspace::Effect::DatabaseMap { map: &map });
        }
        for (db, keyspace) in databases.physical().iter().enumerate() {
            keyspace.snapshot(|version, effect| visit(db as u8, version, effect));
        }
    })
}

/// Starts and stops the log at run time (`CONFIG SET appendonly`), for `net`'s [`AofSlot`]
/// (net::aof::AofSlot): the one place that holds the journal, the keyspaces and the
/// directory lock of the running log.
struct AofSwitch<E: Engine<Value = Value>> {
    journal: Arc<Journal>,
    databases: Weak<keyspace::Databases<E>>,
    /// The running log's lock and subscription; `None` while the log is off.
    running: Mutex<Option<(std::fs::File, SubscriptionId)>>,
}

impl<E: Engine<Value = Value>> AofControl for AofSwitch<E> {
    fn start(&self, config: &Config, first_position: u64) -> Result<Arc<AppendLog>, String> {
        if !config.aof_device.is_empty() {
            // The device's slots are opened and checked at start-up, with replay.
            return Err("an AOF on --aof-device can only be started with the server".into());
        }
        let dir = std::path::Path::new(&config.dir).join(&config.appenddirname);
        let lock = replay::lock_dir(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
        let io = choose_io(config)?;
        let mut subscription = None;
        let log = AppendLog::start_with_base(
            log_options(config, dir),
            log::file_opener(io),
            snapshotter(self.databases.clone()),
            first_position,
            |log| {
                subscription = Some(
                    self.journal
                        .subscribe(Arc::clone(log) as Arc<dyn Subscriber>),
                )
            },
        )
        .map_err(|error| format!("cannot start the AOF: {error}"))?;
        let subscription = subscription.expect("start_with_base subscribes");
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = Some((lock, subscription));
        tracing::info!(
            "AOF turned on at run time: writing its base (appendfsync {})",
            config.appendfsync.name()
        );
        Ok(log)
    }

    fn stop(&self, log: &Arc<AppendLog>) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((_lock, subscription)) = running {
            self.journal.unsubscribe(subscription);
        }
        // Everything delivered before the unsubscription is written and synced.
        log.shutdown();
        tracing::info!("AOF turned off at run time");
    }
}

/// One background thread runs every database's active expiry cycle, in turn, every
/// [`SWEEP_INTERVAL`], until `stop` returns true. A database with no key with an expiry costs
/// one counter read per cycle (see `Keyspace::active_expire_cycle`), so the unused databases
/// of a server that only uses db 0 cost next to nothing.
fn spawn_sweeper<E: Engine<Value = Value>>(
    databases: Databases<E>,
    stop: impl Fn() -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("expiry-sweeper".into())
        .spawn(move || {
            let mut cursors = vec![0u64; databases.len()];
            while !stop() {
                for (keyspace, cursor) in databases.physical().iter().zip(&mut cursors) {
                    keyspace.active_expire_cycle(cursor, SWEEP_CYCLE_BUDGET);
                }
                std::thread::sleep(SWEEP_INTERVAL);
            }
        })
}

fn serve<E: Engine<Value = Value>>(
    config: Config,
    config_file: Option<std::path::PathBuf>,
    set_level: net::session::LogLevelSetter,
) -> Result<(), String> {
    // One journal for the server's life, attached to every database whether or not a log
    // runs: `CONFIG SET appendonly yes` subscribes a log to it later.
    let journal = Arc::new(Journal::new());
    let (databases, aof) = if config.appendonly {
        let (databases, aof) = open_aof::<E>(&config, &journal)?;
        (databases, Some(aof))
    } else {
        let keyspaces = (0..config.databases)
            .map(|_| Arc::new(Keyspace::new(E::new())))
            .collect();
        (Arc::new(keyspace::Databases::new(keyspaces)), None)
    };
    for (db, keyspace) in databases.physical().iter().enumerate() {
        let view = Arc::new(DbJournal::new(db as u8, Arc::clone(&journal)));
        if keyspace.set_journal(view).is_err() {
            return Err("the keyspace already has a journal".into());
        }
    }
    // The map's records carry database 0 (see `persistence::record::Opcode::DatabaseMap`).
    if databases
        .set_journal(Arc::new(DbJournal::new(0, Arc::clone(&journal))))
        .is_err()
    {
        return Err("the databases already have a journal".into());
    }
    // SHUTDOWN takes the SIGTERM path below, so both stop the server the same way.
    let mut shared = Shared::over(Arc::clone(&databases), config.clone())
        .with_shutdown(|| {
            let _ = signal_hook::low_level::raise(signal_hook::consts::SIGTERM);
        })
        .with_log_level(set_level);
    let switch = AofSwitch {
        journal: Arc::clone(&journal),
        databases: Arc::downgrade(&databases),
        running: Mutex::new(None),
    };
    if let Some(aof) = aof {
        *switch
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((aof.lock, aof.subscription));
        shared = shared.with_aof(aof.log);
    }
    shared.aof.set_control(Box::new(switch));
    if let Some(path) = config_file {
        shared = shared.with_config_file(path);
    }
    let shared = Arc::new(shared);
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|error| format!("cannot install signal handlers: {error}"))?;
    let running = net::start(Arc::clone(&shared)).map_err(|error| error.to_string())?;
    let stop = running.stop_flag();
    let sweeper_stop = Arc::clone(&stop);
    let sweeper = spawn_sweeper(databases, move || sweeper_stop.load(Ordering::Relaxed))
        .map_err(|error| format!("cannot start the expiry sweeper: {error}"))?;
    tracing::info!(
        "workingdb {} ready: bind {}, RESP port {}, memcached port {}, {} event loops, engine {}",
        env!("CARGO_PKG_VERSION"),
        config.bind.join(" "),
        running.resp_port,
        running.memcache_port,
        config.loop_count(),
        E::NAME
    );
    if !config.ready_file.is_empty() {
        write_ready_file(&config.ready_file, running.resp_port, running.memcache_port)
            .map_err(|error| format!("ready-file {}: {error}", config.ready_file))?;
    }
    if let Some(signal) = signals.forever().next() {
        let name = if signal == signal_hook::consts::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        tracing::info!("received {name}, shutting down");
    }
    running.shutdown();
    let _ = sweeper.join();
    if let Some(log) = shared.aof.get() {
        // Everything acknowledged is in the log already; this syncs what `everysec` and `no`
        // had not yet.
        log.shutdown();
    }
    tracing::info!("bye");
    Ok(())
}

/// Writes the bound ports to `path` (`port N` and `memcache-port N` lines, 0 for a port that
/// is off). The text goes to a temporary file renamed over `path`, so a reader polling for
/// the file never sees half of it.
fn write_ready_file(path: &str, resp_port: u16, memcache_port: u16) -> std::io::Result<()> {
    let temporary = format!("{path}.tmp{}", std::process::id());
    std::fs::write(
        &temporary,
        format!("port {resp_port}\nmemcache-port {memcache_port}\n"),
    )?;
    std::fs::rename(&temporary, path)
}

fn main() -> ExitCode {
    let flags = Flags::parse();
    let config = match load_config(&flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("workingdb: {error}");
            return ExitCode::from(2);
        }
    };
    let set_level = init_logging(&config.loglevel);
    let result = match config.engine.as_str() {
        "sharded" => serve::<Sharded<Value>>(config, flags.config, set_level),
        "dashmap" => serve::<DashMapEngine<Value>>(config, flags.config, set_level),
        "flurry" => serve::<FlurryEngine<Value>>(config, flags.config, set_level),
        _ => serve::<LockFree<Value>>(config, flags.config, set_level),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("workingdb: {error}");
            ExitCode::FAILURE
        }
    }
}
