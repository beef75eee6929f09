//! Master/sub-meter balance (总分表平衡): for each master meter (总表, a meter that other meters
//! name as their `master`) of an enterprise, per Asia/Shanghai day and over the range, the
//! master's consumption, the sum of its sub-meters' (分表), the difference and the loss rate
//! (difference ÷ master), with each sub-meter's figures and the completeness of the data behind
//! every number.
//!
//! Each meter's daily consumption is derived from its indexed readings with the chain's interval
//! rules — the derivation of meter series ([`shares_of_points`]: rollover, replacements of any
//! age, gaps estimated, negative deltas excluded), split over days by time — so `derived: true`:
//! each reading is provable, the sums are not consensus. (The chain's daily figures are per
//! enterprise and energy kind, not per meter, and count a sub-meter only through its master.)
//! Amounts are exact micro-unit integers; the loss rate is rounded half to even to 0.0001 %.
//!
//! **Completeness.** A meter's day is complete when the day has ended at the finalized block's
//! time, the meter has a reading at or before the day's start and one at or after its end (so
//! the whole day is inside its intervals), no part of the day comes from a gap (an interval
//! longer than two collection intervals, whose placement in time is estimated), and it has at
//! least 90 % of the day's collection points ([`quality::expected_points`], the platforms'
//! completeness rule). A balance day is complete only when the master's and every sub-meter's
//! day are; an incomplete day is reported with its numbers and `complete: false`, never as a
//! clean balance, and the range's `complete` holds only when every day's does.
//!
//! **Replacements.** `ReplaceMeter` keeps a meter's id (the physical meter is swapped, the
//! register restarts): the master link is on the id, so a replaced master keeps its sub-meters
//! and a replaced sub-meter its master, and the replacement enters the derivation like any other.
//!
//! **Cost.** A range scan of the enterprise's meter records (at most
//! [`MAX_BALANCE_METERS_LISTED`]), then one index range read per meter involved (masters and
//! sub-meters, each once even when it is both), at most [`MAX_DERIVED_METERS`] meters, [`MAX_DERIVED_READINGS`] readings and
//! [`MAX_BALANCE_RANGE_DAYS`] days; the response holds one figure per meter and day.

use super::*;

/// Most days a balance spans: the response carries a figure per meter and day (≤ 1 000 × 92).
pub const MAX_BALANCE_RANGE_DAYS: i32 = 92;

/// Most meters of one enterprise a balance lists to find its masters and sub-meters.
pub const MAX_BALANCE_METERS_LISTED: usize = 20_000;

/// A balance request.
#[derive(Clone, Debug)]
pub struct BalanceRequest {
    /// The enterprise.
    pub org: UnifiedSocialCreditCode,
    /// The days (Asia/Shanghai).
    pub range: DayRange,
}

/// A meter of a balance: master or sub-meter.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceMeter {
    /// Device id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Location path.
    pub location: Vec<String>,
    /// `registered`, `active` or `revoked`.
    pub status: String,
}

/// One meter's consumption on one day, or summed over the range, and the data behind it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct BalanceFigure {
    /// Consumption (exact decimal, the meter's unit).
    pub consumption: String,
    /// Its part from gaps (placement in time estimated).
    pub estimated: String,
    /// Readings in the day(s).
    pub points: u64,
    /// Collection points the day(s) require on the chain's nominal grid.
    pub expected_points: u64,
    /// Whether the data are complete (see the module documentation); over the range: every day.
    pub complete: bool,
}

/// The balance of one master meter on one day, or over the range.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceRow {
    /// The day `YYYY-MM-DD`, or `YYYY-MM-DD..YYYY-MM-DD` for the range.
    pub label: String,
    /// The master meter's consumption.
    pub master: String,
    /// The sum of its sub-meters' consumption (Σ 分表).
    pub subs: String,
    /// Master − Σ sub-meters: losses (线损, 管损) and whatever no sub-meter measures.
    pub difference: String,
    /// Difference ÷ master × 100, rounded half to even to 4 decimals (`"2.3456"`); `null` when the
    /// master recorded nothing.
    pub loss_rate_percent: Option<String>,
    /// Whether the master's and every sub-meter's data are complete.
    pub complete: bool,
    /// How many of the meters (master and sub-meters) have incomplete data (over the range: on at
    /// least one day).
    pub incomplete_meters: u32,
    /// Days whose balance is complete (1 or 0 for a day).
    pub complete_days: u32,
    /// Days in the row (1 for a day).
    pub days: u32,
}

