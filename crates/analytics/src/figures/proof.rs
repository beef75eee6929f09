//! The proof of a daily figure, checkable offline (`trustmeter verify --figure`).

use super::*;

/// The proof of daily figure `key`: from `state` (the finalized state) and, from the index, the
/// header and finalization certificate of the same height. When that height's certificate is not
/// stored, an earlier height (at most [`PROOF_FALLBACK_HEIGHTS`] below) is re-executed from the
/// index and proven instead.
pub fn figure_proof(genesis: &Genesis, index: &Index, state: &State, key: &DailyKey) -> Result<FigureProof, Error> {
    let h = state.height;
    if index.height() < h {
        return Err(unavailable(format!(
            "the index has reached height {} but the figure is at height {h}; retry in a moment",
            index.height()
        )));
    }
    // The certificate's signers are the set of its epoch: at most the chain's seats (or the
    // genesis set, if larger).
    let participants = genesis.validators.len().max(genesis.params.economy.staking.validators as usize);
    let decode_fin = |bytes: Vec<u8>| {
        BlockFinalization::decode_cfg(bytes, &participants)
            .map_err(|e| internal(format!("stored finalization does not decode: {e:?}")))
    };
    if let Some(fin) = index.finalization(h).map_err(internal)? {
        let block = index.block(h).map_err(internal)?.ok_or_else(|| internal(format!("block {h} is not indexed")))?;
        return FigureProof::build(genesis, &block.header, state, key, &decode_fin(fin)?).map_err(internal);
    }
    for back in (h.saturating_sub(PROOF_FALLBACK_HEIGHTS).max(1)..h).rev() {
        let Some(fin) = index.finalization(back).map_err(internal)? else { continue };
        let Some(block) = index.block(back).map_err(internal)? else { continue };
        // The figure as of `back`, from the activity tree versions the state store keeps.
        match FigureProof::build(genesis, &block.header, state, key, &decode_fin(fin)?) {
            Ok(p) => return Ok(p),
            Err(trustmeter_client::FigureBuildError::NoFigure { .. }) => break,
            Err(e) => return Err(internal(e)),
        }
    }
    Err(unavailable(format!(
        "no finalization certificate is stored for height {h} or the heights just below it that hold the figure; retry in a moment or ask another node"
    )))
}

/// Height `h`'s header with what makes it final: its own certificate or, when its view gathered
/// none, the headers up to the next certified block (at most `trustmeter_client::MAX_DESCENDANTS`)
/// and that block's. `None` when neither is stored yet.
pub fn certified_header(genesis: &Genesis, index: &Index, h: u64) -> Result<Option<CertifiedHeader>, Error> {
    let Some(header) = index.header(h).map_err(internal)? else { return Ok(None) };
    let (descendants, fin) = match index.finalization(h).map_err(internal)? {
        Some(fin) => (Vec::new(), fin),
        None => match index.certified_descendant(h, trustmeter_client::MAX_DESCENDANTS as u64).map_err(internal)? {
            Some(found) => found,
            None => return Ok(None),
        },
    };
    let fin = BlockFinalization::decode_cfg(fin, &genesis.validators.len())
        .map_err(|e| internal(format!("stored finalization does not decode: {e:?}")))?;
    Ok(Some(CertifiedHeader::new(header, descendants, &fin)))
}

/// The proof of a finalized transaction's receipt (`GET /v1/transactions/{hash}/proof`): what a
/// gateway settles its readings on.
pub fn receipt_proof(genesis: &Genesis, index: &Index, tx: &trustmeter_types::Hash32) -> Result<ReceiptProof, Error> {
    let r = index
        .receipt(tx)
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("transaction {tx} is not in a finalized block this node has indexed")))?;
    let block = certified_header(genesis, index, r.height)?.ok_or_else(|| {
        unavailable(format!(
            "no finalization certificate is stored yet for height {} or the {} heights after it; retry in a moment or ask another node",
            r.height,
            trustmeter_client::MAX_DESCENDANTS
        ))
    })?;
    let (_, receipts, _) = index.recorded_at(r.height).map_err(internal)?;
    ReceiptProof::build(genesis.params.hash, block, &receipts, r.index as usize).map_err(internal)
}

