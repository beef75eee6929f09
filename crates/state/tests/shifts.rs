//! Shift calendars (排班表) and production output per shift (班次产量) in consensus state: versions
//! that never rewrite a day with output, teams from the rotation, corrections by revision, and
//! every refusal with its code.

use crate::common::*;
use trustmeter_types::shifts::{ShiftCalendar, ShiftDef, ShiftOutput, ShiftRotation};
use trustmeter_types::tx::ProductOutput;
use trustmeter_types::{Quantity, RejectCode, TxPayload};

/// The fixture's genesis, T0, is 2026-01-01 08:00 in Asia/Shanghai.
const TODAY: u32 = 20_260_101;

fn shift(name: &str, start: u16, end: u16) -> ShiftDef {
    ShiftDef { name: name.into(), start_minute: start, end_minute: end }
}

/// 早班 06:00–14:00, 中班 14:00–22:00, 夜班 22:00–06:00; teams 甲乙丙丁 on a two-day cycle from
/// 2025-12-25: day 1 甲/乙/丙, day 2 丁/甲/乙.
fn three_shifts(effective_from: u32) -> ShiftCalendar {
    ShiftCalendar {
        effective_from,
        shifts: vec![shift("早班", 360, 840), shift("中班", 840, 1_320), shift("夜班", 1_320, 360)],
        teams: vec!["甲".into(), "乙".into(), "丙".into(), "丁".into()],
        rotation: Some(ShiftRotation {
            start: 20_251_225,
            days: vec![vec![Some(0), Some(1), Some(2)], vec![Some(3), Some(0), Some(1)]],
        }),
    }
}

fn product(name: &str, unit: &str, micros: i64) -> ProductOutput {
    ProductOutput { product: name.into(), unit: unit.into(), quantity: Quantity::from_micros(micros) }
}

fn output(day: u32, shift: &str, team: Option<&str>, products: Vec<ProductOutput>) -> TxPayload {
    TxPayload::RecordShiftOutput {
        output: ShiftOutput { day, shift: shift.into(), team: team.map(str::to_string), products, note: String::new() },
    }
}

/// `bad` fails the transaction's own checks: a proposer leaves it out (`malformed`, with
/// `reason`) and a block carrying it is refused.
fn never_valid(fx: &Fx, bad: &trustmeter_types::Transaction, reason: &str) {
    use trustmeter_state::exec::{BlockContext, check_includable};
    use trustmeter_state::{SignatureVerdicts, build_block, execute_block};
    let rej = check_includable(&fx.state, bad, &SignatureVerdicts::none()).expect_err("not includable");
    assert_eq!(rej.code, RejectCode::Malformed);
    assert!(rej.message.contains(reason), "{}", rej.message);
    let ctx = BlockContext { epoch: 1, view: fx.state.height + 1, timestamp_ms: fx.next_ts() };
    let (mut block, _) = build_block(&fx.state, &ctx, vec![bad.clone()], &SignatureVerdicts::none());
    assert!(block.txs.is_empty(), "build_block leaves it out");
    block.txs.push(bad.clone());
    block.header.tx_count += 1;
    let e = execute_block(&fx.state, &block, &SignatureVerdicts::none()).expect_err("a block carrying it is refused");
    assert!(e.to_string().contains(reason), "{e}");
}

fn calendar_tx(fx: &mut Fx, cal: ShiftCalendar) -> trustmeter_types::Transaction {
    fx.tx(&ent_a(), TxPayload::SetShiftCalendar { calendar: cal })
}