/// One sub-meter of a master, with its figures.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceSubMeter {
    /// The sub-meter.
    pub meter: BalanceMeter,
    /// Its figure per day of the range, in day order.
    pub days: Vec<BalanceFigure>,
    /// Over the range.
    pub total: BalanceFigure,
}

/// One master meter's balance.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MasterBalance {
    /// The master meter.
    pub meter: BalanceMeter,
    /// Energy kind (`electricity`, …).
    pub energy: String,
    /// Unit of every amount (the master's and its sub-meters').
    pub unit: String,
    /// The master's own figure per day.
    pub master_days: Vec<BalanceFigure>,
    /// The master's figure over the range.
    pub master_total: BalanceFigure,
    /// The balance per day, in day order.
    pub days: Vec<BalanceRow>,
    /// The balance over the range.
    pub total: BalanceRow,
    /// The sub-meters, in id order.
    pub subs: Vec<BalanceSubMeter>,
}

/// An enterprise's master/sub-meter balance over a range of days.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BalanceView {
    /// The enterprise.
    pub org: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Derived from readings (true): each reading is provable, the sums are not consensus.
    pub derived: bool,
    /// Finalized height the figures are read at.
    pub height: u64,
    /// The finalized block's time (Unix ms): days ending after it are incomplete.
    pub as_of_ms: i64,
    /// The chain's nominal collection interval (the grid of expected points).
    pub nominal_interval_ms: i64,
    /// Readings read.
    pub readings: usize,
    /// One entry per master meter, in id order.
    pub masters: Vec<MasterBalance>,
    /// What the reader should know.
    pub notes: Vec<String>,
}

/// A meter's day: exact sums.
#[derive(Clone, Copy, Debug, Default)]
struct Day {
    consumption: i128,
    estimated: i128,
    points: u64,
    expected: u64,
    complete: bool,
}

fn meter_ref(m: &Meter) -> BalanceMeter {
    let status = match m.status {
        DeviceStatus::Registered => "registered",
        DeviceStatus::Active => "active",
        DeviceStatus::Revoked => "revoked",
    };
    BalanceMeter { id: m.id.to_string(), name: m.name.clone(), location: m.location.0.clone(), status: status.into() }
}

fn figure(d: &Day) -> BalanceFigure {
    BalanceFigure {
        consumption: dec(d.consumption),
        estimated: dec(d.estimated),
        points: d.points,
        expected_points: d.expected,
        complete: d.complete,
    }
}

/// The sum of a meter's days.
fn total(days: &[Day]) -> Day {
    days.iter().fold(Day { complete: true, ..Day::default() }, |a, d| Day {
        consumption: a.consumption + d.consumption,
        estimated: a.estimated + d.estimated,
        points: a.points + d.points,
        expected: a.expected + d.expected,
        complete: a.complete && d.complete,
    })
}

/// Difference ÷ master in percent, 4 decimals, rounded half to even; `None` for a zero master.
pub fn loss_rate_percent(master: i128, difference: i128) -> Option<String> {
    if master <= 0 {
        return None;
    }
    // percent × 10⁴ = difference × 10⁶ / master
    let n = div_round_half_even(difference.saturating_mul(1_000_000), master);
    let sign = if n < 0 { "-" } else { "" };
    let a = n.unsigned_abs();
    Some(format!("{sign}{}.{:04}", a / 10_000, a % 10_000))
}

