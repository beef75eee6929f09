//! An enterprise's carbon emissions for a month (碳排放月度核算): the inputs the chain evaluates
//! ([`trustmeter_state::carbon::month_inputs`]: the month's consensus daily figures as activity
//! data, plus its documented entries), evaluated with the methodology version in force on the
//! month's first day, with every line, factor and left-out amount explained. With the enterprise's
//! own plan the figures are the chain's results for the month (`carbon_result`, computed by every
//! validator), and the view says so (`derived: false`); with another methodology they are
//! computed on request (`derived: true`).

use super::*;
use trustmeter_carbon::View;
use trustmeter_carbon::compute::{Line, compute};

/// The methodology of an enterprise with no monitoring plan: the general frame.
pub use trustmeter_state::carbon::DEFAULT_METHODOLOGY;

/// A documented entry the month's figures used or set aside.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CarbonEntryUseView {
    /// Entry number in the month.
    pub number: u32,
    /// Kind (`fuel`, `fgas`, `welding`, `green_certificates`, …; `withdrawn`).
    pub kind: String,
    /// Revision (1 = as first recorded).
    pub revision: u32,
    /// Height of the block that recorded this revision.
    pub height: u64,
    /// Content hashes of its evidence files (hex).
    pub evidence: Vec<String>,
}

/// One line of a carbon result.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CarbonLineView {
    /// Source id (`combustion`, `electricity_location`, …).
    pub source: String,
    /// Item: a fuel id, a gas, or empty.
    pub item: String,
    /// Gas.
    pub gas: String,
    /// Scope 1 or 2.
    pub scope: u8,
    /// Views it counts in: `standard`, `location`, `market`.
    pub views: Vec<String>,
    /// Biomass (reported apart, in no total).
    pub biogenic: bool,
    /// Mass of the gas, t (6 decimals).
    pub mass_t: String,
    /// CO2 equivalent, t (6 decimals).
    pub co2e_t: String,
}

/// A factor used, with its source.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CarbonFactorView {
    /// What it is.
    pub name: String,
    /// Value (exact decimal).
    pub value: String,
    /// Unit.
    pub unit: String,
    /// Source.
    pub source: String,
    /// Confidence tag (S, S2, M, N) or `measured`.
    pub confidence: String,
}

/// Metered energy that did not become activity data, and why.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UnconvertedView {
    /// Energy kind.
    pub energy: String,
    /// Unit.
    pub unit: String,
    /// Consumed (6 decimals).
    pub consumed: String,
    /// Exported (6 decimals).
    pub exported: String,
    /// Why, and what to enter instead.
    pub reason: String,
}

/// An enterprise's emissions in one month, from its metered energy.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CarbonMonthView {
    /// The enterprise.
    pub org: String,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Whether the month had ended at the finalized block's time.
    pub complete: bool,
    /// The finalized height.
    pub height: u64,
    /// `false` when these figures are the chain's own results for the month (`carbon_result`,
    /// computed by every validator); `true` when computed on request only (another methodology
    /// than the enterprise's plan, or no result recorded).
    pub derived: bool,
    /// Height of the block whose execution computed the consensus results, if they are.
    pub consensus_height: Option<u64>,
    /// Methodology id.
    pub methodology: String,
    /// Its version (the one in force on the month's first day).
    pub version: u32,
    /// GWP set.
    pub gwp_set: String,
    /// Province (two-digit GB/T 2260 code) the grid factors are chosen for.
    pub province: String,
    /// GB/T 32150 total (exports netted, biomass excluded), tCO2e.
    pub standard_t: String,
    /// Scope 1, tCO2e.
    pub scope1_t: String,
    /// Scope 2 location-based, tCO2e.
    pub scope2_location_t: String,
    /// Scope 2 market-based, tCO2e.
    pub scope2_market_t: String,
    /// Biomass CO2, reported apart, t.
    pub biogenic_t: String,
    /// Electricity purchased, MWh (from the daily figures).
    pub electricity_purchased_mwh: String,
    /// Electricity exported, MWh.
    pub electricity_exported_mwh: String,
    /// Lines, sources in document order.
    pub lines: Vec<CarbonLineView>,
    /// Factors used.
    pub factors: Vec<CarbonFactorView>,
    /// Metered energy not converted.
    pub unconverted: Vec<UnconvertedView>,
    /// The month's documented entries (台账), each with its evidence hashes.
    pub entries: Vec<CarbonEntryUseView>,
    /// Production output of the month (from output entries), if one product.
    pub output: Option<String>,
    /// tCO2e (standard view) per unit of output, 6 decimals, if output is known and non-zero.
    pub intensity: Option<String>,
    /// Notes.
    pub notes: Vec<String>,
}

