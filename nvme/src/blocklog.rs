//! # blocklog: an append-only byte stream in checked blocks on a [`Device`]
//!
//! ## Layout
//!
//! Block 0 is the superblock; blocks 1.. hold the stream, block `1 + s` holding stream block
//! `s` (its *sequence*). All integers little-endian; `B` is the device's block size.
//!
//! Superblock:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `WDBBLKLG` |
//! | 8 | 4 | format version, [`FORMAT_VERSION`] |
//! | 12 | 4 | block size `B` |
//! | 16 | 8 | generation (at least 1) |
//! | 24 | 8 | device blocks, the superblock included |
//! | 32 | 8 | CRC-64/NVME of bytes 0..32 |
//!
//! Stream block:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | CRC-64/NVME of bytes 8..B |
//! | 8 | 8 | generation (the superblock's when written) |
//! | 16 | 8 | sequence |
//! | 24 | 4 | payload bytes, at most `B - 32` |
//! | 28 | 4 | block magic `BLK1` |
//! | 32 | … | payload, then zeros to `B` |
//!
//! A device holds one log or several, each on its own [`Region`] (a range of blocks whose
//! first block is the log's superblock; offsets above are within the region). The AOF gives
//! each incremental segment a region, so a rewrite can start a new segment while the old one
//! is still needed.
//!
//! ## Writing
//!
//! [`BlockLog::append`] packs the bytes after the current tail: the partly filled *tail block*
//! is written again with more payload (in place, until it is full), then whole new blocks.
//! A *durable* append returns once everything is durable; a *volatile* one once it is
//! written (the device may hold it in its cache until [`BlockLog::sync`]), which is what
//! `appendfsync everysec` and `no` ask for. A failed append changes nothing in memory, so
//! calling it again with the same bytes rewrites the same blocks with the same contents.
//! [`BlockLog::truncate`] cuts the stream back durably (replay cuts a torn record; the AOF
//! writer goes back to the last synced position after a failed sync).
//!
//! Rewriting the tail in place relies on a single-block write being atomic: NVMe promises it
//! for one logical block under power loss (AWUPF is 0-based, so its minimum is one block),
//! and a killed process cannot tear a write the kernel already has. On a device without that
//! promise, a power cut in the middle of a tail rewrite can lose the tail's earlier bytes;
//! recovery then ends the log before that block (and says so).
//!
//! ## Recovery
//!
//! [`BlockLog::open`] reads the superblock (all zeros: a new device, formatted with
//! generation 1; anything else that is not our superblock: refused, never overwritten), then
//! reads stream blocks in order while each one checks out: CRC, magic, generation equal to
//! the superblock's, sequence equal to its position, payload within bounds. A block with
//! less than a full payload is the tail and ends the log; so does the first block that does
//! not check out.
//!
//! A multi-block append that a crash interrupted can leave later blocks of it written and
//! an earlier one not. Those later blocks carry the current generation and the right
//! sequence, so a future recovery could accept them once the blocks before them are written
//! again. Recovery therefore checks the [`STALE_WINDOW_BLOCKS`] blocks after the end (no
//! append writes further ahead than that) and overwrites any that would check out with
//! zeros before the log accepts writes. Volatile appends keep the same bound: an append
//! syncs first when more than half that window would otherwise be written but not synced.
//!
//! ## Reclaiming space
//!
//! [`BlockLog::reset`] starts an empty log in place: a new generation in the superblock makes
//! every older block fail its check. The AOF calls it when a rewrite makes the old stream
//! unnecessary.

use crate::device::{Device, Write};
use crc_fast::CrcAlgorithm;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The superblock's magic.
pub const MAGIC: [u8; 8] = *b"WDBBLKLG";
/// The format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Each stream block's magic.
pub const BLOCK_MAGIC: [u8; 4] = *b"BLK1";
/// Bytes of a stream block's header.
pub const BLOCK_HEADER_BYTES: usize = 32;
/// How far past its end recovery looks for blocks of an interrupted append (and how far
/// ahead an append may write): 4096 blocks, 16 MiB at 4 KiB blocks.
pub const STALE_WINDOW_BLOCKS: u64 = 4096;
/// The fewest stream blocks a device must hold to be worth a log.
pub const STREAM_BLOCKS_MIN: u64 = 16;

