//! Bounded fuzzing of what a node reads from outside: the HTTP API (paths, queries, headers and
//! bodies of any client, through the node's router behind its real HTTP server,
//! `trustmeter_httpserve::serve`) and the block frames a follower fetches from validators
//! (`follow::split_frame`, then the block's canonical decoding).
//!
//! The API runs in-process on the smallest node there is: a devnet genesis and one applied block
//! (a gateway, a meter signing its readings, its calibration and two readings) in an in-memory
//! state store and an index on disk, served on loopback; no consensus. Requests are written as raw
//! HTTP/1.1 bytes, so nothing on the client side tidies them: every route of the OpenAPI document
//! with its parameters replaced by random values (valid ids, edge numbers, odd characters,
//! percent-escapes), random queries of the parameter names the API takes with edge values,
//! random headers (signature headers among them), and bodies (JSON values, transactions, bytes).
//! Not the event streams (they answer forever) nor `/v1/alarms` (it waits for an alarm engine
//! this node does not run).
//!
//! Properties: no panic (a handler's panic is a dropped connection or a 500); no 5xx but those
//! the OpenAPI document lists (503 busy, 507 quota); every error is `{code, message}` JSON, except
//! the HTTP parser's own refusals of requests that are not HTTP (which never reach the API).
//!
//! Frames: arbitrary bytes and a genuine frame (a block's bytes and certificate bytes) edited:
//! splitting never panics and gives the bytes the frame carries; a block that decodes re-encodes to
//! the bytes read. (No certificate here verifies: signing one needs consensus's test harness;
//! the certificates a follower checks are fuzzed in `crates/client/tests/fuzz`.)

use proptest::prelude::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use trustmeter_chain::devnet::Devnet;
use trustmeter_chain::{App, Behaviour, ChainBlock, Mempool, MempoolLimits};
use trustmeter_crypto::{SigningKey, sign_reading, sign_tx};
use trustmeter_fuzzkit::{byte_edits, edited};
use trustmeter_node::follow::split_frame;
use trustmeter_state::exec::{BlockContext, build_block};
use trustmeter_state::{MemStore, SignatureVerdicts};
use trustmeter_types::limits::MAX_BLOCK_BYTES;
use trustmeter_types::registry::{AccuracyClass, Calibration, LocationPath};
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    Block, DeviceId, EnergyKind, KeyScheme, Quantity, Reading, ReadingOrigin, ReadingSigner, RegisterKind, TxBody,
    TxPayload, Unit, decode, encode,
};

const SEED: u64 = 0x6e6f_6465_2d61_7069;
const GENESIS_MS: i64 = 1_767_225_600_000;

/// The node under test, its routes and what it holds.
struct Node {
    addr: SocketAddr,
    /// (method, path template) of every route the OpenAPI document lists.
    routes: Vec<(String, String)>,
    /// The 5xx statuses the document lists.
    documented_5xx: Vec<u16>,
    /// Ids that exist (a meter, a gateway, an organisation, a key) and a transaction's JSON.
    ids: Vec<String>,
    tx_json: String,
    /// A genuine frame: the block's bytes after a 4-byte length, then "certificate" bytes.
    frame: Vec<u8>,
    _dir: tempfile::TempDir,
}

