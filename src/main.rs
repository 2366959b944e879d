//! `workingdb`: start-up wiring only. Parses the configuration (defaults, then a `--config`
//! file, then flags, which win), builds the keyspace over the chosen engine, starts the event
//! loops and the expiry sweeper, and shuts down cleanly on SIGINT or SIGTERM.

use clap::Parser;
use engine::dashmap::DashMapEngine;
use engine::flurry::FlurryEngine;
use engine::keyspace::{Keyspace, Value};
use engine::sharded::Sharded;
use engine::{Engine, LockFree};
use net::{Config, Shared};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
    /// RESP port; every protocol is accepted on it too (0: off) [default: 6379].
    #[arg(long)]
    port: Option<String>,
    /// memcached port; every protocol is accepted on it too (0: off) [default: 11211].
    #[arg(long = "memcache-port")]
    memcache_port: Option<String>,
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
}

impl Flags {
    /// The flags given, as (option name, value).
    fn options(&self) -> Vec<(&'static str, &str)> {
        [
            ("bind", &self.bind),
            ("port", &self.port),
            ("memcache-port", &self.memcache_port),
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

fn init_logging(level: &str) {
    let level = match level {
        "debug" | "verbose" => tracing::Level::DEBUG,
        "warning" | "nothing" => tracing::Level::WARN,
        _ => tracing::Level::INFO,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn serve<E: Engine<Value = Value>>(config: Config) -> Result<(), String> {
    let keyspace = Arc::new(Keyspace::new(E::new()));
    let shared = Arc::new(Shared::new(Arc::clone(&keyspace), config.clone()));
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|error| format!("cannot install signal handlers: {error}"))?;
    let running = net::start(shared).map_err(|error| error.to_string())?;
    let stop = running.stop_flag();
    let sweeper_stop = Arc::clone(&stop);
    let sweeper = keyspace
        .spawn_sweeper(move || sweeper_stop.load(Ordering::Relaxed))
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
    tracing::info!("bye");
    Ok(())
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
    init_logging(&config.loglevel);
    let result = match config.engine.as_str() {
        "sharded" => serve::<Sharded<Value>>(config),
        "dashmap" => serve::<DashMapEngine<Value>>(config),
        "flurry" => serve::<FlurryEngine<Value>>(config),
        _ => serve::<LockFree<Value>>(config),
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
