//! The disk store against the in-memory one: the same chain executed on both gives the same roots
//! and entries at every height; a store reopened from its file continues the chain; registry
//! proofs at old heights survive pruning of the activity tree, which stays bounded.

#[path = "../../state/tests/common/mod.rs"]
mod common;

use common::*;
use std::sync::Arc;
use trustmeter_state::{State, StateKey, Store};
use trustmeter_statedb::{DiskStore, DiskStoreConfig};
use trustmeter_types::TxPayload;

fn disk(dir: &std::path::Path, kept: u64) -> Arc<DiskStore> {
    let cfg = DiskStoreConfig { cache_bytes: 8 << 20, activity_versions_kept: kept };
    Arc::new(DiskStore::open(&dir.join("state.redb"), cfg).expect("opens"))
}

/// One block of readings on both chains; checks they agree.
fn step(mem: &mut Fx, on_disk: &mut Fx, seq: u64, em1: bool) {
    let t = mem.state.timestamp_ms;
    let g = gw_a1();
    let mut readings = vec![by_meter(&em_a2(), kwh(A_EM2, seq, t, 3))];
    if em1 {
        readings.push(by_gateway(&g, kwh(A_EM1, seq, t, seq as i64 * 10)));
    }
    let a = mem.submit(&g, A_GW1, readings.clone());
    let b = on_disk.submit(&g, A_GW1, readings);
    assert_eq!(a, b);
    let ea = mem.exec(vec![a]);
    let eb = on_disk.exec(vec![b]);
    assert_eq!(ea.block, eb.block, "same block at height {}", mem.state.height);
    assert!(ea.output.receipts[0].readings.iter().all(|o| o.is_recorded()), "{:?}", ea.output.receipts[0]);
    assert_eq!(ea.output.receipts, eb.output.receipts);
    assert_eq!(mem.state.root(), on_disk.state.root());
    assert_eq!(mem.state.len(), on_disk.state.len());
}

#[test]
fn disk_and_memory_agree_reopen_and_prove_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut mem = Fx::ready();
    // The same chain from genesis on disk: replay the setup blocks.
    let store = disk(dir.path(), 4);
    let genesis_state = State::open(&mem.genesis, store.clone() as Arc<dyn Store>).expect("genesis on disk");
    assert_eq!(genesis_state.root(), mem.blocks[0].header.state_root);
    let mut on_disk = mem.clone_with_state(genesis_state);
    for block in &mem.blocks[1..] {
        let out = trustmeter_state::execute_block(&on_disk.state, block, &trustmeter_state::SignatureVerdicts::none())
            .expect("setup block executes on disk");
        on_disk.state = out.state.commit().expect("commits");
    }
    assert_eq!(on_disk.state.root(), mem.state.root());
    let early = on_disk.state.height;
    let early_root = mem.blocks.last().unwrap().header.state_root;

    for seq in 1..=12 {
        step(&mut mem, &mut on_disk, seq, true);
    }
    assert_eq!(
        mem.state.entries().collect::<Vec<_>>(),
        on_disk.state.entries().collect::<Vec<_>>(),
        "every entry, derived ones included"
    );

    // Revoke the meter, then reopen the file as a restarted node would.
    let revoke = mem.tx(&regulator(), TxPayload::RevokeDevice { device: dev(A_EM1), reason: "audit".into() });
    let revoke2 = on_disk.tx(&regulator(), TxPayload::RevokeDevice { device: dev(A_EM1), reason: "audit".into() });
    mem.exec(vec![revoke]);
    on_disk.exec(vec![revoke2]);
    let height = on_disk.state.height;
    drop(on_disk.state);
    drop(store);
    let store = disk(dir.path(), 4);
    assert_eq!(store.height(), Some(height));
    let reopened = State::open(&mem.genesis, store.clone() as Arc<dyn Store>).expect("reopens");
    assert_eq!(reopened.root(), mem.state.root());
    assert_eq!(reopened.block_digest, mem.state.block_digest);
    on_disk.state = reopened;
    step(&mut mem, &mut on_disk, 13, false);

    // The meter's record as of the early block, long after: active then, revoked now.
    let key = StateKey::Meter(dev(A_EM1));
    let then = on_disk.state.roots_at(early).expect("roots of every height are kept");
    assert_eq!(then.state_root(SHA), early_root);
    let proof = on_disk.state.prove_at(early, &key).unwrap().expect("kept forever");
    assert!(proof.verify(SHA, &then));
    assert!(
        matches!(&proof.entry.value, trustmeter_state::StateValue::Meter(m) if m.status == trustmeter_types::DeviceStatus::Active)
    );
    assert!(on_disk.state.prove(&key).unwrap().verify(SHA, &on_disk.state.roots()));
    // Activity versions older than the 4 kept are pruned: a progress proof at the early height is
    // gone, a recent one is there.
    // (An empty block first, so the progress chunk of A-GW1's meters is unchanged since the
    // height before the last.)
    mem.exec(vec![]);
    on_disk.exec(vec![]);
    let progress = StateKey::Progress(dev(A_GW1), 0);
    assert!(on_disk.state.prove_at(early + 2, &progress).unwrap().is_none(), "pruned");
    let recent = on_disk.state.height - 1;
    let p = on_disk.state.prove_at(recent, &progress).unwrap().expect("recent versions are kept");
    assert!(p.verify(SHA, &on_disk.state.roots_at(recent).unwrap()));
    let (stale, due) = store.stale_nodes();
    assert!(stale > 0, "recent versions' stale nodes wait for their turn");
    assert_eq!(due, 0, "pruning keeps up with small commits");
}

