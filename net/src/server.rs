//! The event loops.
//!
//! [`start`] binds the listeners and spawns one thread per loop, each with its own
//! `mio::Poll`. Every loop has its own listening socket on each port (`SO_REUSEPORT`), so the
//! kernel spreads new connections over the loops and a connection stays on the loop that
//! accepted it for its whole life: no locks, no hand-over between threads. The only state the
//! loops share is [`Shared`] (the keyspace, configuration and counters).
//!
//! ## A connection's life
//!
//! Sockets are registered once for both readable and writable events, edge-triggered. On any
//! event the loop *drives* the connection: run the requests already buffered, flush the
//! replies with one vectored write, and read again, until the socket has nothing more to give
//! (`WouldBlock`). Pipelined requests are therefore all executed before one flush. Three
//! things stop a connection's reading early:
//!
//! * **Backpressure.** Once its queued replies pass `client_output_soft_bytes`, a connection is
//!   not read until the socket drains them (the writable event resumes it), so a client that
//!   pipelines without reading replies cannot grow our memory. Past the hard limit
//!   (`client-output-buffer-limit normal <hard>`), it is closed, as Redis does.
//! * **Fairness.** After [`READS_PER_TURN_MAX`] reads the connection yields and is driven again
//!   after the other ready connections, so one flood does not starve a loop.
//! * **Input limits.** A client whose unparsed input passes `client-query-buffer-limit` is
//!   closed.
//!
//! ## Replies held for the disk (`appendfsync always`)
//!
//! Commands run as usual; the keyspace reports their effects to the append-only file on this
//! thread, which leaves the position after the thread's last record in a thread-local ticket
//! ([`persistence::log::thread_ticket`]). If running a connection's input moved the ticket,
//! the connection's replies are *held*: not flushed (and the connection not read further)
//! until the writer's durable position reaches the ticket. The loop keeps a list of held
//! connections and a flag the writer's listener reads after every durable batch: when set,
//! the listener wakes the loop through its `mio::Waker`, and the loop drives the connections
//! whose tickets are now durable. The loop never waits on the writer. The flag and the
//! durable position form a store-then-load pair on each side with `SeqCst` fences between,
//! so either the writer sees the flag or the loop sees the new position: no wake-up is lost.

use crate::buffer::{Input, Output, Pool};
use crate::client::{Client, Inbox, Message};
use crate::config::{bind::BindAddress, Config, Port};
use crate::protocol::{detect, Processed, Protocol};
use crate::resp::parse::Request;
use crate::session::{RuntimeLimits, Session, Shared};
use crate::{memcache, resp};
use engine::Engine;
use keyspace::Value;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use persistence::log::{AppendLog, Fsync};
use slab::Slab;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Reads per connection per turn before it yields to the others.
pub const READS_PER_TURN_MAX: usize = 16;

/// Events taken from the poll per wake-up.
const EVENTS_MAX: usize = 1024;

/// How often a loop checks for idle clients and configuration changes.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(250);

const WAKER: Token = Token(0);
/// Listener tokens start here.
const FIRST_LISTENER: usize = 1;
/// The most listening sockets a loop has: both ports on up to 64 addresses (`bind` takes 16,
/// a name may resolve to several). Fixed, so connection tokens stay put when `CONFIG SET`
/// changes the listeners.
const LISTENERS_MAX: usize = 128;
/// Connection tokens start here.
const FIRST_CONNECTION: usize = FIRST_LISTENER + LISTENERS_MAX;

/// One listening socket of a loop, and the protocol its connections start in.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    home: Protocol,
}

/// The error a client over `maxclients` gets before its connection is closed.
const MAX_CLIENTS_ERROR: &[u8] = b"-ERR max number of clients reached\r\n";

/// A running server: its ports, and how to stop it.
pub struct Running {
    /// The RESP port (0 when off).
    pub resp_port: u16,
    /// The memcached port (0 when off).
    pub memcache_port: u16,
    stop: Arc<AtomicBool>,
    wakers: Vec<Arc<Waker>>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// Asks every loop to stop and waits for them.
    pub fn shutdown(self) {
        // Relaxed: the wake-up below is the synchronisation; loops read the flag after it.
        self.stop.store(true, Ordering::Relaxed);
        for waker in &self.wakers {
            let _ = waker.wake();
        }
        for thread in self.threads {
            let _ = thread.join();
        }
    }

