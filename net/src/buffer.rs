//! Buffers: a per-loop pool of fixed-size slabs, the input buffer parsers borrow from, and the
//! output queue replies are encoded into.
//!
//! ## Ownership
//!
//! Each event loop owns one [`Pool`]. A connection takes a slab from it when it has bytes to
//! read or replies to send and gives it back as soon as the buffer is empty again, so an idle
//! connection holds no buffer at all (10,000 idle clients cost their sockets and a small
//! struct each, not 10,000 slabs). A buffer that had to grow past the slab size for one large
//! request or reply is freed instead of pooled, so one big value does not pin big buffers.
//!
//! Input is parsed in place: parsers get `&input.filled()` and return borrowed slices into it
//! plus the number of bytes consumed. Output is a queue of chunks: pooled slabs that small
//! replies are copied into, and shared values ([`Str`]) that large values are sent from
//! directly with a vectored write, without copying them into a buffer.

use keyspace::Str;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Bytes per pooled slab: large enough for a pipeline of a few hundred small requests, small
/// enough that a loop's free list of them stays a few megabytes.
pub const SLAB_BYTES: usize = 16 * 1024;

/// Free slabs a pool keeps; more are freed (bounds a loop's idle memory at 4 MiB).
pub const POOL_SLABS_MAX: usize = 256;

/// Values at least this large are queued by reference instead of copied into a slab.
pub const SHARED_VALUE_BYTES_MIN: usize = 16 * 1024;

/// Chunks handed to one `writev` (Linux allows 1024; more buys nothing here).
const WRITE_CHUNKS_MAX: usize = 64;

/// A loop's free slabs.
///
/// Input and output slabs are kept apart: an input slab stays at its full length, zeroed
/// once when it was allocated, so reads go straight into initialised memory without zeroing
/// it again on every read; an output slab is kept empty and grows as replies are appended.
#[derive(Debug, Default)]
pub struct Pool {
    input: Vec<Vec<u8>>,
    output: Vec<Vec<u8>>,
    /// Slabs allocated over the pool's life (for tests).
    allocated: usize,
}

impl Pool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty output slab (length 0, capacity [`SLAB_BYTES`]).
    pub fn take(&mut self) -> Vec<u8> {
        self.output.pop().unwrap_or_else(|| {
            self.allocated += 1;
            Vec::with_capacity(SLAB_BYTES)
        })
    }

    /// An input slab: [`SLAB_BYTES`] initialised bytes.
    fn take_input(&mut self) -> Vec<u8> {
        self.input.pop().unwrap_or_else(|| {
            self.allocated += 1;
            vec![0; SLAB_BYTES]
        })
    }

    /// Gives an output buffer back: kept if it is a plain slab and the pool is not full,
    /// else freed.
    pub fn give(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() == SLAB_BYTES && self.free_slabs() < POOL_SLABS_MAX {
            buffer.clear();
            self.output.push(buffer);
        }
    }

    /// Gives an input buffer back (kept only at its original size).
    fn give_input(&mut self, buffer: Vec<u8>) {
        if buffer.len() == SLAB_BYTES
            && buffer.capacity() == SLAB_BYTES
            && self.free_slabs() < POOL_SLABS_MAX
        {
            self.input.push(buffer);
        }
    }

    /// Free slabs held.
    pub fn free_slabs(&self) -> usize {
        self.input.len() + self.output.len()
    }

    /// Slabs allocated so far.
    pub fn allocated_slabs(&self) -> usize {
        self.allocated
    }
}

/// A connection's input: bytes read but not yet consumed by the parser.
///
/// The buffer's length is its whole size (initialised memory); `start..end` holds the bytes
/// read and not yet consumed.
#[derive(Debug, Default)]
pub struct Input {
    /// `None` while empty (the slab is back in the pool).
    buffer: Option<Vec<u8>>,
    /// Bytes before this offset were consumed.
    start: usize,
    /// Bytes from here on are free space.
    end: usize,
}

