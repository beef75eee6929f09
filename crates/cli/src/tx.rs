//! `trustmeter tx`: sign one registry transaction with a key file, submit it to the chain's
//! nodes and wait until it is finalized.
//!
//! Every command reads the chain id from `GET /v1/status`, the sender's next nonce from
//! `GET /v1/accounts/{key}` (last finalized nonce + 1), signs, submits and follows the
//! transaction. Run one sender's commands one after the other: two at once would pick the same
//! nonce.

use anyhow::{Context, Result, anyhow, bail, ensure};
use chrono::{DateTime, NaiveDate, TimeZone};
use chrono_tz::Asia::Shanghai;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Duration;
use trustmeter_api_client::{NodeClient, TxStatus};
use trustmeter_chain::ceremony::OrgFile;
use trustmeter_crypto::{SigningKey, sign_tx, tx_hash};
use trustmeter_keystore::{KeyFile, KeyInfo, passphrase_from_env};
use trustmeter_types::carbon::MAX_EVIDENCE_BYTES;
use trustmeter_types::economy::{StakingOp, validator_proof_payload};
use trustmeter_types::limits::MAX_POLICY_BYTES;
use trustmeter_types::tx::{MeterSpec, ProductOutput, ReportedConsumption};
use trustmeter_types::{
    AccuracyClass, Calibration, ChainId, DeviceId, EnergyKind, LocationPath, MembershipAction, NewAccount, PublicKey,
    Quantity, RegisterKind, Transaction, TxBody, TxOutcome, TxPayload, UnifiedSocialCreditCode, Unit,
    account_proof_payload, rotation_proof_payload,
};
use trustmeter_types::{CarbonEntry, CarbonEntryData, Evidence, EvidenceKind};
use trustmeter_types::{KeyScheme, economy::parse_amount as parse_tokens};

/// Bound on each HTTP request to a node.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the transaction's status is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Default wait for finality, seconds.
const DEFAULT_WAIT_SECS: u64 = 60;
/// Exit code: the chain rejected the transaction (at admission or in its block).
const EXIT_REJECTED: i32 = 1;
/// Exit code: the transaction was not finalized within the wait (it may still be).
const EXIT_NOT_FINALIZED: i32 = 2;
/// Most fraction digits in a register maximum (micro-units).
const MAX_QUANTITY_DECIMALS: usize = 6;
/// Most fraction digits in an accuracy class (hundredths of a percent).
const MAX_ACCURACY_DECIMALS: usize = 2;

/// Options shared by every transaction command.
#[derive(Args, Debug)]
pub struct TxCommon {
    /// A node's API URL, e.g. http://127.0.0.1:8080; repeat to fail over between nodes of the
    /// same chain.
    #[arg(long = "node", value_name = "URL", required = true)]
    pub nodes: Vec<String>,
    /// The sender's key file.
    #[arg(long, value_name = "KEYFILE")]
    pub key: PathBuf,
    /// The environment variable holding the key file's passphrase, if it is encrypted.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// Print the receipt (or rejection) as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for finality before giving up (exit code 2; it may still finalize).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_WAIT_SECS)]
    pub wait: u64,
}

/// Transaction commands. Exit code 0: finalized and accepted; 1: rejected (the code and reason
/// are printed); 2: not finalized in time.
#[derive(Subcommand, Debug)]
pub enum TxCommand {
    /// Add a key to the sender's own organisation (not a regulator's: use `propose --action
    /// add-account`). The new key proves possession: give its key file, or the proof its holder
    /// made with `trustmeter keys account-proof`.
    RegisterAccount(RegisterAccountArgs),
    /// Revoke one of the sender's own organisation's account keys for good (not its last; not a
    /// regulator's: use `propose --action revoke-account`).
    RevokeAccount(RevokeAccountArgs),
    /// Propose a membership change: admit, suspend, reinstate or remove an organisation, add or
    /// revoke one of its account keys. Executes at once when one approval suffices (an
    /// enterprise's provincial regulator); otherwise other regulators `approve` it.
    Propose(ProposeArgs),
    /// Approve a pending membership proposal (by the proposing transaction's hash).
    Approve(ApproveArgs),
    /// Let another member read one scope of the sender's organisation's data (registry,
    /// readings, figures, alarms) until a date (数据授权); checked at every read.
    Grant(GrantArgs),
    /// End a grant at once.
    RevokeGrant(RevokeGrantArgs),
    /// Set what the public may read of a region's enterprises (信息公开): rankings, regional
    /// figures (a regulator covering the region only).
    SetDisclosure(SetDisclosureArgs),
    /// Publish the sender's organisation's energy figures to everyone until a date (or withdraw
    /// them with --withdraw).
    PublishFigures(PublishFiguresArgs),
    /// Register a gateway to the sender's enterprise.
    RegisterGateway(RegisterGatewayArgs),
    /// Register a meter to the sender's enterprise.
    RegisterMeter(RegisterMeterArgs),
    /// Record a calibration certificate (metrology authority only, for its own certificates).
    Calibrate(CalibrateArgs),
    /// Activate a registered gateway or meter (regulator only).
    Activate(DeviceArgs),
    /// Revoke a gateway or meter for good (regulator, or the owning enterprise).
    Revoke(RevokeArgs),
    /// Replace a device's signing key with a new key generated on the device (the owning
    /// enterprise, or a gateway itself).
    RotateKey(RotateKeyArgs),
    /// Deploy a new version of the audit policy (regulator only), effective at a later height.
    DeployPolicy(DeployPolicyArgs),
    /// Deploy a carbon methodology document (an industry association or a regulator): version 1
    /// of a new id, or the next version of a deployed one, checked locally first.
    DeployMethodology(DeployMethodologyArgs),
    /// Record a meter replacement (换表): the old register's final value and the new one's first
    /// (metrology authority only: it attests both values).
    ReplaceMeter(ReplaceMeterArgs),
    /// File the enterprise's monthly report (月报): consumption per energy kind and production
    /// output per product.
    MonthlyReport(MonthlyReportArgs),
    /// Record, correct or withdraw a documented carbon entry (台账) of the sender's enterprise:
    /// its evidence files are uploaded to every node first and named by their hash.
    CarbonEntry(CarbonEntryArgs),
    /// Set the sender's enterprise's monitoring plan (监测计划): the methodology its carbon
    /// accounts use from a month on.
    CarbonPlan(CarbonPlanArgs),
    /// Void an enterprise's documented carbon entry (a regulator covering its region), releasing
    /// the green certificates it claimed.
    VoidCarbonEntry(VoidCarbonEntryArgs),
    /// File the sender's enterprise's monthly evidence deposit or annual report: the node's
    /// document for the period is fetched, hashed here, kept in every node's evidence store and
    /// signed; the validators accept it only if it is the document their own state gives.
    CarbonReport(CarbonReportArgs),
    /// One step of the verification (核查) of an enterprise's annual report: assign (regulator),
    /// statement (the assigned verifier), accept or object (the enterprise), decide (regulator).
    Verification(VerificationArgs),
    /// One operation on an enterprise's quota account (配额): allocate (regulator), reference,
    /// surrender or bank (the enterprise).
    Quota(QuotaArgs),
    /// Move tokens (通证) of the sender's organisation to another member (refused on a chain whose
    /// token is non-transferable reward points).
    Transfer(TransferArgs),
    /// A staking operation of the sender's organisation: register-validator, edit-validator,
    /// delegate, undelegate, claim, unjail.
    Staking(StakingArgs),
    /// Deploy the next version of the reward schedule (奖励规则: shares of each epoch's pool,
    /// points as CEL formulas; regulator only), checked locally first; it applies from an epoch
    /// after the current one.
    DeployRewardSchedule(DeployRewardScheduleArgs),
    /// Set a version of the sender's enterprise's shift calendar (排班表): shifts (班次), teams
    /// (班组) and rotation (倒班) from a day on, read from a TOML file (see `ShiftCalendarArgs`).
    ShiftCalendar(ShiftCalendarArgs),
    /// Record or correct the production output of one shift (班次产量) of the sender's
    /// enterprise: per product, for a day and shift of its calendar; the team defaults to the
    /// rotation's.
    ShiftOutput(ShiftOutputArgs),
}

/// `tx shift-calendar`. The file (TOML):
///
/// ```toml
/// effective_from = "2026-11-01"            # first day it applies to (Asia/Shanghai)
/// teams = ["甲", "乙", "丙", "丁"]          # 班组 (optional)
///
/// [[shift]]                                # 1 to 8, in the order a day runs them
/// name = "早班"
/// start = "06:00"
/// end = "14:00"
/// [[shift]]
/// name = "中班"
/// start = "14:00"
/// end = "22:00"
/// [[shift]]
/// name = "夜班"
/// start = "22:00"
/// end = "06:00"                            # at or before start: ends the next day
///
/// [rotation]                               # optional: which team works which shift
/// start = "2026-11-01"                     # first day of the cycle
/// days = [                                 # one row per day of the cycle (1 to 64), one team
///   ["甲", "乙", "丙"],                     # per shift in shift order ("-": not run that day)
///   ["丁", "甲", "乙"],
/// ]
/// ```
#[derive(Args, Debug)]
pub struct ShiftCalendarArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The calendar file (TOML, see above).
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
}

/// `tx shift-output`.
#[derive(Args, Debug)]
pub struct ShiftOutputArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The production day the shift starts on, YYYY-MM-DD (a night shift belongs to the day it
    /// starts).
    #[arg(long)]
    day: String,
    /// The shift's name in the calendar in force that day (e.g. 早班).
    #[arg(long)]
    shift: String,
    /// The team that worked it (default: the one recorded before, else the rotation's).
    #[arg(long)]
    team: Option<String>,
    /// A product's name (as in the monthly report); repeat with --quantity and --unit per product.
    #[arg(long, required = true)]
    product: Vec<String>,
    /// Its output, a decimal with at most six places (the n-th --quantity is the n-th product's).
    #[arg(long, required = true)]
    quantity: Vec<String>,
    /// Its unit of output (e.g. 辆, t).
    #[arg(long, required = true)]
    unit: Vec<String>,
    /// A note (what was counted, why a correction).
    #[arg(long, default_value = "")]
    note: String,
}

