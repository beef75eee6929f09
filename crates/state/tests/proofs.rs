//! State commitments: inclusion, absence and historical proofs against the two tree roots, the
//! roots against an independent sparse-Merkle computation, and reopening a committed state.

use crate::common::*;
use std::sync::Arc;
use trustmeter_crypto::HashAlg;
use trustmeter_state::commit::{internal_hash, leaf_hash};
use trustmeter_state::{
    MemStore, Restore, SignatureVerdicts, State, StateKey, StateRoots, StateValue, Store, Tree, build_block,
    execute_block,
};
use trustmeter_types::{DeviceStatus, Hash32, Quantity, ReadingOutcome, TxPayload, encode};

/// A chain with some readings recorded, so that every kind of entry exists.
fn busy() -> Fx {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 1, t, 1)), by_meter(&em_a2(), kwh(A_EM2, 1, t, 2))]);
    let b = fx.exec(vec![tx]);
    assert_eq!(b.output.receipts[0].readings, vec![ReadingOutcome::Accepted, ReadingOutcome::Accepted]);
    fx
}

/// The root of a sparse Merkle tree over `(key hash, value hash)` pairs, computed naively from its
/// definition (a subtree holding one leaf is that leaf; an empty one is the placeholder), with no
/// code shared with jmt or the state crate's proof walking.
fn naive_root(alg: HashAlg, leaves: &[(Hash32, Hash32)], depth: usize) -> Hash32 {
    match leaves {
        [] => Hash32(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__"),
        [(k, v)] => leaf_hash(alg, k, v),
        _ => {
            let bit = |k: &Hash32| (k.0[depth / 8] >> (7 - depth % 8)) & 1 == 1;
            let (right, left): (Vec<_>, Vec<_>) = leaves.iter().partition(|(k, _)| bit(k));
            internal_hash(alg, &naive_root(alg, &left, depth + 1), &naive_root(alg, &right, depth + 1))
        }
    }
}

fn naive_roots(state: &State) -> StateRoots {
    let alg = state.hash_alg();
    let mut trees: [Vec<(Hash32, Hash32)>; 2] = [vec![], vec![]];
    for (k, v) in state.entries() {
        if let Some(t) = k.tree() {
            trees[t.index()].push((k.key_hash(alg), trustmeter_crypto::hash(alg, &encode(&v))));
        }
    }
    StateRoots { registry: naive_root(alg, &trees[0], 0), activity: naive_root(alg, &trees[1], 0) }
}

#[test]
fn tree_roots_match_an_independent_computation() {
    let mut fx = busy();
    assert_eq!(fx.state.roots(), naive_roots(&fx.state));
    assert_eq!(fx.state.roots().state_root(SHA), fx.blocks.last().unwrap().header.state_root);
    // Still after more blocks, and on an uncommitted state (roots computed over the overlay).
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 2, t, 3))]);
    let b = fx.exec(vec![tx]);
    assert_eq!(b.output.state.roots(), naive_roots(&b.output.state));
    assert_eq!(fx.state.roots(), naive_roots(&fx.state));
    // The entry count covers both trees and no derived entry.
    let committed = fx.state.entries().filter(|(k, _)| k.tree().is_some()).count() as u64;
    assert_eq!(fx.state.len(), committed);
    assert!(fx.state.entries().any(|(k, _)| k.tree().is_none()), "derived entries exist (windows, key index)");
}

