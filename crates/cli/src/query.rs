//! `trustmeter query`: energy figures from a node's figures API and the registry and readings
//! lists, printed as readable tables (or the node's JSON with `--json`, its CSV with `--csv` where
//! the API has one).
//!
//! Lists (`meters`, `gateways`, `organisations`, `readings`) are paged by the node: one page is
//! printed with the cursor of the next (`--after`); `--all` follows the cursors to the end (at
//! most [`MAX_LIST_PAGES`] pages).
//!
//! Every command is one `GET` to the first node that answers (the others are tried when a node
//! cannot be reached or is unavailable); an API error is printed with its code and message and
//! exits with code 1.

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bound on each HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Exit code: the node answered with an error.
const EXIT_API_ERROR: i32 = 1;
/// Most pages `--all` walks.
pub const MAX_LIST_PAGES: usize = 10_000;

/// Paging options of a list.
#[derive(Args, Debug)]
pub struct PageArgs {
    /// Start after this cursor (the `next` of a previous page).
    #[arg(long, conflicts_with = "all")]
    pub after: Option<String>,
    /// Items per page (the node's default when absent; registry lists at most 1000, readings 10000).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Follow the cursors and print every page.
    #[arg(long)]
    pub all: bool,
}

/// Options shared by every query.
#[derive(Args, Debug)]
pub struct QueryCommon {
    /// A node's API URL, e.g. http://127.0.0.1:8080; repeat to fail over between nodes.
    #[arg(long = "node", value_name = "URL", required = true)]
    pub nodes: Vec<String>,
    /// Print the node's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Sign every request with this member account key file (RFC 9421): a node that enforces
    /// access rules serves what the key's organisation may read.
    #[arg(long, value_name = "KEYFILE")]
    pub key: Option<std::path::PathBuf>,
    /// The environment variable holding the key file's passphrase, if it is encrypted.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
}

/// The key every request of this process is signed with (set once from `--key`).
static SIGNER: std::sync::OnceLock<Option<trustmeter_crypto::SigningKey>> = std::sync::OnceLock::new();

fn common(cmd: &QueryCommand) -> &QueryCommon {
    match cmd {
        QueryCommand::Meters { common, .. }
        | QueryCommand::Gateways { common, .. }
        | QueryCommand::Organisations { common, .. }
        | QueryCommand::Methodologies { common, .. }
        | QueryCommand::Readings { common, .. }
        | QueryCommand::Daily { common, .. }
        | QueryCommand::Series { common, .. }
        | QueryCommand::Ranking { common, .. }
        | QueryCommand::Quality { common, .. }
        | QueryCommand::Enterprise { common, .. }
        | QueryCommand::Carbon { common, .. }
        | QueryCommand::CarbonEntries { common, .. }
        | QueryCommand::CarbonYear { common, .. }
        | QueryCommand::CarbonReport { common, .. }
        | QueryCommand::Compliance { common, .. }
        | QueryCommand::Epoch { common }
        | QueryCommand::Validators { common }
        | QueryCommand::Token { common, .. }
        | QueryCommand::WhatIf { common, .. }
        | QueryCommand::CarbonProof { common, .. }
        | QueryCommand::Evidence { common, .. }
        | QueryCommand::Tou { common, .. }
        | QueryCommand::Shifts { common, .. }
        | QueryCommand::Balance { common, .. }
        | QueryCommand::AccessLog { common, .. }
        | QueryCommand::Grants { common, .. } => common,
    }
}

/// Loads `--key` once for the process.
fn load_signer(c: &QueryCommon) -> Result<()> {
    let key = match &c.key {
        Some(path) => {
            let pass = c.passphrase_env.as_deref().map(trustmeter_keystore::passphrase_from_env).transpose()?;
            let (key, _) = trustmeter_keystore::KeyFile::load(path, pass.as_deref().map(String::as_str))
                .with_context(|| format!("loading key file {}", path.display()))?;
            Some(key)
        }
        None => None,
    };
    let _ = SIGNER.set(key);
    Ok(())
}

