//! # trustmeter-statedb
//!
//! A chain's state on disk: [`DiskStore`] implements the state machine's
//! [`Store`](trustmeter_state::Store) on one embedded redb file, so a validator holds the state
//! without keeping it in memory, restarts without replaying the chain, and proves registry records
//! as of any past block.
//!
//! **Tables** (all written by one redb transaction per commit, so a crash leaves the previous
//! commit or the next, never a mix):
//!
//! | table | key → value | kept |
//! |---|---|---|
//! | `meta` | `"head"` → `borsh(Head)`; `"restoring"` → `borsh(TreeHeads)` during a state sync's restore | the last commit |
//! | `entries` | ordered state key → `borsh(StateEntry)` | current values only |
//! | `registry_nodes`, `activity_nodes` | `version_be ‖ borsh(nibble path)` → node ([`node_codec`]) | registry: all; activity: last [`DiskStoreConfig::activity_versions_kept`] versions |
//! | `registry_values` | `key_hash ‖ version_be` → `0` (deleted) or `1 ‖ value` | all |
//! | `activity_stale` | `stale_since_be ‖ node key` → `()` | until pruned |
//! | `heights` | height → `borsh(TreeHeads)` | all (≈ 90 bytes a block) |
//!
//! Node keys start with the version, big-endian, so each commit's new nodes are appended at the
//! end of the node tables rather than scattered through them.
//!
//! **Pruning.** After each commit, activity-tree nodes that became stale more than
//! `activity_versions_kept` versions ago are deleted, at most [`PRUNE_PER_COMMIT`] per commit
//! (pruning catches up over a few commits after a burst). Registry nodes and values are never
//! pruned: they back historical proofs.
//!
//! **Failures.** A read error or an undecodable record means the disk or the file is corrupt; the
//! state machine cannot continue deterministically, so snapshot reads panic with the table and
//! the error (the node restarts and, if the file stays corrupt, must be resynced).

use borsh::BorshDeserialize;
use jmt::storage::{Node, NodeKey};
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    TableHandle,
};
use std::path::Path;
use std::sync::Arc;
use trustmeter_state::keys::{KeyRange, Tree};
use trustmeter_state::store::{CommitBatch, Head, RestorePage, Snapshot, Store, StoreError, TreeBatch, TreeHeads};
use trustmeter_types::Hash32;

pub mod counting;
pub mod node_codec;
pub use counting::{CountingFile, WriteCounters};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");
const REGISTRY_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("registry_nodes");
const ACTIVITY_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("activity_nodes");
const REGISTRY_VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("registry_values");
const ACTIVITY_STALE: TableDefinition<&[u8], ()> = TableDefinition::new("activity_stale");
const HEIGHTS: TableDefinition<u64, &[u8]> = TableDefinition::new("heights");

/// Most stale activity nodes deleted per commit.
pub const PRUNE_PER_COMMIT: usize = 200_000;

/// The layout version written in `meta` (`"layout"`); a file of another layout is refused. It
/// covers the state's entry encodings too: 2 keeps meters' progress in chunks of a gateway's
/// meters (`Meter::slot`); 3 finds duplicates among the window points (`PointRec::seq`, no
/// duplicate window); 4 stores window points by hour first (`keys::point_hour`); 5 stores tree nodes
/// in [`node_codec`]'s compact form (~30 % smaller than borsh).
pub const LAYOUT_VERSION: u64 = 5;

/// Tuning of a [`DiskStore`].
#[derive(Clone, Debug)]
pub struct DiskStoreConfig {
    /// redb's page cache, bytes.
    pub cache_bytes: usize,
    /// Activity-tree versions kept for proofs and state sync (older ones are pruned).
    pub activity_versions_kept: u64,
}

