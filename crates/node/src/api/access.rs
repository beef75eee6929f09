//! Who may read what (数据访问授权), in one place for every route.
//!
//! A request is signed with a member's account key (RFC 9421, `trustmeter-httpsig`) or not at
//! all. [`authorise`] (a middleware on every route) verifies the signature, finds the key's
//! organisation in the finalized state, works out whose data the request touches (its
//! *subject*: an enterprise, a region, or everything) from the route and its parameters, and
//! decides by the route's [`Rule`] (the table [`ROUTES`]; a route without a rule is refused).
//! Every allowed read of non-public data is appended to the node's access log, which the data's
//! owner (and its regulators) read at `GET /v1/access-log`.
//!
//! | rule | who reads |
//! |---|---|
//! | public | anyone, unsigned (status, OpenAPI, metrics, submitting and following transactions, the member register, audit policies, carbon methodologies, proposals) — and whatever a region's disclosure (rankings, regional figures) or an enterprise's publication of its figures makes public |
//! | chain | regulators, statistics bureaus and organisations that run a validator (raw blocks hold every reading) |
//! | registry | an enterprise its own devices; regulators and statistics bureaus those of their region; metrology authorities all (they calibrate them); members it granted `registry` |
//! | data (readings, figures, alarms) | an enterprise its own; regulators and statistics bureaus those of their region; members it granted that scope (on chain, until the grant expires or is revoked; checked at every read) |
//! | access log | an enterprise its own; regulators those of their region |
//! | upload | an enterprise into its own area (its evidence files) |
//!
//! "Their region" follows GB/T 2260 (`trustmeter_types::membership::jurisdiction_covers`): the
//! national authority (100000) covers everything, a province its cities and counties. A request
//! about everything (a list with no enterprise named) needs a national regulator or statistics
//! bureau (or, for registry lists, a metrology authority).
//!
//! Enforced by default on a real chain; open by default on a devnet (`Genesis::devnet_seed`),
//! where `[api] access = "enforced"` turns it on (the demo does). Open: nothing is refused or
//! logged, and a signature that does not hold is ignored.

use crate::api::{ApiError, ApiState};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use trustmeter_state::State as ChainState;
use trustmeter_types::membership::{NATIONAL_REGION, enclosing_regions, jurisdiction_covers};
use trustmeter_types::{DeviceId, Genesis, GrantScope, OrgKind, OrgStatus, PublicKey, UnifiedSocialCreditCode};

/// Whether the node enforces the rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    /// Signatures are checked when present; nothing is refused or logged.
    #[default]
    Open,
    /// Every route's rule is enforced and every non-public read is logged.
    Enforced,
}

/// What a route serves, for [`decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Anyone.
    Public,
    /// Raw blocks and certificates.
    Chain,
    /// Gateway and meter records.
    Registry,
    /// One scope of an enterprise's data: readings and proofs, figures, alarms.
    Data(GrantScope),
    /// An organisation's own records of who reads its data: its access log and its grants.
    AccessLog,
    /// Writing into an enterprise's own area of the node (its evidence files): the enterprise
    /// only.
    Upload,
}