#[test]
fn meter_proof_verifies_against_the_roots_only() {
    let fx = busy();
    let roots = fx.state.roots();
    let key = StateKey::Meter(dev(A_EM1));
    let proof = fx.state.prove(&key).expect("the meter is in the state");
    assert!(proof.verify(SHA, &roots));
    assert!(!proof.verify(HashAlg::Sm3, &roots), "another hash algorithm");
    assert_eq!(proof.entry.key, key);
    match &proof.entry.value {
        StateValue::Meter(m) => assert_eq!(Some(m), fx.state.meter(&dev(A_EM1)).as_ref()),
        other => panic!("unexpected value {other:?}"),
    }

    // Other roots: a flipped bit, the trees swapped, the roots of an earlier state.
    let mut other = roots;
    other.registry.0[31] ^= 1;
    assert!(!proof.verify(SHA, &other));
    let swapped = StateRoots { registry: roots.activity, activity: roots.registry };
    assert!(!proof.verify(SHA, &swapped));
    let earlier = fx.state.roots_at(fx.state.height - 1).expect("kept");
    assert_ne!(earlier.activity, roots.activity);

    // An altered entry.
    let mut p = proof.clone();
    if let StateValue::Meter(m) = &mut p.entry.value {
        m.status = DeviceStatus::Revoked;
    }
    assert!(!p.verify(SHA, &roots));
    let mut p = proof.clone();
    if let StateValue::Meter(m) = &mut p.entry.value {
        m.register_max = Quantity::from_micros(m.register_max.micros() + 1);
    }
    assert!(!p.verify(SHA, &roots));
    // The same value under another key.
    let mut p = proof.clone();
    p.entry.key = StateKey::Meter(dev(A_EM2));
    assert!(!p.verify(SHA, &roots));
    // An altered, shortened, lengthened or over-long path.
    for i in 0..proof.siblings.len() {
        let mut p = proof.clone();
        p.siblings[i].0[0] ^= 1;
        assert!(!p.verify(SHA, &roots), "sibling {i}");
    }
    let mut p = proof.clone();
    p.siblings.pop();
    assert!(!p.verify(SHA, &roots));
    let mut p = proof.clone();
    p.siblings.push(Hash32::ZERO);
    assert!(!p.verify(SHA, &roots));
    let mut p = proof.clone();
    p.siblings = vec![Hash32::ZERO; 257];
    assert!(!p.verify(SHA, &roots));

    // Absent keys and derived keys have no inclusion proof.
    assert!(fx.state.prove(&StateKey::Meter(dev("NOPE-1"))).is_none());
    assert!(fx.state.prove(&StateKey::Gateway(dev(A_EM1))).is_none());
    assert!(fx.state.prove(&StateKey::KeyUse(gw_a1().public_key())).is_none());
}

#[test]
fn absence_proofs() {
    let fx = busy();
    let roots = fx.state.roots();
    for key in [
        StateKey::Meter(dev("NOPE-1")),
        StateKey::Gateway(dev(A_EM1)),
        StateKey::Nonce(key(77).public_key()),
        StateKey::Account(key(78).public_key()),
    ] {
        let p = fx.state.prove_absent(&key).unwrap_or_else(|| panic!("{key:?} is absent"));
        assert!(p.verify(SHA, &roots), "{key:?}");
        // Not against another tree's root, nor for another key on the same path claim.
        let mut q = p.clone();
        q.key = StateKey::Meter(dev(A_EM1));
        assert!(!q.verify(SHA, &roots), "a present key cannot be proven absent with this path");
        if let Some((k, v)) = p.leaf {
            let mut q = p.clone();
            q.leaf = Some((k, Hash32([9; 32])));
            assert!(!q.verify(SHA, &roots));
            let mut q = p.clone();
            q.leaf = Some((key.key_hash(SHA), v));
            assert!(!q.verify(SHA, &roots), "the key's own hash as the other leaf");
        }
        if !p.siblings.is_empty() {
            let mut q = p.clone();
            q.siblings[0].0[5] ^= 0x10;
            assert!(!q.verify(SHA, &roots));
        }
    }
    // A present key has no absence proof.
    assert!(fx.state.prove_absent(&StateKey::Meter(dev(A_EM1))).is_none());
}

