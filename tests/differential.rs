//! Differential test: random command streams sent to a real `redis-server` and to workingdb
//! side by side, every reply compared byte for byte (error texts included).
//!
//! A seeded generator ([`Generator`]) draws commands over a small key set, so keys collide and
//! types clash, with values that are integers, floats, negative numbers, empty strings and
//! binary bytes, and with wrong arities, bad numbers, unknown commands and unknown options. A
//! failure names the seed, the command's index, the command, both replies and the commands
//! that came just before it, which is enough to replay it by hand with `redis-cli`.
//!
//! Only what is legitimately non-deterministic is compared loosely: the `TTL` family by class
//! (missing, persistent, or expiring), and `KEYS` after sorting. Commands whose replies depend
//! on time or on hash order (`TIME`, `RANDOMKEY`, `INFO`, `SCAN`, `CLIENT ID`) are not sent,
//! nor is `DBSIZE`, which counts keys that have expired until each server gets round to
//! removing them (a `SET ... EXAT` in the past leaves one).
//! Expiry times are chosen so that no key ever expires while a stream runs and so that
//! `GT`/`LT` comparisons never depend on which millisecond a command ran in (see
//! [`Generator::relative_seconds`]).
//!
//! The long run is against the lock-free engine; the other engines get shorter streams. A
//! list of hand-picked cases covers what random streams rarely reach (`INCRBYFLOAT`'s `long
//! double` rounding, expiry times at the end of the 64-bit range, binary bytes in an unknown
//! command's error).

mod common;

use common::{resp, RedisServer, Server};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The seeds of the long run against the lock-free engine.
const SEEDS: [u64; 16] = [
    1,
    2,
    3,
    5,
    8,
    13,
    21,
    34,
    55,
    89,
    144,
    233,
    377,
    610,
    987,
    0x5eed_cafe,
];
/// Commands per seed in the long run.
const COMMANDS_PER_SEED: usize = 3000;
/// The seeds of the shorter runs against the other engines.
const SHORT_SEEDS: [u64; 2] = [101, 202];
/// Commands per seed in the shorter runs.
const SHORT_COMMANDS_PER_SEED: usize = 1000;
/// How many of the commands before a mismatch its report shows.
const HISTORY_SHOWN: usize = 12;

/// splitmix64: a small, good-enough PRNG whose stream is fixed by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// A number in `low..=high`.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low + 1) as u64) as i64
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// How two replies are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// Byte for byte.
    Exact,
    /// An array compared after sorting its elements (`KEYS`: hash order differs).
    Sorted,
    /// An integer compared by class: -2, -1, or "some time left" (the `TTL` family: the two
    /// servers received the command at slightly different times).
    TtlClass,
}

/// One parsed reply (RESP2, or RESP3 after `HELLO 3`: a set and a map, flat, read as arrays,
/// the null as both nulls; the raw bytes, compared too, keep the difference).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// A connection that sends commands and reads whole replies, keeping their raw bytes.
struct Connection {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(port: u16) -> Connection {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Connection {
            writer: stream,
            reader,
        }
    }

    fn send(&mut self, command: &[Vec<u8>]) {
        let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
        self.writer.write_all(&resp(&args)).expect("send");
    }

    /// Reads one complete reply; returns it parsed and as the bytes that carried it.
    fn read(&mut self) -> (Reply, Vec<u8>) {
        let mut raw = Vec::new();
        let reply = self.read_into(&mut raw);
        (reply, raw)
    }

    fn line(&mut self, raw: &mut Vec<u8>) -> Vec<u8> {
        let start = raw.len();
        self.reader.read_until(b'\n', raw).expect("read reply line");
        let line = &raw[start..];
        assert!(
            line.ends_with(b"\r\n"),
            "reply line not ended by CRLF: {}",
            show(line)
        );
        line[1..line.len() - 2].to_vec()
    }

    fn number(line: &[u8]) -> i64 {
        std::str::from_utf8(line)
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or_else(|| panic!("bad number in reply: {}", show(line)))
    }

    fn read_into(&mut self, raw: &mut Vec<u8>) -> Reply {
        let start = raw.len();
        let line = self.line(raw);
        match raw[start] {
            b'+' => Reply::Simple(line),
            b'-' => Reply::Error(line),
            b':' => Reply::Integer(Self::number(&line)),
            b'$' => {
                let length = Self::number(&line);
                if length < 0 {
                    return Reply::Bulk(None);
                }
                let mut body = vec![0; length as usize + 2];
                self.reader.read_exact(&mut body).expect("read bulk");
                assert!(body.ends_with(b"\r\n"), "bulk string not ended by CRLF");
                raw.extend_from_slice(&body);
                body.truncate(length as usize);
                Reply::Bulk(Some(body))
            }
            kind @ (b'*' | b'~' | b'%') => {
                let length = Self::number(&line);
                if length < 0 {
                    return Reply::Array(None);
                }
                let length = if kind == b'%' { length * 2 } else { length };
                let items = (0..length).map(|_| self.read_into(raw)).collect();
                Reply::Array(Some(items))
            }
            b'_' => Reply::Bulk(None),
            other => panic!("unknown reply type {:?} in {}", other as char, show(raw)),
        }
    }
}

/// Bytes as readable text: printable ASCII as is, the rest escaped.
fn show(bytes: &[u8]) -> String {
    let mut text = String::new();
    for &byte in bytes {
        match byte {
            b'\r' => text.push_str("\\r"),
            b'\n' => text.push_str("\\n"),
            b'\\' => text.push_str("\\\\"),
            b'"' => text.push_str("\\\""),
            0x20..=0x7e => text.push(byte as char),
            _ => {
                let _ = write!(text, "\\x{byte:02x}");
            }
        }
    }
    text
}

/// The start of `bytes` as [`show`] prints it, with the length of the rest.
fn show_prefix(bytes: &[u8], shown: usize) -> String {
    if bytes.len() <= shown {
        return show(bytes);
    }
    format!(
        "{}... ({} more bytes)",
        show(&bytes[..shown]),
        bytes.len() - shown
    )
}

