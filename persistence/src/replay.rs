//! # replay: from the log directory back to the keyspace clients saw
//!
//! 1. Read the manifest (or start a fresh log: an empty first segment and a manifest naming
//!    it).
//! 2. Map every part and check every record (length, CRC-64/NVME, arguments that fit the
//!    opcode), noting each record's version and place. A database-map record (`SWAPDB`)
//!    changes no keyspace: only the one of the highest epoch is kept, and handed to the
//!    caller in [`Loaded::database_map`].
//! 3. A defect decides the start-up:
//!    * at the *tail* of the active segment (no valid record starts anywhere after it: the
//!      file ends inside a record, or the last bytes are zeros or garbage, as a crash in the
//!      middle of a write leaves them): cut it off with a warning that says how many bytes,
//!      when `aof-load-truncated` is on (the default, as Redis); otherwise refuse;
//!    * anywhere else (a valid record follows it, or it is in the base or an older segment):
//!      refuse to start with an error naming the file and the offset, unless the user asked to
//!      truncate there (`aof-load-truncate-corrupt`, ours: Redis has no such switch), which is
//!      only possible in the active segment. A corrupted length field cannot pass a middle
//!      record off as a torn tail: the records after it are still found.
//! 4. Apply the records in version order (ties: a base record after the incremental record of
//!    the same version, because the base describes the key *after* that version). Records are
//!    almost always already in order, so the sort is skipped when a check says so. Before
//!    applying, the engine's version clock is moved past the highest version seen, so new
//!    writes sort after everything on disk.
//!
//! Steps 1 to 3 are [`scan`]; step 4 is [`Scanned::apply`]. Between them the caller learns
//! how many records the log holds and sizes the map for them, so replay does not pay for the
//! map's growth (the copies of every migration were an eighth of the load's time). The
//! second pass trusts the checksums the first verified (the map is read-only and the
//! directory locked) and walks only the structure again; a record that no longer parses
//! stops the start-up as "the file changed while it was loading".
//!
//! The whole log is mapped, not read: the page cache holds it, and the index costs 24 bytes
//! per record (16M records: 384 MiB).

use crate::device::{DeviceSegments, Stub};
use crate::effect;
use crate::manifest::{self, Kind, Manifest, Part};
use crate::record::{self, Checksum};
use engine::Engine;
use keyspace::{Effect, Keyspace, Value};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How replay treats defects.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// `aof-load-truncated`: cut a torn tail of the active segment and start.
    pub load_truncated: bool,
    /// `aof-load-truncate-corrupt`: cut the active segment at a corrupt record even when
    /// records follow it (what follows is lost) and start.
    pub truncate_corrupt: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            load_truncated: true,
            truncate_corrupt: false,
        }
    }
}

/// Why replay refused to start.
#[derive(Debug)]
pub enum LoadError {
    /// Reading the directory or a file failed.
    Io(io::Error),
    /// A defect replay will not cut on its own.
    Corrupt {
        /// The part.
        file: PathBuf,
        /// Where its first bad record starts.
        offset: u64,
        /// What is wrong.
        why: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(error) => write!(f, "{error}"),
            LoadError::Corrupt { file, offset, why } => write!(
                f,
                "Bad file format reading the append only file {} at offset {offset}: {why}",
                file.display()
            ),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<io::Error> for LoadError {
    fn from(error: io::Error) -> Self {
        LoadError::Io(error)
    }
}

/// What replay did.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The manifest the writer continues from.
    pub manifest: Manifest,
    /// Bytes kept in the active segment: where the writer appends.
    pub active_bytes: u64,
    /// Records applied.
    pub records: u64,
    /// Bytes of records read.
    pub bytes: u64,
    /// The highest version seen.
    pub max_version: u64,
    /// `SWAPDB`'s map from database numbers to databases, with its epoch, as last logged
    /// (`None`: the identity); see `keyspace::databases`.
    pub database_map: Option<(u64, Vec<u8>)>,
    /// Bytes cut off the active segment.
    pub cut_bytes: u64,
    /// Records a consistent history cannot hold (counted, skipped).
    pub inconsistent: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// Where one record is.
#[derive(Clone, Copy)]
struct Place {
    version: u64,
    /// 0 for an incremental segment, 1 for the base: the tie-break of the module docs.
    base: u8,
    /// The record's database.
    db: u8,
    part: u32,
    offset: u64,
}

/// Takes an exclusive advisory lock on the log directory (creating it), held as long as the
/// returned handle lives: a second server pointed at the same directory is refused before it
/// reads or writes anything.
pub fn lock_dir(dir: &Path) -> io::Result<File> {
    fs::create_dir_all(dir)?;
    let handle = File::open(dir)?;
    match handle.try_lock() {
        Ok(()) => Ok(handle),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "{} is in use by another server (its lock is held)",
                dir.display()
            ),
        )),
        Err(fs::TryLockError::Error(error)) => Err(error),
    }
}