const SUPERBLOCK_CHECKED_BYTES: usize = 32;

/// Why a device could not be opened as a block log.
#[derive(Debug)]
pub enum OpenError {
    /// Reading or writing failed.
    Io(io::Error),
    /// The device holds something that is not our log; it is left untouched.
    Foreign(String),
    /// The device is too small, or its geometry does not match the log on it.
    Unsuitable(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Io(error) => write!(f, "{error}"),
            OpenError::Foreign(why) | OpenError::Unsuitable(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<io::Error> for OpenError {
    fn from(error: io::Error) -> Self {
        OpenError::Io(error)
    }
}

/// What recovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The stream's bytes, in order.
    pub bytes: Vec<u8>,
    /// Stream blocks read (the tail included).
    pub blocks: u64,
    /// Why the scan stopped, when the end of the log is not where logs normally end (a
    /// partial tail block, zeros, a block of an older generation, the device's end) but a
    /// block that is torn or damaged.
    pub stopped_at: Option<String>,
    /// Blocks past the end that would have checked out and were zeroed.
    pub stale_blocks_cleared: u64,
    /// The superblock's generation.
    pub generation: u64,
    /// The device was all zeros and has been formatted.
    pub formatted: bool,
}

fn crc(bytes: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64Nvme, bytes)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Writes one stream block into `out` (a block's worth of bytes) whose payload is `first`
/// followed by `second`.
fn encode_block(out: &mut [u8], generation: u64, sequence: u64, first: &[u8], second: &[u8]) {
    let payload = first.len() + second.len();
    assert!(payload <= out.len() - BLOCK_HEADER_BYTES);
    out[8..16].copy_from_slice(&generation.to_le_bytes());
    out[16..24].copy_from_slice(&sequence.to_le_bytes());
    out[24..28].copy_from_slice(&(payload as u32).to_le_bytes());
    out[28..32].copy_from_slice(&BLOCK_MAGIC);
    let middle = BLOCK_HEADER_BYTES + first.len();
    out[BLOCK_HEADER_BYTES..middle].copy_from_slice(first);
    out[middle..middle + second.len()].copy_from_slice(second);
    out[middle + second.len()..].fill(0);
    let sum = crc(&out[8..]);
    out[..8].copy_from_slice(&sum.to_le_bytes());
}

/// Why a stream block does not belong to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NotInLog {
    /// Zeros, or a block of an older generation: where a log normally ends.
    Unwritten,
    /// Anything else (torn, damaged, misplaced): worth a warning.
    Bad(String),
}

/// The payload of a stream block that checks out, or why it does not.
fn decode_block(block: &[u8], generation: u64, sequence: u64) -> Result<&[u8], NotInLog> {
    if u64_at(block, 0) != crc(&block[8..]) {
        return Err(if block.iter().all(|&byte| byte == 0) {
            NotInLog::Unwritten
        } else {
            NotInLog::Bad("a block whose checksum does not match (torn or damaged)".to_string())
        });
    }
    if block[28..32] != BLOCK_MAGIC {
        return Err(NotInLog::Bad("a block without the block magic".to_string()));
    }
    let found_generation = u64_at(block, 8);
    if found_generation < generation {
        return Err(NotInLog::Unwritten);
    }
    if found_generation != generation {
        return Err(NotInLog::Bad(format!(
            "a block of generation {found_generation}, newer than the superblock's {generation}"
        )));
    }
    let found_sequence = u64_at(block, 16);
    if found_sequence != sequence {
        return Err(NotInLog::Bad(format!(
            "a block with sequence {found_sequence} where {sequence} belongs"
        )));
    }
    let payload = u32_at(block, 24) as usize;
    if payload > block.len() - BLOCK_HEADER_BYTES {
        return Err(NotInLog::Bad(format!(
            "a block claiming {payload} payload bytes"
        )));
    }
    Ok(&block[BLOCK_HEADER_BYTES..BLOCK_HEADER_BYTES + payload])
}

/// The device a block log writes through, shared by the logs of its regions (a block device
/// can be opened only once with `O_EXCL`, and the pool and ring are per device).
pub type SharedDevice = Arc<Mutex<Device>>;

/// Wraps a device for [`BlockLog::open`].
pub fn shared(device: Device) -> SharedDevice {
    Arc::new(Mutex::new(device))
}

fn lock(device: &SharedDevice) -> MutexGuard<'_, Device> {
    // A panic while holding the device leaves nothing half-updated in it (every call reaps
    // all it submitted before returning), so a poisoned lock is still usable.
    device.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A range of a device's blocks that holds one log: its first block is the log's superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// The region's first block (in units of the device's block size).
    pub first_block: u64,
    /// How many blocks it spans.
    pub blocks: u64,
}

impl Region {
    /// The whole device.
    pub fn whole(device: &Device) -> Region {
        Region {
            first_block: 0,
            blocks: device.geometry().size_bytes / device.geometry().block_bytes() as u64,
        }
    }

