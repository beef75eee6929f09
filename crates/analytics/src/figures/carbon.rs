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