/// Reads `dir`'s manifest, or creates a fresh log (directory, first segment, manifest).
pub fn open_or_create(dir: &Path, file_name: &str) -> io::Result<Manifest> {
    open_or_create_on(dir, file_name, None)
}

/// [`open_or_create`], with the first segment of a new log on `devices` when given.
pub fn open_or_create_on(
    dir: &Path,
    file_name: &str,
    devices: Option<&DeviceSegments>,
) -> io::Result<Manifest> {
    fs::create_dir_all(dir)?;
    if let Some(manifest) = manifest::load(dir, file_name)? {
        return Ok(manifest);
    }
    let name = manifest::part_name(file_name, 1, Kind::Incremental);
    let path = dir.join(&name);
    match devices {
        Some(devices) => {
            // A stub left by a start that died before its manifest was stored names a slot
            // nobody needs: start over.
            let _ = fs::remove_file(&path);
            devices.create_segment(&path)?;
            manifest::sync_dir(dir)?;
        }
        None => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?
            .sync_all()?,
    }
    let manifest = Manifest {
        parts: vec![Part {
            name,
            seq: 1,
            kind: Kind::Incremental,
        }],
    };
    manifest::store(dir, file_name, &manifest)?;
    Ok(manifest)
}

/// The offset of the first complete, checking record that starts after `from`, if any. A
/// defect with such a record after it is corruption in the middle of the part, not a torn
/// tail: a torn write leaves nothing valid behind it. (A CRC-64 match at a random offset is a
/// 2^-64 event; the scan is only run on a defect.)
fn valid_record_after(bytes: &[u8], from: usize) -> Option<usize> {
    let last_start = bytes.len().checked_sub(record::RECORD_BYTES_MIN)?;
    (from + 1..=last_start).find(|&offset| {
        // Cheap checks first, so scanning a long torn tail of random bytes does not run a
        // checksum at every offset: the length must fit, the reserved byte be 0 and the
        // opcode known.
        let rest = &bytes[offset..];
        let length = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let plausible = (record::FIXED_BYTES..=record::RECORD_BYTES_MAX).contains(&length)
            && record::LENGTH_BYTES + length <= rest.len()
            && rest[29] == 0
            && record::Opcode::from_byte(rest[28]).is_some();
        plausible
            && record::decode(rest).is_ok_and(|(found, _)| {
                effect::decode(&found).is_ok() && record::version_fits(found.version)
            })
    })
}

/// Removes the parts a crash in a rewrite can leave behind: a base or a segment the manifest
/// does not name (the rewrite never switched to it, or switched away from it and died before
/// deleting it), and a temporary manifest. The manifest decides what the log is; anything
/// else with our names is garbage.
fn remove_orphans(dir: &Path, file_name: &str, manifest: &Manifest) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let temporary = format!("temp-{}", manifest::manifest_name(file_name));
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with(&format!("{file_name}."))
            && (name.ends_with(".base.wdb") || name.ends_with(".incr.wdb"));
        let named = manifest.parts.iter().any(|part| part.name == name);
        if (ours && !named) || name == temporary {
            match fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!("Removed {name}: the AOF manifest does not name it"),
                Err(error) => tracing::warn!("Cannot remove {name}: {error}"),
            }
        }
    }
}

