//! The list commands' docs (see the [module docs](super)).

use super::{integer, key, one_of, pure_token, string, Docs, Group};

/// `LPUSH`.
pub const LPUSH: Docs = Docs::new(
    Group::List,
    "1.0.0",
    "Adds elements at the head of a list, creating it when missing, and returns its new length.",
    "O(1) per element added: O(N) for N elements.",
)
.history(&[("2.4.0", "Several elements may be given at once.")])
.arguments(&[key("key", 0), string("element").multiple()]);

/// `RPUSH`.
pub const RPUSH: Docs = Docs::new(
    Group::List,
    "1.0.0",
    "Adds elements at the tail of a list, creating it when missing, and returns its new length.",
    "O(1) per element added: O(N) for N elements.",
)
.history(&[("2.4.0", "Several elements may be given at once.")])
.arguments(&[key("key", 0), string("element").multiple()]);

/// `LPUSHX`.
pub const LPUSHX: Docs = Docs::new(
    Group::List,
    "2.2.0",
    "Adds elements at the head of a list, only when the list already exists.",
    "O(1) per element added: O(N) for N elements.",
)
.history(&[("4.0.0", "Several elements may be given at once.")])
.arguments(&[key("key", 0), string("element").multiple()]);

/// `RPUSHX`.
pub const RPUSHX: Docs = Docs::new(
    Group::List,
    "2.2.0",
    "Adds elements at the tail of a list, only when the list already exists.",
    "O(1) per element added: O(N) for N elements.",
)
.history(&[("4.0.0", "Several elements may be given at once.")])
.arguments(&[key("key", 0), string("element").multiple()]);

/// `LPOP`.
pub const LPOP: Docs = Docs::new(
    Group::List,
    "1.0.0",
    "Removes and returns the first element of a list, or the first few.",
    "O(N), N being the number of elements popped.",
)
.history(&[("6.2.0", "The count argument appeared.")])
.arguments(&[key("key", 0), integer("count").since("6.2.0").optional()]);

/// `RPOP`.
pub const RPOP: Docs = Docs::new(
    Group::List,
    "1.0.0",
    "Removes and returns the last element of a list, or the last few.",
    "O(N), N being the number of elements popped.",
)
.history(&[("6.2.0", "The count argument appeared.")])
.arguments(&[key("key", 0), integer("count").since("6.2.0").optional()]);

/// `LLEN`.
pub const LLEN: Docs = Docs::new(
    Group::List,
    "1.0.0",
    "Returns the number of elements in a list.",
    "O(1)",
)
.arguments(&[key("key", 0)]);

/// `LINDEX`.
pub const LINDEX: Docs = Docs::new(
    Group::List,
    "1.0.0",
    "Returns the element at a position of a list (negative positions count from the tail).",
    "O(N), N being the number of elements walked to reach the position; the first and last \
    elements are O(1).",
)
.arguments(&[key("key", 0), integer("index")]);

/// `LRANGE`.
pub const LRANGE: Docs = Docs::new(
    Group::List,
    "1.0.0",
    "Returns the elements of a list between two positions, both included.",
    "O(S+N): S to walk from the nearer end to the start position, N for the elements returned.",
)
.arguments(&[key("key", 0), integer("start"), integer("stop")]);

/// `LSET`.
pub const LSET: Docs = Docs::new(
    Group::List,
    "1.0.0",
    "Replaces the element at a position of a list.",
    "O(N), N being the list's length; the first and last elements are O(1).",
)
.arguments(&[key("key", 0), integer("index"), string("element")]);

/// `LREM`.
pub const LREM: Docs = Docs::new(
    Group::List,
    "1.0.0",
    "Removes elements equal to a value from a list: the first count from the head, the last from \
    the tail, or all of them.",
    "O(N+M), N being the list's length and M the number of elements removed.",
)
.arguments(&[key("key", 0), integer("count"), string("element")]);

/// `LTRIM`.
pub const LTRIM: Docs = Docs::new(
    Group::List,
    "1.0.0",
    "Keeps only the elements of a list between two positions and drops the rest.",
    "O(N), N being the number of elements dropped.",
)
.arguments(&[key("key", 0), integer("start"), integer("stop")]);

/// `LINSERT`.
pub const LINSERT: Docs = Docs::new(
    Group::List,
    "2.2.0",
    "Inserts an element just before or just after the first element equal to a pivot.",
    "O(N), N being the number of elements walked to find the pivot: cheap near the head, linear \
    near the tail.",
)
.arguments(&[
    key("key", 0),
    one_of(
        "where",
        &[pure_token("before", "BEFORE"), pure_token("after", "AFTER")],
    ),
    string("pivot"),
    string("element"),
]);

/// `LPOS`.
pub const LPOS: Docs = Docs::new(
    Group::List,
    "6.0.6",
    "Returns the positions of the elements of a list that equal a value, with options for which \
    match, how many and how far to look.",
    "O(N) for N elements on average; constant when the matches sit near the end searched from or \
    MAXLEN bounds the search.",
)
.arguments(&[
    key("key", 0),
    string("element"),
    integer("rank").token("RANK").optional(),
    integer("num-matches").token("COUNT").optional(),
    integer("len").token("MAXLEN").optional(),
]);

/// `LMOVE`.
pub const LMOVE: Docs = Docs::new(
    Group::List,
    "6.2.0",
    "Pops an element from one end of a list and pushes it onto one end of another (or the same) \
    list, returning it.",
    "O(1)",
)
.arguments(&[
    key("source", 0),
    key("destination", 1),
    one_of(
        "wherefrom",
        &[pure_token("left", "LEFT"), pure_token("right", "RIGHT")],
    ),
    one_of(
        "whereto",
        &[pure_token("left", "LEFT"), pure_token("right", "RIGHT")],
    ),
]);

/// `RPOPLPUSH`.
pub const RPOPLPUSH: Docs = Docs::new(
    Group::List,
    "1.2.0",
    "Pops the last element of one list, pushes it onto the front of another (or the same) \
    list, and returns it.",
    "O(1)",
)
.deprecated("6.2.0", "`LMOVE` with the `RIGHT` and `LEFT` arguments")
.arguments(&[key("source", 0), key("destination", 1)]);

/// `LMPOP`.
pub const LMPOP: Docs = Docs::new(
    Group::List,
    "7.0.0",
    "Pops one or more elements from one end of the first non-empty list among the given keys, \
    and names the key they came from.",
    "O(N+M), N the number of keys given, M the number of elements popped.",
)
.arguments(&[
    integer("numkeys"),
    key("key", 0).multiple(),
    one_of(
        "where",
        &[pure_token("left", "LEFT"), pure_token("right", "RIGHT")],
    ),
    integer("count").token("COUNT").optional(),
]);
