//! The typed values a key can hold (see the crate docs for why each is shaped as it is).

use crate::container::Container;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

/// Strings up to this many bytes are stored inside the [`Str`] itself, so inside the engine's
/// entry: no allocation of their own, and no cache miss of their own when read. 38 bytes make
/// the inline form as large as it can be without making `Str` (40 bytes) or [`Value`] larger.
pub const STR_INLINE_BYTES: usize = 38;

/// An immutable byte string: the keyspace's string value.
///
/// Short strings (up to [`STR_INLINE_BYTES`]) are stored inline; cloning one copies 40 bytes.
/// Longer strings are one reference-counted allocation holding the count and the bytes;
/// cloning one is an atomic increment, so the server can keep a large value alive in its
/// output queue after the engine's guard is released, without copying it.
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        bytes: [u8; STR_INLINE_BYTES],
    },
    Shared(Arc<[u8]>),
}

impl Str {
    /// A string holding a copy of `bytes`.
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self::inline(bytes).unwrap_or_else(|| Self(Repr::Shared(Arc::from(bytes))))
    }

    /// `bytes` stored inline, when short enough.
    fn inline(bytes: &[u8]) -> Option<Self> {
        let len = u8::try_from(bytes.len())
            .ok()
            .filter(|&len| usize::from(len) <= STR_INLINE_BYTES)?;
        let mut inline = [0; STR_INLINE_BYTES];
        inline[..bytes.len()].copy_from_slice(bytes);
        Some(Self(Repr::Inline { len, bytes: inline }))
    }

    /// Whether the bytes are stored inline (short strings, see [`STR_INLINE_BYTES`]).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(bytes) => bytes,
        }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `other` is this very value: the same allocation for a shared string, the same
    /// bytes for an inline one. Cheap either way (never compares long strings); the journal
    /// uses it to tell a metadata-only change from a new value.
    pub fn is_same(&self, other: &Str) -> bool {
        match (&self.0, &other.0) {
            (Repr::Shared(mine), Repr::Shared(theirs)) => Arc::ptr_eq(mine, theirs),
            (Repr::Inline { .. }, Repr::Inline { .. }) => self.as_bytes() == other.as_bytes(),
            _ => false,
        }
    }
}

impl Default for Str {
    fn default() -> Self {
        Self(Repr::Inline {
            len: 0,
            bytes: [0; STR_INLINE_BYTES],
        })
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl std::hash::Hash for Str {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl From<Vec<u8>> for Str {
    fn from(bytes: Vec<u8>) -> Self {
        Self::inline(&bytes).unwrap_or_else(|| Self(Repr::Shared(Arc::from(bytes))))
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Str({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A list's elements, front to back.
pub type ListItems = VecDeque<Box<[u8]>>;

/// A list value: its elements in a [`Container`], mutated in place under the container's lock.
pub type List = Container<ListItems>;

/// A typed value.
#[derive(Debug, Clone)]
pub enum Value {
    /// A byte string (Redis string, memcached item).
    Str(Str),
    /// A list of byte strings.
    List(Arc<List>),
}

impl Value {
    /// The name Redis's `TYPE` command gives this kind of value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
        }
    }

    /// The name Redis 7.0's `OBJECT ENCODING` gives this value. Each of our types has one
    /// representation, so this is the encoding Redis would have chosen for the same value
    /// when it was set: a string that is a 64-bit integer of at most 20 characters is `int`,
    /// another of at most 44 bytes `embstr` (one allocation with its header), a longer one
    /// `raw`; a list is always a `quicklist` in 7.0. Redis also turns a string `raw` when
    /// `APPEND` or `SETRANGE` changes it in place, and keeps `INCRBYFLOAT`'s result a string
    /// even when it reads as an integer; we keep no such history (we never change a string in
    /// place), so those values report what their content would.
    pub fn encoding_name(&self) -> &'static str {
        /// Redis's `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`.
        const EMBSTR_BYTES_MAX: usize = 44;
        match self {
            Value::Str(string) if string.as_integer().is_some() => "int",
            Value::Str(string) if string.len() <= EMBSTR_BYTES_MAX => "embstr",
            Value::Str(_) => "raw",
            Value::List(_) => "quicklist",
        }
    }

    /// What Redis 7.0's `OBJECT REFCOUNT` reports for this value: Redis keeps one shared
    /// object for each integer from 0 to 9999 and reports those as referenced `i32::MAX`
    /// times (when no LRU or LFU eviction policy needs an object per key, as here); every
    /// other value has one reference.
    pub fn reference_count(&self) -> i64 {
        /// Redis's `OBJ_SHARED_INTEGERS`.
        const SHARED_INTEGERS: i64 = 10_000;
        match self {
            Value::Str(string)
                if string
                    .as_integer()
                    .is_some_and(|number| (0..SHARED_INTEGERS).contains(&number)) =>
            {
                i64::from(i32::MAX)
            }
            _ => 1,
        }
    }
}

impl Str {
    /// The integer this string spells, if Redis would store it as one: at most 20
    /// characters, and exactly what Redis's `string2ll` accepts (no sign but `-`, no leading
    /// zeros, no spaces).
    pub fn as_integer(&self) -> Option<i64> {
        const INTEGER_CHARS_MAX: usize = 20;
        let bytes = self.as_bytes();
        if bytes.len() > INTEGER_CHARS_MAX {
            return None;
        }
        crate::numeric::parse_i64(bytes)
    }
}
