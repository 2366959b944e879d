//! The command table over the wire: `COMMAND INFO` of every command we serve against a real
//! redis-server 7.0.15, `COMMAND GETKEYS`, dispatch errors (unknown subcommands, arity) byte
//! for byte, and the per-connection state that `CLIENT` reads and changes, with `CLIENT KILL`
//! reaching connections on other event loops.

mod common;

use common::{resp, Raw, RedisServer, Server};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Commands and subcommands we serve that Redis 7.0.15 does not have.
const OURS_ONLY: [&str; 1] = ["client|setinfo"];

/// A raw RESP connection that returns each reply as its exact bytes.
struct Wire {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Wire {
    fn open(port: u16) -> Wire {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Wire {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
        }
    }

    /// Sends `args` and returns the reply's bytes.
    fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
        self.writer.write_all(&resp(&args)).expect("send");
        let mut raw = Vec::new();
        self.read_into(&mut raw);
        raw
    }

    fn read_into(&mut self, raw: &mut Vec<u8>) {
        let start = raw.len();
        let read = self.reader.read_until(b'\n', raw).expect("read");
        assert!(
            read >= 3,
            "the connection closed mid-reply: {:?}",
            String::from_utf8_lossy(raw)
        );
        let line = String::from_utf8_lossy(&raw[start + 1..raw.len() - 2]).into_owned();
        match raw[start] {
            b'$' | b'=' => {
                let length: i64 = line.parse().expect("bulk length");
                if length >= 0 {
                    let mut body = vec![0; length as usize + 2];
                    self.reader.read_exact(&mut body).expect("bulk");
                    raw.extend(body);
                }
            }
            kind @ (b'*' | b'~' | b'%') => {
                let count: i64 = line.parse().expect("aggregate length");
                let items = if kind == b'%' { count * 2 } else { count };
                for _ in 0..items.max(0) {
                    self.read_into(raw);
                }
            }
            _ => {}
        }
    }
}

/// A parsed reply, for comparisons that must ignore order or notes. RESP3's sets and maps
/// (a map's items flat, key then value) stay apart from arrays, so a comparison sees the type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Option<String>),
    Array(Option<Vec<Reply>>),
    Set(Vec<Reply>),
    Map(Vec<Reply>),
    Null,
}