/// Every route the API serves, with its rule: (method, path template, rule). The router and the
/// OpenAPI document are checked against this table by tests; a request to a route missing here
/// is refused.
pub const ROUTES: &[(&str, &str, Rule)] = &[
    ("GET", "/", Rule::Public),
    ("GET", "/app/", Rule::Public),
    ("GET", "/app/{file}", Rule::Public),
    ("GET", "/openapi.json", Rule::Public),
    ("GET", "/metrics", Rule::Public),
    ("GET", "/v1/status", Rule::Public),
    ("GET", "/v1/genesis", Rule::Public),
    ("POST", "/v1/transactions", Rule::Public),
    ("GET", "/v1/transactions/{hash}", Rule::Public),
    ("GET", "/v1/transactions/{hash}/proof", Rule::Public),
    ("GET", "/v1/organisations", Rule::Public),
    ("GET", "/v1/organisations/{id}", Rule::Public),
    ("GET", "/v1/disclosures/{region}", Rule::Public),
    ("GET", "/v1/published", Rule::Public),
    ("GET", "/v1/accounts/{public_key}", Rule::Public),
    ("GET", "/v1/proposals/{id}", Rule::Public),
    ("GET", "/v1/policy", Rule::Public),
    ("GET", "/v1/policy/proof", Rule::Public),
    ("GET", "/v1/methodologies", Rule::Public),
    ("GET", "/v1/methodology", Rule::Public),
    ("GET", "/v1/blocks/{height}", Rule::Chain),
    ("GET", "/v1/chain/finalized/{height}", Rule::Chain),
    ("GET", "/v1/meters", Rule::Registry),
    ("GET", "/v1/meters/{id}", Rule::Registry),
    ("GET", "/v1/meters/{id}/proof", Rule::Registry),
    ("GET", "/v1/gateways", Rule::Registry),
    ("GET", "/v1/gateways/{id}", Rule::Registry),
    ("GET", "/v1/meters/{id}/readings", Rule::Data(GrantScope::Readings)),
    ("GET", "/v1/meters/{id}/readings/{seq}/proof", Rule::Data(GrantScope::Readings)),
    ("GET", "/v1/alarms", Rule::Data(GrantScope::Alarms)),
    ("GET", "/v1/alarms/stream", Rule::Data(GrantScope::Alarms)),
    ("GET", "/v1/figures/daily", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/figures/series", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/figures/breakdown", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/figures/ranking", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/figures/tou", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/enterprises/{org}/energy", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/enterprises/{org}/carbon", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/enterprises/{org}/carbon/entries", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/enterprises/{org}/carbon/year", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/enterprises/{org}/shifts", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/enterprises/{org}/balance", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/enterprises/{org}/carbon/report", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/enterprises/{org}/carbon/compliance", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/carbon/compliance", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/enterprises/{org}/carbon/proof", Rule::Data(GrantScope::Figures)),
    ("POST", "/v1/enterprises/{org}/carbon/what-if", Rule::Data(GrantScope::Figures)),
    ("PUT", "/v1/enterprises/{org}/evidence", Rule::Upload),
    ("GET", "/v1/enterprises/{org}/evidence/{hash}", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/quality", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/proofs/daily/{org}/{day}/{energy}/{unit}", Rule::Data(GrantScope::Figures)),
    ("GET", "/v1/epoch", Rule::Public),
    ("GET", "/v1/validators", Rule::Public),
    ("GET", "/v1/rewards/schedule", Rule::Public),
    // A token account is its organisation's business and its regulators'.
    ("GET", "/v1/token/{org}", Rule::AccessLog),
    ("GET", "/v1/access-log", Rule::AccessLog),
    ("GET", "/v1/grants", Rule::AccessLog),
    ("GET", "/v1/grants/received", Rule::AccessLog),
];

/// The rule of a route, if it has one.
pub fn rule_of(method: &Method, template: &str) -> Option<Rule> {
    ROUTES.iter().find(|(m, p, _)| *m == method.as_str() && *p == template).map(|(_, _, r)| *r)
}

/// A member that signed a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its organisation.
    pub org: UnifiedSocialCreditCode,
    /// The organisation's kind.
    pub kind: OrgKind,
    /// The organisation's region.
    pub region: u32,
    /// The account key that signed.
    pub key: PublicKey,
}

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// An unsigned request.
    Public,
    /// A member's account.
    Member(Member),
    /// A valid signature by a key that is neither an active account of an active member nor an
    /// active gateway's current key: public routes only.
    Stranger(PublicKey),
    /// An active gateway, with its current key: it reads its own enterprise's device records
    /// (its pre-audit) and nothing else.
    Gateway {
        /// The gateway.
        id: DeviceId,
        /// Its enterprise.
        owner: UnifiedSocialCreditCode,
    },
}

/// Whose data a request touches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// One enterprise's.
    Enterprise(UnifiedSocialCreditCode),
    /// Every enterprise of a region.
    Region(u32),
    /// Everyone's.
    All,
}

