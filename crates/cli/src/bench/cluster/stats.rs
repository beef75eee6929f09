//! Figures of the cluster benchmark: percentiles, the nodes' Prometheus counters, process CPU.

use std::collections::BTreeMap;

/// The `q`-quantile (0..=1) of `v` by the nearest-rank method, sorting `v`; `None` when empty.
pub fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// The counters of ours the benchmark reads from `GET /metrics`, in print order: metric name and
/// the label whose values are shown apart (the others are summed).
pub const COMPONENTS: [(&str, &str, Option<&str>); 5] = [
    ("admission", "trustmeter_admission_seconds_total", None),
    ("signature verification", "trustmeter_signature_verify_seconds_total", None),
    ("execution", "trustmeter_execution_seconds_total", Some("phase")),
    ("index", "trustmeter_index_seconds_total", None),
    ("alarm passes", "trustmeter_alarm_seconds_total", None),
];
/// Readings finalized, per node.
pub const READINGS_FINALIZED: &str = "trustmeter_readings_finalized_total";
/// Bytes a node wrote to its stores' files, by store (`state`, `index`): totals keys
/// `written/state`, `written/index`.
pub const STORE_BYTES_WRITTEN: &str = "trustmeter_store_bytes_written_total";

/// Meters the alarm passes looked at, per node.
pub const ALARM_METERS: &str = "trustmeter_alarm_meters_evaluated_total";

/// Finalized blocks by how their certificate was had (`how`: local, fetched, missing).
pub const BLOCK_CERTIFICATES: &str = "trustmeter_block_certificates_total";

/// One sample of a Prometheus text exposition: metric name, labels in order, value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels, as written.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// The series' identity: name and labels.
    pub fn key(&self) -> String {
        let labels: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Parses the Prometheus text format (version 0.0.4 / OpenMetrics text): `# …` lines are
/// comments, every other non-empty line is `name[{label="value",…}] value [timestamp]`. Lines that
/// do not parse are skipped.
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let end = loop {
            // Skip separators, then a label name up to '=' or the closing brace.
            while let Some((_, c)) = chars.peek() {
                if *c == ',' || c.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            let (start, c) = *chars.peek()?;
            if c == '}' {
                break start + 1;
            }
            let mut key_end = start;
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    key_end = i;
                    break;
                }
            }
            let key = body[start..key_end].trim().to_string();
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break,
                    c => value.push(c),
                }
            }
            labels.push((key, value));
        };
        rest = &body[end..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample { name, labels, value })
}

/// Totals of our counters across the validators, keyed by component (`execution/propose` for a
/// phase), from one scrape of every node's `/metrics` (`None` for a node that did not answer).
///
/// A node's `/metrics` may render only its own registry, or — when several validators share a
/// process, as here — the whole process's registry, each validator's series told apart by labels.
/// In the second case every node returns the same series and summing them would count each
/// validator once per node, so when all scrapes hold the same series and one scrape alone holds a
/// series of the per-node counters for every validator, that one scrape is the total.
pub fn totals(scrapes: &[Option<Vec<Sample>>], validators: usize) -> BTreeMap<String, f64> {
    let ours = |s: &Sample| {
        s.name == READINGS_FINALIZED
            || s.name == STORE_BYTES_WRITTEN
            || s.name == BLOCK_CERTIFICATES
            || s.name == ALARM_METERS
            || COMPONENTS.iter().any(|(_, name, _)| s.name == *name)
    };
    let present: Vec<Vec<&Sample>> = scrapes.iter().flatten().map(|v| v.iter().filter(|s| ours(s)).collect()).collect();
    let keys = |v: &Vec<&Sample>| v.iter().map(|s| s.key()).collect::<std::collections::BTreeSet<_>>();
    let process_wide = present.len() == scrapes.len()
        && present.len() > 1
        && present.windows(2).all(|w| keys(&w[0]) == keys(&w[1]))
        && [READINGS_FINALIZED, COMPONENTS[0].1, COMPONENTS[3].1]
            .iter()
            .any(|name| present[0].iter().filter(|s| s.name == *name).count() >= validators);
    let used: &[Vec<&Sample>] = if process_wide { &present[..1] } else { &present };
    let mut out = BTreeMap::new();
    for s in used.iter().flatten() {
        let component = if s.name == READINGS_FINALIZED {
            "readings finalized".to_string()
        } else if s.name == STORE_BYTES_WRITTEN {
            format!("written/{}", s.label("store").unwrap_or("?"))
        } else if s.name == ALARM_METERS {
            "alarm meters".to_string()
        } else if s.name == BLOCK_CERTIFICATES {
            format!("certificates/{}", s.label("how").unwrap_or("?"))
        } else {
            let (label, _, split) = COMPONENTS.iter().find(|(_, n, _)| *n == s.name).expect("filtered to ours");
            match split.and_then(|l| s.label(l)) {
                Some(v) => format!("{label}/{v}"),
                None => label.to_string(),
            }
        };
        *out.entry(component).or_insert(0.0) += s.value;
    }
    out
}