fn node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        let devnet = Devnet::new("hunan-fuzz-api", 4, 1, 2026, GENESIS_MS, 30_000);
        let genesis = devnet.genesis.clone();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let index = trustmeter_index::Index::open(&dir.path().join("index.redb"), genesis.clone()).expect("an index");
        let mempool = Arc::new(Mutex::new(Mempool::new(genesis.params.hash, MempoolLimits::default())));
        let (app, _finalizer) =
            App::new(&genesis, mempool, Behaviour::Honest, Arc::new(MemStore::new())).expect("the application");
        let idx = index.clone();
        app.add_durable_hook(Arc::new(move |f, durable| idx.apply_with(f, durable).map_err(|e| e.to_string())));
        app.set_ready();

        // One block: a gateway, a meter with its key and calibration, activated, and two readings.
        let tx = |key: &SigningKey, nonce: u64, payload: TxPayload| {
            sign_tx(key, TxBody { chain_id: genesis.chain_id.clone(), sender: key.public_key(), nonce, payload })
        };
        let enterprise = &devnet.enterprises[0];
        let gateway = DeviceId::new(format!("{}-GW01", enterprise.org.id)).expect("a device id");
        let meter = DeviceId::new(format!("{}-EM01", enterprise.org.id)).expect("a device id");
        let gateway_key = SigningKey::from_seed(KeyScheme::Ed25519, [200; 32]);
        let meter_key = SigningKey::from_seed(KeyScheme::Ed25519, [101; 32]);
        let spec = MeterSpec {
            id: meter.clone(),
            gateway: gateway.clone(),
            name: "feeder 1".into(),
            energy: EnergyKind::Electricity,
            unit: Unit::KilowattHour,
            register: RegisterKind::Cumulative,
            accuracy: AccuracyClass(50),
            location: LocationPath(vec!["site-1".into()]),
            register_max: Quantity::from_micros(99_999_999 * Quantity::SCALE),
            rated_per_hour: Quantity::from_micros(2_000 * Quantity::SCALE),
            tariff: None,
            master: None,
            public_key: Some(meter_key.public_key()),
        };
        let calibration = Calibration {
            certificate_no: "HNJL-2025-00001".into(),
            issuer: devnet.metrology.org.id.clone(),
            valid_from_ms: GENESIS_MS - 30 * 86_400_000,
            valid_until_ms: GENESIS_MS + 335 * 86_400_000,
        };
        let mut txs = vec![
            tx(
                &enterprise.key,
                1,
                TxPayload::RegisterGateway { id: gateway.clone(), public_key: gateway_key.public_key() },
            ),
            tx(&enterprise.key, 2, TxPayload::RegisterMeter { meter: spec }),
            tx(&devnet.metrology.key, 1, TxPayload::RecordCalibration { meter: meter.clone(), calibration }),
            tx(&devnet.regulator.key, 1, TxPayload::ActivateDevice { device: gateway.clone() }),
            tx(&devnet.regulator.key, 2, TxPayload::ActivateDevice { device: meter.clone() }),
        ];
        let readings = (1..=2)
            .map(|seq| {
                let r = Reading {
                    meter: meter.clone(),
                    seq,
                    timestamp_ms: GENESIS_MS + seq as i64 * 15 * 60_000,
                    value: Quantity::from_micros(12_345_678_900 + seq as i64 * 1_000_000_000),
                    unit: Unit::KilowattHour,
                    origin: ReadingOrigin::Online,
                    clock_suspect: false,
                };
                sign_reading(&meter_key, r, ReadingSigner::Meter)
            })
            .collect();
        let submit = tx(&gateway_key, 1, TxPayload::SubmitReadings { gateway: gateway.clone(), readings });
        let tx_json = serde_json::to_string(&submit).expect("prints");
        txs.push(submit);
        let (block, _) = build_block(
            &app.finalized_state(),
            &BlockContext { epoch: 0, view: 1, timestamp_ms: GENESIS_MS + 40 * 60_000 },
            txs,
            &SignatureVerdicts::none(),
        );
        let bytes = encode(&block);
        let mut frame = (bytes.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&bytes);
        frame.extend_from_slice(&[7; 120]);
        app.apply_finalized(ChainBlock::new(genesis.params.hash, block), None).expect("the block applies");

        let doc = trustmeter_node::api::openapi();
        let doc = serde_json::to_value(&doc).expect("the document prints");
        let mut routes = vec![];
        let mut documented_5xx = vec![];
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for (method, op) in ops.as_object().expect("operations") {
                // Event streams answer forever, and `/v1/alarms` waits (5 s) for the first pass of
                // an alarm engine this node does not run.
                if path.ends_with("/stream") || path == "/v1/alarms" {
                    continue;
                }
                routes.push((method.to_ascii_uppercase(), path.clone()));
                for status in op["responses"].as_object().into_iter().flat_map(|r| r.keys()) {
                    if let Ok(s) = status.parse::<u16>()
                        && s >= 500
                        && !documented_5xx.contains(&s)
                    {
                        documented_5xx.push(s);
                    }
                }
            }
        }
        assert!(routes.len() > 30, "{routes:?}");
        let ids = vec![
            meter.to_string(),
            gateway.to_string(),
            enterprise.org.id.to_string(),
            enterprise.key.public_key().to_text(),
            "1".into(),
            "2026".into(),
            "2026-01-01".into(),
        ];

        let state = trustmeter_node::api::ApiState::with_options(
            "fuzz".into(),
            genesis.clone(),
            app,
            index,
            None,
            trustmeter_analytics::alarms::AlarmHub::new(Default::default()),
            trustmeter_node::api::ApiOptions::default(),
        );
        let router = trustmeter_node::api::router(state);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("an address");
        let limits = trustmeter_httpserve::ServerLimits {
            header_read_timeout_ms: 2_000,
            body_read_timeout_ms: 2_000,
            max_requests_per_s_per_ip: 1_000_000,
            ..Default::default()
        };
        std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
                trustmeter_httpserve::serve(listener, router, limits, None, Default::default(), std::future::pending())
                    .await;
            });
        });
        Node { addr, routes, documented_5xx, ids, tx_json, frame, _dir: dir }
    })
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// A value for a path parameter or a query value.
fn value() -> impl Strategy<Value = String> {
    let ids = node().ids.clone();
    prop_oneof![
        4 => prop::sample::select(ids),
        2 => prop::sample::select(vec![
            "0", "-1", "18446744073709551615", "18446744073709551616", "9223372036854775808", "1e3", "0x10",
            "2026-13-40", "1970-01-01", "9999-12-31", "", "%", "%zz", "%00", "%2F", "..", ".%2e", "%ff%fe",
            "ed25519:00", "sm2:zz", "electricity", "kilowatt_hour", "csv", "html", "json", "true", "null",
        ])
        .prop_map(str::to_string),
        1 => "[0-9a-f]{64}",
        1 => "[A-Za-z0-9_.~-]{1,40}",
        1 => ".{0,12}".prop_map(|s| percent(&s)),
        1 => (1usize..5).prop_map(|n| "9".repeat(n * 60)),
    ]
}

