//! `trustmeter gateway …`: the enterprise gateway (trusted terminal). `init` makes the device key
//! on the device, `run` runs it, and the other commands are clients of a running gateway's local
//! API.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use trustmeter_gateway::api::{ManualEntry, NEXT_HEADER, ReadingRow, RejectedRow};
use trustmeter_gateway::config::GatewayConfig;
use trustmeter_gateway::status::StatusReport;
use trustmeter_keystore::{KeyFile, KeyMeta};
use trustmeter_types::KeyScheme;

/// Gateway commands.
#[derive(Subcommand)]
pub enum GatewayCommand {
    /// Generate the gateway's device key, on this machine, into the configured key file.
    Init {
        /// The gateway's TOML config.
        #[arg(long)]
        config: PathBuf,
        /// Signature scheme: ed25519 or sm2.
        #[arg(long, default_value = "ed25519")]
        scheme: String,
    },
    /// Run the gateway until Ctrl-C or SIGTERM.
    Run {
        /// The gateway's TOML config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Points, last values, backlog per destination and alarms of a running gateway.
    Status {
        /// The gateway's TOML config.
        #[arg(long)]
        config: PathBuf,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Query or export readings from the gateway's local store.
    Readings(ReadingsArgs),
    /// Enter a reading by hand (手工填报), flagged as manual on chain.
    Manual {
        /// The gateway's TOML config.
        #[arg(long)]
        config: PathBuf,
        /// Meter id.
        #[arg(long)]
        meter: String,
        /// Value as read off the meter (decimal).
        #[arg(long)]
        value: String,
        /// Unit symbol (kWh, m3, Nm3, t, GJ, …).
        #[arg(long)]
        unit: String,
        /// When it was read: `YYYY-MM-DD HH:MM[:SS]` Asia/Shanghai, or RFC 3339; default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Import historical readings from a CSV (`meter,timestamp,value[,unit]`) or JSON file.
    Import {
        /// The gateway's TOML config.
        #[arg(long)]
        config: PathBuf,
        /// The file (`.json` is read as JSON, anything else as CSV).
        file: PathBuf,
    },
    /// Readings a destination chain rejected, with its reasons.
    Rejected {
        /// The gateway's TOML config.
        #[arg(long)]
        config: PathBuf,
        /// Destination name.
        #[arg(long)]
        destination: String,
    },
}

/// Rows asked for per page of the gateway's lists (its largest page).
const GATEWAY_PAGE: usize = 10_000;

/// The cursor of the next page, if the gateway says there is one.
fn next_cursor(resp: &reqwest::Response) -> Option<String> {
    resp.headers().get(NEXT_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Options of `gateway readings`.
#[derive(Args)]
pub struct ReadingsArgs {
    /// The gateway's TOML config.
    #[arg(long)]
    config: PathBuf,
    /// Only this meter.
    #[arg(long)]
    meter: Option<String>,
    /// From (`YYYY-MM-DD[ HH:MM]` Asia/Shanghai, or RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// To, exclusive.
    #[arg(long)]
    to: Option<String>,
    /// Most rows.
    #[arg(long, default_value_t = 100_000)]
    limit: usize,
    /// `table`, `csv` or `json`.
    #[arg(long, default_value = "table")]
    format: String,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` (Asia/Shanghai) or RFC 3339 into Unix ms.
pub fn parse_time(s: &str) -> Result<i64> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
        })
        .with_context(|| format!("{s:?} is not YYYY-MM-DD[ HH:MM[:SS]] or RFC 3339"))?;
    match chrono_tz::Asia::Shanghai.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Ok(t.timestamp_millis()),
        _ => bail!("{s:?} is not a valid Asia/Shanghai local time"),
    }
}

/// `k=v&…` with percent-encoding of everything but unreserved characters.
fn query_string(q: &[(String, String)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    q.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

fn base_url(cfg: &GatewayConfig) -> String {
    format!("http://{}", cfg.gateway.listen)
}

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_idle_timeout(trustmeter_api_client::POOL_IDLE_TIMEOUT)
        .timeout(std::time::Duration::from_secs(60))
        .build()?)
}

async fn answer<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        bail!("gateway answered {status}: {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).with_context(|| format!("unexpected answer: {}", String::from_utf8_lossy(&body)))
}

fn not_running(cfg: &GatewayConfig) -> String {
    format!(
        "cannot reach the gateway's local API at {}; is `trustmeter gateway run` running with this config?",
        base_url(cfg)
    )
}

/// Loads the device key named by the config.
pub fn load_key(cfg: &GatewayConfig) -> Result<trustmeter_crypto::SigningKey> {
    let pass = match &cfg.gateway.passphrase_env {
        Some(var) => Some(trustmeter_keystore::passphrase_from_env(var)?),
        None => None,
    };
    let path = cfg.key_path();
    let (key, info) = KeyFile::load(&path, pass.as_ref().map(|p| p.as_str())).with_context(|| {
        format!("loading the gateway key {}; create it with `trustmeter gateway init`", path.display())
    })?;
    if let Some(d) = &info.meta.device
        && d != &cfg.gateway.id
    {
        bail!("key file {} belongs to device {d}, not to gateway {}", path.display(), cfg.gateway.id);
    }
    Ok(key)
}

fn print_status(s: &StatusReport) {
    println!("gateway   {}  key {}", s.gateway, s.public_key);
    println!("time      {} (Asia/Shanghai)  clock {}", s.now_local, s.clock);
    println!(
        "store     {} readings{}; next id {}",
        s.stored_readings,
        s.oldest_stored_ms
            .map(|t| format!(", oldest from {}", trustmeter_gateway::time::local_text(t)))
            .unwrap_or_default(),
        s.next_id
    );
    println!("\nDESTINATION   CHAIN          BACKLOG  IN FLIGHT  ACKED      REJECTED  HEIGHT    LAST ERROR");
    for d in &s.destinations {
        println!(
            "{:<13} {:<14} {:>7}  {:>9}  {:>9}  {:>8}  {:>8}  {}",
            d.name,
            d.chain_id.as_deref().unwrap_or("?"),
            d.backlog,
            d.in_flight,
            d.acknowledged,
            d.rejected,
            d.last_height,
            d.last_error.as_deref().unwrap_or("-")
        );
        println!(
            "{:<13} audit policy: {}{}",
            "",
            d.audit_policy.as_deref().unwrap_or("unknown (readings sent unchecked)"),
            if d.rejected_before_sending > 0 {
                format!("; {} refused before sending", d.rejected_before_sending)
            } else {
                String::new()
            }
        );
    }
    println!(
        "\nMETER                                    DRIVER     LAST VALUE         AT                    SAMPLES  ERRORS"
    );
    for p in &s.points {
        println!(
            "{:<40} {:<10} {:>14} {:<4} {:<20} {:>8} {:>7}{}",
            p.meter,
            p.driver,
            p.last_value.as_deref().unwrap_or("-"),
            p.unit,
            p.last_collected_ms.map(trustmeter_gateway::time::local_text).unwrap_or_else(|| "-".into()),
            p.samples,
            p.errors,
            p.last_error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default()
        );
    }
    println!("\nALARMS ({})", s.alarms.len());
    for a in &s.alarms {
        println!("  [{}] {} {}: {}", a.severity, a.kind, a.subject, a.message);
    }
}

/// Runs a gateway command.
pub fn run(cmd: GatewayCommand) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run_async(cmd))
}

fn load(config: &Path) -> Result<GatewayConfig> {
    Ok(GatewayConfig::load(config)?)
}

async fn run_async(cmd: GatewayCommand) -> Result<()> {
    match cmd {
        GatewayCommand::Init { config, scheme } => {
            let cfg = load(&config)?;
            let scheme = KeyScheme::from_name(&scheme)
                .with_context(|| format!("unknown scheme {scheme:?}; use ed25519 or sm2"))?;
            let pass = match &cfg.gateway.passphrase_env {
                Some(var) => Some(trustmeter_keystore::passphrase_from_env(var)?),
                None => None,
            };
            std::fs::create_dir_all(&cfg.gateway.data_dir)?;
            let path = cfg.key_path();
            let meta = KeyMeta { organisation: None, device: Some(cfg.gateway.id.clone()) };
            let key = KeyFile::generate(
                &path,
                scheme,
                &format!("gateway {}", cfg.gateway.id),
                &meta,
                pass.as_ref().map(|p| p.as_str()),
            )
            .with_context(|| format!("writing {}", path.display()))?;
            println!("generated the device key of gateway {} in {}", cfg.gateway.id, path.display());
            println!("public key: {}", key.public_key().to_text());
            println!(
                "next: the enterprise registers it on every chain:\n  trustmeter tx register-gateway --node <url> --key <enterprise key> --id {} --public-key {}",
                cfg.gateway.id,
                key.public_key().to_text()
            );
            Ok(())
        }
        GatewayCommand::Run { config } => {
            let cfg = load(&config)?;
            let key = load_key(&cfg)?;
            let clock = trustmeter_gateway::clock_for(&cfg);
            let handle = trustmeter_gateway::start(cfg.clone(), key, clock).await?;
            println!(
                "gateway {} running: {} points, {} destinations; status at http://{}/status (Ctrl-C or SIGTERM to stop)",
                cfg.gateway.id,
                cfg.points.len(),
                cfg.destinations.len(),
                handle.api_addr
            );
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
            }
            println!("stopping gateway {}", cfg.gateway.id);
            handle.stop().await;
            Ok(())
        }
        GatewayCommand::Status { config, json } => {
            let cfg = load(&config)?;
            let resp =
                http()?.get(format!("{}/status", base_url(&cfg))).send().await.with_context(|| not_running(&cfg))?;
            let s: StatusReport = answer(resp).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print_status(&s);
            }
            Ok(())
        }
        GatewayCommand::Readings(a) => {
            let cfg = load(&a.config)?;
            let mut q: Vec<(String, String)> = Vec::new();
            if let Some(m) = &a.meter {
                q.push(("meter".into(), m.clone()));
            }
            if let Some(f) = &a.from {
                q.push(("from".into(), parse_time(f)?.to_string()));
            }
            if let Some(t) = &a.to {
                q.push(("to".into(), parse_time(t)?.to_string()));
            }
            let fmt = match a.format.as_str() {
                "csv" => "csv",
                "json" | "table" => "json",
                other => bail!("format {other:?}: use table, csv or json"),
            };
            q.push(("format".into(), fmt.into()));
            // Page by page (the gateway answers at most 10 000 rows a page), up to `--limit`.
            let client = http()?;
            let (mut csv, mut rows, mut after, mut taken) =
                (String::new(), Vec::<ReadingRow>::new(), None::<String>, 0usize);
            while taken < a.limit {
                let mut page_q = q.clone();
                page_q.push(("limit".into(), (a.limit - taken).min(GATEWAY_PAGE).to_string()));
                if let Some(c) = &after {
                    page_q.push(("after".into(), c.clone()));
                }
                let resp = client
                    .get(format!("{}/readings?{}", base_url(&cfg), query_string(&page_q)))
                    .send()
                    .await
                    .with_context(|| not_running(&cfg))?;
                let next = next_cursor(&resp);
                if fmt == "csv" {
                    let status = resp.status();
                    let body = resp.text().await?;
                    if !status.is_success() {
                        bail!("gateway answered {status}: {body}");
                    }
                    let mut lines = body.lines();
                    let header = lines.next().unwrap_or_default();
                    if csv.is_empty() {
                        csv.push_str(header);
                        csv.push('\n');
                    }
                    for line in lines {
                        csv.push_str(line);
                        csv.push('\n');
                        taken += 1;
                    }
                } else {
                    let page: Vec<ReadingRow> = answer(resp).await?;
                    taken += page.len();
                    rows.extend(page);
                }
                match next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            let text = if fmt == "csv" {
                csv
            } else {
                if a.format == "json" {
                    serde_json::to_string_pretty(&rows)?
                } else {
                    let mut out = String::from(
                        "METER                                      SEQ  LOCAL TIME           VALUE            ORIGIN   FLAGS\n",
                    );
                    for r in &rows {
                        out.push_str(&format!(
                            "{:<40} {:>6}  {}  {:>14} {:<4} {:<8} {}{}\n",
                            r.meter,
                            r.seq,
                            r.local_time,
                            r.value,
                            r.unit,
                            r.origin,
                            if r.clock_suspect { "clock_suspect " } else { "" },
                            if r.interval_boundary_ms.is_some() { "on-grid" } else { "off-grid" }
                        ));
                    }
                    out.push_str(&format!("{} readings\n", rows.len()));
                    out
                }
            };
            match a.out {
                Some(p) => {
                    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
                    println!("wrote {}", p.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        GatewayCommand::Manual { config, meter, value, unit, at } => {
            let cfg = load(&config)?;
            let entry = ManualEntry { meter, value, unit, timestamp_ms: at.as_deref().map(parse_time).transpose()? };
            let resp = http()?
                .post(format!("{}/manual", base_url(&cfg)))
                .bearer_auth(operator_token(&cfg)?.as_str())
                .json(&entry)
                .send()
                .await
                .with_context(|| not_running(&cfg))?;
            report_produced(resp).await
        }
        GatewayCommand::Import { config, file } => {
            let cfg = load(&config)?;
            let body = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let ct = if file.extension().is_some_and(|e| e == "json") { "application/json" } else { "text/csv" };
            let resp = http()?
                .post(format!("{}/import", base_url(&cfg)))
                .bearer_auth(operator_token(&cfg)?.as_str())
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .with_context(|| not_running(&cfg))?;
            report_produced(resp).await
        }
        GatewayCommand::Rejected { config, destination } => {
            let cfg = load(&config)?;
            let client = http()?;
            let (mut rows, mut after) = (Vec::<RejectedRow>::new(), None::<String>);
            loop {
                let mut q =
                    vec![("destination".to_string(), destination.clone()), ("limit".into(), GATEWAY_PAGE.to_string())];
                if let Some(c) = &after {
                    q.push(("after".into(), c.clone()));
                }
                let resp = client
                    .get(format!("{}/rejected?{}", base_url(&cfg), query_string(&q)))
                    .send()
                    .await
                    .with_context(|| not_running(&cfg))?;
                let next = next_cursor(&resp);
                let page: Vec<RejectedRow> = answer(resp).await?;
                rows.extend(page);
                match next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            for r in &rows {
                println!(
                    "#{:<8} {} seq {}: {} — {}",
                    r.id,
                    r.meter.as_deref().unwrap_or("(pruned)"),
                    r.seq.map(|s| s.to_string()).unwrap_or_default(),
                    r.code,
                    r.message
                );
            }
            println!("{} rejected readings on {destination}", rows.len());
            Ok(())
        }
    }
}

async fn report_produced(resp: reqwest::Response) -> Result<()> {
    let status = resp.status();
    let body = resp.bytes().await?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("unexpected answer {status}: {}", String::from_utf8_lossy(&body)))?;
    if let Some(code) = v.get("code").and_then(|c| c.as_str()) {
        bail!("refused ({code}): {}", v["message"].as_str().unwrap_or_default());
    }
    let stored = v["ids"].as_array().map(|a| a.len()).unwrap_or(0);
    println!(
        "stored {stored} readings (signed; they are sent to every destination), {} duplicates skipped",
        v["duplicates"]
    );
    if let Some(refused) = v["refused"].as_array() {
        for r in refused {
            println!("refused {} at {}: {}", r["meter"], r["timestamp_ms"], r["reason"].as_str().unwrap_or_default());
        }
        if !refused.is_empty() && stored == 0 {
            bail!("nothing stored");
        }
    }
    Ok(())
}

/// The gateway's operator token (its data directory's `operator.token`), which its local API
/// asks for on manual entry and import.
fn operator_token(cfg: &GatewayConfig) -> Result<zeroize::Zeroizing<String>> {
    let path = cfg.token_path();
    trustmeter_keystore::load_or_create_token(&path)
        .with_context(|| format!("reading the operator token {} (run as the gateway's operator)", path.display()))
}
