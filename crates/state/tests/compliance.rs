//! The compliance cycle in consensus: reports regenerated and hash-checked by every validator,
//! verification from assignment to a final figure (objection, regulator's decision, the window
//! closing by itself), and quota accounts (allocation, reference, surrender with the offset cap,
//! banking).
//!
//! Hand values: diesel 43.33 GJ/t × 0.0202 tC/GJ × 0.98 × 44/12 = 3.14512249333… t CO2 per t
//! (GB/T 32150-2015 defaults, as in `carbon.rs`), so 3 t → 9.435367 t and 2 t → 6.290245 t.

use crate::common::*;
use trustmeter_energy::calendar::{day_label, day_number, parse_day};
use trustmeter_schema::{FinalBy, VerificationStatus};
use trustmeter_state::compliance::{MAX_REPORTS_PER_BLOCK, build_report, objection_deadline_ms};
use trustmeter_types::carbon::{CarbonEntry, CarbonEntryData, Evidence, EvidenceKind};
use trustmeter_types::compliance::{
    AllocationKind, Finding, FindingSeverity, Opinion, QuotaOp, ReportPeriod, VerificationStatement, VerificationStep,
};
use trustmeter_types::{Hash32, Quantity, RejectCode, TxPayload};

const DIESEL_3T_UT: i64 = 9_435_367;
const DIESEL_2T_UT: i64 = 6_290_245;

fn t(micro_tonnes: i64) -> Quantity {
    Quantity::from_micros(micro_tonnes)
}

fn diesel(month: u32, number: u32, tonnes: i64) -> TxPayload {
    TxPayload::RecordCarbonEntry {
        entry: CarbonEntry {
            month,
            number,
            data: Some(CarbonEntryData::Fuel { fuel: "diesel".into(), amount: t(tonnes * 1_000_000) }),
            evidence: vec![Evidence {
                hash: Hash32([number as u8; 32]),
                bytes: 2_048,
                kind: EvidenceKind::Invoice,
                name: format!("diesel-{month}-{number}.pdf"),
            }],
            note: "forklifts".into(),
        },
    }
}

fn ts_of(day: &str) -> i64 {
    trustmeter_energy::calendar::day_start_ms(parse_day(day).unwrap()) + 10 * 3_600_000
}

fn file(period: ReportPeriod, hash: Hash32) -> TxPayload {
    TxPayload::SubmitCarbonReport { period, hash }
}

