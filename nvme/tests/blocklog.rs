//! The block log on real files opened with `O_DIRECT` (in the target directory, which is on
//! the repository's file system), and on a loop device when the test runs as root with
//! `losetup` available. Damage is made the way a crash or a stray writer makes it: by
//! writing the file's bytes.

use nvme::blocklog::{BLOCK_HEADER_BYTES, STALE_WINDOW_BLOCKS};
use nvme::{shared, BlockLog, Device, DeviceOptions, Durability, Kind, OpenError, Region};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("nvme-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A temporary directory for one test, or `None` (with the reason printed) where io_uring
/// cannot be set up: every device needs a ring.
fn test_dir(name: &str) -> Option<TempDir> {
    if let Err(error) = io_uring::IoUring::new(2) {
        println!("skipped: io_uring is not available: {error}");
        return None;
    }
    Some(TempDir::new(name))
}

const DEVICE_BYTES: u64 = 8 << 20;

fn options(durability: Durability) -> DeviceOptions {
    DeviceOptions {
        queue_depth: 4,
        buffer_bytes: 64 * 1024,
        sqpoll_idle_ms: None,
        durability,
        file_bytes: Some(DEVICE_BYTES),
    }
}

fn open(path: &Path, durability: Durability) -> (BlockLog, nvme::Recovered) {
    let device = Device::open(path, options(durability)).expect("open the device");
    log_on(device)
}

fn log_on(device: Device) -> (BlockLog, nvme::Recovered) {
    let region = Region::whole(&device);
    BlockLog::open(shared(device), region).expect("open the log")
}

fn log_result(device: Device) -> Result<(BlockLog, nvme::Recovered), OpenError> {
    let region = Region::whole(&device);
    BlockLog::open(shared(device), region)
}

/// Deterministic bytes that differ at every offset of a long stream.
fn pattern(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn a_new_file_is_preallocated_with_zeros_and_reports_its_geometry() {
    let Some(dir) = test_dir("prealloc") else {
        return;
    };
    let path = dir.0.join("log");
    let device = Device::open(&path, options(Durability::Dsync)).unwrap();
    let geometry = *device.geometry();
    assert_eq!(geometry.kind, Kind::File);
    assert_eq!(geometry.size_bytes, DEVICE_BYTES);
    assert!(geometry.offset_align.is_power_of_two() && geometry.offset_align >= 512);
    assert!(geometry.block_bytes() >= 4096);
    println!("geometry: {geometry:?}");
    drop(device);
    let metadata = fs::metadata(&path).unwrap();
    assert_eq!(metadata.len(), DEVICE_BYTES);
    // Written, not sparse: every byte has a block behind it.
    use std::os::unix::fs::MetadataExt;
    assert!(
        metadata.blocks() * 512 >= DEVICE_BYTES,
        "{} blocks of 512 bytes allocated",
        metadata.blocks()
    );
    let mut bytes = Vec::new();
    fs::File::open(&path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert!(bytes.iter().all(|&byte| byte == 0));
}

#[test]
fn appends_of_every_shape_read_back_after_reopening_under_both_durabilities() {
    for durability in [Durability::Dsync, Durability::Fdatasync] {
        let Some(dir) = test_dir(&format!("roundtrip-{durability:?}")) else {
            return;
        };
        let path = dir.0.join("log");
        let (mut log, recovered) = open(&path, durability);
        assert!(recovered.formatted);
        assert_eq!(recovered.generation, 1);
        let payload = 4096 - BLOCK_HEADER_BYTES;
        // Small appends that share the tail block, exactly one block, one byte over, a run
        // larger than the pool's buffers (4 x 64 KiB) so one append takes several rounds.
        let sizes = [
            1,
            7,
            100,
            payload - 108,
            payload,
            payload + 1,
            3 * payload,
            300 * 1024,
            5,
            payload - 5,
        ];
        let mut expected = Vec::new();
        for (index, &size) in sizes.iter().enumerate() {
            let bytes = pattern(index as u64, size);
            log.append(&bytes, true).unwrap();
            expected.extend_from_slice(&bytes);
            assert_eq!(log.len(), expected.len() as u64);
            // Reopen after some appends, as a restart would, and keep appending.
            if index % 3 == 2 {
                drop(log);
                let (reopened, recovered) = open(&path, durability);
                assert!(!recovered.formatted);
                assert_eq!(recovered.stopped_at, None);
                assert_eq!(recovered.bytes.len(), expected.len());
                assert!(recovered.bytes == expected, "after append {index}");
                log = reopened;
            }
        }
        drop(log);
        let (_, recovered) = open(&path, durability);
        assert!(recovered.bytes == expected);
        assert_eq!(recovered.stale_blocks_cleared, 0);
    }
}

/// The device offset of stream block `sequence`.
fn block_offset(sequence: u64) -> u64 {
    (1 + sequence) * 4096
}

fn damage(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
    file.sync_all().unwrap();
}

#[test]
fn a_torn_tail_block_ends_the_log_before_it_and_the_log_goes_on_from_there() {
    let Some(dir) = test_dir("torn") else {
        return;
    };
    let path = dir.0.join("log");
    let (mut log, _) = open(&path, Durability::Dsync);
    let payload = 4096 - BLOCK_HEADER_BYTES;
    let first = pattern(1, 2 * payload);
    let tail = pattern(2, 1000);
    log.append(&first, true).unwrap();
    log.append(&tail, true).unwrap();
    drop(log);
    // The tail block (sequence 2) half new, half something else: a torn rewrite.
    damage(&path, block_offset(2) + 2048, &[0xA5; 2048]);
    let (mut log, recovered) = open(&path, Durability::Dsync);
    assert!(recovered.bytes == first);
    let why = recovered.stopped_at.expect("a torn block is reported");
    assert!(
        why.contains("stream block 2") && why.contains("checksum"),
        "{why}"
    );
    let more = pattern(3, 5000);
    log.append(&more, true).unwrap();
    drop(log);
    let (_, recovered) = open(&path, Durability::Dsync);
    assert_eq!(recovered.stopped_at, None);
    assert!(recovered.bytes == [first, more].concat());
}

#[test]
fn blocks_of_an_interrupted_append_past_the_end_are_cleared() {
    let Some(dir) = test_dir("stale") else {
        return;
    };
    let path = dir.0.join("log");
    let (mut log, _) = open(&path, Durability::Dsync);
    let payload = 4096 - BLOCK_HEADER_BYTES;
    let kept = pattern(1, payload);
    let interrupted = pattern(2, 4 * payload);
    log.append(&kept, true).unwrap();
    log.append(&interrupted, true).unwrap();
    drop(log);
    // The crash hit before block 1 was written but after blocks 2..=4 were.
    damage(&path, block_offset(1), &[0; 4096]);
    let (mut log, recovered) = open(&path, Durability::Dsync);
    assert!(recovered.bytes == kept);
    assert_eq!(recovered.stale_blocks_cleared, 3);
    // Writing block 1 again must not bring blocks 2..=4 back.
    let next = pattern(3, 10);
    log.append(&next, true).unwrap();
    drop(log);
    let (_, recovered) = open(&path, Durability::Dsync);
    assert!(recovered.bytes == [kept, next].concat());
    assert_eq!(recovered.stale_blocks_cleared, 0);
    const { assert!(STALE_WINDOW_BLOCKS >= 4) };
}

#[test]
fn a_reset_starts_an_empty_log_and_older_blocks_stay_out() {
    let Some(dir) = test_dir("reset") else {
        return;
    };
    let path = dir.0.join("log");
    let (mut log, _) = open(&path, Durability::Fdatasync);
    log.append(&pattern(1, 50_000), true).unwrap();
    log.reset().unwrap();
    assert_eq!(log.generation(), 2);
    assert!(log.is_empty());
    let fresh = pattern(2, 9000);
    log.append(&fresh, true).unwrap();
    drop(log);
    let (_, recovered) = open(&path, Durability::Fdatasync);
    assert_eq!(recovered.generation, 2);
    assert!(recovered.bytes == fresh);
    // The old generation's blocks after the end are a normal end, not damage.
    assert_eq!(recovered.stopped_at, None);
}

#[test]
fn a_full_log_refuses_the_append_and_keeps_what_it_had() {
    let Some(dir) = test_dir("full") else {
        return;
    };
    let path = dir.0.join("log");
    let (mut log, _) = open(&path, Durability::Dsync);
    let capacity = log.capacity() as usize;
    let almost = pattern(1, capacity - 100);
    log.append(&almost, true).unwrap();
    let error = log.append(&pattern(2, 101), true).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    assert!(error.to_string().contains("full"), "{error}");
    log.append(&pattern(3, 100), true).unwrap();
    assert_eq!(log.len() as usize, capacity);
    drop(log);
    let (_, recovered) = open(&path, Durability::Dsync);
    assert!(recovered.bytes == [almost, pattern(3, 100)].concat());
}

#[test]
fn bad_targets_get_clear_errors_and_are_left_untouched() {
    let Some(dir) = test_dir("bad") else {
        return;
    };
    // A size that is not a whole number of blocks.
    let path = dir.0.join("misaligned");
    let mut misaligned = options(Durability::Dsync);
    misaligned.file_bytes = Some(DEVICE_BYTES + 100);
    let error = Device::open(&path, misaligned).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not a multiple of the block size"),
        "{error}"
    );
    assert!(!path.exists(), "a refused file is not left behind");

    // Too small for a log.
    let path = dir.0.join("small");
    let mut small = options(Durability::Dsync);
    small.file_bytes = Some(8 * 4096);
    let device = Device::open(&path, small).unwrap();
    match log_result(device) {
        Err(OpenError::Unsuitable(why)) => assert!(why.contains("too small"), "{why}"),
        other => panic!("{other:?}"),
    }

    // Another format: the first block holds someone else's data.
    let path = dir.0.join("foreign");
    drop(Device::open(&path, options(Durability::Dsync)).unwrap());
    let foreign = b"SQLite format 3\0 and more of someone's data".to_vec();
    damage(&path, 0, &foreign);
    let device = Device::open(&path, options(Durability::Dsync)).unwrap();
    match log_result(device) {
        Err(OpenError::Foreign(why)) => assert!(why.contains("refusing to overwrite"), "{why}"),
        other => panic!("{other:?}"),
    }
    let mut start = vec![0; foreign.len()];
    let mut file = fs::File::open(&path).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.read_exact(&mut start).unwrap();
    assert_eq!(start, foreign);

    // An existing file of another size than asked.
    let mut other_size = options(Durability::Dsync);
    other_size.file_bytes = Some(2 * DEVICE_BYTES);
    let error = Device::open(&path, other_size).unwrap_err();
    assert!(error.to_string().contains("not the"), "{error}");

    // A missing path without a size.
    let mut no_size = options(Durability::Dsync);
    no_size.file_bytes = None;
    let error = Device::open(&dir.0.join("missing"), no_size).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::NotFound);

    // A directory.
    let error = Device::open(&dir.0, options(Durability::Dsync)).unwrap_err();
    println!("a directory: {error}");
}

#[test]
fn a_memory_file_system_is_refused() {
    let shm = Path::new("/dev/shm");
    let is_tmpfs = fs::read_to_string("/proc/mounts")
        .map(|mounts| {
            mounts.lines().any(|line| {
                line.split_whitespace().nth(1) == Some("/dev/shm") && line.contains(" tmpfs ")
            })
        })
        .unwrap_or(false);
    if !is_tmpfs {
        println!("skipped: /dev/shm is not a tmpfs mount on this machine");
        return;
    }
    let path = shm.join(format!("workingdb-nvme-test-{}", std::process::id()));
    let result = Device::open(&path, options(Durability::Dsync));
    let left_behind = path.exists();
    let _ = fs::remove_file(&path);
    let message = result.unwrap_err().to_string();
    println!("tmpfs: {message}");
    assert!(
        message.contains("memory file system") || message.contains("direct I/O"),
        "{message}"
    );
    assert!(!left_behind, "a refused file is not left behind");
}

#[test]
fn a_loop_device_holds_the_log() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: loop devices need root");
        return;
    }
    let Some(dir) = test_dir("loop") else {
        return;
    };
    let backing = dir.0.join("backing");
    fs::File::create(&backing)
        .unwrap()
        .set_len(DEVICE_BYTES)
        .unwrap();
    let attach = std::process::Command::new("losetup")
        .args(["--find", "--show", "--direct-io=on"])
        .arg(&backing)
        .output();
    let device_path = match attach {
        Ok(output) if output.status.success() => {
            PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
        }
        Ok(output) => {
            println!(
                "skipped: losetup failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return;
        }
        Err(error) => {
            println!("skipped: no losetup: {error}");
            return;
        }
    };
    struct Detach(PathBuf);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = std::process::Command::new("losetup")
                .arg("--detach")
                .arg(&self.0)
                .status();
        }
    }
    let _detach = Detach(device_path.clone());
    let mut on_device = options(Durability::Dsync);
    on_device.file_bytes = None;
    let device = Device::open(&device_path, on_device.clone()).unwrap();
    assert_eq!(device.geometry().kind, Kind::BlockDevice);
    assert_eq!(device.geometry().size_bytes, DEVICE_BYTES);
    println!("loop device geometry: {:?}", device.geometry());
    let (mut log, recovered) = log_on(device);
    assert!(recovered.formatted);
    let bytes = pattern(9, 123_456);
    log.append(&bytes, true).unwrap();
    drop(log);
    let device = Device::open(&device_path, on_device).unwrap();
    let (mut log, recovered) = log_on(device);
    assert!(recovered.bytes == bytes);

    // The device goes away under the open log: its backing file is cut to nothing and the
    // loop device told to re-read its size. Appends fail with an error, nothing panics.
    fs::File::options()
        .write(true)
        .open(&backing)
        .unwrap()
        .set_len(0)
        .unwrap();
    let resized = std::process::Command::new("losetup")
        .arg("--set-capacity")
        .arg(&device_path)
        .status()
        .unwrap();
    assert!(resized.success());
    let error = log
        .append(&pattern(10, 50_000), true)
        .expect_err("an append to a vanished device");
    println!("append to a vanished device: {error}");
    assert!(
        error.to_string().contains(&*device_path.to_string_lossy()),
        "{error}"
    );
}