/// Loads the log in `dir` into `keyspace` (which must be empty and have no journal yet):
/// [`scan`], then [`Scanned::apply`].
pub fn load<E: Engine<Value = Value>>(
    dir: &Path,
    file_name: &str,
    keyspace: &Keyspace<E>,
    options: LoadOptions,
) -> Result<Loaded, LoadError> {
    scan(dir, file_name, options, None)?.apply(keyspace)
}

/// The bytes of one part: mapped from its file, read from an `--aof-device`, or none.
enum PartBytes {
    Empty,
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl PartBytes {
    fn bytes(&self) -> &[u8] {
        match self {
            PartBytes::Empty => &[],
            PartBytes::Mapped(map) => map,
            PartBytes::Read(bytes) => bytes,
        }
    }
}

/// Maps the file at `path` (`Empty` when it has no bytes).
fn map_file(path: &Path) -> io::Result<PartBytes> {
    let file = File::open(path)
        .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))?;
    if file.metadata()?.len() == 0 {
        return Ok(PartBytes::Empty);
    }
    // SAFETY: the map is read-only and nothing else writes these files while we load: the
    // writer starts after replay, and another server on this directory is refused by
    // `lock_dir`, which the caller holds. (Someone editing the file by hand could change bytes
    // under us; that cannot corrupt memory, only what we read.)
    Ok(PartBytes::Mapped(unsafe { memmap2::Mmap::map(&file) }?))
}

/// A checked log, mapped and indexed, ready to apply. Its record count lets the caller size
/// the map before applying, so replay does not pay for the map's growth.
pub struct Scanned {
    dir: PathBuf,
    manifest: Manifest,
    /// Each part's bytes, alive while the index points into them.
    maps: Vec<PartBytes>,
    places: Vec<Place>,
    max_version: u64,
    /// The database map of the highest epoch, and that epoch (`None`: never swapped).
    database_map: Option<(u64, Vec<u8>)>,
    read_bytes: u64,
    active_bytes: u64,
    cut_bytes: u64,
    started: Instant,
}