/// Figures queries and lists.
#[derive(Subcommand, Debug)]
pub enum QueryCommand {
    /// Registered meters (finalized state), in id order.
    Meters {
        #[command(flatten)]
        common: QueryCommon,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Registered gateways, in id order.
    Gateways {
        #[command(flatten)]
        common: QueryCommon,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Member organisations, in credit-code order.
    Organisations {
        #[command(flatten)]
        common: QueryCommon,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Carbon methodologies deployed on the chain (核算方法学), by id then version.
    Methodologies {
        #[command(flatten)]
        common: QueryCommon,
        #[command(flatten)]
        page: PageArgs,
    },
    /// A meter's recorded readings in time order, each with its proof path.
    Readings {
        #[command(flatten)]
        common: QueryCommon,
        /// The meter id.
        #[arg(long)]
        meter: String,
        /// From (Unix ms, inclusive).
        #[arg(long)]
        from: Option<i64>,
        /// To (Unix ms, exclusive).
        #[arg(long)]
        to: Option<i64>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// An enterprise's consensus daily figures (日能耗), each with its proof link.
    Daily {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise (unified social credit code).
        #[arg(long)]
        org: String,
        /// First day, YYYY-MM-DD (Asia/Shanghai).
        #[arg(long)]
        from: String,
        /// Last day, inclusive (default: --from).
        #[arg(long)]
        to: Option<String>,
        /// Only this energy kind (electricity, water, natural_gas, ...).
        #[arg(long)]
        energy: Option<String>,
        /// Print the node's CSV.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// A time series of a meter or location (derived from readings) or of an enterprise or region
    /// (sums of consensus daily figures).
    Series {
        #[command(flatten)]
        common: QueryCommon,
        /// meter, location, org or region.
        #[arg(long)]
        scope: String,
        /// Meter id, location path (site-01/stamping), credit code or region code.
        #[arg(long)]
        id: String,
        /// The enterprise of a location path.
        #[arg(long)]
        org: Option<String>,
        /// Energy kind (not needed for a meter).
        #[arg(long)]
        energy: Option<String>,
        /// Unit, when the kind appears in several.
        #[arg(long)]
        unit: Option<String>,
        /// 15m, hour, day, month or year.
        #[arg(long, default_value = "day")]
        period: String,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day, inclusive (default: --from).
        #[arg(long)]
        to: Option<String>,
        /// Most points before the period is coarsened.
        #[arg(long)]
        max_points: Option<usize>,
        /// Print the node's CSV.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Enterprises of a region ranked by comprehensive consumption in standard coal.
    Ranking {
        #[command(flatten)]
        common: QueryCommon,
        /// Region code: 430000 (province), 430100 (city), ...
        #[arg(long)]
        region: String,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day, inclusive (default: --from).
        #[arg(long)]
        to: Option<String>,
        /// equivalent (当量值) or equal_value (等价值).
        #[arg(long, default_value = "equivalent")]
        basis: String,
        /// Most entries.
        #[arg(long)]
        limit: Option<usize>,
        /// Print the node's CSV.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Data-quality indices of an enterprise, or of a region's enterprises and their sum.
    Quality {
        #[command(flatten)]
        common: QueryCommon,
        /// One enterprise.
        #[arg(long, conflicts_with = "region", required_unless_present = "region")]
        org: Option<String>,
        /// A region's enterprises.
        #[arg(long)]
        region: Option<String>,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day, inclusive (default: --from).
        #[arg(long)]
        to: Option<String>,
    },
    /// An enterprise's month: comprehensive consumption (综合能耗), unit-product consumption, and
    /// the deviation from its monthly report.
    Enterprise {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// The month, YYYYMM.
        #[arg(long)]
        month: String,
    },
    /// An enterprise's emissions in a month from its metered energy (derived): per source and
    /// gas, the GB/T 32150 total and the dual Scope 2, with every factor's source.
    Carbon {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// The month, YYYYMM.
        #[arg(long)]
        month: String,
        /// Methodology id (default GB/T 32150-2015).
        #[arg(long)]
        methodology: Option<String>,
    },
    /// An enterprise's carbon year: the chain's twelve month results and their sums.
    CarbonYear {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// The year, YYYY.
        #[arg(long)]
        year: String,
        /// CSV (one row per month and a total) instead of a table.
        #[arg(long)]
        csv: bool,
    },
    /// An enterprise's carbon report document (monthly deposit or annual report): a draft from the
    /// chain's data now, or with --filed the document as filed; JSON (canonical), HTML or CSV.
    CarbonReport {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// `2026-03` (a month's deposit) or `2026` (the annual report).
        #[arg(long)]
        period: String,
        /// json (default), html or csv.
        #[arg(long, default_value = "json")]
        format: String,
        /// The filed document instead of a draft.
        #[arg(long)]
        filed: bool,
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The offline proof of an enterprise's verified emissions of a year, with sampled daily
    /// figures and readings; check it with `trustmeter verify --carbon FILE`.
    CarbonProof {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// The reporting year.
        #[arg(long)]
        year: String,
        /// Days whose daily figures to include, YYYY-MM-DD, comma-separated.
        #[arg(long, default_value = "")]
        days: String,
        /// Readings to include, METER:SEQ, comma-separated (each with its full proof bundle).
        #[arg(long, default_value = "")]
        readings: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// The current epoch: its heights, its validator set, the next one, the one already elected
    /// after it, and the token totals.
    Epoch {
        #[command(flatten)]
        common: QueryCommon,
    },
    /// Every registered validator: stake, self-stake, commission, standing, and blocks proposed
    /// and leader turns missed in the current epoch.
    Validators {
        #[command(flatten)]
        common: QueryCommon,
    },
    /// An organisation's token account: balance, rewards to claim, stakes, unbonding entries
    /// (the organisation itself or a regulator of its region: give --key).
    Token {
        #[command(flatten)]
        common: QueryCommon,
        /// The organisation (credit code).
        #[arg(long)]
        org: String,
    },
    /// An enterprise's compliance year (履约): filed reports, verification, quota position with the
    /// year-end forecast, and the calendar of deadlines.
    Compliance {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// The year, YYYY.
        #[arg(long)]
        year: String,
    },
    /// A what-if scenario over a year (green power share, efficiency gains, fuel switches, extra
    /// certificates) through the enterprise's methodology, with the quota position. Writes nothing.
    WhatIf {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// The year, YYYY.
        #[arg(long)]
        year: String,
        /// The scenario, a JSON or TOML file (`green_power_share = "0.3"`, `[[efficiency]] target
        /// = "electricity" gain = "0.1"`, `[[fuel_switch]] from = "diesel" to = "natural_gas" share = "1"`).
        #[arg(long)]
        scenario: PathBuf,
    },
    /// An enterprise's documented carbon entries of a month (台账) as recorded, with their
    /// evidence hashes and whether the node holds each file.
    CarbonEntries {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// The month, YYYYMM.
        #[arg(long)]
        month: String,
    },
    /// Downloads an evidence file and checks it against its hash (the one an entry names).
    Evidence {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// The file's content hash (64 hex digits).
        #[arg(long)]
        hash: String,
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Time-of-use electricity and cost per tier, and multi-rate meter reconciliations.
    Tou {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day, inclusive (default: --from).
        #[arg(long)]
        to: Option<String>,
    },
    /// Per-shift and per-team unit consumption (班次、班组单耗) of an enterprise: every shift
    /// instance of its calendar with its team, energy (derived from readings), output and kgce /
    /// kWh per unit, then the comparison per shift and per team with the best and worst.
    Shifts {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// First production day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last production day, inclusive (default: --from; at most 366 days).
        #[arg(long)]
        to: Option<String>,
        /// Only this energy kind (its standard coal alone then).
        #[arg(long)]
        energy: Option<String>,
        /// Print the node's CSV (one row per shift instance and product).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Master/sub-meter balance (总分表平衡) of an enterprise: per master meter, per day and over
    /// the range, the master's consumption, the sum of its sub-meters', the difference and the
    /// loss rate, with the completeness of the data behind each (derived from readings).
    Balance {
        #[command(flatten)]
        common: QueryCommon,
        /// The enterprise.
        #[arg(long)]
        org: String,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day, inclusive (default: --from; at most 92 days).
        #[arg(long)]
        to: Option<String>,
        /// Print the node's CSV (one row per master meter and day).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Who read an organisation's data, and when (newest first; signed by it or its regulator).
    AccessLog {
        #[command(flatten)]
        common: QueryCommon,
        /// The organisation.
        #[arg(long)]
        org: String,
        /// Most entries (at most 1 000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only entries older than this id (the last id of the previous page).
        #[arg(long)]
        before: Option<u64>,
    },
    /// The grants an organisation made: who may read what of its data, until when; with
    /// `--received`, the grants other organisations made to it (a page at a time).
    Grants {
        #[command(flatten)]
        common: QueryCommon,
        /// The organisation.
        #[arg(long)]
        org: String,
        /// List the grants made to `--org` instead of by it.
        #[arg(long)]
        received: bool,
        #[command(flatten)]
        page: PageArgs,
    },
}

/// Runs a query command.
pub fn run(cmd: QueryCommand) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(run_async(cmd))
}

/// A query string from `(name, value)` pairs, leaving out absent values.
fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v)))).collect();
    parts.join("&")
}

/// Percent-encodes a query value (everything but unreserved characters and `/`).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GETs `path` from the first node that answers; returns the body text of a 200 answer.
async fn get(nodes: &[String], path: &str) -> Result<String> {
    send(nodes, path, None).await
}

/// GET `path` (or POST `body` to it, as JSON) on the first node that answers, signed when a
/// signer is loaded; the answer's text.
async fn send(nodes: &[String], path: &str, body: Option<&[u8]>) -> Result<String> {
    let http = trustmeter_api_client::http_builder(None)?.timeout(REQUEST_TIMEOUT).build()?;
    let mut last = None;
    for node in nodes {
        let url = format!("{}{path}", node.trim_end_matches('/'));
        let mut req = match body {
            None => http.get(&url).build()?,
            Some(b) => http.post(&url).header("content-type", "application/json").body(b.to_vec()).build()?,
        };
        if let Some(key) = SIGNER.get().and_then(Option::as_ref) {
            trustmeter_api_client::sign_request(&mut req, key);
        }
        let resp = match http.execute(req).await {
            Ok(r) => r,
            Err(e) => {
                last = Some(anyhow!("{url}: {e}"));
                continue;
            }
        };
        let status = resp.status();
        let text = resp.text().await.with_context(|| format!("reading the answer of {url}"))?;
        if status.is_success() {
            return Ok(text);
        }
        let (code, message) = match serde_json::from_str::<Value>(&text) {
            Ok(v) => {
                (v["code"].as_str().unwrap_or("error").to_string(), v["message"].as_str().unwrap_or(&text).to_string())
            }
            Err(_) => ("error".into(), text),
        };
        if status.as_u16() == 503 {
            last = Some(anyhow!("{url}: {code}: {message}"));
            continue;
        }
        eprintln!("error: HTTP {}: {code}: {message}", status.as_u16());
        std::process::exit(EXIT_API_ERROR);
    }
    Err(last.unwrap_or_else(|| anyhow!("no node given")).context("no node answered; check --node"))
}

async fn get_json(nodes: &[String], path: &str) -> Result<Value> {
    let text = get(nodes, path).await?;
    serde_json::from_str(&text).with_context(|| format!("the answer to {path} is not JSON"))
}

async fn run_async(cmd: QueryCommand) -> Result<()> {
    load_signer(common(&cmd))?;
    let s = |v: &str| Some(v.to_string());
    match cmd {
        QueryCommand::Meters { common, page } => list_pages(&common, "/v1/meters", vec![], page, print_meters).await,
        QueryCommand::Gateways { common, page } => {
            list_pages(&common, "/v1/gateways", vec![], page, print_gateways).await
        }
        QueryCommand::Organisations { common, page } => {
            list_pages(&common, "/v1/organisations", vec![], page, print_organisations).await
        }
        QueryCommand::Methodologies { common, page } => {
            list_pages(&common, "/v1/methodologies", vec![], page, print_methodologies).await
        }
        QueryCommand::Readings { common, meter, from, to, page } => {
            let q = vec![("from", from.map(|v| v.to_string())), ("to", to.map(|v| v.to_string()))];
            list_pages(&common, &format!("/v1/meters/{}/readings", encode(&meter)), q, page, print_readings).await
        }
        QueryCommand::Daily { common, org, from, to, energy, csv } => {
            let q = query_string(&[
                ("org", s(&org)),
                ("from", s(&from)),
                ("to", to),
                ("energy", energy),
                ("format", csv.then(|| "csv".to_string())),
            ]);
            output(&common, csv, &format!("/v1/figures/daily?{q}"), print_daily).await
        }
        QueryCommand::Series { common, scope, id, org, energy, unit, period, from, to, max_points, csv } => {
            let q = query_string(&[
                ("scope", s(&scope)),
                ("id", s(&id)),
                ("org", org),
                ("energy", energy),
                ("unit", unit),
                ("period", s(&period)),
                ("from", s(&from)),
                ("to", to),
                ("max_points", max_points.map(|n| n.to_string())),
                ("format", csv.then(|| "csv".to_string())),
            ]);
            output(&common, csv, &format!("/v1/figures/series?{q}"), print_series).await
        }
        QueryCommand::Ranking { common, region, from, to, basis, limit, csv } => {
            let q = query_string(&[
                ("region", s(&region)),
                ("from", s(&from)),
                ("to", to),
                ("basis", s(&basis)),
                ("limit", limit.map(|n| n.to_string())),
                ("format", csv.then(|| "csv".to_string())),
            ]);
            output(&common, csv, &format!("/v1/figures/ranking?{q}"), print_ranking).await
        }
        QueryCommand::Quality { common, org, region, from, to } => {
            let q = query_string(&[("org", org), ("region", region), ("from", s(&from)), ("to", to)]);
            output(&common, false, &format!("/v1/quality?{q}"), print_quality).await
        }
        QueryCommand::Enterprise { common, org, month } => {
            let q = query_string(&[("month", s(&month))]);
            output(&common, false, &format!("/v1/enterprises/{}/energy?{q}", encode(&org)), print_enterprise).await
        }
        QueryCommand::Carbon { common, org, month, methodology } => {
            let q = query_string(&[("month", s(&month)), ("methodology", methodology)]);
            output(&common, false, &format!("/v1/enterprises/{}/carbon?{q}", encode(&org)), print_carbon).await
        }
        QueryCommand::CarbonEntries { common, org, month } => {
            let q = query_string(&[("month", s(&month))]);
            output(&common, false, &format!("/v1/enterprises/{}/carbon/entries?{q}", encode(&org)), print_entries).await
        }
        QueryCommand::Evidence { common, org, hash, out } => evidence(&common, &org, &hash, &out).await,
        QueryCommand::CarbonYear { common, org, year, csv } => {
            let format = csv.then(|| "csv".to_string());
            let q = query_string(&[("year", s(&year)), ("format", format)]);
            output(&common, csv, &format!("/v1/enterprises/{}/carbon/year?{q}", encode(&org)), print_carbon_year).await
        }
        QueryCommand::CarbonReport { common, org, period, format, filed, out } => {
            let filed = filed.then(|| "true".to_string());
            let q = query_string(&[("period", s(&period)), ("format", s(&format)), ("filed", filed)]);
            let text = get(&common.nodes, &format!("/v1/enterprises/{}/carbon/report?{q}", encode(&org))).await?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
                    println!("{} bytes written to {}", text.len(), path.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        QueryCommand::CarbonProof { common, org, year, days, readings, out } => {
            let q = query_string(&[("year", s(&year)), ("days", (!days.is_empty()).then(|| days.clone()))]);
            let text = get(&common.nodes, &format!("/v1/enterprises/{}/carbon/proof?{q}", encode(&org))).await?;
            let mut proof: trustmeter_client::CarbonProof =
                serde_json::from_str(&text).context("the node's answer is not a carbon proof")?;
            for r in readings.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                let (meter, seq) = r.rsplit_once(':').with_context(|| format!("--readings {r:?} is not METER:SEQ"))?;
                let path = format!("/v1/meters/{}/readings/{}/proof", encode(meter), encode(seq));
                let bundle = get(&common.nodes, &path).await?;
                proof.readings.push(serde_json::from_str(&bundle).with_context(|| format!("the proof of {r}"))?);
            }
            std::fs::write(&out, serde_json::to_string_pretty(&proof)?)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}: {} state document(s), {} daily figure(s), {} reading(s); check it with trustmeter verify --carbon {}",
                out.display(),
                proof.state.len(),
                proof.figures.len(),
                proof.readings.len(),
                out.display()
            );
            Ok(())
        }
        QueryCommand::Epoch { common } => output(&common, false, "/v1/epoch", print_epoch).await,
        QueryCommand::Validators { common } => output(&common, false, "/v1/validators", print_validators).await,
        QueryCommand::Token { common, org } => {
            output(&common, false, &format!("/v1/token/{}", encode(&org)), print_token).await
        }
        QueryCommand::Compliance { common, org, year } => {
            let q = query_string(&[("year", s(&year))]);
            output(&common, false, &format!("/v1/enterprises/{}/carbon/compliance?{q}", encode(&org)), print_compliance)
                .await
        }
        QueryCommand::WhatIf { common, org, year, scenario } => {
            let text = std::fs::read_to_string(&scenario).with_context(|| format!("reading {}", scenario.display()))?;
            let parsed: trustmeter_carbon::Scenario = if scenario.extension().is_some_and(|e| e == "toml") {
                toml::from_str(&text).with_context(|| format!("{} is not a scenario", scenario.display()))?
            } else {
                serde_json::from_str(&text).with_context(|| format!("{} is not a scenario", scenario.display()))?
            };
            let body = serde_json::to_vec(&parsed)?;
            let q = query_string(&[("year", s(&year))]);
            let path = format!("/v1/enterprises/{}/carbon/what-if?{q}", encode(&org));
            let v: Value = serde_json::from_str(&send(&common.nodes, &path, Some(&body)).await?)
                .with_context(|| format!("the answer to {path} is not JSON"))?;
            if common.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_what_if(&v);
            }
            Ok(())
        }
        QueryCommand::Tou { common, org, from, to } => {
            let q = query_string(&[("org", s(&org)), ("from", s(&from)), ("to", to)]);
            output(&common, false, &format!("/v1/figures/tou?{q}"), print_tou).await
        }
        QueryCommand::Shifts { common, org, from, to, energy, csv } => {
            let q = query_string(&[
                ("from", s(&from)),
                ("to", to),
                ("energy", energy),
                ("format", csv.then(|| "csv".to_string())),
            ]);
            output(&common, csv, &format!("/v1/enterprises/{}/shifts?{q}", encode(&org)), print_shifts).await
        }
        QueryCommand::Balance { common, org, from, to, csv } => {
            let q = query_string(&[("from", s(&from)), ("to", to), ("format", csv.then(|| "csv".to_string()))]);
            output(&common, csv, &format!("/v1/enterprises/{}/balance?{q}", encode(&org)), print_balance).await
        }
        QueryCommand::AccessLog { common, org, limit, before } => {
            let q = query_string(&[
                ("org", s(&org)),
                ("limit", Some(limit.to_string())),
                ("before", before.map(|b| b.to_string())),
            ]);
            output(&common, false, &format!("/v1/access-log?{q}"), print_access_log).await
        }
        QueryCommand::Grants { common, org, received: true, page } => {
            list_pages(&common, "/v1/grants/received", vec![("org", s(&org))], page, print_received_grants).await
        }
        QueryCommand::Grants { common, org, received: false, page } => {
            if page.after.is_some() || page.limit.is_some() || page.all {
                bail!(
                    "--after, --limit and --all page the grants received (--received); an organisation's own grants come in one answer"
                );
            }
            let q = query_string(&[("org", s(&org))]);
            output(&common, false, &format!("/v1/grants?{q}"), print_grants).await
        }
    }
}

fn print_access_log(v: &Value) {
    rows(v, &["id", "at_ms", "reader", "request", "key"]);
}

fn print_grants(v: &Value) {
    rows(v, &["grantee", "scope", "expires_at_ms", "granted_at_ms"]);
}

fn print_received_grants(items: &[Value]) {
    rows(&Value::Array(items.to_vec()), &["owner", "scope", "expires_at_ms", "granted_at_ms"]);
}

/// A table of the fields `columns` of every object in a JSON array (times in local minutes).
fn rows(v: &Value, columns: &[&str]) {
    println!("{}", columns.join("  "));
    for r in v.as_array().map(Vec::as_slice).unwrap_or_default() {
        let line: Vec<String> = columns
            .iter()
            .map(|c| match (*c, &r[*c]) {
                ("at_ms" | "expires_at_ms" | "granted_at_ms", Value::Number(n)) => {
                    n.as_i64().map(trustmeter_energy::calendar::local_minute).unwrap_or_else(|| n.to_string())
                }
                (_, x) => cell(x),
            })
            .collect();
        println!("{}", line.join("  "));
    }
}

/// Fetches one page of a list (or every page with `--all`) and prints the items as a table (or
/// the JSON `{items, next}`), with the cursor of the next page.
async fn list_pages(
    common: &QueryCommon,
    path: &str,
    mut query: Vec<(&str, Option<String>)>,
    page: PageArgs,
    table: fn(&[Value]),
) -> Result<()> {
    query.push(("limit", page.limit.map(|n| n.to_string())));
    let mut items: Vec<Value> = Vec::new();
    let mut after = page.after.clone();
    let mut next = None;
    for _ in 0..MAX_LIST_PAGES {
        let mut q = query.clone();
        q.push(("after", after.clone()));
        let v = get_json(&common.nodes, &format!("{path}?{}", query_string(&q))).await?;
        items.extend(list(&v["items"]).iter().cloned());
        next = v["next"].as_str().map(str::to_string);
        if !page.all || next.is_none() || next == after {
            break;
        }
        after = next.clone();
    }
    if common.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "items": items, "next": next }))?);
        return Ok(());
    }
    table(&items);
    match next {
        Some(n) => println!("{} shown; next page: --after {n}", items.len()),
        None => println!("{} shown; end of the list", items.len()),
    }
    Ok(())
}