    /// A flag that, once set, stops the server at its next wake-up (for signal handlers,
    /// which then call [`Running::shutdown`]).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }
}

/// Fails if another process listens on `address` already.
///
/// Our listeners use `SO_REUSEPORT`, and Linux lets any process of the same user join a
/// reuse-port group: without this check a second server started on the same port would
/// silently share the connections of the first (found by the benchmark script). A plain
/// socket without `SO_REUSEPORT` cannot bind a port that anyone listens on, so binding one
/// first and closing it gives Redis's "Address already in use". `SO_REUSEADDR` keeps the
/// probe from failing on connections of an earlier run still in TIME_WAIT.
fn check_port_free(address: SocketAddr) -> io::Result<()> {
    let domain = socket2::Domain::for_address(address);
    let probe = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    if address.is_ipv6() {
        probe.set_only_v6(true)?;
    }
    probe.bind(&address.into())
}

/// Binds one listener per loop on every address of every port that is not off, and returns
/// them with the ports bound (RESP, memcached; 0 when off).
///
/// A fixed port is first checked free on every address ([`check_port_free`]) but those in
/// `ours` (what this server listens on already, when `CONFIG SET` rebinds). A port set to
/// `-1` is bound as port 0 by the first loop's listener on the first address, so the kernel
/// picks a free one; every other listener of that port then joins the port picked. The port is
/// never released between being picked and being listened on, so nothing can take it.
fn bind_all(
    config: &Config,
    loops: usize,
    ours: &[SocketAddr],
) -> io::Result<(Vec<Vec<Listener>>, [u16; 2])> {
    let settings = [config.port, config.memcache_port];
    if settings.iter().all(|port| *port == Port::Off) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "both ports are 0: nothing to listen on",
        ));
    }
    if let [Port::Fixed(resp), Port::Fixed(memcache)] = settings {
        if resp == memcache {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("port and memcache-port are both {resp}"),
            ));
        }
    }
    let in_use = |address: SocketAddr| {
        move |error: io::Error| {
            io::Error::new(error.kind(), format!("listen on {address}: {error}"))
        }
    };
    // Every fixed port's addresses are checked free first, so a taken port fails the whole
    // `bind` before anything is listened on; an optional address the machine lacks is
    // dropped here.
    let mut skipped: Vec<SocketAddr> = Vec::new();
    for setting in settings {
        let Port::Fixed(port) = setting else { continue };
        for (address, word) in addresses(config, port)? {
            if ours.contains(&address) {
                continue;
            }
            match check_port_free(address) {
                Ok(()) => {}
                Err(error) if word.may_skip(&error) => skipped.push(address),
                // Our own listeners hold it (`*` over our `127.0.0.1`, or the reverse): ours
                // are `SO_REUSEPORT`, so the new ones can join them until they close.
                Err(error) if overlaps(address, ours) => {
                    tracing::debug!("{address} overlaps our listeners: {error}");
                }
                Err(error) => return Err(in_use(address)(error)),
            }
        }
    }
    let mut per_loop: Vec<Vec<Listener>> = (0..loops).map(|_| Vec::new()).collect();
    let mut bound = [0u16; 2];
    let homes = [Protocol::Resp, Protocol::MemcacheText];
    for (slot, setting) in settings.into_iter().enumerate() {
        if setting == Port::Off {
            continue;
        }
        if let Port::Fixed(port) = setting {
            bound[slot] = port;
        }
        for (address, word) in addresses(config, bound[slot])? {
            if skipped.contains(&address) {
                continue;
            }
            for (index, listeners) in per_loop.iter_mut().enumerate() {
                let address = SocketAddr::new(address.ip(), bound[slot]);
                let socket = match listen(address, config.tcp_backlog) {
                    Ok(socket) => socket,
                    // Only the first loop's socket can meet an address the machine lacks
                    // (a port of -1 is not checked before).
                    Err(error) if index == 0 && word.may_skip(&error) => break,
                    Err(error) => return Err(in_use(address)(error)),
                };
                if bound[slot] == 0 {
                    bound[slot] = socket.local_addr()?.port();
                }
                if listeners.len() == LISTENERS_MAX {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("more than {LISTENERS_MAX} addresses to listen on"),
                    ));
                }
                listeners.push(Listener {
                    socket,
                    home: homes[slot],
                });
            }
        }
    }
    Ok((per_loop, bound))
}

