//! Carbon proofs: an enterprise's verified emissions of a year, checkable offline from the final
//! figure down to the report, its month results, its documented entries, sampled daily figures
//! and sampled signed readings; the evidence files are then checked against the hashes it names.
//!
//! A [`CarbonProof`] carries the genesis, state proofs under one finalized block (the
//! verification, the filed annual report's record, the twelve month results, the documented
//! entries and the methodology versions the report names), the filed report document itself,
//! and optional samples: daily figure proofs ([`FigureProof`]) and reading bundles
//! ([`ProofBundle`]). [`verify_carbon`] checks, stopping at the first failure:
//!
//! 1. **format and genesis**: the version; the genesis (equal to the trusted one if given);
//! 2. **state**: every state-proof document verifies against the genesis (roots, entries,
//!    absences, finality) and all are of the same block;
//! 3. **final figure**: the verification is final; its figure is the verifier's (reported total
//!    plus the findings' adjustments, accepted or unopposed) or the regulator's decision;
//! 4. **report**: the document hashes to the hash the chain recorded (which every validator
//!    checked against the document its own state gave when it was filed), and the statement is
//!    on that hash; the document is canonical, of this enterprise and year, and its totals are the
//!    recorded ones;
//! 5. **results**: each month the report used is proven; where it was not recomputed since, its
//!    totals are the report's (months recomputed since, by late data, are listed); with none
//!    recomputed, the year record's sums are the report's totals;
//! 6. **entries**: each documented entry the report lists is proven with the same evidence
//!    hashes (entries corrected since are listed);
//! 7. **methodologies**: each version the report names is proven and its text hashes to the
//!    report's `text_hash`;
//! 8. **samples**: each daily figure proof and reading bundle verifies and belongs to this
//!    enterprise and year.
//!
//! What it proves: the figure is final on the chain, it is the figure of the report the chain
//! accepted, and that report's results, entries and methodologies are the chain's, down to the
//! sampled readings' signatures. Evidence files are checked by the caller with
//! [`VerifiedCarbon::evidence`] (this crate reads no files).

use crate::certified::{StateProofs, VerifiedState, verify_state};
use crate::figure::{FigureProof, verify_figure};
use crate::verify::{VerifyError, check_genesis};
use crate::{ProofBundle, verify};
use serde::{Deserialize, Serialize};
use trustmeter_carbon::report::{ReportDocument, tonnes};
use trustmeter_schema::{FinalBy, StateKey, StateValue, VerificationStatus};
use trustmeter_types::compliance::ReportPeriod;
use trustmeter_types::{Genesis, Hash32, UnifiedSocialCreditCode};

/// The value of [`CarbonProof::version`] this crate writes and reads.
pub const CARBON_PROOF_VERSION: &str = "trustmeter-carbon-proof/v1";
/// Most state-proof documents in one carbon proof (each ≤ `MAX_STATE_PROOFS` keys).
pub const MAX_STATE_DOCUMENTS: usize = 64;
/// Most sampled daily figures.
pub const MAX_SAMPLED_FIGURES: usize = 62;
/// Most sampled readings.
pub const MAX_SAMPLED_READINGS: usize = 64;

/// Everything needed to check a verified figure offline (see the module documentation).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonProof {
    /// Always [`CARBON_PROOF_VERSION`].
    pub version: String,
    /// The chain's genesis; compare it with one you trust.
    pub genesis: Genesis,
    /// The enterprise.
    pub org: UnifiedSocialCreditCode,
    /// The reporting year.
    pub year: u32,
    /// State proofs, all under one finalized block.
    pub state: Vec<StateProofs>,
    /// The filed annual report document (its canonical JSON).
    pub report: String,
    /// Sampled daily figures.
    #[serde(default)]
    pub figures: Vec<FigureProof>,
    /// Sampled readings.
    #[serde(default)]
    pub readings: Vec<ProofBundle>,
}