impl Default for DiskStoreConfig {
    fn default() -> Self {
        Self { cache_bytes: 256 << 20, activity_versions_kept: 256 }
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// redb could not open or create the file.
    #[error("state store {path}: {reason}")]
    Database {
        /// The file.
        path: String,
        /// What redb said.
        reason: String,
    },
    /// The file was written with another layout.
    #[error("state store {path} has layout {found}, this build writes {LAYOUT_VERSION}; remove it to resync")]
    Layout {
        /// The file.
        path: String,
        /// Its layout.
        found: u64,
    },
}

/// One table's share of a [`DiskStore`]'s file ([`DiskStore::table_usage`]).
#[derive(Clone, Debug)]
pub struct TableUsage {
    /// The table's name.
    pub name: String,
    /// Rows.
    pub entries: u64,
    /// Bytes of keys and values.
    pub stored_bytes: u64,
    /// Bytes of redb's branch pages and other metadata.
    pub metadata_bytes: u64,
    /// Bytes lost to partly filled pages.
    pub fragmented_bytes: u64,
}

/// A chain's state in one redb file.
pub struct DiskStore {
    db: Arc<Database>,
    config: DiskStoreConfig,
    written: Arc<WriteCounters>,
}

fn node_key_bytes(k: &NodeKey) -> Vec<u8> {
    let mut out = k.version().to_be_bytes().to_vec();
    borsh::to_writer(&mut out, k.nibble_path()).expect("in-memory encoding");
    out
}

fn value_key(kh: &Hash32, version: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(&kh.0);
    k[32..].copy_from_slice(&version.to_be_bytes());
    k
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl DiskStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path, config: DiskStoreConfig) -> Result<Self, OpenError> {
        let err =
            |e: &dyn std::fmt::Display| OpenError::Database { path: path.display().to_string(), reason: e.to_string() };
        let file = CountingFile::open(path).map_err(|e| err(&e))?;
        let written = file.counters();
        let db =
            Database::builder().set_cache_size(config.cache_bytes).create_with_backend(file).map_err(|e| err(&e))?;
        let w = db.begin_write().map_err(|e| err(&e))?;
        {
            let mut meta = w.open_table(META).map_err(|e| err(&e))?;
            let layout = meta.get("layout").map_err(|e| err(&e))?.map(|v| {
                let b = v.value();
                u64::from_le_bytes(b.try_into().unwrap_or([0xff; 8]))
            });
            match layout {
                Some(found) if found != LAYOUT_VERSION => {
                    return Err(OpenError::Layout { path: path.display().to_string(), found });
                }
                Some(_) => {}
                None => {
                    meta.insert("layout", LAYOUT_VERSION.to_le_bytes().as_slice()).map_err(|e| err(&e))?;
                }
            }
            w.open_table(ENTRIES).map_err(|e| err(&e))?;
            w.open_table(REGISTRY_NODES).map_err(|e| err(&e))?;
            w.open_table(ACTIVITY_NODES).map_err(|e| err(&e))?;
            w.open_table(REGISTRY_VALUES).map_err(|e| err(&e))?;
            w.open_table(ACTIVITY_STALE).map_err(|e| err(&e))?;
            w.open_table(HEIGHTS).map_err(|e| err(&e))?;
        }
        w.commit().map_err(|e| err(&e))?;
        Ok(Self { db: Arc::new(db), config, written })
    }

    /// What this store's file has written since it was opened (bytes, syncs).
    pub fn write_counters(&self) -> Arc<WriteCounters> {
        self.written.clone()
    }

    /// The committed height (`None`: empty store).
    pub fn height(&self) -> Option<u64> {
        self.snapshot().head().map(|h| h.height)
    }

    /// Stale activity nodes: `(total, old enough to prune but not pruned yet)`.
    pub fn stale_nodes(&self) -> (u64, u64) {
        let r = self.db.begin_read().expect("state store read");
        let Ok(t) = r.open_table(ACTIVITY_STALE) else { return (0, 0) };
        let total = t.len().unwrap_or(0);
        let version = read_head(&r).and_then(|h| h.trees.version(Tree::Activity)).unwrap_or(0);
        let due = match version.checked_sub(self.config.activity_versions_kept) {
            Some(cutoff) => {
                let hi = (cutoff + 1).to_be_bytes();
                t.range::<&[u8]>(..hi.as_slice()).map(|r| r.count() as u64).unwrap_or(0)
            }
            None => 0,
        };
        (total, due)
    }