/// A shift calendar file (see [`ShiftCalendarArgs`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    effective_from: String,
    #[serde(default)]
    teams: Vec<String>,
    shift: Vec<CalendarShift>,
    rotation: Option<CalendarRotation>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarShift {
    name: String,
    start: String,
    end: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarRotation {
    start: String,
    days: Vec<Vec<String>>,
}

/// `YYYY-MM-DD` as the chain's `YYYYMMDD`.
fn parse_date_code(s: &str, what: &str) -> Result<u32> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .with_context(|| format!("{what} {s:?} is not a date YYYY-MM-DD"))?;
    let code = d.format("%Y%m%d").to_string().parse::<u32>().context("a date")?;
    trustmeter_types::shifts::check_date(code).map_err(|e| anyhow!("{what}: {e}"))?;
    Ok(code)
}

/// `HH:MM` (00:00 to 24:00; 24:00 is midnight, 0) as minutes after midnight.
fn parse_minute(s: &str, what: &str) -> Result<u16> {
    let (h, m) = s.trim().split_once(':').with_context(|| format!("{what} {s:?} is not HH:MM"))?;
    let (h, m): (u16, u16) = (
        h.parse().map_err(|_| anyhow!("{what} {s:?} is not HH:MM"))?,
        m.parse().map_err(|_| anyhow!("{what} {s:?} is not HH:MM"))?,
    );
    ensure!(m < 60 && (h < 24 || (h == 24 && m == 0)), "{what} {s:?} is not a time of day 00:00–24:00");
    Ok((h * 60 + m) % 1_440)
}

/// Reads a shift calendar file and checks it as the chain will.
pub fn calendar_from_toml(text: &str) -> Result<trustmeter_types::ShiftCalendar> {
    let f: CalendarFile = toml::from_str(text).context("the calendar file")?;
    let shifts = f
        .shift
        .iter()
        .map(|s| {
            Ok(trustmeter_types::ShiftDef {
                name: s.name.clone(),
                start_minute: parse_minute(&s.start, &format!("shift {} start", s.name))?,
                end_minute: parse_minute(&s.end, &format!("shift {} end", s.name))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let rotation =
        match &f.rotation {
            None => None,
            Some(r) => {
                let days =
                    r.days
                        .iter()
                        .enumerate()
                        .map(|(d, row)| {
                            row.iter()
                                .map(|t| match t.trim() {
                                    "-" | "" => Ok(None),
                                    name => f.teams.iter().position(|x| x == name).map(|i| Some(i as u8)).with_context(
                                        || format!("rotation day {}: {name} is not one of `teams`", d + 1),
                                    ),
                                })
                                .collect::<Result<Vec<_>>>()
                        })
                        .collect::<Result<Vec<_>>>()?;
                Some(trustmeter_types::ShiftRotation { start: parse_date_code(&r.start, "rotation start")?, days })
            }
        };
    let calendar = trustmeter_types::ShiftCalendar {
        effective_from: parse_date_code(&f.effective_from, "effective_from")?,
        shifts,
        teams: f.teams,
        rotation,
    };
    calendar.check().map_err(|e| anyhow!("the calendar: {e}"))?;
    Ok(calendar)
}

/// `tx deploy-reward-schedule`.
#[derive(Args, Debug)]
pub struct DeployRewardScheduleArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The schedule document (TOML with CEL formulas; see `trustmeter_policy::reward`).
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
    /// First epoch it applies to (after the current one).
    #[arg(long, value_name = "EPOCH")]
    effective_epoch: u64,
}

/// `tx transfer`.
#[derive(Args, Debug)]
pub struct TransferArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The receiving organisation (credit code).
    #[arg(long)]
    to: String,
    /// Tokens, a decimal with at most six places (e.g. 12.5).
    #[arg(long)]
    amount: String,
    /// A note kept with the transaction (e.g. the data-sharing agreement it pays).
    #[arg(long, default_value = "")]
    memo: String,
}

/// `tx staking`.
#[derive(Args, Debug)]
pub struct StakingArgs {
    #[command(flatten)]
    common: TxCommon,
    /// register-validator, edit-validator, delegate, undelegate, claim or unjail.
    #[arg(long)]
    op: String,
    /// The validator's consensus key (64 hex characters); register-validator reads it from
    /// --validator-key instead.
    #[arg(long)]
    validator: Option<String>,
    /// register-validator: the validator's key file (its consensus key signs the proof of
    /// possession; the file never leaves this machine).
    #[arg(long, value_name = "KEYFILE")]
    validator_key: Option<PathBuf>,
    /// The environment variable holding the validator key file's passphrase, if encrypted.
    #[arg(long, value_name = "VAR")]
    validator_passphrase_env: Option<String>,
    /// register-validator: a short name.
    #[arg(long)]
    name: Option<String>,
    /// register-validator, edit-validator: where peers dial it, host:port.
    #[arg(long)]
    address: Option<String>,
    /// register-validator, edit-validator: commission on delegators' rewards, percent.
    #[arg(long)]
    commission: Option<u8>,
    /// delegate, undelegate: tokens, a decimal (e.g. 20000).
    #[arg(long)]
    amount: Option<String>,
}

/// `tx carbon-report`.
#[derive(Args, Debug)]
pub struct CarbonReportArgs {
    #[command(flatten)]
    common: TxCommon,
    /// `2026-03` (a month's deposit) or `2026` (the annual report); the period must have ended.
    #[arg(long)]
    period: String,
}

/// `tx verification`.
#[derive(Args, Debug)]
pub struct VerificationArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The enterprise whose report is verified.
    #[arg(long)]
    org: String,
    /// The reporting year.
    #[arg(long)]
    year: u32,
    /// assign, statement, accept, object or decide.
    #[arg(long)]
    step: String,
    /// assign: the verifier organisation's credit code.
    #[arg(long)]
    verifier: Option<String>,
    /// statement: a JSON file `{"opinion": "qualified", "findings": [{"severity": "misstatement",
    /// "subject": "...", "text": "...", "adjustment": "1.5"}], "verified": "123.4"}` (tonnes as
    /// decimal strings; `verified` = reported + adjustments; the report hash is the filed one).
    #[arg(long)]
    statement: Option<PathBuf>,
    /// decide: the final verified emissions, t CO2e.
    #[arg(long)]
    verified: Option<String>,
    /// object, decide: why.
    #[arg(long, default_value = "")]
    reason: String,
    /// statement: the signed verification report (核查报告) file, kept in every node's evidence
    /// store under the verifier's organisation and named in the statement.
    #[arg(long)]
    document: Option<PathBuf>,
}

/// `tx quota`.
#[derive(Args, Debug)]
pub struct QuotaArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The enterprise.
    #[arg(long)]
    org: String,
    /// The compliance year.
    #[arg(long)]
    year: u32,
    /// allocate (regulator), reference, surrender or bank (the enterprise).
    #[arg(long)]
    op: String,
    /// allocate: pre, final or adjustment.
    #[arg(long)]
    kind: Option<String>,
    /// Tonnes CO2e (allocate, reference, bank; surrender: allowances). An adjustment may be negative.
    #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["share", "benchmark"])]
    amount: Option<String>,
    /// allocate: the amount as this percentage of the previous year's final verified emissions,
    /// read from the chain (a pre-allocation: 70).
    #[arg(long, conflicts_with = "benchmark")]
    share: Option<String>,
    /// allocate: the amount as this intensity benchmark (t CO2e per unit of output) × the year's
    /// production output on the chain (a final allocation).
    #[arg(long)]
    benchmark: Option<String>,
    /// surrender: offsets (CCER), t CO2e (at most 5 % of the obligation).
    #[arg(long, default_value = "0")]
    offsets: String,
    /// allocate, reference: how the amount was computed.
    #[arg(long, default_value = "")]
    basis: String,
}

/// `tx void-carbon-entry`.
#[derive(Args, Debug)]
pub struct VoidCarbonEntryArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The enterprise (credit code).
    #[arg(long)]
    org: String,
    /// The entry's month, YYYYMM.
    #[arg(long)]
    month: u32,
    /// The entry's number.
    #[arg(long)]
    number: u32,
    /// Why (kept in the entry's note).
    #[arg(long)]
    reason: String,
}

/// `tx carbon-entry`.
#[derive(Args, Debug)]
pub struct CarbonEntryArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The month, YYYYMM.
    #[arg(long)]
    month: u32,
    /// The entry's number in the month (1–256); an existing number is corrected.
    #[arg(long)]
    number: u32,
    /// What the entry records: a JSON file such as
    /// `{"kind": "fgas", "gas": "SF6", "opening_t": "1.2", "closing_t": "0.8", "purchased_t": "0.5",
    /// "sold_t": "0", "fills": 12, "filling": {"method": "containers", "before_t": "3.0", "after_t": "2.1"}}`
    /// (kinds: fuel, fuel_analysis, fgas, welding, output, green_power, green_certificates; the
    /// `CarbonEntryData` schema of GET /openapi.json). Amounts are decimal strings.
    #[arg(long, value_name = "FILE", required_unless_present = "withdraw")]
    data: Option<PathBuf>,
    /// An evidence file as KIND:PATH (kind: invoice, settlement_voucher, lab_report,
    /// inventory_ledger, meter_photo, certificate, contract, other); repeat for several.
    #[arg(long = "evidence", value_name = "KIND:PATH")]
    evidence: Vec<String>,
    /// A note for the verifier.
    #[arg(long, default_value = "")]
    note: String,
    /// Withdraw the entry (releases any certificates it claimed).
    #[arg(long, conflicts_with = "data")]
    withdraw: bool,
}

/// `tx carbon-plan`.
#[derive(Args, Debug)]
pub struct CarbonPlanArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The methodology id, e.g. "GB/T 32151.29-2024" (trustmeter query methodologies lists them).
    #[arg(long)]
    methodology: String,
    /// First month it applies to, YYYYMM (the current month or later).
    #[arg(long)]
    from_month: u32,
}

/// The fields of an entry's data that are amounts: decimal strings in the CLI's file, micro-units
/// on the wire.
const AMOUNT_FIELDS: &[&str] = &[
    "amount",
    "ncv",
    "carbon_content",
    "opening_t",
    "closing_t",
    "purchased_t",
    "sold_t",
    "before_t",
    "after_t",
    "metered_t",
    "v_co2",
    "v_ar",
    "v_o2",
    "mwh",
];