fn tonnes(micro: i64) -> String {
    Quantity::from_micros(micro).to_string()
}

/// An exact decimal with 6 places, as every amount of the API is written.
fn six_places(d: trustmeter_carbon::Decimal) -> String {
    trustmeter_carbon::compute::to_micro(d).map_or_else(|| d.to_string(), tonnes)
}

fn line_view(l: &Line) -> CarbonLineView {
    CarbonLineView {
        source: l.source.clone(),
        item: l.item.clone(),
        gas: l.gas.clone(),
        scope: l.scope,
        views: l.views.iter().map(|v: &View| v.as_str().to_string()).collect(),
        biogenic: l.biogenic,
        mass_t: tonnes(l.mass_ut),
        co2e_t: tonnes(l.co2e_ut),
    }
}

/// The emissions of `org` in month `YYYYMM` with methodology `methodology` (default: the
/// enterprise's monitoring plan for the month, else [`DEFAULT_METHODOLOGY`]) in the version in
/// force on the month's first day: metered energy plus the month's documented entries.
pub fn carbon_month(
    state: &State,
    org: &UnifiedSocialCreditCode,
    month: u32,
    methodology: Option<&str>,
) -> Result<CarbonMonthView, Error> {
    member(state, org)?;
    let range = month_days(month)?;
    let inputs = trustmeter_state::carbon::month_inputs(state, org, month, methodology).map_err(|e| match e {
        trustmeter_state::carbon::MonthError::NoMethodology(..) => not_found(e.to_string()),
        trustmeter_state::carbon::MonthError::Unparsable(..) => internal(e.to_string()),
        _ => bad(e.to_string()),
    })?;
    let (m, activity, unconverted, province) =
        (inputs.methodology, inputs.activity, inputs.unconverted, inputs.province);
    let records = inputs.entries;
    let mut notes = Vec::new();
    notes.extend(inputs.notes);
    let r = compute(&m, &activity).map_err(|e| bad(format!("the month's emissions cannot be computed: {e}")))?;
    // The chain's own record of the month (computed by every validator at the end of the block
    // that last changed its inputs): this view is the consensus figure when it agrees with it.
    let consensus = state.carbon_result(org, month).filter(|c| {
        c.error.is_none()
            && c.methodology == r.methodology
            && c.version == r.version
            && (c.standard_ut, c.scope1_ut, c.scope2_location_ut, c.scope2_market_ut, c.biogenic_ut)
                == (
                    r.totals.standard,
                    r.totals.scope1,
                    r.totals.scope2_location,
                    r.totals.scope2_market,
                    r.totals.biogenic,
                )
    });
    match &consensus {
        Some(c) => notes.insert(
            0,
            format!("consensus: these are the chain's results for the month, computed by every validator at height {} (key carbon_result)", c.height),
        ),
        None => notes.insert(
            0,
            "derived: computed on request from the month's consensus daily figures and documented entries (each provable); the chain holds no result of this month for this methodology".to_string(),
        ),
    }
    let complete = state.timestamp_ms >= range.to_ms();
    if !complete {
        notes.push("the month has not ended at the finalized block's time: the figures are partial".into());
    }
    let t = r.totals;
    Ok(CarbonMonthView {
        org: org.to_string(),
        month: format!("{:04}-{:02}", month / 100, month % 100),
        complete,
        height: state.height,
        derived: consensus.is_none(),
        consensus_height: consensus.as_ref().map(|c| c.height),
        methodology: r.methodology.clone(),
        version: r.version,
        gwp_set: r.gwp_set.clone(),
        province: province.to_string(),
        standard_t: tonnes(t.standard),
        scope1_t: tonnes(t.scope1),
        scope2_location_t: tonnes(t.scope2_location),
        scope2_market_t: tonnes(t.scope2_market),
        biogenic_t: tonnes(t.biogenic),
        electricity_purchased_mwh: six_places(activity.electricity.purchased),
        electricity_exported_mwh: six_places(activity.electricity.exported),
        lines: r.lines.iter().map(line_view).collect(),
        factors: r
            .factors
            .iter()
            .map(|f| CarbonFactorView {
                name: f.name.clone(),
                value: f.value.to_string(),
                unit: f.unit.clone(),
                source: f.source.clone(),
                confidence: f.confidence.clone(),
            })
            .collect(),
        unconverted: unconverted
            .into_iter()
            .map(|u| UnconvertedView {
                energy: u.energy.name().to_string(),
                unit: u.unit.symbol().to_string(),
                consumed: Quantity::from_micros(u.consumed).to_string(),
                exported: Quantity::from_micros(u.exported).to_string(),
                reason: u.reason,
            })
            .collect(),
        entries: records
            .iter()
            .map(|r| CarbonEntryUseView {
                number: r.entry.number,
                kind: r.entry.data.as_ref().map_or("withdrawn", |d| d.kind()).to_string(),
                revision: r.revision,
                height: r.height,
                evidence: r.entry.evidence.iter().map(|e| e.hash.to_hex()).collect(),
            })
            .collect(),
        output: activity.output.map(six_places),
        intensity: activity
            .output
            .and_then(|o| trustmeter_carbon::Decimal::new(t.standard, 6).checked_div(o))
            .map(six_places),
        notes,
    })
}