fn parse(raw: &[u8]) -> Reply {
    fn one(raw: &[u8], at: &mut usize) -> Reply {
        let end = *at
            + raw[*at..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("CRLF");
        let line = String::from_utf8_lossy(&raw[*at + 1..end]).into_owned();
        let kind = raw[*at];
        *at = end + 2;
        match kind {
            b'+' => Reply::Status(line),
            b'-' => Reply::Error(line),
            b':' => Reply::Integer(line.parse().expect("integer")),
            b'$' => {
                let length: i64 = line.parse().expect("bulk length");
                if length < 0 {
                    return Reply::Bulk(None);
                }
                let body = String::from_utf8_lossy(&raw[*at..*at + length as usize]).into_owned();
                *at += length as usize + 2;
                Reply::Bulk(Some(body))
            }
            b'*' => {
                let count: i64 = line.parse().expect("array length");
                if count < 0 {
                    return Reply::Array(None);
                }
                Reply::Array(Some((0..count).map(|_| one(raw, at)).collect()))
            }
            b'~' => {
                let count: usize = line.parse().expect("set length");
                Reply::Set((0..count).map(|_| one(raw, at)).collect())
            }
            b'%' => {
                let count: usize = line.parse().expect("map length");
                Reply::Map((0..count * 2).map(|_| one(raw, at)).collect())
            }
            b'_' => Reply::Null,
            other => panic!("unexpected reply type {:?}", other as char),
        }
    }
    one(raw, &mut 0)
}

/// The items of an array, a set or a map (flat).
fn items(reply: &Reply) -> &[Reply] {
    match reply {
        Reply::Array(Some(items)) | Reply::Set(items) | Reply::Map(items) => items,
        other => panic!("not an aggregate: {other:?}"),
    }
}

/// An aggregate of the same type as `like` holding `items`.
fn rebuild(like: &Reply, items: Vec<Reply>) -> Reply {
    match like {
        Reply::Set(_) => Reply::Set(items),
        Reply::Map(_) => Reply::Map(items),
        _ => Reply::Array(Some(items)),
    }
}

fn text(reply: &Reply) -> &str {
    match reply {
        Reply::Bulk(Some(text)) | Reply::Status(text) => text,
        other => panic!("not a string: {other:?}"),
    }
}

/// One `COMMAND INFO` entry made comparable: key spec notes dropped (ours are in our own
/// words) and subcommands sorted by name (Redis lists them in its hash table's order).
/// Subcommands only one side has are returned apart, by name.
fn normalise(entry: &Reply) -> (Reply, Vec<String>) {
    let mut fields = items(entry).to_vec();
    let specs: Vec<Reply> = items(&fields[8])
        .iter()
        .map(|spec| {
            let pairs = items(spec);
            let kept: Vec<Reply> = pairs
                .chunks(2)
                .filter(|pair| text(&pair[0]) != "notes")
                .flat_map(|pair| pair.to_vec())
                .collect();
            rebuild(spec, kept)
        })
        .collect();
    fields[8] = rebuild(&fields[8], specs);
    let mut subcommands: BTreeMap<String, Reply> = BTreeMap::new();
    for sub in items(&fields[9]) {
        subcommands.insert(text(&items(sub)[0]).to_string(), normalise(sub).0);
    }
    let names = subcommands.keys().cloned().collect();
    fields[9] = rebuild(&fields[9], subcommands.into_values().collect());
    (rebuild(entry, fields), names)
}

/// Opens a connection to each server in RESP `resp` (2, or 3 through `HELLO 3`).
fn open_both(redis: u16, ours: u16, resp: u8) -> (Wire, Wire) {
    let (mut theirs, mut mine) = (Wire::open(redis), Wire::open(ours));
    if resp == 3 {
        for wire in [&mut theirs, &mut mine] {
            let hello = parse(&wire.call(&["HELLO", "3"]));
            assert!(matches!(hello, Reply::Map(_)), "HELLO 3: {hello:?}");
        }
    }
    (theirs, mine)
}

#[test]
fn command_info_of_every_command_matches_redis() {
    let redis = RedisServer::start();
    let ours = Server::start("lockfree", &[]);
    for resp in [2, 3] {
        command_info_matches_redis(redis.port, ours.port, resp);
    }
}

/// `command_info_of_every_command_matches_redis` in RESP `resp`.
fn command_info_matches_redis(redis: u16, ours: u16, resp: u8) {
    let (mut theirs, mut mine) = open_both(redis, ours, resp);
    let all = parse(&mine.call(&["COMMAND"]));
    let count = parse(&mine.call(&["COMMAND", "COUNT"]));
    assert_eq!(count, Reply::Integer(items(&all).len() as i64));
    let mut compared = 0;
    for entry in items(&all) {
        let name = text(&items(entry)[0]).to_string();
        let reference = parse(&theirs.call(&["COMMAND", "INFO", &name]));
        let reference = &items(&reference)[0];
        assert!(
            !matches!(reference, Reply::Bulk(None) | Reply::Null),
            "redis-server has no '{name}'"
        );
        // Our entry through COMMAND INFO is the same as through COMMAND.
        let single = parse(&mine.call(&["COMMAND", "INFO", &name]));
        assert_eq!(
            &items(&single)[0],
            entry,
            "COMMAND INFO {name} differs from COMMAND"
        );
        let (mut ours_normal, our_subs) = normalise(entry);
        let (theirs_normal, their_subs) = normalise(reference);
        // Drop our subcommands that Redis 7.0 lacks; keep only theirs that we serve.
        let extra: Vec<&String> = our_subs
            .iter()
            .filter(|sub| !their_subs.contains(sub))
            .collect();
        for sub in &extra {
            assert!(
                OURS_ONLY.contains(&sub.as_str()),
                "'{sub}' is not a Redis 7.0 command"
            );
        }
        let mut fields = items(&ours_normal).to_vec();
        fields[9] = rebuild(
            &fields[9],
            items(&fields[9])
                .iter()
                .filter(|sub| their_subs.iter().any(|name| name == text(&items(sub)[0])))
                .cloned()
                .collect(),
        );
        ours_normal = rebuild(&ours_normal, fields);
        let mut their_fields = items(&theirs_normal).to_vec();
        their_fields[9] = rebuild(
            &their_fields[9],
            items(&their_fields[9])
                .iter()
                .filter(|sub| our_subs.iter().any(|name| name == text(&items(sub)[0])))
                .cloned()
                .collect(),
        );
        assert_eq!(
            ours_normal,
            rebuild(&theirs_normal, their_fields),
            "COMMAND INFO {name} differs from redis-server's (RESP{resp})"
        );
        compared += 1 + our_subs.len() - extra.len();
    }
    assert!(compared >= 90, "only {compared} commands compared");
    // Subcommands by their full names, and unknown names.
    for name in [
        "config|get",
        "CLIENT|kill",
        "command|getkeys",
        "nosuch",
        "get|x",
    ] {
        let (ours, theirs) = (
            mine.call(&["COMMAND", "INFO", name]),
            theirs.call(&["COMMAND", "INFO", name]),
        );
        assert_eq!(
            normalise_all(&ours),
            normalise_all(&theirs),
            "COMMAND INFO {name}"
        );
    }
}

/// A whole `COMMAND INFO` reply made comparable, entry by entry.
fn normalise_all(raw: &[u8]) -> Vec<Reply> {
    items(&parse(raw))
        .iter()
        .map(|entry| match entry {
            Reply::Bulk(None) | Reply::Null => entry.clone(),
            _ => normalise(entry).0,
        })
        .collect()
}

/// Our prose, checked non-empty and replaced by a placeholder so the comparison with
/// redis-server's sees only the interface.
fn prose(name: &str, field: &str, value: &Reply) -> Reply {
    assert!(
        !text(value).trim().is_empty(),
        "COMMAND DOCS {name}: empty {field}"
    );
    Reply::Bulk(Some("<prose>".into()))
}

/// One `COMMAND DOCS` entry made comparable: the prose fields (summary, complexity, the texts
/// of history entries) replaced by a placeholder after checking they are there, and the
/// subcommands sorted by name and kept only when `keep` says so (Redis lists them in its hash
/// table's order, and serves subcommands we do not). Returns the names of every subcommand
/// too. Field order and argument trees are kept as they are: they are interface.
fn normalise_docs(name: &str, entry: &Reply, keep: &dyn Fn(&str) -> bool) -> (Reply, Vec<String>) {
    let mut fields = Vec::new();
    let mut names = Vec::new();
    for pair in items(entry).chunks(2) {
        let field = text(&pair[0]);
        let value = match field {
            "summary" | "complexity" => prose(name, field, &pair[1]),
            "history" => rebuild(
                &pair[1],
                items(&pair[1])
                    .iter()
                    .map(|change| {
                        let items = items(change);
                        rebuild(
                            change,
                            vec![items[0].clone(), prose(name, "history text", &items[1])],
                        )
                    })
                    .collect(),
            ),
            "subcommands" => {
                let mut subcommands: BTreeMap<String, Reply> = BTreeMap::new();
                for sub in items(&pair[1]).chunks(2) {
                    let sub_name = text(&sub[0]).to_string();
                    names.push(sub_name.clone());
                    if keep(&sub_name) {
                        let normal = normalise_docs(&sub_name, &sub[1], keep).0;
                        subcommands.insert(sub_name, normal);
                    }
                }
                rebuild(
                    &pair[1],
                    subcommands
                        .into_iter()
                        .flat_map(|(sub_name, docs)| [Reply::Bulk(Some(sub_name)), docs])
                        .collect(),
                )
            }
            _ => pair[1].clone(),
        };
        fields.push(pair[0].clone());
        fields.push(value);
    }
    (rebuild(entry, fields), names)
}

#[test]
fn command_docs_of_every_command_match_redis_but_for_the_prose() {
    let redis = RedisServer::start();
    let ours = Server::start("lockfree", &[]);
    for resp in [2, 3] {
        command_docs_match_redis(redis.port, ours.port, resp);
    }
}

/// `command_docs_of_every_command_match_redis_but_for_the_prose` in RESP `resp`.
fn command_docs_match_redis(redis: u16, ours: u16, resp: u8) {
    let (mut theirs, mut mine) = open_both(redis, ours, resp);
    let all = parse(&mine.call(&["COMMAND", "DOCS"]));
    let count = parse(&mine.call(&["COMMAND", "COUNT"]));
    assert_eq!(count, Reply::Integer(items(&all).len() as i64 / 2));
    let mut compared = 0;
    for pair in items(&all).chunks(2) {
        let name = text(&pair[0]).to_string();
        let reference = parse(&theirs.call(&["COMMAND", "DOCS", &name]));
        let reference = items(&reference);
        assert_eq!(reference.len(), 2, "redis-server has no '{name}'");
        // Our entry through COMMAND DOCS <name> is the same as through COMMAND DOCS.
        let single = parse(&mine.call(&["COMMAND", "DOCS", &name]));
        assert_eq!(items(&single)[1], pair[1], "COMMAND DOCS {name} alone");
        let (_, their_subs) = normalise_docs(&name, &reference[1], &|_| true);
        let (_, our_subs) = normalise_docs(&name, &pair[1], &|_| true);
        for sub in our_subs.iter().filter(|sub| !their_subs.contains(sub)) {
            assert!(
                OURS_ONLY.contains(&sub.as_str()),
                "'{sub}' is not a Redis 7.0 command"
            );
        }
        let both = |sub: &str| {
            our_subs.iter().any(|ours| ours == sub) && their_subs.iter().any(|theirs| theirs == sub)
        };
        let (mine_normal, _) = normalise_docs(&name, &pair[1], &both);
        let (theirs_normal, _) = normalise_docs(&name, &reference[1], &both);
        assert_eq!(
            mine_normal, theirs_normal,
            "COMMAND DOCS {name} differs from redis-server's (RESP{resp})"
        );
        compared += 1 + our_subs.iter().filter(|sub| both(sub)).count();
    }
    assert!(compared >= 90, "only {compared} commands compared");
    // Named lookups: subcommands by full name in any case, unknown names left out, and an
    // empty map when nothing is known.
    for names in [
        &["config|get", "GET", "nosuch"][..],
        &["CLIENT|kill", "get|x"],
        &["nosuch"],
        &["command|docs", "command"],
    ] {
        let mut args = vec!["COMMAND", "DOCS"];
        args.extend_from_slice(names);
        let normal = |raw: &[u8]| -> Vec<(String, Reply)> {
            items(&parse(raw))
                .chunks(2)
                .map(|pair| {
                    let name = text(&pair[0]).to_string();
                    let keep = |sub: &str| sub == "command|docs" || sub == "client|kill";
                    let docs = normalise_docs(&name, &pair[1], &keep).0;
                    (name, docs)
                })
                .collect()
        };
        assert_eq!(
            normal(&mine.call(&args)),
            normal(&theirs.call(&args)),
            "COMMAND DOCS {names:?}"
        );
    }
    // What only we serve still has docs.
    for name in OURS_ONLY {
        let docs = parse(&mine.call(&["COMMAND", "DOCS", name]));
        let docs = items(&docs);
        assert_eq!(text(&docs[0]), name);
        normalise_docs(name, &docs[1], &|_| true);
    }
}

/// After `HELLO 3` the replies whose shape differs between the protocols (nulls, maps,
/// `INFO`'s and `CLIENT INFO`'s text) are RESP3's, byte for byte as redis-server's, and `HELLO
/// 2` switches back.
#[test]
fn resp3_replies_match_redis_byte_for_byte() {
    let redis = RedisServer::start();
    let ours = Server::start("lockfree", &[]);
    let (mut theirs, mut mine) = open_both(redis.port, ours.port, 3);
    let same = [
        &["SET", "a", "1"][..],
        &["RPUSH", "l", "x", "y"],
        &["GET", "missing"],
        &["MGET", "a", "missing"],
        &["LPOP", "nolist"],
        &["LPOP", "nolist", "2"],
        &["LPOS", "l", "z"],
        &["LPOS", "l", "z", "COUNT", "0"],
        &["LMPOP", "1", "nolist", "LEFT"],
        &["LMPOP", "1", "l", "LEFT"],
        &["RPOPLPUSH", "nolist", "l"],
        &["LRANGE", "nolist", "0", "-1"],
        &["GETDEL", "missing"],
        &["OBJECT", "ENCODING", "missing"],
        &["CLIENT", "GETNAME"],
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "GET", "appendonly"],
        &["HELLO", "4"],
        &["HELLO", "x"],
        &["COMMAND", "GETKEYSANDFLAGS", "set", "a", "b"],
        &["COMMAND", "INFO", "nosuch"],
    ];
    for args in same {
        assert_eq!(
            String::from_utf8_lossy(&mine.call(args)),
            String::from_utf8_lossy(&theirs.call(args)),
            "{args:?} in RESP3"
        );
    }
    for args in [&["INFO", "server"][..], &["CLIENT", "INFO"]] {
        let reply = mine.call(args);
        let text = String::from_utf8_lossy(&reply);
        let length: usize = text[1..text.find('\r').unwrap()].parse().unwrap();
        assert!(
            text.starts_with('=') && text.contains("\r\ntxt:"),
            "{args:?}: {text}"
        );
        assert_eq!(
            reply.len(),
            text.find('\n').unwrap() + 1 + length + 2,
            "{args:?}"
        );
        assert_eq!(&theirs.call(args)[..1], b"=", "redis-server's {args:?}");
    }
    // HELLO without a version answers in the protocol in force; HELLO 2 goes back.
    let hello = parse(&mine.call(&["HELLO"]));
    assert_eq!(items(&hello)[5], Reply::Integer(3), "{hello:?}");
    let hello = parse(&mine.call(&["HELLO", "2"]));
    assert!(matches!(hello, Reply::Array(_)), "{hello:?}");
    assert_eq!(items(&hello)[5], Reply::Integer(2), "{hello:?}");
    theirs.call(&["HELLO", "2"]);
    for args in [
        &["GET", "missing"][..],
        &["LPOP", "nolist", "2"],
        &["CONFIG", "GET", "maxmemory"],
    ] {
        assert_eq!(mine.call(args), theirs.call(args), "{args:?} back in RESP2");
    }
}