fn unauthorised(message: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// The `Content-Digest` a request's signature covers: the handler checks the body against it
/// (`trustmeter_httpsig::check_digest`) before using the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedDigest(pub String);

/// The caller of a request with these signature headers, at `now_s` (Unix seconds): verifies the
/// signature and finds an active account of an active member. With the `Content-Digest` the
/// signature covers, if it covers one.
pub fn caller(
    state: &ChainState,
    (method, path, query): (&str, &str, Option<&str>),
    content_digest: Option<&str>,
    signature_input: Option<&str>,
    signature: Option<&str>,
    now_s: i64,
) -> Result<(Caller, Option<String>), ApiError> {
    let (input, sig) = match (signature_input, signature) {
        (None, None) => return Ok((Caller::Public, None)),
        (Some(i), Some(s)) => (i, s),
        _ => return Err(unauthorised(trustmeter_httpsig::AuthError::HalfSigned.to_string())),
    };
    let v = trustmeter_httpsig::verify_with_digest(method, path, query, content_digest, input, sig, now_s)
        .map_err(|e| unauthorised(e.to_string()))?;
    let digest = v.content_digest.clone();
    Ok((identify(state, v)?, digest))
}

fn identify(state: &ChainState, v: trustmeter_httpsig::Verified) -> Result<Caller, ApiError> {
    let Some(org) = state.account_org(&v.key) else {
        let gateway = state.device_of_key(&v.key).and_then(|id| state.gateway(&id));
        return match gateway {
            Some(g)
                if g.public_key == v.key
                    && g.status == trustmeter_types::DeviceStatus::Active
                    && state.membership(&g.owner).is_none_or(|m| m.status == OrgStatus::Active) =>
            {
                Ok(Caller::Gateway { id: g.id, owner: g.owner })
            }
            _ => Ok(Caller::Stranger(v.key)),
        };
    };
    let o = state.organisation(&org).ok_or_else(|| unauthorised(format!("organisation {org} is not a member")))?;
    if state.membership(&org).is_some_and(|m| m.status != OrgStatus::Active) {
        return Ok(Caller::Stranger(v.key));
    }
    Ok(Caller::Member(Member { org, kind: o.kind, region: o.region, key: v.key }))
}

fn org_code(s: &str) -> Result<UnifiedSocialCreditCode, ApiError> {
    UnifiedSocialCreditCode::new(s).map_err(|e| ApiError::bad_request(format!("organisation {s:?}: {e}")))
}

/// The owner of a device: the credit code its id is named under, else the registry's record.
fn device_owner(state: &ChainState, id: &str) -> Result<Subject, ApiError> {
    let id = DeviceId::new(id).map_err(|e| ApiError::bad_request(format!("device id {id:?}: {e}")))?;
    if let Some(code) = id.owner_code() {
        return Ok(Subject::Enterprise(code));
    }
    let owner = state.meter(&id).map(|m| m.owner).or_else(|| state.gateway(&id).map(|g| g.owner));
    Ok(owner.map_or(Subject::All, Subject::Enterprise))
}

fn region_code(s: &str) -> Result<u32, ApiError> {
    s.parse().map_err(|_| ApiError::bad_request(format!("region {s:?} is not a code")))
}

/// Whose data a request to `template` (with this path and query) touches: every subject any of
/// its parameters names, decoded exactly as the handlers decode them (percent-decoded path
/// segments; form-decoded, trimmed query values, every repetition), so no spelling of a request
/// can show the rules one subject and the handler another. A request naming none touches
/// everyone's data.
pub fn subjects(state: &ChainState, template: &str, path: &str, query: Option<&str>) -> Result<Vec<Subject>, ApiError> {
    let mut out = vec![];
    let segments: Vec<String> =
        path.split('/').map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()).collect();
    let template_segments: Vec<&str> = template.split('/').collect();
    let path_param = |name: &str| template_segments.iter().position(|s| *s == name).and_then(|i| segments.get(i));
    if (template.starts_with("/v1/meters/") || template.starts_with("/v1/gateways/"))
        && let Some(id) = path_param("{id}")
    {
        out.push(device_owner(state, id)?);
    }
    if let Some(org) = path_param("{org}") {
        out.push(Subject::Enterprise(org_code(org)?));
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.trim().to_string()))
        .collect();
    let values = |key: &str| pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
    for v in values("org").into_iter().chain(values("owner")) {
        if !v.is_empty() {
            out.push(Subject::Enterprise(org_code(v)?));
        }
    }
    for v in values("region") {
        if !v.is_empty() {
            out.push(Subject::Region(region_code(v)?));
        }
    }
    let scopes = values("scope");
    if scopes.len() > 1 {
        return Err(ApiError::bad_request("scope= is given more than once"));
    }
    for id in values("id").into_iter().filter(|v| !v.is_empty()) {
        match scopes.first().copied() {
            Some("meter") => out.push(device_owner(state, id)?),
            Some("org") => out.push(Subject::Enterprise(org_code(id)?)),
            Some("region") => out.push(Subject::Region(region_code(id)?)),
            // A location path is the `org` enterprise's (already above); without a scope the
            // handler refuses the request.
            _ => {}
        }
    }
    if out.is_empty() {
        out.push(Subject::All);
    }
    Ok(out)
}

