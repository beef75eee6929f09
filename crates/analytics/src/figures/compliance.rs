//! An enterprise's compliance year (履约) for people to read: its filed reports, the verification
//! of its annual report, its quota position with a year-end forecast, the deadlines of the
//! compliance calendar, what-if scenarios, and the report document rendered as HTML and CSV.
//!
//! **Forecast.** Year-to-date is the chain's month results (`carbon_result`, GB/T 32150 view) of
//! the months that have begun. The months still to come are projected from last year's same
//! months scaled by this year's pace (year-to-date ÷ last year's same months), or, without a
//! last year, at this year's monthly average so far. Exact integer arithmetic on micro-tonnes.
//!
//! **Calendar.** A month's deposit is due 40 days after the month ends; the annual report by
//! 31 March of the next year; the verification by 30 June; surrender by 31 December.

use super::*;
use trustmeter_carbon::report::{ReportDocument, tonnes};
use trustmeter_carbon::scenario::{self, Scenario};
use trustmeter_state::carbon::{month_inputs, month_of};
use trustmeter_state::compliance::report_due_day;
use trustmeter_state::{CarbonReportRecord, VerificationRecord};
use trustmeter_types::compliance::ReportPeriod;

/// A filed report as the compliance view shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FiledReportView {
    /// `2026-03` or `2026`.
    pub period: String,
    /// `monthly_deposit` or `annual_report`.
    pub kind: String,
    /// Document hash (hex).
    pub hash: String,
    /// Revision.
    pub revision: u32,
    /// Height filed.
    pub height: u64,
    /// Filed by its deadline.
    pub on_time: bool,
    /// GB/T 32150 total it states, t CO2e.
    pub standard_t: String,
    /// A month it covers was recomputed after filing (late data, a correction): file again.
    pub stale: bool,
}

/// A deadline of the compliance calendar.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadlineView {
    /// What is due (`monthly_deposit 2026-03`, `annual_report 2026`, `verification 2026`, `surrender 2026`).
    pub what: String,
    /// Last day, `YYYY-MM-DD`.
    pub due: String,
    /// Days left from the chain's day (negative: overdue).
    pub days_left: i64,
    /// Done.
    pub done: bool,
}

/// The quota position of a year.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct QuotaPositionView {
    /// The quota measured against, t CO2e (`null`: none recorded).
    pub quota_t: Option<String>,
    /// It is the enterprise's own reference, not a government allocation.
    pub reference: bool,
    /// Month-to-date emissions (the chain's month), t CO2e.
    pub month_to_date_t: String,
    /// Year-to-date emissions, t CO2e.
    pub year_to_date_t: String,
    /// Year-end forecast, t CO2e.
    pub forecast_t: String,
    /// How the forecast was made.
    pub forecast_basis: String,
    /// Quota − forecast, t CO2e (negative: a shortfall), when there is a quota.
    pub forecast_surplus_t: Option<String>,
    /// The forecast exceeds the quota.
    pub alarm: bool,
    /// Allowances held and not surrendered or banked, t CO2e.
    pub available_t: String,
    /// Banked in from last year, t.
    pub banked_in_t: String,
    /// Surrendered allowances, t.
    pub surrendered_t: String,
    /// Surrendered offsets (CCER), t.
    pub offsets_t: String,
    /// The final verified emissions (the obligation), t, once final.
    pub obligation_t: Option<String>,
    /// The obligation is fully surrendered.
    pub compliant: bool,
}

/// An enterprise's compliance year.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ComplianceView {
    /// The enterprise.
    pub org: String,
    /// The year.
    pub year: u32,
    /// The finalized height read.
    pub height: u64,
    /// Filed reports of the year (annual first, then months).
    pub reports: Vec<FiledReportView>,
    /// The verification of the annual report (as in state), if one was assigned.
    pub verification: Option<VerificationRecord>,
    /// The quota position.
    pub quota: QuotaPositionView,
    /// The calendar.
    pub deadlines: Vec<DeadlineView>,
}

fn filed_view(state: &State, org: &UnifiedSocialCreditCode, r: &CarbonReportRecord) -> FiledReportView {
    let stale = r.result_heights.iter().any(|(m, h)| state.carbon_result(org, *m).is_some_and(|c| c.height != *h))
        || r.period
            .months()
            .iter()
            .any(|m| state.carbon_result(org, *m).is_some() && !r.result_heights.iter().any(|(rm, _)| rm == m));
    FiledReportView {
        period: r.period.label(),
        kind: r.period.kind().into(),
        hash: r.hash.to_hex(),
        revision: r.revision,
        height: r.height,
        on_time: r.on_time,
        standard_t: tonnes(r.standard_ut),
        stale,
    }
}