#[test]
fn a_report_is_filed_only_as_the_document_the_chain_gives() {
    let mut fx = Fx::ready();
    let a = org_a();
    let t1 = fx.tx(&ent_a(), diesel(202_601, 1, 3));
    assert_tx_accepted(fx.exec(vec![t1]).receipt(0));
    let jan = ReportPeriod::Month(202_601);
    // January has not ended: it can be generated (month to date), not filed.
    let draft = build_report(&fx.state, &a, jan).unwrap();
    let early = fx.tx(&ent_a(), file(jan, draft.hash));
    let msg = assert_tx_rejected(fx.exec(vec![early]).receipt(0), RejectCode::InvalidTransition);
    assert!(msg.contains("2026-01 has not ended"), "{msg}");

    // In February the deposit is filed: the document holds the entry, its evidence and totals.
    fx.exec_at(ts_of("2026-02-03"), vec![]);
    let built = build_report(&fx.state, &a, jan).unwrap();
    assert_eq!(built.bytes, build_report(&fx.state, &a, jan).unwrap().bytes, "deterministic");
    let doc = trustmeter_carbon::report::ReportDocument::from_bytes(&built.bytes).expect("canonical");
    assert_eq!((doc.kind.as_str(), doc.period.as_str()), ("monthly_deposit", "2026-01"));
    assert_eq!(doc.totals.standard, "9.435367");
    assert_eq!(doc.totals.scope1, "9.435367");
    assert_eq!(doc.entity.id, a.to_string());
    assert_eq!(doc.boundary.gateways.len(), 2, "A's two gateways, not B's");
    let line = doc.activity.iter().find(|l| l.origin == "entry 1 rev 1").expect("the entry");
    assert_eq!(
        (line.what.as_str(), line.amount.as_str(), line.detail.as_str()),
        ("fuel diesel", "3.000000", "forklifts")
    );
    assert_eq!(line.evidence[0].hash, Hash32([1; 32]).to_hex());
    assert!(doc.factors.iter().any(|f| f.name == "fuel diesel ncv" && f.value == "43.33"), "{:?}", doc.factors);
    assert_eq!(doc.months[0].result_height, fx.state.carbon_result(&a, 202_601).map(|r| r.height));

    let txs = vec![
        fx.tx(&ent_a(), file(jan, Hash32([7; 32]))),
        fx.tx(&regulator(), file(jan, built.hash)),
        fx.tx(&ent_a(), file(jan, built.hash)),
    ];
    let e = fx.exec(txs);
    let msg = assert_tx_rejected(e.receipt(0), RejectCode::ReportMismatch);
    assert!(msg.contains(&built.hash.to_string()) && msg.contains("generate it again"), "{msg}");
    assert_tx_rejected(e.receipt(1), RejectCode::NotAuthorised);
    assert_tx_accepted(e.receipt(2));
    let rec = fx.state.carbon_report(&a, jan).unwrap();
    assert_eq!((rec.revision, rec.on_time, rec.standard_ut, rec.hash), (1, true, DIESEL_3T_UT, built.hash));
    assert_eq!(rec.signed_by, ent_a().public_key());

    // A correction after filing: the old document no longer matches; the new one is revision 2.
    let fix = fx.tx(&ent_a(), diesel(202_601, 2, 2));
    let stale = fx.tx(&ent_a(), file(jan, built.hash));
    let e = fx.exec(vec![fix, stale]);
    assert_tx_accepted(e.receipt(0));
    assert_tx_rejected(e.receipt(1), RejectCode::ReportMismatch);
    let again = build_report(&fx.state, &a, jan).unwrap();
    assert_eq!(again.totals_ut[0], DIESEL_3T_UT + DIESEL_2T_UT);
    // Filed late (after 40 days from the end of January: 12 March is day 40).
    let late = fx.tx(&ent_a(), file(jan, again.hash));
    assert_tx_accepted(fx.exec_at(ts_of("2026-03-13"), vec![late]).receipt(0));
    let rec = fx.state.carbon_report(&a, jan).unwrap();
    assert_eq!((rec.revision, rec.on_time), (2, false));
    assert_eq!(fx.state.carbon_reports_of_year(&a, 2026).len(), 1);
}

#[test]
fn a_block_holds_a_bounded_number_of_report_filings() {
    let mut fx = Fx::ready();
    let a = org_a();
    // Filings of 2025's months (all ended): each one a report the validators regenerate.
    let txs: Vec<_> = (1..=(MAX_REPORTS_PER_BLOCK as u32 + 1))
        .map(|m| {
            let p = ReportPeriod::Month(202_500 + m);
            let h = build_report(&fx.state, &a, p).unwrap().hash;
            fx.tx(&ent_a(), file(p, h))
        })
        .collect();
    let ctx = trustmeter_state::exec::BlockContext { epoch: 1, view: 99, timestamp_ms: fx.next_ts() };
    let none = trustmeter_state::SignatureVerdicts::none();
    let (block, out) = trustmeter_state::build_block(&fx.state, &ctx, txs.clone(), &none);
    assert_eq!(block.txs.len(), MAX_REPORTS_PER_BLOCK, "the fifth waits for the next block");
    assert!(out.receipts.iter().all(|r| matches!(r.outcome, trustmeter_types::TxOutcome::Accepted)));
    let mut crowded = block.clone();
    crowded.header.tx_count = txs.len() as u32;
    crowded.txs = txs;
    let err = trustmeter_state::execute_block(&fx.state, &crowded, &none).unwrap_err();
    assert!(err.to_string().contains("carbon report filings"), "{err}");
}