    /// `count` equal regions of the device, in order (blocks left over are unused).
    pub fn split(device: &Device, count: u64) -> Vec<Region> {
        let whole = Region::whole(device);
        let blocks = whole.blocks / count.max(1);
        (0..count)
            .map(|index| Region {
                first_block: index * blocks,
                blocks,
            })
            .collect()
    }
}

/// A position in the stream the log can go back to.
#[derive(Debug, Clone, Default)]
struct Mark {
    /// Stream bytes.
    length: u64,
    /// The sequence of the block being filled.
    tail_sequence: u64,
    /// That block's payload so far.
    tail: Vec<u8>,
}

/// An append-only byte stream on a region of a device. See the module docs.
#[derive(Debug)]
pub struct BlockLog {
    device: SharedDevice,
    path: PathBuf,
    region: Region,
    block_bytes: usize,
    /// Stream blocks the region holds (all but the superblock).
    stream_blocks: u64,
    generation: u64,
    /// Where the stream ends in memory: every byte before it is written.
    end: Mark,
    /// Where it ends durably (equal to `end` after a durable append or a sync).
    synced: Mark,
    /// The highest sequence written under this generation, so a truncation knows how far to
    /// clear.
    high_sequence: Option<u64>,
}

impl BlockLog {
    /// Opens the log on `region` of `device`: formats a region of zeros, recovers ours,
    /// refuses anything else.
    pub fn open(device: SharedDevice, region: Region) -> Result<(BlockLog, Recovered), OpenError> {
        let (mut log, superblock) = BlockLog::read_superblock(device, region)?;
        match superblock {
            None => {
                log.write_superblock(1)?;
                Ok((
                    log,
                    Recovered {
                        bytes: Vec::new(),
                        blocks: 0,
                        stopped_at: None,
                        stale_blocks_cleared: 0,
                        generation: 1,
                        formatted: true,
                    },
                ))
            }
            Some(generation) => {
                log.generation = generation;
                let recovered = log.recover()?;
                Ok((log, recovered))
            }
        }
    }

    /// Recovers the log on `region` of `device` without formatting: a region of zeros is
    /// refused ([`OpenError::Unsuitable`]) and left as it is. For readers that expect a log
    /// to be there.
    pub fn open_existing(
        device: SharedDevice,
        region: Region,
    ) -> Result<(BlockLog, Recovered), OpenError> {
        let (mut log, superblock) = BlockLog::read_superblock(device, region)?;
        let Some(generation) = superblock else {
            return Err(OpenError::Unsuitable(format!(
                "{}: no block log at block {} (it reads as zeros)",
                log.path.display(),
                region.first_block
            )));
        };
        log.generation = generation;
        let recovered = log.recover()?;
        Ok((log, recovered))
    }

    /// Opens the log on `region` of `device` as a new, empty log, whatever our log held
    /// there before (its blocks fall out under the new generation). Anything that is not our
    /// log or zeros is refused, as in [`BlockLog::open`].
    pub fn open_empty(device: SharedDevice, region: Region) -> Result<BlockLog, OpenError> {
        let (mut log, superblock) = BlockLog::read_superblock(device, region)?;
        log.write_superblock(superblock.unwrap_or(0) + 1)?;
        Ok(log)
    }