#[test]
fn every_entry_has_a_proof() {
    let fx = busy();
    let roots = fx.state.roots();
    let mut keys = vec![
        StateKey::Organisation(org_regulator()),
        StateKey::Organisation(org_b()),
        StateKey::Account(ent_a().public_key()),
        StateKey::Nonce(gw_a1().public_key()),
        StateKey::Nonce(regulator().public_key()),
        StateKey::Gateway(dev(B_GW1)),
        StateKey::Progress(dev(A_GW1), 0),
        StateKey::Progress(dev(A_GW2), 0),
        StateKey::Policy(1),
    ];
    keys.extend([A_EM1, A_EM2, A_PW3, A_WM4, B_EM1].iter().map(|m| StateKey::Meter(dev(m))));
    for k in &keys {
        let p = fx.state.prove(k).unwrap_or_else(|| panic!("{k:?} should be in the state"));
        assert!(p.verify(SHA, &roots), "{k:?}");
        assert_eq!(Some(p.entry.value), fx.state.get(k));
    }
    match fx.state.prove(&StateKey::Nonce(gw_a1().public_key())).unwrap().entry.value {
        StateValue::Nonce(n) => assert_eq!(n, fx.state.nonce(&gw_a1().public_key())),
        other => panic!("unexpected value {other:?}"),
    }
    // Every committed entry of the state, whatever its kind.
    for (k, _) in fx.state.entries().filter(|(k, _)| k.tree().is_some()) {
        assert!(fx.state.prove(&k).is_some_and(|p| p.verify(SHA, &roots)), "{k:?}");
    }
}

#[test]
fn registry_proofs_are_historical() {
    let mut fx = busy();
    let early = fx.state.height;
    let early_root = fx.blocks.last().unwrap().header.state_root;
    let meter = StateKey::Meter(dev(A_EM1));
    let gateway = StateKey::Gateway(dev(A_GW1));
    let before = fx.state.prove(&meter).unwrap();
    // Later: the gateway rotates its key, the meter is revoked, and more blocks pass.
    let new_key = key(90);
    let proof =
        new_key.sign(&trustmeter_types::rotation_proof_payload(&fx.state.chain_id, &dev(A_GW1), &new_key.public_key()));
    let rotate =
        fx.tx(&gw_a1(), TxPayload::RotateKey { device: dev(A_GW1), new_public_key: new_key.public_key(), proof });
    fx.exec(vec![rotate]);
    let revoke = fx.tx(&regulator(), TxPayload::RevokeDevice { device: dev(A_EM1), reason: "audit".into() });
    fx.exec(vec![revoke]);
    for _ in 0..5 {
        fx.exec(vec![]);
    }
    let now = fx.state.roots();
    let after = fx.state.prove(&meter).unwrap();
    assert!(after.verify(SHA, &now));
    assert!(!before.verify(SHA, &now), "the old entry is not in the new state");
    assert_ne!(before.entry, after.entry);

    // As of the early block: the records then, proven against that block's state root.
    let then = fx.state.roots_at(early).expect("every height's roots are kept");
    assert_eq!(then.state_root(SHA), early_root);
    let old_meter = fx.state.prove_at(early, &meter).unwrap().expect("the meter existed then");
    assert_eq!(old_meter, before);
    assert!(old_meter.verify(SHA, &then));
    assert!(matches!(&old_meter.entry.value, StateValue::Meter(m) if m.status == DeviceStatus::Active));
    let old_gw = fx.state.prove_at(early, &gateway).unwrap().unwrap();
    assert!(old_gw.verify(SHA, &then));
    assert!(matches!(&old_gw.entry.value, StateValue::Gateway(g) if g.public_key == gw_a1().public_key()));
    let new_gw = fx.state.prove(&gateway).unwrap();
    assert!(matches!(&new_gw.entry.value, StateValue::Gateway(g) if g.public_key == new_key.public_key()));
    // A height not committed is not proven.
    assert!(fx.state.prove_at(fx.state.height + 1, &meter).is_err());
}

