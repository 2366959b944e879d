//! The string commands' docs (see the [module docs](super)).

use super::{block, double, integer, key, one_of, pure_token, string, unix_time, Docs, Group};

/// `GET`.
pub const GET: Docs = Docs::new(
    Group::String,
    "1.0.0",
    "Returns the string stored at a key, or nil when the key is missing.",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `SET`.
pub const SET: Docs = Docs::new(
    Group::String,
    "1.0.0",
    "Stores a string under a key, optionally only if it exists or not, with an expiry, or \
    returning the old value.",
    "O(1)",
)
.history(&[
    ("2.6.12", "The EX, PX, NX and XX options appeared."),
    ("6.0.0", "The KEEPTTL option appeared."),
    ("6.2.0", "The GET, EXAT and PXAT options appeared."),
    ("7.0.0", "NX may now be combined with GET."),
])
.arguments(&[
    key("key", 0),
    string("value"),
    one_of(
        "condition",
        &[pure_token("nx", "NX"), pure_token("xx", "XX")],
    )
    .since("2.6.12")
    .optional(),
    pure_token("get", "GET").since("6.2.0").optional(),
    one_of(
        "expiration",
        &[
            integer("seconds").token("EX").since("2.6.12"),
            integer("milliseconds").token("PX").since("2.6.12"),
            unix_time("unix-time-seconds").token("EXAT").since("6.2.0"),
            unix_time("unix-time-milliseconds")
                .token("PXAT")
                .since("6.2.0"),
            pure_token("keepttl", "KEEPTTL").since("6.0.0"),
        ],
    )
    .optional(),
]);

/// `GETEX`.
pub const GETEX: Docs = Docs::new(
    Group::String,
    "6.2.0",
    "Returns a key's string and changes or removes its expiry at the same time.",
    "O(1)",
)
.arguments(&[
    key("key", 0),
    one_of(
        "expiration",
        &[
            integer("seconds").token("EX"),
            integer("milliseconds").token("PX"),
            unix_time("unix-time-seconds").token("EXAT"),
            unix_time("unix-time-milliseconds").token("PXAT"),
            pure_token("persist", "PERSIST"),
        ],
    )
    .optional(),
]);

/// `GETDEL`.
pub const GETDEL: Docs = Docs::new(
    Group::String,
    "6.2.0",
    "Returns a key's string and removes the key.",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `GETSET`.
pub const GETSET: Docs = Docs::new(
    Group::String,
    "1.0.0",
    "Stores a new string under a key and returns the one it replaced.",
    "O(1)",
)
.deprecated("6.2.0", "`SET` with the `!GET` argument")
.arguments(&[key("key", 0), string("value")]);

/// `MGET`.
pub const MGET: Docs = Docs::new(
    Group::String,
    "1.0.0",
    "Returns the strings stored at several keys, nil for each missing one.",
    "O(N), N being the number of keys asked for.",
)
.arguments(&[key("key", 0).multiple()]);

/// `MSET`.
pub const MSET: Docs = Docs::new(
    Group::String,
    "1.0.1",
    "Stores several key-value pairs at once, replacing what was there.",
    "O(N), N being the number of keys written.",
)
.arguments(&[block("key_value", &[key("key", 0), string("value")]).multiple()]);

/// `MSETNX`.
pub const MSETNX: Docs = Docs::new(
    Group::String,
    "1.0.1",
    "Stores several key-value pairs at once, but only when none of the keys exists yet.",
    "O(N), N being the number of keys written.",
)
.arguments(&[block("key_value", &[key("key", 0), string("value")]).multiple()]);

/// `SETNX`.
pub const SETNX: Docs = Docs::new(
    Group::String,
    "1.0.0",
    "Stores a string under a key only when the key does not exist yet.",
    "O(1)",
)
.arguments(&[key("key", 0), string("value")]);

/// `SETEX`.
pub const SETEX: Docs = Docs::new(
    Group::String,
    "2.0.0",
    "Stores a string under a key with an expiry in seconds.",
    "O(1)",
)
.arguments(&[key("key", 0), integer("seconds"), string("value")]);

/// `PSETEX`.
pub const PSETEX: Docs = Docs::new(
    Group::String,
    "2.6.0",
    "Stores a string under a key with an expiry in milliseconds.",
    "O(1)",
)
.arguments(&[key("key", 0), integer("milliseconds"), string("value")]);

/// `INCR`.
pub const INCR: Docs = Docs::new(
    Group::String,
    "1.0.0",
    "Adds one to the integer stored at a key, starting from 0 when the key is missing.",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `INCRBY`.
pub const INCRBY: Docs = Docs::new(
    Group::String,
    "1.0.0",
    "Adds a whole number to the integer stored at a key, starting from 0 when the key is missing.",
    "O(1)",
)
.arguments(&[key("key", 0), integer("increment")]);

/// `INCRBYFLOAT`.
pub const INCRBYFLOAT: Docs = Docs::new(
    Group::String,
    "2.6.0",
    "Adds a decimal number to the number stored at a key, starting from 0 when the key is \
    missing.",
    "O(1)",
)
.arguments(&[key("key", 0), double("increment")]);

/// `DECR`.
pub const DECR: Docs = Docs::new(
    Group::String,
    "1.0.0",
    "Subtracts one from the integer stored at a key, starting from 0 when the key is missing.",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `DECRBY`.
pub const DECRBY: Docs = Docs::new(
    Group::String,
    "1.0.0",
    "Subtracts a whole number from the integer stored at a key, starting from 0 when the key is \
    missing.",
    "O(1)",
)
.arguments(&[key("key", 0), integer("decrement")]);

/// `APPEND`.
pub const APPEND: Docs = Docs::new(
    Group::String,
    "2.0.0",
    "Adds bytes to the end of a key's string, creating it when missing, and returns the new \
    length.",
    "O(1) amortised: the string grows geometrically, so each append copies only the appended \
    bytes on average.",
)
.arguments(&[key("key", 0), string("value")]);

/// `STRLEN`.
pub const STRLEN: Docs = Docs::new(
    Group::String,
    "2.2.0",
    "Returns the length in bytes of the string stored at a key.",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `GETRANGE`.
pub const GETRANGE: Docs = Docs::new(
    Group::String,
    "2.4.0",
    "Returns the bytes of a key's string between two offsets (negative ones count from the end).",
    "O(N), N being the length of the part returned; short slices are effectively O(1).",
)
.arguments(&[key("key", 0), integer("start"), integer("end")]);

/// `SUBSTR`.
pub const SUBSTR: Docs = Docs::new(
    Group::String,
    "1.0.0",
    "Returns the bytes of a key's string between two offsets: the old name of GETRANGE.",
    "O(N), N being the length of the part returned; short slices are effectively O(1).",
)
.deprecated("2.0.0", "`GETRANGE`")
.arguments(&[key("key", 0), integer("start"), integer("end")]);

/// `SETRANGE`.
pub const SETRANGE: Docs = Docs::new(
    Group::String,
    "2.2.0",
    "Overwrites part of a key's string from an offset, padding with zero bytes when the string is \
    shorter, and returns the new length.",
    "O(1) plus the copy of the new bytes, so O(M) for M bytes written; with short values that is \
    O(1).",
)
.arguments(&[key("key", 0), integer("offset"), string("value")]);
