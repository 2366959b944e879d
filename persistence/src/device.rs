//! # device: incremental segments on a block log (`--aof-device`)
//!
//! With `--aof-device PATH` the hot path of the AOF, the active incremental segment, is
//! written with `O_DIRECT` to a block device or a preallocated file through
//! [`nvme::BlockLog`], while the manifest and the bases stay files in the AOF directory (a
//! base is written once per rewrite, in large sequential writes; the page cache serves it
//! well).
//!
//! ## Slots and stubs
//!
//! The device is cut into [`SEGMENT_SLOTS`] equal regions, the *slots*; each incremental
//! segment occupies one. The segment's file in the AOF directory is a *stub*: a few lines of
//! text naming the device, the slot and the slot's generation when the segment began:
//!
//! ```text
//! workingdb-device-segment 1
//! device /dev/nvme1n1
//! slot 2
//! generation 7
//! ```
//!
//! so the manifest, its atomic switch and the removal of replaced parts work as they do for
//! files. A stub can never be taken for a segment of records: a record starts with its
//! length, and the stub's first four bytes read as a length above the largest record.
//!
//! * A new segment takes the lowest slot no stub in the directory names, and starts an empty
//!   log there under a new generation (durably) before its stub is written and synced, and
//!   the stub before the manifest names it. Whatever the slot held belongs to no segment the
//!   manifest names, and the new generation makes its blocks unreadable.
//! * A slot is free again once a rewrite's manifest switch has removed the stub that named it:
//!   space is reclaimed together with the rewrite, as the issue asks. With four slots the log
//!   has room for the active segment, the one a running rewrite replaces, and two more left
//!   by failed rewrites.
//! * Replay reads a stub's segment from its slot (recovery as [`nvme::blocklog`] describes it)
//!   and checks that the slot's generation is the stub's: a slot reused since would refuse
//!   the start rather than replay someone else's records. The log it opened is handed to the
//!   writer, so the active segment is not read twice.
//! * A segment is at most a slot. The writer asks for a rewrite when the active segment
//!   passes half of its slot; should it fill up anyway (a rewrite that cannot keep up), the
//!   writes that do not fit are refused (MISCONF) and the next rewrite carries them into the
//!   new segment.
//!
//! Durability is the block log's: an `always` batch is one durable append (`RWF_DSYNC`
//! writes, or one drained fdatasync, as `--aof-device-sync` says); `everysec` and `no`
//! batches are written without it and synced on the writer's timer.

use crate::log::Opener;
use crate::storage::Storage;
use nvme::{shared, BlockLog, Device, DeviceOptions, OpenError, Region, SharedDevice};
use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// How many segments the device holds at once.
pub const SEGMENT_SLOTS: u64 = 4;
/// The first line of a stub.
pub const STUB_MAGIC: &str = "workingdb-device-segment 1";
/// The longest stub we read (a device path of up to 4 KiB).
const STUB_BYTES_MAX: u64 = 8192;

/// What a stub says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stub {
    /// The device the segment is on.
    pub device: PathBuf,
    /// Its slot.
    pub slot: u64,
    /// The slot's generation when the segment began.
    pub generation: u64,
}

impl Stub {
    fn render(&self) -> String {
        format!(
            "{STUB_MAGIC}\ndevice {}\nslot {}\ngeneration {}\n",
            self.device.display(),
            self.slot,
            self.generation
        )
    }

    /// Reads the file at `path`: `Ok(None)` when it is not a stub (a segment of records),
    /// `Err` when it starts like a stub but does not parse.
    pub fn read(path: &Path) -> io::Result<Option<Stub>> {
        let file = File::open(path)?;
        let length = file.metadata()?.len();
        let mut start = [0u8; STUB_MAGIC.len()];
        use std::io::Read as _;
        let mut reader = file.take(STUB_BYTES_MAX);
        let mut read = 0;
        while read < start.len() {
            match reader.read(&mut start[read..])? {
                0 => return Ok(None),
                count => read += count,
            }
        }
        if start != STUB_MAGIC.as_bytes() {
            return Ok(None);
        }
        let bad = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: a damaged device segment stub: {why}", path.display()),
            )
        };
        if length > STUB_BYTES_MAX {
            return Err(bad("too long"));
        }
        let mut rest = String::new();
        reader
            .read_to_string(&mut rest)
            .map_err(|_| bad("not text"))?;
        let mut device = None;
        let mut slot = None;
        let mut generation = None;
        for line in rest.lines().skip(1) {
            match line.split_once(' ') {
                Some(("device", value)) => device = Some(PathBuf::from(value)),
                Some(("slot", value)) => slot = value.parse().ok(),
                Some(("generation", value)) => generation = value.parse().ok(),
                _ => return Err(bad(&format!("unexpected line {line:?}"))),
            }
        }
        match (device, slot, generation) {
            (Some(device), Some(slot), Some(generation)) => Ok(Some(Stub {
                device,
                slot,
                generation,
            })),
            _ => Err(bad("a field is missing")),
        }
    }
}

