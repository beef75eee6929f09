//! Certified proofs a client acts on without trusting this node (`trustmeter_client::certified`):
//! a transaction's receipt, the audit policy set, a meter's registry record. Each is checked by
//! the client against the genesis it holds; a node that lies is caught there, not here.

use super::{ApiError, ApiState, device, wait_for_commit, wait_for_index};
use crate::api::limits::RequestClass;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use trustmeter_analytics::figures::{policy_keys, receipt_proof, state_proofs};
use trustmeter_client::{ReceiptProof, StateProofs};
use trustmeter_state::StateKey;
use trustmeter_types::Hash32;
use utoipa::OpenApi;

/// Runs a proof builder on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, trustmeter_analytics::Error> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)??)
}

/// The proof of a finalized transaction's receipt: the receipt, its audit path in the block's
/// receipts tree, and the block's header with the finalization certificate that makes it final
/// (`trustmeter-receipt-proof/v2`). A gateway settles its readings only on this, checked against
/// the genesis it holds.
#[utoipa::path(get, path = "/v1/transactions/{hash}/proof", params(("hash" = String, Path, description = "Transaction hash (hex)"), EpochsFrom), responses((status = 200, description = "A ReceiptProof (JSON)", body = ReceiptProof), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)))]
async fn receipt_proof_handler(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
    Query(q): Query<EpochsFrom>,
) -> Result<Json<ReceiptProof>, ApiError> {
    let tx = Hash32::from_hex(&hash).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let _permit = s.limits().acquire(RequestClass::Proofs)?;
    // A transaction just finalized is indexed a moment later.
    wait_for_index(&s, s.app().finalized_height()).await;
    let (genesis, index) = (s.genesis().clone(), s.index().clone());
    let mut proof = blocking(move || receipt_proof(&genesis, &index, &tx)).await?;
    proof.block.epochs = epochs_to(&s, q.after(), proof.block.certified_height()).await?;
    Ok(Json(proof))
}

/// `?epochs_from=K`: the client already holds the validator sets up to epoch `K` (checked from
/// the genesis: `trustmeter_client::KnownSets`), so the proof carries only the epoch links after
/// it. Without it, or with `K ≤ 1`, the whole chain from the genesis.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EpochsFrom {
    /// The last epoch whose validator set the client knows.
    epochs_from: Option<u64>,
}

impl EpochsFrom {
    fn after(&self) -> u64 {
        self.epochs_from.unwrap_or(1)
    }
}

/// The epoch chain from the genesis (or from the set of epoch `after`, when a client knows the
/// sets up to it) to the block at `certified` (empty in epochs 0 and 1), from the committed
/// state's registry history and the index's boundary blocks.
pub(crate) async fn epochs_to(
    s: &ApiState,
    after: u64,
    certified: u64,
) -> Result<Vec<trustmeter_client::EpochLink>, ApiError> {
    // Epochs 0 and 1 are the genesis set's: no link, nothing to wait for.
    let l = s.genesis().params.economy.staking.epoch_length.max(1);
    let epoch = certified / l;
    if trustmeter_client::epochs::links_needed(epoch) == 0 {
        return Ok(vec![]);
    }
    // The links read the registry's history up to the epoch's first height − 1 (its boundary),
    // long committed in practice.
    let boundary = epoch * l - 1;
    if s.app().committed_state().height < boundary {
        wait_for_commit(s, boundary).await;
    }
    let state = s.app().committed_state();
    let (genesis, index) = (s.genesis().clone(), s.index().clone());
    tokio::task::spawn_blocking(move || super::epoch_chain_after(&genesis, &index, &state, after, certified))
        .await
        .map_err(ApiError::internal)?
}

/// The audit policy set, proven complete: every version from the one in force to the last
/// deployed, and the next version's absence, as of a finalized block
/// (`trustmeter-state-proofs/v2`). What a gateway's pre-audit applies.
#[utoipa::path(get, path = "/v1/policy/proof", params(EpochsFrom), responses((status = 200, description = "A StateProofs document (JSON)", body = StateProofs), (status = 503, body = ApiError)))]
async fn policy_proof_handler(
    State(s): State<ApiState>,
    Query(q): Query<EpochsFrom>,
) -> Result<Json<StateProofs>, ApiError> {
    let _permit = s.limits().acquire(RequestClass::Proofs)?;
    let state = s.app().committed_state();
    let (genesis, index) = (s.genesis().clone(), s.index().clone());
    let mut proofs = blocking(move || state_proofs(&genesis, &index, &state, |h| policy_keys(&state, h))).await?;
    proofs.block.epochs = epochs_to(&s, q.after(), proofs.block.certified_height()).await?;
    Ok(Json(proofs))
}

/// A meter's registry record (or its absence), proven as of a finalized block
/// (`trustmeter-state-proofs/v2`).
#[utoipa::path(get, path = "/v1/meters/{id}/proof", params(("id" = String, Path, description = "Meter id"), EpochsFrom), responses((status = 200, description = "A StateProofs document (JSON)", body = StateProofs), (status = 400, body = ApiError), (status = 503, body = ApiError)))]
async fn meter_proof_handler(
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<EpochsFrom>,
) -> Result<Json<StateProofs>, ApiError> {
    let meter = device(&id)?;
    let _permit = s.limits().acquire(RequestClass::Proofs)?;
    let finalized = s.app().finalized_height();
    // A meter registered a moment ago is proven once the store holds its block.
    if s.app().committed_state().height < finalized {
        wait_for_commit(&s, finalized).await;
    }
    let state = s.app().committed_state();
    let (genesis, index) = (s.genesis().clone(), s.index().clone());
    let key = StateKey::Meter(meter);
    let mut proofs = blocking(move || state_proofs(&genesis, &index, &state, |_| vec![key.clone()])).await?;
    proofs.block.epochs = epochs_to(&s, q.after(), proofs.block.certified_height()).await?;
    Ok(Json(proofs))
}

/// The routes of certified proofs (merged into the API router).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/transactions/{hash}/proof", get(receipt_proof_handler))
        .route("/v1/policy/proof", get(policy_proof_handler))
        .route("/v1/meters/{id}/proof", get(meter_proof_handler))
}

/// The OpenAPI document of these routes.
#[derive(OpenApi)]
#[openapi(paths(receipt_proof_handler, policy_proof_handler, meter_proof_handler))]
pub struct ProofsDoc;