#[test]
fn getkeys_and_dispatch_errors_match_redis_byte_for_byte() {
    let redis = RedisServer::start();
    let ours = Server::start("lockfree", &[]);
    let mut theirs = Wire::open(redis.port);
    let mut mine = Wire::open(ours.port);
    let cases: &[&[&str]] = &[
        &["COMMAND", "GETKEYS", "get", "k"],
        &["COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"],
        &["COMMAND", "GETKEYS", "MSET", "a", "1", "b"],
        &["COMMAND", "GETKEYS", "lmove", "a", "b", "left", "right"],
        &["COMMAND", "GETKEYS", "del", "a", "b", "c"],
        &["COMMAND", "GETKEYS", "copy", "a", "b", "db", "1"],
        &["COMMAND", "GETKEYSANDFLAGS", "set", "k", "v", "get"],
        &["COMMAND", "GETKEYSANDFLAGS", "rename", "a", "b"],
        &["COMMAND", "GETKEYSANDFLAGS", "mset", "a", "1", "b", "2"],
        &["COMMAND", "GETKEYS", "nosuch", "x"],
        &["COMMAND", "GETKEYS", "ping", "x"],
        &["COMMAND", "GETKEYS", "get", "a", "b"],
        &["COMMAND", "GETKEYS", "config", "get"],
        &["COMMAND", "GETKEYS"],
        &["COMMAND", "COUNT", "x"],
        &["COMMAND", "NOSUCH"],
        &["CONFIG"],
        &["CONFIG", "NOSUCH"],
        &["config", "get"],
        &["CONFIG", "SET", "maxclients"],
        &["CONFIG", "SET", "maxclients", "10", "timeout"],
        &["CLIENT"],
        &["CLIENT", "foo\r\nbar"],
        &["CLIENT", "ID", "x"],
        &["CLIENT", "SETNAME", "a b"],
        &["CLIENT", "KILL", "ID", "x"],
        &["CLIENT", "KILL", "ID", "0"],
        &["CLIENT", "KILL", "TYPE", "foo"],
        &["CLIENT", "KILL", "1.2.3.4:5"],
        &["CLIENT", "KILL", "USER", "bob"],
        &["CLIENT", "KILL", "ID", "1", "SKIPME"],
        &["CLIENT", "KILL", "SKIPME", "maybe"],
        &["CLIENT", "KILL", "ID", "999999", "SKIPME", "no"],
        &["CLIENT", "LIST", "TYPE", "foo"],
        &["CLIENT", "LIST", "TYPE", "pubsub"],
        &["CLIENT", "LIST", "ID", "x"],
        &["CLIENT", "LIST", "x"],
        &["GET"],
        &["GET", "a", "b"],
        &["nosuchcommand", "a"],
        &["PING", "a", "b"],
        &["SELECT", "x"],
        &["SELECT", "0"],
        // OBJECT over values whose encoding Redis picks from their content alone.
        &["SET", "o:small", "5"],
        &["SET", "o:int", "12345"],
        &["SET", "o:negative", "-1"],
        &["SET", "o:zero-led", "0123"],
        &["SET", "o:long-int", "1234567890123456789"],
        &["SET", "o:too-long-int", "12345678901234567890"],
        &["SET", "o:text", "hello"],
        &[
            "SET",
            "o:44",
            "abcdefghijabcdefghijabcdefghijabcdefghij1234",
        ],
        &[
            "SET",
            "o:45",
            "abcdefghijabcdefghijabcdefghijabcdefghij12345",
        ],
        &["INCR", "o:counter"],
        &["INCRBY", "o:big", "99999"],
        &["RPUSH", "o:list", "a", "b"],
        &["OBJECT", "ENCODING", "o:small"],
        &["OBJECT", "ENCODING", "o:int"],
        &["OBJECT", "ENCODING", "o:negative"],
        &["OBJECT", "ENCODING", "o:zero-led"],
        &["OBJECT", "ENCODING", "o:long-int"],
        &["OBJECT", "ENCODING", "o:too-long-int"],
        &["OBJECT", "ENCODING", "o:text"],
        &["OBJECT", "ENCODING", "o:44"],
        &["OBJECT", "ENCODING", "o:45"],
        &["OBJECT", "ENCODING", "o:counter"],
        &["OBJECT", "ENCODING", "o:big"],
        &["OBJECT", "ENCODING", "o:list"],
        &["OBJECT", "ENCODING", "o:missing"],
        &["OBJECT", "REFCOUNT", "o:small"],
        &["OBJECT", "REFCOUNT", "o:int"],
        &["OBJECT", "REFCOUNT", "o:negative"],
        &["OBJECT", "REFCOUNT", "o:counter"],
        &["OBJECT", "REFCOUNT", "o:text"],
        &["OBJECT", "REFCOUNT", "o:list"],
        &["OBJECT", "REFCOUNT", "o:missing"],
        &["OBJECT", "ENCODING"],
        &["OBJECT", "ENCODING", "a", "b"],
        &["OBJECT"],
        &["OBJECT", "NOSUCH", "k"],
        // Configuration: the encoding thresholds (accepted, no effect), `save ""`, errors.
        &["CONFIG", "SET", "list-max-ziplist-size", "-3"],
        &["CONFIG", "GET", "list-max-ziplist-size"],
        &["CONFIG", "GET", "list-max-listpack-size"],
        &[
            "CONFIG",
            "SET",
            "zset-max-ziplist-entries",
            "16",
            "hash-max-listpack-value",
            "9",
        ],
        &["CONFIG", "GET", "zset-max-listpack-entries"],
        &["CONFIG", "GET", "hash-max-ziplist-value"],
        &["CONFIG", "SET", "list-compress-depth", "-1"],
        &["CONFIG", "SET", "set-max-intset-entries", "x"],
        &["CONFIG", "SET", "save", ""],
        &["CONFIG", "GET", "save"],
        &["CONFIG", "SET", "nosuch", "1"],
        &["CONFIG", "SET", "databases", "4"],
        // FUNCTION FLUSH (no libraries can exist yet) and its errors.
        &["FUNCTION", "FLUSH"],
        &["FUNCTION", "FLUSH", "async"],
        &["FUNCTION", "FLUSH", "bogus"],
        &["FUNCTION", "FLUSH", "a", "b"],
        &["FUNCTION"],
    ];
    for case in cases {
        let (ours, reference) = (mine.call(case), theirs.call(case));
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&reference),
            "reply to {case:?}"
        );
    }
    // COMMAND LIST filters (the reply's order is the table's, so compare as sets).
    for filter in [
        &["COMMAND", "LIST", "FILTERBY", "PATTERN", "l*"][..],
        &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "list"],
        &["COMMAND", "LIST", "FILTERBY", "MODULE", "x"],
    ] {
        let sorted = |reply: Vec<u8>| {
            let mut names: Vec<String> = items(&parse(&reply))
                .iter()
                .map(|r| text(r).to_string())
                .collect();
            names.sort();
            names
        };
        let ours = sorted(mine.call(filter));
        let theirs = sorted(theirs.call(filter));
        assert!(
            ours.iter()
                .all(|name| theirs.contains(name) || OURS_ONLY.contains(&name.as_str())),
            "{filter:?}: ours {ours:?}, redis {theirs:?}"
        );
        if filter[3] != "MODULE" {
            assert!(!ours.is_empty(), "{filter:?} found nothing");
        }
    }
}