fn print_meters(items: &[Value]) {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|m| {
            let mut r = cells(m, &["id", "owner", "gateway", "energy", "unit", "status"]);
            r.push(m["calibration"]["valid_until_ms"].as_i64().map(local_time).unwrap_or_else(|| "-".into()));
            r
        })
        .collect();
    table(&["meter", "owner", "gateway", "energy", "unit", "status", "calibrated until"], &rows);
}

fn print_gateways(items: &[Value]) {
    let rows: Vec<Vec<String>> = items.iter().map(|g| cells(g, &["id", "owner", "status", "public_key"])).collect();
    table(&["gateway", "owner", "status", "public key"], &rows);
}

fn print_organisations(items: &[Value]) {
    let rows: Vec<Vec<String>> = items.iter().map(|o| cells(o, &["id", "name", "kind", "region"])).collect();
    table(&["organisation", "name", "kind", "region"], &rows);
}

fn print_methodologies(items: &[Value]) {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|m| {
            cells(m, &["id", "version", "effective_from", "effective_to", "deployed_height", "deployed_by", "title"])
        })
        .collect();
    table(&["methodology", "version", "from", "to", "height", "deployed by", "title"], &rows);
}

fn print_readings(items: &[Value]) {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|r| {
            let mut row = vec![cell(&r["seq"]), r["timestamp_ms"].as_i64().map(local_time).unwrap_or_default()];
            row.extend(cells(r, &["value", "unit", "origin", "signer", "height", "proof"]));
            row
        })
        .collect();
    table(&["seq", "time (Asia/Shanghai)", "value", "unit", "origin", "signer", "height", "proof"], &rows);
}