/// A chain with a verifier, enterprise A's 2025 annual report filed (3 t of diesel in December).
fn filed_2025() -> (Fx, Hash32) {
    let mut fx = Fx::ready_from(genesis_with_verifier(CHAIN));
    let t1 = fx.tx(&ent_a(), diesel(202_512, 1, 3));
    assert_tx_accepted(fx.exec(vec![t1]).receipt(0));
    let built = build_report(&fx.state, &org_a(), ReportPeriod::Year(2025)).unwrap();
    assert_eq!(built.totals_ut[0], DIESEL_3T_UT);
    let f = fx.tx(&ent_a(), file(ReportPeriod::Year(2025), built.hash));
    assert_tx_accepted(fx.exec(vec![f]).receipt(0));
    (fx, built.hash)
}

fn verify(step: VerificationStep) -> TxPayload {
    TxPayload::Verification { org: org_a(), year: 2025, step }
}

fn statement(report: Hash32, adjustment_ut: i64, verified_ut: i64) -> VerificationStep {
    VerificationStep::Statement {
        statement: VerificationStatement {
            report,
            opinion: Opinion::Qualified,
            findings: vec![Finding {
                number: 1,
                severity: FindingSeverity::Misstatement,
                subject: "fuel_combustion/diesel".into(),
                text: "the December invoice for 0.5 t of diesel was left out of the ledger".into(),
                adjustment: t(adjustment_ut),
            }],
            verified: t(verified_ut),
            document: None,
        },
    }
}

#[test]
fn verification_with_an_objection_ends_in_the_regulators_figure() {
    let (mut fx, report) = filed_2025();
    let a = org_a();
    // 0.5 t of diesel = 1.572561246… t → 1.572561 t.
    let adj = 1_572_561;
    let txs = vec![
        fx.tx(&ent_a(), verify(VerificationStep::Assign { verifier: org_verifier() })),
        fx.tx(&regulator(), verify(VerificationStep::Assign { verifier: org_b() })),
        fx.tx(&verifier(), verify(statement(report, adj, DIESEL_3T_UT + adj))),
        fx.tx(&regulator(), verify(VerificationStep::Assign { verifier: org_verifier() })),
    ];
    let e = fx.exec(txs);
    assert_tx_rejected(e.receipt(0), RejectCode::NotAuthorised);
    assert!(assert_tx_rejected(e.receipt(1), RejectCode::NotAuthorised).contains("not a verifier"));
    assert!(assert_tx_rejected(e.receipt(2), RejectCode::InvalidTransition).contains("not assigned"));
    assert_tx_accepted(e.receipt(3));
    assert_eq!(fx.state.verification(&a, 2025).unwrap().status, VerificationStatus::Assigned);

    let txs = vec![
        fx.tx(&ent_b(), verify(statement(report, adj, DIESEL_3T_UT + adj))),
        fx.tx(&verifier(), verify(statement(Hash32([9; 32]), adj, DIESEL_3T_UT + adj))),
        fx.tx(&verifier(), verify(statement(report, adj, DIESEL_3T_UT))),
        fx.tx(&verifier(), verify(statement(report, adj, DIESEL_3T_UT + adj))),
    ];
    let e = fx.exec(txs);
    assert_tx_rejected(e.receipt(0), RejectCode::NotAuthorised);
    assert!(assert_tx_rejected(e.receipt(1), RejectCode::InvalidTransition).contains("statement is on report"));
    let msg = assert_tx_rejected(e.receipt(2), RejectCode::InvalidTransition);
    assert!(msg.contains("9.435367 t plus the findings' adjustments 1.572561 t = 11.007928 t"), "{msg}");
    assert_tx_accepted(e.receipt(3));
    let v = fx.state.verification(&a, 2025).unwrap();
    assert_eq!(v.status, VerificationStatus::Stated);
    let s = v.statement.unwrap();
    assert_eq!(s.reported_ut, DIESEL_3T_UT);
    // Stated on Thursday 2026-01-01 (the fixture's day): seven working days end Monday 12 January.
    assert_eq!(day_label(day_number(s.objection_deadline_ms)), "2026-01-12");
    assert_eq!(s.objection_deadline_ms, objection_deadline_ms(fx.state.timestamp_ms));
    assert_eq!(
        s.objection_deadline_ms + 1,
        trustmeter_energy::calendar::day_start_ms(parse_day("2026-01-13").unwrap())
    );

    // The report is frozen now; the enterprise objects; a regulator decides.
    let built = build_report(&fx.state, &a, ReportPeriod::Year(2025)).unwrap();
    let txs = vec![
        fx.tx(&ent_a(), file(ReportPeriod::Year(2025), built.hash)),
        fx.tx(&regulator(), verify(VerificationStep::Decide { verified: t(1), reason: "early".into() })),
        fx.tx(&ent_a(), verify(VerificationStep::Object { reason: "the invoice is for January 2026".into() })),
        fx.tx(&ent_a(), verify(VerificationStep::Accept)),
    ];
    let e = fx.exec(txs);
    assert!(assert_tx_rejected(e.receipt(0), RejectCode::InvalidTransition).contains("through the verification"));
    assert!(assert_tx_rejected(e.receipt(1), RejectCode::InvalidTransition).contains("is stated"));
    assert_tx_accepted(e.receipt(2));
    assert!(assert_tx_rejected(e.receipt(3), RejectCode::InvalidTransition).contains("is objected"));
    let decide = fx.tx(
        &regulator(),
        verify(VerificationStep::Decide { verified: t(DIESEL_3T_UT), reason: "invoice dated 2026-01-04".into() }),
    );
    assert_tx_accepted(fx.exec(vec![decide]).receipt(0));
    let v = fx.state.verification(&a, 2025).unwrap();
    assert_eq!(
        (v.status, v.final_ut, v.finalised.map(|f| f.0)),
        (VerificationStatus::Final, Some(DIESEL_3T_UT), Some(FinalBy::Decided))
    );
    assert_eq!(v.decision.unwrap().0.by, org_regulator());
    assert_eq!(v.objection.unwrap().reason, "the invoice is for January 2026");
}

