//! A redb file that counts what it writes.
//!
//! [`CountingFile`] is redb's own [`FileBackend`] with two counters beside it: bytes handed to the
//! operating system by `write` and the number of `sync_data` calls (fsyncs). The state store and
//! the index open their files through it so that a node can report, per store, the bytes it
//! writes (`trustmeter_store_bytes_written_total`): `/proc/self/io` only gives the process's
//! total, and the disk budget is per store. Counting adds two relaxed atomic additions per call.

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a [`CountingFile`] has written since it was opened.
#[derive(Debug, Default)]
pub struct WriteCounters {
    bytes: AtomicU64,
    syncs: AtomicU64,
}

impl WriteCounters {
    /// Bytes written (not counting `set_len` growth, which writes nothing).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// `sync_data` calls (one or two per durable commit).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

/// redb's [`FileBackend`], counting the bytes written and the syncs.
#[derive(Debug)]
pub struct CountingFile {
    inner: FileBackend,
    counters: Arc<WriteCounters>,
}

impl CountingFile {
    /// Opens (creating if needed) the file at `path` for a database, with fresh counters.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        Self::new(file)
    }

    /// Wraps an open file.
    pub fn new(file: File) -> io::Result<Self> {
        let inner = FileBackend::new(file).map_err(io::Error::other)?;
        Ok(Self { inner, counters: Arc::default() })
    }

    /// The counters, shared: they keep counting after the backend moves into a database.
    pub fn counters(&self) -> Arc<WriteCounters> {
        self.counters.clone()
    }
}

impl StorageBackend for CountingFile {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.counters.syncs.fetch_add(1, Ordering::Relaxed);
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.counters.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{Database, ReadableDatabase, TableDefinition};

    const T: TableDefinition<u64, &[u8]> = TableDefinition::new("t");

    #[test]
    fn counts_what_a_commit_writes_and_the_database_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.redb");
        let file = CountingFile::open(&path).unwrap();
        let counters = file.counters();
        let db = Database::builder().create_with_backend(file).unwrap();
        let (bytes0, syncs0) = (counters.bytes(), counters.syncs());
        let w = db.begin_write().unwrap();
        w.open_table(T).unwrap().insert(1, [7u8; 100_000].as_slice()).unwrap();
        w.commit().unwrap();
        // The value alone is 100 000 bytes; a durable commit also syncs.
        assert!(counters.bytes() - bytes0 >= 100_000, "{} bytes", counters.bytes() - bytes0);
        assert!(counters.syncs() > syncs0);
        drop(db);
        let db = Database::builder().create_with_backend(CountingFile::open(&path).unwrap()).unwrap();
        let r = db.begin_read().unwrap();
        assert_eq!(r.open_table(T).unwrap().get(1).unwrap().unwrap().value().len(), 100_000);
    }
}