/// Unix ms as Asia/Shanghai local time (UTC+8, no daylight saving).
fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms + 8 * 3_600_000)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Prints the CSV as served, the JSON pretty-printed, or a table.
async fn output(common: &QueryCommon, csv: bool, path: &str, table: fn(&Value)) -> Result<()> {
    if csv {
        print!("{}", get(&common.nodes, path).await?);
        return Ok(());
    }
    let v = get_json(&common.nodes, path).await?;
    if common.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        table(&v);
    }
    Ok(())
}

/// A JSON value as table text: strings bare, null as `-`.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The fields of `row` named in `fields`, as [`cell`]s.
fn cells(row: &Value, fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| cell(&row[*f])).collect()
}

/// Prints rows under a header with aligned columns (numbers right-aligned).
fn table(header: &[&str], rows: &[Vec<String>]) {
    let width = |s: &str| s.chars().map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 }).sum::<usize>();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(width(c));
        }
    }
    let numeric = |c: &str| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_digit() || ".-% ".contains(ch));
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let pad = " ".repeat(w.saturating_sub(width(c)));
                if numeric(c) { format!("{pad}{c}") } else { format!("{c}{pad}") }
            })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for r in rows {
        line(r.clone());
    }
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn notes(v: &Value) {
    for n in list(&v["notes"]) {
        println!("note: {}", cell(n));
    }
}

