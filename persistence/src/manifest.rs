//! # manifest: which files make up the append-only file
//!
//! As Redis 7's multi-part AOF, the log is a directory (`appenddirname`, inside `dir`) of
//! parts named after `appendfilename`: at most one *base* (`appendonly.aof.3.base.wdb`, a
//! rewrite's snapshot of the live keys) and one or more *incremental* segments
//! (`appendonly.aof.3.incr.wdb`, effects appended since), listed by a manifest
//! (`appendonly.aof.manifest`) in Redis's line format:
//!
//! ```text
//! file appendonly.aof.3.base.wdb seq 3 type b
//! file appendonly.aof.3.incr.wdb seq 3 type i
//! ```
//!
//! Every part is a sequence of our records (not RESP, not RDB: the extension says so). The
//! last incremental segment is the one being written. The manifest is only ever replaced
//! whole and atomically ([`store`]: write a temporary file, fsync it, rename it over the old
//! one, fsync the directory), so a crash at any moment leaves either the old or the new list,
//! and every file either list names is complete (a rewrite writes and syncs its base before
//! naming it).

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

/// A part's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A rewrite's snapshot.
    Base,
    /// Effects appended after the base.
    Incremental,
}

/// One file of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The file name, inside the log directory.
    pub name: String,
    /// Its sequence number.
    pub seq: u64,
    /// Its role.
    pub kind: Kind,
}

/// The list of parts: the base (if any) first, then the incremental segments in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The parts, in replay order.
    pub parts: Vec<Part>,
}

/// The manifest's file name for `file_name` (Redis: `appendonly.aof.manifest`).
pub fn manifest_name(file_name: &str) -> String {
    format!("{file_name}.manifest")
}

/// The name of part `seq` of `kind`.
pub fn part_name(file_name: &str, seq: u64, kind: Kind) -> String {
    match kind {
        Kind::Base => format!("{file_name}.{seq}.base.wdb"),
        Kind::Incremental => format!("{file_name}.{seq}.incr.wdb"),
    }
}

/// The longest manifest we read: a manifest lists a handful of parts.
const MANIFEST_BYTES_MAX: u64 = 64 * 1024;

impl Manifest {
    /// Parses the line format of the module docs. Unknown keys on a line are ignored (as
    /// Redis does), a line without `file`, `seq` or `type` is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_ascii_whitespace().collect();
            if !words.len().is_multiple_of(2) {
                return Err(format!("manifest line {}: odd number of words", number + 1));
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair[0] {
                    "file" => name = Some(pair[1].to_owned()),
                    "seq" => seq = pair[1].parse::<u64>().ok(),
                    "type" => {
                        kind = match pair[1] {
                            "b" => Some(Kind::Base),
                            "i" => Some(Kind::Incremental),
                            _ => None,
                        }
                    }
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(format!(
                    "manifest line {}: needs file, seq and type b|i",
                    number + 1
                ));
            };
            if name.contains('/') || name.starts_with('.') {
                return Err(format!(
                    "manifest line {}: bad file name {name:?}",
                    number + 1
                ));
            }
            parts.push(Part { name, seq, kind });
        }
        let manifest = Self { parts };
        manifest.check()?;
        Ok(manifest)
    }

    /// The rules a manifest keeps: at most one base, first; at least one incremental segment,
    /// with increasing sequence numbers.
    fn check(&self) -> Result<(), String> {
        let bases = self.parts.iter().filter(|p| p.kind == Kind::Base).count();
        if bases > 1 || (bases == 1 && self.parts[0].kind != Kind::Base) {
            return Err("manifest: at most one base, listed first".into());
        }
        let incrementals: Vec<&Part> = self
            .parts
            .iter()
            .filter(|p| p.kind == Kind::Incremental)
            .collect();
        if incrementals.is_empty() {
            return Err("manifest: no incremental segment".into());
        }
        if incrementals
            .windows(2)
            .any(|pair| pair[0].seq >= pair[1].seq)
        {
            return Err("manifest: incremental segments out of order".into());
        }
        Ok(())
    }

    /// The text of the manifest.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for part in &self.parts {
            let kind = match part.kind {
                Kind::Base => "b",
                Kind::Incremental => "i",
            };
            // Writing to a String cannot fail.
            let _ = writeln!(text, "file {} seq {} type {kind}", part.name, part.seq);
        }
        text
    }

    /// The segment being written.
    pub fn active(&self) -> &Part {
        self.parts
            .iter()
            .rev()
            .find(|p| p.kind == Kind::Incremental)
            .expect("a checked manifest has an incremental segment")
    }

    /// The highest sequence number in use.
    pub fn max_seq(&self) -> u64 {
        self.parts.iter().map(|p| p.seq).max().unwrap_or(0)
    }
}

/// Reads the manifest in `dir`; `None` when there is none.
pub fn load(dir: &Path, file_name: &str) -> io::Result<Option<Manifest>> {
    let path = dir.join(manifest_name(file_name));
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    if file.metadata()?.len() > MANIFEST_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is too large for a manifest", path.display()),
        ));
    }
    let text = fs::read_to_string(&path)?;
    Manifest::parse(&text).map(Some).map_err(|why| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {why}", path.display()),
        )
    })
}

/// Fsyncs a directory, so a rename or a creation in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces the manifest atomically: temporary file, fsync, rename, fsync the directory.
pub fn store(dir: &Path, file_name: &str, manifest: &Manifest) -> io::Result<()> {
    manifest
        .check()
        .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
    let name = manifest_name(file_name);
    let temporary = dir.join(format!("temp-{name}"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)?;
    file.write_all(manifest.render().as_bytes())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, dir.join(&name))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_format_round_trips_and_bad_manifests_are_refused() {
        let manifest = Manifest {
            parts: vec![
                Part {
                    name: part_name("appendonly.aof", 3, Kind::Base),
                    seq: 3,
                    kind: Kind::Base,
                },
                Part {
                    name: part_name("appendonly.aof", 3, Kind::Incremental),
                    seq: 3,
                    kind: Kind::Incremental,
                },
                Part {
                    name: part_name("appendonly.aof", 4, Kind::Incremental),
                    seq: 4,
                    kind: Kind::Incremental,
                },
            ],
        };
        let text = manifest.render();
        assert_eq!(
            text.lines().next(),
            Some("file appendonly.aof.3.base.wdb seq 3 type b")
        );
        assert_eq!(Manifest::parse(&text).unwrap(), manifest);
        assert_eq!(manifest.active().seq, 4);
        assert_eq!(manifest.max_seq(), 4);

        for bad in [
            "",
            "file a seq 1 type b\n",
            "file a seq 1 type i\nfile b seq 2 type b\n",
            "file a seq 2 type i\nfile b seq 1 type i\n",
            "file a seq x type i\n",
            "file ../a seq 1 type i\n",
            "file a seq 1 type i extra\n",
        ] {
            assert!(Manifest::parse(bad).is_err(), "{bad:?}");
        }
        // Unknown keys are skipped, as Redis does.
        assert!(Manifest::parse("file a seq 1 type i startoffset 0\n").is_ok());
    }

    #[test]
    fn store_replaces_the_manifest_atomically() {
        let dir = std::env::temp_dir().join(format!("workingdb-manifest-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(load(&dir, "appendonly.aof").unwrap(), None);
        let manifest = Manifest::parse("file appendonly.aof.1.incr.wdb seq 1 type i\n").unwrap();
        store(&dir, "appendonly.aof", &manifest).unwrap();
        assert_eq!(load(&dir, "appendonly.aof").unwrap(), Some(manifest));
        assert!(!dir.join("temp-appendonly.aof.manifest").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