#[test]
fn state_root_depends_on_content_not_history() {
    // Two chains reach the same content through different transaction orders.
    let mut one = Fx::genesis_only(CHAIN);
    let mut two = Fx::genesis_only(CHAIN);
    let xa = one.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("X-1"), public_key: key(40).public_key() });
    let yb = one.tx(&ent_b(), TxPayload::RegisterGateway { id: dev("Y-1"), public_key: key(41).public_key() });
    let xa2 = two.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("X-1"), public_key: key(40).public_key() });
    let yb2 = two.tx(&ent_b(), TxPayload::RegisterGateway { id: dev("Y-1"), public_key: key(41).public_key() });
    one.exec(vec![xa, yb]);
    two.exec(vec![yb2]);
    two.exec(vec![xa2]);
    assert_eq!(one.state.roots().registry, two.state.roots().registry);
    // ...and differs as soon as the content differs.
    let z = two.tx(&ent_a(), two.new_account(&ent_a(), &key(42)));
    two.exec(vec![z]);
    assert_ne!(one.state.roots().registry, two.state.roots().registry);
}

#[test]
fn a_committed_state_reopens_from_its_store() {
    let mut fx = busy();
    let store = fx.state.store().clone();
    let reopened = State::open(&fx.genesis, store).expect("reopens");
    assert_eq!(reopened.root(), fx.state.root());
    assert_eq!(reopened.len(), fx.state.len());
    assert_eq!(reopened.chain_id, fx.state.chain_id);
    assert_eq!(reopened.params, fx.state.params);
    assert_eq!(reopened.height, fx.state.height);
    assert_eq!(reopened.block_digest, fx.state.block_digest);
    assert_eq!(reopened.timestamp_ms, fx.state.timestamp_ms);
    assert_eq!(reopened.entries().collect::<Vec<_>>(), fx.state.entries().collect::<Vec<_>>());

    // The reopened state executes the next block exactly like the original.
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    // The first reading recorded by `busy`, resubmitted: the reopened late-window points know it.
    let recorded = match &fx.blocks.last().unwrap().txs[0].body.payload {
        TxPayload::SubmitReadings { readings, .. } => readings[0].clone(),
        _ => unreachable!(),
    };
    let tx =
        fx.submit(&g, A_GW1, vec![recorded, by_gateway(&g, kwh(A_EM1, 1, t, 9)), by_gateway(&g, kwh(A_EM1, 2, t, 2))]);
    let ctx = trustmeter_state::exec::BlockContext { epoch: 2, view: 9, timestamp_ms: fx.next_ts() };
    let (b1, o1) = build_block(&fx.state, &ctx, vec![tx.clone()], &SignatureVerdicts::none());
    let (b2, o2) = build_block(&reopened, &ctx, vec![tx], &SignatureVerdicts::none());
    assert_eq!(b1, b2);
    assert_eq!(o1.receipts, o2.receipts);
    assert_eq!(
        o1.receipts[0].readings,
        vec![ReadingOutcome::Duplicate, o1.receipts[0].readings[1].clone(), ReadingOutcome::Accepted]
    );
    assert!(
        matches!(&o1.receipts[0].readings[1], ReadingOutcome::Rejected(r) if r.code == trustmeter_types::RejectCode::SequenceConflict)
    );
    assert!(execute_block(&reopened, &b1, &SignatureVerdicts::none()).is_ok());

    // A store holds one chain of commits: committing the same height twice is refused.
    let committed = o1.state.commit().expect("first commit");
    assert!(o2.state.commit().is_err(), "height {} is already committed", committed.height);
}