/// Reads an entry's data file: amounts as decimal strings, turned into micro-units.
fn entry_data(path: &Path) -> Result<CarbonEntryData> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(text.len() <= 64 * 1024, "{} is larger than 64 KiB; an entry's data is a few lines", path.display());
    let mut v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    fn amounts(v: &mut serde_json::Value) -> Result<()> {
        if let serde_json::Value::Object(map) = v {
            for (k, x) in map.iter_mut() {
                if AMOUNT_FIELDS.contains(&k.as_str()) {
                    match x {
                        serde_json::Value::String(s) => {
                            let q = parse_amount(s).with_context(|| format!("{k}: {s:?}"))?;
                            *x = serde_json::Value::from(q.micros());
                        }
                        serde_json::Value::Null => {}
                        other => bail!("{k}: write amounts as decimal strings (\"1.25\"), not {other}"),
                    }
                } else {
                    amounts(x)?;
                }
            }
        }
        Ok(())
    }
    amounts(&mut v)?;
    let data: CarbonEntryData =
        serde_json::from_value(v).with_context(|| format!("{} is not an entry's data", path.display()))?;
    data.check().map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(data)
}

/// Uploads an entry's evidence files to every node, checking each names the file by the hash
/// computed here, and returns what the entry records of them.
/// Fetches the node's report document of the period, hashes it here, and keeps it in every
/// node's evidence store: what the filing signs is a document the enterprise holds.
async fn fetch_and_keep_report(
    a: &CarbonReportArgs,
    key: &SigningKey,
    org: &str,
    alg: trustmeter_crypto::HashAlg,
) -> Result<trustmeter_types::Hash32> {
    let org = code(org, "the sender's organisation")?;
    let period =
        trustmeter_types::compliance::ReportPeriod::parse(a.period.trim()).map_err(|e| anyhow!("--period: {e}"))?;
    let client = NodeClient::new(a.common.nodes.clone(), REQUEST_TIMEOUT)?.with_signer(key.clone());
    let bytes = client.carbon_report(&org, &period.label()).await.context("fetching the report document")?;
    trustmeter_carbon::report::ReportDocument::from_bytes(&bytes).context("the node's report document")?;
    let hash = trustmeter_crypto::hash(alg, &bytes);
    let nodes = client.put_evidence(&org, &bytes, &hash).await.context("keeping the report document")?;
    eprintln!(
        "{} report {} ({} bytes) {hash}: kept on {} node(s)",
        period.kind(),
        period.label(),
        bytes.len(),
        nodes.len()
    );
    Ok(hash)
}

/// The hash of the enterprise's filed annual report (what a verifier's statement is on).
async fn filed_annual_report(a: &VerificationArgs, key: &SigningKey) -> Result<trustmeter_types::Hash32> {
    let org = code(&a.org, "--org")?;
    let client = NodeClient::new(a.common.nodes.clone(), REQUEST_TIMEOUT)?.with_signer(key.clone());
    let v = client.compliance(&org, a.year).await.context("reading the enterprise's filed reports")?;
    let hash = v["reports"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["kind"] == "annual_report"))
        .and_then(|r| r["hash"].as_str())
        .with_context(|| format!("{org} has filed no {} annual report", a.year))?;
    trustmeter_types::Hash32::from_hex(hash).map_err(|e| anyhow!("the node's report hash: {e}"))
}

/// An allocation computed from the chain: `--share` % of the previous year's final verified
/// emissions, or `--benchmark` × the year's production output.
async fn allocation_from_chain(a: &QuotaArgs, key: &SigningKey) -> Result<(Quantity, String)> {
    let org = code(&a.org, "--org")?;
    let client = NodeClient::new(a.common.nodes.clone(), REQUEST_TIMEOUT)?.with_signer(key.clone());
    let micros = |v: &serde_json::Value, what: &str| -> Result<i64> {
        let s = v.as_str().with_context(|| format!("{what} is not on the chain"))?;
        parse_fixed(s, MAX_QUANTITY_DECIMALS).with_context(|| format!("{what} {s:?}"))
    };
    if let Some(share) = &a.share {
        let pct = parse_fixed(share.trim(), MAX_QUANTITY_DECIMALS).context("--share")?;
        ensure!((0..=100_000_000).contains(&pct), "--share is a percentage from 0 to 100");
        let last = a.year.checked_sub(1).context("--year")?;
        let v = client.compliance(&org, last).await.context("reading the previous year's verification")?;
        let verified = v["verification"]["final_ut"]
            .as_i64()
            .with_context(|| format!("{org}'s {last} emissions are not verified and final on the chain"))?;
        let amount = (i128::from(verified) * i128::from(pct) / 100_000_000) as i64;
        let basis = format!("{share} % x {last} verified {} t", trustmeter_carbon::report::tonnes(verified));
        return Ok((Quantity::from_micros(amount), basis));
    }
    let benchmark = a.benchmark.as_deref().context("--share or --benchmark")?;
    let b = parse_fixed(benchmark.trim(), MAX_QUANTITY_DECIMALS).context("--benchmark")?;
    let path = format!("/v1/enterprises/{org}/carbon/year?year={}", a.year);
    let v: serde_json::Value = client.get_json(&path).await.context("reading the year's output")?;
    let output = micros(&v["output"], "the year's production output")?;
    let amount = (i128::from(b) * i128::from(output) / 1_000_000) as i64;
    let basis =
        format!("benchmark {benchmark} t/unit x {} output {}", a.year, trustmeter_carbon::report::tonnes(output));
    Ok((Quantity::from_micros(amount), basis))
}