/// A command as `redis-cli` would take it (each argument quoted).
fn show_command(command: &[Vec<u8>]) -> String {
    command
        .iter()
        .map(|arg| format!("\"{}\"", show(arg)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The class of a `TTL`-family reply: negative values as they are, any time left as 1.
fn ttl_class(reply: &Reply) -> Reply {
    match reply {
        Reply::Integer(value) if *value >= 0 => Reply::Integer(1),
        other => other.clone(),
    }
}

/// Whether two replies agree under `compare`.
fn agree(compare: Compare, expected: &(Reply, Vec<u8>), got: &(Reply, Vec<u8>)) -> bool {
    match compare {
        Compare::Exact => expected.1 == got.1,
        Compare::TtlClass => ttl_class(&expected.0) == ttl_class(&got.0),
        Compare::Sorted => match (&expected.0, &got.0) {
            (Reply::Array(Some(a)), Reply::Array(Some(b))) => {
                let sorted = |items: &[Reply]| {
                    let mut items: Vec<_> = items.iter().map(|item| format!("{item:?}")).collect();
                    items.sort();
                    items
                };
                sorted(a) == sorted(b)
            }
            _ => expected.1 == got.1,
        },
    }
}

/// The keys every command draws from: few, so that commands collide and types clash. One is
/// binary, one has a hash tag, one is a prefix of another.
const KEYS: [&[u8]; 8] = [
    b"a",
    b"b",
    b"c",
    b"list",
    b"num",
    b"ab",
    b"k:\x00\xff",
    b"{t}x",
];

/// The keys list commands favour.
const LIST_KEYS: [&[u8]; 3] = [b"list", b"c", b"{t}x"];
/// The keys string commands favour.
const STRING_KEYS: [&[u8]; 5] = [b"a", b"b", b"num", b"ab", b"k:\x00\xff"];

/// List elements: few and short, so LREM, LPOS and LINSERT find matches.
const ELEMENTS: [&[u8]; 6] = [b"x", b"y", b"z", b"1", b"", b"x y"];

/// Values with a meaning to some command: integers at the edges of 64 bits and past them,
/// integers Redis refuses (leading zeros, plus signs, spaces), floats in every spelling
/// `strtold` accepts or refuses, and words.
const SPECIAL_VALUES: [&str; 44] = [
    "0",
    "1",
    "-1",
    "10",
    "-10",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775806",
    "-9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "007",
    "-0",
    "+1",
    " 1",
    "1 ",
    "0.1",
    "0.2",
    "1.5",
    "-0.25",
    "3.0",
    "10.50",
    "1e3",
    "2.5e-3",
    "-1E2",
    ".5",
    "5.",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e400",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "0x10",
    "1e",
    "3.14159265358979323846",
    "0.000000000000000001",
    "12345678901234567890.5",
    "x",
    "hello world",
    "",
];

/// Options and words that no command knows, for syntax errors.
const BAD_WORDS: [&str; 5] = ["FOO", "", "nxx", "-1", "\u{e9}"];

/// The generator of command streams.
struct Generator {
    rng: Rng,
    /// The index of the command being generated (relative expiry times grow with it).
    index: u64,
    /// The Unix time in seconds at which the run started (absolute expiry times are offsets
    /// from it).
    base_seconds: u64,
}

impl Generator {
    fn new(seed: u64, base_seconds: u64) -> Generator {
        Generator {
            rng: Rng(seed),
            index: 0,
            base_seconds,
        }
    }

    fn key(&mut self) -> Vec<u8> {
        self.rng.pick(&KEYS).to_vec()
    }

    /// A key for a list command: usually one of the keys list writes favour, so list commands
    /// mostly find lists, and sometimes any key, so they also meet strings.
    fn list_key(&mut self) -> Vec<u8> {
        if self.rng.chance(75) {
            self.rng.pick(&LIST_KEYS).to_vec()
        } else {
            self.key()
        }
    }

    /// A key for a string command, as [`Generator::list_key`] for strings, but more often
    /// one of its favoured keys: a string write turns a list key into a string for good,
    /// while a list key only comes back when something deletes it.
    fn string_key(&mut self) -> Vec<u8> {
        if self.rng.chance(95) {
            self.rng.pick(&STRING_KEYS).to_vec()
        } else {
            self.key()
        }
    }

    fn element(&mut self) -> Vec<u8> {
        if self.rng.chance(90) {
            self.rng.pick(&ELEMENTS).to_vec()
        } else {
            self.value()
        }
    }

    fn binary(&mut self) -> Vec<u8> {
        let length = self.rng.below(12);
        (0..length).map(|_| self.rng.next() as u8).collect()
    }

    fn value(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0..=3 => self.rng.pick(&SPECIAL_VALUES).as_bytes().to_vec(),
            4 | 5 => self.rng.range(-20, 120).to_string().into_bytes(),
            6 => {
                let whole = self.rng.range(-1000, 1000);
                let fraction = self.rng.below(1000);
                format!("{whole}.{fraction:03}").into_bytes()
            }
            7 => self.binary(),
            8 => self.element(),
            _ => {
                let length = self.rng.below(40) as usize;
                (0..length)
                    .map(|_| *self.rng.pick(b"abcxyz0123456789 -.\r\n"))
                    .collect()
            }
        }
    }

    /// An integer argument that is not a valid integer.
    fn bad_integer(&mut self) -> Vec<u8> {
        let bad: [&str; 9] = [
            "abc",
            "1.5",
            "",
            "9223372036854775808",
            "-9223372036854775809",
            " 1",
            "+1",
            "0x1",
            "1e3",
        ];
        self.rng.pick(&bad).as_bytes().to_vec()
    }

    /// A list index or range bound: mostly small, sometimes at the 64-bit edges, sometimes not
    /// an integer.
    fn index_arg(&mut self) -> Vec<u8> {
        match self.rng.below(20) {
            0 => self.bad_integer(),
            1 => self
                .rng
                .pick(&[
                    "9223372036854775807",
                    "-9223372036854775808",
                    "2147483648",
                    "-2147483649",
                ])
                .as_bytes()
                .to_vec(),
            _ => self.rng.range(-7, 7).to_string().into_bytes(),
        }
    }

    /// A count (for LPOP, LREM, ...): small, zero, negative, or not an integer.
    fn count_arg(&mut self) -> Vec<u8> {
        match self.rng.below(12) {
            0 => self.bad_integer(),
            1 => b"-1".to_vec(),
            2 => b"9223372036854775807".to_vec(),
            _ => self.rng.range(0, 5).to_string().into_bytes(),
        }
    }

    /// A relative expiry in seconds that no key reaches while the test runs. It grows with the
    /// command's index by 2 s per command, so an expiry set later is always later, whichever
    /// millisecond each server ran the command in: `GT`/`LT` comparisons between relative
    /// expiries then agree on both servers.
    fn relative_seconds(&self) -> i64 {
        1_000_000 + 2 * self.index as i64
    }

    /// An absolute expiry in Unix seconds, far from every relative expiry (which lie just
    /// past `base + 1_000_000`), so comparing the two kinds never depends on timing; or a time
    /// in the past, which deletes the key.
    fn absolute_seconds(&mut self) -> i64 {
        let base = self.base_seconds as i64;
        match self.rng.below(8) {
            0 => 1,
            1 => base - 1000,
            _ => {
                base + *self
                    .rng
                    .pick(&[200_000, 400_000, 600_000, 2_000_000, 3_000_000])
            }
        }
    }

    /// An expiry argument for `unit` (`EX`, `PX`, `EXAT`, `PXAT`), sometimes invalid.
    fn expiry_arg(&mut self, unit: &str) -> Vec<u8> {
        match self.rng.below(14) {
            0 => self.bad_integer(),
            1 => b"0".to_vec(),
            2 => b"-5".to_vec(),
            3 => b"9223372036854775807".to_vec(),
            4 => b"9223372036854775".to_vec(),
            _ => {
                let value = match unit {
                    "EX" => self.relative_seconds(),
                    "PX" => self.relative_seconds() * 1000 + self.rng.range(0, 999),
                    "EXAT" => self.absolute_seconds(),
                    _ => self.absolute_seconds() * 1000 + self.rng.range(0, 999),
                };
                value.to_string().into_bytes()
            }
        }
    }

    /// The command name, sometimes in another case (names are case-insensitive).
    fn name(&mut self, name: &str) -> Vec<u8> {
        match self.rng.below(10) {
            0 => name.to_ascii_lowercase().into_bytes(),
            1 => name
                .char_indices()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect::<String>()
                .into_bytes(),
            _ => name.as_bytes().to_vec(),
        }
    }

    /// An option word, sometimes in lowercase.
    fn word(&mut self, word: &str) -> Vec<u8> {
        if self.rng.chance(20) {
            word.to_ascii_lowercase().into_bytes()
        } else {
            word.as_bytes().to_vec()
        }
    }

    fn bad_word(&mut self) -> Vec<u8> {
        self.rng.pick(&BAD_WORDS).as_bytes().to_vec()
    }

    /// One command and how its reply is compared.
    /// `LMPOP numkeys key ... LEFT|RIGHT [COUNT n]`, mostly well formed, sometimes with a
    /// count of keys that does not fit, a bad end, or a bad or repeated `COUNT`.
    fn lmpop(&mut self) -> Vec<Vec<u8>> {
        let keys = 1 + self.rng.below(3) as usize;
        let numkeys = match self.rng.below(12) {
            0 => b"0".to_vec(),
            1 => self.bad_integer(),
            2 => (keys + 2).to_string().into_bytes(),
            _ => keys.to_string().into_bytes(),
        };
        let mut command = vec![self.name("LMPOP"), numkeys];
        for _ in 0..keys {
            let key = if self.rng.chance(80) {
                self.list_key()
            } else {
                self.key()
            };
            command.push(key);
        }
        command.push(match self.rng.below(10) {
            0 => self.bad_word(),
            1..=5 => self.word("LEFT"),
            _ => self.word("RIGHT"),
        });
        if self.rng.chance(50) {
            command.push(self.word("COUNT"));
            command.push(match self.rng.below(8) {
                0 => b"0".to_vec(),
                1 => self.bad_integer(),
                _ => self.rng.range(1, 5).to_string().into_bytes(),
            });
            if self.rng.chance(5) {
                command.push(self.word("COUNT"));
                command.push(b"1".to_vec());
            }
        }
        command
    }

    fn command(&mut self) -> (Vec<Vec<u8>>, Compare) {
        self.index += 1;
        let mut compare = Compare::Exact;
        let command = match self.rng.below(100) {
            0..=5 => self.set(),
            6..=9 => vec![self.name("GET"), self.string_key()],
            10 => self.getex(),
            11 => vec![self.name("GETDEL"), self.string_key()],
            12 => vec![self.name("GETSET"), self.string_key(), self.value()],
            13 => {
                let mut command = vec![self.name("MGET")];
                for _ in 0..=self.rng.below(4) {
                    command.push(self.key());
                }
                command
            }
            14 | 15 => {
                let name = if self.rng.chance(50) {
                    "MSET"
                } else {
                    "MSETNX"
                };
                let mut command = vec![self.name(name)];
                for _ in 0..=self.rng.below(3) {
                    command.push(self.string_key());
                    command.push(self.value());
                }
                if self.rng.chance(10) {
                    // An odd number of arguments.
                    command.push(self.string_key());
                }
                command
            }
            16 => vec![self.name("SETNX"), self.string_key(), self.value()],
            17 => {
                let (name, amount) = if self.rng.chance(50) {
                    ("SETEX", self.expiry_arg("EX"))
                } else {
                    ("PSETEX", self.expiry_arg("PX"))
                };
                vec![self.name(name), self.string_key(), amount, self.value()]
            }
            18..=21 => self.counter(),
            22 | 23 => vec![self.name("APPEND"), self.string_key(), self.value()],
            24 => vec![self.name("STRLEN"), self.string_key()],
            25 | 26 => {
                let name = if self.rng.chance(80) {
                    "GETRANGE"
                } else {
                    "SUBSTR"
                };
                vec![
                    self.name(name),
                    self.string_key(),
                    self.index_arg(),
                    self.index_arg(),
                ]
            }
            27 | 28 => {
                let offset = match self.rng.below(10) {
                    0 => self.bad_integer(),
                    1 => b"-1".to_vec(),
                    // Past proto-max-bulk-len with any patch (an offset just below it would
                    // make both servers allocate 512 MiB).
                    2 => b"536870912".to_vec(),
                    3 => b"9223372036854775807".to_vec(),
                    _ => self.rng.range(0, 20).to_string().into_bytes(),
                };
                let patch = if self.rng.chance(20) {
                    Vec::new()
                } else {
                    self.value()
                };
                vec![self.name("SETRANGE"), self.string_key(), offset, patch]
            }
            29..=34 => self.push(),
            35..=38 => {
                let name = if self.rng.chance(50) { "LPOP" } else { "RPOP" };
                let mut command = vec![self.name(name), self.list_key()];
                if self.rng.chance(40) {
                    command.push(self.count_arg());
                }
                if self.rng.chance(5) {
                    command.push(self.count_arg());
                }
                command
            }
            39 | 40 => vec![self.name("LLEN"), self.list_key()],
            41 | 42 => vec![self.name("LINDEX"), self.list_key(), self.index_arg()],
            43..=45 => vec![
                self.name("LRANGE"),
                self.list_key(),
                self.index_arg(),
                self.index_arg(),
            ],
            46 => vec![
                self.name("LSET"),
                self.list_key(),
                self.index_arg(),
                self.element(),
            ],
            47 | 48 => {
                let count = if self.rng.chance(80) {
                    self.rng.range(-3, 3).to_string().into_bytes()
                } else {
                    self.count_arg()
                };
                vec![self.name("LREM"), self.list_key(), count, self.element()]
            }
            49 => vec![
                self.name("LTRIM"),
                self.list_key(),
                self.index_arg(),
                self.index_arg(),
            ],
            50 | 51 => {
                let position = match self.rng.below(10) {
                    0 => self.bad_word(),
                    1..=4 => self.word("BEFORE"),
                    _ => self.word("AFTER"),
                };
                vec![
                    self.name("LINSERT"),
                    self.list_key(),
                    position,
                    self.element(),
                    self.element(),
                ]
            }
            52..=54 => self.lpos(),
            55 | 56 if self.rng.chance(40) => {
                if self.rng.chance(40) {
                    vec![self.name("RPOPLPUSH"), self.list_key(), self.list_key()]
                } else {
                    self.lmpop()
                }
            }
            55 | 56 => {
                let mut end = || match self.rng.below(10) {
                    0 => self.bad_word(),
                    1..=4 => self.word("LEFT"),
                    _ => self.word("RIGHT"),
                };
                let (from, to) = (end(), end());
                vec![
                    self.name("LMOVE"),
                    self.list_key(),
                    self.list_key(),
                    from,
                    to,
                ]
            }
            57..=59 => {
                let name = *self.rng.pick(&["DEL", "UNLINK", "EXISTS", "TOUCH"]);
                let mut command = vec![self.name(name)];
                for _ in 0..=self.rng.below(3) {
                    command.push(self.key());
                }
                command
            }
            60..=64 => self.expire(),
            65 => vec![self.name("PERSIST"), self.key()],
            66..=68 => {
                compare = Compare::TtlClass;
                let name = *self.rng.pick(&["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]);
                vec![self.name(name), self.key()]
            }
            69 | 70 => vec![self.name("TYPE"), self.key()],
            71 | 72 => {
                let name = if self.rng.chance(50) {
                    "RENAME"
                } else {
                    "RENAMENX"
                };
                vec![self.name(name), self.key(), self.key()]
            }
            73 | 74 => self.copy(),
            75 => {
                compare = Compare::Sorted;
                let pattern = *self.rng.pick(&[
                    "*", "a*", "?", "??", "*b*", "[ab]*", "[^l]*", "[!a]*", "[a-c]", "[c-a]",
                    "k:*", "\\{t}*", "{t}?", "*[", "[", "\\", "a\\", "*\\b", "[\\]]*", "[a-]*",
                ]);
                vec![self.name("KEYS"), pattern.as_bytes().to_vec()]
            }
            76 => {
                let name = *self.rng.pick(&["PING", "ECHO"]);
                let mut command = vec![self.name(name)];
                // ECHO takes one argument, PING at most one; more or fewer is an arity error.
                let count = match self.rng.below(10) {
                    0 => 0,
                    1 => 2,
                    _ => 1,
                };
                for _ in 0..count {
                    command.push(self.value());
                }
                command
            }
            77 => self.unknown_command(),
            78 | 79 => self.wrong_arity(),
            80..=84 => self.list_setup(),
            _ => self.string_setup(),
        };
        (command, compare)
    }

    /// `SET` with a random subset of its options, in random order, sometimes clashing,
    /// repeated, missing their argument or unknown.
    fn set(&mut self) -> Vec<Vec<u8>> {
        let mut command = vec![self.name("SET"), self.string_key(), self.value()];
        for _ in 0..self.rng.below(4) {
            match self.rng.below(16) {
                0 | 1 => command.push(self.word("NX")),
                2 | 3 => command.push(self.word("XX")),
                4 | 5 => command.push(self.word("GET")),
                6 => command.push(self.word("KEEPTTL")),
                7..=13 => {
                    let unit = *self.rng.pick(&["EX", "PX", "EXAT", "PXAT"]);
                    command.push(self.word(unit));
                    if self.rng.chance(95) {
                        command.push(self.expiry_arg(unit));
                    }
                }
                _ => command.push(self.bad_word()),
            }
        }
        command
    }

    fn getex(&mut self) -> Vec<Vec<u8>> {
        let mut command = vec![self.name("GETEX"), self.string_key()];
        for _ in 0..self.rng.below(3) {
            match self.rng.below(10) {
                0..=2 => command.push(self.word("PERSIST")),
                3..=8 => {
                    let unit = *self.rng.pick(&["EX", "PX", "EXAT", "PXAT"]);
                    command.push(self.word(unit));
                    if self.rng.chance(95) {
                        command.push(self.expiry_arg(unit));
                    }
                }
                _ => command.push(self.bad_word()),
            }
        }
        command
    }

    fn counter(&mut self) -> Vec<Vec<u8>> {
        let key = if self.rng.chance(60) {
            b"num".to_vec()
        } else {
            self.string_key()
        };
        match self.rng.below(6) {
            0 => vec![self.name("INCR"), key],
            1 => vec![self.name("DECR"), key],
            2 | 3 => {
                let name = if self.rng.chance(50) {
                    "INCRBY"
                } else {
                    "DECRBY"
                };
                let delta = match self.rng.below(8) {
                    0 => self.bad_integer(),
                    1 => self
                        .rng
                        .pick(&[
                            "9223372036854775807",
                            "-9223372036854775808",
                            "-9223372036854775807",
                        ])
                        .as_bytes()
                        .to_vec(),
                    _ => self.rng.range(-100, 100).to_string().into_bytes(),
                };
                vec![self.name(name), key, delta]
            }
            _ => {
                let delta = match self.rng.below(6) {
                    0 => self.rng.pick(&SPECIAL_VALUES).as_bytes().to_vec(),
                    1 => self.rng.range(-50, 50).to_string().into_bytes(),
                    _ => {
                        let whole = self.rng.range(-10, 10);
                        let fraction = self.rng.below(100);
                        format!("{whole}.{fraction:02}").into_bytes()
                    }
                };
                vec![self.name("INCRBYFLOAT"), key, delta]
            }
        }
    }

    fn push(&mut self) -> Vec<Vec<u8>> {
        let name = *self.rng.pick(&["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]);
        let key = self.list_key();
        let mut command = vec![self.name(name), key];
        for _ in 0..=self.rng.below(4) {
            command.push(self.element());
        }
        command
    }

    fn lpos(&mut self) -> Vec<Vec<u8>> {
        let mut command = vec![self.name("LPOS"), self.list_key(), self.element()];
        for _ in 0..self.rng.below(4) {
            match self.rng.below(10) {
                0..=2 => {
                    command.push(self.word("RANK"));
                    let rank = match self.rng.below(8) {
                        0 => self.bad_integer(),
                        1 => b"0".to_vec(),
                        2 => self
                            .rng
                            .pick(&["-9223372036854775808", "9223372036854775807"])
                            .as_bytes()
                            .to_vec(),
                        _ => self.rng.range(-3, 3).to_string().into_bytes(),
                    };
                    command.push(rank);
                }
                3..=5 => {
                    command.push(self.word("COUNT"));
                    command.push(self.count_arg());
                }
                6..=8 => {
                    command.push(self.word("MAXLEN"));
                    command.push(self.count_arg());
                }
                _ => command.push(self.bad_word()),
            }
        }
        command
    }

    fn expire(&mut self) -> Vec<Vec<u8>> {
        let (name, unit) = *self.rng.pick(&[
            ("EXPIRE", "EX"),
            ("PEXPIRE", "PX"),
            ("EXPIREAT", "EXAT"),
            ("PEXPIREAT", "PXAT"),
        ]);
        let amount = match self.rng.below(10) {
            0 => b"-1".to_vec(),
            1 => b"0".to_vec(),
            _ => self.expiry_arg(unit),
        };
        let mut command = vec![self.name(name), self.key(), amount];
        for _ in 0..self.rng.below(3) {
            let option = match self.rng.below(9) {
                0 => self.bad_word(),
                1 | 2 => self.word("NX"),
                3 | 4 => self.word("XX"),
                5 | 6 => self.word("GT"),
                _ => self.word("LT"),
            };
            command.push(option);
        }
        command
    }

    fn copy(&mut self) -> Vec<Vec<u8>> {
        let mut command = vec![self.name("COPY"), self.key(), self.key()];
        for _ in 0..self.rng.below(3) {
            match self.rng.below(6) {
                0..=2 => command.push(self.word("REPLACE")),
                3 | 4 => {
                    command.push(self.word("DB"));
                    // Not 1 to 15: Redis has sixteen databases and copies into them, we have
                    // one (SELECT 1 is refused too), a deliberate difference.
                    if self.rng.chance(90) {
                        let db = *self.rng.pick(&["0", "0", "-1", "16", "abc"]);
                        command.push(db.as_bytes().to_vec());
                    }
                }
                _ => command.push(self.bad_word()),
            }
        }
        command
    }

    /// An unknown command, with arguments of any bytes: Redis quotes them into its error
    /// byte for byte, and a NUL ends each quote, as in a C string.
    fn unknown_command(&mut self) -> Vec<Vec<u8>> {
        let name = *self
            .rng
            .pick(&["FOO", "GETT", "lpushh", "SET2", "HGETALL2"]);
        let mut command = vec![name.as_bytes().to_vec()];
        for _ in 0..self.rng.below(4) {
            command.push(self.value());
        }
        command
    }

    /// A command we implement with one argument too few or too many.
    fn wrong_arity(&mut self) -> Vec<Vec<u8>> {
        // (name, arity) as Redis declares them; negative: at least that many.
        let (name, arity): (&str, i64) = *self.rng.pick(&[
            ("GET", 2),
            ("SET", -3),
            ("GETEX", -2),
            ("GETDEL", 2),
            ("GETSET", 3),
            ("MGET", -2),
            ("MSET", -3),
            ("MSETNX", -3),
            ("SETNX", 3),
            ("SETEX", 4),
            ("PSETEX", 4),
            ("INCR", 2),
            ("INCRBY", 3),
            ("INCRBYFLOAT", 3),
            ("DECR", 2),
            ("DECRBY", 3),
            ("APPEND", 3),
            ("STRLEN", 2),
            ("GETRANGE", 4),
            ("SETRANGE", 4),
            ("LPUSH", -3),
            ("RPUSHX", -3),
            ("LPOP", -2),
            ("LLEN", 2),
            ("LINDEX", 3),
            ("LRANGE", 4),
            ("LSET", 4),
            ("LREM", 4),
            ("LTRIM", 4),
            ("LINSERT", 5),
            ("LPOS", -3),
            ("LMOVE", 5),
            ("DEL", -2),
            ("EXISTS", -2),
            ("EXPIRE", -3),
            ("PERSIST", 2),
            ("TTL", 2),
            ("TYPE", 2),
            ("RENAME", 3),
            ("RENAMENX", 3),
            ("COPY", -3),
            ("TOUCH", -2),
            ("KEYS", 2),
            ("ECHO", 2),
        ]);
        let minimum = arity.unsigned_abs();
        let count = if arity < 0 || self.rng.chance(50) {
            minimum - 1
        } else {
            minimum + 1
        };
        let mut command = vec![self.name(name)];
        for _ in 1..count {
            command.push(self.key());
        }
        command
    }

    /// Writes that leave a list behind, so list commands find lists often.
    fn list_setup(&mut self) -> Vec<Vec<u8>> {
        let mut command = vec![self.name("RPUSH"), self.list_key()];
        for _ in 0..=self.rng.below(6) {
            command.push(self.element());
        }
        command
    }

    /// Plain writes that leave strings behind, often numbers.
    fn string_setup(&mut self) -> Vec<Vec<u8>> {
        let value = if self.rng.chance(50) {
            self.rng.range(-100, 100).to_string().into_bytes()
        } else {
            self.value()
        };
        vec![self.name("SET"), self.string_key(), value]
    }
}

/// Sends `command` to both servers and returns both replies (Redis's first).
fn exchange(
    redis: &mut Connection,
    ours: &mut Connection,
    command: &[Vec<u8>],
) -> ((Reply, Vec<u8>), (Reply, Vec<u8>)) {
    // Both servers work on the command at once; the replies are read in turn.
    redis.send(command);
    ours.send(command);
    (redis.read(), ours.read())
}

/// Runs `count` commands of each seed against both servers and panics at the first reply
/// that differs. Returns, per command name, how many replies (Redis's) were not errors and
/// how many were.
fn run_streams(
    redis_port: u16,
    our_port: u16,
    engine: &str,
    seeds: &[u64],
    count: usize,
) -> BTreeMap<String, (usize, usize)> {
    run_streams_in(redis_port, our_port, engine, seeds, count, 2)
}

/// [`run_streams`] in RESP `resp` (3: both connections say `HELLO 3` first).
fn run_streams_in(
    redis_port: u16,
    our_port: u16,
    engine: &str,
    seeds: &[u64],
    count: usize,
    resp: u8,
) -> BTreeMap<String, (usize, usize)> {
    let base_seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut redis = Connection::open(redis_port);
    let mut ours = Connection::open(our_port);
    if resp == 3 {
        let hello = vec![b"HELLO".to_vec(), b"3".to_vec()];
        for connection in [&mut redis, &mut ours] {
            connection.send(&hello);
            let (_, raw) = connection.read();
            assert!(raw.starts_with(b"%7\r\n"), "HELLO 3: {}", show(&raw));
        }
    }
    // Per command name: replies that were not errors, and errors.
    let mut coverage: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for &seed in seeds {
        let flush = vec![b"FLUSHALL".to_vec()];
        let (a, b) = exchange(&mut redis, &mut ours, &flush);
        assert_eq!(
            (a.1.as_slice(), b.1.as_slice()),
            (&b"+OK\r\n"[..], &b"+OK\r\n"[..])
        );
        let mut generator = Generator::new(seed, base_seconds);
        let mut history: VecDeque<String> = VecDeque::new();
        for index in 0..count {
            let (command, compare) = generator.command();
            let (expected, got) = exchange(&mut redis, &mut ours, &command);
            if !agree(compare, &expected, &got) {
                let recent: Vec<&str> = history.iter().map(String::as_str).collect();
                panic!(
                    "engine {engine}, seed {seed}, command #{index}: replies differ\n  \
                     command:      {}\n  redis-server: {}\n  workingdb:    {}\n  \
                     compared:     {compare:?}\n  the commands before it:\n    {}",
                    show_command(&command),
                    show_prefix(&expected.1, 4096),
                    show_prefix(&got.1, 4096),
                    recent.join("\n    "),
                );
            }
            let name = String::from_utf8_lossy(&command[0]).to_ascii_uppercase();
            let tally = coverage.entry(name).or_default();
            if matches!(expected.0, Reply::Error(_)) {
                tally.1 += 1;
            } else {
                tally.0 += 1;
            }
            if history.len() == HISTORY_SHOWN {
                history.pop_front();
            }
            history.push_back(format!(
                "#{index} {}  ->  {}",
                show_command(&command),
                show_prefix(&expected.1, 200)
            ));
        }
    }
    coverage
}

/// Sends `cases` in order to both servers (after a `FLUSHALL`) and panics at the first reply
/// that differs.
fn run_cases(redis_port: u16, our_port: u16, cases: &[(Vec<Vec<u8>>, Compare)]) {
    let mut redis = Connection::open(redis_port);
    let mut ours = Connection::open(our_port);
    let flush = vec![b"FLUSHALL".to_vec()];
    let (a, b) = exchange(&mut redis, &mut ours, &flush);
    assert_eq!(a.1, b.1);
    for (index, (command, compare)) in cases.iter().enumerate() {
        let (expected, got) = exchange(&mut redis, &mut ours, command);
        assert!(
            agree(*compare, &expected, &got),
            "case #{index}: replies differ\n  command:      {}\n  redis-server: {}\n  \
             workingdb:    {}",
            show_command(command),
            show_prefix(&expected.1, 4096),
            show_prefix(&got.1, 4096),
        );
    }
}

/// A command from text arguments, with its reply compared byte for byte.
fn exact(args: &[&str]) -> (Vec<Vec<u8>>, Compare) {
    let command = args.iter().map(|arg| arg.as_bytes().to_vec()).collect();
    (command, Compare::Exact)
}

/// Every command the generator sends, each of which must have been answered without an error
/// at least once, or the streams would not be testing it.
const GENERATED_COMMANDS: [&str; 58] = [
    "SET",
    "GET",
    "GETEX",
    "GETDEL",
    "GETSET",
    "MGET",
    "MSET",
    "MSETNX",
    "SETNX",
    "SETEX",
    "PSETEX",
    "INCR",
    "DECR",
    "INCRBY",
    "DECRBY",
    "INCRBYFLOAT",
    "APPEND",
    "STRLEN",
    "GETRANGE",
    "SUBSTR",
    "SETRANGE",
    "LPUSH",
    "RPUSH",
    "LPUSHX",
    "RPUSHX",
    "LPOP",
    "RPOP",
    "LLEN",
    "LINDEX",
    "LRANGE",
    "LSET",
    "LREM",
    "LTRIM",
    "LINSERT",
    "LPOS",
    "LMOVE",
    "RPOPLPUSH",
    "LMPOP",
    "DEL",
    "UNLINK",
    "EXISTS",
    "TOUCH",
    "EXPIRE",
    "PEXPIRE",
    "EXPIREAT",
    "PEXPIREAT",
    "PERSIST",
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "TYPE",
    "RENAME",
    "RENAMENX",
    "COPY",
    "KEYS",
    "PING",
    "ECHO",
];

#[test]
fn lockfree_answers_like_redis() {
    let redis = RedisServer::start();
    let ours = Server::start("lockfree", &[]);
    let coverage = run_streams(redis.port, ours.port, "lockfree", &SEEDS, COMMANDS_PER_SEED);
    // The streams must exercise every command, not only its error paths.
    for name in GENERATED_COMMANDS {
        let (answered, _) = coverage.get(name).copied().unwrap_or_default();
        assert!(
            answered > 0,
            "{name} was never answered without an error: {coverage:?}"
        );
    }
    let (answered, errors) = coverage
        .values()
        .fold((0, 0), |(a, e), (answered, errors)| {
            (a + answered, e + errors)
        });
    assert!(
        answered > errors,
        "most replies were errors ({errors} of {}): {coverage:?}",
        answered + errors
    );
}

/// The same streams (fewer seeds) in RESP3: every reply byte for byte as redis-server's
/// after `HELLO 3` on both connections.
#[test]
fn lockfree_answers_like_redis_in_resp3() {
    let redis = RedisServer::start();
    let ours = Server::start("lockfree", &[]);
    run_streams_in(
        redis.port,
        ours.port,
        "lockfree (RESP3)",
        &SEEDS[..4],
        COMMANDS_PER_SEED,
        3,
    );
}

#[test]
fn other_engines_answer_like_redis() {
    let redis = RedisServer::start();
    for engine in ["sharded", "dashmap", "flurry"] {
        let ours = Server::start(engine, &[]);
        run_streams(
            redis.port,
            ours.port,
            engine,
            &SHORT_SEEDS,
            SHORT_COMMANDS_PER_SEED,
        );
    }
}

/// Hand-picked cases the random streams reach rarely or never: `INCRBYFLOAT`'s `long double`
/// arithmetic at its edges (rounding ties, carries, subnormals, overflow, every spelling
/// `strtold` accepts), expiry times at the end of the 64-bit range, and the orders in which
/// Redis checks its arguments.
#[test]
fn edge_cases_answer_like_redis() {
    let redis = RedisServer::start();
    let ours = Server::start("lockfree", &[]);
    let mut cases: Vec<(Vec<Vec<u8>>, Compare)> = Vec::new();
    // INCRBYFLOAT: each stored value, then each increment onto a fresh copy of it.
    let stored = [
        "0",
        "-0",
        "0.1",
        "10.50",
        "0.000003814697265625",
        "9223372036854775807",
        "18446744073709551615",
        "18446744073709551617",
        "36893488147419103231",
        "3.14159265358979323846264338327950288419716939937510",
        "1e4931",
        "1.18973149535723176502e4932",
        "1.18973149535723176508e4932",
        "1e4933",
        "1e-4940",
        "1e-4951",
        "1e-5000",
        "-1e-4000",
        "123456789012345678901234567890",
        "0x1p-16445",
        "0x1.fffffffffffffffep16383",
        "inf",
        "-Infinity",
        "nan",
        "1e",
        ".",
        "+.5",
        " 1",
        "1 ",
        "",
    ];
    let increments = [
        "0",
        "-0",
        "0.2",
        "1",
        "-1",
        "1.5e-17",
        "-0.0000000000000000001",
        "0.000000000000000005",
        "0.000000000000000015",
        "1e4931",
        "-1e4931",
        "1e-4940",
        "0x1p-3",
        "0X1.8P1",
        "0x.8",
        "0x10",
        "0x",
        "0x1p",
        "-.5e1",
        "5E-1",
        "1e+2",
        "INF",
        "-inf",
        "NaN",
        "nan(1)",
        "1e-5000",
        "\t1",
        "abc",
    ];
    for value in stored {
        for increment in increments {
            cases.push(exact(&["SET", "f", value]));
            cases.push(exact(&["INCRBYFLOAT", "f", increment]));
            cases.push(exact(&["GET", "f"]));
        }
    }
    // Long texts: Redis's buffer holds 5119 characters.
    let long_digits = |count: usize| format!("0.{}1", "0".repeat(count));
    for text in [
        long_digits(4000),
        long_digits(5000),
        long_digits(5116),
        long_digits(5117),
        "1".repeat(5119),
        "1".repeat(5120),
    ] {
        cases.push(exact(&["SET", "f", "1"]));
        cases.push(exact(&["INCRBYFLOAT", "f", &text]));
        cases.push(exact(&["SET", "f", &text]));
        cases.push(exact(&["INCRBYFLOAT", "f", "0"]));
    }
    // A chain of increments, each rounded by both.
    cases.push(exact(&["DEL", "f"]));
    for increment in ["0.1", "0.2", "0.3", "1e-17", "-0.6", "1e17", "0.5", "-1e17"] {
        cases.push(exact(&["INCRBYFLOAT", "f", increment]));
    }
    // The order of checks: the type before the increment, the stored value before it.
    cases.push(exact(&["RPUSH", "l", "x"]));
    cases.push(exact(&["INCRBYFLOAT", "l", "abc"]));
    cases.push(exact(&["SET", "s", "abc"]));
    cases.push(exact(&["INCRBYFLOAT", "s", "abc"]));
    cases.push(exact(&["INCRBYFLOAT", "s", "inf"]));
    // Expiry times at the end of the range: the rounding of seconds must not overflow.
    for at in [
        "9223372036854775807",
        "9223372036854775000",
        "9223372036854775499",
    ] {
        cases.push(exact(&["SET", "t", "v"]));
        cases.push(exact(&["PEXPIREAT", "t", at]));
        for read in ["EXPIRETIME", "PEXPIRETIME"] {
            cases.push(exact(&[read, "t"]));
        }
        cases.push((exact(&["TTL", "t"]).0, Compare::TtlClass));
    }
    cases.push(exact(&["SET", "t", "v", "EXAT", "9223372036854775"]));
    cases.push(exact(&["EXPIRETIME", "t"]));
    cases.push(exact(&["EXPIREAT", "t", "9223372036854776"]));
    cases.push(exact(&["PEXPIRE", "t", "9223372036854775807"]));
    // LPOS RANK at i64::MIN (see the server's comment), with and without COUNT and MAXLEN.
    cases.push(exact(&["RPUSH", "p", "x", "y", "x", "z", "x"]));
    for options in [
        &[][..],
        &["COUNT", "0"],
        &["COUNT", "1"],
        &["COUNT", "2", "MAXLEN", "3"],
    ] {
        let mut args = vec!["LPOS", "p", "x", "RANK", "-9223372036854775808"];
        args.extend_from_slice(options);
        cases.push(exact(&args));
    }
    cases.push(exact(&["LPOS", "p", "x", "RANK", "9223372036854775807"]));
    cases.push(exact(&[
        "LPOS",
        "p",
        "x",
        "RANK",
        "-9223372036854775807",
        "COUNT",
        "0",
    ]));
    cases.push(exact(&["LPOS", "s", "x", "RANK", "-9223372036854775808"]));
    // The key before the index or the expiry.
    for args in [
        &["LINDEX", "missing", "abc"][..],
        &["LINDEX", "s", "abc"],
        &["LINDEX", "p", "abc"],
        &["LSET", "missing", "abc", "x"],
        &["LSET", "s", "abc", "x"],
        &["LSET", "p", "abc", "x"],
        &["GETEX", "missing", "PX", "-5"],
        &["GETEX", "p", "PX", "-5"],
        &["GETEX", "s", "PX", "-5"],
        &["GETEX", "s", "EX", "abc"],
        &["SETRANGE", "p", "536870912", "x"],
        &["SETRANGE", "missing", "536870912", ""],
        &["SETRANGE", "s", "536870912", ""],
        &["SETRANGE", "s", "9223372036854775807", "x"],
        &["COPY", "missing", "missing"],
        &["COPY", "s", "s", "REPLACE"],
        &["COPY", "s", "s", "DB", "abc"],
    ] {
        cases.push(exact(args));
    }
    // SET's and GETEX's options: repeated units (the last wins), clashes, missing arguments.
    for args in [
        &["SET", "o", "v", "EX", "100", "EX", "200"][..],
        &["SET", "o", "v", "PX", "0", "PX", "100000"],
        &["SET", "o", "v", "PX", "100000", "PX", "0"],
        &["SET", "o", "v", "EX", "100", "PX", "100000"],
        &["SET", "o", "v", "EXAT", "1", "EXAT", "9999999999"],
        &["SET", "o", "v", "KEEPTTL", "EX", "100"],
        &["SET", "o", "v", "EX", "100", "KEEPTTL"],
        &["SET", "o", "v", "NX", "NX", "GET", "GET"],
        &["SET", "o", "v", "NX", "XX"],
        &["SET", "o", "v", "EX"],
        &["SET", "o", "v", "PERSIST"],
        &["GETEX", "o", "PERSIST", "PERSIST"],
        &["GETEX", "o", "EX", "100", "EX", "200"],
        &["GETEX", "o", "PERSIST", "EX", "100"],
        &["GETEX", "o", "KEEPTTL"],
        &["GETEX", "o", "NX"],
        // LMPOP's argument checks in Redis's order, then what it pops, and RPOPLPUSH.
        &["RPUSH", "m1", "a", "b", "c"],
        &["RPUSH", "m2", "x"],
        &["SET", "ms", "v"],
        &["LMPOP", "0", "m1", "LEFT"],
        &["LMPOP", "-1", "m1", "LEFT"],
        &["LMPOP", "x", "m1", "LEFT"],
        &["LMPOP", "3", "m1", "LEFT"],
        &["LMPOP", "2", "m1", "LEFT"],
        &["LMPOP", "1", "m1", "UP"],
        &["LMPOP", "1", "m1", "LEFT", "COUNT"],
        &["LMPOP", "1", "m1", "LEFT", "COUNT", "0"],
        &["LMPOP", "1", "m1", "LEFT", "COUNT", "x"],
        &["LMPOP", "1", "m1", "LEFT", "COUNT", "1", "COUNT", "1"],
        &["LMPOP", "1", "m1", "LEFT", "EXTRA"],
        &["LMPOP", "2", "none", "m1", "RIGHT", "COUNT", "2"],
        &["LMPOP", "2", "none", "ms", "LEFT"],
        &["LMPOP", "2", "m2", "ms", "left", "count", "10"],
        &["LMPOP", "2", "none", "m2", "LEFT"],
        &["LMPOP", "1", "none", "LEFT"],
        &["EXISTS", "m2"],
        &["RPOPLPUSH", "m1", "m3"],
        &["RPOPLPUSH", "m1", "m3"],
        &["RPOPLPUSH", "m3", "m3"],
        &["LRANGE", "m3", "0", "-1"],
        &["RPOPLPUSH", "ms", "m3"],
        &["RPOPLPUSH", "m3", "ms"],
        &["RPOPLPUSH", "none", "m3"],
        &["COMMAND", "GETKEYS", "LMPOP", "2", "a", "b", "LEFT"],
        &["COMMAND", "GETKEYS", "LMPOP", "0", "a", "LEFT"],
    ] {
        cases.push(exact(args));
    }
    run_cases(redis.port, ours.port, &cases);
}

/// Redis quotes an unknown command's arguments into its error byte for byte, up to a NUL.
#[test]
fn unknown_command_with_binary_arguments() {
    let redis = RedisServer::start();
    let ours = Server::start("lockfree", &[]);
    let cases = [
        vec![b"FOO".to_vec(), b"\xb9\xce\xea".to_vec(), b"x".to_vec()],
        vec![b"FOO".to_vec(), b"a\x00b".to_vec(), b"c".to_vec()],
        vec![b"F\x00OO".to_vec(), b"a".to_vec()],
    ];
    let cases: Vec<_> = cases
        .into_iter()
        .map(|command| (command, Compare::Exact))
        .collect();
    run_cases(redis.port, ours.port, &cases);
}