/// One meter's days over the range (see the module documentation for completeness).
fn meter_days(
    state: &State,
    index: &Index,
    meter: &Meter,
    range: DayRange,
    budget: &mut usize,
) -> Result<(Vec<Day>, usize), Error> {
    let (from_ms, to_ms) = (range.from_ms(), range.to_ms());
    let points = meter_points(index, &meter.id, from_ms, to_ms, budget)?;
    let n = range.days() as usize;
    let mut days = vec![Day::default(); n];
    let index_of = |t: i64| (calendar::day_number(t) - range.from_day) as usize;
    for p in points.iter().filter(|p| (from_ms..to_ms).contains(&p.ts_ms)) {
        days[index_of(p.ts_ms)].points += 1;
    }
    let segment = |t: i64| {
        if t < from_ms {
            (None, from_ms)
        } else if t >= to_ms {
            (None, i64::MAX)
        } else {
            (Some(index_of(t)), calendar::day_start_ms(calendar::day_number(t) + 1).min(to_ms))
        }
    };
    let add = |i: usize, share: i64, of: ShareOf| {
        if of.export {
            return;
        }
        days[i].consumption += i128::from(share);
        if of.estimated {
            days[i].estimated += i128::from(share);
        }
    };
    shares_of_points(state, index, meter, &points, segment, add)?;
    let (first, last) = (points.first().map(|p| p.ts_ms), points.last().map(|p| p.ts_ms));
    let nominal = state.params.accounting.nominal_interval_ms;
    for (i, d) in days.iter_mut().enumerate() {
        let day = range.from_day + i as i32;
        let (start, end) = (calendar::day_start_ms(day), calendar::day_start_ms(day + 1));
        d.expected = quality::expected_points(nominal, start, end);
        let covered = first.is_some_and(|f| f <= start) && last.is_some_and(|l| l >= end);
        let enough = u128::from(d.points) * 10_000 >= u128::from(d.expected) * u128::from(quality::COMPLETENESS_MIN_BP);
        d.complete = end <= state.timestamp_ms && covered && d.estimated == 0 && enough;
    }
    Ok((days, points.len()))
}

fn row(label: String, master: &Day, subs: &[&Day], days: u32, complete_days: u32) -> BalanceRow {
    let sum: i128 = subs.iter().map(|d| d.consumption).sum();
    let difference = master.consumption - sum;
    let incomplete = u32::from(!master.complete) + subs.iter().filter(|d| !d.complete).count() as u32;
    BalanceRow {
        label,
        master: dec(master.consumption),
        subs: dec(sum),
        difference: dec(difference),
        loss_rate_percent: loss_rate_percent(master.consumption, difference),
        complete: incomplete == 0,
        incomplete_meters: incomplete,
        complete_days,
        days,
    }
}