#[test]
fn a_speculative_child_commits_after_its_parent() {
    // Block h+2 executed on the uncommitted post-state of h+1, then both committed in order: the
    // child's overlay repeats h+1's changes, which the store already holds.
    let fx = busy();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let mut f2 = fx.clone_with_state(fx.state.clone());
    let tx1 = f2.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 2, t, 5))]);
    let tx2 = f2.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 3, t + 1_000, 6))]);
    let c1 = trustmeter_state::exec::BlockContext { epoch: 1, view: 50, timestamp_ms: t + 10 };
    let (_, o1) = build_block(&fx.state, &c1, vec![tx1], &SignatureVerdicts::none());
    let c2 = trustmeter_state::exec::BlockContext { epoch: 1, view: 51, timestamp_ms: t + 20 };
    let (_, o2) = build_block(&o1.state, &c2, vec![tx2], &SignatureVerdicts::none());
    let s1 = o1.state.commit().expect("parent commits");
    let s2 = o2.state.commit().expect("child commits after it");
    assert_eq!(s1.root(), o1.state.root());
    assert_eq!(s2.root(), o2.state.root());
    assert_eq!(s2.roots(), naive_roots(&s2));
    assert_eq!(s2.window_points(&dev(A_EM1)).iter().map(|p| p.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
}

#[test]
fn genesis_state_reopens() {
    let fx = Fx::genesis_only(CHAIN);
    let reopened = State::open(&fx.genesis, fx.state.store().clone()).unwrap();
    assert_eq!(reopened.root(), fx.state.root());
    assert_eq!(reopened.root(), fx.blocks[0].header.state_root);
    assert_eq!(reopened.block_digest, fx.state.block_digest);
    // A fresh store opened for the genesis gets the same state.
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let fresh = State::open(&fx.genesis, store).unwrap();
    assert_eq!(fresh.root(), fx.blocks[0].header.state_root);
    // Genesis writes the token accounts, the totals and the validators' self-stakes: activity.
    assert_ne!(fresh.roots().get(Tree::Activity), Hash32(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__"));
    assert!(fresh.get(&trustmeter_state::StateKey::Economy).is_some());
}

/// Every committed entry of `state`, exported a few at a time as a peer serves a syncing node.
fn export_all(state: &State, page: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    loop {
        let after = out.last().map(|(k, _)| k.clone());
        let (entries, more) = state.export_page(after.as_deref(), page, 1 << 20).expect("committed state");
        out.extend(entries);
        if !more {
            return out;
        }
    }
}

#[test]
fn a_state_restored_from_exported_entries_is_the_same_state() {
    let mut fx = busy();
    let header = fx.blocks.last().unwrap().header.clone();
    let entries = export_all(&fx.state, 3);
    assert!(entries.len() > 10, "{} entries", entries.len());
    let restored =
        State::restore(&fx.genesis, Arc::new(MemStore::new()), &header, fx.state.block_digest, entries.clone())
            .expect("restores");
    assert_eq!(restored.root(), header.state_root);
    assert_eq!(
        (restored.height, restored.block_digest, restored.timestamp_ms),
        (fx.state.height, fx.state.block_digest, fx.state.timestamp_ms)
    );
    assert_eq!(restored.entries().collect::<Vec<_>>(), fx.state.entries().collect::<Vec<_>>());
    assert_eq!(restored.window_points(&dev(A_EM1)), fx.state.window_points(&dev(A_EM1)));
    assert_eq!(restored.roots(), naive_roots(&restored));
    // It reopens from its store, and executes the next block exactly like the original.
    let reopened = State::open(&fx.genesis, restored.store().clone()).expect("reopens");
    assert_eq!(reopened.root(), header.state_root);
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 2, t + 1_000, 3))]);
    let ctx = trustmeter_state::exec::BlockContext { epoch: 0, view: 99, timestamp_ms: fx.next_ts() };
    let (b1, o1) = build_block(&fx.state, &ctx, vec![tx.clone()], &SignatureVerdicts::none());
    let (b2, o2) = build_block(&reopened, &ctx, vec![tx], &SignatureVerdicts::none());
    assert_eq!(b1, b2);
    assert_eq!(o1.receipts, o2.receipts);
    // Historical proofs before the sync height are not kept; the synced height's are.
    assert!(reopened.prove(&StateKey::Meter(dev(A_EM1))).is_some());
}