/// Steps 1 to 3 of the module docs: reads the manifest, checks every record of every part and
/// cuts a defective tail where the options allow.
///
/// A part whose file is a device stub ([`crate::device`]) is read from `devices`; without
/// one, such a part refuses the start with a message naming the device.
pub fn scan(
    dir: &Path,
    file_name: &str,
    options: LoadOptions,
    devices: Option<&DeviceSegments>,
) -> Result<Scanned, LoadError> {
    let started = Instant::now();
    let manifest = open_or_create_on(dir, file_name, devices)?;
    remove_orphans(dir, file_name, &manifest);
    let mut maps: Vec<PartBytes> = Vec::with_capacity(manifest.parts.len());
    let mut places: Vec<Place> = Vec::new();
    let mut max_version = 0u64;
    let mut database_map: Option<(u64, Vec<u8>)> = None;
    let mut read_bytes = 0u64;
    let mut active_bytes = 0u64;
    let mut cut_bytes = 0u64;
    let last = manifest.parts.len() - 1;
    for (index, part) in manifest.parts.iter().enumerate() {
        let path = dir.join(&part.name);
        let stub = Stub::read(&path).map_err(|error| {
            io::Error::new(error.kind(), format!("{}: {error}", path.display()))
        })?;
        let map = match (&stub, devices) {
            (None, _) => map_file(&path)?,
            (Some(stub), Some(devices)) => PartBytes::Read(devices.load(stub, &path)?),
            (Some(stub), None) => {
                return Err(LoadError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{}: this segment is on the device {}: start with --aof-device {}",
                        path.display(),
                        stub.device.display(),
                        stub.device.display()
                    ),
                )))
            }
        };
        let bytes: &[u8] = map.bytes();
        let mut offset = 0usize;
        let mut defect = None;
        let mut arguments = Vec::new();
        while offset < bytes.len() {
            match record::decode_into(&bytes[offset..], Checksum::Check, arguments) {
                Ok((found, size)) => {
                    let map = match effect::decode(&found) {
                        Err(_) => {
                            defect = Some((
                                "a record whose arguments do not fit its opcode".to_string(),
                                false,
                            ));
                            break;
                        }
                        Ok(Effect::DatabaseMap { map }) => Some(map.to_vec()),
                        Ok(_) => None,
                    };
                    // A version the clock cannot count on from would overflow it at the first
                    // write after the load (found by the aof_replay fuzz target).
                    if !record::version_fits(found.version) {
                        defect = Some((
                            format!(
                                "a record of version {}, past the clock's range",
                                found.version
                            ),
                            false,
                        ));
                        break;
                    }
                    if let Some(map) = map {
                        // Not an effect on a keyspace: only the latest map counts.
                        if database_map
                            .as_ref()
                            .is_none_or(|(epoch, _)| *epoch <= found.version)
                        {
                            database_map = Some((found.version, map));
                        }
                        offset += size;
                        arguments = found.arguments;
                        continue;
                    }
                    max_version = max_version.max(found.version);
                    places.push(Place {
                        version: found.version,
                        base: u8::from(part.kind == Kind::Base),
                        db: found.db,
                        part: index as u32,
                        offset: offset as u64,
                    });
                    offset += size;
                    arguments = found.arguments;
                }
                Err(found) => {
                    arguments = Vec::new();
                    let tail = match valid_record_after(bytes, offset) {
                        None => true,
                        Some(next) => {
                            tracing::debug!("a valid record follows the defect at {next}");
                            false
                        }
                    };
                    defect = Some((format!("{found:?}"), tail));
                    break;
                }
            }
        }
        read_bytes += offset as u64;
        if let Some((why, tail)) = defect {
            let cut = bytes.len() - offset;
            let refuse = || LoadError::Corrupt {
                file: path.clone(),
                offset: offset as u64,
                why: why.clone(),
            };
            if index != last {
                return Err(refuse());
            }
            let allowed = if tail {
                options.load_truncated
            } else {
                options.truncate_corrupt
            };
            if !allowed {
                return Err(refuse());
            }
            tracing::warn!(
                "!!! Warning: {} at offset {offset} of the append only file {} ({why}): \
                 cutting {cut} bytes off its end and loading the rest !!!",
                if tail {
                    "a truncated or torn tail"
                } else {
                    "corruption"
                },
                path.display(),
            );
            cut_bytes = cut as u64;
            match (&stub, devices) {
                (Some(stub), Some(devices)) => {
                    devices.truncate(stub, offset as u64)?;
                    let PartBytes::Read(mut bytes) = map else {
                        unreachable!("a device segment is read, not mapped")
                    };
                    bytes.truncate(offset);
                    maps.push(PartBytes::Read(bytes));
                }
                _ => {
                    drop(map);
                    let file = OpenOptions::new().write(true).open(&path)?;
                    file.set_len(offset as u64)?;
                    file.sync_all()?;
                    // Map what is left again.
                    maps.push(map_file(&path)?);
                }
            }
        } else {
            maps.push(map);
        }
        if index == last {
            active_bytes = offset as u64;
        }
    }

    Ok(Scanned {
        dir: dir.to_path_buf(),
        manifest,
        maps,
        places,
        max_version,
        database_map,
        read_bytes,
        active_bytes,
        cut_bytes,
        started,
    })
}

impl Scanned {
    /// Whether the active segment is on an `--aof-device` (its file is a stub).
    pub fn active_is_stub(&self) -> bool {
        self.manifest.parts.last().is_some_and(|part| {
            Stub::read(&self.dir.join(&part.name)).is_ok_and(|stub| stub.is_some())
        })
    }

