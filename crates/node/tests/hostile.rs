//! Hostile clients against a live cluster: thousands of half-sent requests to one validator's
//! API. The validator keeps at most `[api] max_connections` of them (so they cannot take the file
//! descriptors its consensus journal and storage need), cuts silent ones off after the header
//! timeout, still answers a client from another address, and the chain keeps finalizing.
//! Oversized submissions (announced or chunked) are refused `413 too_large` at once.

use crate::common;

use crate::common::{Cluster, init_logs, u64_of};
use anyhow::{Context as _, Result, ensure};
use commonware_runtime::Runner as _;
use std::time::{Duration, Instant};
use trustmeter_node::api::limits::ApiConfig;

/// Connections the attacker opens (its own file descriptors, in this process, count too).
const ATTACK_CONNECTIONS: usize = 5_000;
/// The attacked validator's budget.
const MAX_CONNECTIONS: usize = 300;
const HEADER_TIMEOUT_MS: u64 = 2_000;
/// How long the chain's finalization rate is measured, before and during the attack.
const WINDOW: Duration = Duration::from_secs(6);

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// The value of a metric line `name value` in a Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

async fn metrics(api: &common::Api, node: usize) -> Result<String> {
    Ok(api.http.get(format!("{}/metrics", api.urls[node])).send().await?.text().await?)
}

/// Opens `n` connections from 127.0.0.2 to `addr`, each sending half a request head.
async fn half_open(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    trustmeter_httpserve::half_sent_requests(addr, std::net::Ipv4Addr::new(127, 0, 0, 2).into(), n).await
}