fn is_authority(kind: OrgKind) -> bool {
    matches!(kind, OrgKind::Regulator | OrgKind::StatisticsBureau)
}

/// Whether the public may read `subject` by `rule` at `template`: a region's rankings or
/// aggregate figures its disclosure (or an enclosing region's) makes public, or an enterprise's
/// figures it published (until they expire).
pub fn disclosed(state: &ChainState, rule: Rule, template: &str, subject: &Subject) -> bool {
    match (rule, subject) {
        (Rule::Data(GrantScope::Figures), Subject::Region(r)) => {
            let ranking = template == "/v1/figures/ranking";
            enclosing_regions(*r).into_iter().any(|x| {
                state
                    .disclosure(x)
                    .is_some_and(|d| if ranking { d.disclosure.rankings } else { d.disclosure.regional_figures })
            })
        }
        (Rule::Data(GrantScope::Figures), Subject::Enterprise(o)) => {
            let now_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            state.published(o).is_some_and(|g| g.expires_at_ms > now_ms)
        }
        _ => false,
    }
}

/// Whether `rule` lets `caller` read `subject`; the refusal says what is missing.
pub fn decide(
    state: &ChainState,
    genesis: &Genesis,
    rule: Rule,
    template: &str,
    caller: &Caller,
    subject: &Subject,
) -> Result<(), ApiError> {
    if rule == Rule::Public || disclosed(state, rule, template, subject) {
        return Ok(());
    }
    if let Caller::Gateway { id, owner } = caller {
        return match (rule, subject) {
            (Rule::Registry, Subject::Enterprise(o)) if o == owner => Ok(()),
            _ => Err(forbidden(format!("gateway {id} reads only its own enterprise's device records"))),
        };
    }
    if let Caller::Stranger(key) = caller {
        return Err(unauthorised(format!(
            "key {key} is not an active account of an active member organisation, nor an active gateway's current key; this route serves members' data"
        )));
    }
    let Caller::Member(m) = caller else {
        return Err(unauthorised(
            "this route serves members' data: sign the request with a member account key (RFC 9421 HTTP message signature, see crates/httpsig/README.md; `trustmeter query --key`)".into(),
        ));
    };
    let covers = |region: u32| is_authority(m.kind) && jurisdiction_covers(m.region, region);
    let region_of = |org: &UnifiedSocialCreditCode| state.organisation(org).map(|o| o.region);
    let national = is_authority(m.kind) && m.region == NATIONAL_REGION;
    // A grant in force now (checked at every read: an expired or revoked one refuses).
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let granted = |o: &UnifiedSocialCreditCode, scope: GrantScope| {
        state.grant(o, &m.org, scope).is_some_and(|g| g.expires_at_ms > now_ms)
    };
    let ok = match (rule, subject) {
        (Rule::Public, _) => true,
        (Rule::Chain, _) => is_authority(m.kind) || genesis.validators.iter().any(|v| v.org == m.org),
        (Rule::Registry, Subject::Enterprise(o)) => {
            &m.org == o
                || m.kind == OrgKind::MetrologyAuthority
                || region_of(o).is_some_and(covers)
                || granted(o, GrantScope::Registry)
        }
        (Rule::Registry, Subject::All) => m.kind == OrgKind::MetrologyAuthority || national,
        (Rule::Data(scope), Subject::Enterprise(o)) => {
            &m.org == o || region_of(o).is_some_and(covers) || granted(o, scope)
        }
        (Rule::Upload, Subject::Enterprise(o)) => &m.org == o,
        (Rule::Upload, _) => false,
        (Rule::AccessLog, Subject::Enterprise(o)) => {
            &m.org == o || (m.kind == OrgKind::Regulator && region_of(o).is_some_and(covers))
        }
        (_, Subject::Region(r)) => covers(*r),
        (_, Subject::All) => national,
    };
    if ok {
        return Ok(());
    }
    let what = match subject {
        Subject::Enterprise(o) => format!("enterprise {o}'s"),
        Subject::Region(r) => format!("region {r}'s"),
        Subject::All => "every enterprise's".into(),
    };
    let needs = match rule {
        Rule::Chain => "raw blocks are read by regulators, statistics bureaus and validator operators",
        Rule::Registry => {
            "device records are read by their enterprise, the regulators and statistics bureaus of its region, metrology authorities and members it granted `registry` (trustmeter tx grant); a list of every device by a national authority or a metrology authority"
        }
        Rule::AccessLog => "an access log is read by its enterprise and the regulators of its region",
        Rule::Upload => {
            "an enterprise's evidence files are uploaded by the enterprise itself, signed with one of its account keys"
        }
        Rule::Data(scope) => match (subject, scope) {
            (Subject::Enterprise(_), GrantScope::Readings) => {
                "an enterprise's readings are read by the enterprise, the regulators and statistics bureaus whose region covers it, and members it granted `readings` (trustmeter tx grant)"
            }
            (Subject::Enterprise(_), GrantScope::Alarms) => {
                "an enterprise's alarms are read by the enterprise, the regulators and statistics bureaus whose region covers it, and members it granted `alarms` (trustmeter tx grant)"
            }
            (Subject::Enterprise(_), _) => {
                "an enterprise's figures are read by the enterprise, the regulators and statistics bureaus whose region covers it, and members it granted `figures` (trustmeter tx grant)"
            }
            _ => {
                "a region's data is read by the regulators and statistics bureaus covering it; everyone's by a national one"
            }
        },
        Rule::Public => "",
    };
    Err(forbidden(format!("{} ({:?}, region {}) may not read {what} data: {needs}", m.org, m.kind, m.region)))
}