/// The `CLIENT LIST` line of the client with this id, as field -> value.
fn client_fields(list: &str, id: u64) -> BTreeMap<String, String> {
    let line = list
        .lines()
        .find(|line| line.starts_with(&format!("id={id} ")))
        .unwrap_or_else(|| panic!("no client {id} in {list}"));
    line.split(' ')
        .filter_map(|field| field.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

#[test]
fn client_state_is_the_connections_own_and_visible_to_others() {
    let server = Server::start("lockfree", &[]);
    let mut a = server.redis();
    let mut b = server.redis();
    let a_id: u64 = redis::cmd("CLIENT").arg("ID").query(&mut a).unwrap();
    let b_id: u64 = redis::cmd("CLIENT").arg("ID").query(&mut b).unwrap();
    assert_ne!(a_id, b_id);
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("alpha")
        .query(&mut a)
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("SETINFO")
        .arg("LIB-NAME")
        .arg("mylib")
        .query(&mut a)
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("SETINFO")
        .arg("lib-ver")
        .arg("1.2")
        .query(&mut a)
        .unwrap();
    let error = redis::cmd("CLIENT")
        .arg("SETINFO")
        .arg("LIB-NAME")
        .arg("has space")
        .query::<()>(&mut a)
        .unwrap_err();
    assert!(
        error.to_string().contains("lib-name cannot contain spaces"),
        "{error}"
    );
    let error = redis::cmd("CLIENT")
        .arg("SETINFO")
        .arg("color")
        .arg("x")
        .query::<()>(&mut a)
        .unwrap_err();
    assert!(
        error.to_string().contains("Unrecognized option 'color'"),
        "{error}"
    );
    // b reads a's state from the registry; a's name is a's alone.
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut b).unwrap();
    let fields = client_fields(&list, a_id);
    assert_eq!(fields["name"], "alpha");
    assert_eq!(fields["lib-name"], "mylib");
    assert_eq!(fields["lib-ver"], "1.2");
    assert_eq!(fields["db"], "0");
    assert_eq!(fields["flags"], "N");
    assert_eq!(fields["cmd"], "client|setinfo");
    assert_eq!(fields["resp"], "2");
    assert_eq!(client_fields(&list, b_id)["cmd"], "client|list");
    assert_eq!(client_fields(&list, b_id)["name"], "");
    let name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(&mut b).unwrap();
    assert_eq!(name, None);
    // CLIENT INFO is the caller's own line; LIST ID selects.
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut a).unwrap();
    assert!(info.starts_with(&format!("id={a_id} ")), "{info}");
    let only_b: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("ID")
        .arg(b_id)
        .query(&mut a)
        .unwrap();
    assert_eq!(only_b.lines().count(), 1);
    assert!(only_b.starts_with(&format!("id={b_id} ")), "{only_b}");
}