#[test]
fn a_state_restored_page_by_page_is_the_same_state() {
    let fx = busy();
    let header = fx.blocks.last().unwrap().header.clone();
    let digest = fx.state.block_digest;
    let entries = export_all(&fx.state, 1_000);
    let whole = State::restore(&fx.genesis, Arc::new(MemStore::new()), &header, digest, entries.clone()).unwrap();
    // Pages of 1, 2, 3 and 5 entries: each writes its own tree versions on top of the last.
    let store: Arc<dyn trustmeter_state::Store> = Arc::new(MemStore::new());
    let mut restore = Restore::begin(&fx.genesis, store.clone(), &header, digest).unwrap().with_flush_entries(1);
    let mut rest = entries.as_slice();
    for size in [1, 2, 3, 5].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (page, tail) = rest.split_at(size.min(rest.len()));
        restore.add_page(page.to_vec()).unwrap();
        assert_eq!(store.snapshot().head(), None, "nothing committed before the end");
        assert!(store.snapshot().restoring().is_some());
        rest = tail;
    }
    let paged = restore.finish().expect("restores");
    assert_eq!(paged.root(), header.state_root);
    assert_eq!(paged.roots(), naive_roots(&paged));
    assert_eq!(paged.entries().collect::<Vec<_>>(), whole.entries().collect::<Vec<_>>());
    assert_eq!(store.snapshot().restoring(), None);
    for key in [StateKey::Meter(dev(A_EM1)), StateKey::Progress(dev(A_GW1), 0), StateKey::Meter(dev("NOBODY-EM9"))] {
        assert_eq!(paged.prove(&key).is_some(), whole.prove(&key).is_some(), "{key:?}");
        if let Some(p) = paged.prove(&key) {
            assert!(p.verify(SHA, &paged.roots()), "{key:?}");
        }
    }
    let absent = StateKey::Meter(dev("NOBODY-EM9"));
    assert!(paged.prove_absent(&absent).unwrap().verify(SHA, &paged.roots()));

    // A bad page ends the restore and empties the store; a new restore there succeeds.
    let store: Arc<dyn trustmeter_state::Store> = Arc::new(MemStore::new());
    let mut restore = Restore::begin(&fx.genesis, store.clone(), &header, digest).unwrap().with_flush_entries(1);
    restore.add_page(entries[..3].to_vec()).unwrap();
    assert!(restore.add_page(entries[1..2].to_vec()).unwrap_err().to_string().contains("out of order"));
    // and refuses anything after (no page written over the emptied store)
    assert!(restore.add_page(entries[3..4].to_vec()).unwrap_err().to_string().contains("already failed"));
    let snap = store.snapshot();
    assert_eq!((snap.head(), snap.restoring()), (None, None));
    assert!(snap.range(&trustmeter_state::KeyRange::prefix(vec![]), false, 1).is_empty(), "emptied");
    let again = State::restore(&fx.genesis, store.clone(), &header, digest, entries.clone()).unwrap();
    assert_eq!(again.root(), header.state_root);

    // An interrupted restore (pages, no end) is removed when the store is opened.
    let store: Arc<dyn trustmeter_state::Store> = Arc::new(MemStore::new());
    let mut restore = Restore::begin(&fx.genesis, store.clone(), &header, digest).unwrap().with_flush_entries(1);
    restore.add_page(entries[..entries.len() / 2].to_vec()).unwrap();
    drop(restore);
    let opened = State::open(&fx.genesis, store.clone()).unwrap();
    assert_eq!(opened.root(), fx.blocks[0].header.state_root, "a fresh genesis state, nothing left over");
    assert_eq!(opened.entries().count(), State::from_genesis(&fx.genesis).entries().count());
}