fn print_daily(v: &Value) {
    println!(
        "{} {} (region {}), {} .. {}, finalized height {}",
        cell(&v["org"]),
        cell(&v["org_name"]),
        cell(&v["region"]),
        cell(&v["from"]),
        cell(&v["to"]),
        cell(&v["height"])
    );
    let rows: Vec<Vec<String>> = list(&v["figures"])
        .iter()
        .map(|f| {
            vec![
                cell(&f["label"]),
                cell(&f["energy"]),
                cell(&f["unit"]),
                cell(&f["consumption"]),
                cell(&f["estimated"]),
                cell(&f["manual"]),
                format!("{}/{}", cell(&f["on_time"]), cell(&f["points"])),
                cell(&f["kgce_equivalent"]),
                cell(&f["kgce_equal_value"]),
                cell(&f["proof"]),
            ]
        })
        .collect();
    table(
        &["day", "energy", "unit", "consumption", "estimated", "manual", "on time", "kgce 当量", "kgce 等价", "proof"],
        &rows,
    );
}

fn print_series(v: &Value) {
    println!(
        "{} {} ({} in {}), {} per {} from {} to {}{}",
        cell(&v["scope"]),
        cell(&v["id"]),
        cell(&v["energy"]),
        cell(&v["unit"]),
        if v["derived"] == true { "derived from readings" } else { "consensus daily figures" },
        cell(&v["period"]),
        cell(&v["from"]),
        cell(&v["to"]),
        if v["coarsened"] == true { format!(" (asked {})", cell(&v["requested_period"])) } else { String::new() }
    );
    notes(v);
    let rows: Vec<Vec<String>> = list(&v["points"])
        .iter()
        .map(|p| cells(p, &["label", "consumption", "estimated", "manual", "kgce_equivalent", "kgce_equal_value"]))
        .collect();
    table(&["period", "consumption", "estimated", "manual", "kgce 当量", "kgce 等价"], &rows);
    println!(
        "total {} {} = {} kgce (equivalent), {} kgce (equal value)",
        cell(&v["total"]),
        cell(&v["unit"]),
        cell(&v["total_kgce_equivalent"]),
        cell(&v["total_kgce_equal_value"])
    );
}

fn print_ranking(v: &Value) {
    println!(
        "region {}: {} enterprises, {} .. {}, ranked by {}; total {} kgce (equivalent), {} kgce (equal value)",
        cell(&v["region"]),
        cell(&v["enterprises"]),
        cell(&v["from"]),
        cell(&v["to"]),
        cell(&v["basis"]),
        cell(&v["total_kgce_equivalent"]),
        cell(&v["total_kgce_equal_value"])
    );
    let rows: Vec<Vec<String>> = list(&v["entries"])
        .iter()
        .map(|e| cells(e, &["rank", "org", "name", "region", "kgce_equivalent", "kgce_equal_value", "tce", "figures"]))
        .collect();
    table(&["rank", "org", "name", "region", "kgce 当量", "kgce 等价", "tce", "figures"], &rows);
}

fn print_quality(v: &Value) {
    println!(
        "quality {} .. {} (points expected until {} ms, one per {} ms per active meter), height {}",
        cell(&v["from"]),
        cell(&v["to"]),
        cell(&v["evaluated_until_ms"]),
        cell(&v["nominal_interval_ms"]),
        cell(&v["height"])
    );
    let entries: Vec<&Value> =
        list(&v["enterprises"]).iter().chain(v["total"].as_object().map(|_| &v["total"])).collect();
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                if e["org"].is_null() { "region total".into() } else { cell(&e["org"]) },
                format!(
                    "{} ({}/{})",
                    cell(&e["completeness"]),
                    cell(&e["counts"]["received_points"]),
                    cell(&e["counts"]["expected_points"])
                ),
                cell(&e["timeliness"]),
                cell(&e["accuracy"]),
                e["index"]["deviation_bp"]
                    .as_u64()
                    .map(|b| format!("{}.{:02} %", b / 100, b % 100))
                    .unwrap_or("-".into()),
                cell(&e["composite"]),
            ]
        })
        .collect();
    table(&["enterprise", "completeness", "timeliness", "accuracy", "deviation", "composite"], &rows);
    for e in entries {
        for f in list(&e["flags"]) {
            println!("{}: {}", if e["org"].is_null() { "region".into() } else { cell(&e["org"]) }, cell(f));
        }
    }
}

