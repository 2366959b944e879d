//! Block-log recovery on arbitrary device images (`nvme::blocklog::BlockLog::open`): the
//! image is written to a real device opened with `O_DIRECT` (a preallocated file, or the
//! block device `WORKINGDB_FUZZ_DEVICE` names, e.g. a loop device over tmpfs for speed) and
//! the real recovery reads it back through io_uring.
//!
//! Input: a mode byte, then up to 64 bytes for each of the image's blocks, written at the
//! block's start (the rest of each block is zeros). Mode bits: 1, make the superblock ours
//! (magic, format, geometry, checksum; the generation stays the fuzzer's); 2, give each
//! stream block whose byte 28 is even the right magic, generation and sequence (its payload
//! length stays the fuzzer's, masked to 13 bits so both sides of a full block are near);
//! 4, give each non-zero stream block the right checksum.
//!
//! Asserts:
//! * `open` does what this file's own reading of the format (nvme/src/blocklog.rs's module
//!   docs) says it must: refuse a foreign or damaged superblock, format zeros, and recover
//!   exactly the payloads of the blocks that check out, in order, up to the tail, saying
//!   whether it stopped at a bad block;
//! * recovery is idempotent: opening again finds the same bytes and no stale block to clear;
//! * the log accepts appends after recovery: what is appended reads back after another open.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nvme::blocklog::{
    self, BlockLog, OpenError, Region, SharedDevice, BLOCK_HEADER_BYTES, BLOCK_MAGIC,
    FORMAT_VERSION, MAGIC, STREAM_BLOCKS_MIN,
};
use nvme::device::{Device, DeviceOptions, Write};
use std::path::PathBuf;
use std::sync::LazyLock;
use workingdb_fuzz::crc64_nvme;

/// The image: a superblock and the fewest stream blocks a log accepts, plus three.
const BLOCKS: u64 = 1 + STREAM_BLOCKS_MIN + 3;
const REGION: Region = Region {
    first_block: 0,
    blocks: BLOCKS,
};
/// Input bytes per block.
const CHUNK: usize = 64;

struct Target {
    device: SharedDevice,
    block_bytes: usize,
    /// A file we created (removed at exit by nobody: libFuzzer exits without unwinding, so
    /// the script that runs the target removes it).
    _path: PathBuf,
}

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    let path = match std::env::var_os("WORKINGDB_FUZZ_DEVICE") {
        Some(path) => PathBuf::from(path),
        None => {
            // Not tmpfs: the device layer refuses memory file systems for O_DIRECT.
            let dir = std::env::var_os("WORKINGDB_FUZZ_DEVICE_DIR")
                .map_or_else(std::env::temp_dir, PathBuf::from);
            let path = dir.join(format!(
                "workingdb-fuzz-blocklog-{}.img",
                std::process::id()
            ));
            let _ = std::fs::remove_file(&path);
            path
        }
    };
    let options = DeviceOptions {
        file_bytes: Some(BLOCKS * 4096),
        ..DeviceOptions::default()
    };
    let device = Device::open(&path, options).expect("open the fuzz device");
    let block_bytes = device.geometry().block_bytes();
    assert!(
        device.pool().buffer_bytes() >= BLOCKS as usize * block_bytes,
        "one pool buffer holds the image"
    );
    Target {
        device: blocklog::shared(device),
        block_bytes,
        _path: path,
    }
});

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// The image the input describes.
fn image(mode: u8, chunks: &[u8], block_bytes: usize) -> Vec<u8> {
    let mut image = vec![0u8; BLOCKS as usize * block_bytes];
    for (index, chunk) in chunks.chunks(CHUNK).take(BLOCKS as usize).enumerate() {
        image[index * block_bytes..index * block_bytes + chunk.len()].copy_from_slice(chunk);
    }
    let (superblock, stream) = image.split_at_mut(block_bytes);
    if mode & 1 != 0 {
        superblock[..8].copy_from_slice(&MAGIC);
        superblock[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        superblock[12..16].copy_from_slice(&(block_bytes as u32).to_le_bytes());
        superblock[24..32].copy_from_slice(&BLOCKS.to_le_bytes());
        let sum = crc64_nvme(&[&superblock[..32]]);
        superblock[32..40].copy_from_slice(&sum.to_le_bytes());
    }
    let generation = u64_at(superblock, 16);
    for (sequence, block) in stream.chunks_mut(block_bytes).enumerate() {
        if mode & 2 != 0 && block[28] % 2 == 0 {
            block[8..16].copy_from_slice(&generation.to_le_bytes());
            block[16..24].copy_from_slice(&(sequence as u64).to_le_bytes());
            let payload = u32_at(block, 24) & 0x1fff;
            block[24..28].copy_from_slice(&payload.to_le_bytes());
            block[28..32].copy_from_slice(&BLOCK_MAGIC);
        }
        if mode & 4 != 0 && block.iter().any(|&b| b != 0) {
            let sum = crc64_nvme(&[&block[8..]]);
            block[..8].copy_from_slice(&sum.to_le_bytes());
        }
    }
    image
}

/// What the format says `open` finds on `image`.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Refused,
    Formatted,
    Recovered {
        generation: u64,
        bytes: Vec<u8>,
        blocks: u64,
        stopped_at_bad_block: bool,
    },
}

