//! # storage: where the append-only file's bytes go
//!
//! The writer talks to a [`Storage`], not to a file, so the same writer code runs over:
//!
//! * [`FileStorage`]: a plain file with positional writes (`pwrite`) and `fdatasync`, the
//!   back-end for kernels without io_uring (the io_uring back-end comes next, issue 4);
//! * [`FaultyStorage`]: memory with seeded faults (EIO, ENOSPC, short writes) and a
//!   [`FaultyStorage::crash`] that keeps only what was synced plus, possibly, a torn part of
//!   what was not, the way a power cut leaves a disk. Tests drive the writer and replay
//!   through it, because a real disk cannot fail on demand (TigerBeetle's simulated storage
//!   is the model).
//!
//! The contract is the one a file gives: a successful `sync` makes every byte written before
//! it durable; bytes written since the last successful `sync` may or may not survive a
//! crash, and may survive partly. After a *failed* `sync` nothing written since the last
//! successful one may be trusted (Linux may drop the dirty pages and forget the error), so
//! callers must treat that batch as not durable.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// A byte store with positional writes and an explicit durability barrier.
pub trait Storage: Send {
    /// Writes some prefix of `bytes` at `offset`; returns how many bytes were written.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize>;

    /// Reads into `buffer` from `offset`; returns how many bytes were read (0 at the end).
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize>;

    /// Makes every byte written so far durable.
    fn sync(&mut self) -> io::Result<()>;

    /// The current size in bytes.
    fn size(&self) -> io::Result<u64>;

    /// Cuts the store to `size` bytes (replay cuts a torn tail), durably.
    fn truncate(&mut self, size: u64) -> io::Result<()>;

    /// The writer's one call per batch: writes all of `bytes` at `offset` and, when `sync` is
    /// set, makes everything written so far durable. An error means the batch may be partly
    /// written and, if `sync` was asked, nothing since the last successful sync is durable.
    ///
    /// The default is [`Storage::write_all_at`] then [`Storage::sync`]; the io_uring back-end
    /// submits the writes and an `fdatasync` linked behind them in one system call.
    fn write_batch(&mut self, offset: u64, bytes: &[u8], sync: bool) -> io::Result<()> {
        self.write_all_at(offset, bytes)?;
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    /// An io_uring pipeline writing the same file, for `appendfsync always`: up to `depth`
    /// batches in flight at once, the writer woken through the pipe `wake` (see
    /// [`crate::uring::UringPipeline`]). `None` for back-ends without one, whose batches go
    /// one at a time through [`Storage::write_batch`].
    fn pipeline(
        &self,
        _depth: usize,
        _wake: std::io::PipeReader,
        _wake_self: std::io::PipeWriter,
    ) -> Option<io::Result<crate::uring::UringPipeline>> {
        None
    }

    /// The most bytes the store holds, for stores of a fixed size (a segment on an
    /// `--aof-device`); `None` for files, which grow.
    fn capacity(&self) -> Option<u64> {
        None
    }

    /// Writes all of `bytes` at `offset`, retrying short writes.
    fn write_all_at(&mut self, mut offset: u64, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.write_at(offset, bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    offset += written as u64;
                    bytes = &bytes[written..];
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// A plain file: `pwrite` and `fdatasync`.
#[derive(Debug)]
pub struct FileStorage {
    file: File,
}

impl FileStorage {
    /// Wraps an open file (opened for reading and writing).
    pub fn new(file: File) -> Self {
        Self { file }
    }
}

impl Storage for FileStorage {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize> {
        self.file.write_at(bytes, offset)
    }

    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
        self.file.read_at(buffer, offset)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn truncate(&mut self, size: u64) -> io::Result<()> {
        self.file.set_len(size)?;
        self.file.sync_all()
    }
}

/// Fault rates of a [`FaultyStorage`], in parts per thousand operations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// A write fails with EIO.
    pub write_eio_per_mille: u32,
    /// A write fails with ENOSPC.
    pub write_enospc_per_mille: u32,
    /// A write writes only part of its bytes.
    pub short_write_per_mille: u32,
    /// A sync fails with EIO (and, as on Linux, the unsynced bytes are then unreliable).
    pub sync_eio_per_mille: u32,
}

/// In-memory storage with seeded faults; see the module docs.
#[derive(Debug, Clone)]
pub struct FaultyStorage {
    /// What a crash keeps for sure: the contents at the last successful sync.
    durable: Vec<u8>,
    /// What reads see now.
    current: Vec<u8>,
    faults: Faults,
    rng: u64,
}

impl FaultyStorage {
    /// Empty storage with these fault rates and this seed.
    pub fn new(faults: Faults, seed: u64) -> Self {
        Self {
            durable: Vec::new(),
            current: Vec::new(),
            faults,
            rng: seed,
        }
    }

    /// Changes the fault rates (a test turns faults off to let the writer recover).
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// splitmix64: small, seeded, good enough to pick faults.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn happens(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && (self.next() % 1000) < u64::from(per_mille)
    }

    /// What the storage holds after a power cut now: everything synced, plus a random prefix
    /// of what was written since (possibly none of it, possibly all).
    pub fn crash(&mut self) -> Vec<u8> {
        let mut after = self.durable.clone();
        if self.current.len() > self.durable.len()
            && self.current[..self.durable.len()] == self.durable[..]
        {
            let unsynced = self.current.len() - self.durable.len();
            let kept = (self.next() % (unsynced as u64 + 1)) as usize;
            after.extend_from_slice(&self.current[self.durable.len()..self.durable.len() + kept]);
        }
        after
    }

    /// Storage holding `contents` as durable bytes (a restart after [`FaultyStorage::crash`]).
    pub fn from_contents(contents: Vec<u8>, faults: Faults, seed: u64) -> Self {
        Self {
            durable: contents.clone(),
            current: contents,
            faults,
            rng: seed,
        }
    }
}

impl Storage for FaultyStorage {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize> {
        if self.happens(self.faults.write_eio_per_mille) {
            return Err(io::Error::from_raw_os_error(libc_errno::EIO));
        }
        if self.happens(self.faults.write_enospc_per_mille) {
            return Err(io::Error::from_raw_os_error(libc_errno::ENOSPC));
        }
        let mut count = bytes.len();
        if count > 1 && self.happens(self.faults.short_write_per_mille) {
            count = 1 + (self.next() as usize % (count - 1));
        }
        let offset = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = offset + count;
        if self.current.len() < end {
            self.current.resize(end, 0);
        }
        self.current[offset..end].copy_from_slice(&bytes[..count]);
        Ok(count)
    }

    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
        let offset = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let available = self.current.get(offset..).unwrap_or(&[]);
        let count = available.len().min(buffer.len());
        buffer[..count].copy_from_slice(&available[..count]);
        Ok(count)
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.happens(self.faults.sync_eio_per_mille) {
            // As on Linux after a failed fsync: the dirty data may be gone, and a later sync
            // will not report it again. Model the worst case: the unsynced bytes are lost.
            self.current = self.durable.clone();
            return Err(io::Error::from_raw_os_error(libc_errno::EIO));
        }
        self.durable = self.current.clone();
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.current.len() as u64)
    }