impl Input {
    /// The unconsumed bytes.
    pub fn filled(&self) -> &[u8] {
        self.buffer
            .as_deref()
            .map_or(&[], |buffer| &buffer[self.start..self.end])
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `count` bytes as consumed; returns the slab to `pool` when nothing is left.
    pub fn consume(&mut self, count: usize, pool: &mut Pool) {
        assert!(
            self.start + count <= self.end,
            "consumed more than was read"
        );
        self.start += count;
        if self.start == self.end {
            if let Some(buffer) = self.buffer.take() {
                pool.give_input(buffer);
            }
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads once from `source` into free space, making room for at least `want` unconsumed
    /// bytes in total (so a large request can arrive whole). Returns what `read` returned.
    pub fn read_from(
        &mut self,
        source: &mut impl io::Read,
        want: usize,
        pool: &mut Pool,
    ) -> io::Result<usize> {
        let buffer = self.buffer.get_or_insert_with(|| pool.take_input());
        let unconsumed = self.end - self.start;
        // Room for the whole request that is waiting, and at least 1 KiB of free space.
        let needed = want.max(unconsumed + 1024);
        if self.start + needed > buffer.len() {
            if needed <= buffer.len() {
                // Enough room once the unconsumed bytes move to the front.
                buffer.copy_within(self.start..self.end, 0);
            } else {
                // Grow: a buffer of its own, freed (not pooled) when it empties.
                let mut grown = vec![0; needed.next_power_of_two()];
                grown[..unconsumed].copy_from_slice(&buffer[self.start..self.end]);
                *buffer = grown;
            }
            self.start = 0;
            self.end = unconsumed;
        }
        let result = source.read(&mut buffer[self.end..]);
        if let Ok(read) = result {
            self.end += read;
        }
        if self.start == self.end {
            // Nothing buffered after all (EOF, error or WouldBlock on an empty input).
            pool.give_input(self.buffer.take().expect("inserted above"));
            self.start = 0;
            self.end = 0;
        }
        result
    }

    /// Free space after the buffered bytes (what one read may fill).
    pub fn spare(&self) -> usize {
        self.buffer
            .as_ref()
            .map_or(SLAB_BYTES, |buffer| buffer.len() - self.end)
    }

    /// Frees the buffer (connection closing).
    pub fn release(&mut self, pool: &mut Pool) {
        if let Some(buffer) = self.buffer.take() {
            pool.give_input(buffer);
        }
        self.start = 0;
        self.end = 0;
    }

    /// Whether a buffer is held (idle connections hold none).
    pub fn holds_buffer(&self) -> bool {
        self.buffer.is_some()
    }
}

/// One piece of queued output.
#[derive(Debug)]
enum Chunk {
    /// Bytes copied into a slab (or a grown buffer).
    Bytes(Vec<u8>),
    /// A stored value sent without copying.
    Shared(Str),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Bytes(bytes) => bytes,
            Chunk::Shared(value) => value.as_bytes(),
        }
    }
}

/// A connection's queued replies.
#[derive(Debug, Default)]
pub struct Output {
    chunks: VecDeque<Chunk>,
    /// Bytes of the first chunk already written.
    written: usize,
    /// Bytes queued and not yet written.
    pending: usize,
}

impl Output {
    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Whether a buffer is held.
    pub fn holds_buffer(&self) -> bool {
        !self.chunks.is_empty()
    }

    /// The slab replies are appended to, taking one from `pool` when needed.
    fn tail(&mut self, pool: &mut Pool, room: usize) -> &mut Vec<u8> {
        let fits = match self.chunks.back() {
            Some(Chunk::Bytes(bytes)) => {
                bytes.capacity() - bytes.len() >= room || bytes.capacity() > SLAB_BYTES
            }
            _ => false,
        };
        if !fits {
            self.chunks.push_back(Chunk::Bytes(pool.take()));
        }
        match self.chunks.back_mut() {
            Some(Chunk::Bytes(bytes)) => bytes,
            _ => unreachable!("a bytes chunk was just ensured"),
        }
    }

    /// Appends bytes.
    pub fn extend(&mut self, bytes: &[u8], pool: &mut Pool) {
        // Big pieces may make the slab grow; it is freed, not pooled, afterwards.
        let tail = self.tail(pool, bytes.len().min(SLAB_BYTES));
        tail.extend_from_slice(bytes);
        self.pending += bytes.len();
    }

    /// Appends a stored value: by reference when large, else copied.
    pub fn extend_value(&mut self, value: &Str, pool: &mut Pool) {
        if value.len() >= SHARED_VALUE_BYTES_MIN {
            self.pending += value.len();
            self.chunks.push_back(Chunk::Shared(value.clone()));
        } else {
            self.extend(value.as_bytes(), pool);
        }
    }

    /// Drops what was appended after [`Output::pending`] read `mark`, in the same command
    /// (nothing is written out in between): a reply built on a read that has to be done
    /// again. Slabs emptied go back to `pool`.
    pub fn truncate_to(&mut self, mark: usize, pool: &mut Pool) {
        while self.pending > mark {
            let excess = self.pending - mark;
            let only = self.chunks.len() == 1;
            let back = self
                .chunks
                .back_mut()
                .expect("pending bytes live in chunks");
            let unwritten = back.bytes().len() - if only { self.written } else { 0 };
            if unwritten <= excess {
                self.pending -= unwritten;
                if let Some(Chunk::Bytes(bytes)) = self.chunks.pop_back() {
                    pool.give(bytes);
                }
                if self.chunks.is_empty() {
                    self.written = 0;
                }
            } else {
                match back {
                    Chunk::Bytes(bytes) => bytes.truncate(bytes.len() - excess),
                    Chunk::Shared(_) => unreachable!("a shared value is appended whole"),
                }
                self.pending = mark;
            }
        }
    }