/// Clock ticks per second of the times in `/proc/<pid>/stat` (the kernel's `USER_HZ`, which
/// `sysconf(_SC_CLK_TCK)` reports; 100 on every Linux architecture this builds for).
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds used so far by process `pid` (all its threads, finished ones
/// included), from `/proc/<pid>/stat`; `None` if it cannot be read (not Linux, process gone).
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_from_stat(&text)
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds.
fn cpu_from_stat(text: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may contain spaces: fields after the last
    // ')' start with the state (field 3); utime and stime are fields 14 and 15.
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), Some(50.0));
        assert_eq!(quantile(&mut v, 0.99), Some(99.0));
        assert_eq!(quantile(&mut v, 1.0), Some(100.0));
        assert_eq!(quantile(&mut v, 0.0), Some(1.0));
        assert_eq!(quantile(&mut [7.0], 0.99), Some(7.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn prometheus_lines_parse_with_labels_escapes_and_comments() {
        let text = "# HELP trustmeter_admission_seconds_total Time in admission.\n\
                    # TYPE trustmeter_admission_seconds_total counter\n\
                    trustmeter_admission_seconds_total 1.5\n\
                    trustmeter_execution_seconds_total{phase=\"propose\",node=\"v \\\"0\\\"\"} 2e-3 1700000000\n\
                    runtime_tasks_running{name=\"a,b}\"} +Inf\n\
                    garbage line\n";
        let s = parse_prometheus(text);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0], Sample { name: "trustmeter_admission_seconds_total".into(), labels: vec![], value: 1.5 });
        assert_eq!(s[1].labels, vec![("phase".into(), "propose".into()), ("node".into(), "v \"0\"".into())]);
        assert_eq!(s[1].value, 0.002);
        assert_eq!(s[2].labels, vec![("name".into(), "a,b}".into())]);
        assert!(s[2].value.is_infinite());
    }

    fn scrape(text: &str) -> Option<Vec<Sample>> {
        Some(parse_prometheus(text))
    }

    #[test]
    fn per_node_registries_are_summed() {
        let a = scrape(
            "trustmeter_admission_seconds_total 1\ntrustmeter_execution_seconds_total{phase=\"verify\"} 2\ntrustmeter_readings_finalized_total 10\n",
        );
        let b = scrape(
            "trustmeter_admission_seconds_total 3\ntrustmeter_execution_seconds_total{phase=\"verify\"} 4\ntrustmeter_readings_finalized_total 10\n",
        );
        let c = scrape(
            "trustmeter_store_bytes_written_total{store=\"state\"} 4096\ntrustmeter_store_bytes_written_total{store=\"index\"} 100\n",
        );
        let t = totals(&[a, b, None, c], 4);
        assert_eq!(t["written/state"], 4096.0);
        assert_eq!(t["written/index"], 100.0);
        assert_eq!(t["admission"], 4.0);
        assert_eq!(t["execution/verify"], 6.0);
        assert_eq!(t["readings finalized"], 20.0);
        assert!(!t.contains_key("index"), "absent series stay absent");
    }

    #[test]
    fn a_process_wide_registry_is_counted_once() {
        let text = "trustmeter_readings_finalized_total{node=\"0\"} 10\ntrustmeter_readings_finalized_total{node=\"1\"} 10\n\
                    trustmeter_index_seconds_total{node=\"0\"} 0.5\ntrustmeter_index_seconds_total{node=\"1\"} 0.25\n";
        let t = totals(&[scrape(text), scrape(text)], 2);
        assert_eq!(t["readings finalized"], 20.0);
        assert_eq!(t["index"], 0.75);
    }

    #[test]
    fn proc_stat_cpu_fields() {
        // pid (comm with ") spaces") state ppid pgrp session tty tpgid flags minflt cminflt majflt
        // cmajflt utime stime …
        let line = "4242 (tokio ) worker) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100 0 0";
        assert_eq!(cpu_from_stat(line), Some(3.0));
        assert_eq!(cpu_from_stat("garbage"), None);
        let me = process_cpu_seconds(std::process::id()).expect("this process's stat");
        assert!(me >= 0.0);
    }
}