    /// Checks the region and reads its superblock: `None` when it is all zeros, else the
    /// generation of our log there.
    fn read_superblock(
        device: SharedDevice,
        region: Region,
    ) -> Result<(BlockLog, Option<u64>), OpenError> {
        let mut guard = lock(&device);
        let path = guard.path().to_path_buf();
        let name = path.display().to_string();
        let block_bytes = guard.geometry().block_bytes();
        let device_blocks = guard.geometry().size_bytes / block_bytes as u64;
        if region.blocks < 1 + STREAM_BLOCKS_MIN
            || region.first_block + region.blocks > device_blocks
        {
            return Err(OpenError::Unsuitable(format!(
                "{name}: {} bytes is too small for a block log (at least {} blocks of \
                 {block_bytes} bytes per log; region {region:?})",
                guard.geometry().size_bytes,
                1 + STREAM_BLOCKS_MIN
            )));
        }
        let window_blocks =
            (guard.pool().buffer_bytes() / block_bytes) as u64 * guard.pool().len() as u64;
        assert!(
            window_blocks <= STALE_WINDOW_BLOCKS / 2,
            "the device's buffers write {window_blocks} blocks at once, more than recovery checks"
        );
        let at = region.first_block * block_bytes as u64;
        if guard.read(0, block_bytes, at)? < block_bytes {
            return Err(OpenError::Unsuitable(format!(
                "{name}: cannot read block {}",
                region.first_block
            )));
        }
        let superblock = guard.pool().get(0).as_slice()[..block_bytes].to_vec();
        drop(guard);
        let log = BlockLog {
            device,
            path,
            region,
            block_bytes,
            stream_blocks: region.blocks - 1,
            generation: 0,
            end: Mark::default(),
            synced: Mark::default(),
            high_sequence: None,
        };
        if superblock.iter().all(|&byte| byte == 0) {
            return Ok((log, None));
        }
        if superblock[..8] != MAGIC {
            return Err(OpenError::Foreign(format!(
                "{name}: holds data that is not a WorkingDB block log (no {:?} magic at block \
                 {}); refusing to overwrite it",
                String::from_utf8_lossy(&MAGIC),
                region.first_block
            )));
        }
        if u64_at(&superblock, SUPERBLOCK_CHECKED_BYTES)
            != crc(&superblock[..SUPERBLOCK_CHECKED_BYTES])
        {
            return Err(OpenError::Foreign(format!(
                "{name}: the block log's superblock at block {} is damaged (checksum mismatch)",
                region.first_block
            )));
        }
        let version = u32_at(&superblock, 8);
        if version != FORMAT_VERSION {
            return Err(OpenError::Foreign(format!(
                "{name}: a block log of format version {version}; this build reads {FORMAT_VERSION}"
            )));
        }
        let stored_block = u32_at(&superblock, 12) as usize;
        let stored_blocks = u64_at(&superblock, 24);
        if stored_block != block_bytes || stored_blocks != region.blocks {
            return Err(OpenError::Unsuitable(format!(
                "{name}: the log was written with {stored_blocks} blocks of {stored_block} bytes; \
                 the region now has {} of {block_bytes}",
                region.blocks
            )));
        }
        let generation = u64_at(&superblock, 16);
        Ok((log, Some(generation)))
    }