#[test]
fn output_is_recorded_per_shift_with_the_rotations_team_and_corrected_by_revision() {
    let mut fx = Fx::ready();
    let set = calendar_tx(&mut fx, three_shifts(20_251_225));
    assert_tx_accepted(fx.exec(vec![set]).receipt(0));
    let cal = fx.state.shift_calendar_on(&org_a(), TODAY).expect("in force");
    assert_eq!(cal.calendar, three_shifts(20_251_225));
    assert_eq!((cal.height, cal.recorded_by.clone()), (fx.state.height, ent_a().public_key()));
    assert!(fx.state.shift_calendar_on(&org_a(), 20_251_224).is_none(), "not before its first day");
    assert!(fx.state.shift_calendar_on(&org_b(), TODAY).is_none(), "enterprise B has none");

    // 2025-12-31 is day 7 of the cycle from 2025-12-25 (offset 6, even): 夜班 is 丙's.
    let txs = vec![
        fx.tx(
            &ent_a(),
            output(
                20_251_231,
                "夜班",
                None,
                vec![product("整车", "辆", 50_000_000), product("白车身", "台", 51_000_000)],
            ),
        ),
        fx.tx(&ent_a(), output(TODAY, "早班", Some("乙"), vec![product("整车", "辆", 40_000_000)])),
    ];
    let e = fx.exec(txs);
    assert_tx_accepted(e.receipt(0));
    assert_tx_accepted(e.receipt(1));
    let night = fx.state.shift_output(&org_a(), 20_251_231, "夜班").expect("recorded");
    assert_eq!((night.team.as_deref(), night.team_from_rotation), (Some("丙"), true));
    let revisions: Vec<(&str, i64, u32)> =
        night.products.iter().map(|p| (p.product.as_str(), p.quantity.micros(), p.revision)).collect();
    assert_eq!(revisions, [("整车", 50_000_000, 1), ("白车身", 51_000_000, 1)]);
    let morning = fx.state.shift_output(&org_a(), TODAY, "早班").expect("recorded");
    assert_eq!((morning.team.as_deref(), morning.team_from_rotation), (Some("乙"), false), "the team stated");

    // A correction of one product: its revision goes up, the other product and the team stay.
    let fix = fx.tx(&ent_a(), output(20_251_231, "夜班", None, vec![product("整车", "辆", 49_000_000)]));
    let height = fx.state.height + 1;
    assert_tx_accepted(fx.exec(vec![fix]).receipt(0));
    let night = fx.state.shift_output(&org_a(), 20_251_231, "夜班").expect("recorded");
    let revisions: Vec<(&str, i64, u32, u64)> =
        night.products.iter().map(|p| (p.product.as_str(), p.quantity.micros(), p.revision, p.height)).collect();
    assert_eq!(revisions, [("整车", 49_000_000, 2, height), ("白车身", 51_000_000, 1, height - 1)]);
    assert_eq!(night.team.as_deref(), Some("丙"));
    // A correction naming no team keeps the team stated before.
    let fix = fx.tx(&ent_a(), output(TODAY, "早班", None, vec![product("整车", "辆", 41_000_000)]));
    assert_tx_accepted(fx.exec(vec![fix]).receipt(0));
    let morning = fx.state.shift_output(&org_a(), TODAY, "早班").expect("recorded");
    assert_eq!((morning.team.as_deref(), morning.team_from_rotation), (Some("乙"), false));

    let listed: Vec<(u32, String)> =
        fx.state.shift_outputs(&org_a(), 20_251_201, TODAY, 100).into_iter().map(|(d, s, _)| (d, s)).collect();
    assert_eq!(listed, [(20_251_231, "夜班".to_string()), (TODAY, "早班".to_string())]);
    assert_eq!(fx.state.last_shift_output_day(&org_a()), Some(TODAY));
}