#[test]
fn thousands_of_half_sent_requests_neither_exhaust_a_validator_nor_slow_the_chain() {
    init_logs();
    let _measuring = crate::common::rate_measured();
    // This process holds both sides of every connection.
    trustmeter_httpserve::fd_budget(ATTACK_CONNECTIONS + 4 * MAX_CONNECTIONS, 2_000).expect("open-file limit");
    let mut cluster = Cluster::new("hunan-hostile-1", 41);
    cluster.api_config = ApiConfig {
        max_connections: MAX_CONNECTIONS,
        max_connections_per_ip: MAX_CONNECTIONS,
        header_read_timeout_ms: HEADER_TIMEOUT_MS,
        ..ApiConfig::default()
    };
    let cluster_ref = &cluster;
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let api = cluster.start(ctx).await?;
            api.wait_finalized_everywhere(3).await?;
            let before = api.finalization_rate(1, WINDOW).await?;
            let fds_before = open_fds();
            let accepted_before =
                metric(&metrics(&api, 0).await?, "trustmeter_api_connections_accepted_total").unwrap_or_default();

            // The attack on validator 0: ATTACK_CONNECTIONS half-sent requests, held open.
            let target = cluster.api[0];
            let attack = tokio::spawn(half_open(target, ATTACK_CONNECTIONS));
            // The validator's open connections, sampled through the attack.
            let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
            let sampler = {
                let api = api.clone();
                tokio::spawn(async move {
                    let mut most = 0f64;
                    while !*stop_rx.borrow() {
                        if let Ok(text) = metrics(&api, 0).await {
                            most = most.max(metric(&text, "trustmeter_api_connections").unwrap_or(0.0));
                        }
                        let _ = tokio::time::timeout(Duration::from_millis(50), stop_rx.changed()).await;
                    }
                    most
                })
            };
            let during = api.finalization_rate(1, WINDOW).await?;
            let held = attack.await.context("attacker")?;
            let _ = stop_tx.send(true);
            let most_open = sampler.await.context("sampler")?;
            ensure!(held.len() >= ATTACK_CONNECTIONS / 2, "the attacker opened only {} connections", held.len());

            // At most MAX_CONNECTIONS of them are open at the validator; the rest were refused.
            let text = metrics(&api, 0).await?;
            let open = metric(&text, "trustmeter_api_connections").context("connections gauge")?;
            let refused =
                metric(&text, "trustmeter_api_connections_refused_total{reason=\"total\"}").unwrap_or_default();
            ensure!(open <= MAX_CONNECTIONS as f64, "{open} connections open at the validator");
            ensure!(
                most_open <= MAX_CONNECTIONS as f64 && most_open >= MAX_CONNECTIONS as f64 * 0.5,
                "at most {most_open} connections were open at once during the attack (budget {MAX_CONNECTIONS})"
            );
            // Every attacking connection was either served within the budget or refused at once:
            // none waits in a queue. (How many were served depends on the machine's speed: the
            // header timeout frees a slot every time it cuts a silent connection off, and a slow
            // attacker's later connections take them; the test's own scrapes add a few.)
            let accepted = metric(&text, "trustmeter_api_connections_accepted_total").unwrap_or_default() - accepted_before;
            ensure!(
                refused + accepted >= held.len() as f64 * 0.95,
                "of {} connections, {refused} refused and {accepted} served: the rest are unaccounted for",
                held.len()
            );
            ensure!(
                refused >= (held.len() as f64 - accepted) * 0.9 && refused >= (held.len() - 4 * MAX_CONNECTIONS) as f64 * 0.5,
                "only {refused} of {} connections refused ({accepted} served)",
                held.len()
            );
            // This process's descriptors: the attacker's own plus at most the validator's budget.
            let fds = open_fds();
            ensure!(
                fds <= fds_before + held.len() + MAX_CONNECTIONS + 64,
                "{fds} descriptors open (before the attack {fds_before}, attacker {})",
                held.len()
            );
            // A client from another address is still served by the attacked validator.
            let status = api.status(0).await?;
            ensure!(u64_of(&status["finalized_height"]) > 0);
            // The chain kept finalizing (empty blocks are proposed every 200 ms).
            println!(
                "finalized blocks/s: {before:.2} before, {during:.2} during the attack; at most {most_open} connections open at once, {refused} refused, {fds} descriptors in this process"
            );
            ensure!(during >= 0.5 * before, "finalization slowed from {before:.2} to {during:.2} blocks/s");

            // The silent connections are cut off after the header timeout, without the attacker
            // closing anything.
            let deadline = Instant::now() + Duration::from_millis(HEADER_TIMEOUT_MS) + Duration::from_secs(10);
            loop {
                let open = metric(&metrics(&api, 0).await?, "trustmeter_api_connections").unwrap_or(f64::MAX);
                if open <= 2.0 {
                    break;
                }
                ensure!(Instant::now() < deadline, "{open} silent connections still open after the header timeout");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            drop(held);

            // Malformed input of every kind gets the API's error shape {code, message}.
            let base = &api.urls[0];
            for (method, path, status, code) in [
                ("GET", "/v1/figures/daily?org=x&from=2026-13-45", 400, "bad_request"),
                ("GET", "/v1/blocks/not-a-height", 400, "bad_request"),
                ("GET", "/v1/meters?limit=many", 400, "bad_request"),
                ("GET", "/v1/no-such-route", 404, "not_found"),
                ("DELETE", "/v1/status", 405, "method_not_allowed"),
                ("POST", "/v1/transactions", 400, "malformed"),
            ] {
                let m = reqwest::Method::from_bytes(method.as_bytes())?;
                let r = api.http.request(m, format!("{base}{path}")).header("content-type", "application/json").body("{").send().await?;
                ensure!(r.status().as_u16() == status, "{method} {path}: status {}", r.status());
                let ctype = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                let v: serde_json::Value = r.json().await.with_context(|| format!("{method} {path}: not JSON ({ctype})"))?;
                ensure!(v["code"] == code, "{method} {path}: {v}");
                ensure!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: {v}");
            }
            // Every validator is up and at the same height or close.
            api.wait_finalized_everywhere(u64_of(&api.status(1).await?["finalized_height"]) + 2).await?;
            Ok::<_, anyhow::Error>(())
        })
        .unwrap();
}

