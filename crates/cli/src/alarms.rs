//! `trustmeter alarms`: a node's active alarms as a table, and with `--follow` its alarm feed
//! (`GET /v1/alarms/stream`, server-sent events) line by line until interrupted.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::time::Duration;
use trustmeter_analytics::alarms::{AlarmEvent, AlarmView, AlarmsView, EventKind};

/// How long `--follow` waits before reconnecting after the stream broke.
const RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// Longest SSE event accepted (bytes); a longer one means the node is not speaking SSE.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// Options of `trustmeter alarms`.
#[derive(Args)]
pub struct AlarmsArgs {
    /// A node's API, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    node: String,
    /// Only alarms of this enterprise (unified social credit code).
    #[arg(long)]
    org: Option<String>,
    /// After the table, print each alarm raised or cleared as it happens, until Ctrl-C.
    #[arg(long)]
    follow: bool,
    /// Print JSON (the active set, then one event per line with `--follow`) instead of text.
    #[arg(long)]
    json: bool,
    /// Sign the requests with this member account key file (RFC 9421): a node that enforces
    /// access rules serves the alarms the key's organisation may read.
    #[arg(long, value_name = "KEYFILE")]
    key: Option<std::path::PathBuf>,
    /// The environment variable holding the key file's passphrase, if it is encrypted.
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
}

/// Runs `trustmeter alarms`.
pub fn run(args: AlarmsArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let base = args.node.trim_end_matches('/').to_string();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "--node {base:?} must be a URL starting with http:// or https://"
        );
        let query = args.org.as_ref().map(|o| format!("?org={o}")).unwrap_or_default();
        let key = match &args.key {
            Some(path) => {
                let pass = args.passphrase_env.as_deref().map(trustmeter_keystore::passphrase_from_env).transpose()?;
                let (key, _) = trustmeter_keystore::KeyFile::load(path, pass.as_deref().map(String::as_str))
                    .with_context(|| format!("loading key file {}", path.display()))?;
                Some(key)
            }
            None => None,
        };
        if !args.follow {
            let http = trustmeter_api_client::http_builder(None)?.timeout(Duration::from_secs(30)).build()?;
            let url = format!("{base}/v1/alarms{query}");
            let mut req = http.get(&url).build()?;
            if let Some(k) = &key {
                trustmeter_api_client::sign_request(&mut req, k);
            }
            let resp = http.execute(req).await.with_context(|| format!("GET {url}: is the node running?"))?;
            let status = resp.status();
            let text = resp.text().await?;
            if !status.is_success() {
                bail!("GET {url}: HTTP {status}: {text}");
            }
            let view: AlarmsView =
                serde_json::from_str(&text).with_context(|| format!("{url} did not answer with alarms: {text}"))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print_table(&view);
            }
            return Ok(());
        }
        follow(&base, &query, args.json, key.as_ref()).await
    })
}

