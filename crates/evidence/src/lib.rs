//! # trustmeter-evidence
//!
//! The evidence store: files behind documented carbon entries, kept per enterprise under their
//! content hash, bounded and checked on every read. See the README.

#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use trustmeter_crypto::HashAlg;
use trustmeter_types::carbon::MAX_EVIDENCE_BYTES;
use trustmeter_types::{Hash32, UnifiedSocialCreditCode};

/// Bounds of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Largest file, bytes (at most [`MAX_EVIDENCE_BYTES`], what the chain accepts).
    pub max_file_bytes: u64,
    /// Most bytes one enterprise may keep.
    pub max_owner_bytes: u64,
    /// Most files one enterprise may keep.
    pub max_owner_files: u64,
}

impl Default for StoreLimits {
    /// 16 MiB a file; 2 GiB and 20 000 files an enterprise (a year of monthly ledgers, invoices
    /// and photos of a large plant, with room to spare).
    fn default() -> Self {
        StoreLimits { max_file_bytes: MAX_EVIDENCE_BYTES, max_owner_bytes: 2 << 30, max_owner_files: 20_000 }
    }
}

/// Why the store refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// An empty file.
    #[error("an evidence file must not be empty")]
    Empty,
    /// A file above the size limit.
    #[error("the file has {bytes} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The enterprise's quota would be exceeded.
    #[error(
        "{owner} keeps {used_bytes} bytes in {used_files} files; this file ({bytes} bytes) would pass its quota of {max_bytes} bytes or {max_files} files"
    )]
    QuotaExceeded {
        /// The enterprise.
        owner: String,
        /// Bytes it keeps.
        used_bytes: u64,
        /// Files it keeps.
        used_files: u64,
        /// The new file's size.
        bytes: u64,
        /// Its byte quota.
        max_bytes: u64,
        /// Its file quota.
        max_files: u64,
    },
    /// A stored file no longer hashes to its name.
    #[error("stored evidence {hash} is corrupt: its bytes hash to {actual}")]
    Corrupt {
        /// The name.
        hash: Hash32,
        /// What its bytes hash to.
        actual: Hash32,
    },
    /// The file system failed.
    #[error("evidence store I/O at {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EvidenceError + '_ {
    move |source| EvidenceError::Io { path: path.to_path_buf(), source }
}

/// A file as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Its content hash.
    pub hash: Hash32,
    /// Its size.
    pub bytes: u64,
    /// `false` when the enterprise had already stored the same bytes.
    pub created: bool,
}

/// What one enterprise keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes.
    pub bytes: u64,
    /// Files.
    pub files: u64,
}

/// A content-addressed store of evidence files, one directory per enterprise.
#[derive(Debug)]
pub struct EvidenceStore {
    root: PathBuf,
    alg: HashAlg,
    limits: StoreLimits,
    /// Usage per enterprise; also serialises writes (uploads are rare and bounded by the caller).
    usage: Mutex<BTreeMap<String, Usage>>,
    /// Distinguishes temporary files of concurrent writers.
    tmp_counter: AtomicU64,
}

const TMP_PREFIX: &str = ".tmp-";

impl EvidenceStore {
    /// Opens (creating if needed) the store at `root`, counting what each enterprise keeps and
    /// removing the leftovers of interrupted writes.
    pub fn open(root: &Path, alg: HashAlg, limits: StoreLimits) -> Result<Self, EvidenceError> {
        fs::create_dir_all(root).map_err(io(root))?;
        let mut usage = BTreeMap::new();
        for owner in fs::read_dir(root).map_err(io(root))? {
            let owner = owner.map_err(io(root))?;
            let name = owner.file_name().to_string_lossy().into_owned();
            if UnifiedSocialCreditCode::new(&name).is_err() || !owner.path().is_dir() {
                tracing::warn!(path = %owner.path().display(), "not an enterprise's evidence directory; ignored");
                continue;
            }
            let dir = owner.path();
            let mut u = Usage::default();
            for f in fs::read_dir(&dir).map_err(io(&dir))? {
                let f = f.map_err(io(&dir))?;
                let fname = f.file_name().to_string_lossy().into_owned();
                if fname.starts_with(TMP_PREFIX) {
                    let _ = fs::remove_file(f.path());
                    continue;
                }
                if Hash32::from_hex(&fname).is_ok() {
                    u.bytes += f.metadata().map_err(io(&f.path()))?.len();
                    u.files += 1;
                }
            }
            usage.insert(name, u);
        }
        Ok(EvidenceStore {
            root: root.to_path_buf(),
            alg,
            limits: StoreLimits { max_file_bytes: limits.max_file_bytes.min(MAX_EVIDENCE_BYTES), ..limits },
            usage: Mutex::new(usage),
            tmp_counter: AtomicU64::new(0),
        })
    }

    /// The hash algorithm files are named by.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// The store's bounds.
    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// What `owner` keeps.
    pub fn usage(&self, owner: &UnifiedSocialCreditCode) -> Usage {
        self.usage.lock().unwrap_or_else(|e| e.into_inner()).get(owner.as_str()).copied().unwrap_or_default()
    }

    fn path_of(&self, owner: &UnifiedSocialCreditCode, hash: &Hash32) -> PathBuf {
        self.root.join(owner.as_str()).join(hash.to_hex())
    }

    /// Stores `data` for `owner`, returning its hash. Storing the same bytes again changes
    /// nothing and costs no quota.
    pub fn put(&self, owner: &UnifiedSocialCreditCode, data: &[u8]) -> Result<Stored, EvidenceError> {
        let bytes = data.len() as u64;
        if bytes == 0 {
            return Err(EvidenceError::Empty);
        }
        if bytes > self.limits.max_file_bytes {
            return Err(EvidenceError::TooLarge { bytes, limit: self.limits.max_file_bytes });
        }
        let hash = trustmeter_crypto::hash(self.alg, data);
        let path = self.path_of(owner, &hash);
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        if path.exists() {
            return Ok(Stored { hash, bytes, created: false });
        }
        let u = usage.get(owner.as_str()).copied().unwrap_or_default();
        if u.files + 1 > self.limits.max_owner_files || u.bytes.saturating_add(bytes) > self.limits.max_owner_bytes {
            return Err(EvidenceError::QuotaExceeded {
                owner: owner.to_string(),
                used_bytes: u.bytes,
                used_files: u.files,
                bytes,
                max_bytes: self.limits.max_owner_bytes,
                max_files: self.limits.max_owner_files,
            });
        }
        let dir = self.root.join(owner.as_str());
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{TMP_PREFIX}{}-{n}", std::process::id()));
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            fs::File::open(&dir)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(EvidenceError::Io { path, source: e });
        }
        let e = usage.entry(owner.to_string()).or_default();
        e.bytes += bytes;
        e.files += 1;
        Ok(Stored { hash, bytes, created: true })
    }

    /// The file `owner` stored under `hash`, checked against it; `None` if it has none.
    pub fn get(&self, owner: &UnifiedSocialCreditCode, hash: &Hash32) -> Result<Option<Vec<u8>>, EvidenceError> {
        let path = self.path_of(owner, hash);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(EvidenceError::Io { path, source: e }),
        };
        let actual = trustmeter_crypto::hash(self.alg, &data);
        if &actual != hash {
            return Err(EvidenceError::Corrupt { hash: *hash, actual });
        }
        Ok(Some(data))
    }

    /// Whether `owner` stored a file under `hash` (without reading it).
    pub fn contains(&self, owner: &UnifiedSocialCreditCode, hash: &Hash32) -> bool {
        self.path_of(owner, hash).is_file()
    }
}