/// What a verified carbon proof establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCarbon {
    /// Height of the block the state was proven at.
    pub height: u64,
    /// The final verified emissions, t CO2e (GB/T 32150 view).
    pub final_t: String,
    /// How they became final (`accepted`, `window_closed`, `decided`).
    pub final_by: String,
    /// The verifier.
    pub verifier: UnifiedSocialCreditCode,
    /// The reported total, t CO2e.
    pub reported_t: String,
    /// The report's hash.
    pub report_hash: Hash32,
    /// Months whose results agree with the report.
    pub months_agreeing: Vec<String>,
    /// Months recomputed after the report was filed (late data), with their current totals.
    pub months_recomputed: Vec<String>,
    /// Documented entries proven as the report lists them.
    pub entries_agreeing: usize,
    /// Entries corrected or withdrawn after the report.
    pub entries_changed: Vec<String>,
    /// Methodology versions proven (`id vN`).
    pub methodologies: Vec<String>,
    /// Evidence files the report names: (hash, file name), for the caller to check.
    pub evidence: Vec<(Hash32, String)>,
    /// Daily figures proven (`day energy unit value`).
    pub figures: Vec<String>,
    /// Readings proven (`meter seq value unit`).
    pub readings: Vec<String>,
}

fn fail(reason: impl Into<String>) -> VerifyError {
    VerifyError::Carbon { reason: reason.into() }
}

fn lookup<'a>(docs: &'a [VerifiedState], key: &StateKey) -> Option<Option<&'a StateValue>> {
    docs.iter().find_map(|d| d.lookup(key))
}

fn month_code(label: &str) -> Option<u32> {
    match ReportPeriod::parse(label).ok()? {
        ReportPeriod::Month(m) => Some(m),
        ReportPeriod::Year(_) => None,
    }
}