fn month_standard(state: &State, org: &UnifiedSocialCreditCode, month: u32) -> i64 {
    state.carbon_result(org, month).map_or(0, |r| r.standard_ut)
}

/// Year-to-date, forecast and how it was made, for `year` at the chain's time `now_ms`: the
/// current month projected to its end at its pace so far (by days), then the months to come from
/// last year's profile at this year's pace, or at this year's monthly average without one.
/// Integer arithmetic on micro-tonnes (divisions round towards zero).
pub fn forecast(state: &State, org: &UnifiedSocialCreditCode, year: u32, now_ms: i64) -> (i64, i64, String) {
    let now = month_of(now_ms);
    let sum = |months: std::ops::RangeInclusive<u32>, y: u32| {
        months.map(|m| month_standard(state, org, y * 100 + m)).fold(0i64, i64::saturating_add)
    };
    if now / 100 > year {
        let ytd = sum(1..=12, year);
        return (ytd, ytd, "the year is over: its twelve months".into());
    }
    if now / 100 < year {
        return (0, 0, "the year has not begun".into());
    }
    let current = now % 100;
    let ytd = sum(1..=current, year);
    let mtd = month_standard(state, org, now);
    let first = trustmeter_state::carbon::first_day(now);
    let next = if current == 12 { (year + 1) * 100 + 1 } else { now + 1 };
    let days_in_month = i128::from((trustmeter_state::carbon::first_day(next) - first).max(1));
    let day_of_month = i128::from((calendar::day_number(now_ms) - first + 1).clamp(1, days_in_month as i32));
    let current_full = (i128::from(mtd) * days_in_month / day_of_month) as i64;
    let so_far = sum(1..=current.saturating_sub(1), year).saturating_add(current_full);
    let last_same = sum(1..=current, year - 1);
    let last_rest = if current < 12 { sum(current + 1..=12, year - 1) } else { 0 };
    let projected =
        format!("{} projected from day {day_of_month} of {days_in_month}", &calendar::day_label(first)[..7]);
    if current == 12 {
        return (ytd, so_far, projected);
    }
    if last_same > 0 && last_rest > 0 {
        let rest = (i128::from(last_rest) * i128::from(so_far) / i128::from(last_same)) as i64;
        return (
            ytd,
            so_far.saturating_add(rest),
            format!("{projected}; months {}–12 from {}'s profile at this year's pace", current + 1, year - 1),
        );
    }
    let rest = so_far / i64::from(current) * i64::from(12 - current);
    (
        ytd,
        so_far.saturating_add(rest),
        format!("{projected}; {} months to come at this year's monthly average", 12 - current),
    )
}

/// `org`'s compliance year `year`.
pub fn compliance(state: &State, org: &UnifiedSocialCreditCode, year: u32) -> Result<ComplianceView, Error> {
    member(state, org)?;
    trustmeter_types::compliance::check_year(year).map_err(bad)?;
    let now = month_of(state.timestamp_ms);
    let today = calendar::day_number(state.timestamp_ms);
    let reports: Vec<FiledReportView> =
        state.carbon_reports_of_year(org, year).iter().map(|r| filed_view(state, org, r)).collect();
    let verification = state.verification(org, year);
    let q = state.quota(org, year);
    let (ytd, fc, basis) = forecast(state, org, year, state.timestamp_ms);
    let quota = q.quota_ut();
    let obligation = verification.as_ref().and_then(|v| v.final_ut);
    let position = QuotaPositionView {
        quota_t: quota.map(|(v, _)| tonnes(v)),
        reference: quota.is_some_and(|(_, r)| r),
        month_to_date_t: tonnes(if now / 100 == year { month_standard(state, org, now) } else { 0 }),
        year_to_date_t: tonnes(ytd),
        forecast_t: tonnes(fc),
        forecast_basis: basis,
        forecast_surplus_t: quota.map(|(v, _)| tonnes(v.saturating_sub(fc))),
        alarm: quota.is_some_and(|(v, _)| fc > v),
        available_t: tonnes(q.available_ut()),
        banked_in_t: tonnes(q.banked_in_ut),
        surrendered_t: tonnes(q.surrendered_ut),
        offsets_t: tonnes(q.offsets_ut),
        obligation_t: obligation.map(tonnes),
        compliant: obligation.is_some_and(|o| q.surrendered_ut.saturating_add(q.offsets_ut) >= o),
    };
    let mut deadlines = Vec::new();
    let mut due = |what: String, day: i32, done: bool| {
        deadlines.push(DeadlineView { what, due: calendar::day_label(day), days_left: i64::from(day - today), done });
    };
    for m in 1..=12 {
        let p = ReportPeriod::Month(year * 100 + m);
        if year * 100 + m >= now {
            break;
        }
        due(format!("monthly_deposit {}", p.label()), report_due_day(p), reports.iter().any(|r| r.period == p.label()));
    }
    let after = |mm: u32, dd: &str| calendar::parse_day(&format!("{:04}-{mm:02}-{dd}", year + 1)).unwrap_or(today);
    due(
        format!("annual_report {year}"),
        report_due_day(ReportPeriod::Year(year)),
        reports.iter().any(|r| r.kind == "annual_report"),
    );
    due(format!("verification {year}"), after(6, "30"), obligation.is_some());
    due(format!("surrender {year}"), after(12, "31"), position.compliant);
    Ok(ComplianceView {
        org: org.to_string(),
        year,
        height: state.height,
        reports,
        verification,
        quota: position,
        deadlines,
    })
}