/// The device the AOF's segments go to, its slots, and the logs replay opened.
pub struct DeviceSegments {
    device: SharedDevice,
    path: PathBuf,
    slots: Vec<Region>,
    dir: PathBuf,
    file_name: String,
    /// Logs replay recovered, by slot, until the writer opens their segment.
    recovered: Mutex<HashMap<u64, BlockLog>>,
}

impl std::fmt::Debug for DeviceSegments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSegments")
            .field("path", &self.path)
            .field("slots", &self.slots)
            .finish()
    }
}

fn open_error(error: OpenError) -> io::Error {
    match error {
        OpenError::Io(error) => error,
        OpenError::Foreign(why) => io::Error::new(io::ErrorKind::InvalidData, why),
        OpenError::Unsuitable(why) => io::Error::new(io::ErrorKind::InvalidInput, why),
    }
}

impl DeviceSegments {
    /// Opens the device at `path` (creating a file there as `options` says) for the AOF in
    /// `dir` whose parts are named after `file_name`.
    pub fn open(
        path: &Path,
        options: DeviceOptions,
        dir: &Path,
        file_name: &str,
    ) -> io::Result<Arc<DeviceSegments>> {
        let minimum = 1 + nvme::blocklog::STREAM_BLOCKS_MIN;
        let too_small = |size: u64, block: usize| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: {size} bytes is too small for the AOF: {SEGMENT_SLOTS} segments of at \
                     least {minimum} blocks of {block} bytes",
                    path.display(),
                ),
            )
        };
        // Refuse a file too small before creating it (4096-byte blocks, the least we use).
        if let Some(size) = options.file_bytes.filter(|_| !path.exists()) {
            if size < SEGMENT_SLOTS * minimum * 4096 {
                return Err(too_small(size, 4096));
            }
        }
        let device = Device::open(path, options)?;
        let slots = Region::split(&device, SEGMENT_SLOTS);
        if slots[0].blocks < minimum {
            return Err(too_small(
                device.geometry().size_bytes,
                device.geometry().block_bytes(),
            ));
        }
        tracing::info!(
            "AOF device {}: {:?}, {} bytes, blocks of {} bytes ({}), {SEGMENT_SLOTS} segments of {} bytes",
            path.display(),
            device.geometry().kind,
            device.geometry().size_bytes,
            device.geometry().block_bytes(),
            device.geometry().source,
            slots[0].blocks * device.geometry().block_bytes() as u64,
        );
        Ok(Arc::new(DeviceSegments {
            device: shared(device),
            path: path.to_path_buf(),
            slots,
            dir: dir.to_path_buf(),
            file_name: file_name.to_string(),
            recovered: Mutex::new(HashMap::new()),
        }))
    }

    fn check_stub(&self, stub: &Stub, part: &Path) -> io::Result<Region> {
        if stub.device != self.path {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: this segment was written to the device {}, not {}: start with \
                     --aof-device {}",
                    part.display(),
                    stub.device.display(),
                    self.path.display(),
                    stub.device.display()
                ),
            ));
        }
        self.slots.get(stub.slot as usize).copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: slot {} does not exist on a device of {SEGMENT_SLOTS} slots",
                    part.display(),
                    stub.slot
                ),
            )
        })
    }

    /// Replay's read of the segment `stub` (the file at `part`) describes: its bytes.
    pub fn load(&self, stub: &Stub, part: &Path) -> io::Result<Vec<u8>> {
        let region = self.check_stub(stub, part)?;
        let (log, recovered) =
            BlockLog::open_existing(Arc::clone(&self.device), region).map_err(|error| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: slot {} of {} does not hold the segment: {error} (the device was \
                         replaced or wiped)",
                        part.display(),
                        stub.slot,
                        self.path.display()
                    ),
                )
            })?;
        if recovered.generation != stub.generation {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: slot {} of {} holds generation {}, the segment was written under {}: \
                     the slot was reused or the device changed",
                    part.display(),
                    stub.slot,
                    self.path.display(),
                    recovered.generation,
                    stub.generation
                ),
            ));
        }
        if let Some(why) = &recovered.stopped_at {
            tracing::warn!(
                "AOF device {} slot {}: the log ends early at a damaged block ({why}); {} bytes \
                 read",
                self.path.display(),
                stub.slot,
                recovered.bytes.len()
            );
        }
        if recovered.stale_blocks_cleared > 0 {
            tracing::info!(
                "AOF device {} slot {}: cleared {} blocks of an interrupted write",
                self.path.display(),
                stub.slot,
                recovered.stale_blocks_cleared
            );
        }
        lock(&self.recovered).insert(stub.slot, log);
        Ok(recovered.bytes)
    }

    /// Replay's cut of a torn tail in the segment `stub` describes.
    pub fn truncate(&self, stub: &Stub, length: u64) -> io::Result<()> {
        let mut recovered = lock(&self.recovered);
        let log = recovered.get_mut(&stub.slot).ok_or_else(|| {
            io::Error::other(format!("slot {} was not loaded before its cut", stub.slot))
        })?;
        log.truncate(length)
    }

    /// The slots that stubs in the AOF directory name.
    fn slots_in_use(&self) -> io::Result<BTreeSet<u64>> {
        let mut used = BTreeSet::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with(&format!("{}.", self.file_name)) && name.ends_with(".incr.wdb")) {
                continue;
            }
            if let Some(stub) = Stub::read(&entry.path())? {
                used.insert(stub.slot);
            }
        }
        Ok(used)
    }

    /// Starts a new segment at `path` on a free slot.
    fn create(&self, path: &Path) -> io::Result<DeviceStorage> {
        let used = self.slots_in_use()?;
        let Some(slot) = (0..SEGMENT_SLOTS).find(|slot| !used.contains(slot)) else {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "no free segment slot on the AOF device {}: all {SEGMENT_SLOTS} hold segments \
                     the manifest needs (failed rewrites leave their segments behind)",
                    self.path.display()
                ),
            ));
        };
        lock(&self.recovered).remove(&slot);
        let log = BlockLog::open_empty(Arc::clone(&self.device), self.slots[slot as usize])
            .map_err(open_error)?;
        let stub = Stub {
            device: self.path.clone(),
            slot,
            generation: log.generation(),
        };
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        file.write_all(stub.render().as_bytes())?;
        file.sync_all()?;
        Ok(DeviceStorage { log })
    }

    /// Starts a new segment at `path` on a free slot and keeps its log for the writer (the
    /// first segment of a new AOF, created before the writer starts).
    pub fn create_segment(&self, path: &Path) -> io::Result<()> {
        let storage = self.create(path)?;
        let slot = Stub::read(path)?.expect("the stub just written").slot;
        lock(&self.recovered).insert(slot, storage.log);
        Ok(())
    }

    /// Opens the existing segment `stub` (at `part`) for appending.
    fn reopen(&self, stub: &Stub, part: &Path) -> io::Result<DeviceStorage> {
        if let Some(log) = lock(&self.recovered).remove(&stub.slot) {
            return Ok(DeviceStorage { log });
        }
        let region = self.check_stub(stub, part)?;
        let (log, recovered) =
            BlockLog::open_existing(Arc::clone(&self.device), region).map_err(open_error)?;
        if recovered.generation != stub.generation {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: the slot's generation changed", part.display()),
            ));
        }
        Ok(DeviceStorage { log })
    }

    /// The writer's opener: a stub's segment on the device, a new segment on a free slot, or
    /// (for a segment written before the AOF moved to the device) the plain file, through
    /// `fallback`.
    pub fn opener(self: &Arc<Self>, mut fallback: Opener) -> Opener {
        let segments = Arc::clone(self);
        Box::new(move |path: &Path| {
            if !path.exists() {
                return Ok(Box::new(segments.create(path)?) as Box<dyn Storage>);
            }
            match Stub::read(path)? {
                Some(stub) => Ok(Box::new(segments.reopen(&stub, path)?) as Box<dyn Storage>),
                None => {
                    tracing::warn!(
                        "the active AOF segment {} is a file; new segments go to the device \
                         from the next rewrite on",
                        path.display()
                    );
                    fallback(path)
                }
            }
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One segment on the device, as the writer's [`Storage`].
#[derive(Debug)]
pub struct DeviceStorage {
    log: BlockLog,
}

impl DeviceStorage {
    /// Goes back to `offset` when a retry writes again from there (after a failed sync the
    /// writer rewrites everything since the last synced position).
    fn place(&mut self, offset: u64) -> io::Result<()> {
        let length = self.log.len();
        if offset == length {
            return Ok(());
        }
        if offset < length {
            return self.log.truncate(offset);
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a write at {offset} past the segment's end at {length}"),
        ))
    }
}

impl Storage for DeviceStorage {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize> {
        self.place(offset)?;
        self.log.append(bytes, false)?;
        Ok(bytes.len())
    }

    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
        self.log.read(offset, buffer)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.log.sync()
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.log.len())
    }

    fn truncate(&mut self, size: u64) -> io::Result<()> {
        self.log.truncate(size)
    }

    fn write_batch(&mut self, offset: u64, bytes: &[u8], sync: bool) -> io::Result<()> {
        self.place(offset)?;
        self.log.append(bytes, sync)
    }

    fn capacity(&self) -> Option<u64> {
        Some(self.log.capacity())
    }
}