    /// What each table holds: entries and bytes (keys and values, redb's metadata, fragmentation),
    /// in the order of the table list above. Reads every table's statistics; for benchmarks and
    /// operators' tools, not for a hot path.
    pub fn table_usage(&self) -> Result<Vec<TableUsage>, StoreError> {
        let r = self.db.begin_read().map_err(backend)?;
        let mut out = Vec::new();
        let mut add = |name: &str, entries: u64, s: redb::TableStats| {
            out.push(TableUsage {
                name: name.to_owned(),
                entries,
                stored_bytes: s.stored_bytes(),
                metadata_bytes: s.metadata_bytes(),
                fragmented_bytes: s.fragmented_bytes(),
            })
        };
        let t = r.open_table(META).map_err(backend)?;
        add(META.name(), t.len().map_err(backend)?, t.stats().map_err(backend)?);
        for def in [ENTRIES, REGISTRY_NODES, ACTIVITY_NODES, REGISTRY_VALUES] {
            let t = r.open_table(def).map_err(backend)?;
            add(def.name(), t.len().map_err(backend)?, t.stats().map_err(backend)?);
        }
        let t = r.open_table(ACTIVITY_STALE).map_err(backend)?;
        add(ACTIVITY_STALE.name(), t.len().map_err(backend)?, t.stats().map_err(backend)?);
        let t = r.open_table(HEIGHTS).map_err(backend)?;
        add(HEIGHTS.name(), t.len().map_err(backend)?, t.stats().map_err(backend)?);
        Ok(out)
    }

    fn prune(&self, w: &redb::WriteTransaction, act_version: u64) -> Result<usize, StoreError> {
        let Some(cutoff) = act_version.checked_sub(self.config.activity_versions_kept) else { return Ok(0) };
        let mut stale = w.open_table(ACTIVITY_STALE).map_err(backend)?;
        let mut nodes = w.open_table(ACTIVITY_NODES).map_err(backend)?;
        let hi = (cutoff + 1).to_be_bytes();
        let mut doomed = Vec::new();
        for row in stale.range::<&[u8]>(..hi.as_slice()).map_err(backend)?.take(PRUNE_PER_COMMIT) {
            let (k, _) = row.map_err(backend)?;
            doomed.push(k.value().to_vec());
        }
        for k in &doomed {
            nodes.remove(&k[8..]).map_err(backend)?;
            stale.remove(k.as_slice()).map_err(backend)?;
        }
        Ok(doomed.len())
    }
}

impl Store for DiskStore {
    fn snapshot(&self) -> Arc<dyn Snapshot> {
        let tx = self.db.begin_read().expect("state store: cannot begin a read transaction");
        let open = |def: TableDefinition<&[u8], &[u8]>| {
            tx.open_table(def).unwrap_or_else(|e| panic!("state store: table {def}: {e}"))
        };
        let snap = DiskSnapshot {
            entries: open(ENTRIES),
            nodes: [open(REGISTRY_NODES), open(ACTIVITY_NODES)],
            registry_values: open(REGISTRY_VALUES),
            heights: tx.open_table(HEIGHTS).unwrap_or_else(|e| panic!("state store: table heights: {e}")),
            head: read_head(&tx),
            restoring: read_restoring(&tx),
            _tx: tx,
        };
        Arc::new(snap)
    }

