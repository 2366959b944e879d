//! Server-wide counters for `INFO` and memcached's `stats`. Striped, because every loop bumps
//! them on every command.

use engine::counter::StripedCounter;

/// Counters shared by every loop.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted over the server's life.
    pub connections: StripedCounter,
    /// Connections refused because of `maxclients`.
    pub rejected: StripedCounter,
    /// Commands processed.
    pub commands: StripedCounter,
    /// Error replies sent.
    pub errors: StripedCounter,
    /// Bytes read from clients.
    pub net_input_bytes: StripedCounter,
    /// Bytes written to clients.
    pub net_output_bytes: StripedCounter,
    /// memcached get commands (keys looked up).
    pub memcache_gets: StripedCounter,
    /// memcached storage commands.
    pub memcache_sets: StripedCounter,
    /// Clients closed for passing the output hard limit.
    pub output_limit_closed: StripedCounter,
}