#[test]
fn client_kill_closes_connections_on_every_loop() {
    // Two event loops (the harness's default); the kernel spreads connections over them (SO_REUSEPORT), so with
    // sixteen connections both loops own some (the odds of all on one: 2 in 65536).
    let server = Server::start("lockfree", &[]);
    let mut controller = server.redis();
    let mut victims: Vec<(u64, Raw)> = (0..16)
        .map(|_| {
            let mut raw = server.raw();
            raw.send(&resp(&[b"CLIENT", b"ID"]));
            let line = raw.line();
            let id: u64 = line.trim_start_matches(':').trim().parse().expect("id");
            (id, raw)
        })
        .collect();
    // By ID, one at a time: each killed connection sees end of file.
    for (id, raw) in victims.iter_mut().take(8) {
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(*id)
            .query(&mut controller)
            .unwrap();
        assert_eq!(killed, 1);
        assert!(raw.closed(), "client {id} was not closed");
    }
    // The old form, by address.
    let (id, raw) = &mut victims[8];
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut controller)
        .unwrap();
    let addr = client_fields(&list, *id)["addr"].clone();
    let ok: String = redis::cmd("CLIENT")
        .arg("KILL")
        .arg(&addr)
        .query(&mut controller)
        .unwrap();
    assert_eq!(ok, "OK");
    assert!(raw.closed());
    // Every normal client but the caller.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query(&mut controller)
        .unwrap();
    assert_eq!(killed, 7);
    for (id, raw) in victims.iter_mut().skip(9) {
        assert!(raw.closed(), "client {id} was not closed");
    }
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut controller)
        .unwrap();
    assert_eq!(list.lines().count(), 1, "{list}");
    // SKIPME no: the caller gets its reply, then is closed.
    let mut own = server.raw();
    own.send(&resp(&[
        b"CLIENT",
        b"KILL",
        b"LADDR",
        format!("127.0.0.1:{}", server.port).as_bytes(),
        b"SKIPME",
        b"no",
    ]));
    assert_eq!(own.line(), ":2\r\n");
    assert!(own.closed());
    // The LADDR filter matched the controller too.
    assert!(redis::cmd("PING").query::<String>(&mut controller).is_err());
}

#[test]
fn quit_replies_then_closes_and_shutdown_refuses_bad_options() {
    let server = Server::start("lockfree", &[]);
    let mut raw = server.raw();
    raw.round_trip(&resp(&[b"QUIT"]), b"+OK\r\n");
    assert!(raw.closed());
    let mut raw = server.raw();
    raw.round_trip(&resp(&[b"SHUTDOWN", b"BOGUS"]), b"-ERR syntax error\r\n");
    raw.round_trip(
        &resp(&[b"SHUTDOWN", b"ABORT"]),
        b"-ERR No shutdown in progress.\r\n",
    );
    raw.round_trip(&resp(&[b"PING"]), b"+PONG\r\n");
}
