//! The `verify` operation: a proof as a node serves it, checked by `trustmeter-client` against a
//! genesis the user trusts, with every step's result for people to see.
//!
//! Input:
//!
//! ```json
//! {"kind": "reading" | "figure" | "carbon" | "receipt" | "state",
//!  "bundle": "<the proof document's text>",
//!  "genesis": "<the trusted genesis document's text>" | null,
//!  "tx_hash": "<64 hex>"}
//! ```
//!
//! | kind | document | served by | checked by |
//! |---|---|---|---|
//! | `reading` | `trustmeter-proof/v4` (v3 read) | `GET /v1/meters/{id}/readings/{seq}/proof` | [`trustmeter_client::verify()`] |
//! | `figure` | `trustmeter-figure-proof/v2` | `GET /v1/proofs/daily/{org}/{day}/{energy}/{unit}` | [`trustmeter_client::verify_figure`] |
//! | `carbon` | `trustmeter-carbon-proof/v1` | `GET /v1/enterprises/{org}/carbon/proof?year=` | [`trustmeter_client::verify_carbon`] |
//! | `receipt` | `trustmeter-receipt-proof/v2` | `GET /v1/transactions/{hash}/proof` | [`trustmeter_client::verify_receipt`] |
//! | `state` | `trustmeter-state-proofs/v2` | `GET /v1/meters/{id}/proof`, `GET /v1/policy/proof` | [`trustmeter_client::verify_state`] (and, for a document proving audit policies, `VerifiedState::policies`) |
//!
//! Documents are parsed strictly (`trustmeter_client::strict`: unknown, missing or duplicate
//! fields are refused with their path), at most [`MAX_BUNDLE_BYTES`]. `genesis` `null` checks a
//! reading, figure or carbon proof against the genesis it carries — which proves only that *some*
//! validator set with that genesis signed it: the answer then says so in `trusted_genesis: false`,
//! in the genesis step and in `warnings`. Receipt and state proofs carry no genesis and need one.
//! `tx_hash` (receipts only) is the transaction asked about; without it the receipt is checked
//! for the transaction it names, with a warning.
//!
//! Output (`ok` is whether the proof verified):
//!
//! ```json
//! {"ok": false, "kind": "reading", "trusted_genesis": true,
//!  "genesis": {"hash": "…", "fingerprint": "…", "chain_id": "…", …},
//!  "steps": [{"id": "format", "name": "Proof format", "name_zh": "证明格式",
//!             "status": "passed", "detail": "…"}, …,
//!            {"id": "finality", …, "status": "failed", "detail": "<the verifier's message>"}],
//!  "summary": {},
//!  "warnings": [],
//!  "error": {"code": "verify_failed", "step": "finality", "message": "step f (finality): …"}}
//! ```
//!
//! Steps are listed in the order they are checked; `passed` steps were checked and held,
//! `failed` is the one that did not, `not_reached` ones were not checked (the verifier stops at
//! the first failure). The verdict is always the `trustmeter-client` verifier's own; the steps
//! only say where it stopped, so no step is reported passed that did not run. `summary` holds the
//! verified facts (numbers as strings, exactly as the chain states them) and is empty when the
//! proof does not verify. Step ids are [`trustmeter_client::Step`]'s for readings, figures,
//! receipts and state proofs (plus `policy_set`), and `format`, `genesis`, `state`, `documents`,
//! `samples` for carbon proofs ([`trustmeter_client::carbon`]'s steps 1, 2, 3–7 and 8).

use crate::{ErrorCode, OpError, OpResult};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use trustmeter_client::carbon::{MAX_SAMPLED_FIGURES, MAX_SAMPLED_READINGS, MAX_STATE_DOCUMENTS};
use trustmeter_client::certified::{RECEIPT_PROOF_VERSION, STATE_PROOFS_VERSION, StateKey};
use trustmeter_client::epochs::epoch_length;
use trustmeter_client::{
    CARBON_PROOF_VERSION, CarbonProof, Committee, FIGURE_PROOF_VERSION, FigureProof, PROOF_VERSION, ProofBundle,
    ReceiptProof, StateProofs, Step, VerifyError,
};
use trustmeter_types::{BlockHeader, Genesis, Hash32, encode};

/// Largest proof document accepted, bytes.
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;

/// Input of `verify`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyInput {
    /// What the document proves.
    pub kind: Kind,
    /// The proof document's text, as the node served it.
    pub bundle: String,
    /// The trusted genesis document's text; `null` to use the one a proof carries.
    pub genesis: Option<String>,
    /// The transaction a receipt proof is asked for (hex).
    #[serde(default)]
    pub tx_hash: Option<String>,
}