#[test]
fn a_statement_nobody_objects_to_becomes_final_when_its_window_closes() {
    let (mut fx, report) = filed_2025();
    let a = org_a();
    let assign = fx.tx(&regulator(), verify(VerificationStep::Assign { verifier: org_verifier() }));
    let state_it = fx.tx(&verifier(), verify(statement(report, 0, DIESEL_3T_UT)));
    // A misstatement of 0 is allowed (findings record what was checked); verified = reported.
    let e = fx.exec(vec![assign, state_it]);
    assert_tx_accepted(e.receipt(1));
    let deadline = fx.state.verification(&a, 2025).unwrap().statement.unwrap().objection_deadline_ms;
    // At the deadline's last millisecond the window is still open: nothing changes.
    fx.exec_at(deadline, vec![]);
    assert_eq!(fx.state.verification(&a, 2025).unwrap().status, VerificationStatus::Stated);
    // The first block after it closes the window.
    let late = fx.tx(&ent_a(), verify(VerificationStep::Object { reason: "too late".into() }));
    let e = fx.exec_at(deadline + 1, vec![late]);
    assert!(assert_tx_rejected(e.receipt(0), RejectCode::InvalidTransition).contains("window closed on 2026-01-12"));
    let v = fx.state.verification(&a, 2025).unwrap();
    assert_eq!(
        (v.status, v.final_ut, v.finalised.map(|f| f.0)),
        (VerificationStatus::Final, Some(DIESEL_3T_UT), Some(FinalBy::WindowClosed))
    );
    assert!(
        fx.state.scan(&trustmeter_schema::KeyRange::verifications_due(i64::MAX), false, 10).is_empty(),
        "index emptied"
    );
}