/// Uploads a verifier's signed report document to every node: it becomes the statement's
/// `document` (evidence of the verifier's organisation's, named by its hash).
async fn upload_document(
    a: &VerificationArgs,
    key: &SigningKey,
    org: &str,
    alg: trustmeter_crypto::HashAlg,
) -> Result<Evidence> {
    let path = a.document.as_ref().context("--document")?;
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(!data.is_empty() && data.len() as u64 <= MAX_EVIDENCE_BYTES, "{} must be 1 byte to 16 MiB", path.display());
    let hash = trustmeter_crypto::hash(alg, &data);
    let owner = code(org, "the verifier's organisation")?;
    let client = NodeClient::new(a.common.nodes.clone(), REQUEST_TIMEOUT)?.with_signer(key.clone());
    let nodes =
        client.put_evidence(&owner, &data, &hash).await.with_context(|| format!("uploading {}", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    eprintln!("verification report {name} ({} bytes) {hash}: stored on {} node(s)", data.len(), nodes.len());
    Ok(Evidence { hash, bytes: data.len() as u64, kind: EvidenceKind::Other, name })
}

/// A verifier's statement as written in its file (tonnes as decimal strings).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementFile {
    opinion: trustmeter_types::compliance::Opinion,
    #[serde(default)]
    findings: Vec<FindingFile>,
    verified: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingFile {
    severity: trustmeter_types::compliance::FindingSeverity,
    #[serde(default)]
    subject: String,
    text: String,
    #[serde(default)]
    adjustment: Option<String>,
}

fn tonnes_arg(s: &str, what: &str) -> Result<Quantity> {
    Ok(Quantity::from_micros(parse_fixed(s.trim(), MAX_QUANTITY_DECIMALS).with_context(|| what.to_string())?))
}

fn verification_payload(a: &VerificationArgs, ctx: &ChainContext) -> Result<TxPayload> {
    use trustmeter_types::compliance::{Finding, VerificationStatement, VerificationStep};
    let step = match a.step.as_str() {
        "assign" => VerificationStep::Assign {
            verifier: code(a.verifier.as_deref().context("--step assign needs --verifier")?, "--verifier")?,
        },
        "statement" => {
            let path = a.statement.as_ref().context("--step statement needs --statement FILE")?;
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let f: StatementFile =
                serde_json::from_str(&text).with_context(|| format!("{} is not a statement", path.display()))?;
            let findings = f
                .findings
                .into_iter()
                .enumerate()
                .map(|(i, x)| {
                    Ok(Finding {
                        number: i as u32 + 1,
                        severity: x.severity,
                        subject: x.subject,
                        text: x.text,
                        adjustment: match x.adjustment {
                            Some(v) => tonnes_arg(&v, "a finding's adjustment")?,
                            None => Quantity::default(),
                        },
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            VerificationStep::Statement {
                statement: VerificationStatement {
                    report: ctx.report.context("the filed annual report")?,
                    opinion: f.opinion,
                    findings,
                    verified: tonnes_arg(&f.verified, "verified")?,
                    document: ctx.document.clone(),
                },
            }
        }
        "accept" => VerificationStep::Accept,
        "object" => VerificationStep::Object { reason: a.reason.clone() },
        "decide" => VerificationStep::Decide {
            verified: tonnes_arg(a.verified.as_deref().context("--step decide needs --verified")?, "--verified")?,
            reason: a.reason.clone(),
        },
        other => bail!("--step {other:?}: use assign, statement, accept, object or decide"),
    };
    step.check().map_err(|e| anyhow!("the step: {e}"))?;
    Ok(TxPayload::Verification { org: code(&a.org, "--org")?, year: a.year, step })
}

fn quota_payload(a: &QuotaArgs, ctx: &ChainContext) -> Result<TxPayload> {
    use trustmeter_types::compliance::{AllocationKind, QuotaOp};
    let amount = || match &ctx.allocation {
        Some((q, _)) => Ok(*q),
        None => tonnes_arg(a.amount.as_deref().context("--amount is required")?, "--amount"),
    };
    let basis = match (&ctx.allocation, a.basis.is_empty()) {
        (Some((_, b)), true) => b.clone(),
        _ => a.basis.clone(),
    };
    let op = match a.op.as_str() {
        "allocate" => QuotaOp::Allocate {
            kind: match a.kind.as_deref() {
                Some("pre") => AllocationKind::Pre,
                Some("final") => AllocationKind::Final,
                Some("adjustment") => AllocationKind::Adjustment,
                _ => bail!("--op allocate needs --kind pre, final or adjustment"),
            },
            amount: amount()?,
            basis,
        },
        "reference" => QuotaOp::Reference { amount: amount()?, basis },
        "surrender" => QuotaOp::Surrender { allowances: amount()?, offsets: tonnes_arg(&a.offsets, "--offsets")? },
        "bank" => QuotaOp::Bank { amount: amount()? },
        other => bail!("--op {other:?}: use allocate, reference, surrender or bank"),
    };
    op.check().map_err(|e| anyhow!("the operation: {e}"))?;
    Ok(TxPayload::Quota { org: code(&a.org, "--org")?, year: a.year, op })
}

async fn upload_evidence(
    a: &CarbonEntryArgs,
    key: &SigningKey,
    org: &str,
    alg: trustmeter_crypto::HashAlg,
) -> Result<Vec<Evidence>> {
    let org = code(org, "the sender's organisation")?;
    let client = NodeClient::new(a.common.nodes.clone(), REQUEST_TIMEOUT)?.with_signer(key.clone());
    let mut out = Vec::new();
    for e in &a.evidence {
        let (kind, path) = e.split_once(':').with_context(|| format!("--evidence {e:?} is not KIND:PATH"))?;
        let kind: EvidenceKind = parse_snake(
            kind,
            "--evidence kind",
            "invoice, settlement_voucher, lab_report, inventory_ledger, meter_photo, certificate, contract, other",
        )?;
        let path = Path::new(path);
        let data = std::fs::read(path).with_context(|| format!("reading evidence {}", path.display()))?;
        ensure!(
            !data.is_empty() && data.len() as u64 <= MAX_EVIDENCE_BYTES,
            "{} has {} bytes; evidence is 1 byte to {MAX_EVIDENCE_BYTES}",
            path.display(),
            data.len()
        );
        let hash = trustmeter_crypto::hash(alg, &data);
        let nodes =
            client.put_evidence(&org, &data, &hash).await.with_context(|| format!("uploading {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        eprintln!("evidence {name} ({} bytes) {hash}: stored on {} node(s)", data.len(), nodes.len());
        out.push(Evidence { hash, bytes: data.len() as u64, kind, name });
    }
    Ok(out)
}

/// `tx register-account`.
#[derive(Args, Debug)]
pub struct RegisterAccountArgs {
    #[command(flatten)]
    common: TxCommon,
    #[command(flatten)]
    new: NewAccountArgs,
}

/// A new account key with its proof of possession.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("new_account").args(["account_key_file", "account_proof"]))]
pub struct NewAccountArgs {
    /// The new account's key file (its secret signs the proof of possession here).
    #[arg(long, value_name = "FILE")]
    account_key_file: Option<PathBuf>,
    /// The environment variable holding that key file's passphrase, if it is encrypted.
    #[arg(long, value_name = "VAR")]
    account_passphrase_env: Option<String>,
    /// The proof its holder made elsewhere (`trustmeter keys account-proof`, JSON).
    #[arg(long, value_name = "FILE")]
    account_proof: Option<PathBuf>,
}

/// `tx revoke-account`.
#[derive(Args, Debug)]
pub struct RevokeAccountArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The account key to revoke (`ed25519:<hex>`).
    #[arg(long)]
    public_key: String,
    /// Why (kept on chain).
    #[arg(long)]
    reason: String,
}

/// What a proposal does.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ProposalAction {
    /// Admit an organisation (`--org-file`, made by `trustmeter org init`).
    Admit,
    /// Suspend an organisation (`--org`, `--reason`).
    Suspend,
    /// Reinstate a suspended organisation (`--org`).
    Reinstate,
    /// Remove an organisation for good (`--org`, `--reason`).
    Remove,
    /// Add an account key to an organisation (`--org`, `--account-key-file` or `--account-proof`).
    AddAccount,
    /// Revoke an organisation's account key (`--org`, `--public-key`, `--reason`).
    RevokeAccount,
    /// Set the token policy (`--issuance`, `--cap`, `--transferable`, `--reason`), decided by
    /// the regulators together (k of n).
    SetTokenPolicy,
}

/// `tx propose`.
#[derive(Args, Debug)]
pub struct ProposeArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The change.
    #[arg(long, value_enum)]
    action: ProposalAction,
    /// The organisation concerned (credit code); for `admit`, read from `--org-file`.
    #[arg(long)]
    org: Option<String>,
    /// For `admit`: the organisation file (`trustmeter-org/v1`) its holder made with
    /// `trustmeter org init` for this chain.
    #[arg(long, value_name = "FILE")]
    org_file: Option<PathBuf>,
    /// For `suspend`, `remove`, `revoke-account`: why (kept on chain).
    #[arg(long)]
    reason: Option<String>,
    /// For `revoke-account`: the key.
    #[arg(long)]
    public_key: Option<String>,
    /// For `set-token-policy`: tokens issued into the reward pool at each epoch's end (decimal,
    /// at most six decimals).
    #[arg(long)]
    issuance: Option<String>,
    /// For `set-token-policy`: the supply cap, tokens (at least the supply already issued).
    #[arg(long)]
    cap: Option<String>,
    /// For `set-token-policy`: whether members may transfer tokens (`false`: reward points).
    #[arg(long)]
    transferable: Option<bool>,
    #[command(flatten)]
    new: NewAccountArgs,
}

/// `tx grant`.
#[derive(Args, Debug)]
pub struct GrantArgs {
    #[command(flatten)]
    common: TxCommon,
    /// Who may read (credit code of a member organisation).
    #[arg(long)]
    grantee: String,
    /// What: registry, readings, figures or alarms.
    #[arg(long)]
    scope: String,
    /// Until: a date YYYY-MM-DD (Asia/Shanghai, through 24:00 of that day) or an RFC 3339 instant.
    #[arg(long)]
    until: String,
}

/// `tx revoke-grant`.
#[derive(Args, Debug)]
pub struct RevokeGrantArgs {
    #[command(flatten)]
    common: TxCommon,
    /// Who may no longer read.
    #[arg(long)]
    grantee: String,
    /// What: registry, readings, figures or alarms.
    #[arg(long)]
    scope: String,
}

/// `tx set-disclosure`.
#[derive(Args, Debug)]
pub struct SetDisclosureArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The region (GB/T 2260, e.g. 430000); it applies to every region inside it.
    #[arg(long)]
    region: u32,
    /// Rankings of the region's enterprises become public.
    #[arg(long)]
    rankings: bool,
    /// The region's aggregate figures (regional series, data quality) become public.
    #[arg(long)]
    regional_figures: bool,
}

/// `tx publish-figures`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("when").required(true).args(["until", "withdraw"]))]
pub struct PublishFiguresArgs {
    #[command(flatten)]
    common: TxCommon,
    /// Until: a date YYYY-MM-DD (Asia/Shanghai, through 24:00) or an RFC 3339 instant.
    #[arg(long)]
    until: Option<String>,
    /// Withdraw a publication at once.
    #[arg(long)]
    withdraw: bool,
}

/// `tx approve`.
#[derive(Args, Debug)]
pub struct ApproveArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The proposal: the hash of the transaction that made it (64 hex characters).
    #[arg(long)]
    proposal: String,
}

/// `tx register-gateway`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("gw_key").required(true).args(["public_key", "gateway_key_file"]))]
pub struct RegisterGatewayArgs {
    #[command(flatten)]
    common: TxCommon,
    /// Device id, e.g. `<credit code>-GW01`.
    #[arg(long)]
    id: String,
    /// The gateway's public key, as `trustmeter keys generate` printed it on the gateway.
    #[arg(long)]
    public_key: Option<String>,
    /// The gateway's key file (only its public part is read).
    #[arg(long, value_name = "FILE")]
    gateway_key_file: Option<PathBuf>,
}

/// `tx register-meter`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("meter_key").args(["public_key", "meter_key_file"]))]
pub struct RegisterMeterArgs {
    #[command(flatten)]
    common: TxCommon,
    /// Device id, e.g. `<credit code>-EM0001`.
    #[arg(long)]
    id: String,
    /// The gateway (registered to the same enterprise) that reads it.
    #[arg(long)]
    gateway: String,
    /// Human-readable name.
    #[arg(long)]
    name: String,
    /// What it measures: electricity, water, natural_gas, steam, heat, compressed_air, …
    #[arg(long)]
    energy: String,
    /// Unit symbol: kWh, MWh, kW, m3, Nm3, t, kg, GJ, MJ, L, t/h.
    #[arg(long)]
    unit: String,
    /// cumulative or instantaneous (default: instantaneous for rate units such as kW, else
    /// cumulative).
    #[arg(long)]
    register: Option<String>,
    /// Accuracy class, e.g. 0.5S, 0.2, 1, 2 (stored in hundredths of a percent; the S suffix of
    /// electricity meters is not recorded).
    #[arg(long)]
    accuracy: String,
    /// Location: site/workshop/line/equipment, at least the site.
    #[arg(long)]
    location: String,
    /// Register maximum (rollover point) in the meter's unit, e.g. 99999999.99.
    #[arg(long)]
    register_max: String,
    /// Rated capacity per hour in the meter's unit (额定容量, e.g. 2000 for a 2 MW feeder in kWh);
    /// the audit policy's rate-of-change rule uses it. Default: unknown.
    #[arg(long)]
    rated_per_hour: Option<String>,
    /// For a DL/T 645 tariff register: the total register's meter id it belongs to.
    #[arg(long, requires = "tariff")]
    tariff_of: Option<String>,
    /// For a DL/T 645 tariff register: the tariff, 1–4 (尖/峰/平/谷).
    #[arg(long, requires = "tariff_of")]
    tariff: Option<u8>,
    /// Its master meter (上级表 / 总表), registered before it: a meter of the same enterprise,
    /// energy kind and unit whose consumption includes this one's (e.g. the workshop's incoming
    /// meter). The master/sub-meter balance (`query balance`) compares the two.
    #[arg(long, conflicts_with = "tariff_of")]
    master: Option<String>,
    /// The meter's own public key, if it signs its readings itself.
    #[arg(long)]
    public_key: Option<String>,
    /// The meter's own key file (only its public part is read).
    #[arg(long, value_name = "FILE")]
    meter_key_file: Option<PathBuf>,
}

/// `tx calibrate`.
#[derive(Args, Debug)]
pub struct CalibrateArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The meter.
    #[arg(long)]
    meter: String,
    /// Certificate number.
    #[arg(long)]
    certificate: String,
    /// Issuing metrology authority (credit code); default: the sender key's organisation.
    #[arg(long)]
    issuer: Option<String>,
    /// First day of validity, YYYY-MM-DD (Asia/Shanghai, from 00:00), or an RFC 3339 instant.
    #[arg(long)]
    valid_from: String,
    /// Last day of validity, YYYY-MM-DD (Asia/Shanghai, through 24:00 of that day), or an RFC
    /// 3339 instant (exclusive).
    #[arg(long)]
    valid_until: String,
}

/// `tx activate`.
#[derive(Args, Debug)]
pub struct DeviceArgs {
    #[command(flatten)]
    common: TxCommon,
    /// Gateway or meter id.
    #[arg(long)]
    device: String,
}

/// `tx revoke`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    #[command(flatten)]
    common: TxCommon,
    /// Gateway or meter id.
    #[arg(long)]
    device: String,
    /// Why (kept in the receipt).
    #[arg(long)]
    reason: String,
}

/// `tx rotate-key`.
#[derive(Args, Debug)]
pub struct RotateKeyArgs {
    #[command(flatten)]
    common: TxCommon,
    /// Gateway or meter id.
    #[arg(long)]
    device: String,
    /// The new key file, generated on the device (its secret signs the proof of possession).
    #[arg(long, value_name = "FILE")]
    new_key_file: PathBuf,
    /// The environment variable holding the new key file's passphrase, if it is encrypted.
    #[arg(long, value_name = "VAR")]
    new_passphrase_env: Option<String>,
}

/// `tx deploy-policy`.
#[derive(Args, Debug)]
pub struct DeployPolicyArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The policy document (TOML with CEL expressions), e.g. crates/policy/policies/default-audit.toml
    /// with a higher `version`.
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
    /// First height whose readings the policy audits; must be above the chain's current height
    /// (every validator switches at that height).
    #[arg(long, value_name = "HEIGHT")]
    effective_height: u64,
}