/// Downloads an evidence file, checks its bytes against `hash` with the chain's hash algorithm
/// and writes it to `out`.
async fn evidence(common: &QueryCommon, org: &str, hash: &str, out: &Path) -> Result<()> {
    let org = trustmeter_types::UnifiedSocialCreditCode::new(org.trim()).map_err(|e| anyhow!("--org: {e}"))?;
    let hash = trustmeter_types::Hash32::from_hex(hash.trim()).map_err(|e| anyhow!("--hash: {e}"))?;
    let mut client = trustmeter_api_client::NodeClient::new(common.nodes.clone(), REQUEST_TIMEOUT)?;
    if let Some(key) = SIGNER.get().and_then(Option::as_ref) {
        client = client.with_signer(key.clone());
    }
    let alg = client.status().await.context("reading the chain's hash algorithm from GET /v1/status")?.hash_alg;
    let data =
        client.get_evidence(&org, &hash).await?.with_context(|| format!("no node holds evidence {hash} of {org}"))?;
    let actual = trustmeter_crypto::hash(alg, &data);
    ensure!(actual == hash, "the node served bytes that hash to {actual}, not {hash}: not written");
    std::fs::write(out, &data).with_context(|| format!("writing {}", out.display()))?;
    println!("{} bytes, {} {hash}: matches; written to {}", data.len(), alg.name(), out.display());
    Ok(())
}

fn print_epoch(v: &Value) {
    println!(
        "epoch {} (heights {}–{}, {} blocks), finalized height {}",
        cell(&v["epoch"]),
        cell(&v["first_height"]),
        cell(&v["last_height"]),
        cell(&v["epoch_length"]),
        cell(&v["height"])
    );
    for (label, key) in [("current", "current"), ("next", "next"), ("elected", "elected")] {
        let set = &v[key];
        if set.is_null() {
            println!("{label:>8}: not elected yet");
            continue;
        }
        let names: Vec<String> = set["members"]
            .as_array()
            .map(|m| m.iter().map(|m| format!("{} ({})", cell(&m["name"]), cell(&m["stake"]))).collect())
            .unwrap_or_default();
        println!("{label:>8}: epoch {}: {}", cell(&set["epoch"]), names.join(", "));
    }
    let t = &v["totals"];
    let sym = cell(&v["params"]["token"]["symbol"]);
    println!(
        "  supply {} {sym}: balances {}, bonded {}, unbonding {}, pool {}, unclaimed {}; issued {}, slashed {}",
        cell(&t["supply"]),
        cell(&t["balances"]),
        cell(&t["bonded"]),
        cell(&t["unbonding"]),
        cell(&t["pool"]),
        cell(&t["unclaimed"]),
        cell(&t["issued"]),
        cell(&t["slashed"])
    );
}

fn print_validators(v: &Value) {
    let rows: Vec<Vec<String>> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let mut c = cells(r, &["name", "org", "bonded", "self_stake", "commission_percent"]);
                    let set = match (r["in_current_set"].as_bool(), r["in_next_set"].as_bool()) {
                        (Some(true), Some(true)) => "now, next",
                        (Some(true), _) => "now",
                        (_, Some(true)) => "next",
                        _ => "-",
                    };
                    c.push(set.into());
                    c.push(cells(r, &["proposed", "missed", "uptime_percent"]).join("/"));
                    c.push(if r["jailed_until"].is_null() {
                        "-".into()
                    } else {
                        format!("until epoch {}", cell(&r["jailed_until"]))
                    });
                    c
                })
                .collect()
        })
        .unwrap_or_default();
    table(&["name", "org", "bonded", "self", "commission %", "set", "proposed/missed/uptime %", "jailed"], &rows);
}

fn print_token(v: &Value) {
    let sym = cell(&v["symbol"]);
    println!(
        "{}: balance {} {sym}, claimable {} {sym} (rewards earned in all {} {sym})",
        cell(&v["org"]),
        cell(&v["balance"]),
        cell(&v["claimable"]),
        cell(&v["earned_total"])
    );
    for s in v["stakes"].as_array().into_iter().flatten() {
        println!(
            "  staked {} on {} ({}), pending rewards {}",
            cell(&s["bonded"]),
            cell(&s["name"]),
            cell(&s["validator"]),
            cell(&s["pending_rewards"])
        );
    }
    for u in v["unbonding"].as_array().into_iter().flatten() {
        println!(
            "  unbonding {} from {}, released in epoch {}",
            cell(&u["amount"]),
            cell(&u["validator"]),
            cell(&u["release_epoch"])
        );
    }
}

fn print_compliance(v: &Value) {
    let q = &v["quota"];
    println!(
        "{} {}: year to date {} t CO2e, forecast {} t ({}); quota {} t{}; {}",
        cell(&v["org"]),
        cell(&v["year"]),
        cell(&q["year_to_date_t"]),
        cell(&q["forecast_t"]),
        cell(&q["forecast_basis"]),
        cell(&q["quota_t"]),
        if q["reference"] == Value::Bool(true) { " (own reference)" } else { "" },
        if q["alarm"] == Value::Bool(true) { "ALARM: the forecast exceeds the quota" } else { "within quota" }
    );
    println!(
        "allowances available {} t (banked in {} t), surrendered {} t + offsets {} t against an obligation of {} t{}",
        cell(&q["available_t"]),
        cell(&q["banked_in_t"]),
        cell(&q["surrendered_t"]),
        cell(&q["offsets_t"]),
        cell(&q["obligation_t"]),
        if q["compliant"] == Value::Bool(true) { ": compliant" } else { "" }
    );
    match &v["verification"] {
        Value::Null => println!("verification: not assigned"),
        ver => println!(
            "verification: {} by {}, final {} µt",
            cell(&ver["status"]),
            cell(&ver["verifier"]),
            cell(&ver["final_ut"])
        ),
    }
    let rows: Vec<Vec<String>> = list(&v["reports"])
        .iter()
        .map(|r| cells(r, &["period", "kind", "revision", "height", "on_time", "standard_t", "stale", "hash"]))
        .collect();
    table(&["period", "kind", "rev", "height", "on time", "GB/T 32150 t", "stale", "hash"], &rows);
    let rows: Vec<Vec<String>> =
        list(&v["deadlines"]).iter().map(|d| cells(d, &["what", "due", "days_left", "done"])).collect();
    table(&["deadline", "due", "days left", "done"], &rows);
}

fn print_what_if(v: &Value) {
    println!(
        "{} {} with {} ({})",
        cell(&v["org"]),
        cell(&v["year"]),
        cell(&v["methodology"]),
        list(&v["months"]).len()
    );
    let side = |name: &str, t: &Value, surplus: &Value| {
        vec![
            name.to_string(),
            cell(&t["standard_t"]),
            cell(&t["scope1_t"]),
            cell(&t["scope2_location_t"]),
            cell(&t["scope2_market_t"]),
            cell(surplus),
        ]
    };
    table(
        &["", "GB/T 32150 t", "scope 1 t", "scope 2 location t", "scope 2 market t", "quota − emissions t"],
        &[
            side("baseline", &v["baseline"], &v["baseline_surplus_t"]),
            side("scenario", &v["scenario"], &v["scenario_surplus_t"]),
        ],
    );
    println!(
        "change {} t CO2e; quota {} t; unused certificates {} MWh",
        cell(&v["change_t"]),
        cell(&v["quota_t"]),
        cell(&v["certificates_unused_mwh"])
    );
    for n in list(&v["notes"]) {
        println!("note: {}", cell(n));
    }
}