    fn write_superblock(&mut self, generation: u64) -> io::Result<()> {
        let block_bytes = self.block_bytes;
        let offset = self.region.first_block * block_bytes as u64;
        let mut device = lock(&self.device);
        let superblock = &mut device.pool_mut().get_mut(0).as_mut_slice()[..block_bytes];
        superblock.fill(0);
        superblock[..8].copy_from_slice(&MAGIC);
        superblock[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        superblock[12..16].copy_from_slice(&(block_bytes as u32).to_le_bytes());
        superblock[16..24].copy_from_slice(&generation.to_le_bytes());
        superblock[24..32].copy_from_slice(&self.region.blocks.to_le_bytes());
        let sum = crc(&superblock[..SUPERBLOCK_CHECKED_BYTES]);
        superblock[SUPERBLOCK_CHECKED_BYTES..SUPERBLOCK_CHECKED_BYTES + 8]
            .copy_from_slice(&sum.to_le_bytes());
        device.write(&[Write {
            buffer: 0,
            bytes: block_bytes,
            offset,
        }])?;
        drop(device);
        self.generation = generation;
        self.end = Mark::default();
        self.synced = Mark::default();
        self.high_sequence = None;
        Ok(())
    }

    /// The byte offset of stream block `sequence` on the device.
    fn offset_of(&self, sequence: u64) -> u64 {
        (self.region.first_block + 1 + sequence) * self.block_bytes as u64
    }

    fn payload_bytes(&self) -> usize {
        self.block_bytes - BLOCK_HEADER_BYTES
    }

    /// Reads the stream (see the module docs), then clears stale blocks past its end.
    fn recover(&mut self) -> io::Result<Recovered> {
        let block_bytes = self.block_bytes;
        let payload_bytes = self.payload_bytes();
        let mut device = lock(&self.device);
        let chunk_blocks = (device.pool().buffer_bytes() / block_bytes) as u64;
        let mut bytes = Vec::new();
        let mut tail = Vec::new();
        let mut sequence = 0u64;
        let mut stopped_at = None;
        'scan: while sequence < self.stream_blocks {
            let count = chunk_blocks.min(self.stream_blocks - sequence);
            let want = count as usize * block_bytes;
            let read = device.read(0, want, self.offset_of(sequence))?;
            let buffer = device.pool().get(0).as_slice();
            for index in 0..(read / block_bytes) {
                let block = &buffer[index * block_bytes..(index + 1) * block_bytes];
                match decode_block(block, self.generation, sequence) {
                    Ok(payload) => {
                        bytes.extend_from_slice(payload);
                        if payload.len() < payload_bytes {
                            tail.extend_from_slice(payload);
                            break 'scan;
                        }
                        sequence += 1;
                    }
                    Err(NotInLog::Unwritten) => break 'scan,
                    Err(NotInLog::Bad(why)) => {
                        stopped_at = Some(format!("stream block {sequence}: {why}"));
                        break 'scan;
                    }
                }
            }
            if read < want {
                break;
            }
        }
        drop(device);
        // `sequence` is now the block being filled: the partial tail, or the first block that
        // did not check out (written next), or the region's end.
        let blocks = sequence + u64::from(!tail.is_empty());
        self.end = Mark {
            length: bytes.len() as u64,
            tail_sequence: sequence,
            tail,
        };
        self.synced = self.end.clone();
        self.high_sequence = blocks.checked_sub(1);
        let stale_blocks_cleared = self.clear_stale(sequence + 1, STALE_WINDOW_BLOCKS)?;
        Ok(Recovered {
            bytes,
            blocks,
            stopped_at,
            stale_blocks_cleared,
            generation: self.generation,
            formatted: false,
        })
    }

    /// Zeros every block of `count` from `first` that would check out at its place; returns
    /// how many it zeroed.
    fn clear_stale(&mut self, first: u64, count: u64) -> io::Result<u64> {
        let block_bytes = self.block_bytes;
        let end = first.saturating_add(count).min(self.stream_blocks);
        let mut stale = Vec::new();
        let mut device = lock(&self.device);
        let chunk_blocks = (device.pool().buffer_bytes() / block_bytes) as u64;
        let mut sequence = first;
        while sequence < end {
            let count = chunk_blocks.min(end - sequence);
            let want = count as usize * block_bytes;
            let read = device.read(0, want, self.offset_of(sequence))?;
            let buffer = device.pool().get(0).as_slice();
            for index in 0..(read / block_bytes) as u64 {
                let start = index as usize * block_bytes;
                let block = &buffer[start..start + block_bytes];
                if decode_block(block, self.generation, sequence + index).is_ok() {
                    stale.push(sequence + index);
                }
            }
            if read < want {
                break;
            }
            sequence += count;
        }
        if stale.is_empty() {
            return Ok(0);
        }
        device.pool_mut().get_mut(0).as_mut_slice()[..block_bytes].fill(0);
        for &sequence in &stale {
            let offset = self.offset_of(sequence);
            device.write_volatile(&[Write {
                buffer: 0,
                bytes: block_bytes,
                offset,
            }])?;
        }
        device.sync()?;
        Ok(stale.len() as u64)
    }