#[test]
fn quotas_are_allocated_surrendered_with_capped_offsets_and_banked() {
    let (mut fx, report) = filed_2025();
    let a = org_a();
    let quota = |op| TxPayload::Quota { org: org_a(), year: 2025, op };
    // Before any allocation the enterprise's own reference is the quota; surrender must wait.
    let txs = vec![
        fx.tx(&ent_a(), quota(QuotaOp::Reference { amount: t(12_000_000), basis: "budget".into() })),
        fx.tx(&ent_a(), quota(QuotaOp::Surrender { allowances: t(1_000_000), offsets: t(0) })),
        fx.tx(&ent_a(), quota(QuotaOp::Allocate { kind: AllocationKind::Final, amount: t(1), basis: "self".into() })),
    ];
    let e = fx.exec(txs);
    assert_tx_accepted(e.receipt(0));
    assert!(assert_tx_rejected(e.receipt(1), RejectCode::QuotaRefused).contains("not verified and final"));
    assert_tx_rejected(e.receipt(2), RejectCode::NotAuthorised);
    assert_eq!(fx.state.quota(&a, 2025).quota_ut(), Some((12_000_000, true)));

    // Pre-allocation 70 % of 10 t, then the final allocation 9 t, then −0.5 t: 8.5 t, superseding
    // the reference.
    let txs = vec![
        fx.tx(
            &regulator(),
            quota(QuotaOp::Allocate { kind: AllocationKind::Pre, amount: t(7_000_000), basis: "70 % × 10 t".into() }),
        ),
        fx.tx(
            &regulator(),
            quota(QuotaOp::Allocate {
                kind: AllocationKind::Final,
                amount: t(9_000_000),
                basis: "0.9 t/unit × 10".into(),
            }),
        ),
        fx.tx(
            &regulator(),
            quota(QuotaOp::Allocate {
                kind: AllocationKind::Adjustment,
                amount: t(-500_000),
                basis: "closure of line 2".into(),
            }),
        ),
    ];
    for r in &fx.exec(txs).output.receipts {
        assert_tx_accepted(r);
    }
    let q = fx.state.quota(&a, 2025);
    assert_eq!(
        (q.allocated_ut(), q.quota_ut(), q.available_ut()),
        (Some(8_500_000), Some((8_500_000, false)), 8_500_000)
    );

    // Verified 9.435367 t becomes final (accepted).
    let txs = vec![
        fx.tx(&regulator(), verify(VerificationStep::Assign { verifier: org_verifier() })),
        fx.tx(&verifier(), verify(statement(report, 0, DIESEL_3T_UT))),
        fx.tx(&ent_a(), verify(VerificationStep::Accept)),
    ];
    for r in &fx.exec(txs).output.receipts {
        assert_tx_accepted(r);
    }
    // Offsets: 5 % of 9.435367 t = 0.47176835 t; 0.471769 t is over the cap.
    let txs = vec![
        fx.tx(&ent_a(), quota(QuotaOp::Surrender { allowances: t(0), offsets: t(471_769) })),
        fx.tx(&ent_a(), quota(QuotaOp::Surrender { allowances: t(8_500_001), offsets: t(0) })),
        fx.tx(&ent_a(), quota(QuotaOp::Bank { amount: t(1) })),
        fx.tx(&ent_a(), quota(QuotaOp::Surrender { allowances: t(8_500_000), offsets: t(471_768) })),
    ];
    let e = fx.exec(txs);
    assert!(assert_tx_rejected(e.receipt(0), RejectCode::QuotaRefused).contains("more than 5 %"));
    assert!(assert_tx_rejected(e.receipt(1), RejectCode::QuotaRefused).contains("8.500000 t available"));
    assert!(assert_tx_rejected(e.receipt(2), RejectCode::QuotaRefused).contains("before banking"));
    assert_tx_accepted(e.receipt(3));
    // 9.435367 − 8.5 − 0.471768 = 0.463599 t still owed: more allowances than held are refused,
    // then a 2026 allocation cannot pay a 2025 obligation; the obligation stays open.
    let q = fx.state.quota(&a, 2025);
    assert_eq!((q.surrendered_ut, q.offsets_ut, q.available_ut()), (8_500_000, 471_768, 0));
    let more = fx.tx(&ent_a(), quota(QuotaOp::Surrender { allowances: t(463_599), offsets: t(0) }));
    assert_tx_rejected(fx.exec(vec![more]).receipt(0), RejectCode::QuotaRefused);
    // A top-up adjustment of 1 t: surrender what is owed, bank the rest into 2026.
    let txs = vec![
        fx.tx(
            &regulator(),
            quota(QuotaOp::Allocate {
                kind: AllocationKind::Adjustment,
                amount: t(1_000_000),
                basis: "new line".into(),
            }),
        ),
        fx.tx(&ent_a(), quota(QuotaOp::Surrender { allowances: t(463_600), offsets: t(0) })),
        fx.tx(&ent_a(), quota(QuotaOp::Surrender { allowances: t(463_599), offsets: t(0) })),
        fx.tx(&ent_a(), quota(QuotaOp::Bank { amount: t(536_402) })),
        fx.tx(&ent_a(), quota(QuotaOp::Bank { amount: t(536_401) })),
    ];
    let e = fx.exec(txs);
    assert_tx_accepted(e.receipt(0));
    assert!(assert_tx_rejected(e.receipt(1), RejectCode::QuotaRefused).contains("remaining obligation, 0.463599 t"));
    assert_tx_accepted(e.receipt(2));
    assert!(assert_tx_rejected(e.receipt(3), RejectCode::QuotaRefused).contains("0.536401 t left"));
    assert_tx_accepted(e.receipt(4));
    assert_eq!(fx.state.quota(&a, 2025).available_ut(), 0);
    assert_eq!(fx.state.quota(&a, 2026).banked_in_ut, 536_401);
    // A negative adjustment below what was surrendered and banked is refused.
    let cut = fx.tx(
        &regulator(),
        quota(QuotaOp::Allocate { kind: AllocationKind::Adjustment, amount: t(-1), basis: "x".into() }),
    );
    assert_tx_rejected(fx.exec(vec![cut]).receipt(0), RejectCode::QuotaRefused);
}

