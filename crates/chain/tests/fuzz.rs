//! Bounded fuzzing of what a validator decodes from its peers (issue 11 item 5): blocks as
//! Commonware carries them (`ChainBlock::read_cfg`: marshal, the resolver, broadcast), gossip
//! frames (`gossip::decode_frame`), finalization certificates (`BlockFinalization::decode_cfg`:
//! marshal, followers, state sync and proof bundles) and state sync messages (in
//! `statesync`'s own tests, the type being private).
//!
//! Inputs: arbitrary bytes, and valid encodings (a block with a transaction of every kind, a
//! frame of each, a certificate signed by three of four devnet validators) with random byte
//! edits (`trustmeter_fuzzkit`: flips, sets, truncations, insertions, removals, duplicated
//! ranges, length prefixes set to edge values).
//!
//! Properties: decoding never panics and never allocates past its limits; what decodes
//! re-encodes to exactly the bytes read (the encodings are canonical), so a peer cannot make two
//! nodes disagree on a value by choosing among encodings; a certificate that decodes and still
//! verifies finalizes the same proposal as the original.
//!
//! A longer run: `PROPTEST_CASES=1000000 PROPTEST_RNG_SEED=$RANDOM cargo test --release -p
//! trustmeter-chain --test integration fuzz::`.

#[path = "../../types/tests/samples/mod.rs"]
mod samples;

use commonware_codec::{Decode, Encode};
use commonware_consensus::simplex::types::{Finalization, Finalize, Proposal};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::sha256;
use commonware_parallel::Sequential;
use commonware_utils::iter::NonEmpty;
use proptest::prelude::*;
use std::sync::OnceLock;
use trustmeter_chain::devnet::Devnet;
use trustmeter_chain::engine::consensus_namespace;
use trustmeter_chain::gossip::{decode_frame, encode_frame};
use trustmeter_chain::{BlockFinalization, ChainBlock, Scheme};
use trustmeter_fuzzkit::{byte_edits, edited};
use trustmeter_types::{HashAlg, KeyScheme};

/// The fixed seed of every property here (a failure in CI replays locally as it is).
const SEED: u64 = 0x6368_6169_6e2d_6675;

/// Valid encodings, made once.
struct Corpus {
    blocks: Vec<Vec<u8>>,
    frames: Vec<Vec<u8>>,
    certificate: Vec<u8>,
    proposal: Proposal<sha256::Digest>,
    devnet: Devnet,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let sender = samples::key(KeyScheme::Ed25519, 3);
        let txs: Vec<_> = samples::payloads(KeyScheme::Ed25519)
            .into_iter()
            .enumerate()
            .map(|(i, p)| samples::transaction(&sender, i as u64 + 1, p))
            .collect();
        let frames = txs.iter().enumerate().map(|(i, t)| encode_frame(i as u64 * 7, i as u64, t)).collect();
        let blocks = [vec![], txs]
            .into_iter()
            .map(|txs| ChainBlock::new(HashAlg::Sha256, samples::block(txs)).encode().to_vec())
            .collect();
        // A certificate by three of four validators over a proposal.
        let devnet = Devnet::new("hunan-fuzz-1", 4, 1, 5, 1_767_225_600_000, 30_000);
        let namespace = consensus_namespace(&devnet.genesis);
        let participants = devnet.participants();
        let proposal = Proposal::new(Round::new(Epoch::new(0), View::new(9)), View::new(8), sha256::Digest([7; 32]));
        let votes: Vec<Finalize<Scheme, sha256::Digest>> = (0..3)
            .map(|i| {
                let s = Scheme::signer(&namespace, participants.clone(), devnet.validator_keys[i].clone())
                    .expect("a genesis validator");
                Finalize::sign(&s, proposal.clone()).expect("signs")
            })
            .collect();
        let verifier = Scheme::verifier(&namespace, participants);
        let fin: BlockFinalization =
            Finalization::from_finalizes(&verifier, NonEmpty::try_new(votes.iter()).expect("votes"), &Sequential)
                .expect("a quorum");
        Corpus { blocks, frames, certificate: fin.encode().to_vec(), proposal, devnet }
    })
}

/// Decodes a `ChainBlock` (all of `bytes`: trailing bytes are an error); if it decodes, its
/// encoding must be the bytes read.
fn block_round_trip(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(b) = ChainBlock::decode_cfg(bytes.to_vec(), &HashAlg::Sha256) {
        prop_assert_eq!(b.encode().to_vec(), bytes.to_vec(), "a block re-encodes to the bytes read");
    }
    Ok(())
}

fn frame_round_trip(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(f) = decode_frame(bytes) {
        prop_assert_eq!(encode_frame(f.admitted_at, f.prev_nonce, &f.tx), bytes.to_vec(), "a frame re-encodes");
    }
    Ok(())
}

fn certificate_round_trip(bytes: &[u8]) -> Result<(), TestCaseError> {
    let c = corpus();
    let Ok(fin) = BlockFinalization::decode_cfg(bytes.to_vec(), &4) else { return Ok(()) };
    prop_assert_eq!(fin.encode().to_vec(), bytes.to_vec(), "a certificate re-encodes");
    let verifier = Scheme::verifier(&consensus_namespace(&c.devnet.genesis), c.devnet.participants());
    if fin.verify(&mut rand::rng(), &verifier, &Sequential) {
        prop_assert_eq!(&fin.proposal, &c.proposal, "an edited certificate that verifies finalizes the same proposal");
    }
    Ok(())
}

proptest! {
    #![proptest_config(trustmeter_fuzzkit::config(20_000, SEED))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        block_round_trip(&bytes)?;
        frame_round_trip(&bytes)?;
        certificate_round_trip(&bytes)?;
    }
}

proptest! {
    #![proptest_config(trustmeter_fuzzkit::config(10_000, SEED))]

    #[test]
    fn edited_blocks_decode_canonically_or_not_at_all(i in any::<prop::sample::Index>(), edits in byte_edits()) {
        let c = corpus();
        let b: &Vec<u8> = i.get(c.blocks.as_slice());
        block_round_trip(&edited(b, &edits))?;
    }

    #[test]
    fn edited_frames_decode_canonically_or_not_at_all(i in any::<prop::sample::Index>(), edits in byte_edits()) {
        let c = corpus();
        let f: &Vec<u8> = i.get(c.frames.as_slice());
        frame_round_trip(&edited(f, &edits))?;
    }

    #[test]
    fn edited_certificates_decode_canonically_and_never_change_what_they_finalize(edits in byte_edits()) {
        certificate_round_trip(&edited(&corpus().certificate, &edits))?;
    }
}

#[test]
fn the_corpus_decodes_and_the_certificate_verifies() {
    let c = corpus();
    for b in &c.blocks {
        let back = ChainBlock::decode_cfg(b.clone(), &HashAlg::Sha256).expect("a valid block decodes");
        assert_eq!(back.encode().to_vec(), *b);
    }
    assert!(c.blocks[1].len() > 1_000, "the block carries every kind of transaction");
    for f in &c.frames {
        decode_frame(f).expect("a valid frame decodes");
    }
    let fin = BlockFinalization::decode_cfg(c.certificate.clone(), &4).expect("decodes");
    let verifier = Scheme::verifier(&consensus_namespace(&c.devnet.genesis), c.devnet.participants());
    assert!(fin.verify(&mut rand::rng(), &verifier, &Sequential));
}