    /// Appends `bytes` to the stream. With `durable`, returns once they are durable;
    /// without, once they are written (the device may still hold them in a volatile cache
    /// until [`BlockLog::sync`]). See the module docs.
    pub fn append(&mut self, bytes: &[u8], durable: bool) -> io::Result<()> {
        if bytes.is_empty() {
            if durable {
                self.sync()?;
            }
            return Ok(());
        }
        let payload_bytes = self.payload_bytes();
        let tail_bytes = self.end.tail.len();
        let total = tail_bytes + bytes.len();
        let blocks = total.div_ceil(payload_bytes) as u64;
        if self.end.tail_sequence + blocks > self.stream_blocks {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "{}: the block log is full ({} of {} bytes used)",
                    self.path.display(),
                    self.end.length,
                    self.capacity()
                ),
            ));
        }
        // Never leave more than half the recovery window written but unsynced: a power cut
        // may keep any of it and lose any other part, and recovery clears only so far. So a
        // volatile append syncs first when the unsynced blocks would pass that, and one too
        // large for it on its own is written durably, round by round.
        let durable = durable || blocks > STALE_WINDOW_BLOCKS / 2;
        if !durable
            && self.end.tail_sequence + blocks > self.synced.tail_sequence + STALE_WINDOW_BLOCKS / 2
        {
            self.sync()?;
        }
        let block_bytes = self.block_bytes;
        let generation = self.generation;
        let mut device = lock(&self.device);
        let buffer_blocks = device.pool().buffer_bytes() / block_bytes;
        let buffers = device.pool().len();
        // The stream to write is `tail ++ bytes`, cut into payloads; `position` walks it.
        let tail = &self.end.tail;
        let mut sequence = self.end.tail_sequence;
        let mut position = 0usize;
        let mut last_start = 0usize;
        while position < total {
            let mut batch = Vec::with_capacity(buffers);
            while position < total && batch.len() < buffers {
                let first_sequence = sequence;
                let buffer = batch.len();
                let mut used = 0;
                while position < total && used < buffer_blocks {
                    let end = (position + payload_bytes).min(total);
                    let from_tail = &tail[position.min(tail_bytes)..end.min(tail_bytes)];
                    let from_bytes =
                        &bytes[position.max(tail_bytes) - tail_bytes..end - tail_bytes];
                    let out = &mut device.pool_mut().get_mut(buffer).as_mut_slice()
                        [used * block_bytes..(used + 1) * block_bytes];
                    encode_block(out, generation, sequence, from_tail, from_bytes);
                    last_start = position;
                    position = end;
                    sequence += 1;
                    used += 1;
                }
                batch.push(Write {
                    buffer,
                    bytes: used * block_bytes,
                    offset: (self.region.first_block + 1 + first_sequence) * block_bytes as u64,
                });
            }
            if durable {
                device.write(&batch)?;
            } else {
                device.write_volatile(&batch)?;
            }
        }
        drop(device);
        // Everything is written: move the end.
        let last_payload = total - last_start;
        self.high_sequence = Some(
            self.high_sequence
                .map_or(sequence - 1, |high| high.max(sequence - 1)),
        );
        if last_payload == payload_bytes {
            self.end.tail.clear();
            self.end.tail_sequence = sequence;
        } else {
            // The new tail is the stream's last `last_payload` bytes, all within `tail ++
            // bytes`; when it starts inside the old tail, the old tail's start is kept.
            if last_start >= tail_bytes {
                self.end.tail.clear();
                self.end
                    .tail
                    .extend_from_slice(&bytes[last_start - tail_bytes..]);
            } else {
                self.end.tail.drain(..last_start);
                self.end.tail.extend_from_slice(bytes);
            }
            self.end.tail_sequence = sequence - 1;
        }
        self.end.length += bytes.len() as u64;
        if durable {
            self.synced = self.end.clone();
        }
        Ok(())
    }

    /// Makes everything appended durable.
    pub fn sync(&mut self) -> io::Result<()> {
        lock(&self.device).sync()?;
        self.synced = self.end.clone();
        Ok(())
    }

    /// Cuts the stream to its first `length` bytes, durably: the block holding the new end is
    /// written again with only the bytes before it, and every block after it that this
    /// generation wrote is cleared, so no recovery can find them again.
    pub fn truncate(&mut self, length: u64) -> io::Result<()> {
        if length > self.end.length {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: cannot cut a {}-byte log to {length} bytes",
                    self.path.display(),
                    self.end.length
                ),
            ));
        }
        let payload_bytes = self.payload_bytes() as u64;
        let sequence = length / payload_bytes;
        let keep = (length % payload_bytes) as usize;
        let block_bytes = self.block_bytes;
        // The payload before the cut in the block that will hold the new end, read back
        // unless it is the tail we hold.
        let prefix = if sequence == self.end.tail_sequence {
            self.end.tail[..keep].to_vec()
        } else if keep == 0 {
            Vec::new()
        } else {
            let mut device = lock(&self.device);
            device.read(0, block_bytes, self.offset_of(sequence))?;
            let block = &device.pool().get(0).as_slice()[..block_bytes];
            match decode_block(block, self.generation, sequence) {
                Ok(payload) if payload.len() >= keep => payload[..keep].to_vec(),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: stream block {sequence} does not read back while cutting the log",
                            self.path.display()
                        ),
                    ))
                }
            }
        };
        let high = self.high_sequence.unwrap_or(0).max(self.end.tail_sequence);
        {
            let mut device = lock(&self.device);
            let out = &mut device.pool_mut().get_mut(0).as_mut_slice()[..block_bytes];
            encode_block(out, self.generation, sequence, &prefix, &[]);
            device.write_volatile(&[Write {
                buffer: 0,
                bytes: block_bytes,
                offset: self.offset_of(sequence),
            }])?;
            if high > sequence {
                device.pool_mut().get_mut(0).as_mut_slice()[..block_bytes].fill(0);
                for stale in sequence + 1..=high.min(self.stream_blocks - 1) {
                    device.write_volatile(&[Write {
                        buffer: 0,
                        bytes: block_bytes,
                        offset: self.offset_of(stale),
                    }])?;
                }
            }
            device.sync()?;
        }
        self.end = Mark {
            length,
            tail_sequence: sequence,
            tail: prefix,
        };
        self.synced = self.end.clone();
        self.high_sequence = Some(sequence);
        Ok(())
    }

    /// Reads stream bytes from `offset` into `buffer` (what was written, synced or not);
    /// returns how many (0 at the end).
    pub fn read(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
        let payload_bytes = self.payload_bytes() as u64;
        let block_bytes = self.block_bytes;
        let mut done = 0usize;
        let mut device = lock(&self.device);
        while done < buffer.len() && offset + (done as u64) < self.end.length {
            let position = offset + done as u64;
            let sequence = position / payload_bytes;
            let within = (position % payload_bytes) as usize;
            device.read(0, block_bytes, self.offset_of(sequence))?;
            let block = &device.pool().get(0).as_slice()[..block_bytes];
            let payload = decode_block(block, self.generation, sequence).map_err(|why| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: stream block {sequence}: {why:?}", self.path.display()),
                )
            })?;
            let available = payload.len().saturating_sub(within);
            if available == 0 {
                break;
            }
            let count = available.min(buffer.len() - done);
            buffer[done..done + count].copy_from_slice(&payload[within..within + count]);
            done += count;
        }
        Ok(done)
    }

    /// Starts an empty log in place under a new generation (see the module docs).
    pub fn reset(&mut self) -> io::Result<()> {
        let next = self.generation + 1;
        self.write_superblock(next)
    }

    /// Stream bytes written.
    pub fn len(&self) -> u64 {
        self.end.length
    }

    /// Stream bytes durable.
    pub fn synced_len(&self) -> u64 {
        self.synced.length
    }

    /// Whether the stream is empty.
    pub fn is_empty(&self) -> bool {
        self.end.length == 0
    }

    /// The most stream bytes the region holds.
    pub fn capacity(&self) -> u64 {
        self.stream_blocks * self.payload_bytes() as u64
    }

    /// The superblock's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The region it occupies.
    pub fn region(&self) -> Region {
        self.region
    }

    /// The device under it.
    pub fn device(&self) -> &SharedDevice {
        &self.device
    }
}
