//! Finalization certificates, decoded and checked without consensus's engine.
//!
//! A Trustmeter chain runs Commonware's simplex consensus with Ed25519 votes (attributable: a
//! certificate carries one signature per signer of the quorum), so anyone holding the genesis
//! checks a finalization offline. This module reads the certificate's bytes itself
//! (docs/proof-format.md §6) with Commonware's codec and its Ed25519 certificate type from
//! `commonware-cryptography`, so that a verifier compiles neither `commonware-consensus` nor the
//! p2p, runtime and storage crates it pulls in. The chain (`trustmeter-chain`) uses consensus's own
//! `Finalization` type; the tests check that both read every byte string the same way.

use bytes::BufMut;
use commonware_codec::varint::UInt;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use commonware_cryptography::certificate::ed25519::Certificate;
use commonware_cryptography::{BatchEntry, BatchVerifier, ed25519};
use commonware_parallel::Sequential;
use commonware_utils::TryCollect;
use commonware_utils::ordered::{Quorum as _, Set};
use trustmeter_types::{Genesis, Hash32};

/// What a finalize vote commits to (`simplex::types::Proposal`): the round, its parent's view and
/// the block digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The consensus epoch.
    pub epoch: u64,
    /// The view within the epoch.
    pub view: u64,
    /// The view of the parent block.
    pub parent_view: u64,
    /// The finalized block's digest (SHA-256 or SM3 of its header, per the genesis).
    pub payload: Hash32,
}

impl Write for Proposal {
    fn write(&self, buf: &mut impl BufMut) {
        UInt(self.epoch).write(buf);
        UInt(self.view).write(buf);
        UInt(self.parent_view).write(buf);
        buf.put_slice(&self.payload.0);
    }
}

impl EncodeSize for Proposal {
    fn encode_size(&self) -> usize {
        UInt(self.epoch).encode_size() + UInt(self.view).encode_size() + UInt(self.parent_view).encode_size() + 32
    }
}

impl Read for Proposal {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let epoch: u64 = UInt::read(buf)?.into();
        let view: u64 = UInt::read(buf)?.into();
        let parent_view: u64 = UInt::read(buf)?.into();
        let payload = <[u8; 32]>::read(buf)?;
        Ok(Self { epoch, view, parent_view, payload: Hash32(payload) })
    }
}

/// A finalization certificate (`simplex::types::Finalization` under the Ed25519 scheme): a
/// proposal and the signatures of the validators who finalized it. Decoded, not yet verified:
/// see [`Finalization::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finalization {
    /// What was finalized.
    pub proposal: Proposal,
    /// Who signed (a bitmap over the sorted validator set) and their signatures.
    pub certificate: Certificate,
}

impl Write for Finalization {
    fn write(&self, buf: &mut impl BufMut) {
        self.proposal.write(buf);
        self.certificate.write(buf);
    }
}

impl EncodeSize for Finalization {
    fn encode_size(&self) -> usize {
        self.proposal.encode_size() + self.certificate.encode_size()
    }
}

impl Read for Finalization {
    /// The number of validators (the most signers a certificate may name).
    type Cfg = usize;

    fn read_cfg(buf: &mut impl Buf, validators: &usize) -> Result<Self, CodecError> {
        let proposal = Proposal::read(buf)?;
        let certificate = Certificate::read_cfg(buf, validators)?;
        Ok(Self { proposal, certificate })
    }
}

impl Finalization {
    /// Whether every signature of the certificate is a valid finalize vote of its signer, among
    /// `validators`, on this proposal in `namespace` (the chain's [`consensus_namespace`]). One
    /// batch verification; the quorum and the bitmap's length are the caller's to check.
    pub fn verify(&self, namespace: &[u8], validators: &Set<ed25519::PublicKey>) -> bool {
        let signers = &self.certificate.signers;
        if signers.len() != validators.len() || signers.count() != self.certificate.signatures.len() {
            return false;
        }
        let mut entries = Vec::with_capacity(signers.count());
        for (signer, signature) in signers.iter().zip(&self.certificate.signatures) {
            match (validators.key(signer), signature.get()) {
                (Some(key), Some(signature)) => entries.push((key, signature)),
                _ => return false,
            }
        }
        let namespace = finalize_namespace(namespace);
        let message = commonware_codec::Encode::encode(&self.proposal);
        ed25519::PublicKey::verify_batch(
            &mut rand::rng(),
            &entries,
            |_, (public_key, signature)| BatchEntry { namespace: &namespace, message: &message, public_key, signature },
            &Sequential,
        )
    }
}