/// An enterprise's master/sub-meter balance (see the module documentation).
pub fn balance(state: &State, index: &Index, req: &BalanceRequest) -> Result<BalanceView, Error> {
    let org = &req.org;
    member(state, org)?;
    let range = req.range;
    if range.days() > i64::from(MAX_BALANCE_RANGE_DAYS) {
        return Err(limit(format!(
            "a balance spans at most {MAX_BALANCE_RANGE_DAYS} days (a figure per meter and day); split the range"
        )));
    }
    // The enterprise's meters: a range scan of the ids under its credit code (the chain names
    // every device under its owner's code), bounded.
    let listed = state.meters_after(Some(org), None, MAX_BALANCE_METERS_LISTED + 1);
    if listed.len() > MAX_BALANCE_METERS_LISTED {
        return Err(limit(format!(
            "enterprise {org} has more than {MAX_BALANCE_METERS_LISTED} meters; a balance lists at most that many"
        )));
    }
    let meters: BTreeMap<DeviceId, Meter> =
        listed.into_iter().filter(|m| &m.owner == org).map(|m| (m.id.clone(), m)).collect();
    // Master → its sub-meters (tariff registers never have a master: the chain refuses it).
    let mut subs_of: BTreeMap<DeviceId, Vec<DeviceId>> = BTreeMap::new();
    for m in meters.values().filter(|m| m.tariff.is_none()) {
        if let Some(master) = &m.master
            && meters.contains_key(master)
        {
            subs_of.entry(master.clone()).or_default().push(m.id.clone());
        }
    }
    let involved: BTreeSet<&DeviceId> = subs_of.iter().flat_map(|(m, s)| std::iter::once(m).chain(s)).collect();
    if involved.len() > MAX_DERIVED_METERS {
        return Err(limit(format!(
            "enterprise {org} has {} master and sub-meters; a balance reads at most {MAX_DERIVED_METERS}",
            involved.len()
        )));
    }
    let mut budget = MAX_DERIVED_READINGS;
    let mut readings = 0usize;
    let mut days_of: BTreeMap<&DeviceId, Vec<Day>> = BTreeMap::new();
    for id in &involved {
        let (days, n) = meter_days(state, index, &meters[*id], range, &mut budget)?;
        readings += n;
        days_of.insert(id, days);
    }
    let labels: Vec<String> = (range.from_day..=range.to_day).map(calendar::day_label).collect();
    let range_label = format!("{}..{}", range.first_label(), range.last_label());
    let mut masters = Vec::with_capacity(subs_of.len());
    let mut notes = vec![];
    for (master_id, sub_ids) in &subs_of {
        let master = &meters[master_id];
        let m_days = &days_of[master_id];
        let s_days: Vec<&Vec<Day>> = sub_ids.iter().map(|s| &days_of[s]).collect();
        let mut day_rows = Vec::with_capacity(labels.len());
        let mut complete_days = 0u32;
        for (i, label) in labels.iter().enumerate() {
            let subs: Vec<&Day> = s_days.iter().map(|d| &d[i]).collect();
            let r = row(label.clone(), &m_days[i], &subs, 1, 0);
            complete_days += u32::from(r.complete);
            day_rows.push(BalanceRow { complete_days: u32::from(r.complete), ..r });
        }
        let m_total = total(m_days);
        let s_totals: Vec<Day> = s_days.iter().map(|d| total(d)).collect();
        let total_row = row(
            range_label.clone(),
            &m_total,
            &s_totals.iter().collect::<Vec<_>>(),
            labels.len() as u32,
            complete_days,
        );
        if s_totals.iter().chain([&m_total]).any(|d| d.estimated != 0) {
            notes.push(format!(
                "{master_id}: part of the figures comes from gaps in the readings (estimated); those days are incomplete"
            ));
        }
        masters.push(MasterBalance {
            meter: meter_ref(master),
            energy: energy_name(master.energy),
            unit: master.unit.symbol().into(),
            master_days: m_days.iter().map(figure).collect(),
            master_total: figure(&m_total),
            days: day_rows,
            total: total_row,
            subs: sub_ids
                .iter()
                .zip(&s_days)
                .zip(&s_totals)
                .map(|((id, days), t)| BalanceSubMeter {
                    meter: meter_ref(&meters[id]),
                    days: days.iter().map(figure).collect(),
                    total: figure(t),
                })
                .collect(),
        });
    }
    if masters.is_empty() {
        notes.push(format!(
            "enterprise {org} has no master meters: a meter becomes one when another names it as its master at registration (trustmeter tx register-meter --master)"
        ));
    }
    notes.push(
        "derived from the indexed readings of each meter with the chain's interval rules; every reading is provable, the sums are not consensus"
            .into(),
    );
    Ok(BalanceView {
        org: org.to_string(),
        from: range.first_label(),
        to: range.last_label(),
        derived: true,
        height: state.height,
        as_of_ms: state.timestamp_ms,
        nominal_interval_ms: state.params.accounting.nominal_interval_ms,
        readings,
        masters,
        notes,
    })
}