#[test]
fn outputs_outside_the_calendar_or_by_others_are_refused() {
    let mut fx = Fx::ready();
    let set = calendar_tx(&mut fx, three_shifts(20_251_225));
    assert_tx_accepted(fx.exec(vec![set]).receipt(0));
    let one = || vec![product("整车", "辆", 1_000_000)];
    let txs = vec![
        // 中班 of today starts at 14:00; the block is at 08:00.
        fx.tx(&ent_a(), output(TODAY, "中班", None, one())),
        fx.tx(&ent_a(), output(TODAY, "午班", None, one())),
        fx.tx(&ent_a(), output(TODAY, "早班", Some("戊"), one())),
        fx.tx(&ent_a(), output(20_251_224, "早班", None, one())),
        fx.tx(&ent_a(), output(20_251_030, "早班", None, one())),
        fx.tx(&regulator(), output(TODAY, "早班", None, one())),
        fx.tx(&ent_b(), output(TODAY, "早班", None, one())),
    ];
    let e = fx.exec(txs);
    let msg = assert_tx_rejected(e.receipt(0), RejectCode::InvalidShiftData);
    assert!(msg.contains("starts at 14:00"), "{msg}");
    let msg = assert_tx_rejected(e.receipt(1), RejectCode::InvalidShiftData);
    assert!(msg.contains("no shift 午班") && msg.contains("早班, 中班, 夜班"), "{msg}");
    let msg = assert_tx_rejected(e.receipt(2), RejectCode::InvalidShiftData);
    assert!(msg.contains("team 戊") && msg.contains("甲, 乙, 丙, 丁"), "{msg}");
    let msg = assert_tx_rejected(e.receipt(3), RejectCode::InvalidShiftData);
    assert!(msg.contains("no shift calendar in force on 2025-12-24"), "{msg}");
    let msg = assert_tx_rejected(e.receipt(4), RejectCode::InvalidShiftData);
    assert!(msg.contains("62 back") && msg.contains("2025-10-31"), "{msg}");
    let msg = assert_tx_rejected(e.receipt(5), RejectCode::NotAuthorised);
    assert!(msg.contains("only an enterprise"), "{msg}");
    let msg = assert_tx_rejected(e.receipt(6), RejectCode::InvalidShiftData);
    assert!(msg.contains("has no shift calendar"), "B has no calendar: {msg}");
    assert_eq!(fx.state.last_shift_output_day(&org_a()), None, "nothing recorded");

    // At most 16 products per shift instance, counting those recorded before.
    let first: Vec<ProductOutput> = (0..12).map(|i| product(&format!("p{i}"), "件", 1_000_000)).collect();
    let more: Vec<ProductOutput> = (10..17).map(|i| product(&format!("p{i}"), "件", 2_000_000)).collect();
    let txs =
        vec![fx.tx(&ent_a(), output(TODAY, "早班", None, first)), fx.tx(&ent_a(), output(TODAY, "早班", None, more))];
    let e = fx.exec(txs);
    assert_tx_accepted(e.receipt(0));
    let msg = assert_tx_rejected(e.receipt(1), RejectCode::LimitReached);
    assert!(msg.contains("17 products"), "{msg}");
    assert_eq!(fx.state.shift_output(&org_a(), TODAY, "早班").unwrap().products.len(), 12);

    // A shift whose output names 17 products, or one twice, never enters a block.
    let bad =
        fx.tx(&ent_a(), output(TODAY, "早班", None, (0..17).map(|i| product(&format!("q{i}"), "件", 1)).collect()));
    never_valid(&fx, &bad, "1 to 16 products");
}