#[test]
fn the_year_record_is_the_sum_of_its_months_and_follows_every_change() {
    let (mut fx, _) = filed_2025();
    let a = org_a();
    let y = fx.state.carbon_year(&a, 2025).expect("written with December's results");
    assert_eq!((y.standard_ut, y.scope1_ut, y.months, y.failed), (DIESEL_3T_UT, DIESEL_3T_UT, 1 << 11, 0));
    assert_eq!(y.methodologies, vec![("GB/T 32150-2015".to_string(), 1)]);
    // November gets 2 t: the year is 9.435367 + 6.290245 t, two months.
    let t1 = fx.tx(&ent_a(), diesel(202_511, 1, 2));
    assert_tx_accepted(fx.exec(vec![t1]).receipt(0));
    let y = fx.state.carbon_year(&a, 2025).unwrap();
    assert_eq!(
        (y.standard_ut, y.months, y.height),
        (DIESEL_3T_UT + DIESEL_2T_UT, (1 << 10) | (1 << 11), fx.state.height)
    );
    // Withdrawing December's entry leaves November's.
    let withdraw = TxPayload::RecordCarbonEntry {
        entry: CarbonEntry { month: 202_512, number: 1, data: None, evidence: vec![], note: "duplicate".into() },
    };
    let t2 = fx.tx(&ent_a(), withdraw);
    assert_tx_accepted(fx.exec(vec![t2]).receipt(0));
    assert_eq!(fx.state.carbon_year(&a, 2025).unwrap().standard_ut, DIESEL_2T_UT);
    // A year with no results has no record; another enterprise's year is its own.
    assert!(fx.state.carbon_year(&a, 2024).is_none());
    assert!(fx.state.carbon_year(&org_b(), 2025).is_none());
}