/// CSV of a balance: one row per master and day, then its range total.
pub fn balance_csv(v: &BalanceView) -> String {
    let header = [
        "master",
        "name",
        "energy",
        "unit",
        "day",
        "master_consumption",
        "sub_meters_sum",
        "difference",
        "loss_rate_percent",
        "complete",
        "incomplete_meters",
    ];
    let rows = v.masters.iter().flat_map(|m| {
        m.days.iter().chain([&m.total]).map(move |r| {
            vec![
                m.meter.id.clone(),
                m.meter.name.clone(),
                m.energy.clone(),
                m.unit.clone(),
                r.label.clone(),
                r.master.clone(),
                r.subs.clone(),
                r.difference.clone(),
                r.loss_rate_percent.clone().unwrap_or_default(),
                r.complete.to_string(),
                r.incomplete_meters.to_string(),
            ]
        })
    });
    csv(&header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Fixture, T0};
    use trustmeter_types::{Reading, ReadingOrigin, ReadingSigner, TxPayload};

    const Q: i64 = 15 * 60_000;

    /// Meter 1 of the fixture is the master of meters 2 (A) and 3 (B). Readings every 15 minutes
    /// from 2026-11-21 00:00 (k = 0) to 2026-11-23 00:00 (k = 192), local time:
    ///
    /// - master: +10 kWh per interval from 1 000 kWh; replaced (ReplaceMeter, same id) at
    ///   2026-11-22 12:07:30, between k = 144 (2 440 kWh) and k = 145: the old register's final
    ///   value 2 445, the new one starts at 0 and reads 5 at k = 145, +10 per interval after;
    /// - A: +6 kWh per interval on the 21st, +6.5 on the 22nd;
    /// - B: +3.7 kWh per interval, but no readings k = 120..=131 (the 22nd 06:00–08:45): one
    ///   13-interval gap inside the 22nd.
    ///
    /// By hand: 21st — master 96 × 10 = 960, A 96 × 6 = 576, B 96 × 3.7 = 355.2, Σ 931.2,
    /// difference 28.8, loss 28.8 / 960 = 3.0000 %, complete. 22nd — master 960 (the replacement
    /// makes 2 440 → 5 the 10 kWh it is), A 96 × 6.5 = 624, B 355.2 of which 13 × 3.7 = 48.1
    /// estimated and 84 of 96 points: Σ 979.2, difference −19.2, loss −2.0000 %, incomplete (B).
    /// 23rd — not over at the chain's time, one reading each: 0, no loss rate, incomplete. Range —
    /// master 1 920, Σ 576 + 624 + 2 × 355.2 = 1 910.4, difference 9.6, loss 0.5000 %, 1 of 3
    /// days complete.
    fn plant() -> Fixture {
        let dir = Box::leak(Box::new(tempfile::tempdir().expect("a temporary directory")));
        let mut f = Fixture::with_index(Some(&dir.path().join("index.redb")));
        let master = f.meter.id.clone();
        let mut subs = vec![];
        for n in [2, 3] {
            let mut m = crate::testkit::meter(&f.org, n);
            m.master = Some(master.clone());
            m.register_max = Quantity::from_micros(1_000_000 * Quantity::SCALE);
            subs.push(m);
        }
        let register: Vec<_> = subs.iter().map(|m| f.ent.sign(TxPayload::RegisterMeter { meter: m.clone() })).collect();
        f.txs(T0 - 900, register);
        let issuer = f.st.organisations().find(|o| o.kind == OrgKind::MetrologyAuthority).unwrap().id;
        let calibrate: Vec<_> = subs
            .iter()
            .map(|m| {
                let calibration = trustmeter_types::registry::Calibration {
                    certificate_no: format!("JD-{}", m.id),
                    issuer: issuer.clone(),
                    valid_from_ms: T0 - calendar::DAY_MS,
                    valid_until_ms: T0 + 30 * calendar::DAY_MS,
                };
                f.metro.sign(TxPayload::RecordCalibration { meter: m.id.clone(), calibration })
            })
            .collect();
        f.txs(T0 - 800, calibrate);
        let activate: Vec<_> =
            subs.iter().map(|m| f.reg.sign(TxPayload::ActivateDevice { device: m.id.clone() })).collect();
        f.txs(T0 - 700, activate);
        let ids = [master.clone(), subs[0].id.clone(), subs[1].id.clone()];
        let kwh = |k: i64| k * Quantity::SCALE / 10; // tenths of a kWh in micro-units
        let (mut m_value, mut a_value, mut b_value) = (kwh(10_000), kwh(0), kwh(0));
        let mut seqs = [0u64; 3];
        for k in 0..=192i64 {
            let ts = T0 + k * Q;
            if k > 0 {
                m_value += kwh(100);
                a_value += if k <= 96 { kwh(60) } else { kwh(65) };
                b_value += kwh(37);
            }
            if k == 145 {
                // After the replacement at 12:07:30: 5 kWh on the new register.
                m_value = kwh(50);
            }
            let mut readings = vec![];
            for (i, value) in [m_value, a_value, b_value].into_iter().enumerate() {
                if i == 2 && (120..=131).contains(&k) {
                    continue;
                }
                seqs[i] += 1;
                let r = Reading {
                    meter: ids[i].clone(),
                    seq: seqs[i],
                    timestamp_ms: ts,
                    value: Quantity::from_micros(value),
                    unit: Unit::KilowattHour,
                    origin: ReadingOrigin::Online,
                    clock_suspect: false,
                };
                readings.push(trustmeter_crypto::sign_reading(&f.gw_key, r, ReadingSigner::Gateway));
            }
            let tx = f.gw.sign(TxPayload::SubmitReadings { gateway: f.meter.gateway.clone(), readings });
            f.txs(ts + 60_000, vec![tx]);
            if k == 144 {
                let replace = f.metro.sign(TxPayload::ReplaceMeter {
                    meter: master.clone(),
                    at_ms: ts + Q / 2,
                    old_final: Quantity::from_micros(kwh(24_450)),
                    new_initial: Quantity::from_micros(0),
                });
                f.txs(ts + Q / 2 + 30_000, vec![replace]);
            }
        }
        assert_eq!(m_value, kwh(50) + 47 * kwh(100), "the master's last value");
        f
    }

    #[test]
    fn a_balance_matches_a_hand_computation_with_a_gap_a_replacement_and_a_running_day() {
        let f = plant();
        let day = calendar::day_number(T0);
        let req = BalanceRequest { org: f.org.clone(), range: DayRange::new(day, day + 2, 92).unwrap() };
        let v = balance(&f.st, f.index.as_ref().unwrap(), &req).expect("a balance");
        assert!(v.derived);
        assert_eq!(v.masters.len(), 1);
        let m = &v.masters[0];
        assert_eq!(m.meter.id, f.meter.id.to_string());
        assert_eq!((m.energy.as_str(), m.unit.as_str()), ("electricity", "kWh"));
        type Row<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>, bool, u32);
        let rows: Vec<Row> = m
            .days
            .iter()
            .chain([&m.total])
            .map(|r| {
                (
                    r.label.as_str(),
                    r.master.as_str(),
                    r.subs.as_str(),
                    r.difference.as_str(),
                    r.loss_rate_percent.as_deref(),
                    r.complete,
                    r.incomplete_meters,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("2026-11-21", "960.000000", "931.200000", "28.800000", Some("3.0000"), true, 0),
                ("2026-11-22", "960.000000", "979.200000", "-19.200000", Some("-2.0000"), false, 1),
                ("2026-11-23", "0.000000", "0.000000", "0.000000", None, false, 3),
                ("2026-11-21..2026-11-23", "1920.000000", "1910.400000", "9.600000", Some("0.5000"), false, 3),
            ]
        );
        assert_eq!((m.total.complete_days, m.total.days), (1, 3));
        // The sub-meters' own figures, and why the 22nd is incomplete: B's gap.
        let b = &m.subs[1];
        assert_eq!(b.days[1].consumption, "355.200000");
        assert_eq!(b.days[1].estimated, "48.100000");
        assert_eq!((b.days[1].points, b.days[1].expected_points, b.days[1].complete), (84, 96, false));
        let a = &m.subs[0];
        assert_eq!((a.days[1].consumption.as_str(), a.days[1].complete), ("624.000000", true));
        assert_eq!((m.master_days[1].points, m.master_days[1].complete), (96, true));
        assert_eq!(m.master_total.consumption, "1920.000000");
        // 193 + 193 + 181 readings, plus the neighbours read around the range (none after it).
        assert_eq!(v.readings, 193 * 2 + 181);
        let csv = balance_csv(&v);
        assert!(csv.lines().nth(2).unwrap().contains(",2026-11-22,960.000000,979.200000,-19.200000,-2.0000,false,1"));
    }

    #[test]
    fn the_chain_and_the_location_sums_count_a_sub_meter_once() {
        let f = plant();
        let day = calendar::day_number(T0);
        // The consensus daily figure of the 21st is the master's 960 kWh, not 960 + 931.2.
        let key = DailyKey { org: f.org.clone(), day, energy: EnergyKind::Electricity, unit: Unit::KilowattHour };
        assert_eq!(f.st.daily(&key).unwrap().consumption, Quantity::from_micros(960 * Quantity::SCALE));
        // The enterprise's meters summed by location: the master only.
        let summed: Vec<DeviceId> = location_meters(&f.st, &f.org, &[]).into_iter().map(|m| m.id).collect();
        assert_eq!(summed, vec![f.meter.id.clone()]);
    }

    #[test]
    fn loss_rates_are_exact_and_rounded_half_to_even() {
        // 2.5 kWh of 100 kWh: 2.5000 %.
        assert_eq!(loss_rate_percent(100_000_000, 2_500_000).as_deref(), Some("2.5000"));
        // 1 of 3: 33.33333… % → 33.3333.
        assert_eq!(loss_rate_percent(3, 1).as_deref(), Some("33.3333"));
        // 1 of 160 000: 0.000625 % → 0.0006 (half to even).
        assert_eq!(loss_rate_percent(160_000, 1).as_deref(), Some("0.0006"));
        // Sub-meters above the master: negative.
        assert_eq!(loss_rate_percent(100, -3).as_deref(), Some("-3.0000"));
        assert_eq!(loss_rate_percent(0, 5), None);
    }
}