/// Whether `signature` is `key`'s vote of `kind` for round (`epoch`, `view`) of the chain whose
/// consensus namespace is `namespace`: for a notarize or a finalize, on the proposal
/// (`parent_view`, `payload`); for a nullify, on the round alone. Exactly the message and
/// namespace Commonware's simplex signs (`{namespace}_NOTARIZE` … with the proposal's or the
/// round's encoding), so evidence of equivocation a node saw is checked by anyone.
pub fn vote_is_signed(
    namespace: &[u8],
    kind: trustmeter_types::economy::VoteKind,
    (epoch, view): (u64, u64),
    (parent_view, payload): (u64, Hash32),
    key: &trustmeter_types::PublicKey,
    signature: &trustmeter_types::Signature,
) -> bool {
    use commonware_cryptography::Verifier as _;
    use trustmeter_types::economy::VoteKind;
    let Ok(public) = ed25519::PublicKey::try_from(key.bytes.as_slice()) else { return false };
    let Ok(sig) = <ed25519::Signature as commonware_codec::DecodeExt<()>>::decode(signature.bytes.clone()) else {
        return false;
    };
    let (suffix, message): (&[u8], Vec<u8>) = match kind {
        VoteKind::Notarize | VoteKind::Finalize => {
            let p = Proposal { epoch, view, parent_view, payload };
            let suffix: &[u8] = if kind == VoteKind::Notarize { b"_NOTARIZE" } else { b"_FINALIZE" };
            (suffix, commonware_codec::Encode::encode(&p).to_vec())
        }
        VoteKind::Nullify => {
            let mut m = Vec::with_capacity(20);
            UInt(epoch).write(&mut m);
            UInt(view).write(&mut m);
            (b"_NULLIFY", m)
        }
    };
    public.verify(&[namespace, suffix].concat(), &message, &sig)
}

/// The block digest a finalization certificate's encoding (`Finalization`'s, or consensus's own
/// type's: the same bytes) finalizes, read from its proposal; `None` if the bytes do not start
/// with a proposal.
pub fn certified_payload(encoded: &[u8]) -> Option<Hash32> {
    Proposal::read(&mut commonware_codec::Copying(encoded)).ok().map(|p| p.payload)
}

/// The namespace consensus signatures are made in: one per chain, so votes of one chain are
/// worthless on another.
pub fn consensus_namespace(genesis: &Genesis) -> Vec<u8> {
    format!("trustmeter/consensus/{}", genesis.chain_id).into_bytes()
}

/// The namespace of finalize votes: simplex appends `_FINALIZE` to the chain's namespace, so a
/// finalize signature is worthless as a notarize or nullify vote.
pub fn finalize_namespace(namespace: &[u8]) -> Vec<u8> {
    [namespace, b"_FINALIZE"].concat()
}

/// The validator set named in a genesis document (its consensus keys, distinct, in key order).
pub fn validator_set(genesis: &Genesis) -> Result<Set<ed25519::PublicKey>, String> {
    genesis
        .validators
        .iter()
        .map(|v| {
            let bytes = hex::decode(&v.consensus_key).map_err(|_| format!("validator {} key is not hex", v.name))?;
            ed25519::PublicKey::try_from(bytes.as_slice())
                .map_err(|e| format!("validator {} key is invalid: {e:?}", v.name))
        })
        .collect::<Result<Vec<_>, String>>()?
        .into_iter()
        .try_collect()
        .map_err(|_| "validator keys must be distinct".to_string())
}