/// What a scenario would give over a year.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WhatIfView {
    /// The enterprise.
    pub org: String,
    /// The year.
    pub year: u32,
    /// The methodology and version evaluated.
    pub methodology: String,
    /// Months evaluated (`2026-01` …).
    pub months: Vec<String>,
    /// Baseline: GB/T 32150, scope 1, scope 2 location, scope 2 market, t CO2e.
    pub baseline: TotalsView,
    /// Under the scenario.
    pub scenario: TotalsView,
    /// Scenario − baseline, GB/T 32150 view, t CO2e.
    pub change_t: String,
    /// Extra certificates no month could use, MWh.
    pub certificates_unused_mwh: String,
    /// The quota, t (`null`: none).
    pub quota_t: Option<String>,
    /// Quota − baseline, t.
    pub baseline_surplus_t: Option<String>,
    /// Quota − scenario, t.
    pub scenario_surplus_t: Option<String>,
    /// Months left out, with why.
    pub notes: Vec<String>,
}

/// Totals of one side of a what-if, t CO2e.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TotalsView {
    /// GB/T 32150 view.
    pub standard_t: String,
    /// Scope 1.
    pub scope1_t: String,
    /// Scope 2 location-based.
    pub scope2_location_t: String,
    /// Scope 2 market-based.
    pub scope2_market_t: String,
}

fn totals_view(t: &trustmeter_carbon::Totals) -> TotalsView {
    TotalsView {
        standard_t: tonnes(t.standard),
        scope1_t: tonnes(t.scope1),
        scope2_location_t: tonnes(t.scope2_location),
        scope2_market_t: tonnes(t.scope2_market),
    }
}

