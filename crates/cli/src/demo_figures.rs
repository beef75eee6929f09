//! The demo's live energy figures: what the provincial chain's consensus state says about the
//! simulated enterprise for the current plant day — consumption per energy kind, the Hunan
//! time-of-use split of electricity, standard coal by both electricity methods (当量值 / 等价值),
//! completeness against the 90 % rule, and the late and flagged readings behind them; the
//! carbon month, the quota year, and the latest shifts' unit consumption (班次单耗).

use trustmeter_energy::calendar;
use trustmeter_energy::quality::{self, QualityCounts};
use trustmeter_energy::tou::Tier;
use trustmeter_state::State;
use trustmeter_types::{DeviceStatus, Quantity, UnifiedSocialCreditCode};

/// One line of figures for `org` on the day containing `plant_now_ms`, from a finalized state.
pub fn day_line(state: &State, org: &UnifiedSocialCreditCode, plant_now_ms: i64) -> String {
    let day = calendar::day_number(plant_now_ms);
    let day_start = calendar::day_start_ms(day);
    let mut kinds = vec![];
    let (mut tce_eq, mut tce_ev) = (0i64, 0i64);
    let (mut points, mut late, mut flagged, mut on_time) = (0u64, 0u64, 0u64, 0u64);
    let mut tiers = [0i64; 5];
    for (k, d) in state.daily_range(org, day, day) {
        kinds.push(format!("{} {:.1} {}", k.energy.chinese_name(), d.consumption.as_f64(), k.unit.symbol()));
        tce_eq += d.kgce_equivalent.micros();
        tce_ev += d.kgce_equal_value.micros();
        points += u64::from(d.points);
        late += u64::from(d.late);
        flagged += u64::from(d.flagged);
        on_time += u64::from(d.on_time);
        for (t, q) in tiers.iter_mut().zip(d.tiers) {
            *t += q.micros();
        }
    }
    if kinds.is_empty() {
        return format!("figures {}: no readings yet", calendar::day_label(day));
    }
    let meters: Vec<_> = state.meters().filter(|m| &m.owner == org && m.status == DeviceStatus::Active).collect();
    let interval = state.params.accounting.nominal_interval_ms;
    // Expected so far today: the grid slots up to the plant's current time.
    let expected = quality::expected_points(interval, day_start, plant_now_ms.max(day_start) + 1) * meters.len() as u64;
    let q = quality::index(&QualityCounts {
        expected_points: expected,
        received_points: points,
        on_time_points: on_time,
        meters: meters.len() as u32,
        meters_in_calibration: meters
            .iter()
            .filter(|m| m.calibration.as_ref().is_some_and(|c| c.covers(plant_now_ms)))
            .count() as u32,
        daily_sum: None,
        monthly_report: None,
    });
    let total: i64 = tiers.iter().sum();
    let tou = if total > 0 {
        Tier::ALL
            .iter()
            .zip(tiers)
            .filter(|(_, v)| *v != 0)
            .map(|(t, v)| format!("{} {:.0}%", t.chinese_name(), v as f64 * 100.0 / total as f64))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        "-".into()
    };
    // The plant replays past days faster than real time: its readings reach the chain long after
    // their collection time, so the timeliness index (recorded within the limit) is honestly low.
    let behind_ms = state.timestamp_ms.saturating_sub(plant_now_ms);
    let replay = if behind_ms > state.params.accounting.timeliness_ms {
        format!(
            " (a replay {:.1} days behind the chain's clock: not on time by design)",
            behind_ms as f64 / 86_400_000.0
        )
    } else {
        String::new()
    };
    format!(
        "figures {} (consensus): {} | 分时 {} | {:.3} tce 当量 / {:.3} tce 等价 | completeness {:.1}% ({}) timeliness {:.1}%{} | late {} flagged {}",
        calendar::day_label(day),
        kinds.join(", "),
        tou,
        Quantity::from_micros(tce_eq).as_f64() / 1000.0,
        Quantity::from_micros(tce_ev).as_f64() / 1000.0,
        f64::from(q.completeness_bp) / 100.0,
        if q.completeness_ok { "≥ 90 % ok" } else { "below 90 %" },
        f64::from(q.timeliness_bp) / 100.0,
        replay,
        late,
        flagged,
    )
}

/// The quota position of the enterprise's year: year to date, forecast, quota, surplus.
pub fn quota_line(state: &State, org: &UnifiedSocialCreditCode) -> String {
    let year = trustmeter_state::carbon::month_of(state.timestamp_ms) / 100;
    match trustmeter_analytics::figures::compliance(state, org, year) {
        Ok(v) => {
            let q = &v.quota;
            format!(
                "quota {year}: {} · year to date {} t, forecast {} t ({}) · {} · trustmeter query compliance --org {org} --year {year}",
                match &q.quota_t {
                    Some(t) if q.reference => format!("{t} t (own reference)"),
                    Some(t) => format!("{t} t (allocated)"),
                    None => "none recorded".to_string(),
                },
                q.year_to_date_t,
                q.forecast_t,
                q.forecast_basis,
                match (&q.forecast_surplus_t, q.alarm) {
                    (Some(s), true) => format!("ALARM: forecast over quota by {} t", s.trim_start_matches('-')),
                    (Some(s), false) => format!("forecast surplus {s} t"),
                    (None, _) => "no quota".to_string(),
                }
            )
        }
        Err(e) => format!("quota {year}: {e}"),
    }
}