/// The middleware on every route: authenticates, authorises and logs.
pub async fn authorise(State(s): State<ApiState>, matched: MatchedPath, mut req: Request, next: Next) -> Response {
    match check(&s, matched.as_str(), &req) {
        Ok((caller, digest)) => {
            req.extensions_mut().insert(caller);
            if let Some(d) = digest {
                req.extensions_mut().insert(SignedDigest(d));
            }
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Who asks, and whether the node's rules let them: the caller, or the refusal.
fn check(s: &ApiState, template: &str, req: &Request) -> Result<(Caller, Option<String>), ApiError> {
    let (method, path, query) = (req.method(), req.uri().path(), req.uri().query());
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (input, sig) = (header(trustmeter_httpsig::SIGNATURE_INPUT), header(trustmeter_httpsig::SIGNATURE));
    let content_digest = header(trustmeter_httpsig::CONTENT_DIGEST);
    let access = s.access();
    // The common case costs nothing: an unsigned request to an open API or a public route
    // (every submission) never takes the state (and the application's lock).
    let public_route = rule_of(method, template) == Some(Rule::Public);
    if input.is_none() && sig.is_none() && (access.mode == AccessMode::Open || public_route) {
        return Ok((Caller::Public, None));
    }
    let state = s.app().finalized_state();
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (caller, digest) = match caller(&state, (method.as_str(), path, query), content_digest, input, sig, now_s) {
        Ok(c) => c,
        // An open API refuses nothing: a signature that does not hold is ignored.
        Err(e) if access.mode == AccessMode::Open => {
            tracing::debug!(error = %e.message, "request signature ignored (access is open)");
            (Caller::Public, None)
        }
        Err(e) => return Err(e),
    };
    if access.mode == AccessMode::Open {
        return Ok((caller, digest));
    }
    let rule =
        rule_of(method, template).ok_or_else(|| forbidden(format!("route {method} {template} has no access rule")))?;
    if rule == Rule::Public {
        return Ok((caller, digest));
    }
    if rule == Rule::Upload && digest.is_none() && matches!(caller, Caller::Member(_)) {
        return Err(unauthorised(
            "an upload's signature must cover its body: send Content-Digest (RFC 9530, sha-256) and sign it with the method, path and query"
                .into(),
        ));
    }
    let subjects = subjects(&state, template, path, query)?;
    for subject in &subjects {
        decide(&state, s.genesis(), rule, template, &caller, subject)?;
    }
    for subject in &subjects {
        let (Caller::Member(m), Some(log)) = (&caller, &access.log) else { break };
        log.record(AccessEntry {
            id: 0,
            at_ms: now_s * 1_000,
            subject: match subject {
                Subject::Enterprise(o) => o.to_string(),
                Subject::Region(r) => format!("region:{r}"),
                Subject::All => "all".into(),
            },
            reader: m.org.to_string(),
            key: m.key.to_text(),
            request: format!("{method} {path}{}", query.map(|q| format!("?{q}")).unwrap_or_default()),
        });
    }
    Ok((caller, digest))
}

/// The node's access rules and log.
#[derive(Clone, Default)]
pub struct Access {
    /// Open or enforced.
    pub mode: AccessMode,
    /// Where allowed reads are recorded (enforced mode).
    pub log: Option<Arc<AccessLog>>,
}

/// One recorded read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessEntry {
    /// The entry's id: increasing, unique on this node; `before=` this id pages to older ones.
    #[serde(default)]
    pub id: u64,
    /// When, Unix ms (the node's clock).
    pub at_ms: i64,
    /// Whose data: a credit code, `region:<code>` or `all`.
    pub subject: String,
    /// The organisation that read it.
    pub reader: String,
    /// The account key that signed the request.
    pub key: String,
    /// Method, path and query.
    pub request: String,
}

/// Entries by (subject, id): what `GET /v1/access-log` reads.
const LOG: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("access_log");
/// The subject of each id, in id (time) order: what retention prunes by.
const BY_ID: TableDefinition<u64, &str> = TableDefinition::new("access_log_by_id");
/// Reads waiting to be written before new ones are dropped (and counted).
pub const ACCESS_LOG_QUEUE: usize = 10_000;
/// Most entries one `GET /v1/access-log` returns.
pub const MAX_ACCESS_LOG_PAGE: usize = 1_000;
/// Default days an entry is kept (`[api] access_log_days`): a year and a day, beyond the six
/// months China's Cybersecurity Law (网络安全法, art. 21) asks network logs to be kept.
pub const DEFAULT_ACCESS_LOG_DAYS: u32 = 366;
/// Most entries one pruning pass deletes (one write transaction); a pass that reaches it runs
/// again at the next batch instead of waiting [`PRUNE_INTERVAL`].
pub const MAX_PRUNED_PER_PASS: usize = 50_000;
/// How often the writer prunes expired entries when there is nothing left over.
pub const PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// The access log: a redb file, written by its own thread in batches; entries older than the
/// retention are deleted by the same thread, a bounded number per pass.
pub struct AccessLog {
    db: Arc<redb::Database>,
    tx: SyncSender<AccessEntry>,
    dropped: std::sync::atomic::AtomicU64,
}

/// Microseconds since the Unix epoch by the node's clock.
fn now_micros() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

impl AccessLog {
    /// Opens (or creates) the log at `path` and starts its writer thread, which keeps entries for
    /// `retention_days`.
    pub fn open(path: &Path, retention_days: u32) -> anyhow::Result<Arc<Self>> {
        let db = Arc::new(redb::Database::create(path)?);
        let w = db.begin_write()?;
        w.open_table(LOG)?;
        w.open_table(BY_ID)?;
        w.commit()?;
        let (tx, rx) = sync_channel(ACCESS_LOG_QUEUE);
        let writer = db.clone();
        let retention_us = u64::from(retention_days) * 86_400_000_000;
        std::thread::Builder::new().name("access-log".into()).spawn(move || write_loop(&writer, rx, retention_us))?;
        Ok(Arc::new(AccessLog { db, tx, dropped: Default::default() }))
    }

    /// Queues an entry; if the writer is [`ACCESS_LOG_QUEUE`] behind, counts it as dropped.
    pub fn record(&self, e: AccessEntry) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(e) {
            let n = self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            tracing::warn!(dropped = n, "access log writer is behind; an entry was not recorded");
        }
    }

    /// Entries whose subject is `subject` with an id below `before` (all when `None`), newest
    /// first, at most `limit` (and [`MAX_ACCESS_LOG_PAGE`]).
    pub fn read(&self, subject: &str, before: Option<u64>, limit: usize) -> anyhow::Result<Vec<AccessEntry>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(LOG)?;
        let mut out = vec![];
        let end = before.unwrap_or(u64::MAX);
        for row in t.range((subject, 0)..(subject, end))?.rev().take(limit.min(MAX_ACCESS_LOG_PAGE)) {
            let (k, v) = row?;
            let mut e: AccessEntry = serde_json::from_slice(v.value())?;
            e.id = k.value().1;
            out.push(e);
        }
        Ok(out)
    }

    /// Entries held (all subjects).
    pub fn len(&self) -> anyhow::Result<u64> {
        use redb::ReadableTableMetadata;
        Ok(self.db.begin_read()?.open_table(BY_ID)?.len()?)
    }

    /// Whether the log holds no entry.
    pub fn is_empty(&self) -> anyhow::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Deletes the entries with an id below `cutoff` (ids are microseconds of the node's clock),
    /// at most [`MAX_PRUNED_PER_PASS`]; returns how many.
    pub fn prune_before(&self, cutoff: u64) -> anyhow::Result<usize> {
        prune(&self.db, cutoff)
    }
}

fn prune(db: &redb::Database, cutoff: u64) -> anyhow::Result<usize> {
    let w = db.begin_write()?;
    let n;
    {
        let mut by_id = w.open_table(BY_ID)?;
        let mut log = w.open_table(LOG)?;
        let expired: Vec<(u64, String)> = by_id
            .range(..cutoff)?
            .take(MAX_PRUNED_PER_PASS)
            .map(|row| row.map(|(k, v)| (k.value(), v.value().to_string())))
            .collect::<Result<_, _>>()?;
        n = expired.len();
        for (id, subject) in &expired {
            log.remove((subject.as_str(), *id))?;
            by_id.remove(*id)?;
        }
    }
    w.commit()?;
    Ok(n)
}

fn write_loop(db: &redb::Database, rx: Receiver<AccessEntry>, retention_us: u64) {
    // Ids are the clock's microseconds, kept increasing (several reads in one microsecond, or a
    // clock set back, take the next id): unique, and ordered as they were recorded.
    let mut id = now_micros();
    let mut next_prune = std::time::Instant::now();
    loop {
        let first = match rx.recv_timeout(PRUNE_INTERVAL) {
            Ok(e) => Some(e),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if let Some(first) = first {
            let mut batch = vec![first];
            batch.extend(rx.try_iter().take(ACCESS_LOG_QUEUE));
            let mut write = || -> anyhow::Result<()> {
                let w = db.begin_write()?;
                {
                    let mut t = w.open_table(LOG)?;
                    let mut by_id = w.open_table(BY_ID)?;
                    for e in &batch {
                        id = (id + 1).max(now_micros());
                        t.insert((e.subject.as_str(), id), serde_json::to_vec(e)?.as_slice())?;
                        by_id.insert(id, e.subject.as_str())?;
                    }
                }
                w.commit()?;
                Ok(())
            };
            if let Err(e) = write() {
                tracing::error!(error = %e, lost = batch.len(), "writing the access log failed");
            }
        }
        if std::time::Instant::now() >= next_prune {
            match prune(db, now_micros().saturating_sub(retention_us)) {
                Ok(n) if n >= MAX_PRUNED_PER_PASS => {} // more to do: again after the next batch
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(pruned = n, "access log: entries past retention deleted");
                    }
                    next_prune = std::time::Instant::now() + PRUNE_INTERVAL;
                }
                Err(e) => {
                    tracing::error!(error = %e, "pruning the access log failed");
                    next_prune = std::time::Instant::now() + PRUNE_INTERVAL;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_openapi_document_has_a_rule() {
        let doc = crate::api::openapi();
        for (path, item) in &doc.paths.paths {
            let methods = [("GET", item.get.is_some()), ("POST", item.post.is_some()), ("PUT", item.put.is_some())];
            for (m, present) in methods {
                if present {
                    let method = Method::from_bytes(m.as_bytes()).unwrap();
                    assert!(rule_of(&method, path).is_some(), "{m} {path} has no access rule in access::ROUTES");
                }
            }
        }
        for (m, p, _) in ROUTES {
            let item = doc.paths.paths.get(*p);
            let listed = item.is_some_and(|i| match *m {
                "GET" => i.get.is_some(),
                "PUT" => i.put.is_some(),
                _ => i.post.is_some(),
            });
            assert!(listed || *p == "/openapi.json", "{m} {p} has a rule but is not in the OpenAPI document");
        }
    }

    fn entry(subject: &str, n: u32) -> AccessEntry {
        AccessEntry {
            id: 0,
            at_ms: 0,
            subject: subject.into(),
            reader: "91430000MA4L0000XX".into(),
            key: "ed25519:00".into(),
            request: format!("GET /v1/figures/daily?n={n}"),
        }
    }

    /// Waits until the writer thread has written `n` entries.
    fn written(log: &AccessLog, n: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while log.len().unwrap() < n {
            assert!(std::time::Instant::now() < deadline, "the writer wrote {} of {n}", log.len().unwrap());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn the_access_log_pages_by_id_and_prunes_what_is_past_retention() {
        let dir = tempfile::tempdir().unwrap();
        let log = AccessLog::open(&dir.path().join("access.redb"), 366).unwrap();
        for n in 0..250 {
            log.record(entry("A", n));
            log.record(entry("B", n));
        }
        written(&log, 500);
        // Pages of 100, newest first, ids strictly decreasing, no entry twice, none of B's.
        let mut seen = vec![];
        let mut before = None;
        loop {
            let page = log.read("A", before, 100).unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.windows(2).all(|w| w[0].id > w[1].id));
            before = page.last().map(|e| e.id);
            seen.extend(page.into_iter().map(|e| e.request));
        }
        let expected: Vec<String> = (0..250).rev().map(|n| format!("GET /v1/figures/daily?n={n}")).collect();
        assert_eq!(seen, expected);
        // Pruning below the id of A's 100th entry deletes exactly the entries recorded before it.
        let all_a = log.read("A", None, 1_000).unwrap();
        let cutoff = all_a[150].id; // A's entry n = 99
        let older = |subject: &str| log.read(subject, Some(cutoff), 1_000).unwrap().len();
        let expected_pruned = older("A") + older("B");
        assert_eq!(older("A"), 99);
        assert_eq!(log.prune_before(cutoff).unwrap(), expected_pruned);
        assert_eq!(log.len().unwrap(), 500 - expected_pruned as u64);
        assert_eq!(older("A") + older("B"), 0);
        assert_eq!(log.read("A", None, 1_000).unwrap().len(), 151);
        // A pass deletes at most MAX_PRUNED_PER_PASS entries.
        for n in 0..(MAX_PRUNED_PER_PASS as u32 + 10) {
            log.record(entry("C", n));
            if n % 5_000 == 0 {
                written(&log, u64::from(n) + 1 + 500 - expected_pruned as u64);
            }
        }
        let total = 500 - expected_pruned as u64 + MAX_PRUNED_PER_PASS as u64 + 10;
        written(&log, total);
        assert_eq!(log.prune_before(u64::MAX).unwrap(), MAX_PRUNED_PER_PASS);
        assert_eq!(log.prune_before(u64::MAX).unwrap() as u64, total - MAX_PRUNED_PER_PASS as u64);
        assert!(log.is_empty().unwrap());
    }
}