    fn write(&self, batch: CommitBatch) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(backend)?;
        {
            let mut meta = w.open_table(META).map_err(backend)?;
            let committed = match meta.get("head").map_err(backend)? {
                Some(v) => Some(Head::try_from_slice(v.value()).map_err(backend)?),
                None => None,
            };
            let first = batch.interim.first().map_or(batch.head.height, |i| i.height);
            if let Some(c) = committed
                && first <= c.height
            {
                return Err(StoreError::OutOfOrder { committed: c.height, got: first });
            }
            meta.insert("head", borsh::to_vec(&batch.head).expect("in-memory encoding").as_slice()).map_err(backend)?;
            meta.remove("restoring").map_err(backend)?;
            let mut entries = w.open_table(ENTRIES).map_err(backend)?;
            for (k, v) in &batch.values {
                match v {
                    Some(v) => entries.insert(k.as_slice(), v.as_slice()).map_err(backend)?,
                    None => entries.remove(k.as_slice()).map_err(backend)?,
                };
            }
            // The interim blocks' tree versions first (a commit of several blocks), then the head's.
            let heights = batch.interim.iter().map(|i| (i.height, &i.trees, &i.batches));
            let mut heights_table = w.open_table(HEIGHTS).map_err(backend)?;
            for (height, trees, batches) in
                heights.chain(std::iter::once((batch.head.height, &batch.head.trees, &batch.trees)))
            {
                write_tree_batches(&w, batches)?;
                heights_table
                    .insert(height, borsh::to_vec(trees).expect("in-memory encoding").as_slice())
                    .map_err(backend)?;
            }
        }
        if let Some(v) = batch.head.trees.version(Tree::Activity) {
            self.prune(&w, v)?;
        }
        w.commit().map_err(backend)?;
        Ok(())
    }

    fn write_restore(&self, page: RestorePage) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(backend)?;
        {
            let mut meta = w.open_table(META).map_err(backend)?;
            if let Some(v) = meta.get("head").map_err(backend)? {
                return Err(StoreError::NotEmpty(Head::try_from_slice(v.value()).map_err(backend)?.height));
            }
            meta.insert("restoring", borsh::to_vec(&page.heads).expect("in-memory encoding").as_slice())
                .map_err(backend)?;
            let mut entries = w.open_table(ENTRIES).map_err(backend)?;
            for (k, v) in &page.values {
                entries.insert(k.as_slice(), v.as_slice()).map_err(backend)?;
            }
        }
        for tree in Tree::ALL {
            let Some(tb) = &page.trees[tree.index()] else { continue };
            // A restore's earlier versions are referred to by no height: what they lost goes now.
            let def = if tree == Tree::Registry { REGISTRY_NODES } else { ACTIVITY_NODES };
            let mut nodes = w.open_table(def).map_err(backend)?;
            for (_, k) in tb.stale.iter().filter(|(_, k)| k.version() < tb.version) {
                nodes.remove(node_key_bytes(k).as_slice()).map_err(backend)?;
            }
        }
        let trees = page.trees.map(|t| t.map(|tb| TreeBatch { stale: Vec::new(), ..tb }));
        write_tree_batches(&w, &trees)?;
        w.commit().map_err(backend)?;
        Ok(())
    }

    fn abandon_restore(&self) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(backend)?;
        {
            let meta = w.open_table(META).map_err(backend)?;
            if meta.get("head").map_err(backend)?.is_some() || meta.get("restoring").map_err(backend)?.is_none() {
                return Ok(());
            }
        }
        tracing::warn!("state store: removing an unfinished state sync's entries");
        for def in [ENTRIES, REGISTRY_NODES, ACTIVITY_NODES, REGISTRY_VALUES] {
            w.delete_table(def).map_err(backend)?;
            w.open_table(def).map_err(backend)?;
        }
        w.delete_table(ACTIVITY_STALE).map_err(backend)?;
        w.open_table(ACTIVITY_STALE).map_err(backend)?;
        w.delete_table(HEIGHTS).map_err(backend)?;
        w.open_table(HEIGHTS).map_err(backend)?;
        w.open_table(META).map_err(backend)?.remove("restoring").map_err(backend)?;
        w.commit().map_err(backend)?;
        Ok(())
    }
}

/// Writes one block's new tree versions: nodes, registry values by version, stale activity nodes.
fn write_tree_batches(w: &redb::WriteTransaction, batches: &[Option<TreeBatch>; 2]) -> Result<(), StoreError> {
    for tree in Tree::ALL {
        let Some(tb) = &batches[tree.index()] else { continue };
        let def = if tree == Tree::Registry { REGISTRY_NODES } else { ACTIVITY_NODES };
        let mut nodes = w.open_table(def).map_err(backend)?;
        // A version's keys all follow the last version's: inserted in key order, each lands at the
        // end of the table, where redb fills a page before starting the next (out of order, a full
        // page is split in half and left half empty: twice the bytes written).
        let mut rows: Vec<(Vec<u8>, Vec<u8>)> =
            tb.nodes.iter().map(|(k, n)| (node_key_bytes(k), node_codec::encode(k, n))).collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in &rows {
            nodes.insert(k.as_slice(), v.as_slice()).map_err(backend)?;
        }
        match tree {
            Tree::Registry => {
                let mut values = w.open_table(REGISTRY_VALUES).map_err(backend)?;
                for ((version, kh), v) in &tb.values {
                    let mut bytes = Vec::with_capacity(1 + v.as_ref().map_or(0, |v| v.len()));
                    match v {
                        Some(v) => {
                            bytes.push(1);
                            bytes.extend_from_slice(v);
                        }
                        None => bytes.push(0),
                    }
                    values.insert(value_key(kh, *version).as_slice(), bytes.as_slice()).map_err(backend)?;
                }
            }
            Tree::Activity => {
                let mut stale = w.open_table(ACTIVITY_STALE).map_err(backend)?;
                let mut keys: Vec<Vec<u8>> = tb
                    .stale
                    .iter()
                    .map(|(since, k)| {
                        let mut key = since.to_be_bytes().to_vec();
                        key.extend_from_slice(&node_key_bytes(k));
                        key
                    })
                    .collect();
                keys.sort_unstable();
                // Marked stale by this version: after every key already there, in key order (above).
                for k in &keys {
                    stale.insert(k.as_slice(), ()).map_err(backend)?;
                }
            }
        }
    }
    Ok(())
}

