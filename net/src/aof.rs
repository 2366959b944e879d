//! # aof: the append-only file as the event loops see it, switchable at run time
//!
//! `CONFIG SET appendonly yes|no` starts and stops the log while the loops run, so the loops
//! cannot hold it as a plain `Option<Arc<AppendLog>>` fixed at start-up. [`AofSlot`] holds the
//! current log (or none) and the two things that outlive any one log: the loops' wakers
//! (added to each log as its durable-position listeners) and the [`AofControl`] the binary
//! gives it to start and stop logs (it owns the journal, the keyspaces and the directory
//! lock, which `net` does not know).
//!
//! The hot path (every write command asks whether the log refuses writes) reads the slot
//! through a per-thread copy stamped with the slot's generation: one atomic load per call,
//! and the lock only after a change. Generations come from one process-wide counter, so two
//! servers in one process (tests) never mistake each other's logs.

use crate::config::Config;
use persistence::log::AppendLog;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

/// What a durable-position listener is: an event loop's waker.
pub type Listener = Arc<dyn Fn() + Send + Sync>;

/// How the binary starts and stops logs at run time.
pub trait AofControl: Send + Sync {
    /// Starts a log over the live keyspaces as `config` says (`appendonly yes` at run time:
    /// subscribe, then write a base from a snapshot). `first_position` is where the previous
    /// log ended. `Err` is logged; the client gets Redis's error.
    fn start(&self, config: &Config, first_position: u64) -> Result<Arc<AppendLog>, String>;
    /// Stops `log` (`appendonly no`): unsubscribes it, so no record reaches it after this
    /// returns, writes and syncs what it holds, stops its writer and lets its directory go.
    fn stop(&self, log: &Arc<AppendLog>);
}

/// Every slot's generations come from here (see the module docs).
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The log this thread saw last, with the generation it saw it at.
    static SEEN: RefCell<(u64, Option<Arc<AppendLog>>)> = const { RefCell::new((0, None)) };
}

/// The current append-only file, if any. See the module docs.
pub struct AofSlot {
    current: RwLock<Option<Arc<AppendLog>>>,
    /// Whether `current` holds a log: read on every write command (`Shared::write_refusal`)
    /// without going through this thread's copy.
    running: AtomicBool,
    generation: AtomicU64,
    listeners: Mutex<Vec<Listener>>,
    control: OnceLock<Box<dyn AofControl>>,
    /// Serialises starts and stops (two `CONFIG SET appendonly` at once).
    switching: Mutex<()>,
    /// Where the last log ended: the next one's positions continue from there.
    ended_at: AtomicU64,
}

impl Default for AofSlot {
    fn default() -> Self {
        Self {
            current: RwLock::new(None),
            running: AtomicBool::new(false),
            generation: AtomicU64::new(NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)),
            listeners: Mutex::new(Vec::new()),
            control: OnceLock::new(),
            switching: Mutex::new(()),
            ended_at: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for AofSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AofSlot")
            .field("enabled", &self.get().is_some())
            .finish_non_exhaustive()
    }
}

impl AofSlot {
    /// The current log, if any.
    pub fn get(&self) -> Option<Arc<AppendLog>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Calls `with` on the current log, through this thread's copy (the hot path).
    pub fn with<R>(&self, with: impl FnOnce(Option<&AppendLog>) -> R) -> R {
        // Acquire: pairs with the Release in `install`; the lock below orders the log itself.
        let generation = self.generation.load(Ordering::Acquire);
        SEEN.with(|seen| {
            let mut seen = seen.borrow_mut();
            if seen.0 != generation {
                *seen = (generation, self.get());
            }
            with(seen.1.as_deref())
        })
    }

    /// Whether a log is running, as last installed: one load, for the hot path of writes. A
    /// caller that must see the log itself uses [`AofSlot::with`].
    pub fn is_running(&self) -> bool {
        // Relaxed: see `install`.
        self.running.load(Ordering::Relaxed)
    }

    /// Whether a log is running.
    pub fn is_enabled(&self) -> bool {
        self.with(|log| log.is_some())
    }

    /// Gives the slot the way to start and stop logs (once, at start-up).
    pub fn set_control(&self, control: Box<dyn AofControl>) {
        if self.control.set(control).is_err() {
            panic!("the AOF control is set once");
        }
    }

    /// Registers an event loop's waker: called whenever the current log's durable position
    /// advances, for this log and every later one.
    pub fn add_listener(&self, listener: Listener) {
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(log) = self.get() {
            let listener = Arc::clone(&listener);
            log.add_listener(Box::new(move || listener()));
        }
        listeners.push(listener);
    }

    /// Makes `log` the current one (at start-up, or after [`AofControl::start`]).
    pub fn install(&self, log: Option<Arc<AppendLog>>) {
        if let Some(log) = &log {
            let listeners = self
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for listener in listeners.iter() {
                let listener = Arc::clone(listener);
                log.add_listener(Box::new(move || listener()));
            }
        }
        // Relaxed: a hint for `is_running`; the log itself is reached through the lock.
        self.running.store(log.is_some(), Ordering::Relaxed);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = log;
        // Release: a thread that sees the new generation and then takes the lock reads the
        // new log (the lock orders it anyway).
        self.generation.store(
            NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            Ordering::Release,
        );
        // Wake the loops: replies held for a log that is gone are released by them.
        for listener in self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            listener();
        }
    }

    /// `appendonly yes|no` at run time: starts or stops a log as needed. `Err` carries the
    /// reason for the log; the caller answers with Redis's text.
    pub fn set_enabled(&self, enabled: bool, config: &Config) -> Result<(), String> {
        let _switching = self
            .switching
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(control) = self.control.get() else {
            return Err("this server cannot start or stop its log at run time".into());
        };
        match (self.get(), enabled) {
            (None, true) => {
                let first_position = self.ended_at.load(Ordering::Relaxed);
                let log = control.start(config, first_position)?;
                self.install(Some(log));
            }
            (Some(log), false) => {
                control.stop(&log);
                self.ended_at
                    .store(log.appended_position(), Ordering::Relaxed);
                self.install(None);
            }
            _ => {}
        }
        Ok(())
    }
}