/// Checks a carbon proof offline (steps in the [module documentation](self)). With
/// `trusted_genesis`, the proof's genesis must equal it.
pub fn verify_carbon(p: &CarbonProof, trusted_genesis: Option<&Genesis>) -> Result<VerifiedCarbon, VerifyError> {
    if p.version != CARBON_PROOF_VERSION {
        return Err(VerifyError::UnsupportedVersion { found: p.version.clone(), expected: CARBON_PROOF_VERSION });
    }
    if p.state.is_empty() || p.state.len() > MAX_STATE_DOCUMENTS {
        return Err(fail(format!("1 to {MAX_STATE_DOCUMENTS} state documents, not {}", p.state.len())));
    }
    if p.figures.len() > MAX_SAMPLED_FIGURES || p.readings.len() > MAX_SAMPLED_READINGS {
        return Err(fail(format!("at most {MAX_SAMPLED_FIGURES} figures and {MAX_SAMPLED_READINGS} readings")));
    }
    // 1–2: genesis and state, all under one block.
    let (genesis, _) = check_genesis(&p.genesis, &p.state[0].block.header, trusted_genesis)?;
    let alg = genesis.params.hash;
    let docs: Vec<VerifiedState> = p.state.iter().map(|s| verify_state(s, genesis)).collect::<Result<_, _>>()?;
    let block = docs[0].block;
    if docs.iter().any(|d| d.block.digest != block.digest) {
        return Err(fail("the state documents are not all of the same block"));
    }
    let (org, year) = (&p.org, p.year);
    let present = |key: StateKey| -> Result<&StateValue, VerifyError> {
        match lookup(&docs, &key) {
            Some(Some(v)) => Ok(v),
            Some(None) => Err(fail(format!("{key:?} is proven absent"))),
            None => Err(fail(format!("the proof says nothing of {key:?}"))),
        }
    };

    // 3: the final figure.
    let StateValue::Verification(v) = present(StateKey::Verification(org.clone(), year))? else {
        return Err(fail("the verification entry holds another kind of value"));
    };
    let (Some(final_ut), Some((final_by, _)), VerificationStatus::Final) = (v.final_ut, v.finalised, v.status) else {
        return Err(fail(format!("the verification of {org}'s {year} report is {:?}, not final", v.status)));
    };
    let statement = v.statement.as_ref().ok_or_else(|| fail("a final verification without a statement"))?;
    let adjustments = statement.statement.findings.iter().fold(0i64, |s, f| s.saturating_add(f.adjustment.micros()));
    if statement.statement.verified.micros() != statement.reported_ut.saturating_add(adjustments) {
        return Err(fail("the statement's figure is not the reported total plus its adjustments"));
    }
    let expected_final = match (final_by, &v.decision) {
        (FinalBy::Decided, Some((_, decided))) => *decided,
        (FinalBy::Decided, None) => return Err(fail("decided without a decision")),
        _ => statement.statement.verified.micros(),
    };
    if final_ut != expected_final {
        return Err(fail(format!(
            "the final figure {} t is not the {final_by:?} figure {} t",
            tonnes(final_ut),
            tonnes(expected_final)
        )));
    }

    // 4: the report.
    let StateValue::CarbonReport(r) = present(StateKey::CarbonReport(org.clone(), year))? else {
        return Err(fail("the report entry holds another kind of value"));
    };
    let hash = trustmeter_crypto::hash(alg, p.report.as_bytes());
    if hash != r.hash {
        return Err(fail(format!("the report document hashes to {hash}, but the chain recorded {}", r.hash)));
    }
    if statement.statement.report != r.hash || statement.reported_ut != r.standard_ut {
        return Err(fail("the statement is on another report than the one recorded"));
    }
    let doc = ReportDocument::from_bytes(p.report.as_bytes()).map_err(|e| fail(e.to_string()))?;
    if doc.entity.id != org.as_str() || doc.period != year.to_string() || doc.kind != "annual_report" {
        return Err(fail(format!(
            "the document is {}'s {} {}, not {org}'s {year} annual report",
            doc.entity.id, doc.kind, doc.period
        )));
    }
    let t = &doc.totals;
    if [&t.standard, &t.scope1, &t.scope2_location, &t.scope2_market, &t.biogenic]
        != [
            &tonnes(r.standard_ut),
            &tonnes(r.scope1_ut),
            &tonnes(r.scope2_location_ut),
            &tonnes(r.scope2_market_ut),
            &tonnes(r.biogenic_ut),
        ]
    {
        return Err(fail("the document's totals are not the totals the chain recorded"));
    }

    // 5: month results.
    let (mut months_agreeing, mut months_recomputed) = (Vec::new(), Vec::new());
    for m in &doc.months {
        let Some(h) = m.result_height else { continue };
        let code = month_code(&m.month).ok_or_else(|| fail(format!("month {:?}", m.month)))?;
        let StateValue::CarbonResult(c) = present(StateKey::CarbonResult(org.clone(), code))? else {
            return Err(fail("a result entry holds another kind of value"));
        };
        if c.height != h {
            months_recomputed.push(format!("{} (now {} t at height {})", m.month, tonnes(c.standard_ut), c.height));
            continue;
        }
        let agree = m.standard == tonnes(c.standard_ut)
            && m.scope1 == tonnes(c.scope1_ut)
            && m.scope2_location == tonnes(c.scope2_location_ut)
            && m.scope2_market == tonnes(c.scope2_market_ut);
        if !agree {
            return Err(fail(format!("{}: the report's totals are not the chain's results of height {h}", m.month)));
        }
        months_agreeing.push(m.month.clone());
    }

    // The year record: when no month was recomputed since, its sums are the report's totals.
    if months_recomputed.is_empty()
        && let StateValue::CarbonYear(y) = present(StateKey::CarbonYear(org.clone(), year))?
        && [y.standard_ut, y.scope1_ut, y.scope2_location_ut, y.scope2_market_ut]
            != [r.standard_ut, r.scope1_ut, r.scope2_location_ut, r.scope2_market_ut]
    {
        return Err(fail("the chain's year record does not hold the report's totals"));
    }

    // 6: documented entries.
    let (mut entries_agreeing, mut entries_changed, mut evidence) = (0usize, Vec::new(), Vec::new());
    for a in &doc.activity {
        let Some(rest) = a.origin.strip_prefix("entry ") else { continue };
        let (number, revision) = rest
            .split_once(" rev ")
            .and_then(|(n, r)| Some((n.parse::<u32>().ok()?, r.parse::<u32>().ok()?)))
            .ok_or_else(|| fail(format!("activity origin {:?}", a.origin)))?;
        let code = month_code(&a.month).ok_or_else(|| fail(format!("month {:?}", a.month)))?;
        for e in &a.evidence {
            let h = Hash32::from_hex(&e.hash).map_err(|e| fail(format!("evidence hash: {e}")))?;
            evidence.push((h, e.name.clone()));
        }
        let StateValue::CarbonEntry(rec) = present(StateKey::CarbonEntry(org.clone(), code, number))? else {
            return Err(fail("an entry holds another kind of value"));
        };
        if rec.revision != revision {
            entries_changed
                .push(format!("{} entry {number}: rev {revision} in the report, rev {} now", a.month, rec.revision));
            continue;
        }
        let proven: Vec<String> = rec.entry.evidence.iter().map(|e| e.hash.to_hex()).collect();
        let listed: Vec<String> = a.evidence.iter().map(|e| e.hash.clone()).collect();
        if proven != listed {
            return Err(fail(format!("{} entry {number}: the report lists other evidence than the chain", a.month)));
        }
        entries_agreeing += 1;
    }

    // 7: methodologies.
    let mut methodologies = Vec::new();
    for m in &doc.methodologies {
        let StateValue::Methodology(rec) = present(StateKey::Methodology(m.id.clone(), m.version))? else {
            return Err(fail("a methodology entry holds another kind of value"));
        };
        if trustmeter_crypto::hash(alg, rec.text.as_bytes()).to_hex() != m.text_hash {
            return Err(fail(format!(
                "{} v{}: the proven text does not hash to the report's text_hash",
                m.id, m.version
            )));
        }
        methodologies.push(format!("{} v{}", m.id, m.version));
    }

    // 8: samples.
    let mut figures = Vec::new();
    for f in &p.figures {
        let vf = verify_figure(f, Some(genesis))?;
        let (y, _) = trustmeter_energy::calendar::month_of_day(vf.day);
        if &vf.org != org || y != year as i32 {
            return Err(fail(format!("a sampled figure is of {} on {}, not of {org} in {year}", vf.org, vf.day_label)));
        }
        figures.push(format!("{} {} {} {}", vf.day_label, vf.energy.name(), vf.figure.consumption, vf.unit.symbol()));
    }
    let mut readings = Vec::new();
    for b in &p.readings {
        let vr = verify(b, Some(genesis))?;
        let day = trustmeter_energy::calendar::day_number(vr.timestamp_ms);
        let (y, _) = trustmeter_energy::calendar::month_of_day(day);
        if &vr.owner != org || y != year as i32 {
            return Err(fail(format!("a sampled reading is of {} in {y}, not of {org} in {year}", vr.owner)));
        }
        readings.push(format!("{} {} {} {}", vr.meter, vr.seq, vr.value, vr.unit.symbol()));
    }
    evidence.sort();
    evidence.dedup();
    Ok(VerifiedCarbon {
        height: block.height,
        final_t: tonnes(final_ut),
        final_by: match final_by {
            FinalBy::Accepted => "accepted",
            FinalBy::WindowClosed => "window_closed",
            FinalBy::Decided => "decided",
        }
        .into(),
        verifier: v.verifier.clone(),
        reported_t: tonnes(r.standard_ut),
        report_hash: r.hash,
        months_agreeing,
        months_recomputed,
        entries_agreeing,
        entries_changed,
        methodologies,
        evidence,
        figures,
        readings,
    })
}

/// The keys a carbon proof of `org`'s `year` needs proven, given the filed report document: the
/// verification, the report's record, the twelve month results, the methodologies and the
/// entries the document names.
pub fn carbon_keys(org: &UnifiedSocialCreditCode, year: u32, doc: &ReportDocument) -> Vec<StateKey> {
    let mut keys = vec![
        StateKey::Verification(org.clone(), year),
        StateKey::CarbonReport(org.clone(), year),
        StateKey::CarbonYear(org.clone(), year),
    ];
    keys.extend((1..=12).map(|m| StateKey::CarbonResult(org.clone(), year * 100 + m)));
    keys.extend(doc.methodologies.iter().map(|m| StateKey::Methodology(m.id.clone(), m.version)));
    for a in &doc.activity {
        let number = a.origin.strip_prefix("entry ").and_then(|r| r.split_once(' ')).and_then(|(n, _)| n.parse().ok());
        if let (Some(n), Some(m)) = (number, month_code(&a.month)) {
            keys.push(StateKey::CarbonEntry(org.clone(), m, n));
        }
    }
    keys.dedup();
    keys
}