fn print_carbon_year(v: &Value) {
    println!(
        "{} {}: GB/T 32150 total {} t CO2e; Scope 1 {} t; Scope 2 {} t location-based, {} t market-based (Σ of the chain's month results)",
        cell(&v["org"]),
        cell(&v["year"]),
        cell(&v["standard_t"]),
        cell(&v["scope1_t"]),
        cell(&v["scope2_location_t"]),
        cell(&v["scope2_market_t"])
    );
    let rows: Vec<Vec<String>> = list(&v["months"])
        .iter()
        .map(|m| {
            cells(m, &["month", "standard_t", "scope1_t", "scope2_location_t", "scope2_market_t", "entries", "height"])
        })
        .collect();
    table(&["month", "standard t", "scope 1 t", "location t", "market t", "entries", "height"], &rows);
    for n in list(&v["notes"]) {
        println!("note: {}", cell(n));
    }
}

fn print_entries(v: &Value) {
    println!(
        "{} month {}: monitoring plan {}, height {}",
        cell(&v["org"]),
        cell(&v["month"]),
        cell(&v["methodology"]),
        cell(&v["height"])
    );
    let rows: Vec<Vec<String>> = list(&v["entries"])
        .iter()
        .map(|e| {
            let entry = &e["entry"];
            let kind = if entry["data"].is_null() { "withdrawn".to_string() } else { cell(&entry["data"]["kind"]) };
            let held = list(&e["evidence_held"]).iter().filter(|h| **h == Value::Bool(true)).count();
            let files = list(&entry["evidence"]);
            let names = files.iter().map(|f| cell(&f["name"])).collect::<Vec<_>>().join(" ");
            vec![
                cell(&entry["number"]),
                kind,
                cell(&e["revision"]),
                cell(&e["height"]),
                format!("{held}/{}", files.len()),
                names,
            ]
        })
        .collect();
    table(&["no", "kind", "rev", "height", "held", "evidence"], &rows);
}

fn print_carbon(v: &Value) {
    println!(
        "{} month {}{}: {} v{} (GWP {}), province {}, {}",
        cell(&v["org"]),
        cell(&v["month"]),
        if v["complete"] == true { "" } else { " (partial)" },
        cell(&v["methodology"]),
        cell(&v["version"]),
        cell(&v["gwp_set"]),
        cell(&v["province"]),
        if v["derived"] == false {
            format!("the chain's results (computed by every validator at height {})", cell(&v["consensus_height"]))
        } else {
            "derived on request (not the enterprise's plan, or no result on the chain)".to_string()
        }
    );
    println!(
        "GB/T 32150 total {} t CO2e; Scope 1 {} t; Scope 2 {} t location-based, {} t market-based; biomass {} t apart",
        cell(&v["standard_t"]),
        cell(&v["scope1_t"]),
        cell(&v["scope2_location_t"]),
        cell(&v["scope2_market_t"]),
        cell(&v["biogenic_t"])
    );
    let rows: Vec<Vec<String>> = list(&v["lines"])
        .iter()
        .map(|l| {
            let mut row = cells(l, &["source", "item", "gas", "scope", "mass_t", "co2e_t"]);
            row.push(list(&l["views"]).iter().map(cell).collect::<Vec<_>>().join(" "));
            row
        })
        .collect();
    table(&["source", "item", "gas", "scope", "mass t", "CO2e t", "views"], &rows);
    let rows: Vec<Vec<String>> =
        list(&v["factors"]).iter().map(|f| cells(f, &["name", "value", "unit", "confidence", "source"])).collect();
    table(&["factor", "value", "unit", "tag", "source"], &rows);
    for u in list(&v["unconverted"]) {
        println!(
            "not converted: {} {} {}: {}",
            cell(&u["consumed"]),
            cell(&u["unit"]),
            cell(&u["energy"]),
            cell(&u["reason"])
        );
    }
    if !v["intensity"].is_null() {
        println!("output {}; intensity {} t CO2e per unit of output", cell(&v["output"]), cell(&v["intensity"]));
    }
    for e in list(&v["entries"]) {
        println!(
            "entry {}: {} (revision {}, height {}), evidence {}",
            cell(&e["number"]),
            cell(&e["kind"]),
            cell(&e["revision"]),
            cell(&e["height"]),
            list(&e["evidence"]).iter().map(cell).collect::<Vec<_>>().join(" ")
        );
    }
    for n in list(&v["notes"]) {
        println!("note: {}", cell(n));
    }
}