/// `scenario` over `org`'s months of `year` that have begun, through the methodology of its
/// plan (one methodology version for the year: a year whose plan changes is refused).
pub fn what_if(state: &State, org: &UnifiedSocialCreditCode, year: u32, s: &Scenario) -> Result<WhatIfView, Error> {
    member(state, org)?;
    trustmeter_types::compliance::check_year(year).map_err(bad)?;
    let now = month_of(state.timestamp_ms);
    let mut months = Vec::new();
    let mut activities = Vec::new();
    let mut methodology: Option<(String, u32, std::sync::Arc<trustmeter_carbon::Methodology>)> = None;
    let mut notes = Vec::new();
    for m in 1..=12u32 {
        let month = year * 100 + m;
        if month > now {
            break;
        }
        let inputs = match month_inputs(state, org, month, None) {
            Ok(i) => i,
            Err(e) => {
                notes.push(format!("{:04}-{m:02}: {e}", year));
                continue;
            }
        };
        match &methodology {
            None => methodology = Some((inputs.record.id.clone(), inputs.record.version, inputs.methodology.clone())),
            Some((id, v, _)) if *id != inputs.record.id || *v != inputs.record.version => {
                return Err(bad(format!(
                    "{year} is accounted with {id} v{v} and {} v{}: a what-if runs on one methodology version; ask for a year with one",
                    inputs.record.id, inputs.record.version
                )));
            }
            Some(_) => {}
        }
        months.push(format!("{year:04}-{m:02}"));
        activities.push(inputs.activity);
    }
    let Some((id, version, m)) = methodology else {
        return Err(not_found(format!("{org} has no month of {year} to evaluate yet")));
    };
    let out = scenario::evaluate(&m, &activities, s).map_err(|e| bad(e.to_string()))?;
    let quota = state.quota(org, year).quota_ut().map(|(q, _)| q);
    Ok(WhatIfView {
        org: org.to_string(),
        year,
        methodology: format!("{id} v{version}"),
        months,
        baseline: totals_view(&out.baseline),
        scenario: totals_view(&out.scenario),
        change_t: tonnes(out.scenario.standard.saturating_sub(out.baseline.standard)),
        certificates_unused_mwh: out.certificates_unused_mwh.to_string(),
        quota_t: quota.map(tonnes),
        baseline_surplus_t: quota.map(|q| tonnes(q.saturating_sub(out.baseline.standard))),
        scenario_surplus_t: quota.map(|q| tonnes(q.saturating_sub(out.scenario.standard))),
        notes,
    })
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html_table(out: &mut String, title: &str, header: &[&str], rows: &[Vec<String>]) {
    out.push_str(&format!("<h2>{}</h2>\n<table>\n<tr>", html_escape(title)));
    for h in header {
        out.push_str(&format!("<th>{}</th>", html_escape(h)));
    }
    out.push_str("</tr>\n");
    for r in rows {
        out.push_str("<tr>");
        for f in r {
            out.push_str(&format!("<td>{}</td>", html_escape(f)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

type Table = (&'static str, Vec<&'static str>, Vec<Vec<String>>);

fn tables(d: &ReportDocument) -> Vec<Table> {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    vec![
        (
            "Results by month",
            vec![
                "month",
                "methodology",
                "GB/T 32150 t",
                "scope 1 t",
                "scope 2 location t",
                "scope 2 market t",
                "biogenic t",
                "output",
                "entries",
                "metered days",
                "result height",
                "error",
            ],
            d.months
                .iter()
                .map(|m| {
                    vec![
                        m.month.clone(),
                        m.methodology.clone(),
                        m.standard.clone(),
                        m.scope1.clone(),
                        m.scope2_location.clone(),
                        m.scope2_market.clone(),
                        m.biogenic.clone(),
                        opt(&m.output),
                        m.entries.to_string(),
                        m.metered_days.to_string(),
                        m.result_height.map(|h| h.to_string()).unwrap_or_default(),
                        opt(&m.error),
                    ]
                })
                .collect(),
        ),
        (
            "Emissions by source and gas",
            vec!["source", "item", "gas", "scope", "views", "biogenic", "mass t", "CO2e t"],
            d.sources
                .iter()
                .map(|s| {
                    vec![
                        s.source.clone(),
                        s.item.clone(),
                        s.gas.clone(),
                        s.scope.to_string(),
                        s.views.clone(),
                        s.biogenic.to_string(),
                        s.mass.clone(),
                        s.co2e.clone(),
                    ]
                })
                .collect(),
        ),
        (
            "Activity data",
            vec!["month", "origin", "what", "amount", "unit", "detail", "evidence"],
            d.activity
                .iter()
                .map(|a| {
                    let ev: Vec<String> =
                        a.evidence.iter().map(|e| format!("{} ({}, {})", e.name, e.kind, e.hash)).collect();
                    vec![
                        a.month.clone(),
                        a.origin.clone(),
                        a.what.clone(),
                        a.amount.clone(),
                        a.unit.clone(),
                        a.detail.clone(),
                        ev.join("; "),
                    ]
                })
                .collect(),
        ),
        (
            "Emission factors",
            vec!["factor", "value", "unit", "source", "confidence", "months"],
            d.factors
                .iter()
                .map(|f| {
                    vec![
                        f.name.clone(),
                        f.value.clone(),
                        f.unit.clone(),
                        f.source.clone(),
                        f.confidence.clone(),
                        f.months.clone(),
                    ]
                })
                .collect(),
        ),
    ]
}

/// The report document as one CSV file: each table under a `# title` line.
pub fn report_csv(d: &ReportDocument) -> String {
    let mut out = format!("# {} {} of {} ({})\n", d.kind, d.period, d.entity.name, d.entity.id);
    out.push_str(&format!(
        "# totals t CO2e: GB/T 32150 {}, scope 1 {}, scope 2 location {}, scope 2 market {}, biogenic {}\n",
        d.totals.standard, d.totals.scope1, d.totals.scope2_location, d.totals.scope2_market, d.totals.biogenic
    ));
    for (title, header, rows) in tables(d) {
        out.push_str(&format!("\n# {title}\n"));
        out.push_str(&csv(&header, rows));
    }
    out
}

/// The report document as a self-contained HTML page (no script, no external resource), with
/// the hash a reader checks the JSON against and, when filed, the filing.
pub fn report_html(d: &ReportDocument, hash: &str, filed: Option<&CarbonReportRecord>) -> String {
    let title = format!(
        "{} {} — {}",
        if d.kind == "annual_report" {
            "Annual emission report 年度排放报告"
        } else {
            "Monthly evidence deposit 月度信息化存证"
        },
        d.period,
        d.entity.name
    );
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">");
    out.push_str(&format!("<title>{}</title>", html_escape(&title)));
    out.push_str("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #999;padding:2px 6px;font-size:90%}th{background:#eee}code{font-size:90%}</style></head><body>\n");
    out.push_str(&format!("<h1>{}</h1>\n", html_escape(&title)));
    out.push_str(&format!(
        "<p>Entity: {} ({}), region {}. Chain: {}. Document <code>{}</code>, SHA of its JSON: <code>{}</code>.</p>\n",
        html_escape(&d.entity.name),
        html_escape(&d.entity.id),
        d.entity.region,
        html_escape(&d.chain_id),
        html_escape(&d.format),
        html_escape(hash)
    ));
    match filed {
        Some(f) => out.push_str(&format!(
            "<p>Filed: revision {} at height {}, signed by {}, {}.</p>\n",
            f.revision,
            f.height,
            html_escape(&f.signed_by.to_string()),
            if f.on_time { "on time" } else { "late" }
        )),
        None => out.push_str("<p>Draft generated from the chain's current data; not filed.</p>\n"),
    }
    let t = &d.totals;
    html_table(
        &mut out,
        "Totals (t CO2e)",
        &[
            "GB/T 32150",
            "scope 1",
            "scope 2 location",
            "scope 2 market",
            "scope 1+2 location",
            "scope 1+2 market",
            "biogenic",
            "output",
            "intensity",
        ],
        &[vec![
            t.standard.clone(),
            t.scope1.clone(),
            t.scope2_location.clone(),
            t.scope2_market.clone(),
            t.location.clone(),
            t.market.clone(),
            t.biogenic.clone(),
            t.output.clone().unwrap_or_default(),
            t.intensity.clone().unwrap_or_default(),
        ]],
    );
    html_table(
        &mut out,
        "Boundary: gateways",
        &["gateway", "status"],
        &d.boundary.gateways.iter().map(|g| vec![g.id.clone(), g.status.clone()]).collect::<Vec<_>>(),
    );
    html_table(
        &mut out,
        "Boundary: meters",
        &["energy", "status", "count"],
        &d.boundary
            .meters
            .iter()
            .map(|m| vec![m.energy.clone(), m.status.clone(), m.count.to_string()])
            .collect::<Vec<_>>(),
    );
    html_table(
        &mut out,
        "Monitoring plan and methodologies",
        &["from", "methodology"],
        &d.monitoring_plan.iter().map(|p| vec![p.from.clone(), p.methodology.clone()]).collect::<Vec<_>>(),
    );
    html_table(
        &mut out,
        "Methodology versions used",
        &["id", "version", "title", "GWP set", "document hash", "deployed at height"],
        &d.methodologies
            .iter()
            .map(|m| {
                vec![
                    m.id.clone(),
                    m.version.to_string(),
                    m.title.clone(),
                    m.gwp_set.clone(),
                    m.text_hash.clone(),
                    m.deployed_height.to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    for (title, header, rows) in tables(d) {
        html_table(&mut out, title, &header, &rows);
    }
    let q = &d.data_quality;
    out.push_str(&format!(
        "<h2>Data quality</h2>\n<p>{} of {} days have metered figures; {} months evaluated.</p>\n<ul>\n",
        q.metered_days, q.days, q.months_evaluated
    ));
    for n in q.unconverted.iter().chain(&q.notes) {
        out.push_str(&format!("<li>{}</li>\n", html_escape(n)));
    }
    out.push_str("</ul>\n</body></html>\n");
    out
}