fn read_restoring(tx: &ReadTransaction) -> Option<TreeHeads> {
    let meta = tx.open_table(META).unwrap_or_else(|e| panic!("state store: table meta: {e}"));
    let v = meta.get("restoring").unwrap_or_else(|e| panic!("state store: restoring: {e}"))?;
    Some(
        TreeHeads::try_from_slice(v.value())
            .unwrap_or_else(|e| panic!("state store: restore heads do not decode: {e}")),
    )
}

fn read_head(tx: &ReadTransaction) -> Option<Head> {
    let meta = tx.open_table(META).unwrap_or_else(|e| panic!("state store: table meta: {e}"));
    let v = meta.get("head").unwrap_or_else(|e| panic!("state store: head: {e}"))?;
    Some(Head::try_from_slice(v.value()).unwrap_or_else(|e| panic!("state store: head does not decode: {e}")))
}

struct DiskSnapshot {
    entries: ReadOnlyTable<&'static [u8], &'static [u8]>,
    nodes: [ReadOnlyTable<&'static [u8], &'static [u8]>; 2],
    registry_values: ReadOnlyTable<&'static [u8], &'static [u8]>,
    heights: ReadOnlyTable<u64, &'static [u8]>,
    head: Option<Head>,
    restoring: Option<TreeHeads>,
    _tx: ReadTransaction,
}

/// Ends the process on a read error (see "Failures" in the crate documentation).
trait OrDie<T> {
    fn or_die(self, what: &str) -> T;
}

impl<T, E: std::fmt::Display> OrDie<T> for Result<T, E> {
    fn or_die(self, what: &str) -> T {
        self.unwrap_or_else(|e| panic!("state store: reading {what}: {e}"))
    }
}

impl Snapshot for DiskSnapshot {
    fn head(&self) -> Option<Head> {
        self.head.clone()
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.entries.get(key).or_die("entries").map(|v| v.value().to_vec())
    }

    fn range(&self, range: &KeyRange, reverse: bool, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        use std::ops::Bound;
        let lo = Bound::Included(range.lo.as_slice());
        let hi = match &range.hi {
            Some(h) => Bound::Excluded(h.as_slice()),
            None => Bound::Unbounded,
        };
        let it = self.entries.range::<&[u8]>((lo, hi)).or_die("entries");
        type Row<'a> =
            Result<(redb::AccessGuard<'a, &'static [u8]>, redb::AccessGuard<'a, &'static [u8]>), redb::StorageError>;
        let pick = |row: Row<'_>| {
            let (k, v) = row.or_die("entries");
            (k.value().to_vec(), v.value().to_vec())
        };
        if reverse { it.rev().take(limit).map(pick).collect() } else { it.take(limit).map(pick).collect() }
    }

    fn node(&self, tree: Tree, key: &NodeKey) -> Option<Node> {
        let v = self.nodes[tree.index()].get(node_key_bytes(key).as_slice()).or_die("tree nodes")?;
        Some(node_codec::decode(key, v.value()).or_die("a tree node"))
    }

    fn registry_value(&self, key_hash: &Hash32, max_version: u64) -> Option<Vec<u8>> {
        let lo = value_key(key_hash, 0);
        let hi = value_key(key_hash, max_version);
        let mut it = self.registry_values.range::<&[u8]>(lo.as_slice()..=hi.as_slice()).or_die("registry values");
        let (_, v) = it.next_back()?.or_die("registry values");
        let b = v.value();
        match b.first() {
            Some(1) => Some(b[1..].to_vec()),
            _ => None,
        }
    }

    fn trees_at(&self, height: u64) -> Option<TreeHeads> {
        let v = self.heights.get(height).or_die("heights")?;
        Some(TreeHeads::try_from_slice(v.value()).or_die("a height's trees"))
    }

    fn restoring(&self) -> Option<TreeHeads> {
        self.restoring
    }
}
