//! The generic key commands' docs (see the [module docs](super)).

use super::{integer, key, one_of, pattern, pure_token, string, unix_time, Docs, Group};

/// `DEL`.
pub const DEL: Docs = Docs::new(
    Group::Generic,
    "1.0.0",
    "Removes keys and returns how many existed.",
    "O(N) for N keys, plus O(M) for a key holding a collection of M elements; a string key is \
    O(1).",
)
.arguments(&[key("key", 0).multiple()]);

/// `UNLINK`.
pub const UNLINK: Docs = Docs::new(
    Group::Generic,
    "4.0.0",
    "Removes keys like DEL, leaving the freeing of large values to later work.",
    "O(1) per key on the calling path; the memory is reclaimed afterwards in O(N) for N \
    allocations.",
)
.arguments(&[key("key", 0).multiple()]);

/// `EXISTS`.
pub const EXISTS: Docs = Docs::new(
    Group::Generic,
    "1.0.0",
    "Counts how many of the given keys exist (a key named twice counts twice).",
    "O(N), N being the number of keys given.",
)
.history(&[("3.0.3", "Several keys may be given at once.")])
.arguments(&[key("key", 0).multiple()]);

/// `TOUCH`.
pub const TOUCH: Docs = Docs::new(
    Group::Generic,
    "3.2.1",
    "Marks keys as accessed and returns how many exist.",
    "O(N), N being the number of keys given.",
)
.arguments(&[key("key", 0).multiple()]);

/// `EXPIRE`.
pub const EXPIRE: Docs = Docs::new(
    Group::Generic,
    "1.0.0",
    "Sets a key's time to live in seconds, optionally only under a condition on the current \
    expiry.",
    "O(1)",
)
.history(&[("7.0.0", "The NX, XX, GT and LT conditions appeared.")])
.arguments(&[
    key("key", 0),
    integer("seconds"),
    one_of(
        "condition",
        &[
            pure_token("nx", "NX"),
            pure_token("xx", "XX"),
            pure_token("gt", "GT"),
            pure_token("lt", "LT"),
        ],
    )
    .since("7.0.0")
    .optional(),
]);

/// `PEXPIRE`.
pub const PEXPIRE: Docs = Docs::new(
    Group::Generic,
    "2.6.0",
    "Sets a key's time to live in milliseconds, optionally only under a condition on the current \
    expiry.",
    "O(1)",
)
.history(&[("7.0.0", "The NX, XX, GT and LT conditions appeared.")])
.arguments(&[
    key("key", 0),
    integer("milliseconds"),
    one_of(
        "condition",
        &[
            pure_token("nx", "NX"),
            pure_token("xx", "XX"),
            pure_token("gt", "GT"),
            pure_token("lt", "LT"),
        ],
    )
    .since("7.0.0")
    .optional(),
]);

/// `EXPIREAT`.
pub const EXPIREAT: Docs = Docs::new(
    Group::Generic,
    "1.2.0",
    "Makes a key expire at a Unix time in seconds, optionally only under a condition on the \
    current expiry.",
    "O(1)",
)
.history(&[("7.0.0", "The NX, XX, GT and LT conditions appeared.")])
.arguments(&[
    key("key", 0),
    unix_time("unix-time-seconds"),
    one_of(
        "condition",
        &[
            pure_token("nx", "NX"),
            pure_token("xx", "XX"),
            pure_token("gt", "GT"),
            pure_token("lt", "LT"),
        ],
    )
    .since("7.0.0")
    .optional(),
]);

/// `PEXPIREAT`.
pub const PEXPIREAT: Docs = Docs::new(
    Group::Generic,
    "2.6.0",
    "Makes a key expire at a Unix time in milliseconds, optionally only under a condition on the \
    current expiry.",
    "O(1)",
)
.history(&[("7.0.0", "The NX, XX, GT and LT conditions appeared.")])
.arguments(&[
    key("key", 0),
    unix_time("unix-time-milliseconds"),
    one_of(
        "condition",
        &[
            pure_token("nx", "NX"),
            pure_token("xx", "XX"),
            pure_token("gt", "GT"),
            pure_token("lt", "LT"),
        ],
    )
    .since("7.0.0")
    .optional(),
]);

/// `TTL`.
pub const TTL: Docs = Docs::new(
    Group::Generic,
    "1.0.0",
    "Returns a key's remaining time to live in seconds (-1: no expiry, -2: no key).",
    "O(1)",
)
.history(&[("2.8.0", "A missing key answers -2 instead of -1.")])
.arguments(&[key("key", 0)]);