/// Sends `head` and then `body` (written by another task, errors ignored: the server may close
/// once it has refused) to `POST /v1/transactions` and returns the answer and how long it took
/// from the end of the head.
async fn oversized_submission(
    addr: std::net::SocketAddr,
    head: &str,
    body: Vec<u8>,
) -> Result<(u16, String, Duration)> {
    use tokio::io::AsyncWriteExt as _;
    let c = tokio::net::TcpStream::connect(addr).await?;
    let (mut r, mut w) = c.into_split();
    w.write_all(head.as_bytes()).await?;
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for piece in body.chunks(64 * 1024) {
            if w.write_all(piece).await.is_err() {
                break;
            }
        }
        w
    });
    let (line, text) = trustmeter_httpserve::read_raw_answer(&mut r).await.context("no whole answer within 10 s")?;
    let status: u16 = line.split(' ').nth(1).and_then(|c| c.parse().ok()).context("a status line")?;
    let took = started.elapsed();
    drop(writer.await);
    Ok((status, text, took))
}

#[test]
fn oversized_submissions_are_refused_413_at_once_and_the_chain_keeps_finalizing() {
    init_logs();
    let cluster = Cluster::new("hunan-hostile-2", 42);
    let cluster_ref = &cluster;
    cluster
        .runner()
        .start(|ctx| async move {
            let cluster = cluster_ref;
            let api = cluster.start(ctx).await?;
            api.wait_finalized_everywhere(3).await?;
            let limit = trustmeter_node::api::MAX_SUBMIT_BYTES;
            let target = cluster.api[0];
            let head = |framing: &str| {
                format!("POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n\r\n")
            };
            // 100 000 000 bytes announced, none sent: refused before the body (not after the 30 s
            // body timeout).
            let (status, text, announced) =
                oversized_submission(target, &head("Content-Length: 100000000"), Vec::new()).await?;
            ensure!(status == 413, "announced 100 MB: {status} {text}");
            let v: serde_json::Value = serde_json::from_str(&text).context("a JSON error")?;
            ensure!(v["code"] == "too_large" && v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
            // Chunked, no length announced: 3 MiB in 64 KiB chunks, refused once past the limit.
            let mut chunked = Vec::new();
            let piece = vec![b'{'; 64 * 1024];
            while chunked.len() < 3 << 20 {
                chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                chunked.extend_from_slice(&piece);
                chunked.extend_from_slice(b"\r\n");
            }
            chunked.extend_from_slice(b"0\r\n\r\n");
            let (status, text, streamed) =
                oversized_submission(target, &head("Transfer-Encoding: chunked"), chunked).await?;
            ensure!(status == 413, "chunked 3 MiB: {status} {text}");
            let v: serde_json::Value = serde_json::from_str(&text).context("a JSON error")?;
            ensure!(v["code"] == "too_large", "{v}");
            println!(
                "oversized submissions (limit {limit} B): 100 MB announced refused 413 in {:.2} ms, 3 MiB chunked in {:.2} ms",
                announced.as_secs_f64() * 1e3,
                streamed.as_secs_f64() * 1e3
            );
            ensure!(announced < Duration::from_secs(2) && streamed < Duration::from_secs(5), "{announced:?} {streamed:?}");
            // The other routes with bodies refuse an announced oversize at once too: an evidence
            // file over 16 MiB, a what-if scenario over 64 KiB.
            for (route, length) in [
                ("PUT /v1/enterprises/91430100700001000N/evidence", 100_000_000u64),
                ("POST /v1/enterprises/91430100700001000N/carbon/what-if?year=2026", 1_000_000),
            ] {
                let head = format!(
                    "{route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
                );
                let (status, text, took) = oversized_submission(target, &head, Vec::new()).await?;
                ensure!(status == 413, "{route} with {length} bytes announced: {status} {text}");
                let v: serde_json::Value = serde_json::from_str(&text).context("a JSON error")?;
                ensure!(v["code"] == "too_large", "{v}");
                ensure!(took < Duration::from_secs(2), "{route}: refused only after {took:?}");
            }
            // A submission within the limit that is not a transaction still gets its own code.
            let r = api
                .http
                .post(format!("{}/v1/transactions", api.urls[0]))
                .header("content-type", "application/json")
                .body("{")
                .send()
                .await?;
            ensure!(r.status().as_u16() == 400, "{}", r.status());
            // The chain keeps finalizing, the refusing validator included.
            let h = u64_of(&api.status(0).await?["finalized_height"]);
            api.wait_finalized_everywhere(h + 3).await?;
            Ok::<_, anyhow::Error>(())
        })
        .unwrap();
}