/// One month of a carbon year, as the chain recorded it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CarbonYearMonthView {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Methodology id and version of the month's results (empty when the chain holds none).
    pub methodology: String,
    /// Its version.
    pub version: u32,
    /// GB/T 32150 total, tCO2e.
    pub standard_t: String,
    /// Scope 1, tCO2e.
    pub scope1_t: String,
    /// Scope 2 location-based, tCO2e.
    pub scope2_location_t: String,
    /// Scope 2 market-based, tCO2e.
    pub scope2_market_t: String,
    /// Biomass CO2, t.
    pub biogenic_t: String,
    /// Documented entries used.
    pub entries: u32,
    /// Height of the block that computed the month's results; `null`: no results on the chain.
    pub height: Option<u64>,
    /// Why the month could not be evaluated, if it could not.
    pub error: Option<String>,
}

/// An enterprise's carbon year: its twelve month records from the chain (`carbon_result`, each
/// provable) and their sums.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CarbonYearView {
    /// The enterprise.
    pub org: String,
    /// The year.
    pub year: i32,
    /// The finalized height read.
    pub height: u64,
    /// January to December (a month without results reads zero, `height: null`).
    pub months: Vec<CarbonYearMonthView>,
    /// Σ of the months: GB/T 32150 total, tCO2e.
    pub standard_t: String,
    /// Σ Scope 1.
    pub scope1_t: String,
    /// Σ Scope 2 location-based.
    pub scope2_location_t: String,
    /// Σ Scope 2 market-based.
    pub scope2_market_t: String,
    /// Σ biomass CO2.
    pub biogenic_t: String,
    /// Notes (months with errors, methodology changes within the year).
    pub notes: Vec<String>,
    /// Height of the chain's year record (`CarbonYear`, the same sums, provable as one entry);
    /// `null` when no month of the year has results.
    pub consensus_height: Option<u64>,
    /// Σ production output of the months that have one (from the year record), `null` if none.
    pub output: Option<String>,
}