/// One line of the month's emissions for `org` (the chain's results for the month: the consensus
/// daily figures and the documented entries, with the methodology of its monitoring plan): Scope 1 by source,
/// Scope 2 by location and by market, and the standard's total.
pub fn carbon_line(state: &State, org: &UnifiedSocialCreditCode, plant_now_ms: i64) -> String {
    let (y, m) = calendar::month_of_day(calendar::day_number(plant_now_ms));
    let month = y as u32 * 100 + m;
    match trustmeter_analytics::figures::carbon_month(state, org, month, None) {
        Ok(v) => {
            let sources: Vec<String> = v
                .lines
                .iter()
                .filter(|l| l.scope == 1 && l.co2e_t != "0.000000")
                .map(|l| {
                    if l.item.is_empty() {
                        format!("{} {}", l.source, l.co2e_t)
                    } else {
                        format!("{} {} {}", l.source, l.item, l.co2e_t)
                    }
                })
                .collect();
            let by_source = if sources.is_empty() { String::new() } else { format!(" [{}]", sources.join(", ")) };
            format!(
                "carbon {} ({} v{}, {}, {} entries): Scope 1 {} t{by_source}, Scope 2 {} t by location / {} t by market; GB/T 32150 total {} t CO2e; trustmeter query carbon --org {org} --month {month}",
                v.month,
                v.methodology,
                v.version,
                if v.derived {
                    "derived".to_string()
                } else {
                    format!("consensus at height {}", v.consensus_height.unwrap_or(0))
                },
                v.entries.len(),
                v.scope1_t,
                v.scope2_location_t,
                v.scope2_market_t,
                v.standard_t
            )
        }
        Err(e) => format!("carbon {y:04}-{m:02}: {e}"),
    }
}

/// One line of the latest finished shifts' output and unit consumption (班次、班组单耗) of `org`:
/// the last three shifts with output recorded (ended a reading interval before the plant's
/// clock, so their last readings are in), and the best and worst team over the plant's day and
/// the one before, from `trustmeter_analytics::figures::shifts` (energy derived from readings).
pub fn shifts_line(
    state: &State,
    index: &trustmeter_index::Index,
    org: &UnifiedSocialCreditCode,
    plant_now_ms: i64,
) -> String {
    use trustmeter_analytics::figures::{DayRange, MAX_DERIVED_RANGE_DAYS, ShiftsRequest, shifts};
    let day = calendar::day_number(plant_now_ms);
    let Ok(range) = DayRange::new(day - 1, day, MAX_DERIVED_RANGE_DAYS) else { return String::new() };
    let v = match shifts(state, index, &ShiftsRequest { org: org.clone(), range, energy: None }) {
        Ok(v) => v,
        Err(e) => return format!("shifts: {e}"),
    };
    let interval = state.params.accounting.nominal_interval_ms;
    let done: Vec<_> =
        v.instances.iter().filter(|i| i.output_recorded && i.end_ms + interval <= plant_now_ms).collect();
    if done.is_empty() {
        return format!("shifts {}: no finished shift with output yet", calendar::day_label(day));
    }
    let per_shift: Vec<String> = done[done.len().saturating_sub(3)..]
        .iter()
        .map(|i| {
            let vehicles = i.products.iter().find(|p| p.product == "整车").or(i.products.first());
            let short = |s: &str| s.trim_end_matches('0').trim_end_matches('.').to_string();
            match vehicles {
                Some(p) => format!(
                    "{} {}({}) {} {} {} kWh/{} {} kgce/{}",
                    &i.day[5..],
                    i.shift,
                    i.team.as_deref().unwrap_or("-"),
                    short(&p.quantity),
                    p.unit,
                    p.kwh_per_unit.as_deref().map_or("-".into(), |x| format!("{:.2}", x.parse::<f64>().unwrap_or(0.0))),
                    p.unit,
                    p.kgce_per_unit_equivalent
                        .as_deref()
                        .map_or("-".into(), |x| format!("{:.3}", x.parse::<f64>().unwrap_or(0.0))),
                    p.unit
                ),
                None => format!("{} {}: no product", &i.day[5..], i.shift),
            }
        })
        .collect();
    let teams = v
        .comparison
        .best_worst
        .iter()
        .find(|b| b.product == "整车")
        .and_then(|b| Some((b.best_team.as_ref()?, b.worst_team.as_ref()?, &b.unit)))
        .map(|(best, worst, unit)| {
            format!(
                "; best team {} {} kgce/{unit}, worst {} {}",
                best.name, best.kgce_per_unit_equivalent, worst.name, worst.kgce_per_unit_equivalent
            )
        })
        .unwrap_or_default();
    format!(
        "shifts (班次单耗, derived): {}{teams}; trustmeter query shifts --org {org} --from {}",
        per_shift.join(" · "),
        calendar::day_label(day - 1)
    )
}