    /// Writes as much as `sink` takes without blocking. Returns `Ok(true)` when everything
    /// was written; buffers are given back to `pool` as they empty.
    pub fn flush_to(&mut self, sink: &mut impl Write, pool: &mut Pool) -> io::Result<bool> {
        while self.pending > 0 {
            let mut slices = [IoSlice::new(&[]); WRITE_CHUNKS_MAX];
            let mut count = 0;
            for (index, chunk) in self.chunks.iter().enumerate().take(WRITE_CHUNKS_MAX) {
                let bytes = chunk.bytes();
                let bytes = if index == 0 {
                    &bytes[self.written..]
                } else {
                    bytes
                };
                slices[count] = IoSlice::new(bytes);
                count += 1;
            }
            let mut wrote = match sink.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(wrote) => wrote,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            self.pending -= wrote;
            while wrote > 0 {
                let front = self.chunks.front().expect("pending bytes live in chunks");
                let left = front.bytes().len() - self.written;
                if wrote >= left {
                    wrote -= left;
                    self.written = 0;
                    if let Some(Chunk::Bytes(bytes)) = self.chunks.pop_front() {
                        pool.give(bytes);
                    }
                } else {
                    self.written += wrote;
                    wrote = 0;
                }
            }
        }
        // Empty slabs left at the back (nothing was appended to them) go back too.
        while let Some(chunk) = self.chunks.pop_front() {
            if let Chunk::Bytes(bytes) = chunk {
                pool.give(bytes);
            }
        }
        self.written = 0;
        Ok(true)
    }

    /// Frees every buffer (connection closing).
    pub fn release(&mut self, pool: &mut Pool) {
        while let Some(chunk) = self.chunks.pop_front() {
            if let Chunk::Bytes(bytes) = chunk {
                pool.give(bytes);
            }
        }
        self.pending = 0;
        self.written = 0;
    }

    /// Everything queued, as one vector (for tests).
    #[cfg(test)]
    pub fn contents(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for (index, chunk) in self.chunks.iter().enumerate() {
            let bytes = chunk.bytes();
            all.extend_from_slice(if index == 0 {
                &bytes[self.written..]
            } else {
                bytes
            });
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes at most `limit` bytes per call, then says WouldBlock once.
    struct Trickle {
        taken: Vec<u8>,
        limit: usize,
        block_next: bool,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.block_next {
                self.block_next = false;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.block_next = true;
            let n = buf.len().min(self.limit);
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn truncating_drops_exactly_what_came_after_the_mark() {
        let mut pool = Pool::new();
        let big = Str::from(vec![7u8; SHARED_VALUE_BYTES_MIN + 5]);
        // Marks in an empty output, mid-slab, after a shared value; tails that stay in the
        // slab, spill past it, and hold shared values.
        for before in 0..3 {
            for after in 0..4 {
                let mut output = Output::default();
                let mut expected = Vec::new();
                for _ in 0..before {
                    output.extend(b"kept:", &mut pool);
                    expected.extend_from_slice(b"kept:");
                    output.extend_value(&big, &mut pool);
                    expected.extend_from_slice(big.as_bytes());
                }
                let mark = output.pending();
                for i in 0..after {
                    output.extend(&vec![b'x'; i * SLAB_BYTES / 2 + 3], &mut pool);
                    output.extend_value(&big, &mut pool);
                }
                output.truncate_to(mark, &mut pool);
                assert_eq!(output.pending(), mark);
                output.extend(b"next", &mut pool);
                expected.extend_from_slice(b"next");
                assert_eq!(
                    output.contents(),
                    expected,
                    "{before} before, {after} after"
                );
            }
        }
    }

    #[test]
    fn output_survives_partial_writes_and_returns_slabs() {
        let mut pool = Pool::new();
        let mut output = Output::default();
        let big = Str::from(vec![7u8; SHARED_VALUE_BYTES_MIN + 5]);
        output.extend(b"+OK\r\n", &mut pool);
        output.extend_value(&big, &mut pool);
        output.extend(b"\r\n", &mut pool);
        let expected = output.contents();
        assert_eq!(output.pending(), expected.len());
        let mut sink = Trickle {
            taken: Vec::new(),
            limit: 1000,
            block_next: false,
        };
        let mut rounds = 0;
        while !output.flush_to(&mut sink, &mut pool).unwrap() {
            rounds += 1;
        }
        assert!(rounds > 10);
        assert_eq!(sink.taken, expected);
        assert!(!output.holds_buffer());
        assert_eq!(pool.free_slabs(), 2);
    }

    #[test]
    fn input_grows_for_large_requests_and_returns_its_slab() {
        let mut pool = Pool::new();
        let mut input = Input::default();
        let data = vec![1u8; 3 * SLAB_BYTES];
        let mut source = &data[..];
        while input.filled().len() < data.len() {
            input.read_from(&mut source, data.len(), &mut pool).unwrap();
        }
        assert_eq!(input.filled(), &data[..]);
        input.consume(data.len(), &mut pool);
        assert!(!input.holds_buffer());
        // The grown buffer is freed, not pooled.
        assert_eq!(pool.free_slabs(), 0);
        // An empty read gives the slab straight back.
        let mut empty: &[u8] = &[];
        assert_eq!(input.read_from(&mut empty, 0, &mut pool).unwrap(), 0);
        assert!(!input.holds_buffer());
        assert_eq!(pool.free_slabs(), 1);
    }
}