/// `PTTL`.
pub const PTTL: Docs = Docs::new(
    Group::Generic,
    "2.6.0",
    "Returns a key's remaining time to live in milliseconds (-1: no expiry, -2: no key).",
    "O(1)",
)
.history(&[("2.8.0", "A missing key answers -2 instead of -1.")])
.arguments(&[key("key", 0)]);

/// `EXPIRETIME`.
pub const EXPIRETIME: Docs = Docs::new(
    Group::Generic,
    "7.0.0",
    "Returns the Unix time in seconds at which a key expires (-1: no expiry, -2: no key).",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `PEXPIRETIME`.
pub const PEXPIRETIME: Docs = Docs::new(
    Group::Generic,
    "7.0.0",
    "Returns the Unix time in milliseconds at which a key expires (-1: no expiry, -2: no key).",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `PERSIST`.
pub const PERSIST: Docs = Docs::new(
    Group::Generic,
    "2.2.0",
    "Removes a key's expiry so that it lives until deleted.",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `KEYS`.
pub const KEYS: Docs = Docs::new(
    Group::Generic,
    "1.0.0",
    "Returns every key whose name matches a glob pattern.",
    "O(N), N being the number of keys in the database (names and pattern assumed short).",
)
.arguments(&[pattern("pattern")]);

/// `SCAN`.
pub const SCAN: Docs = Docs::new(
    Group::Generic,
    "2.8.0",
    "Walks the keys of the database a batch at a time from a cursor, optionally filtered by \
    pattern and type.",
    "O(1) per call; O(N) over the calls of a full walk back to cursor 0, N being the number of \
    keys.",
)
.history(&[("6.0.0", "The TYPE filter appeared.")])
.arguments(&[
    integer("cursor"),
    pattern("pattern").token("MATCH").optional(),
    integer("count").token("COUNT").optional(),
    string("type").token("TYPE").since("6.0.0").optional(),
]);

/// `TYPE`.
pub const TYPE: Docs = Docs::new(
    Group::Generic,
    "1.0.0",
    "Returns the type of the value stored at a key, or none.",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `OBJECT`.
pub const OBJECT: Docs = Docs::new(
    Group::Generic,
    "2.2.3",
    "Looks at how a key's value is stored.",
    "Depends on the subcommand.",
);

/// `OBJECT ENCODING`.
pub const OBJECT_ENCODING: Docs = Docs::new(
    Group::Generic,
    "2.2.3",
    "Names the representation of a key's value.",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `OBJECT REFCOUNT`.
pub const OBJECT_REFCOUNT: Docs = Docs::new(
    Group::Generic,
    "2.2.3",
    "Counts the references to a key's value.",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `OBJECT HELP`.
pub const OBJECT_HELP: Docs = Docs::new(
    Group::Generic,
    "6.2.0",
    "Lists the OBJECT subcommands.",
    "O(1)",
);

/// `RENAME`.
pub const RENAME: Docs = Docs::new(
    Group::Generic,
    "1.0.0",
    "Gives a key a new name, replacing any key that had it.",
    "O(1)",
)
.arguments(&[key("key", 0), key("newkey", 1)]);

/// `RENAMENX`.
pub const RENAMENX: Docs = Docs::new(
    Group::Generic,
    "1.0.0",
    "Gives a key a new name only when no key has that name yet.",
    "O(1)",
)
.history(&[(
    "3.2.0",
    "Renaming a key to its own name is no longer an error.",
)])
.arguments(&[key("key", 0), key("newkey", 1)]);

/// `RANDOMKEY`.
pub const RANDOMKEY: Docs = Docs::new(
    Group::Generic,
    "1.0.0",
    "Returns the name of a key picked at random, or nil in an empty database.",
    "O(1)",
);

/// `MOVE`.
pub const MOVE: Docs = Docs::new(
    Group::Generic,
    "1.0.0",
    "Moves a key from the selected database to another one, unless the target already has it.",
    "O(1)",
)
.arguments(&[key("key", 0), integer("db")]);

/// `COPY`.
pub const COPY: Docs = Docs::new(
    Group::Generic,
    "6.2.0",
    "Copies a key's value to another key, optionally in another database and replacing what is \
    there.",
    "O(N) for a collection of N elements, O(1) for a string.",
)
.arguments(&[
    key("source", 0),
    key("destination", 1),
    integer("destination-db").token("DB").optional(),
    pure_token("replace", "REPLACE").optional(),
]);