#[test]
fn calendar_versions_never_rewrite_a_day_with_output() {
    let mut fx = Fx::ready();
    let set = calendar_tx(&mut fx, three_shifts(20_251_225));
    assert_tx_accepted(fx.exec(vec![set]).receipt(0));
    let rec = fx.tx(&ent_a(), output(TODAY, "早班", None, vec![product("整车", "辆", 40_000_000)]));
    assert_tx_accepted(fx.exec(vec![rec]).receipt(0));

    let two = |from: u32, first_start: u16| ShiftCalendar {
        effective_from: from,
        shifts: vec![shift("白班", first_start, 1_080), shift("夜班", 1_080, first_start)],
        teams: vec!["甲".into(), "乙".into()],
        rotation: None,
    };
    let txs = vec![
        // Today has output under the calendar in force: a version from today would rewrite it.
        calendar_tx(&mut fx, two(TODAY, 360)),
        // The previous calendar's 夜班 of 2026-01-01 runs until 06:00 on the 2nd.
        calendar_tx(&mut fx, two(20_260_102, 300)),
        // More than 62 days back, or more than 366 ahead.
        calendar_tx(&mut fx, two(20_251_001, 360)),
        calendar_tx(&mut fx, two(20_270_201, 360)),
        fx.tx(&regulator(), TxPayload::SetShiftCalendar { calendar: two(20_260_102, 360) }),
        // 白班 06:00–18:00, 夜班 18:00–06:00 from the 2nd: accepted.
        calendar_tx(&mut fx, two(20_260_102, 360)),
    ];
    let e = fx.exec(txs);
    let msg = assert_tx_rejected(e.receipt(0), RejectCode::InvalidShiftData);
    assert!(msg.contains("2026-01-01 already has shift output") && msg.contains("from 2026-01-02 on"), "{msg}");
    let msg = assert_tx_rejected(e.receipt(1), RejectCode::InvalidShiftData);
    assert!(msg.contains("starts at 05:00") && msg.contains("夜班") && msg.contains("runs until 06:00"), "{msg}");
    for i in [2, 3] {
        let msg = assert_tx_rejected(e.receipt(i), RejectCode::InvalidShiftData);
        assert!(msg.contains("2025-10-31 to 2027-01-02"), "{msg}");
    }
    assert_tx_rejected(e.receipt(4), RejectCode::NotAuthorised);
    assert_tx_accepted(e.receipt(5));
    let versions: Vec<u32> = fx.state.shift_calendars(&org_a()).iter().map(|v| v.calendar.effective_from).collect();
    assert_eq!(versions, [20_251_225, 20_260_102], "every version kept");
    assert_eq!(fx.state.shift_calendar_on(&org_a(), TODAY).unwrap().calendar.shifts.len(), 3, "history kept");
    assert_eq!(fx.state.shift_calendar_on(&org_a(), 20_260_102).unwrap().calendar.shifts.len(), 2);

    // Versions follow one another: one from the same day replaces the latest, an earlier one is
    // refused.
    let mut again = two(20_260_102, 360);
    again.teams.push("丙".into());
    let txs = vec![calendar_tx(&mut fx, three_shifts(20_251_230)), calendar_tx(&mut fx, again.clone())];
    let e = fx.exec(txs);
    let msg = assert_tx_rejected(e.receipt(0), RejectCode::InvalidShiftData);
    assert!(msg.contains("the latest calendar takes effect 2026-01-02"), "{msg}");
    assert_tx_accepted(e.receipt(1));
    assert_eq!(fx.state.shift_calendars(&org_a()).len(), 2);
    assert_eq!(fx.state.shift_calendar_on(&org_a(), 20_260_102).unwrap().calendar, again);

    // The new version's shifts are recorded on its days (once they have started).
    let second_day_0800 = T0 + DAY;
    let rec = fx.tx(&ent_a(), output(20_260_102, "白班", Some("丙"), vec![product("整车", "辆", 45_000_000)]));
    let old_name = fx.tx(&ent_a(), output(20_260_102, "早班", None, vec![product("整车", "辆", 1)]));
    let e = fx.exec_at(second_day_0800, vec![rec, old_name]);
    assert_tx_accepted(e.receipt(0));
    assert_tx_rejected(e.receipt(1), RejectCode::InvalidShiftData);

    // A calendar whose shifts overlap never enters a block.
    let mut overlapping = three_shifts(20_260_110);
    overlapping.shifts[0].end_minute = 900;
    let bad = calendar_tx(&mut fx, overlapping);
    never_valid(&fx, &bad, "早班 06:00–15:00 and 中班 14:00–22:00 overlap");
}

#[test]
fn an_enterprise_keeps_at_most_120_calendar_versions() {
    let mut fx = Fx::ready();
    let txs: Vec<_> = (0..120)
        .map(|i| {
            let day = trustmeter_types::shifts::date_of_day(trustmeter_types::shifts::day_number(TODAY).unwrap() + i);
            calendar_tx(&mut fx, three_shifts(day.unwrap()))
        })
        .collect();
    for r in &fx.exec(txs).output.receipts {
        assert_tx_accepted(r);
    }
    let last = fx.state.shift_calendars(&org_a()).last().unwrap().calendar.effective_from;
    let next = trustmeter_types::shifts::date_of_day(trustmeter_types::shifts::day_number(last).unwrap() + 1).unwrap();
    let txs = vec![calendar_tx(&mut fx, three_shifts(next)), calendar_tx(&mut fx, three_shifts(last))];
    let e = fx.exec(txs);
    let msg = assert_tx_rejected(e.receipt(0), RejectCode::LimitReached);
    assert!(msg.contains("120 shift calendar versions"), "{msg}");
    assert_tx_accepted(e.receipt(1));
}
