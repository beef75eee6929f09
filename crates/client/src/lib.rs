//! # trustmeter-client
//!
//! The Trustmeter light client and offline verifier.
//!
//! A [`ProofBundle`] is a self-contained JSON document that lets anyone — an auditor, a bank, a
//! statistics bureau, a court — check that one signed meter reading was recorded on a Trustmeter
//! chain and finalized by its validators, without trusting the node that served it and without
//! talking to the chain at all. It carries:
//!
//! - the chain's [`Genesis`](trustmeter_types::Genesis) (chain id, validator set, and the hash
//!   algorithm of the chain's data, SHA-256 or SM3),
//! - the finalized block's header,
//! - the signed reading, its position in the block's readings tree and the RFC 6962 audit path,
//! - membership proofs, against the header's state root, of the meter's record (registration,
//!   status, calibration certificate, key) and of its gateway's record (key, status),
//! - the block's finalization certificate (Commonware simplex, Ed25519, one signature per
//!   validator of the quorum),
//! - for a block of epoch 2 or later, the *epoch chain* ([`epochs`]): per epoch since genesis, the
//!   finalized boundary block and the proof of the next validator set in its state, so that the
//!   certificate is checked against the set of the block's epoch, learnt from the genesis alone.
//!
//! A [`FigureProof`] does the same for an enterprise's consensus daily figure (日能耗): the state
//! proof of the figure against a finalized header, checked by [`verify_figure`].
//!
//! [`ProofBundle::build`] and [`ProofBundle::find`] make bundles from what a node has after it
//! applied a finalized block; [`verify()`] checks a bundle, optionally against a genesis the
//! verifier obtained separately (and trusts), and returns a [`VerifiedReading`] summary or a
//! [`VerifyError`] naming the failed step and what mismatched.
//!
//! **This crate does no network I/O**, reads no files and keeps no state: verification is a pure
//! function of the bundle and the trusted genesis (plus local randomness for batch signature
//! verification, which cannot change the verdict). The byte-level format and the verification
//! algorithm are specified in `docs/proof-format.md`, precisely enough to re-implement the check
//! with any SHA-256 (or SM3) and Ed25519 (or SM2) library.

#![deny(missing_docs)]

pub mod bundle;
pub mod carbon;
pub mod certified;
pub mod consensus;
pub mod epochs;
pub mod figure;
pub mod strict;
pub mod verify;

pub use bundle::{BuildError, MAX_DESCENDANTS, PROOF_VERSION, PROOF_VERSION_V3, ProofBundle};
pub use carbon::{CARBON_PROOF_VERSION, CarbonProof, VerifiedCarbon, verify_carbon};
pub use certified::{
    CertifiedBuildError, CertifiedHeader, FinalHeader, ReceiptProof, StateProofs, VerifiedReceipt, VerifiedState,
    verify_receipt, verify_receipt_known, verify_state, verify_state_known,
};
pub use epochs::{
    Committee, EpochChainBuildError, EpochLink, KnownSets, MAX_EPOCH_LINKS, verify_certified, verify_epoch_chain,
    verify_epoch_chain_known,
};
pub use figure::{
    FIGURE_PROOF_VERSION, FIGURE_PROOF_VERSION_V2, FigureBuildError, FigureProof, VerifiedFigure, verify_figure,
};
pub use verify::{Step, VerifiedReading, VerifyError, verify, verify_finalization, verify_finalization_by};