/// The kinds of proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A signed meter reading (`trustmeter-proof/v4`).
    Reading,
    /// An enterprise's daily figure (`trustmeter-figure-proof/v2`).
    Figure,
    /// A verified annual carbon figure (`trustmeter-carbon-proof/v1`).
    Carbon,
    /// A transaction's receipt (`trustmeter-receipt-proof/v2`).
    Receipt,
    /// Registry entries and absences (`trustmeter-state-proofs/v2`).
    State,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Reading => "reading",
            Kind::Figure => "figure",
            Kind::Carbon => "carbon",
            Kind::Receipt => "receipt",
            Kind::State => "state",
        }
    }

    fn version(self) -> &'static str {
        match self {
            Kind::Reading => PROOF_VERSION,
            Kind::Figure => FIGURE_PROOF_VERSION,
            Kind::Carbon => CARBON_PROOF_VERSION,
            Kind::Receipt => RECEIPT_PROOF_VERSION,
            Kind::State => STATE_PROOFS_VERSION,
        }
    }
}

/// A step as shown to people.
#[derive(Clone, Copy, Debug)]
pub struct StepDef {
    /// Stable id.
    pub id: &'static str,
    /// English name.
    pub name: &'static str,
    /// Chinese name.
    pub name_zh: &'static str,
    /// What it checks (the detail of a passed step with nothing more specific to say).
    pub checks: &'static str,
}

const FORMAT: StepDef = StepDef {
    id: "format",
    name: "Proof format",
    name_zh: "证明格式",
    checks: "The document is a proof of this kind and version, with exactly the fields its format defines.",
};
const GENESIS: StepDef = StepDef {
    id: "genesis",
    name: "Genesis and chain",
    name_zh: "创世文件与链",
    checks: "The proof's genesis is the trusted one, its validator set is usable, and the block is of its chain.",
};
const READING_SIGNATURE: StepDef = StepDef {
    id: "reading_signature",
    name: "Reading signature",
    name_zh: "读数签名",
    checks: "The reading's signature verifies with the meter's registered key (or its gateway's, for a meter without a key of its own).",
};
const REGISTRY: StepDef = StepDef {
    id: "registry",
    name: "Meter and gateway records",
    name_zh: "计量器具与网关登记",
    checks: "The meter is active, attached to a gateway of the same enterprise, registered in the reading's unit and calibrated at the reading's time; the gateway is active.",
};
const STATE_PROOFS: StepDef = StepDef {
    id: "state_proofs",
    name: "State proofs",
    name_zh: "状态证明",
    checks: "The records are in the state the block header commits to (Merkle proofs up to its state root).",
};
const INCLUSION: StepDef = StepDef {
    id: "inclusion",
    name: "Inclusion in the block",
    name_zh: "区块收录",
    checks: "The reading is a leaf of the block's readings tree (its audit path leads to the header's readings root).",
};
const EPOCH_CHAIN: StepDef = StepDef {
    id: "epoch_chain",
    name: "Validator set of the epoch",
    name_zh: "所属纪元的验证节点集合",
    checks: "The validator set that signs the block's epoch is learnt from the genesis: the genesis set for epochs 0 and 1, else a chain of finalized epoch boundaries.",
};
const FINALITY: StepDef = StepDef {
    id: "finality",
    name: "Finality certificate",
    name_zh: "最终性证书",
    checks: "A quorum of that validator set finalized exactly this block (or a block descending from it through the headers given).",
};
const FIGURE_STATE: StepDef = StepDef {
    id: "state_proofs",
    name: "Daily figure in the state",
    name_zh: "日能耗数据状态证明",
    checks: "The entry is an enterprise's daily figure, in the state the block header commits to.",
};
const RECEIPT_INCLUSION: StepDef = StepDef {
    id: "inclusion",
    name: "Receipt in the block",
    name_zh: "交易回执收录",
    checks: "The receipt names the transaction and is a leaf of the block's receipts tree (its audit path leads to the header's receipts root).",
};
const STATE_ENTRIES: StepDef = StepDef {
    id: "state_proofs",
    name: "Registry entries and absences",
    name_zh: "登记条目与不存在证明",
    checks: "Every entry, and the absence of every key listed as absent, is proven against the state root of the block.",
};
const POLICY_SET: StepDef = StepDef {
    id: "policy_set",
    name: "Audit policy set complete",
    name_zh: "审核策略集完整",
    checks: "The audit policy versions proven are contiguous, the oldest is in force and the next is proven absent: none is hidden.",
};
const CARBON_STATE: StepDef = StepDef {
    id: "state",
    name: "State under one finalized block",
    name_zh: "同一最终确定区块下的状态",
    checks: "Every state-proof document verifies (roots, entries, absences, epoch chain and finality certificate) and all are of the same block.",
};
const CARBON_DOCUMENTS: StepDef = StepDef {
    id: "documents",
    name: "Verified figure and report",
    name_zh: "核查结果与排放报告",
    checks: "The verification is final and its figure follows from the statement or the decision; the filed report hashes to the hash on chain, and its totals, month results, documented entries and methodologies are the chain's.",
};
const CARBON_SAMPLES: StepDef = StepDef {
    id: "samples",
    name: "Sampled figures and readings",
    name_zh: "抽样日能耗与读数",
    checks: "Each sampled daily figure and signed reading verifies and belongs to this enterprise and year.",
};