/// `tx deploy-methodology`.
#[derive(Args, Debug)]
pub struct DeployMethodologyArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The methodology document (TOML), e.g. crates/carbon/methodologies/gb-t-32151.29-2024-v1.toml
    /// with `version = 2` and a later `effective_from`.
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
}

/// `tx replace-meter`.
#[derive(Args, Debug)]
pub struct ReplaceMeterArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The meter (its id is kept; its register restarts).
    #[arg(long)]
    meter: String,
    /// When the new meter took over: an RFC 3339 time such as 2026-11-21T10:30:00+08:00, or a
    /// date YYYY-MM-DD (00:00 Asia/Shanghai). Within the chain's late-data window.
    #[arg(long)]
    at: String,
    /// The old register's last value, in the meter's unit.
    #[arg(long)]
    old_final: String,
    /// The new register's first value, in the meter's unit (often 0).
    #[arg(long)]
    new_initial: String,
}

/// `tx monthly-report`.
#[derive(Args, Debug)]
pub struct MonthlyReportArgs {
    #[command(flatten)]
    common: TxCommon,
    /// The month, YYYYMM (Asia/Shanghai).
    #[arg(long)]
    month: u32,
    /// Reported consumption as ENERGY:UNIT:AMOUNT, e.g. electricity:kWh:12345.6; repeat per kind.
    #[arg(long, value_name = "ENERGY:UNIT:AMOUNT")]
    consumption: Vec<String>,
    /// Production output as PRODUCT:UNIT:AMOUNT, e.g. "steel:t:56"; repeat per product.
    #[arg(long, value_name = "PRODUCT:UNIT:AMOUNT")]
    production: Vec<String>,
    /// A measured heating value as ENERGY:UNIT:KJ, kJ per unit (lab-measured low heating value, or
    /// for steam the enthalpy rise over feedwater per tonne), e.g. raw_coal:kg:21500; it replaces
    /// the reference coefficient in the month's standard coal. Repeat per kind.
    #[arg(long, value_name = "ENERGY:UNIT:KJ")]
    heating_value: Vec<String>,
}

/// What a command needs from the chain before it can build its payload.
struct ChainContext {
    chain: ChainId,
    /// The latest finalized height.
    height: u64,
    /// The sender key's organisation on chain, if it is a member account.
    organisation: Option<String>,
    /// A carbon entry's evidence, uploaded.
    evidence: Vec<Evidence>,
    /// A report filing's document hash, or the annual report a statement is on.
    report: Option<trustmeter_types::Hash32>,
    /// An allocation's amount and basis computed from the chain (`--share`, `--benchmark`).
    allocation: Option<(Quantity, String)>,
    /// A statement's document, uploaded.
    document: Option<Evidence>,
}

/// Runs a transaction command; exits the process with a non-zero code on rejection.
pub fn run(cmd: TxCommand) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let code = rt.block_on(run_async(cmd))?;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

fn common(cmd: &TxCommand) -> &TxCommon {
    match cmd {
        TxCommand::RegisterAccount(a) => &a.common,
        TxCommand::RevokeAccount(a) => &a.common,
        TxCommand::Propose(a) => &a.common,
        TxCommand::Approve(a) => &a.common,
        TxCommand::Grant(a) => &a.common,
        TxCommand::RevokeGrant(a) => &a.common,
        TxCommand::SetDisclosure(a) => &a.common,
        TxCommand::PublishFigures(a) => &a.common,
        TxCommand::RegisterGateway(a) => &a.common,
        TxCommand::RegisterMeter(a) => &a.common,
        TxCommand::Calibrate(a) => &a.common,
        TxCommand::Activate(a) => &a.common,
        TxCommand::Revoke(a) => &a.common,
        TxCommand::RotateKey(a) => &a.common,
        TxCommand::DeployPolicy(a) => &a.common,
        TxCommand::DeployMethodology(a) => &a.common,
        TxCommand::ReplaceMeter(a) => &a.common,
        TxCommand::MonthlyReport(a) => &a.common,
        TxCommand::CarbonEntry(a) => &a.common,
        TxCommand::CarbonPlan(a) => &a.common,
        TxCommand::VoidCarbonEntry(a) => &a.common,
        TxCommand::CarbonReport(a) => &a.common,
        TxCommand::Verification(a) => &a.common,
        TxCommand::Quota(a) => &a.common,
        TxCommand::Transfer(a) => &a.common,
        TxCommand::Staking(a) => &a.common,
        TxCommand::DeployRewardSchedule(a) => &a.common,
        TxCommand::ShiftCalendar(a) => &a.common,
        TxCommand::ShiftOutput(a) => &a.common,
    }
}

async fn run_async(cmd: TxCommand) -> Result<i32> {
    let c = common(&cmd);
    let (key, info) = load_key(&c.key, c.passphrase_env.as_deref())?;
    let client = NodeClient::new(c.nodes.clone(), REQUEST_TIMEOUT)?;
    let status = client.status().await.context("reading the chain id from GET /v1/status")?;
    let chain = ChainId::new(status.chain_id.clone()).context("the node reports an invalid chain id")?;
    let sender = key.public_key();
    let account = client.account(&sender).await.context("reading the sender's nonce from GET /v1/accounts")?;
    let evidence = match &cmd {
        TxCommand::CarbonEntry(a) if !a.evidence.is_empty() => {
            let org =
                account.organisation.as_deref().context("the sender key is not an account of any organisation")?;
            upload_evidence(a, &key, org, status.hash_alg).await?
        }
        _ => vec![],
    };
    let report_hash = match &cmd {
        TxCommand::CarbonReport(a) => {
            let org =
                account.organisation.as_deref().context("the sender key is not an account of any organisation")?;
            Some(fetch_and_keep_report(a, &key, org, status.hash_alg).await?)
        }
        TxCommand::Verification(a) if a.step == "statement" => Some(filed_annual_report(a, &key).await?),
        _ => None,
    };
    let allocation = match &cmd {
        TxCommand::Quota(a) if a.share.is_some() || a.benchmark.is_some() => {
            Some(allocation_from_chain(a, &key).await?)
        }
        _ => None,
    };
    let document = match &cmd {
        TxCommand::Verification(a) if a.document.is_some() => {
            let org =
                account.organisation.as_deref().context("the sender key is not an account of any organisation")?;
            Some(upload_document(a, &key, org, status.hash_alg).await?)
        }
        _ => None,
    };
    let ctx = ChainContext {
        chain: chain.clone(),
        height: status.finalized_height,
        organisation: account.organisation.clone(),
        evidence,
        report: report_hash,
        allocation,
        document,
    };
    let payload = payload(&cmd, &ctx, &info)?;
    let body = TxBody { chain_id: chain, sender: sender.clone(), nonce: account.last_nonce + 1, payload };
    let tx = sign_tx(&key, body);
    let hash = tx_hash(status.hash_alg, &tx);
    let c = common(&cmd);
    eprintln!(
        "{} {hash}: sender {sender} ({}) nonce {} on chain {}",
        tx.body.payload.kind(),
        account.organisation.as_deref().unwrap_or("no organisation"),
        tx.body.nonce,
        status.chain_id
    );
    let outcome = client
        .submit_and_wait(&tx, POLL_INTERVAL, Duration::from_secs(c.wait))
        .await
        .context("submitting the transaction")?;
    Ok(report(&tx, &hash.to_hex(), outcome, c.json, &cmd))
}

fn load_key(path: &Path, passphrase_env: Option<&str>) -> Result<(SigningKey, KeyInfo)> {
    let pass = passphrase_env.map(passphrase_from_env).transpose()?;
    KeyFile::load(path, pass.as_deref().map(String::as_str))
        .with_context(|| format!("loading key file {}", path.display()))
}

/// Prints the outcome; returns the exit code.
fn report(_tx: &Transaction, hash: &str, outcome: TxStatus, json: bool, cmd: &TxCommand) -> i32 {
    match outcome {
        TxStatus::Finalized { height, receipt } => {
            if json {
                let v =
                    serde_json::json!({"tx_hash": hash, "status": "finalized", "height": height, "receipt": receipt});
                println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
            }
            match &receipt.outcome {
                TxOutcome::Accepted => {
                    if !json {
                        println!("finalized at height {height}");
                        if let Some(hint) = next_step(cmd, hash) {
                            eprintln!("{hint}");
                        }
                    }
                    0
                }
                TxOutcome::Rejected(r) => {
                    eprintln!("rejected in block {height}: {}: {}", r.code.as_str(), r.message);
                    EXIT_REJECTED
                }
            }
        }
        TxStatus::Rejected(r) => {
            if json {
                let v = serde_json::json!({"tx_hash": hash, "status": "rejected", "rejection": r});
                println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
            }
            eprintln!("rejected: {}: {}", r.code.as_str(), r.message);
            EXIT_REJECTED
        }
        TxStatus::Pending | TxStatus::Unknown => {
            eprintln!(
                "transaction {hash} was not finalized within the wait; it may still be: follow it with GET /v1/transactions/{hash}"
            );
            EXIT_NOT_FINALIZED
        }
    }
}