/// Whether `address` and one of `ours` cover each other: the same port and family, and the
/// same address or either one the family's wildcard.
fn overlaps(address: SocketAddr, ours: &[SocketAddr]) -> bool {
    ours.iter().any(|our| {
        our.port() == address.port()
            && our.is_ipv6() == address.is_ipv6()
            && (our.ip() == address.ip()
                || our.ip().is_unspecified()
                || address.ip().is_unspecified())
    })
}

/// The socket addresses `bind` names on `port`, each with the word that named it (see
/// [`bind`](crate::config::bind)). An address named twice is an error, as in Redis (two
/// `SO_REUSEPORT` listeners of ours would otherwise share it silently).
fn addresses(config: &Config, port: u16) -> io::Result<Vec<(SocketAddr, BindAddress<'_>)>> {
    let mut all: Vec<(SocketAddr, BindAddress<'_>)> = Vec::new();
    for word in &config.bind {
        let word = BindAddress::parse(word);
        for address in word.resolve(port)? {
            if all.iter().any(|(seen, _)| *seen == address) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("bind names {address} twice"),
                ));
            }
            all.push((address, word));
        }
    }
    Ok(all)
}

/// `-1` ports now have a number: CONFIG GET and INFO report the ports really bound.
fn resolve_ports(config: &mut Config, bound: [u16; 2]) {
    for (setting, port) in [&mut config.port, &mut config.memcache_port]
        .into_iter()
        .zip(bound)
    {
        if port != 0 {
            *setting = Port::Fixed(port);
        }
    }
}

/// Listens as `config` says instead of as `before` did (`CONFIG SET port|bind|memcache-port`):
/// binds every loop's new sockets, then hands each loop its own through its inbox. Nothing
/// changes if any socket cannot be bound. Ports set to `-1` are resolved in `config`.
///
/// Connections already open stay open. A loop accepts what is queued on its old sockets
/// before it closes them; a connection that reaches an old socket of a port kept between
/// that last accept and the close is refused (the kernel spreads new connections over the
/// old and new sockets of a port until then), a window of one loop turn.
pub fn rebind<E: Engine<Value = Value>>(
    shared: &Shared<E>,
    before: &Config,
    config: &mut Config,
) -> io::Result<()> {
    let Some(inboxes) = shared.inboxes.get() else {
        return Err(io::Error::other("the server is not listening yet"));
    };
    let (resp, memcache) = *shared
        .ports
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut ours = Vec::new();
    for port in [resp, memcache].into_iter().filter(|port| *port != 0) {
        if let Ok(addresses) = addresses(before, port) {
            ours.extend(addresses.into_iter().map(|(address, _)| address));
        }
    }
    let (per_loop, bound) = bind_all(config, inboxes.len(), &ours)?;
    resolve_ports(config, bound);
    *shared
        .ports
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = (bound[0], bound[1]);
    for (inbox, listeners) in inboxes.iter().zip(per_loop) {
        inbox.post(Message::Listen(listeners));
    }
    Ok(())
}