#[test]
fn a_restore_refuses_what_the_certified_root_does_not_cover() {
    let fx = busy();
    let header = fx.blocks.last().unwrap().header.clone();
    let digest = fx.state.block_digest;
    let entries = export_all(&fx.state, 1_000);
    let restore = |entries: Vec<(Vec<u8>, Vec<u8>)>| {
        State::restore(&fx.genesis, Arc::new(MemStore::new()), &header, digest, entries).map(|s| s.root())
    };
    // A committed entry altered: the rebuilt trees do not give the header's root.
    let progress = StateKey::Progress(dev(A_GW1), 0).ordered();
    let mut altered = entries.clone();
    let slot = altered.iter_mut().find(|(k, _)| *k == progress).expect("progress exported");
    let mut entry: trustmeter_state::StateEntry = borsh::from_slice(&slot.1).unwrap();
    if let StateValue::Progress(c) = &mut entry.value {
        c.meters[0].progress.as_mut().expect("A-EM1 recorded readings").accepted += 1;
    }
    slot.1 = borsh::to_vec(&entry).unwrap();
    let err = restore(altered).unwrap_err().to_string();
    assert!(err.contains("certifies"), "{err}");
    // An entry dropped, one out of order, one under another key.
    let mut dropped = entries.clone();
    dropped.retain(|(k, _)| *k != progress);
    assert!(restore(dropped).unwrap_err().to_string().contains("certifies"));
    let mut swapped = entries.clone();
    swapped.swap(1, 2);
    assert!(restore(swapped).unwrap_err().to_string().contains("out of order"));
    let mut moved = entries.clone();
    moved[0].0.push(0);
    assert!(restore(moved).unwrap_err().to_string().contains("own key"));
    // Derived entries are in no tree: a dropped or extra window entry is caught against the
    // meter's progress, a key use naming no registered device against the registry.
    let point = entries
        .iter()
        .find(|(_, v)| {
            matches!(borsh::from_slice::<trustmeter_state::StateEntry>(v).unwrap().key, StateKey::Point(ref m, ..) if *m == dev(A_EM1))
        })
        .expect("a window point of A-EM1 exported")
        .0
        .clone();
    let mut no_window = entries.clone();
    no_window.retain(|(k, _)| *k != point);
    let err = restore(no_window).unwrap_err().to_string();
    assert!(err.contains("do not match its progress"), "{err}");
    let mut extra = entries.clone();
    let stray = trustmeter_state::StateEntry {
        key: StateKey::Point(dev(A_EM1), i64::MAX, 0),
        value: StateValue::Point(trustmeter_state::accounting::PointRec::of(&kwh(A_EM1, 99, i64::MAX, 1))),
    };
    extra.push((stray.key.ordered(), borsh::to_vec(&stray).unwrap()));
    extra.sort();
    assert!(restore(extra).unwrap_err().to_string().contains("do not match its progress"));
    let mut bad_use = entries.clone();
    let slot = bad_use
        .iter_mut()
        .find(|(_, v)| matches!(borsh::from_slice::<trustmeter_state::StateEntry>(v).unwrap().key, StateKey::KeyUse(_)))
        .expect("a key use exported");
    let mut e: trustmeter_state::StateEntry = borsh::from_slice(&slot.1).unwrap();
    e.value = StateValue::KeyUse(dev("NOBODY-GW99"));
    slot.1 = borsh::to_vec(&e).unwrap();
    assert!(restore(bad_use).unwrap_err().to_string().contains("not registered"));
    // Another block's header, or a store that already holds a state.
    let mut other = header.clone();
    other.state_root = Hash32([7; 32]);
    assert!(State::restore(&fx.genesis, Arc::new(MemStore::new()), &other, digest, entries.clone()).is_err());
    assert!(State::restore(&fx.genesis, fx.state.store().clone(), &header, digest, entries.clone()).is_err());
    assert_eq!(restore(entries).unwrap(), header.state_root);
}

/// Four blocks built one on the other's uncommitted state (as a validator's proposals and
/// verifications are): a meter's reading, the meter's revocation (a registry change), another
/// reading, an empty block. Returns their post-states.
fn four_speculative_blocks(fx: &mut Fx) -> Vec<State> {
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let mut f = fx.clone_with_state(fx.state.clone());
    let r1 = f.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 2, t, 5))]);
    let revoke = f.tx(&regulator(), TxPayload::RevokeDevice { device: dev(A_EM1), reason: "audit".into() });
    let r2 = f.submit(&g, A_GW1, vec![by_meter(&em_a2(), kwh(A_EM2, 2, t + 1_000, 7))]);
    let mut states = Vec::new();
    let mut parent = fx.state.clone();
    for (i, txs) in [vec![r1], vec![revoke], vec![r2], vec![]].into_iter().enumerate() {
        let ctx = trustmeter_state::exec::BlockContext {
            epoch: 1,
            view: 60 + i as u64,
            timestamp_ms: t + 10 * (i as i64 + 1),
        };
        let (_, out) = build_block(&parent, &ctx, txs, &SignatureVerdicts::none());
        assert!(out.receipts.iter().all(|r| r.outcome == trustmeter_types::TxOutcome::Accepted), "{:?}", out.receipts);
        parent = out.state.clone();
        states.push(out.state);
    }
    states
}