#[test]
fn a_store_refuses_commits_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fx::genesis_only(CHAIN);
    let store = disk(dir.path(), 16);
    let s = State::open(&fx.genesis, store.clone() as Arc<dyn Store>).unwrap();
    assert_eq!(store.height(), Some(0));
    // Committing the genesis state again (height 0 over height 0) is refused.
    assert!(s.commit().is_err());
}

#[test]
fn a_restore_page_by_page_on_disk_leaves_the_trees_of_a_single_page_and_survives_interruption() {
    let mut fx = Fx::ready();
    let mut twin = Fx::ready();
    for seq in 1..=6 {
        step(&mut fx, &mut twin, seq, true);
    }
    let header = fx.blocks.last().unwrap().header.clone();
    let digest = fx.state.block_digest;
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    loop {
        let after = entries.last().map(|(k, _)| k.clone());
        let (page, more) = fx.state.export_page(after.as_deref(), 1_000, 1 << 20).unwrap();
        entries.extend(page);
        if !more {
            break;
        }
    }
    let restore_in = |dir: &std::path::Path, page: usize| {
        let store = disk(dir, 4);
        let mut r = trustmeter_state::Restore::begin(&fx.genesis, store.clone(), &header, digest)
            .unwrap()
            .with_flush_entries(1);
        for p in entries.chunks(page) {
            r.add_page(p.to_vec()).unwrap();
        }
        (r.finish().expect("restores on disk"), store)
    };
    let one = tempfile::tempdir().unwrap();
    let (whole, whole_store) = restore_in(one.path(), entries.len());
    let many = tempfile::tempdir().unwrap();
    let (paged, paged_store) = restore_in(many.path(), 2);
    assert_eq!(whole.root(), header.state_root);
    assert_eq!(paged.root(), header.state_root);
    // The nodes the early pages' versions replaced are gone: as many nodes as one page leaves.
    let rows =
        |s: &DiskStore, table: &str| s.table_usage().unwrap().into_iter().find(|t| t.name == table).unwrap().entries;
    for table in ["registry_nodes", "activity_nodes", "entries"] {
        assert_eq!(rows(&paged_store, table), rows(&whole_store, table), "{table}");
    }
    // Proofs at the synced height, and the next block executes the same on it.
    let key = StateKey::Meter(dev(A_EM1));
    assert!(paged.prove(&key).unwrap().verify(SHA, &paged.roots()));
    let mut restored = fx.clone_with_state(paged);
    step(&mut fx, &mut restored, 7, true);

    // Interrupted after a few pages: reopening the file and the state removes what was written.
    let cut = tempfile::tempdir().unwrap();
    {
        let store = disk(cut.path(), 4);
        let mut r = trustmeter_state::Restore::begin(&fx.genesis, store.clone(), &header, digest)
            .unwrap()
            .with_flush_entries(1);
        for p in entries.chunks(3).take(4) {
            r.add_page(p.to_vec()).unwrap();
        }
    }
    let store = disk(cut.path(), 4);
    assert!(store.snapshot().restoring().is_some(), "the pages survived the process");
    let opened = State::open(&fx.genesis, store.clone() as Arc<dyn Store>).unwrap();
    assert_eq!(opened.root(), fx.blocks[0].header.state_root);
    assert_eq!(store.snapshot().restoring(), None);
    assert_eq!(opened.entries().count(), State::from_genesis(&fx.genesis).entries().count(), "nothing left over");
}