fn print_enterprise(v: &Value) {
    println!(
        "{} {} (region {}), month {}{}",
        cell(&v["org"]),
        cell(&v["name"]),
        cell(&v["region"]),
        cell(&v["month"]),
        if v["complete"] == true { "" } else { " (partial)" }
    );
    println!(
        "comprehensive energy consumption (综合能耗): {} kgce equivalent (当量值), {} kgce equal value (等价值), {} tce",
        cell(&v["comprehensive_kgce_equivalent"]),
        cell(&v["comprehensive_kgce_equal_value"]),
        cell(&v["comprehensive_tce_equivalent"])
    );
    let rows: Vec<Vec<String>> = list(&v["kinds"])
        .iter()
        .map(|k| {
            vec![
                cell(&k["energy"]),
                cell(&k["unit"]),
                cell(&k["consumption"]),
                cell(&k["kgce_equivalent"]),
                cell(&k["kgce_equal_value"]),
                cell(&k["reported"]),
                cell(&k["deviation"]),
                match k["deviation_ok"].as_bool() {
                    Some(true) => "ok".into(),
                    Some(false) => "> 5 %".into(),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    table(&["energy", "unit", "daily sum", "kgce 当量", "kgce 等价", "reported", "deviation", "5 % rule"], &rows);
    let rows: Vec<Vec<String>> = list(&v["unit_product"])
        .iter()
        .map(|p| {
            vec![
                cell(&p["product"]),
                format!("{} {}", cell(&p["output"]), cell(&p["unit"])),
                cell(&p["kgce_per_unit_equivalent"]),
                cell(&p["kgce_per_unit_equal_value"]),
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!();
        table(&["product", "output", "kgce/unit 当量", "kgce/unit 等价"], &rows);
    }
    notes(v);
}

fn print_tou(v: &Value) {
    println!(
        "{} time of use, {} .. {}, schedules {}",
        cell(&v["org"]),
        cell(&v["from"]),
        cell(&v["to"]),
        cell(&v["schedules"])
    );
    let rows: Vec<Vec<String>> =
        list(&v["tiers"]).iter().map(|t| cells(t, &["tier", "name", "kwh", "cost_cny"])).collect();
    table(&["tier", "名称", "kWh", "cost CNY"], &rows);
    println!(
        "total {} kWh ({} untiered); cost {}{}",
        cell(&v["total_kwh"]),
        cell(&v["untiered_kwh"]),
        cell(&v["cost_cny"]),
        v["cost_note"].as_str().map(|n| format!(" ({n})")).unwrap_or_default()
    );
    for r in list(&v["reconciliations"]) {
        println!();
        println!(
            "multi-rate meter {} ({}): {}",
            cell(&r["total_meter"]),
            list(&r["registers"]).iter().map(cell).collect::<Vec<_>>().join(", "),
            if r["mismatch"] == true { format!("MISMATCH: {}", cell(&r["reason"])) } else { "registers agree".into() }
        );
        let rows: Vec<Vec<String>> = list(&r["computed"])
            .iter()
            .zip(list(&r["reported"]))
            .zip(list(&r["diff_bp"]))
            .map(|((c, rep), d)| vec![cell(&c["tier"]), cell(&c["amount"]), cell(&rep["amount"]), cell(d)])
            .collect();
        table(&["tier", "computed kWh", "registers kWh", "diff bp"], &rows);
    }
    notes(v);
}

/// `12.5 件` of a product's output.
fn output_of(p: &Value) -> String {
    format!("{} {}", cell(&p["quantity"]), cell(&p["unit"]))
}

fn print_shifts(v: &Value) {
    println!(
        "{} {}: shifts {} .. {} (energy derived from {} readings of {} meters; standard coal by {})",
        cell(&v["org"]),
        cell(&v["name"]),
        cell(&v["from"]),
        cell(&v["to"]),
        cell(&v["readings"]),
        cell(&v["meters"]),
        cell(&v["reference"])
    );
    let mut rows: Vec<Vec<String>> = vec![];
    for i in list(&v["instances"]) {
        let start = cell(&i["start"]);
        let end = cell(&i["end"]);
        let window = format!(
            "{}–{}{}",
            start.get(11..).unwrap_or(&start),
            end.get(11..).unwrap_or(&end),
            if i["complete"] == true { "" } else { " …" }
        );
        let head = [
            cell(&i["day"]),
            cell(&i["shift"]),
            cell(&i["team"]),
            window,
            cell(&i["electricity_kwh"]),
            cell(&i["kgce_equivalent"]),
        ];
        let products = list(&i["products"]);
        if products.is_empty() {
            rows.push(head.iter().cloned().chain(["-".into(), "-".into(), "-".into()]).collect());
        }
        for p in products {
            rows.push(
                head.iter()
                    .cloned()
                    .chain([output_of(p), cell(&p["kgce_per_unit_equivalent"]), cell(&p["kwh_per_unit"])])
                    .collect(),
            );
        }
    }
    table(&["day", "shift", "team", "window", "kWh", "kgce 当量", "output", "kgce/unit", "kWh/unit"], &rows);
    let group_rows = |groups: &[Value]| -> Vec<Vec<String>> {
        let mut rows = vec![];
        for g in groups {
            let head =
                [cell(&g["name"]), cell(&g["instances"]), cell(&g["electricity_kwh"]), cell(&g["kgce_equivalent"])];
            let products = list(&g["products"]);
            if products.is_empty() {
                rows.push(head.iter().cloned().chain(["-".into(), "-".into(), "-".into()]).collect());
            }
            for p in products {
                rows.push(
                    head.iter()
                        .cloned()
                        .chain([output_of(p), cell(&p["kgce_per_unit_equivalent"]), cell(&p["kwh_per_unit"])])
                        .collect(),
                );
            }
        }
        rows
    };
    let c = &v["comparison"];
    let header = ["", "shifts", "kWh", "kgce 当量", "output", "kgce/unit", "kWh/unit"];
    let mut by_shift = group_rows(list(&c["by_shift"]));
    by_shift.extend(group_rows(std::slice::from_ref(&c["total"])));
    println!();
    println!("by shift (班次, complete shifts):");
    table(&header, &by_shift);
    if !list(&c["by_team"]).is_empty() {
        println!();
        println!("by team (班组):");
        table(&header, &group_rows(list(&c["by_team"])));
    }
    for b in list(&c["best_worst"]) {
        let pick = |p: &Value| {
            if p.is_null() {
                "-".to_string()
            } else {
                format!("{} {}", cell(&p["name"]), cell(&p["kgce_per_unit_equivalent"]))
            }
        };
        println!(
            "{} ({}): best shift {}, worst shift {}; best team {}, worst team {} (kgce per unit, 当量)",
            cell(&b["product"]),
            cell(&b["unit"]),
            pick(&b["best_shift"]),
            pick(&b["worst_shift"]),
            pick(&b["best_team"]),
            pick(&b["worst_team"])
        );
    }
    notes(v);
}

fn print_balance(v: &Value) {
    println!(
        "{}: master/sub-meter balance (总分表平衡) {} .. {} (derived from {} readings; * = incomplete data)",
        cell(&v["org"]),
        cell(&v["from"]),
        cell(&v["to"]),
        cell(&v["readings"])
    );
    let mut rows: Vec<Vec<String>> = vec![];
    for m in list(&v["masters"]) {
        let unit = cell(&m["unit"]);
        for r in list(&m["days"]).iter().chain([&m["total"]]) {
            let complete = if r["complete"] == true { "" } else { " *" };
            rows.push(vec![
                cell(&m["meter"]["id"]),
                format!("{}{complete}", cell(&r["label"])),
                format!("{} {unit}", cell(&r["master"])),
                cell(&r["subs"]),
                cell(&r["difference"]),
                if r["loss_rate_percent"].is_null() {
                    "-".into()
                } else {
                    format!("{} %", cell(&r["loss_rate_percent"]))
                },
                format!("{}/{}", cell(&r["complete_days"]), cell(&r["days"])),
            ]);
        }
        rows.push(vec![
            String::new(),
            format!("{} sub-meters", list(&m["subs"]).len()),
            cell(&m["meter"]["name"]),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    table(&["master 总表", "day", "master", "Σ sub-meters 分表", "difference", "loss rate", "complete days"], &rows);
    notes(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_shanghai() {
        assert_eq!(local_time(0), "1970-01-01 08:00:00");
        assert_eq!(local_time(1_795_190_400_000), "2026-11-21 00:00:00");
    }

    #[test]
    fn query_strings_are_encoded() {
        let q = query_string(&[
            ("org", Some("91430100MA4L00001X".into())),
            ("to", None),
            ("id", Some("site 01/a&b".into())),
        ]);
        assert_eq!(q, "org=91430100MA4L00001X&id=site%2001/a%26b");
    }
}
