//! # Clients: per-connection state, and the view other loops have of it
//!
//! A connection lives on one event loop for its whole life, and that loop alone runs its
//! commands, so everything a command changes about its own connection (the selected database,
//! the protocol version, the name, flags such as "in MULTI" or "subscribed", the command being
//! run) lives in a [`Client`] that the connection owns and commands borrow through the
//! [`Session`](crate::session::Session). Nothing of it is rebuilt per batch of requests.
//!
//! Other loops need to *see* some of it (`CLIENT LIST`, `CLIENT KILL` filters, `INFO
//! clients`), and to *act* on a connection they do not own (`CLIENT KILL`; later pub/sub
//! deliveries, unblocking a blocked client, `CLIENT PAUSE`). So:
//!
//! * the part others read is mirrored into a shared [`ClientInfo`] (atomics written only by
//!   the owning loop, and a mutex for the names), registered in the server's client registry;
//! * acting goes through the owning loop's [`Inbox`]: any thread posts a [`Message`] and wakes
//!   the loop through its `mio::Waker`; the loop carries it out on its own thread, between
//!   events. No lock is ever held across a call into another loop's state.

use mio::Waker;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Client flags, as bits; `CLIENT LIST` prints them as letters (Redis's `flags=` field).
pub mod flags {
    /// In MULTI (`x`).
    pub const MULTI: u32 = 1 << 0;
    /// Subscribed to a channel or pattern (`P`).
    pub const PUBSUB: u32 = 1 << 1;
    /// Blocked on a key (`b`).
    pub const BLOCKED: u32 = 1 << 2;
    /// To be closed once its replies are written (`c`: QUIT, SHUTDOWN).
    pub const CLOSE_AFTER_REPLY: u32 = 1 << 3;
    /// A watched key was touched: EXEC will fail (`d`).
    pub const DIRTY_CAS: u32 = 1 << 4;

    /// Letters in `CLIENT LIST` order; a client with none prints `N`.
    pub const LETTERS: [(u32, char); 5] = [
        (PUBSUB, 'P'),
        (MULTI, 'x'),
        (BLOCKED, 'b'),
        (DIRTY_CAS, 'd'),
        (CLOSE_AFTER_REPLY, 'c'),
    ];
}

/// The names a client gives itself (`CLIENT SETNAME`, `CLIENT SETINFO LIB-NAME|LIB-VER`).
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// `CLIENT SETNAME`.
    pub name: Vec<u8>,
    /// `CLIENT SETINFO LIB-NAME`.
    pub lib_name: Vec<u8>,
    /// `CLIENT SETINFO LIB-VER`.
    pub lib_ver: Vec<u8>,
}

/// What other loops may read of a client. Every atomic is written only by the owning loop;
/// readers on other threads need no ordering with anything else (each field is reported on
/// its own), so all accesses are `Relaxed`.
#[derive(Debug)]
pub struct ClientInfo {
    /// `CLIENT ID`: unique for the server's life.
    pub id: u64,
    /// The peer's address.
    pub peer: Option<SocketAddr>,
    /// Our address on this connection.
    pub local: Option<SocketAddr>,
    /// The socket's file descriptor (`CLIENT LIST`'s `fd`; -1 for none).
    pub fd: i32,
    /// When it connected.
    pub connected: Instant,
    /// The event loop that owns the connection (its inbox takes messages for it).
    pub loop_index: usize,
    /// Milliseconds after `connected` of its last command.
    pub last_command: AtomicU64,
    /// The selected database.
    pub db: AtomicU32,
    /// The RESP protocol version (2 or 3).
    pub resp: AtomicU8,
    /// [`flags`] bits.
    pub flags: AtomicU32,
    /// The [`CommandId`](crate::resp::table::CommandId) of the last command it ran.
    pub command: AtomicU16,
    /// Which protocol the connection speaks, once detected: 0 none yet, else 1 + the
    /// [`Protocol`](crate::protocol::Protocol) index.
    pub protocol: AtomicU8,
    /// Names it gave itself.
    pub names: Mutex<Names>,
}