#[test]
fn volatile_appends_sync_and_truncation_keep_the_stream_exact() {
    let Some(dir) = test_dir("volatile") else {
        return;
    };
    let path = dir.0.join("log");
    let (mut log, _) = open(&path, Durability::Fdatasync);
    let payload = 4096 - BLOCK_HEADER_BYTES;
    let first = pattern(1, 3 * payload + 17);
    log.append(&first, false).unwrap();
    assert_eq!(log.len(), first.len() as u64);
    assert_eq!(log.synced_len(), 0);
    log.sync().unwrap();
    assert_eq!(log.synced_len(), first.len() as u64);
    let second = pattern(2, 2 * payload);
    log.append(&second, false).unwrap();
    // Back to the synced end (the AOF writer after a failed sync), then on.
    log.truncate(first.len() as u64).unwrap();
    assert_eq!(log.len(), first.len() as u64);
    let third = pattern(3, 100);
    log.append(&third, true).unwrap();
    // Reading the stream back at any offset, across blocks.
    let whole = [first.clone(), third.clone()].concat();
    for offset in [0, 1, payload - 1, payload, 3 * payload + 10] {
        let mut back = vec![0; 2 * payload];
        let read = log.read(offset as u64, &mut back).unwrap();
        let expected = &whole[offset..(offset + 2 * payload).min(whole.len())];
        assert_eq!(&back[..read], expected, "read at {offset}");
    }
    drop(log);
    let (mut log, recovered) = open(&path, Durability::Fdatasync);
    assert!(recovered.bytes == [first.clone(), third.clone()].concat());
    assert_eq!(
        recovered.stale_blocks_cleared, 0,
        "truncation cleared what it cut"
    );
    // Cut inside an earlier, full block (read back from the device), and on a block
    // boundary.
    for cut in [2 * payload as u64, payload as u64 + 5, 0] {
        log.truncate(cut).unwrap();
        drop(log);
        let (reopened, recovered) = open(&path, Durability::Fdatasync);
        assert!(recovered.bytes == first[..cut as usize], "cut at {cut}");
        assert_eq!(recovered.stale_blocks_cleared, 0);
        log = reopened;
    }
    let error = log.truncate(1).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn regions_of_one_device_hold_separate_logs() {
    let Some(dir) = test_dir("regions") else {
        return;
    };
    let path = dir.0.join("log");
    let device = Device::open(&path, options(Durability::Dsync)).unwrap();
    let regions = Region::split(&device, 3);
    assert_eq!(regions.len(), 3);
    let device = shared(device);
    let mut logs: Vec<BlockLog> = regions
        .iter()
        .map(|&region| BlockLog::open(device.clone(), region).unwrap().0)
        .collect();
    let contents: Vec<Vec<u8>> = (0..3)
        .map(|index| pattern(index, 10_000 + index as usize * 5000))
        .collect();
    for (log, bytes) in logs.iter_mut().zip(&contents) {
        log.append(bytes, true).unwrap();
    }
    // A region taken again as empty forgets what it held; the others keep theirs.
    let fresh = BlockLog::open_empty(device.clone(), regions[1]).unwrap();
    assert_eq!(fresh.generation(), 2);
    drop(fresh);
    drop(logs);
    for (index, &region) in regions.iter().enumerate() {
        let (_, recovered) = BlockLog::open(device.clone(), region).unwrap();
        let expected: &[u8] = if index == 1 { &[] } else { &contents[index] };
        assert!(recovered.bytes == expected, "region {index}");
        assert_eq!(recovered.stopped_at, None);
    }
}

#[test]
fn a_ring_with_a_polling_kernel_thread_writes_the_same_log() {
    let Some(dir) = test_dir("sqpoll") else {
        return;
    };
    let path = dir.0.join("log");
    let mut polled = options(Durability::Dsync);
    polled.sqpoll_idle_ms = Some(50);
    let device = match Device::open(&path, polled) {
        Ok(device) => device,
        Err(error) => {
            println!("skipped: SQPOLL is not allowed here: {error}");
            return;
        }
    };
    let (mut log, _) = log_on(device);
    let bytes = pattern(4, 70_000);
    log.append(&bytes, true).unwrap();
    log.append(&bytes[..10], false).unwrap();
    log.sync().unwrap();
    drop(log);
    let (_, recovered) = open(&path, Durability::Dsync);
    assert!(recovered.bytes == [&bytes[..], &bytes[..10]].concat());
}