/// Streams the feed, reconnecting after a break with the id of the last event seen, so the node
/// sends exactly the events missed meanwhile (or the active set again, if it no longer holds
/// them, e.g. after a restart).
async fn follow(base: &str, query: &str, json: bool, key: Option<&trustmeter_crypto::SigningKey>) -> Result<()> {
    let http = trustmeter_api_client::http_builder(None)?.connect_timeout(Duration::from_secs(10)).build()?;
    let url = format!("{base}/v1/alarms/stream{query}");
    let mut last_id: Option<String> = None;
    loop {
        let mut req = http.get(&url).header("accept", "text/event-stream");
        if let Some(id) = &last_id {
            req = req.header("last-event-id", id.as_str());
        }
        let built = req.build().map(|mut r| {
            if let Some(k) = key {
                trustmeter_api_client::sign_request(&mut r, k);
            }
            r
        });
        let sent = match built {
            Ok(r) => http.execute(r).await,
            Err(e) => Err(e),
        };
        let resp = match sent {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                if status.is_client_error() {
                    bail!("GET {url}: HTTP {status}: {text}");
                }
                eprintln!("GET {url}: HTTP {status}: {text}; retrying in {} s", RECONNECT_DELAY.as_secs());
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
            Err(e) => {
                eprintln!("cannot reach {url} ({e}); retrying in {} s", RECONNECT_DELAY.as_secs());
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        let why = read_feed(resp, json, &mut last_id).await;
        eprintln!("the alarm stream stopped ({why}); reconnecting in {} s", RECONNECT_DELAY.as_secs());
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Prints events until the stream ends, noting the id of the last one in `last_id`; returns why
/// it ended.
async fn read_feed(mut resp: reqwest::Response, json: bool, last_id: &mut Option<String>) -> String {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => return "the node closed it".into(),
            Err(e) => return e.to_string(),
        };
        buf.extend_from_slice(&chunk);
        while let Some(end) = find_blank_line(&buf) {
            let block: Vec<u8> = buf.drain(..end).collect();
            if let Some((event, id, data)) = parse_event(&String::from_utf8_lossy(&block)) {
                if id.is_some() {
                    *last_id = id;
                }
                show(&event, &data, json);
            }
        }
        if buf.len() > MAX_EVENT_BYTES {
            return format!("an event longer than {MAX_EVENT_BYTES} bytes arrived");
        }
    }
}

/// The end (exclusive, blank line included) of the first complete event in `buf`.
fn find_blank_line(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `(event type, id, data)` of one SSE event block; `None` for comments (keep-alives).
fn parse_event(block: &str) -> Option<(String, Option<String>, String)> {
    let (mut event, mut id, mut data) = (String::from("message"), None, Vec::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
        }
    }
    (!data.is_empty()).then(|| (event, id, data.join("\n")))
}

fn show(event: &str, data: &str, json: bool) {
    if json {
        println!("{{\"event\":{},\"data\":{data}}}", serde_json::Value::String(event.to_string()));
        return;
    }
    match event {
        "snapshot" => match serde_json::from_str::<AlarmsView>(data) {
            Ok(v) => {
                print_table(&v);
                println!("-- following (Ctrl-C to stop) --");
            }
            Err(e) => eprintln!("unreadable snapshot ({e}): {data}"),
        },
        "raised" | "cleared" => match serde_json::from_str::<AlarmEvent>(data) {
            Ok(e) => println!("{}", event_line(&e)),
            Err(err) => eprintln!("unreadable {event} event ({err}): {data}"),
        },
        "resumed" => {
            let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
            println!("-- reconnected; {} events missed meanwhile follow --", v["missed"]);
        }
        "lagged" => {
            let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
            println!(
                "!! this client fell behind and missed {} events; run `trustmeter alarms` for the active set",
                v["missed"]
            );
        }
        other => println!("{other}: {data}"),
    }
}

/// `2026-11-21 17:05:03 RAISED  warning  missing_data  <subject>  <message>`.
fn event_line(e: &AlarmEvent) -> String {
    let what = match e.event {
        EventKind::Raised => "RAISED ",
        EventKind::Cleared => "CLEARED",
    };
    let a = &e.alarm;
    format!(
        "{} {what} {:<8} {:<20} {:<28} {}",
        local(e.block_time_ms),
        severity(a),
        a.kind.as_str(),
        subject(a),
        a.message
    )
}

fn severity(a: &AlarmView) -> &'static str {
    match a.severity {
        trustmeter_analytics::alarms::Severity::Critical => "critical",
        trustmeter_analytics::alarms::Severity::Warning => "warning",
    }
}

fn subject(a: &AlarmView) -> String {
    a.meter.clone().unwrap_or_else(|| a.owner.clone())
}

fn local(ms: i64) -> String {
    let offset = chrono::FixedOffset::east_opt(8 * 3_600).expect("UTC+8");
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&offset).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

fn print_table(v: &AlarmsView) {
    println!(
        "{} active alarm(s) at height {} ({} Asia/Shanghai){}",
        v.alarms.len(),
        v.height,
        local(v.block_time_ms),
        if v.dropped > 0 { format!("; {} more not kept (limit reached)", v.dropped) } else { String::new() }
    );
    if v.alarms.is_empty() {
        return;
    }
    println!("{:<8} {:<20} {:<28} {:<19} MESSAGE", "SEVERITY", "KIND", "SUBJECT", "SINCE");
    for a in &v.alarms {
        println!(
            "{:<8} {:<20} {:<28} {:<19} {}",
            severity(a),
            a.kind.as_str(),
            subject(a),
            local(a.raised_at_ms),
            a.message
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_are_split_and_parsed() {
        let mut buf =
            b"event: raised\nid: 3\ndata: {\"a\":1}\n\n: keep-alive\n\nevent: cleared\r\ndata: x\r\n\r\npartial"
                .to_vec();
        let end = find_blank_line(&buf).unwrap();
        let first: Vec<u8> = buf.drain(..end).collect();
        assert_eq!(
            parse_event(&String::from_utf8_lossy(&first)),
            Some(("raised".into(), Some("3".into()), "{\"a\":1}".into()))
        );
        let end = find_blank_line(&buf).unwrap();
        let ka: Vec<u8> = buf.drain(..end).collect();
        assert_eq!(parse_event(&String::from_utf8_lossy(&ka)), None);
        let end = find_blank_line(&buf).unwrap();
        let third: Vec<u8> = buf.drain(..end).collect();
        assert_eq!(parse_event(&String::from_utf8_lossy(&third)), Some(("cleared".into(), None, "x".into())));
        assert_eq!(find_blank_line(&buf), None);
    }
}