fn next_step(cmd: &TxCommand, hash: &str) -> Option<String> {
    match cmd {
        TxCommand::Propose(_) => Some(format!(
            "proposal {hash}: GET /v1/proposals/{hash} shows whether it executed; if it needs more approvals, other regulators run: trustmeter tx approve --proposal {hash} ..."
        )),
        TxCommand::Approve(a) => Some(format!("GET /v1/proposals/{} shows whether it executed", a.proposal)),
        TxCommand::RegisterGateway(a) => {
            Some(format!("next: a regulator activates it: trustmeter tx activate --device {} ...", a.id))
        }
        TxCommand::RegisterMeter(a) => Some(format!(
            "next: the metrology authority records its calibration (trustmeter tx calibrate --meter {} ...) and a regulator activates it",
            a.id
        )),
        TxCommand::RotateKey(a) => Some(format!(
            "device {} now signs with the key in {}; switch the device to that file",
            a.device,
            a.new_key_file.display()
        )),
        TxCommand::DeployPolicy(a) => Some(format!(
            "the policy audits readings from height {}; GET /v1/policy shows every version",
            a.effective_height
        )),
        TxCommand::DeployMethodology(_) => {
            Some("every validator and gateway now computes with this version from its effective date".to_string())
        }
        TxCommand::ReplaceMeter(a) => Some(format!(
            "the accounting now bridges the register jump of {}; see trustmeter query series --scope meter --id {}",
            a.meter, a.meter
        )),
        TxCommand::CarbonEntry(a) => Some(format!(
            "see it in the month's emissions: trustmeter query carbon --org <credit code> --month {}",
            a.month
        )),
        TxCommand::ShiftCalendar(_) => Some(
            "record each shift's output with trustmeter tx shift-output; compare them with trustmeter query shifts --org <credit code> --from <day>".to_string(),
        ),
        TxCommand::ShiftOutput(a) => Some(format!(
            "see the shift's unit consumption: trustmeter query shifts --org <credit code> --from {}",
            a.day
        )),
        TxCommand::MonthlyReport(a) => Some(format!(
            "check it against the daily figures: trustmeter query enterprise --org <credit code> --month {}",
            a.month
        )),
        _ => None,
    }
}