/// Percent-escapes everything outside the unreserved characters (a path or query stays one token).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

const QUERY_NAMES: [&str; 24] = [
    "from",
    "to",
    "limit",
    "after",
    "cursor",
    "day",
    "year",
    "month",
    "energy",
    "unit",
    "format",
    "kind",
    "org",
    "meter",
    "region",
    "status",
    "epochs_from",
    "days",
    "readings",
    "decimals",
    "lang",
    "scope",
    "height",
    "x",
];

fn query() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        4 => prop::collection::vec((prop::sample::select(&QUERY_NAMES[..]), value()), 0..5)
            .prop_map(|kv| Some(kv.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"))),
        1 => "[a-z=&%0-9]{0,30}".prop_map(Some),
    ]
}

const HEADERS: [&str; 12] = [
    "Content-Type",
    "Accept",
    "Signature-Input",
    "Signature",
    "Content-Digest",
    "Last-Event-ID",
    "Range",
    "If-None-Match",
    "X-Forwarded-For",
    "Authorization",
    "Origin",
    "Content-Encoding",
];

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "application/json", "application/octet-stream", "text/csv", "text/plain", "*/*", "gzip",
            "tm=(\"@method\" \"@path\" \"@query\");created=1;keyid=\"ed25519:00\";alg=\"ed25519\";tag=\"trustmeter/v1\"",
            "tm=:AAAA:", "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:", "bytes=0-1", "-1", "18446744073709551616",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,60}",
    ]
}