/// The id of a `trustmeter-client` step.
fn step_id(step: Step) -> &'static str {
    match step {
        Step::Format => "format",
        Step::Genesis => "genesis",
        Step::ReadingSignature => "reading_signature",
        Step::Registry => "registry",
        Step::StateProofs => "state_proofs",
        Step::Inclusion => "inclusion",
        Step::Finality => "finality",
        Step::EpochChain => "epoch_chain",
    }
}

/// Whether a finality error comes from the descendant headers, checked before the epoch chain.
fn before_epoch_chain(e: &VerifyError) -> bool {
    matches!(e, VerifyError::TooManyDescendants { .. } | VerifyError::DescendantNotChild { .. })
}

/// Where a verification stopped.
struct Failure {
    /// The failed step's id.
    step: &'static str,
    /// The verifier's message.
    message: String,
    /// Steps listed before the failed one that were not checked.
    not_run: Vec<&'static str>,
}

impl Failure {
    fn at(step: &'static str, message: impl Into<String>) -> Failure {
        Failure { step, message: message.into(), not_run: Vec::new() }
    }

    /// A `trustmeter-client` error, at the step it names.
    fn of(e: &VerifyError) -> Failure {
        let mut f = Failure::at(step_id(e.step()), e.to_string());
        if before_epoch_chain(e) {
            f.not_run.push("epoch_chain");
        }
        f
    }
}

/// What the checks established.
struct Success {
    /// Details of passed steps (by id), where there is more to say than what they check.
    details: Vec<(&'static str, String)>,
    /// The verified facts.
    summary: Map<String, Value>,
}

/// A verification's report, before it is written out.
struct Report {
    kind: Kind,
    plan: Vec<StepDef>,
    trusted: bool,
    genesis: Option<Value>,
    warnings: Vec<String>,
    outcome: Result<Success, Failure>,
}

impl Report {
    fn new(kind: Kind, plan: Vec<StepDef>) -> Report {
        Report {
            kind,
            plan,
            trusted: false,
            genesis: None,
            warnings: Vec::new(),
            outcome: Err(Failure::at("format", "not checked")),
        }
    }

