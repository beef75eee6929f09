//! The gateway's status page (`GET /`): what an operator at the plant looks at — the clock, each
//! destination chain's backlog, settlement and errors, alarms, and every point's last value —
//! as one server-rendered HTML page with no script, refreshed every 5 seconds. The same figures
//! as `GET /status` (JSON) and `GET /metrics`.

use crate::status::StatusReport;
use std::fmt::Write;

/// Points listed on the page; the rest are counted (all of them are in `GET /status`).
pub const MAX_POINTS_SHOWN: usize = 500;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn age(now_ms: i64, at: Option<i64>) -> String {
    match at {
        None => "—".into(),
        Some(t) => {
            let s = (now_ms - t).max(0) / 1000;
            if s < 120 {
                format!("{s} s ago")
            } else if s < 7200 {
                format!("{} min ago", s / 60)
            } else {
                format!("{} h ago", s / 3600)
            }
        }
    }
}

/// The page for a status report.
pub fn render(s: &StatusReport) -> String {
    let mut h = String::with_capacity(16_384 + s.points.len().min(MAX_POINTS_SHOWN) * 200);
    let _ = write!(
        h,
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>网关状态 Gateway {gw}</title>
<style>body{{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",system-ui,sans-serif;margin:0;background:#f4f6f9;color:#1b2430}}
header{{background:#0d2b45;color:#fff;padding:10px 18px}}main{{padding:12px 18px}}table{{border-collapse:collapse;width:100%;background:#fff;margin-bottom:16px}}
th,td{{border-bottom:1px solid #d9e0e8;padding:4px 8px;text-align:left;font-size:13px}}th{{background:#eef2f6}}td.n{{text-align:right;font-variant-numeric:tabular-nums}}
.bad{{color:#b42318;font-weight:600}}.ok{{color:#0a7a4f}}h2{{font-size:16px;margin:14px 0 6px}}code{{font-size:12px}}</style></head><body>
<header><b>可信网关 Trusted gateway</b> {gw} · <span data-testid="gateway-clock">{now}</span> · 时钟 clock: <span class="{clock_class}">{clock}</span></header><main>
<p>本地存储 Stored readings: <b>{stored}</b> · 设备公钥 key <code>{key}</code></p>
<h2>上送目的链 Destinations</h2><table><tr><th>名称 name</th><th>链 chain</th><th>积压 backlog</th><th>最早未确认 oldest unsettled</th><th>已确认 acknowledged</th><th>被拒 rejected</th><th>高度 height</th><th>最近确认 last settled</th><th>错误 error</th></tr>"#,
        gw = esc(&s.gateway),
        now = esc(&s.now_local),
        clock_class = if s.clock == "good" { "ok" } else { "bad" },
        clock = esc(&s.clock),
        stored = s.stored_readings,
        key = esc(&s.public_key),
    );
    for d in &s.destinations {
        let _ = write!(
            h,
            r#"<tr data-destination="{name}"><td>{name}</td><td>{chain}</td><td class="n{bc}">{backlog}</td><td>{oldest}</td><td class="n">{ack}</td><td class="n">{rej}</td><td class="n">{height}</td><td>{settled}</td><td class="bad">{err}</td></tr>"#,
            name = esc(&d.name),
            chain = esc(d.chain_id.as_deref().unwrap_or("—")),
            bc = if d.backlog > 0 { " bad" } else { "" },
            backlog = d.backlog,
            oldest = age(s.now_ms, d.oldest_unsettled_ms),
            ack = d.acknowledged,
            rej = d.rejected,
            height = d.last_height,
            settled = age(s.now_ms, d.last_settled_ms),
            err = esc(d.last_error.as_deref().unwrap_or("")),
        );
    }
    h.push_str("</table><h2>告警 Alarms</h2>");
    if s.alarms.is_empty() {
        h.push_str("<p class=\"ok\">无 none</p>");
    } else {
        h.push_str("<table><tr><th>级别 severity</th><th>种类 kind</th><th>对象 subject</th><th>说明 message</th><th>起始 since</th></tr>");
        for a in &s.alarms {
            let _ = write!(
                h,
                r#"<tr><td class="{c}">{sev}</td><td>{kind}</td><td>{subj}</td><td>{msg}</td><td>{since}</td></tr>"#,
                c = if a.severity == "critical" { "bad" } else { "" },
                sev = esc(&a.severity),
                kind = esc(&a.kind),
                subj = esc(&a.subject),
                msg = esc(&a.message),
                since = age(s.now_ms, Some(a.since_ms)),
            );
        }
        h.push_str("</table>");
    }
    let _ = write!(
        h,
        "<h2>采集点 Points ({})</h2><table><tr><th>计量器具 meter</th><th>驱动 driver</th><th>最新值 last value</th><th>单位 unit</th><th>采集于 collected</th><th>样本 samples</th><th>错误 errors</th><th>最近错误 last error</th></tr>",
        s.points.len()
    );
    for p in s.points.iter().take(MAX_POINTS_SHOWN) {
        let _ = write!(
            h,
            r#"<tr><td>{m}</td><td>{d}</td><td class="n">{v}</td><td>{u}</td><td>{at}</td><td class="n">{n}</td><td class="n{ec}">{e}</td><td class="bad">{le}</td></tr>"#,
            m = esc(&p.meter),
            d = esc(&p.driver),
            v = esc(p.last_value.as_deref().unwrap_or("—")),
            u = esc(&p.unit),
            at = age(s.now_ms, p.last_collected_ms),
            n = p.samples,
            ec = if p.errors > 0 { " bad" } else { "" },
            e = p.errors,
            le = esc(p.last_error.as_deref().unwrap_or("")),
        );
    }
    h.push_str("</table>");
    if s.points.len() > MAX_POINTS_SHOWN {
        let _ = write!(h, "<p>… {} more: GET /status</p>", s.points.len() - MAX_POINTS_SHOWN);
    }
    h.push_str("<p><a href=\"/status\">/status</a> (JSON) · <a href=\"/metrics\">/metrics</a> (Prometheus)</p></main></body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{AlarmView, DestinationStatus, PointStatus};

    #[test]
    fn the_page_shows_the_report_and_escapes_what_a_meter_or_node_said() {
        let report = StatusReport {
            gateway: "91430100700001000N-GW01".into(),
            public_key: "ed25519:ab".into(),
            now_ms: 1_000_000,
            now_local: "2026-12-07 14:00:00".into(),
            clock: "good".into(),
            stored_readings: 42,
            oldest_stored_ms: None,
            next_id: 43,
            points: vec![PointStatus {
                meter: "M<script>".into(),
                driver: "modbus".into(),
                unit: "kWh".into(),
                poll_interval_s: 60,
                last_value: Some("12.5".into()),
                last_collected_ms: Some(990_000),
                samples: 7,
                errors: 1,
                last_error: Some("timeout & reset".into()),
            }],
            destinations: vec![DestinationStatus {
                name: "hunan-1".into(),
                chain_id: Some("hunan-1".into()),
                backlog: 3,
                last_error: Some("node said <b>no</b>".into()),
                ..Default::default()
            }],
            alarms: vec![AlarmView {
                kind: "clock".into(),
                severity: "critical".into(),
                subject: "gateway".into(),
                message: "drift".into(),
                since_ms: 0,
            }],
        };
        let page = render(&report);
        assert!(page.contains("91430100700001000N-GW01") && page.contains("<b>42</b>"));
        assert!(page.contains(r#"<tr data-destination="hunan-1">"#) && page.contains(r#"<td class="n bad">3</td>"#));
        assert!(page.contains("M&lt;script&gt;") && !page.contains("M<script>"));
        assert!(page.contains("node said &lt;b&gt;no&lt;/b&gt;") && page.contains("timeout &amp; reset"));
        assert!(page.contains("10 s ago") && page.contains("critical"));
        assert!(!page.contains("<script"), "the page runs no script");
    }
}