/// A listening socket with `SO_REUSEPORT`, so every loop can have its own on the same port.
fn listen(address: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Binds the listeners and starts the loops.
pub fn start<E: Engine<Value = Value>>(shared: Arc<Shared<E>>) -> io::Result<Running> {
    let config = shared.config();
    let loops = config.loop_count();
    let (per_loop, bound) = bind_all(&config, loops, &[])?;
    let mut resolved = config.clone();
    resolve_ports(&mut resolved, bound);
    shared.set_config(resolved);
    *shared
        .ports
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = (bound[0], bound[1]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut wakers = Vec::new();
    let mut loops_to_run = Vec::new();
    for (index, listeners) in per_loop.into_iter().enumerate() {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        wakers.push(Arc::clone(&waker));
        let waiting_for_disk = Arc::new(AtomicBool::new(false));
        {
            let waiting = Arc::clone(&waiting_for_disk);
            let waker = Arc::clone(&waker);
            shared.aof.add_listener(Arc::new(move || {
                // SeqCst: the writer stored the durable position before calling us (module
                // docs); this load must not be ordered before that store.
                std::sync::atomic::fence(Ordering::SeqCst);
                if waiting.load(Ordering::SeqCst) {
                    let _ = waker.wake();
                }
            }));
        }
        let inbox = Arc::new(Inbox::new(Arc::clone(&waker)));
        let event_loop = EventLoop::new(
            poll,
            listeners,
            Arc::clone(&shared),
            Arc::clone(&stop),
            waiting_for_disk,
            index,
            inbox,
        )?;
        loops_to_run.push(event_loop);
    }
    // Every inbox is known before any loop runs, so no message can miss its loop.
    let inboxes = loops_to_run
        .iter()
        .map(|event_loop| Arc::clone(&event_loop.inbox))
        .collect();
    if shared.inboxes.set(inboxes).is_err() {
        return Err(io::Error::other("the server was started twice"));
    }
    let mut threads = Vec::new();
    for (index, mut event_loop) in loops_to_run.into_iter().enumerate() {
        let thread = std::thread::Builder::new()
            .name(format!("loop-{index}"))
            .spawn(move || {
                if let Err(error) = event_loop.run() {
                    tracing::error!("event loop {index} failed: {error}");
                }
            })?;
        threads.push(thread);
    }
    Ok(Running {
        resp_port: bound[0],
        memcache_port: bound[1],
        stop,
        wakers,
        threads,
    })
}

/// One client connection.
struct Connection {
    stream: TcpStream,
    protocol: Option<Protocol>,
    /// The protocol of the port that accepted it: first bytes that fit no protocol are read
    /// as this one.
    home: Protocol,
    /// The RESP parser's state (an incomplete request is resumed where it stopped).
    request: Request,
    input: Input,
    output: Output,
    /// Do not parse until this much input is buffered (the codec said so).
    want: usize,
    /// Input bytes still to discard (memcached item too large).
    swallow: usize,
    /// Processing stopped on a full output with requests left in the input.
    stalled: bool,
    /// Close once the output is flushed.
    closing: bool,
    /// The log position its replies wait for (`appendfsync always`); 0 when none.
    hold_until: u64,
    /// On the loop's held list.
    held: bool,
    /// The connection's own state (selected db, flags, names...).
    client: Client,
    last_active: Instant,
}

/// What driving a connection left it as.
#[derive(Debug, PartialEq, Eq)]
enum Driven {
    /// Waiting for the next event.
    Open,
    /// Yielded with work left: drive it again soon.
    Yielded,
    /// To be closed.
    Close,
    /// Replies wait for the disk: drive it again once the log is durable far enough.
    Held,
}

struct EventLoop<E: Engine<Value = Value>> {
    poll: Poll,
    listeners: Vec<Listener>,
    connections: Slab<Connection>,
    pool: Pool,
    shared: Arc<Shared<E>>,
    stop: Arc<AtomicBool>,
    limits: RuntimeLimits,
    config_generation: u64,
    /// Connections that yielded and are to be driven again.
    ready: Vec<usize>,
    /// Connections whose replies wait for the disk.
    held: Vec<usize>,
    /// Set while `held` is not empty: the log's listener wakes the loop only then.
    waiting_for_disk: Arc<AtomicBool>,
    /// This loop's position among the loops (clients record it, to find its inbox).
    index: usize,
    /// Messages other loops post for this loop's connections.
    inbox: Arc<Inbox>,
}

impl<E: Engine<Value = Value>> EventLoop<E> {
    fn new(
        poll: Poll,
        mut listeners: Vec<Listener>,
        shared: Arc<Shared<E>>,
        stop: Arc<AtomicBool>,
        waiting_for_disk: Arc<AtomicBool>,
        index: usize,
        inbox: Arc<Inbox>,
    ) -> io::Result<Self> {
        for (index, listener) in listeners.iter_mut().enumerate() {
            poll.registry().register(
                &mut listener.socket,
                Token(FIRST_LISTENER + index),
                Interest::READABLE,
            )?;
        }
        let (limits, config_generation) = shared.runtime_limits();
        Ok(Self {
            poll,
            listeners,
            connections: Slab::new(),
            pool: Pool::new(),
            shared,
            stop,
            limits,
            config_generation,
            ready: Vec::new(),
            held: Vec::new(),
            waiting_for_disk,
            index,
            inbox,
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_MAX);
        let mut last_housekeeping = Instant::now();
        loop {
            let timeout = if self.ready.is_empty() {
                HOUSEKEEPING_INTERVAL
            } else {
                Duration::ZERO
            };
            if let Err(error) = self.poll.poll(&mut events, Some(timeout)) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            // Relaxed: the waker's wake-up orders the store before this load.
            if self.stop.load(Ordering::Relaxed) {
                self.close_all();
                return Ok(());
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => self.read_inbox(),
                    Token(token) if token < FIRST_CONNECTION => {
                        self.accept(token - FIRST_LISTENER);
                    }
                    Token(token) => self.drive(token - FIRST_CONNECTION),
                }
            }
            for key in std::mem::take(&mut self.ready) {
                self.drive(key);
            }
            if !self.held.is_empty() {
                self.release_held();
            }
            if last_housekeeping.elapsed() >= HOUSEKEEPING_INTERVAL {
                last_housekeeping = Instant::now();
                self.housekeeping();
            }
        }
    }

    /// Carries out what other loops (or this one) posted for our connections.
    fn read_inbox(&mut self) {
        for message in self.inbox.take() {
            match message {
                Message::Kill { client_id } => {
                    let key = self
                        .connections
                        .iter()
                        .find(|(_, connection)| connection.client.id() == client_id)
                        .map(|(key, _)| key);
                    if let Some(key) = key {
                        self.close(key);
                    }
                }
                Message::Listen(listeners) => self.listen_on(listeners),
            }
        }
    }

    /// Replaces the loop's listening sockets (see [`rebind`]).
    fn listen_on(&mut self, mut listeners: Vec<Listener>) {
        // What is queued on the old sockets is accepted, not reset by the close.
        for index in 0..self.listeners.len() {
            self.accept(index);
        }
        for mut old in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut old.socket);
        }
        for (index, listener) in listeners.iter_mut().enumerate() {
            if let Err(error) = self.poll.registry().register(
                &mut listener.socket,
                Token(FIRST_LISTENER + index),
                Interest::READABLE,
            ) {
                tracing::warn!(
                    "loop {}: cannot listen on a new socket: {error}",
                    self.index
                );
            }
        }
        self.listeners = listeners;
    }

    /// Drives the held connections whose tickets are durable now; keeps the others.
    fn release_held(&mut self) {
        // SeqCst store then fence then load: the loop's side of the pair in the module docs.
        self.waiting_for_disk.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        // With no log (`CONFIG SET appendonly no` stopped it, after syncing what it held),
        // nothing is left to wait for.
        let durable = self
            .shared
            .aof
            .with(|log| log.map_or(u64::MAX, AppendLog::durable_position));
        let mut still = Vec::new();
        for key in std::mem::take(&mut self.held) {
            let Some(connection) = self.connections.get_mut(key) else {
                continue;
            };
            if connection.hold_until <= durable {
                connection.held = false;
                self.drive(key);
            } else {
                still.push(key);
            }
        }
        // Connections driven above may have been held again (pushed onto `self.held`).
        self.held.extend(still);
        if self.held.is_empty() {
            self.waiting_for_disk.store(false, Ordering::SeqCst);
        }
    }

    fn housekeeping(&mut self) {
        let (limits, generation) = self.shared.runtime_limits();
        if generation != self.config_generation {
            self.limits = limits;
            self.config_generation = generation;
        }
        if self.limits.timeout_secs > 0 {
            let timeout = Duration::from_secs(self.limits.timeout_secs);
            let idle: Vec<usize> = self
                .connections
                .iter()
                .filter(|(_, connection)| connection.last_active.elapsed() >= timeout)
                .map(|(key, _)| key)
                .collect();
            for key in idle {
                self.close(key);
            }
        }
    }

    fn accept(&mut self, index: usize) {
        loop {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            let home = listener.home;
            let (mut stream, peer) = match listener.socket.accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    // EMFILE and friends: log and try again on the next event rather than spin.
                    tracing::warn!("accept failed: {error}");
                    return;
                }
            };
            self.shared.stats.connections.add(1);
            if self.shared.client_count() >= self.limits.maxclients {
                self.shared.stats.rejected.add(1);
                // Best effort, as Redis: the socket is fresh, so the error fits its buffer.
                let _ = stream.write(MAX_CLIENTS_ERROR);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().ok();
            let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
            let info = self
                .shared
                .register_client(Some(peer), local, fd, self.index);
            let entry = self.connections.vacant_entry();
            let token = Token(FIRST_CONNECTION + entry.key());
            if let Err(error) = self.poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                tracing::warn!("register failed: {error}");
                self.shared.unregister_client(info.id);
                continue;
            }
            entry.insert(Connection {
                stream,
                protocol: None,
                home,
                request: Request::default(),
                input: Input::default(),
                output: Output::default(),
                want: 0,
                swallow: 0,
                stalled: false,
                closing: false,
                hold_until: 0,
                held: false,
                client: Client::new(info),
                last_active: Instant::now(),
            });
        }
    }

    fn close(&mut self, key: usize) {
        if let Some(mut connection) = self.connections.try_remove(key) {
            let _ = self.poll.registry().deregister(&mut connection.stream);
            connection.input.release(&mut self.pool);
            connection.output.release(&mut self.pool);
            self.shared.unregister_client(connection.client.id());
        }
    }

    fn close_all(&mut self) {
        let keys: Vec<usize> = self.connections.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.close(key);
        }
    }

    fn drive(&mut self, key: usize) {
        let driven = match self.connections.get_mut(key) {
            Some(connection) => drive(connection, &self.shared, &mut self.pool, &self.limits),
            None => return, // closed earlier in this turn
        };
        match driven {
            Driven::Open => {}
            Driven::Yielded => self.ready.push(key),
            Driven::Close => self.close(key),
            Driven::Held => {
                let connection = &mut self.connections[key];
                if !connection.held {
                    connection.held = true;
                    self.held.push(key);
                }
            }
        }
    }
}