    /// How many records the log holds: an upper bound of the keys it describes (a base holds
    /// one record per key, or a few for a long list; each incremental record adds at most
    /// one key).
    pub fn records(&self) -> usize {
        self.places.len()
    }

    /// How many of the records belong to database `db` (to size its map up front).
    pub fn records_in(&self, db: u8) -> usize {
        self.places.iter().filter(|place| place.db == db).count()
    }

    /// [`Scanned::apply_all`] for a server with one database.
    pub fn apply<E: Engine<Value = Value>>(
        self,
        keyspace: &Keyspace<E>,
    ) -> Result<Loaded, LoadError> {
        self.apply_all(&[keyspace])
    }

    /// Step 4 of the module docs: applies every record in version order to the keyspace of
    /// its database (`databases[db]`; each must be empty and have no journal yet). A record
    /// of a database past the last is refused, naming it: the log was written by a server
    /// configured with more databases.
    ///
    /// Each database's engine has its own version clock, so versions are compared only
    /// within a database; applying all records in one global order keeps each database's
    /// records in its own order.
    pub fn apply_all<E: Engine<Value = Value>>(
        self,
        databases: &[&Keyspace<E>],
    ) -> Result<Loaded, LoadError> {
        let Scanned {
            dir,
            manifest,
            maps,
            mut places,
            max_version,
            database_map,
            read_bytes,
            active_bytes,
            cut_bytes,
            started,
        } = self;
        for keyspace in databases {
            keyspace.engine().versions().observe(max_version);
        }
        let key = |place: &Place| (place.version, place.base);
        if !places.windows(2).all(|pair| key(&pair[0]) <= key(&pair[1])) {
            places.sort_by_key(key);
        }
        let total = places.len();
        let mut inconsistent = 0u64;
        let mut last_report = Instant::now();
        let mut applied_since_report = 0usize;
        let mut arguments = Vec::new();
        for (done, place) in places.iter().enumerate() {
            let bytes = maps[place.part as usize].bytes();
            // The first pass verified every checksum and the map is read-only, so this pass
            // only walks the structure again.
            let changed = || LoadError::Corrupt {
                file: dir.join(&manifest.parts[place.part as usize].name),
                offset: place.offset,
                why: "the file changed while it was loading".to_string(),
            };
            let (found, _) =
                record::decode_into(&bytes[place.offset as usize..], Checksum::Trust, arguments)
                    .map_err(|_| changed())?;
            let Ok(effect) = effect::decode(&found) else {
                return Err(changed());
            };
            let Some(keyspace) = databases.get(usize::from(place.db)) else {
                return Err(LoadError::Corrupt {
                    file: dir.join(&manifest.parts[place.part as usize].name),
                    offset: place.offset,
                    why: format!(
                        "a record of database {}, but the server has {} databases (set 'databases')",
                        place.db,
                        databases.len()
                    ),
                });
            };
            if keyspace.apply(&effect).is_err() {
                inconsistent += 1;
            }
            arguments = found.arguments;
            applied_since_report += 1;
            // Reading the clock for every record would cost more than a few per cent of the
            // load.
            if applied_since_report.is_multiple_of(4096)
                && last_report.elapsed() >= Duration::from_secs(1)
            {
                let rate = applied_since_report as f64 / last_report.elapsed().as_secs_f64();
                tracing::info!(
                    "Loading the append only file: {:.1}% ({} of {total} records, {:.0} records/s)",
                    done as f64 * 100.0 / total as f64,
                    done,
                    rate
                );
                last_report = Instant::now();
                applied_since_report = 0;
            }
        }
        if inconsistent > 0 {
            tracing::warn!(
                "{inconsistent} records did not fit the state before them and were skipped"
            );
        }
        Ok(Loaded {
            manifest,
            active_bytes,
            records: total as u64,
            bytes: read_bytes,
            max_version,
            database_map,
            cut_bytes,
            inconsistent,
            elapsed: started.elapsed(),
        })
    }
}
