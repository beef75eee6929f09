//! The alarm routes: `GET /v1/alarms` (the active set as JSON) and `GET /v1/alarms/stream`
//! (server-sent events with resumption by `Last-Event-ID`). The engine itself is
//! [`trustmeter_analytics::alarms`]; this module only serves it.

use super::{ApiError, ApiState};
use axum::Json;
use axum::extract::{Query, State as AxState};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::convert::Infallible;
use tokio::sync::broadcast;
use trustmeter_analytics::alarms::{
    AlarmEvent, AlarmHub, AlarmScope, AlarmsView, EventKind, FRESHNESS_WAIT, KEEP_ALIVE, MAX_STREAM_CLIENTS,
    StreamSlot, StreamStart,
};
use trustmeter_types::UnifiedSocialCreditCode;
use utoipa::IntoParams;

/// Alarm query parameters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AlarmsQuery {
    /// Only alarms of this enterprise (unified social credit code).
    pub org: Option<String>,
    /// The same as `org` (the parameter's earlier name).
    pub owner: Option<String>,
    /// Only alarms of the enterprises in this region (GB/T 2260 code, e.g. `430000`: Hunan and
    /// its cities and counties; `100000`: everyone), as a regulator of the region covers them.
    /// One stream for a regulator's whole jurisdiction: a browser keeps at most six connections
    /// to a node, so a stream per enterprise would starve the page's other requests.
    pub region: Option<String>,
}

impl AlarmsQuery {
    fn scope(self) -> Result<AlarmScope, ApiError> {
        let org = match (self.org, self.owner) {
            (Some(a), Some(b)) if a.trim() != b.trim() => {
                return Err(ApiError::bad_request(format!(
                    "org={a} and owner={b} disagree; give one of them (owner is the older name of org)"
                )));
            }
            (a, b) => a.or(b).map(|o| o.trim().to_string()).filter(|o| !o.is_empty()),
        };
        let region = self.region.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
        match (org, region) {
            (Some(o), Some(r)) => Err(ApiError::bad_request(format!(
                "org={o} and region={r}: give one of them (an enterprise's alarms, or a region's)"
            ))),
            (Some(o), None) => {
                Ok(AlarmScope::Org(UnifiedSocialCreditCode::new(o).map_err(|e| ApiError::bad_request(e.to_string()))?))
            }
            (None, Some(r)) => match r.parse::<u32>() {
                Ok(code) if (100_000..1_000_000).contains(&code) => Ok(AlarmScope::Region(code)),
                _ => Err(ApiError::bad_request(format!(
                    "region={r:?} is not a GB/T 2260 region code (six digits, e.g. 430000)"
                ))),
            },
            (None, None) => Ok(AlarmScope::All),
        }
    }
}

/// Active alarms (告警), evaluated by this node on its finalized state: calibration
/// (`calibration_missing`, `calibration_expired`: critical, readings are refused;
/// `calibration_expiring`: warning), `missing_data`, `over_use` (thresholds in the node config)
/// and `anomaly` (the last completed hour against the same hour of the week in earlier weeks).
/// Answers once the engine has evaluated the finalized height current when the request arrived
/// (at most a few seconds).
#[utoipa::path(get, path = "/v1/alarms", params(AlarmsQuery), responses((status = 200, body = AlarmsView), (status = 400, body = ApiError)))]
pub async fn alarms(AxState(s): AxState<ApiState>, Query(q): Query<AlarmsQuery>) -> Result<Json<AlarmsView>, ApiError> {
    let scope = q.scope()?;
    let height = s.app().finalized_state().height;
    s.alarms().wait_evaluated(height, FRESHNESS_WAIT).await;
    Ok(Json(s.alarms().active(scope)))
}

struct Feed {
    /// Events to send before reading the channel.
    queued: VecDeque<Event>,
    rx: broadcast::Receiver<AlarmEvent>,
    scope: AlarmScope,
    /// The id of the last event sent (or included in the snapshot): older ones are not sent again.
    last_id: u64,
    hub: AlarmHub,
    _slot: StreamSlot,
}