/// Runs the buffered requests of a connection.
fn run_input<E: Engine<Value = Value>>(
    connection: &mut Connection,
    shared: &Shared<E>,
    pool: &mut Pool,
    limits: &RuntimeLimits,
) {
    if connection.swallow > 0 {
        let discard = connection.swallow.min(connection.input.filled().len());
        connection.input.consume(discard, pool);
        connection.swallow -= discard;
    }
    let Connection {
        input,
        output,
        protocol,
        client,
        request,
        ..
    } = connection;
    let filled = input.filled();
    if filled.is_empty() || filled.len() < connection.want {
        connection.stalled = false;
        return;
    }
    let protocol = match protocol {
        Some(protocol) => *protocol,
        None => match detect(filled, connection.home) {
            Some(detected) => *protocol.insert(detected),
            None => return,
        },
    };
    let mut session = Session {
        shared,
        held: crate::lock::Held::Nothing,
        stripes: None,
        client,
        output,
        pool,
        limits: *limits,
    };
    // A panic in a command handler is a bug, but it must cost only its own connection, not
    // the loop and every other client on it: catch it here, log it, and close this one. The
    // keyspace stays consistent through a panic (its locks are poison-tolerant and every
    // engine operation is complete or not done), and this connection's buffers are dropped
    // with it.
    let ticket_before = persistence::log::thread_ticket();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match protocol {
        Protocol::Resp => resp::process(&mut session, request, filled),
        Protocol::MemcacheText => memcache::text::process(&mut session, filled),
        Protocol::MemcacheBinary => memcache::binary::process(&mut session, filled),
    }));
    // Releases a keyspace guard a panicking handler left in force.
    drop(session);
    let processed: Processed = match outcome {
        Ok(processed) => processed,
        Err(_) => {
            tracing::error!(
                "a command handler panicked; closing client {} (a bug: please report the request)",
                connection.client.id()
            );
            connection.closing = true;
            connection.output.release(pool);
            return;
        }
    };
    let ticket_after = persistence::log::thread_ticket();
    if ticket_after != ticket_before {
        connection.hold_until = ticket_after;
    }
    input.consume(processed.consumed, pool);
    if input.is_empty() {
        request.trim();
    }
    connection.want = processed.want;
    connection.swallow = processed.swallow;
    connection.stalled = processed.output_full;
    if processed.close {
        connection.closing = true;
    }
}