/// Registry keys proven present or absent as of the newest certified height the committed `state`
/// holds (at most [`PROOF_FALLBACK_HEIGHTS`] below its height); `keys_at(h)` names the keys for
/// height `h`.
pub fn state_proofs(
    genesis: &Genesis,
    index: &Index,
    state: &State,
    keys_at: impl Fn(u64) -> Vec<StateKey>,
) -> Result<StateProofs, Error> {
    let top = state.height.min(index.height());
    for h in (top.saturating_sub(PROOF_FALLBACK_HEIGHTS).max(1)..=top).rev() {
        let Some(block) = certified_header(genesis, index, h)? else { continue };
        return StateProofs::build(genesis.params.hash, state, block, &keys_at(h)).map_err(internal);
    }
    Err(unavailable(format!(
        "no finalization certificate is stored for height {top} or the heights just below it; retry in a moment or ask another node"
    )))
}

/// The keys that prove the audit policy set complete after block `h` (see
/// `trustmeter_client::VerifiedState::policies`): every version from the one in force at `h + 1`
/// to the last deployed by `h`, and the next version's absence.
pub fn policy_keys(state: &State, h: u64) -> Vec<StateKey> {
    let deployed: Vec<_> = state.policies().filter(|p| p.deployed_height <= h).collect();
    let in_force = deployed.iter().filter(|p| p.effective_height <= h + 1).map(|p| p.version).max().unwrap_or(0);
    let last = deployed.iter().map(|p| p.version).max().unwrap_or(0);
    // (Over MAX_STATE_PROOFS - 1 pending versions cannot be proven complete in one document;
    // a verifier then refuses the set and the gateway leaves the audit to the chain.)
    (in_force..=last.saturating_add(1))
        .take(trustmeter_client::certified::MAX_STATE_PROOFS)
        .map(StateKey::Policy)
        .collect()
}

/// The carbon proof of `org`'s verified emissions of `year` (`GET
/// /v1/enterprises/{org}/carbon/proof`): state proofs, under the newest certified height the
/// state holds, of every key [`trustmeter_client::carbon::carbon_keys`] names for the filed report
/// `report` (its bytes, from the evidence store), and the daily figures of `days` (≤ 31 days, every
/// energy kind and unit the enterprise has on each).
pub fn carbon_proof(
    genesis: &Genesis,
    index: &Index,
    state: &State,
    (org, year): (&UnifiedSocialCreditCode, u32),
    report: Vec<u8>,
    days: &[i32],
) -> Result<trustmeter_client::CarbonProof, Error> {
    use trustmeter_client::carbon::{MAX_SAMPLED_FIGURES, MAX_STATE_DOCUMENTS, carbon_keys};
    use trustmeter_client::certified::MAX_STATE_PROOFS;
    let doc = trustmeter_carbon::report::ReportDocument::from_bytes(&report).map_err(internal)?;
    let report = String::from_utf8(report).map_err(internal)?;
    let keys = carbon_keys(org, year, &doc);
    if keys.len() > MAX_STATE_PROOFS * MAX_STATE_DOCUMENTS {
        return Err(limit(format!("the report names {} entries, more than one proof holds", keys.len())));
    }
    let top = state.height.min(index.height());
    let mut block = None;
    for h in (top.saturating_sub(PROOF_FALLBACK_HEIGHTS).max(1)..=top).rev() {
        if let Some(b) = certified_header(genesis, index, h)? {
            block = Some(b);
            break;
        }
    }
    let block = block.ok_or_else(|| {
        unavailable(
            "no finalization certificate is stored for the newest heights; retry in a moment or ask another node",
        )
    })?;
    let state_docs = keys
        .chunks(MAX_STATE_PROOFS)
        .map(|chunk| {
            trustmeter_client::StateProofs::build(genesis.params.hash, state, block.clone(), chunk).map_err(internal)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut figures = Vec::new();
    for &day in days {
        for (key, _) in state.daily_range(org, day, day) {
            if figures.len() >= MAX_SAMPLED_FIGURES {
                return Err(limit(format!(
                    "at most {MAX_SAMPLED_FIGURES} daily figures in one proof; ask for fewer days"
                )));
            }
            figures.push(figure_proof(genesis, index, state, &key)?);
        }
    }
    Ok(trustmeter_client::CarbonProof {
        version: trustmeter_client::CARBON_PROOF_VERSION.into(),
        genesis: genesis.clone(),
        org: org.clone(),
        year,
        state: state_docs,
        report,
        figures,
        readings: Vec::new(),
    })
}
