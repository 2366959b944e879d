//! # `bind`'s address forms
//!
//! Each word of `bind` names addresses to listen on, read as Redis 7.0 reads them:
//!
//! | word | listens on |
//! |---|---|
//! | `*` | every IPv4 address (`0.0.0.0`) |
//! | `::*` | every IPv6 address (`::`, IPv6 only) |
//! | an address or host name with a `:` | its IPv6 addresses |
//! | any other address or host name | its IPv4 addresses (`localhost` is `127.0.0.1`) |
//! | `-` before any of these | the same, but optional: skipped when the machine has no such address or no such protocol |
//!
//! A word that is not optional and cannot be bound fails the whole `bind` (at start, or
//! `CONFIG SET`, which then keeps listening as before).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// One word of `bind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindAddress<'a> {
    /// What to resolve: the word without its `-`, with the wildcards spelled as addresses.
    host: &'a str,
    /// The word began with `-`.
    pub optional: bool,
}

impl<'a> BindAddress<'a> {
    /// Reads one word of `bind`.
    pub fn parse(word: &'a str) -> Self {
        let (optional, rest) = match word.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, word),
        };
        let host = match rest {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        Self { host, optional }
    }

    /// Whether the word names IPv6 addresses (it has a `:`).
    fn is_ipv6(&self) -> bool {
        self.host.contains(':')
    }

    /// The socket addresses of the word on `port`: its addresses of its own family, each
    /// once, in the resolver's order. An optional word the resolver does not know gives none.
    pub fn resolve(&self, port: u16) -> io::Result<Vec<SocketAddr>> {
        let found = match (self.host, port).to_socket_addrs() {
            Ok(found) => found,
            Err(_) if self.optional => return Ok(Vec::new()),
            Err(error) => {
                return Err(io::Error::new(
                    error.kind(),
                    format!("bind {}:{port}: {error}", self.host),
                ))
            }
        };
        let mut addresses: Vec<SocketAddr> = Vec::new();
        for address in found.filter(|address| address.is_ipv6() == self.is_ipv6()) {
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        if addresses.is_empty() && !self.optional {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("bind {}: no address of its family", self.host),
            ));
        }
        Ok(addresses)
    }

    /// Whether `error`, from binding this word's address, skips the address instead of
    /// failing: only for an optional word, when the address is not the machine's or its
    /// protocol is not there (Redis's `EADDRNOTAVAIL` and unsupported-family errors).
    pub fn may_skip(&self, error: &io::Error) -> bool {
        use libc::{
            EADDRNOTAVAIL, EAFNOSUPPORT, ENOPROTOOPT, EPFNOSUPPORT, EPROTONOSUPPORT,
            ESOCKTNOSUPPORT,
        };
        self.optional
            && matches!(
                error.raw_os_error(),
                Some(
                    EADDRNOTAVAIL
                        | EAFNOSUPPORT
                        | EPROTONOSUPPORT
                        | ENOPROTOOPT
                        | ESOCKTNOSUPPORT
                        | EPFNOSUPPORT
                )
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_the_optional_mark_are_read_as_redis_reads_them() {
        assert_eq!(
            BindAddress::parse("*"),
            BindAddress {
                host: "0.0.0.0",
                optional: false
            }
        );
        assert_eq!(
            BindAddress::parse("-::*"),
            BindAddress {
                host: "::",
                optional: true
            }
        );
        assert_eq!(
            BindAddress::parse("-127.0.0.1"),
            BindAddress {
                host: "127.0.0.1",
                optional: true
            }
        );
        assert_eq!(
            BindAddress::parse("::1"),
            BindAddress {
                host: "::1",
                optional: false
            }
        );
    }

    #[test]
    fn a_name_resolves_to_its_own_family_only() {
        let v4 = BindAddress::parse("localhost").resolve(7000).unwrap();
        assert!(!v4.is_empty());
        assert!(v4.iter().all(SocketAddr::is_ipv4), "{v4:?}");
        let any = BindAddress::parse("*").resolve(7000).unwrap();
        assert_eq!(any, vec!["0.0.0.0:7000".parse::<SocketAddr>().unwrap()]);
        let any6 = BindAddress::parse("::*").resolve(7000).unwrap();
        assert_eq!(any6, vec!["[::]:7000".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn an_unknown_name_fails_unless_optional() {
        let unknown = "no-such-host.invalid";
        assert!(BindAddress::parse(unknown).resolve(7000).is_err());
        let optional = format!("-{unknown}");
        assert_eq!(BindAddress::parse(&optional).resolve(7000).unwrap(), vec![]);
    }

    #[test]
    fn only_an_optional_address_skips_an_address_the_machine_lacks() {
        let lacking = io::Error::from_raw_os_error(libc::EADDRNOTAVAIL);
        assert!(BindAddress::parse("-10.99.99.99").may_skip(&lacking));
        assert!(!BindAddress::parse("10.99.99.99").may_skip(&lacking));
        let in_use = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert!(!BindAddress::parse("-127.0.0.1").may_skip(&in_use));
    }
}