    fn into_value(self) -> Value {
        let mut steps = Vec::with_capacity(self.plan.len());
        // A failure at a step this kind does not list (none is known) is shown at the last step,
        // with every other step not reached: nothing is claimed passed that may not have run.
        let (failed_at, listed) = match &self.outcome {
            Err(f) => match self.plan.iter().position(|s| s.id == f.step) {
                Some(at) => (Some(at), true),
                None => (Some(self.plan.len() - 1), false),
            },
            Ok(_) => (None, true),
        };
        for (i, def) in self.plan.iter().enumerate() {
            let (status, detail) = match (&self.outcome, failed_at) {
                (Ok(s), _) => {
                    let detail = s.details.iter().find(|(id, _)| *id == def.id).map(|(_, d)| d.as_str());
                    ("passed", detail.unwrap_or(def.checks).to_string())
                }
                (Err(f), Some(at)) if i < at && listed && !f.not_run.contains(&def.id) => {
                    ("passed", def.checks.to_string())
                }
                (Err(f), Some(at)) if i == at => ("failed", f.message.clone()),
                _ => ("not_reached", "Not checked: the verification stopped at an earlier step.".to_string()),
            };
            steps.push(json!({
                "id": def.id,
                "name": def.name,
                "name_zh": def.name_zh,
                "status": status,
                "detail": detail,
            }));
        }
        let (summary, error) = match self.outcome {
            Ok(s) => (Value::Object(s.summary), Value::Null),
            Err(f) => {
                let step = failed_at.map(|at| self.plan[at].id).unwrap_or(f.step);
                (
                    Value::Object(Map::new()),
                    json!({"code": ErrorCode::VerifyFailed, "step": step, "message": f.message}),
                )
            }
        };
        json!({
            "kind": self.kind,
            "trusted_genesis": self.trusted,
            "genesis": self.genesis,
            "steps": steps,
            "summary": summary,
            "warnings": self.warnings,
            "error": error,
        })
    }
}

/// The `verify` operation.
pub fn verify(input: VerifyInput) -> OpResult {
    if input.bundle.len() > MAX_BUNDLE_BYTES {
        return Err(OpError::new(
            ErrorCode::TooLarge,
            format!("the proof is {} bytes; at most {MAX_BUNDLE_BYTES} are accepted", input.bundle.len()),
        ));
    }
    if input.genesis.as_ref().is_some_and(|g| g.len() > crate::genesis::MAX_GENESIS_BYTES) {
        return Err(OpError::new(
            ErrorCode::TooLarge,
            format!("the genesis is larger than {} bytes", crate::genesis::MAX_GENESIS_BYTES),
        ));
    }
    if input.tx_hash.is_some() && input.kind != Kind::Receipt {
        return Err(OpError::new(ErrorCode::BadInput, "tx_hash applies to receipt proofs only"));
    }
    let report = match input.kind {
        Kind::Reading => reading(&input),
        Kind::Figure => figure(&input),
        Kind::Carbon => carbon(&input),
        Kind::Receipt => receipt(&input),
        Kind::State => state(&input),
    };
    Ok(report.into_value())
}

/// Parses the proof document; a failure is the format step's.
fn parse_document<T>(
    kind: Kind,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, serde_json::Error>,
) -> Result<T, Failure> {
    parse(text).map_err(|e| {
        Failure::at("format", format!("the document is not a {} proof ({}): {e}", kind.name(), kind.version()))
    })
}

/// The trusted genesis, if one is given; a failure is the genesis step's.
fn trusted_genesis(text: Option<&str>) -> Result<Option<Genesis>, Failure> {
    match text {
        None => Ok(None),
        Some(t) => crate::genesis::parse(t)
            .map(Some)
            .map_err(|e| Failure::at("genesis", format!("trusted genesis: {}", e.message))),
    }
}

/// Fills in what the report says of the genesis used: which one, whether it was trusted, and
/// the warnings that go with an untrusted or a devnet genesis. Returns the genesis step's detail.
fn note_genesis(report: &mut Report, genesis: &Genesis, trusted: bool, holder: Option<&str>) -> String {
    let hash = crate::genesis::hash_hex(genesis);
    let fingerprint = crate::genesis::fingerprint(&hash);
    report.trusted = trusted;
    report.genesis = Some(crate::genesis::describe(genesis));
    if let Some(seed) = genesis.devnet_seed {
        report.warnings.push(format!(
            "chain {} is a devnet (devnet_seed {seed}): every key derives from a public seed, so this proof shows the format, not that real parties signed it",
            genesis.chain_id
        ));
    }
    let what = format!(
        "chain {}, {} validators, hashing with {}, genesis hash {hash} (fingerprint {fingerprint})",
        genesis.chain_id,
        genesis.validators.len(),
        genesis.params.hash
    );
    let Some(holder) = holder else {
        return format!("Checked against the trusted genesis (the proof carries none): {what}.");
    };
    if trusted {
        format!("The {holder}'s genesis is the trusted genesis: {what}.")
    } else {
        report.warnings.push(format!(
            "NOT CHECKED AGAINST A TRUSTED GENESIS: the proof was checked against the genesis it carries ({what}). That shows only that some validator set with this genesis signed it; compare the genesis hash with the one your consortium published, or give the genesis you trust."
        ));
        format!(
            "NOT TRUSTED: checked against the genesis inside the {holder} ({what}); compare its hash with the published one, or give a trusted genesis."
        )
    }
}

/// The checks of a genesis that proofs without one of their own make later (in
/// `CertifiedHeader::verify`), made first so that the genesis step is reported in its place.
fn precheck_genesis(genesis: &Genesis, header: &BlockHeader) -> Result<(), VerifyError> {
    Committee::genesis(genesis)?;
    epoch_length(genesis)?;
    if header.chain_id != genesis.chain_id {
        return Err(VerifyError::ChainMismatch { header: header.chain_id.clone(), genesis: genesis.chain_id.clone() });
    }
    Ok(())
}

fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

/// A value as JSON (`null` if it has no JSON form; never panics, unlike `json!`).
fn val<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A serde value's JSON text (enums by their wire names, unquoted when a string).
fn wire<T: Serialize>(v: &T) -> Value {
    match serde_json::to_value(v) {
        Ok(Value::String(text)) => Value::String(text),
        Ok(other) => Value::String(other.to_string()),
        Err(_) => Value::Null,
    }
}

fn epoch_detail(epoch: u64, links: usize) -> String {
    if links == 0 {
        format!("The block is of epoch {epoch}: its certificate is checked against the genesis validator set.")
    } else {
        format!(
            "The validator set of epoch {epoch} was followed from the genesis set through {links} finalized epoch boundaries."
        )
    }
}

fn finality_detail(signatures: usize, validators: usize, quorum: usize, epoch: u64, view: u64) -> String {
    format!("Finalized by {signatures} of {validators} validators (quorum {quorum}) in epoch {epoch}, view {view}.")
}

fn reading(input: &VerifyInput) -> Report {
    let plan = vec![FORMAT, GENESIS, READING_SIGNATURE, REGISTRY, STATE_PROOFS, INCLUSION, EPOCH_CHAIN, FINALITY];
    let mut report = Report::new(Kind::Reading, plan);
    let bundle = match parse_document(Kind::Reading, &input.bundle, ProofBundle::from_json) {
        Ok(b) => b,
        Err(f) => {
            report.outcome = Err(f);
            return report;
        }
    };
    let trusted = match trusted_genesis(input.genesis.as_deref()) {
        Ok(t) => t,
        Err(f) => {
            report.outcome = Err(f);
            return report;
        }
    };
    let genesis_detail =
        note_genesis(&mut report, trusted.as_ref().unwrap_or(&bundle.genesis), trusted.is_some(), Some("bundle"));
    report.outcome = match trustmeter_client::verify(&bundle, trusted.as_ref()) {
        Err(e) => Err(Failure::of(&e)),
        Ok(v) => {
            let signer = match v.signer {
                trustmeter_types::ReadingSigner::Meter => "the meter's own registered key".to_string(),
                trustmeter_types::ReadingSigner::Gateway => format!("the key of its gateway {}", v.gateway),
            };
            let through = if v.certified_height != v.height {
                format!(
                    " The certificate is of block {}, which descends from it through {} linked headers.",
                    v.certified_height,
                    v.certified_height - v.height
                )
            } else {
                String::new()
            };
            let details = vec![
                ("format", format!("A {} document.", bundle.version)),
                ("genesis", genesis_detail),
                ("reading_signature", format!("Reading {} of meter {} is signed with {signer}.", v.seq, v.meter)),
                (
                    "registry",
                    format!(
                        "Meter {} ({}, {}) of {} is active on gateway {}, registered in {} and calibrated by certificate {} at the reading's time; the gateway is active.",
                        v.meter,
                        v.meter_name,
                        v.energy.name(),
                        v.owner,
                        v.gateway,
                        v.unit.symbol(),
                        v.calibration_certificate_no
                    ),
                ),
                (
                    "state_proofs",
                    format!(
                        "The meter's and the gateway's records are proven under the state root of block {}.",
                        v.height
                    ),
                ),
                (
                    "inclusion",
                    format!(
                        "The reading is leaf {} of the {} readings of block {} ({}).",
                        bundle.index, bundle.tree_size, v.height, v.block_digest
                    ),
                ),
                ("epoch_chain", epoch_detail(v.finalized_epoch, v.epoch_links)),
                (
                    "finality",
                    finality_detail(
                        v.validator_signatures,
                        v.validators,
                        v.quorum,
                        v.finalized_epoch,
                        v.finalized_view,
                    ) + &through,
                ),
            ];
            let summary = json!({
                "chain_id": s(&v.chain_id),
                "meter": s(&v.meter),
                "meter_name": s(&v.meter_name),
                "energy": s(v.energy.name()),
                "owner": s(&v.owner),
                "gateway": s(&v.gateway),
                "seq": s(v.seq),
                "value": s(v.value),
                "unit": s(v.unit.symbol()),
                "timestamp_ms": s(v.timestamp_ms),
                "time_utc": s(crate::time::utc(v.timestamp_ms)),
                "time_beijing": s(crate::time::beijing(v.timestamp_ms)),
                "origin": s(v.origin.as_str()),
                "clock_suspect": s(v.clock_suspect),
                "signer": wire(&v.signer),
                "calibration_certificate_no": s(&v.calibration_certificate_no),
                "height": s(v.height),
                "block_digest": s(v.block_digest),
                "block_timestamp_ms": s(v.block_timestamp_ms),
                "block_time_utc": s(crate::time::utc(v.block_timestamp_ms)),
                "certified_height": s(v.certified_height),
                "hash_alg": s(v.hash),
                "finalized_epoch": s(v.finalized_epoch),
                "finalized_view": s(v.finalized_view),
                "validator_signatures": s(v.validator_signatures),
                "validators": s(v.validators),
                "quorum": s(v.quorum),
                "epoch_links": s(v.epoch_links),
            });
            Ok(Success { details, summary: object(summary) })
        }
    };
    report
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn figure(input: &VerifyInput) -> Report {
    let plan = vec![FORMAT, GENESIS, FIGURE_STATE, EPOCH_CHAIN, FINALITY];
    let mut report = Report::new(Kind::Figure, plan);
    let proof = match parse_document(Kind::Figure, &input.bundle, FigureProof::from_json) {
        Ok(p) => p,
        Err(f) => {
            report.outcome = Err(f);
            return report;
        }
    };
    let trusted = match trusted_genesis(input.genesis.as_deref()) {
        Ok(t) => t,
        Err(f) => {
            report.outcome = Err(f);
            return report;
        }
    };
    let genesis_detail =
        note_genesis(&mut report, trusted.as_ref().unwrap_or(&proof.genesis), trusted.is_some(), Some("proof"));
    report.outcome = match trustmeter_client::verify_figure(&proof, trusted.as_ref()) {
        Err(e) => Err(Failure::of(&e)),
        Ok(v) => {
            let f = &v.figure;
            report.warnings.push(format!(
                "This is the figure as of block {}: a daily figure changes when late readings arrive within the chain's late-data window, so a later proof may show another value.",
                v.height
            ));
            let details = vec![
                ("format", format!("A {} document.", proof.version)),
                ("genesis", genesis_detail),
                (
                    "state_proofs",
                    format!(
                        "{}'s {} figure of {} in {} is proven under the state root of block {}.",
                        v.org,
                        v.energy.name(),
                        v.day_label,
                        v.unit.symbol(),
                        v.height
                    ),
                ),
                ("epoch_chain", epoch_detail(v.finalized_epoch, 0)),
                (
                    "finality",
                    finality_detail(
                        v.validator_signatures,
                        v.validators,
                        v.quorum,
                        v.finalized_epoch,
                        v.finalized_view,
                    ),
                ),
            ];
            let tiers: Vec<Value> = f.tiers.iter().map(s).collect();
            let summary = json!({
                "chain_id": s(&v.chain_id),
                "org": s(&v.org),
                "day": s(&v.day_label),
                "energy": s(v.energy.name()),
                "unit": s(v.unit.symbol()),
                "value": s(f.consumption),
                "consumption": s(f.consumption),
                "estimated": s(f.estimated),
                "manual": s(f.manual),
                "exported": s(f.exported),
                "points": s(f.points),
                "on_time": s(f.on_time),
                "late": s(f.late),
                "flagged": s(f.flagged),
                "excluded_intervals": s(f.excluded_intervals),
                "tiers": tiers,
                "tou_schedule": f.tou_schedule.as_ref().map(s),
                "kgce_equivalent": s(f.kgce_equivalent),
                "kgce_equal_value": s(f.kgce_equal_value),
                "kgce_missing": f.kgce_missing.as_ref().map(s),
                "reference": s(&f.reference),
                "height": s(v.height),
                "block_digest": s(v.block_digest),
                "block_timestamp_ms": s(v.block_timestamp_ms),
                "block_time_utc": s(crate::time::utc(v.block_timestamp_ms)),
                "hash_alg": s(v.hash),
                "finalized_epoch": s(v.finalized_epoch),
                "finalized_view": s(v.finalized_view),
                "validator_signatures": s(v.validator_signatures),
                "validators": s(v.validators),
                "quorum": s(v.quorum),
            });
            Ok(Success { details, summary: object(summary) })
        }
    };
    report
}

/// Which of a carbon proof's steps a failure of `verify_carbon` belongs to, found by running the
/// same public checks on the proof's parts in the order `verify_carbon` runs them: its format
/// limits, the genesis, every state document and their common block, the documents without the
/// samples (`verify_carbon` of the proof without samples); else the samples.
fn carbon_failed_step(p: &CarbonProof, trusted: Option<&Genesis>) -> &'static str {
    if p.version != CARBON_PROOF_VERSION
        || p.state.is_empty()
        || p.state.len() > MAX_STATE_DOCUMENTS
        || p.figures.len() > MAX_SAMPLED_FIGURES
        || p.readings.len() > MAX_SAMPLED_READINGS
    {
        return "format";
    }
    let g = &p.genesis;
    if trusted.is_some_and(|t| encode(t) != encode(g)) || precheck_genesis(g, &p.state[0].block.header).is_err() {
        return "genesis";
    }
    let mut digest = None;
    for doc in &p.state {
        match trustmeter_client::verify_state(doc, g) {
            Err(_) => return "state",
            Ok(v) if *digest.get_or_insert(v.block.digest) != v.block.digest => return "state",
            Ok(_) => {}
        }
    }
    let mut bare = p.clone();
    bare.figures.clear();
    bare.readings.clear();
    if trustmeter_client::verify_carbon(&bare, trusted).is_err() {
        return "documents";
    }
    "samples"
}

fn carbon(input: &VerifyInput) -> Report {
    let plan = vec![FORMAT, GENESIS, CARBON_STATE, CARBON_DOCUMENTS, CARBON_SAMPLES];
    let mut report = Report::new(Kind::Carbon, plan);
    let proof: CarbonProof = match parse_document(Kind::Carbon, &input.bundle, trustmeter_client::strict::parse) {
        Ok(p) => p,
        Err(f) => {
            report.outcome = Err(f);
            return report;
        }
    };
    let trusted = match trusted_genesis(input.genesis.as_deref()) {
        Ok(t) => t,
        Err(f) => {
            report.outcome = Err(f);
            return report;
        }
    };
    let genesis_detail =
        note_genesis(&mut report, trusted.as_ref().unwrap_or(&proof.genesis), trusted.is_some(), Some("proof"));
    report.outcome = match trustmeter_client::verify_carbon(&proof, trusted.as_ref()) {
        Err(e) => Err(Failure::at(carbon_failed_step(&proof, trusted.as_ref()), e.to_string())),
        Ok(v) => {
            if !v.months_recomputed.is_empty() {
                report.warnings.push(format!(
                    "months recomputed by late data since the report was filed: {}",
                    v.months_recomputed.join("; ")
                ));
            }
            if !v.entries_changed.is_empty() {
                report
                    .warnings
                    .push(format!("entries changed since the report was filed: {}", v.entries_changed.join("; ")));
            }
            if !v.evidence.is_empty() {
                report.warnings.push(format!(
                    "{} evidence file(s) are named with their hashes but not checked here (summary.evidence); `trustmeter verify --carbon --evidence-dir` checks them",
                    v.evidence.len()
                ));
            }
            let details = vec![
                (
                    "format",
                    format!(
                        "A {} document: {} state documents, {} sampled figures, {} sampled readings.",
                        proof.version,
                        proof.state.len(),
                        proof.figures.len(),
                        proof.readings.len()
                    ),
                ),
                ("genesis", genesis_detail),
                (
                    "state",
                    format!("{} state documents are proven under finalized block {}.", proof.state.len(), v.height),
                ),
                (
                    "documents",
                    format!(
                        "{} t CO2e is final ({}) for {}'s {} report, verified by {}; the report ({}, {} t reported) is the one on chain; {} month(s) agree, {} entr(ies) proven as listed, methodologies {}.",
                        v.final_t,
                        v.final_by,
                        proof.org,
                        proof.year,
                        v.verifier,
                        v.report_hash,
                        v.reported_t,
                        v.months_agreeing.len(),
                        v.entries_agreeing,
                        if v.methodologies.is_empty() { "none".to_string() } else { v.methodologies.join(", ") }
                    ),
                ),
                (
                    "samples",
                    format!("{} daily figure(s) and {} reading(s) verified.", v.figures.len(), v.readings.len()),
                ),
            ];
            let list = |items: &[String]| items.iter().map(s).collect::<Vec<_>>();
            let evidence: Vec<Value> =
                v.evidence.iter().map(|(h, name)| json!({"hash": s(h), "name": s(name)})).collect();
            let summary = json!({
                "chain_id": s(&proof.genesis.chain_id),
                "org": s(&proof.org),
                "year": s(proof.year),
                "value": s(&v.final_t),
                "unit": s("t CO2e"),
                "final_t": s(&v.final_t),
                "final_by": s(&v.final_by),
                "verifier": s(&v.verifier),
                "reported_t": s(&v.reported_t),
                "report_hash": s(v.report_hash),
                "height": s(v.height),
                "months_agreeing": list(&v.months_agreeing),
                "months_recomputed": list(&v.months_recomputed),
                "entries_agreeing": s(v.entries_agreeing),
                "entries_changed": list(&v.entries_changed),
                "methodologies": list(&v.methodologies),
                "evidence": evidence,
                "figures": list(&v.figures),
                "readings": list(&v.readings),
            });
            Ok(Success { details, summary: object(summary) })
        }
    };
    report
}

/// The genesis of a proof that carries none: the one given, checked before the proof's own
/// steps. `Err` is the report's outcome.
fn required_genesis(
    report: &mut Report,
    input: &VerifyInput,
    header: &BlockHeader,
) -> Result<(Genesis, String), Failure> {
    let Some(genesis) = trusted_genesis(input.genesis.as_deref())? else {
        return Err(Failure::at(
            "genesis",
            format!(
                "a {} proof carries no genesis: give the genesis you trust (GET /v1/genesis, compared with the hash your consortium published)",
                report.kind.name()
            ),
        ));
    };
    let detail = note_genesis(report, &genesis, true, None);
    precheck_genesis(&genesis, header).map_err(|e| Failure::of(&e))?;
    Ok((genesis, detail))
}

fn receipt(input: &VerifyInput) -> Report {
    let plan = vec![FORMAT, GENESIS, RECEIPT_INCLUSION, EPOCH_CHAIN, FINALITY];
    let mut report = Report::new(Kind::Receipt, plan);
    let proof: ReceiptProof = match parse_document(Kind::Receipt, &input.bundle, trustmeter_client::strict::parse) {
        Ok(p) => p,
        Err(f) => {
            report.outcome = Err(f);
            return report;
        }
    };
    if proof.version != RECEIPT_PROOF_VERSION {
        let e = VerifyError::UnsupportedVersion { found: proof.version.clone(), expected: RECEIPT_PROOF_VERSION };
        report.outcome = Err(Failure::of(&e));
        return report;
    }
    let (genesis, genesis_detail) = match required_genesis(&mut report, input, &proof.block.header) {
        Ok(g) => g,
        Err(f) => {
            report.outcome = Err(f);
            return report;
        }
    };
    let tx_hash = match &input.tx_hash {
        Some(h) => match Hash32::from_hex(h) {
            Ok(h) => h,
            Err(e) => {
                report.outcome =
                    Err(Failure::at("inclusion", format!("the transaction hash asked for is not a hash: {e}")));
                return report;
            }
        },
        None => {
            report.warnings.push(format!(
                "no transaction hash was given: the receipt is checked for the transaction it names ({}); give tx_hash to check that it is the one you asked about",
                proof.receipt.tx_hash
            ));
            proof.receipt.tx_hash
        }
    };
    report.outcome = match trustmeter_client::verify_receipt(&proof, &genesis, &tx_hash) {
        Err(e) => Err(Failure::of(&e)),
        Ok(v) => {
            let b = &v.block;
            let details = vec![
                ("format", format!("A {} document.", proof.version)),
                ("genesis", genesis_detail),
                (
                    "inclusion",
                    format!(
                        "The receipt of transaction {} is leaf {} of the {} receipts of block {} ({}).",
                        v.receipt.tx_hash, v.index, proof.tree_size, b.height, b.digest
                    ),
                ),
                ("epoch_chain", epoch_detail(certified_epoch(&proof.block), proof.block.epochs.len())),
                (
                    "finality",
                    format!("Finalized by {} validator signatures on block {}.", b.signatures, b.certified_height),
                ),
            ];
            let readings: Vec<Value> = v.receipt.readings.iter().map(wire).collect();
            let summary = json!({
                "chain_id": s(&proof.block.header.chain_id),
                "tx_hash": s(v.receipt.tx_hash),
                "outcome": wire(&v.receipt.outcome),
                "readings": readings,
                "index": s(v.index),
                "height": s(b.height),
                "block_digest": s(b.digest),
                "block_timestamp_ms": s(b.timestamp_ms),
                "block_time_utc": s(crate::time::utc(b.timestamp_ms)),
                "certified_height": s(b.certified_height),
                "validator_signatures": s(b.signatures),
            });
            Ok(Success { details, summary: object(summary) })
        }
    };
    report
}

/// The epoch of the block a certified header's certificate is for.
fn certified_epoch(h: &trustmeter_client::CertifiedHeader) -> u64 {
    h.descendants.last().map_or(h.header.epoch, |d| d.epoch)
}

fn state(input: &VerifyInput) -> Report {
    let mut plan = vec![FORMAT, GENESIS, STATE_ENTRIES, EPOCH_CHAIN, FINALITY];
    let mut report = Report::new(Kind::State, plan.clone());
    let proofs: StateProofs = match parse_document(Kind::State, &input.bundle, trustmeter_client::strict::parse) {
        Ok(p) => p,
        Err(f) => {
            report.outcome = Err(f);
            return report;
        }
    };
    let policies = proofs.entries.iter().any(|p| matches!(p.entry.key, StateKey::Policy(_)));
    if policies {
        plan.push(POLICY_SET);
        report.plan = plan;
    }
    if proofs.version != STATE_PROOFS_VERSION {
        let e = VerifyError::UnsupportedVersion { found: proofs.version.clone(), expected: STATE_PROOFS_VERSION };
        report.outcome = Err(Failure::of(&e));
        return report;
    }
    let (genesis, genesis_detail) = match required_genesis(&mut report, input, &proofs.block.header) {
        Ok(g) => g,
        Err(f) => {
            report.outcome = Err(f);
            return report;
        }
    };
    let verified = match trustmeter_client::verify_state(&proofs, &genesis) {
        Ok(v) => v,
        Err(e) => {
            report.outcome = Err(Failure::of(&e));
            return report;
        }
    };
    let b = verified.block;
    let mut details = vec![
        ("format", format!("A {} document.", proofs.version)),
        ("genesis", genesis_detail),
        (
            "state_proofs",
            format!(
                "{} entr(ies) and {} absence(s) are proven under the state root of block {} ({}).",
                verified.entries.len(),
                verified.absent.len(),
                b.height,
                b.digest
            ),
        ),
        ("epoch_chain", epoch_detail(certified_epoch(&proofs.block), proofs.block.epochs.len())),
        ("finality", format!("Finalized by {} validator signatures on block {}.", b.signatures, b.certified_height)),
    ];
    let mut summary = json!({
        "chain_id": s(&proofs.block.header.chain_id),
        "height": s(b.height),
        "block_digest": s(b.digest),
        "block_timestamp_ms": s(b.timestamp_ms),
        "block_time_utc": s(crate::time::utc(b.timestamp_ms)),
        "certified_height": s(b.certified_height),
        "validator_signatures": s(b.signatures),
        "entries": verified.entries.iter().map(|e| json!({"key": val(&e.key), "value": val(&e.value)})).collect::<Vec<_>>(),
        "absent": verified.absent.iter().map(val).collect::<Vec<_>>(),
    });
    report.warnings.push(format!(
        "state as of block {}: a proof shows the state after that block, not necessarily the latest",
        b.height
    ));
    if policies {
        match verified.policies() {
            Err(e) => {
                report.outcome = Err(Failure::at("policy_set", e.to_string()));
                return report;
            }
            Ok(p) => {
                let versions: Vec<String> = p.iter().map(|r| r.version.to_string()).collect();
                details.push((
                    "policy_set",
                    format!(
                        "Audit policy versions {} are complete: the first is in force after block {}.",
                        versions.join(", "),
                        b.height
                    ),
                ));
                if let Value::Object(m) = &mut summary {
                    m.insert("policy_versions".into(), versions.into_iter().map(Value::String).collect());
                }
            }
        }
    }
    report.outcome = Ok(Success { details, summary: object(summary) });
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(report: Report) -> Vec<String> {
        let v = report.into_value();
        v["steps"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn steps_before_a_failure_passed_unless_not_run() {
        let mut r = Report::new(Kind::Reading, vec![FORMAT, GENESIS, INCLUSION, EPOCH_CHAIN, FINALITY]);
        r.outcome = Err(Failure::of(&VerifyError::TooManyDescendants { count: 300, max: 256 }));
        assert_eq!(statuses(r), ["passed", "passed", "passed", "not_reached", "failed"]);
    }

    #[test]
    fn a_failure_at_an_unlisted_step_claims_no_step_passed() {
        let mut r = Report::new(Kind::Figure, vec![FORMAT, GENESIS, FIGURE_STATE, EPOCH_CHAIN, FINALITY]);
        r.outcome = Err(Failure::at("registry", "x"));
        assert_eq!(statuses(r), ["not_reached", "not_reached", "not_reached", "not_reached", "failed"]);
    }
}