/// The carbon year of `org`: the chain's twelve month results and their sums (saturating, in µt).
pub fn carbon_year(state: &State, org: &UnifiedSocialCreditCode, year: i32) -> Result<CarbonYearView, Error> {
    member(state, org)?;
    if !(1900..=9999).contains(&year) {
        return Err(bad(format!("year {year} is not between 1900 and 9999")));
    }
    let mut months = Vec::with_capacity(12);
    let mut sums = [0i64; 5];
    let mut notes = Vec::new();
    let mut methodologies = std::collections::BTreeSet::new();
    for m in 1..=12u32 {
        let code = year as u32 * 100 + m;
        let label = format!("{year:04}-{m:02}");
        let view = match state.carbon_result(org, code) {
            Some(r) => {
                let amounts = [r.standard_ut, r.scope1_ut, r.scope2_location_ut, r.scope2_market_ut, r.biogenic_ut];
                for (s, a) in sums.iter_mut().zip(amounts) {
                    *s = s.saturating_add(a);
                }
                if let Some(e) = &r.error {
                    notes.push(format!("{label}: not evaluated: {e}"));
                }
                methodologies.insert(format!("{} v{}", r.methodology, r.version));
                CarbonYearMonthView {
                    month: label,
                    methodology: r.methodology,
                    version: r.version,
                    standard_t: tonnes(r.standard_ut),
                    scope1_t: tonnes(r.scope1_ut),
                    scope2_location_t: tonnes(r.scope2_location_ut),
                    scope2_market_t: tonnes(r.scope2_market_ut),
                    biogenic_t: tonnes(r.biogenic_ut),
                    entries: r.entries,
                    height: Some(r.height),
                    error: r.error,
                }
            }
            None => CarbonYearMonthView {
                month: label,
                methodology: String::new(),
                version: 0,
                standard_t: tonnes(0),
                scope1_t: tonnes(0),
                scope2_location_t: tonnes(0),
                scope2_market_t: tonnes(0),
                biogenic_t: tonnes(0),
                entries: 0,
                height: None,
                error: None,
            },
        };
        months.push(view);
    }
    if methodologies.len() > 1 {
        notes.push(format!(
            "the year's months were accounted with {} methodology versions: {}",
            methodologies.len(),
            methodologies.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let record = state.carbon_year(org, year as u32);
    if let Some(r) = &record
        && [r.standard_ut, r.scope1_ut, r.scope2_location_ut, r.scope2_market_ut, r.biogenic_ut] != sums
    {
        notes.push(format!("the chain's year record (height {}) differs from the sum of its months", r.height));
    }
    Ok(CarbonYearView {
        output: record.as_ref().filter(|r| r.output_micro > 0).map(|r| tonnes(r.output_micro)),
        consensus_height: record.map(|r| r.height),
        org: org.to_string(),
        year,
        height: state.height,
        months,
        standard_t: tonnes(sums[0]),
        scope1_t: tonnes(sums[1]),
        scope2_location_t: tonnes(sums[2]),
        scope2_market_t: tonnes(sums[3]),
        biogenic_t: tonnes(sums[4]),
        notes,
    })
}

/// Columns of [`carbon_year_csv`].
const CARBON_YEAR_CSV: [&str; 11] = [
    "org",
    "month",
    "methodology",
    "version",
    "standard_t",
    "scope1_t",
    "scope2_location_t",
    "scope2_market_t",
    "biogenic_t",
    "entries",
    "height",
];

/// A carbon year as CSV (Excel opens it): one row per month, then a `total` row.
pub fn carbon_year_csv(v: &CarbonYearView) -> String {
    let rows = v
        .months
        .iter()
        .map(|m| {
            vec![
                v.org.clone(),
                m.month.clone(),
                m.methodology.clone(),
                m.version.to_string(),
                m.standard_t.clone(),
                m.scope1_t.clone(),
                m.scope2_location_t.clone(),
                m.scope2_market_t.clone(),
                m.biogenic_t.clone(),
                m.entries.to_string(),
                m.height.map(|h| h.to_string()).unwrap_or_default(),
            ]
        })
        .chain(std::iter::once(vec![
            v.org.clone(),
            "total".into(),
            String::new(),
            String::new(),
            v.standard_t.clone(),
            v.scope1_t.clone(),
            v.scope2_location_t.clone(),
            v.scope2_market_t.clone(),
            v.biogenic_t.clone(),
            v.months.iter().map(|m| m.entries).sum::<u32>().to_string(),
            v.height.to_string(),
        ]));
    csv(&CARBON_YEAR_CSV, rows)
}