/// Flushes what the connection has queued; counts the bytes.
fn flush<E: Engine<Value = Value>>(
    connection: &mut Connection,
    shared: &Shared<E>,
    pool: &mut Pool,
) -> io::Result<bool> {
    let before = connection.output.pending();
    let result = connection.output.flush_to(&mut connection.stream, pool);
    shared
        .stats
        .net_output_bytes
        .add(before - connection.output.pending());
    result
}

/// Drives one connection as the module docs describe.
fn drive<E: Engine<Value = Value>>(
    connection: &mut Connection,
    shared: &Shared<E>,
    pool: &mut Pool,
    limits: &RuntimeLimits,
) -> Driven {
    let mut reads = 0;
    // Set when a read returned less than it had room for: the socket was empty at that
    // moment, and any byte that arrives later raises a new edge, so a further read now would
    // only return WouldBlock. Skipping it saves a system call per request at -P 1.
    let mut drained = false;
    loop {
        if !connection.closing {
            run_input(connection, shared, pool, limits);
        }
        if connection.hold_until > 0 {
            // Only under `appendfsync always` are replies held for the disk.
            let hold_until = connection.hold_until;
            let held = shared.aof.with(|log| {
                log.is_some_and(|aof| {
                    aof.fsync() == Fsync::Always && aof.durable_position() < hold_until
                })
            });
            if held {
                return Driven::Held;
            }
            connection.hold_until = 0;
        }
        if !connection.output.is_empty() && flush(connection, shared, pool).is_err() {
            return Driven::Close;
        }
        if connection.closing {
            return if connection.output.is_empty() {
                Driven::Close
            } else {
                Driven::Open
            };
        }
        let queued = connection.output.pending();
        if limits.output_hard_bytes > 0 && queued > limits.output_hard_bytes {
            shared.stats.output_limit_closed.add(1);
            return Driven::Close;
        }
        if queued >= limits.output_soft_bytes {
            // Paused: the writable event that drains the socket resumes us.
            return Driven::Open;
        }
        if connection.stalled {
            // Requests are left in the input and the output has room again.
            continue;
        }
        if drained {
            return Driven::Open;
        }
        if reads == READS_PER_TURN_MAX {
            return Driven::Yielded;
        }
        reads += 1;
        // Room for the request we wait for, but never past the query buffer limit (a client
        // announcing a huge bulk is closed when its input passes the limit, below).
        let want = connection
            .want
            .min(limits.query_buffer_bytes.saturating_add(1));
        let spare = connection.input.spare();
        match connection
            .input
            .read_from(&mut connection.stream, want, pool)
        {
            Ok(0) => return Driven::Close,
            Ok(read) => {
                drained = read < spare;
                shared.stats.net_input_bytes.add(read);
                let now = Instant::now();
                connection.last_active = now;
                let info = &connection.client.info;
                info.last_command.store(
                    now.duration_since(info.connected).as_millis() as u64,
                    Ordering::Relaxed,
                );
                if connection.input.filled().len() > limits.query_buffer_bytes {
                    return Driven::Close;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Driven::Open,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Driven::Close,
        }
    }
}