fn payload(cmd: &TxCommand, ctx: &ChainContext, sender: &KeyInfo) -> Result<TxPayload> {
    Ok(match cmd {
        TxCommand::RegisterAccount(a) => {
            let org = ctx.organisation.as_deref().context("the sender key is not an account of any organisation")?;
            let new = new_account(&a.new, &ctx.chain, &code(org, "the sender's organisation")?)?;
            TxPayload::RegisterAccount { public_key: new.public_key, proof: new.proof }
        }
        TxCommand::RevokeAccount(a) => TxPayload::RevokeAccount {
            public_key: PublicKey::from_text(&a.public_key).map_err(|e| anyhow!("--public-key: {e}"))?,
            reason: a.reason.clone(),
        },
        TxCommand::Propose(a) => TxPayload::Propose { action: proposal_action(a, &ctx.chain)? },
        TxCommand::Grant(a) => TxPayload::Grant {
            grantee: code(&a.grantee, "--grantee")?,
            scope: parse_snake(&a.scope, "--scope", "registry, readings, figures, alarms")?,
            expires_at_ms: parse_time(&a.until, true).context("--until")?,
        },
        TxCommand::SetDisclosure(a) => TxPayload::SetDisclosure {
            region: a.region,
            disclosure: trustmeter_types::Disclosure { regional_figures: a.regional_figures, rankings: a.rankings },
        },
        TxCommand::PublishFigures(a) => TxPayload::PublishFigures {
            until_ms: match &a.until {
                Some(u) => parse_time(u, true).context("--until")?,
                None => 0,
            },
        },
        TxCommand::RevokeGrant(a) => TxPayload::RevokeGrant {
            grantee: code(&a.grantee, "--grantee")?,
            scope: parse_snake(&a.scope, "--scope", "registry, readings, figures, alarms")?,
        },
        TxCommand::Approve(a) => TxPayload::Approve {
            proposal: trustmeter_types::Hash32::from_hex(a.proposal.trim())
                .map_err(|e| anyhow!("--proposal must be a transaction hash (64 hex characters): {e}"))?,
        },
        TxCommand::RegisterGateway(a) => {
            let id = device(&a.id, "--id")?;
            TxPayload::RegisterGateway {
                public_key: public_key_arg(a.public_key.as_deref(), a.gateway_key_file.as_deref(), Some(&id))?
                    .context("give --public-key or --gateway-key-file")?,
                id,
            }
        }
        TxCommand::RegisterMeter(a) => {
            let id = device(&a.id, "--id")?;
            let unit = parse_unit(&a.unit)?;
            let register = match &a.register {
                Some(r) => {
                    parse_snake::<RegisterKind>(r, "--register", "cumulative, instantaneous, cumulative_export")?
                }
                None if unit.is_rate() => RegisterKind::Instantaneous,
                None => RegisterKind::Cumulative,
            };
            let public_key = public_key_arg(a.public_key.as_deref(), a.meter_key_file.as_deref(), Some(&id))?;
            let location = LocationPath(a.location.split('/').map(str::to_string).collect());
            location.check().map_err(|e| anyhow!("--location {:?}: {e}", a.location))?;
            TxPayload::RegisterMeter {
                meter: MeterSpec {
                    gateway: device(&a.gateway, "--gateway")?,
                    name: a.name.clone(),
                    energy: parse_energy(&a.energy)?,
                    unit,
                    register,
                    accuracy: parse_accuracy(&a.accuracy)?,
                    location,
                    register_max: parse_quantity(&a.register_max).context("--register-max")?,
                    rated_per_hour: match &a.rated_per_hour {
                        Some(r) => parse_quantity(r).context("--rated-per-hour")?,
                        None => Default::default(),
                    },
                    tariff: match (&a.tariff_of, a.tariff) {
                        (Some(total), Some(tariff)) => {
                            Some(trustmeter_types::TariffRegister { total: device(total, "--tariff-of")?, tariff })
                        }
                        _ => None,
                    },
                    master: a.master.as_deref().map(|m| device(m, "--master")).transpose()?,
                    public_key,
                    id,
                },
            }
        }
        TxCommand::Calibrate(a) => {
            let issuer = match (&a.issuer, &sender.meta.organisation, &ctx.organisation) {
                (Some(i), _, _) => UnifiedSocialCreditCode::new(i.clone()).context("--issuer")?,
                (None, Some(o), _) => o.clone(),
                (None, None, Some(o)) => {
                    UnifiedSocialCreditCode::new(o.clone()).context("the account's organisation")?
                }
                (None, None, None) => {
                    bail!("the sender key names no organisation and is not a member account; give --issuer")
                }
            };
            let valid_from_ms = parse_time(&a.valid_from, false).context("--valid-from")?;
            let valid_until_ms = parse_time(&a.valid_until, true).context("--valid-until")?;
            ensure!(valid_until_ms > valid_from_ms, "--valid-until must be after --valid-from");
            let calibration =
                Calibration { certificate_no: a.certificate.clone(), issuer, valid_from_ms, valid_until_ms };
            calibration.check().map_err(|e| anyhow!("calibration certificate: {e}"))?;
            TxPayload::RecordCalibration { meter: device(&a.meter, "--meter")?, calibration }
        }
        TxCommand::Activate(a) => TxPayload::ActivateDevice { device: device(&a.device, "--device")? },
        TxCommand::Revoke(a) => {
            TxPayload::RevokeDevice { device: device(&a.device, "--device")?, reason: a.reason.clone() }
        }
        TxCommand::RotateKey(a) => {
            let id = device(&a.device, "--device")?;
            let (new_key, new_info) = load_key(&a.new_key_file, a.new_passphrase_env.as_deref())?;
            check_device(&new_info, &id)?;
            let new_public_key = new_key.public_key();
            let proof = new_key.sign(&rotation_proof_payload(&ctx.chain, &id, &new_public_key));
            TxPayload::RotateKey { device: id, new_public_key, proof }
        }
        TxCommand::DeployPolicy(a) => {
            let text = std::fs::read_to_string(&a.file)
                .with_context(|| format!("reading the policy document {}", a.file.display()))?;
            ensure!(
                text.len() <= MAX_POLICY_BYTES,
                "{} is {} bytes; a policy document may have at most {MAX_POLICY_BYTES}",
                a.file.display(),
                text.len()
            );
            let policy = trustmeter_policy::Policy::parse(&text)
                .map_err(|e| anyhow!("{} is not a valid policy document: {e}", a.file.display()))?;
            ensure!(
                a.effective_height > ctx.height,
                "--effective-height {} must be above the chain's current height {}; pick a height a few blocks ahead",
                a.effective_height,
                ctx.height
            );
            eprintln!("policy {} version {}", policy.name(), policy.version());
            TxPayload::DeployPolicy { text, effective_height: a.effective_height }
        }
        TxCommand::DeployMethodology(a) => {
            let text = std::fs::read_to_string(&a.file)
                .with_context(|| format!("reading the methodology document {}", a.file.display()))?;
            // The same checks the chain makes (limits, units, dry run): a broken document is
            // refused here, before it costs a transaction.
            let m = trustmeter_carbon::Methodology::parse(&text)
                .map_err(|e| anyhow!("{} is not a valid methodology document: {e}", a.file.display()))?;
            eprintln!("methodology {} version {} ({} sources)", m.id, m.version, m.sources.len());
            TxPayload::DeployMethodology { text }
        }
        TxCommand::CarbonEntry(a) => {
            let data = match (&a.data, a.withdraw) {
                (Some(path), false) => Some(entry_data(path)?),
                (None, true) => None,
                _ => bail!("give --data FILE, or --withdraw"),
            };
            let entry = CarbonEntry {
                month: a.month,
                number: a.number,
                data,
                evidence: ctx.evidence.clone(),
                note: a.note.clone(),
            };
            entry.check().map_err(|e| anyhow!("the entry: {e}"))?;
            TxPayload::RecordCarbonEntry { entry }
        }
        TxCommand::CarbonReport(a) => TxPayload::SubmitCarbonReport {
            period: trustmeter_types::compliance::ReportPeriod::parse(a.period.trim())
                .map_err(|e| anyhow!("--period: {e}"))?,
            hash: ctx.report.context("the report document's hash")?,
        },
        TxCommand::Verification(a) => verification_payload(a, ctx)?,
        TxCommand::Quota(a) => quota_payload(a, ctx)?,
        TxCommand::Transfer(a) => TxPayload::Transfer {
            to: code(&a.to, "--to")?,
            amount: parse_tokens(&a.amount).map_err(|e| anyhow!("--amount: {e}"))?,
            memo: a.memo.clone(),
        },
        TxCommand::Staking(a) => TxPayload::Staking { op: staking_op(a, ctx)? },
        TxCommand::DeployRewardSchedule(a) => {
            let text = std::fs::read_to_string(&a.file)
                .with_context(|| format!("reading the reward schedule {}", a.file.display()))?;
            trustmeter_policy::reward::RewardSchedule::parse(&text)
                .map_err(|e| anyhow!("{} is not a valid reward schedule: {e}", a.file.display()))?;
            TxPayload::DeployRewardSchedule { text, effective_epoch: a.effective_epoch }
        }
        TxCommand::ShiftCalendar(a) => {
            let text = std::fs::read_to_string(&a.file)
                .with_context(|| format!("reading the calendar file {}", a.file.display()))?;
            let calendar = calendar_from_toml(&text).with_context(|| format!("{}", a.file.display()))?;
            let names: Vec<String> = calendar.shifts.iter().map(|s| format!("{} {}", s.name, s.label())).collect();
            eprintln!(
                "shift calendar from {}: {}; {} teams{}",
                trustmeter_types::shifts::date_label(calendar.effective_from),
                names.join(", "),
                calendar.teams.len(),
                calendar.rotation.as_ref().map_or(String::new(), |r| format!(", a {}-day rotation", r.days.len()))
            );
            TxPayload::SetShiftCalendar { calendar }
        }
        TxCommand::ShiftOutput(a) => {
            ensure!(
                a.product.len() == a.quantity.len() && a.product.len() == a.unit.len(),
                "give one --quantity and one --unit per --product ({} products, {} quantities, {} units)",
                a.product.len(),
                a.quantity.len(),
                a.unit.len()
            );
            let products = a
                .product
                .iter()
                .zip(&a.quantity)
                .zip(&a.unit)
                .map(|((p, q), u)| {
                    Ok(ProductOutput {
                        product: p.trim().to_string(),
                        unit: u.trim().to_string(),
                        quantity: parse_amount(q).with_context(|| format!("--quantity of {p}"))?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let output = trustmeter_types::ShiftOutput {
                day: parse_date_code(&a.day, "--day")?,
                shift: a.shift.trim().to_string(),
                team: a.team.as_ref().map(|t| t.trim().to_string()),
                products,
                note: a.note.clone(),
            };
            output.check().map_err(|e| anyhow!("the output: {e}"))?;
            TxPayload::RecordShiftOutput { output }
        }
        TxCommand::CarbonPlan(a) => {
            TxPayload::SetCarbonPlan { methodology: a.methodology.clone(), from_month: a.from_month }
        }
        TxCommand::VoidCarbonEntry(a) => TxPayload::VoidCarbonEntry {
            org: code(&a.org, "--org")?,
            month: a.month,
            number: a.number,
            reason: a.reason.clone(),
        },
        TxCommand::ReplaceMeter(a) => TxPayload::ReplaceMeter {
            meter: device(&a.meter, "--meter")?,
            at_ms: parse_time(&a.at, false).context("--at")?,
            old_final: parse_amount(&a.old_final).context("--old-final")?,
            new_initial: parse_amount(&a.new_initial).context("--new-initial")?,
        },
        TxCommand::MonthlyReport(a) => {
            let (y, m) = (a.month / 100, a.month % 100);
            ensure!((1900..=9999).contains(&y) && (1..=12).contains(&m), "--month {} is not YYYYMM", a.month);
            ensure!(
                !a.consumption.is_empty() || !a.production.is_empty(),
                "give at least one --consumption ENERGY:UNIT:AMOUNT or --production PRODUCT:UNIT:AMOUNT"
            );
            let consumption = a
                .consumption
                .iter()
                .map(|c| {
                    let [energy, unit, amount] = triple(c, "--consumption", "ENERGY:UNIT:AMOUNT")?;
                    Ok(ReportedConsumption {
                        energy: parse_energy(energy)?,
                        unit: parse_unit(unit)?,
                        quantity: parse_amount(amount).with_context(|| format!("--consumption {c:?}"))?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let production = a
                .production
                .iter()
                .map(|p| {
                    let [product, unit, amount] = triple(p, "--production", "PRODUCT:UNIT:AMOUNT")?;
                    ensure!(!product.trim().is_empty(), "--production {p:?} names no product");
                    Ok(ProductOutput {
                        product: product.trim().to_string(),
                        unit: unit.trim().to_string(),
                        quantity: parse_amount(amount).with_context(|| format!("--production {p:?}"))?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let heating_values = a
                .heating_value
                .iter()
                .map(|h| {
                    let [energy, unit, kj] = triple(h, "--heating-value", "ENERGY:UNIT:KJ")?;
                    Ok(trustmeter_types::tx::MeasuredHeatingValue {
                        energy: parse_energy(energy)?,
                        unit: parse_unit(unit)?,
                        kj_per_unit: parse_amount(kj).with_context(|| format!("--heating-value {h:?}"))?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            TxPayload::MonthlyReport { month: a.month, consumption, production, heating_values }
        }
    })
}

fn device(s: &str, flag: &str) -> Result<DeviceId> {
    DeviceId::new(s).with_context(|| format!("{flag} is not a valid device id"))
}

/// A key file made for another device must not be registered for this one.
fn check_device(info: &KeyInfo, id: &DeviceId) -> Result<()> {
    match &info.meta.device {
        Some(d) if d != id => bail!("key file {} was made for device {d}, not {id}", info.path.display()),
        _ => Ok(()),
    }
}

fn code(s: &str, what: &str) -> Result<UnifiedSocialCreditCode> {
    UnifiedSocialCreditCode::new(s.trim()).map_err(|e| anyhow!("{what} {s:?}: {e}"))
}

/// The new account key of `--account-key-file` (proof signed here) or `--account-proof`.
fn new_account(a: &NewAccountArgs, chain: &ChainId, org: &UnifiedSocialCreditCode) -> Result<NewAccount> {
    match (&a.account_key_file, &a.account_proof) {
        (Some(file), _) => {
            let (key, _) = load_key(file, a.account_passphrase_env.as_deref())?;
            let proof = key.sign(&account_proof_payload(chain, org, &key.public_key()));
            Ok(NewAccount { public_key: key.public_key(), proof })
        }
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let new: NewAccount = serde_json::from_str(&text).with_context(|| {
                format!("{} is not an account proof (trustmeter keys account-proof)", file.display())
            })?;
            let payload = account_proof_payload(chain, org, &new.public_key);
            trustmeter_crypto::verify(&new.public_key, &payload, &new.proof).map_err(|_| {
                anyhow!("the proof in {} is not for chain {chain} and organisation {org}", file.display())
            })?;
            Ok(new)
        }
        (None, None) => bail!("give the new key: --account-key-file FILE or --account-proof FILE"),
    }
}

/// The operation of `tx staking`.
fn staking_op(a: &StakingArgs, ctx: &ChainContext) -> Result<StakingOp> {
    let validator = || -> Result<PublicKey> {
        let hex_key = a.validator.as_deref().context("give --validator <consensus key, 64 hex characters>")?;
        let bytes = hex::decode(hex_key.trim()).map_err(|_| anyhow!("--validator is not hex"))?;
        PublicKey::new(KeyScheme::Ed25519, bytes).map_err(|e| anyhow!("--validator: {e}"))
    };
    let amount = || -> Result<u64> {
        parse_tokens(a.amount.as_deref().context("give --amount <tokens>")?).map_err(|e| anyhow!("--amount: {e}"))
    };
    Ok(match a.op.as_str() {
        "register-validator" => {
            let file = a.validator_key.as_ref().context("give --validator-key <the validator's key file>")?;
            let (key, _) = load_key(file, a.validator_passphrase_env.as_deref())?;
            if key.public_key().scheme != KeyScheme::Ed25519 {
                bail!("{} is not an Ed25519 key: consensus keys are Ed25519", file.display());
            }
            let org = ctx.organisation.as_deref().context("the sender key is not an account of any organisation")?;
            let org = code(org, "the sender's organisation")?;
            let proof = key.sign(&validator_proof_payload(ctx.chain.as_str(), &org, &key.public_key()));
            StakingOp::RegisterValidator {
                consensus_key: key.public_key(),
                name: a.name.clone().context("give --name")?,
                p2p_address: a.address.clone().context("give --address host:port")?,
                commission_percent: a.commission.unwrap_or(0),
                proof,
            }
        }
        "edit-validator" => StakingOp::EditValidator {
            consensus_key: validator()?,
            p2p_address: a.address.clone(),
            commission_percent: a.commission,
        },
        "delegate" => StakingOp::Delegate { validator: validator()?, amount: amount()? },
        "undelegate" => StakingOp::Undelegate { validator: validator()?, amount: amount()? },
        "claim" => StakingOp::Claim,
        "unjail" => StakingOp::Unjail { validator: validator()? },
        other => bail!(
            "--op {other:?} is not a staking operation: register-validator, edit-validator, delegate, undelegate, claim or unjail"
        ),
    })
}

/// The membership change of `tx propose`.
fn proposal_action(a: &ProposeArgs, chain: &ChainId) -> Result<MembershipAction> {
    let org = || code(a.org.as_deref().context("give --org <credit code>")?, "--org");
    let reason = || a.reason.clone().context("give --reason");
    Ok(match a.action {
        ProposalAction::Admit => {
            let path = a.org_file.as_ref().context("admit needs --org-file (made by `trustmeter org init`)")?;
            let file = read_org_file(path)?;
            let problems = file.problems(chain);
            ensure!(problems.is_empty(), "{} is refused:\n{}", path.display(), problems.join("\n"));
            if !file.validators.is_empty() {
                eprintln!(
                    "note: {} names validators; validators join with DPoS epochs, not by admission: they are ignored",
                    path.display()
                );
            }
            MembershipAction::Admit { organisation: file.organisation, accounts: file.accounts }
        }
        ProposalAction::Suspend => MembershipAction::Suspend { org: org()?, reason: reason()? },
        ProposalAction::Reinstate => MembershipAction::Reinstate { org: org()? },
        ProposalAction::Remove => MembershipAction::Remove { org: org()?, reason: reason()? },
        ProposalAction::AddAccount => {
            let org = org()?;
            MembershipAction::AddAccount { account: new_account(&a.new, chain, &org)?, org }
        }
        ProposalAction::RevokeAccount => MembershipAction::RevokeAccount {
            org: org()?,
            public_key: PublicKey::from_text(a.public_key.as_deref().context("give --public-key")?)
                .map_err(|e| anyhow!("--public-key: {e}"))?,
            reason: reason()?,
        },
        ProposalAction::SetTokenPolicy => {
            let tokens = |v: &Option<String>, flag: &str| -> Result<u64> {
                parse_tokens(v.as_deref().with_context(|| format!("give {flag} <tokens>"))?)
                    .map_err(|e| anyhow!("{flag}: {e}"))
            };
            MembershipAction::SetTokenPolicy {
                issuance_per_epoch: tokens(&a.issuance, "--issuance")?,
                cap: tokens(&a.cap, "--cap")?,
                transferable: a.transferable.context("give --transferable true or false")?,
                reason: reason()?,
            }
        }
    })
}

/// Reads an organisation file (`trustmeter-org/v1`).
pub fn read_org_file(path: &Path) -> Result<OrgFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not an organisation file (trustmeter-org/v1)", path.display()))
}

/// The public key given as text, or read from a key file's public part.
fn public_key_arg(text: Option<&str>, file: Option<&Path>, device: Option<&DeviceId>) -> Result<Option<PublicKey>> {
    match (text, file) {
        (Some(t), _) => Ok(Some(PublicKey::from_text(t).map_err(|e| anyhow!("--public-key: {e}"))?)),
        (None, Some(f)) => {
            let info = KeyFile::info(f)?;
            if let Some(id) = device {
                check_device(&info, id)?;
            }
            Ok(Some(info.public_key))
        }
        (None, None) => Ok(None),
    }
}

/// Parses a snake_case enum name (hyphens accepted) through serde.
fn parse_snake<T: serde::de::DeserializeOwned>(s: &str, flag: &str, choices: &str) -> Result<T> {
    let name = s.trim().to_ascii_lowercase().replace('-', "_");
    serde_json::from_value(serde_json::Value::String(name))
        .map_err(|_| anyhow!("{flag} {s:?} is not one of: {choices}"))
}

fn parse_energy(s: &str) -> Result<EnergyKind> {
    let names: Vec<String> = EnergyKind::ALL
        .iter()
        .map(|k| serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
        .collect();
    parse_snake(s, "--energy", &names.join(", "))
}

fn parse_unit(s: &str) -> Result<Unit> {
    Unit::parse(s).ok_or_else(|| {
        let symbols: Vec<&str> = Unit::ALL.iter().map(|u| u.symbol()).collect();
        anyhow::anyhow!("--unit {s:?} is not a unit; use one of {}", symbols.join(", "))
    })
}

/// An accuracy class such as `0.5S` or `1` in hundredths of a percent.
fn parse_accuracy(s: &str) -> Result<AccuracyClass> {
    let digits = s.trim().trim_end_matches(['S', 's']);
    let v = parse_fixed(digits, MAX_ACCURACY_DECIMALS)
        .with_context(|| format!("--accuracy {s:?} must be a class such as 0.2S, 0.5, 1 or 2"))?;
    ensure!(v > 0, "--accuracy {s:?} must be above zero");
    Ok(AccuracyClass(u16::try_from(v).map_err(|_| anyhow!("--accuracy {s:?} is too large"))?))
}

/// `A:B:C`, split at the last two colons (so the first part may contain colons).
fn triple<'a>(s: &'a str, flag: &str, shape: &str) -> Result<[&'a str; 3]> {
    let mut parts = s.rsplitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(c), Some(b), Some(a)) => Ok([a, b, c]),
        _ => bail!("{flag} {s:?} is not {shape}"),
    }
}

/// A non-negative decimal amount, exactly, in micro-units (a register reading or a reported
/// quantity, which may be zero).
fn parse_amount(s: &str) -> Result<Quantity> {
    Ok(Quantity::from_micros(parse_fixed(s.trim(), MAX_QUANTITY_DECIMALS)?))
}

/// A positive decimal amount, exactly, in micro-units.
fn parse_quantity(s: &str) -> Result<Quantity> {
    let micros = parse_fixed(s.trim(), MAX_QUANTITY_DECIMALS)?;
    ensure!(micros > 0, "{s:?} must be above zero");
    Ok(Quantity::from_micros(micros))
}

/// Parses an unsigned decimal with at most `decimals` fraction digits into an integer scaled by
/// 10^decimals, with no floating point.
fn parse_fixed(s: &str, decimals: usize) -> Result<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    ensure!(
        !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit()),
        "{s:?} is not a decimal number such as 99999999.99"
    );
    ensure!(frac.len() <= decimals, "{s:?} has more than {decimals} decimals");
    let text = format!("{int}{frac:0<decimals$}");
    text.parse::<i64>().map_err(|_| anyhow!("{s:?} is too large"))
}

/// A date `YYYY-MM-DD` in Asia/Shanghai (start of the day; with `end_of_day`, the start of the
/// next day, i.e. through that day), or an RFC 3339 instant. Unix milliseconds.
fn parse_time(s: &str, end_of_day: bool) -> Result<i64> {
    let s = s.trim();
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let day = if end_of_day { date.succ_opt().context("date out of range")? } else { date };
        let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
        let local = Shanghai
            .from_local_datetime(&midnight)
            .earliest()
            .with_context(|| format!("{s} has no midnight in Asia/Shanghai"))?;
        return Ok(local.timestamp_millis());
    }
    let t = DateTime::parse_from_rfc3339(s).with_context(|| {
        format!("{s:?} is neither a date YYYY-MM-DD nor an RFC 3339 time such as 2027-05-31T00:00:00+08:00")
    })?;
    Ok(t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_parsed_exactly() {
        assert_eq!(parse_quantity("99999999.99").unwrap().micros(), 99_999_999_990_000);
        assert_eq!(parse_quantity("1").unwrap().micros(), 1_000_000);
        assert_eq!(parse_quantity("0.000001").unwrap().micros(), 1);
        assert!(parse_quantity("0.0000001").is_err());
        assert!(parse_quantity("0").is_err());
        assert!(parse_quantity("-1").is_err());
        assert!(parse_quantity("1e6").is_err());
        assert!(parse_quantity("99999999999999999999").is_err());
        assert_eq!(parse_accuracy("0.5S").unwrap(), AccuracyClass(50));
        assert_eq!(parse_accuracy("0.2s").unwrap(), AccuracyClass(20));
        assert_eq!(parse_accuracy("1").unwrap(), AccuracyClass(100));
        assert_eq!(parse_accuracy("2.5").unwrap(), AccuracyClass(250));
        assert!(parse_accuracy("0.05S").is_ok());
        assert!(parse_accuracy("0.005").is_err());
        assert!(parse_accuracy("S").is_err());
    }

    #[test]
    fn names_units_and_dates() {
        assert_eq!(parse_energy("electricity").unwrap(), EnergyKind::Electricity);
        assert_eq!(parse_energy("natural-gas").unwrap(), EnergyKind::NaturalGas);
        let e = parse_energy("plutonium").unwrap_err().to_string();
        assert!(e.contains("compressed_air"), "{e}");
        assert_eq!(parse_unit("kWh").unwrap(), Unit::KilowattHour);
        assert_eq!(parse_unit("kwh").unwrap(), Unit::KilowattHour);
        assert_eq!(parse_unit("Nm3").unwrap(), Unit::NormalCubicMetre);
        assert_eq!(parse_unit("t/h").unwrap(), Unit::TonnePerHour);
        assert_eq!(parse_unit("kilowatt_hour").unwrap(), Unit::KilowattHour);
        assert!(parse_unit("furlong").unwrap_err().to_string().contains("kWh"));
        // 2026-01-01 00:00 in Shanghai is 2025-12-31 16:00 UTC.
        assert_eq!(parse_time("2026-01-01", false).unwrap(), 1_767_196_800_000);
        assert_eq!(parse_time("2026-01-01", true).unwrap(), 1_767_196_800_000 + 86_400_000);
        assert_eq!(parse_time("2026-01-01T00:00:00+08:00", true).unwrap(), 1_767_196_800_000);
        assert!(parse_time("2026-13-01", false).is_err());
    }

    #[test]
    fn a_calendar_file_becomes_the_calendar() {
        let text = r#"
effective_from = "2026-11-01"
teams = ["甲", "乙", "丙", "丁"]
[[shift]]
name = "早班"
start = "06:00"
end = "14:00"
[[shift]]
name = "中班"
start = "14:00"
end = "22:00"
[[shift]]
name = "夜班"
start = "22:00"
end = "06:00"
[rotation]
start = "2026-11-01"
days = [["甲", "乙", "丙"], ["丁", "-", "乙"]]
"#;
        let c = calendar_from_toml(text).unwrap();
        assert_eq!(c.effective_from, 20_261_101);
        let minutes: Vec<(u16, u16)> = c.shifts.iter().map(|s| (s.start_minute, s.end_minute)).collect();
        assert_eq!(minutes, [(360, 840), (840, 1_320), (1_320, 360)]);
        assert_eq!(c.rotation.unwrap().days, vec![vec![Some(0), Some(1), Some(2)], vec![Some(3), None, Some(1)]]);
        // 24:00 is midnight; overlaps, unknown teams and bad times are refused here.
        assert_eq!(parse_minute("24:00", "end").unwrap(), 0);
        assert!(parse_minute("24:01", "end").is_err() && parse_minute("6", "x").is_err());
        let overlap = text.replace("end = \"14:00\"", "end = \"15:00\"");
        assert!(format!("{:#}", calendar_from_toml(&overlap).unwrap_err()).contains("overlap"));
        let stranger = text.replace("[\"丁\", \"-\"", "[\"戊\", \"-\"");
        assert!(format!("{:#}", calendar_from_toml(&stranger).unwrap_err()).contains("戊 is not one of"));
        assert!(calendar_from_toml(&text.replace("2026-11-01", "2026-11-31")).is_err());
    }

    #[test]
    fn report_lines_and_amounts() {
        assert_eq!(
            triple("electricity:kWh:12345.5", "--consumption", "E:U:A").unwrap(),
            ["electricity", "kWh", "12345.5"]
        );
        assert_eq!(triple("steel: bars:t:56", "--production", "P:U:A").unwrap(), ["steel: bars", "t", "56"]);
        assert!(triple("steel:56", "--production", "P:U:A").is_err());
        assert_eq!(parse_amount("0").unwrap().micros(), 0);
        assert_eq!(parse_amount("12.5").unwrap().micros(), 12_500_000);
        assert!(parse_amount("-1").is_err());
    }
}