#[test]
fn a_chain_of_blocks_commits_in_one_write_exactly_as_one_by_one() {
    // Group commit: the same four blocks committed together on one store and one at a time on
    // another give the same entries, and the same roots and proofs at every height.
    let (mut together, mut apart) = (busy(), busy());
    let base = together.state.height;
    let chain = four_speculative_blocks(&mut together);
    let singles = four_speculative_blocks(&mut apart);
    assert!(chain[1].changed_registry_at(base + 2), "the revocation changes the registry");
    assert!(!chain[1].changed_registry_at(base + 1) && !chain[3].changed_registry_at(base + 4));
    assert!(chain[3].uncommitted_entries() > 0);

    let (commits_before, _) = trustmeter_state::state::commit_counts();
    let one = State::commit_chain(&chain).expect("the chain commits in one write");
    assert!(trustmeter_state::state::commit_counts().0 >= commits_before + 4);
    let mut each = apart.state.clone();
    for s in &singles {
        each = s.commit().expect("one block commits");
    }
    assert_eq!((one.height, one.root()), (each.height, each.root()));
    assert_eq!(one.root(), chain[3].root());
    assert_eq!(export_all(&one, 7), export_all(&each, 7), "the same entries");
    let meter = StateKey::Meter(dev(A_EM1));
    for (i, s) in chain.iter().enumerate() {
        let h = base + 1 + i as u64;
        let roots = one.roots_at(h).expect("every height of the chain keeps its roots");
        assert_eq!(roots, s.roots(), "height {h}");
        assert_eq!(Some(roots), each.roots_at(h));
        // The meter as of each height: active before the revocation, revoked from it on.
        let p = one.prove_at(h, &meter).unwrap().expect("the meter is proven at every height");
        assert!(p.verify(SHA, &roots), "height {h}");
        assert_eq!(Some(p.clone()), each.prove_at(h, &meter).unwrap());
        let revoked = matches!(&p.entry.value, StateValue::Meter(m) if m.status == DeviceStatus::Revoked);
        assert_eq!(revoked, i >= 1, "height {h}");
    }
    // An activity entry unchanged since an interim height is proven there too.
    let progress = StateKey::Progress(dev(A_GW1), 0);
    let h = base + 3;
    let p = one.prove_at(h, &progress).unwrap().expect("EM2's progress chunk, unchanged since its reading");
    assert!(p.verify(SHA, &one.roots_at(h).unwrap()));
    // The chain goes on from the state the group commit returned.
    let mut next = together.clone_with_state(one);
    next.exec(vec![]);
}

#[test]
fn a_chain_commit_refuses_what_is_not_a_chain() {
    let mut fx = busy();
    let chain = four_speculative_blocks(&mut fx);
    assert!(State::commit_chain(&[]).is_err(), "nothing to commit");
    assert!(State::commit_chain(&[chain[0].clone(), chain[2].clone()]).is_err(), "a gap");
    assert!(State::commit_chain(&chain[1..]).is_err(), "not the child of the store's head");
    // Blocks the store already holds are skipped.
    let first = State::commit_chain(&chain[..2]).expect("the first two");
    let rest = State::commit_chain(&chain).expect("the rest");
    assert_eq!((first.height + 2, rest.root()), (rest.height, chain[3].root()));
    assert!(State::commit_chain(&chain).is_err(), "all committed already");
}
