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
    let participants = genesis.validators.len();
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