    fn truncate(&mut self, size: u64) -> io::Result<()> {
        let size = usize::try_from(size).map_err(|_| io::ErrorKind::InvalidInput)?;
        self.current.truncate(size);
        self.durable.truncate(size);
        Ok(())
    }
}

/// The two errno values the faults use (Linux numbering; this crate is Linux-only).
mod libc_errno {
    pub const EIO: i32 = 5;
    pub const ENOSPC: i32 = 28;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_storage_writes_reads_syncs_and_truncates() {
        let path = std::env::temp_dir().join(format!("workingdb-storage-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let mut storage = FileStorage::new(file);
        storage.write_all_at(0, b"hello world").unwrap();
        storage.sync().unwrap();
        assert_eq!(storage.size().unwrap(), 11);
        let mut buffer = [0u8; 5];
        assert_eq!(storage.read_at(6, &mut buffer).unwrap(), 5);
        assert_eq!(&buffer, b"world");
        storage.truncate(5).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_crash_keeps_what_was_synced_and_maybe_a_prefix_of_the_rest() {
        let mut kept_lengths = std::collections::BTreeSet::new();
        for seed in 0..50 {
            let mut storage = FaultyStorage::new(Faults::default(), seed);
            storage.write_all_at(0, b"synced").unwrap();
            storage.sync().unwrap();
            storage.write_all_at(6, b"-unsynced").unwrap();
            let after = storage.crash();
            assert!(after.starts_with(b"synced"));
            assert!(b"synced-unsynced".starts_with(&after));
            kept_lengths.insert(after.len());
        }
        // Different seeds keep different amounts, none and all included.
        assert!(
            kept_lengths.contains(&6) && kept_lengths.contains(&15),
            "{kept_lengths:?}"
        );
    }

    #[test]
    fn faults_happen_at_their_rates_and_write_all_survives_short_writes() {
        let faults = Faults {
            short_write_per_mille: 500,
            ..Faults::default()
        };
        let mut storage = FaultyStorage::new(faults, 7);
        let data: Vec<u8> = (0..=255).collect();
        storage.write_all_at(0, &data).unwrap();
        let mut back = vec![0u8; 256];
        storage.read_at(0, &mut back).unwrap();
        assert_eq!(back, data);

        let always_eio = Faults {
            write_eio_per_mille: 1000,
            ..Faults::default()
        };
        let mut failing = FaultyStorage::new(always_eio, 1);
        let error = failing.write_all_at(0, b"x").unwrap_err();
        assert_eq!(error.raw_os_error(), Some(5));
        failing.set_faults(Faults::default());
        failing.write_all_at(0, b"x").unwrap();

        // A failed sync loses what was not synced before it.
        let sync_fails = Faults {
            sync_eio_per_mille: 1000,
            ..Faults::default()
        };
        let mut storage = FaultyStorage::new(Faults::default(), 3);
        storage.write_all_at(0, b"durable").unwrap();
        storage.sync().unwrap();
        storage.set_faults(sync_fails);
        storage.write_all_at(7, b"+lost").unwrap();
        assert!(storage.sync().is_err());
        assert_eq!(storage.crash(), b"durable");
        assert_eq!(storage.size().unwrap(), 7);
    }
}