fn expected(image: &[u8], block_bytes: usize) -> Expected {
    let superblock = &image[..block_bytes];
    if superblock.iter().all(|&b| b == 0) {
        return Expected::Formatted;
    }
    if superblock[..8] != MAGIC
        || u64_at(superblock, 32) != crc64_nvme(&[&superblock[..32]])
        || u32_at(superblock, 8) != FORMAT_VERSION
        || u32_at(superblock, 12) as usize != block_bytes
        || u64_at(superblock, 24) != BLOCKS
    {
        return Expected::Refused;
    }
    let generation = u64_at(superblock, 16);
    let payload_max = block_bytes - BLOCK_HEADER_BYTES;
    let mut bytes = Vec::new();
    let mut blocks = 0;
    let mut bad = false;
    for (sequence, block) in image[block_bytes..].chunks(block_bytes).enumerate() {
        let zeros = block.iter().all(|&b| b == 0);
        if u64_at(block, 0) != crc64_nvme(&[&block[8..]]) {
            bad = !zeros;
            break;
        }
        let found_generation = u64_at(block, 8);
        let payload = u32_at(block, 24) as usize;
        if block[28..32] != BLOCK_MAGIC {
            bad = true;
            break;
        }
        if found_generation < generation {
            break;
        }
        if found_generation != generation
            || u64_at(block, 16) != sequence as u64
            || payload > payload_max
        {
            bad = true;
            break;
        }
        bytes.extend_from_slice(&block[BLOCK_HEADER_BYTES..BLOCK_HEADER_BYTES + payload]);
        // A tail block with no payload ends the log without holding any of it: recovery does
        // not count it (the next append writes that block again).
        if payload > 0 {
            blocks += 1;
        }
        if payload < payload_max {
            break;
        }
    }
    Expected::Recovered {
        generation,
        bytes,
        blocks,
        stopped_at_bad_block: bad,
    }
}

fn outcome(opened: &Result<(BlockLog, blocklog::Recovered), OpenError>) -> Expected {
    match opened {
        Err(OpenError::Foreign(_) | OpenError::Unsuitable(_)) => Expected::Refused,
        Err(OpenError::Io(error)) => panic!("I/O error on the fuzz device: {error}"),
        Ok((_, recovered)) if recovered.formatted => Expected::Formatted,
        Ok((_, recovered)) => Expected::Recovered {
            generation: recovered.generation,
            bytes: recovered.bytes.clone(),
            blocks: recovered.blocks,
            stopped_at_bad_block: recovered.stopped_at.is_some(),
        },
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, chunks)) = input.split_first() else {
        return;
    };
    let target = &*TARGET;
    let block_bytes = target.block_bytes;
    let image = image(mode, chunks, block_bytes);
    {
        let mut device = target.device.lock().expect("the device lock");
        device.pool_mut().get_mut(0).as_mut_slice()[..image.len()].copy_from_slice(&image);
        device
            .write_volatile(&[Write {
                buffer: 0,
                bytes: image.len(),
                offset: 0,
            }])
            .expect("write the image");
    }

    let opened = BlockLog::open(target.device.clone(), REGION);
    let want = expected(&image, block_bytes);
    let got = outcome(&opened);
    if got != want {
        // The summaries first: the byte lists are long.
        let summary = |outcome: &Expected| {
            match outcome {
            Expected::Recovered {
                generation,
                bytes,
                blocks,
                stopped_at_bad_block,
            } => format!("generation {generation}, {} bytes, {blocks} blocks, bad block {stopped_at_bad_block}", bytes.len()),
            other => format!("{other:?}"),
        }
        };
        panic!(
            "recovery differs from the format: got {}, the format says {}; stopped at: {:?}",
            summary(&got),
            summary(&want),
            opened
                .as_ref()
                .ok()
                .and_then(|(_, recovered)| recovered.stopped_at.clone()),
        );
    }
    let Ok((log, first)) = opened else {
        return;
    };
    drop(log);

    // Again: the same stream, nothing stale left to clear.
    let (mut log, second) =
        BlockLog::open(target.device.clone(), REGION).expect("a recovered log opens again");
    assert_eq!(second.bytes, first.bytes);
    assert_eq!(second.stale_blocks_cleared, 0);
    assert!(!second.formatted);

    // Appending after recovery: a length from the input, up to a little over a block.
    let extra_bytes = chunks.len() * 37 % (block_bytes + 100);
    let extra: Vec<u8> = (0..extra_bytes).map(|i| i as u8 ^ mode).collect();
    if log.append(&extra, mode & 8 != 0).is_ok() {
        drop(log);
        let (_, third) =
            BlockLog::open(target.device.clone(), REGION).expect("an appended log opens");
        let mut both = first.bytes.clone();
        both.extend_from_slice(&extra);
        assert!(third.bytes == both, "appended bytes do not read back");
    }
});