impl ClientInfo {
    /// A new client's record.
    pub fn new(
        id: u64,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
        fd: i32,
        loop_index: usize,
    ) -> Self {
        Self {
            id,
            peer,
            local,
            fd,
            connected: Instant::now(),
            loop_index,
            last_command: AtomicU64::new(0),
            db: AtomicU32::new(0),
            resp: AtomicU8::new(2),
            flags: AtomicU32::new(0),
            command: AtomicU16::new(u16::MAX),
            protocol: AtomicU8::new(0),
            names: Mutex::new(Names::default()),
        }
    }

    /// A copy of its names.
    pub fn names(&self) -> Names {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes its names through `change`.
    pub fn set_names(&self, change: impl FnOnce(&mut Names)) {
        change(&mut self.names.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Seconds since it connected.
    pub fn age_secs(&self) -> u64 {
        self.connected.elapsed().as_secs()
    }

    /// Seconds since its last command.
    pub fn idle_secs(&self) -> u64 {
        let last = self.last_command.load(Ordering::Relaxed) / 1000;
        self.age_secs().saturating_sub(last)
    }

    /// Its flags as `CLIENT LIST` prints them.
    pub fn flag_letters(&self) -> String {
        let bits = self.flags.load(Ordering::Relaxed);
        let letters: String = flags::LETTERS
            .iter()
            .filter(|(bit, _)| bits & bit != 0)
            .map(|(_, letter)| *letter)
            .collect();
        if letters.is_empty() {
            "N".into()
        } else {
            letters
        }
    }
}

/// A connection's own state, owned by the connection and borrowed by every command it runs.
#[derive(Debug)]
pub struct Client {
    /// The part other loops see.
    pub info: Arc<ClientInfo>,
    db: usize,
    flags: u32,
    /// The RESP version replies are written in (2, or 3 after `HELLO 3`).
    resp: u8,
    /// The command clock at the end of the last command of the current batch (or its start):
    /// what the next command is charged from (see `stats::CommandStats`).
    pub(crate) command_clock: u64,
    /// Error replies sent, so the dispatcher can tell whether a command failed.
    pub(crate) error_replies: u64,
}

impl Client {
    /// The state of a new connection.
    pub fn new(info: Arc<ClientInfo>) -> Self {
        Self {
            info,
            db: 0,
            flags: 0,
            resp: 2,
            command_clock: 0,
            error_replies: 0,
        }
    }

    /// `CLIENT ID`.
    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// The selected database.
    pub fn db(&self) -> usize {
        self.db
    }

    /// The RESP version replies are written in.
    #[inline]
    pub fn resp(&self) -> u8 {
        self.resp
    }

    /// Switches the replies to RESP `version` (2 or 3: `HELLO` checked it).
    pub fn set_resp(&mut self, version: u8) {
        debug_assert!(version == 2 || version == 3, "RESP{version}");
        self.resp = version;
        self.info.resp.store(version, Ordering::Relaxed);
    }

    /// Selects database `db` (the caller checked the index).
    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db as u32, Ordering::Relaxed);
    }

    /// Whether every flag in `bits` is set.
    pub fn has(&self, bits: u32) -> bool {
        self.flags & bits == bits
    }

    /// Sets or clears the flags in `bits`.
    pub fn set_flags(&mut self, bits: u32, on: bool) {
        if on {
            self.flags |= bits;
        } else {
            self.flags &= !bits;
        }
        self.info.flags.store(self.flags, Ordering::Relaxed);
    }
}

/// What one loop can ask of another about a connection it owns, or of the loop itself.
#[derive(Debug)]
pub enum Message {
    /// Close the client with this id (`CLIENT KILL`), after flushing nothing more.
    Kill {
        /// The client.
        client_id: u64,
    },
    /// Listen on these sockets from now on, instead of the loop's current ones (`CONFIG SET
    /// port|bind|memcache-port`).
    Listen(Vec<crate::server::Listener>),
}

/// A loop's inbox: messages any thread may post, carried out by the loop on its own thread.
pub struct Inbox {
    queue: Mutex<Vec<Message>>,
    waker: Arc<Waker>,
}

impl Inbox {
    /// An inbox whose loop is woken through `waker`.
    pub fn new(waker: Arc<Waker>) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            waker,
        }
    }

    /// Posts `message` and wakes the loop.
    pub fn post(&self, message: Message) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message);
        // The mutex orders the push before the loop's take; the wake only makes it look.
        let _ = self.waker.wake();
    }

    /// Takes every message posted so far.
    pub fn take(&self) -> Vec<Message> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Inbox").finish_non_exhaustive()
    }
}