fn event_sse(ev: &AlarmEvent) -> Event {
    let kind = match ev.event {
        EventKind::Raised => "raised",
        EventKind::Cleared => "cleared",
    };
    sse_json(kind, ev).id(ev.id.to_string())
}

fn sse_json(kind: &str, data: &impl Serialize) -> Event {
    Event::default().event(kind).data(serde_json::to_string(data).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")))
}

/// The alarm feed as server-sent events. The first event, `snapshot`, holds the active set (as
/// `GET /v1/alarms`) with the id of the last event it includes; then each `raised` and `cleared`
/// event carries an [`AlarmEvent`] as JSON with its id. A client that reconnects with the
/// `Last-Event-ID` header gets a `resumed` event (`{"after": id, "missed": n}`) and exactly the
/// events it missed, when this node still holds them (the last 4 096), else a new `snapshot`. A
/// client that falls behind is caught up from the same store; only one more than 4 096 events
/// behind gets a `lagged` event (`{"missed": n}`) and should fetch `GET /v1/alarms` again.
/// Keep-alive comments every 15 s. At most 256 clients per node (503 beyond).
#[utoipa::path(get, path = "/v1/alarms/stream", params(AlarmsQuery, ("Last-Event-ID" = Option<u64>, Header, description = "The id of the last event received; the stream resumes after it")), responses((status = 200, description = "text/event-stream of `snapshot`, `resumed`, `raised`, `cleared` and `lagged` events", body = AlarmEvent, content_type = "text/event-stream"), (status = 400, body = ApiError), (status = 503, body = ApiError)))]
pub async fn alarm_stream(
    AxState(s): AxState<ApiState>,
    Query(q): Query<AlarmsQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let scope = q.scope()?;
    let last = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(v.to_str().ok().and_then(|t| t.trim().parse::<u64>().ok()).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Last-Event-ID {v:?} is not an event id (a decimal number from the id: line of an event)"
            ))
        })?),
    };
    let hub = s.alarms().clone();
    let Some(slot) = hub.open_stream() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            format!("this node already serves {MAX_STREAM_CLIENTS} alarm streams; try another node or later"),
        ));
    };
    let (start, rx) = hub.subscribe_after(scope.clone(), last);
    let (queued, last_id) = match start {
        StreamStart::Snapshot(view, id) => (VecDeque::from([sse_json("snapshot", &view).id(id.to_string())]), id),
        StreamStart::Resume { after, events } => {
            let mut q =
                VecDeque::from([sse_json("resumed", &serde_json::json!({ "after": after, "missed": events.len() }))]);
            let last_id = events.last().map_or(after, |e| e.id);
            q.extend(events.iter().map(event_sse));
            (q, last_id)
        }
    };
    let feed = Feed { queued, rx, scope, last_id, hub, _slot: slot };
    let stream = futures::stream::unfold(feed, |mut f| async move {
        if let Some(e) = f.queued.pop_front() {
            return Some((Ok(e), f));
        }
        loop {
            match f.rx.recv().await {
                Ok(ev) => {
                    if ev.id <= f.last_id {
                        continue; // already sent (from the store, after a lag)
                    }
                    f.last_id = ev.id;
                    if !f.scope.admits(&ev.alarm) {
                        continue;
                    }
                    return Some((Ok(event_sse(&ev)), f));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => match f.hub.events_after(f.last_id, &f.scope) {
                    // Caught up from the store; the channel's older events are skipped by id.
                    Some(missed) => {
                        if let Some(e) = missed.last() {
                            f.last_id = e.id;
                        }
                        f.queued.extend(missed.iter().map(event_sse));
                        if let Some(e) = f.queued.pop_front() {
                            return Some((Ok(e), f));
                        }
                    }
                    None => {
                        let body = serde_json::json!({
                            "missed": n,
                            "message": format!("this client fell {n} events behind and missed them; fetch GET /v1/alarms for the active set"),
                        });
                        return Some((Ok(sse_json("lagged", &body)), f));
                    }
                },
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}