#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let tx = node().tx_json.clone();
    prop_oneof![
        2 => Just(vec![]),
        2 => (Just(tx), byte_edits()).prop_map(|(t, e)| edited(t.as_bytes(), &e)),
        2 => prop::sample::select(vec![
            "{}", "[]", "null", "1e400", "{\"green_power_share\": \"0.5\"}", "{\"a\":", "\"x\"", "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let routes = node().routes.clone();
    let route = prop::sample::select(routes);
    (
        route,
        prop::collection::vec(value(), 4),
        prop_oneof![6 => Just(None), 1 => prop::sample::select(vec!["POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "GET"]).prop_map(Some)],
        prop_oneof![8 => Just(None), 1 => "(/[A-Za-z0-9%._-]{0,12}){1,4}".prop_map(Some)],
        query(),
        prop::collection::vec((prop::sample::select(&HEADERS[..]), header_value()), 0..4),
        body(),
    )
        .prop_map(|((method, template), values, other_method, junk_path, query, headers, body)| {
            let mut path = String::new();
            let mut i = 0;
            for segment in template.split('/').skip(1) {
                path.push('/');
                if segment.starts_with('{') {
                    path.push_str(&values[i % values.len()]);
                    i += 1;
                } else {
                    path.push_str(segment);
                }
            }
            Request {
                method: other_method.map(str::to_string).unwrap_or(method),
                path: junk_path.unwrap_or(path),
                query,
                headers: headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                body,
            }
        })
}

/// Sends `r` as raw HTTP/1.1 and returns the status, the response head and the body.
fn send(r: &Request) -> Result<(u16, String, Vec<u8>), TestCaseError> {
    let n = node();
    let mut s = TcpStream::connect(n.addr).map_err(|e| TestCaseError::fail(format!("connect: {e}")))?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut head = format!("{} {}", r.method, r.path);
    if let Some(q) = &r.query {
        head.push('?');
        head.push_str(q);
    }
    head.push_str(" HTTP/1.1\r\nHost: node\r\nConnection: close\r\n");
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", r.body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&r.body);
    s.write_all(&bytes).map_err(|e| TestCaseError::fail(format!("write: {e}")))?;
    let mut answer = vec![];
    s.read_to_end(&mut answer).map_err(|e| TestCaseError::fail(format!("no answer ({e}) to {r:?}")))?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n");
    let Some(split) = split else {
        return Err(TestCaseError::fail(format!(
            "no response (a panic?) to {r:?}: {:?}",
            String::from_utf8_lossy(&answer)
        )));
    };
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut body = answer[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok((status, head, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

/// The API answers `r` without a panic, with no undocumented 5xx, and with `{code, message}` JSON
/// for every error.
fn is_answered(r: &Request) -> Result<(), TestCaseError> {
    let (status, head, body) = send(r)?;
    prop_assert!(status >= 100, "no status line: {head}\n{r:?}");
    if status >= 500 {
        prop_assert!(
            node().documented_5xx.contains(&status),
            "an undocumented {status}: {head}\n{r:?}\n{}",
            String::from_utf8_lossy(&body)
        );
    }
    // The HTTP parser refuses what is not HTTP before the API sees it (an empty 400).
    let parser_refusal = status == 400 && body.is_empty();
    if status >= 400 && r.method != "HEAD" && !parser_refusal {
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            TestCaseError::fail(format!(
                "{status} without a JSON body ({e}): {head}\n{:?}\n{r:?}",
                String::from_utf8_lossy(&body)
            ))
        })?;
        prop_assert!(v["code"].is_string() && v["message"].is_string(), "{status}: {v}\n{r:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(trustmeter_fuzzkit::config(600, SEED))]

    #[test]
    fn random_requests_are_answered_with_json_errors_and_no_undocumented_5xx(r in request()) {
        is_answered(&r)?;
    }
}

#[test]
fn the_node_serves_its_data() {
    let n = node();
    let get = |path: &str| {
        send(&Request { method: "GET".into(), path: path.into(), query: None, headers: vec![], body: vec![] }).unwrap()
    };
    let (status, _, body) = get(&format!("/v1/meters/{}", n.ids[0]));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = get("/no/such/route");
    assert_eq!(status, 404);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], "not_found");
}

// ---------------------------------------------------------------------------------------------
// Follower frames
// ---------------------------------------------------------------------------------------------

/// Splitting never panics and gives exactly the frame's bytes; a block that decodes is canonical.
fn frame_is_read(frame: &[u8]) -> Result<(), TestCaseError> {
    let Ok((block, certificate)) = split_frame(frame) else { return Ok(()) };
    let len = u32::from_be_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
    prop_assert_eq!(block, &frame[4..4 + len]);
    prop_assert_eq!(certificate, (frame.len() > 4 + len).then(|| &frame[4 + len..]));
    if let Ok(b) = decode::<Block>(block, MAX_BLOCK_BYTES) {
        prop_assert_eq!(encode(&b), block.to_vec(), "a block re-encodes to the bytes read");
    }
    Ok(())
}

proptest! {
    #![proptest_config(trustmeter_fuzzkit::config(3_000, SEED))]

    #[test]
    fn arbitrary_frames_never_panic(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (prop::sample::select(&trustmeter_fuzzkit::EDGE_U32[..]), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(n, rest)| n.to_be_bytes().iter().copied().chain(rest).collect()),
    ]) {
        frame_is_read(&bytes)?;
    }

    #[test]
    fn edited_frames_split_and_decode_canonically_or_not_at_all(edits in byte_edits()) {
        frame_is_read(&edited(&node().frame, &edits))?;
    }
}

#[test]
fn the_genuine_frame_splits_into_its_block() {
    let (block, certificate) = split_frame(&node().frame).expect("splits");
    let b: Block = decode(block, MAX_BLOCK_BYTES).expect("decodes");
    assert_eq!(b.txs.len(), 6);
    assert_eq!(certificate, Some(&[7u8; 120][..]));
}
