//! Shift calendars (排班表) and production output per shift (班次产量) in the state: the
//! enterprise's own data behind per-shift and per-team unit consumption (班次、班组单耗).
//!
//! - `ShiftCalendar(org, first day)` in the **registry** tree: every version is kept, so the
//!   calendar a past day was worked under stays provable. The version in force on a day is the
//!   one with the latest first day at or before it (one reverse read).
//! - `ShiftOutput(org, day, shift)` in the **activity** tree: one entry per shift instance,
//!   merged product by product (a correction bumps the product's revision). At most one entry per
//!   shift of the day's calendar, so at most 8 per enterprise and day, of at most 16 products.
//!   Activity, not registry: output is recorded every shift by every enterprise, and the
//!   transactions that recorded each revision stay in the chain's blocks.
//!
//! Rules (`SetShiftCalendar`, `RecordShiftOutput`), all of the enterprise's own account:
//! - a calendar takes effect from a day at most [`SHIFT_BACKDATE_DAYS`] back and
//!   [`MAX_CALENDAR_AHEAD_DAYS`] ahead of the block's day, not before the latest version's (a
//!   version from the same day replaces it), and **after the last day with output recorded**: a
//!   later calendar never rewrites history. Its shifts may not start before the previous
//!   version's night shift ends on its first day (no two instances overlap across a change);
//! - output is recorded for a (day, shift) of the calendar in force that day, at most
//!   [`SHIFT_BACKDATE_DAYS`] back, once the shift has started; the team is the one stated, else
//!   the one recorded before for the instance, else the rotation's.

use crate::state::State;
use trustmeter_energy::calendar;
use trustmeter_schema::{KeyRange, StateKey, StateValue};
use trustmeter_types::shifts::{
    MAX_CALENDAR_AHEAD_DAYS, MAX_SHIFT_CALENDARS, MAX_SHIFT_PRODUCTS, SHIFT_BACKDATE_DAYS, ShiftCalendar, ShiftOutput,
    date_label, date_of_day, day_number,
};
use trustmeter_types::{OrgKind, PublicKey, RejectCode, Rejection, TxOutcome, UnifiedSocialCreditCode};

pub use trustmeter_schema::{ShiftCalendarRecord, ShiftOutputRecord, ShiftProductRecord};

impl State {
    /// The shift calendar version in force on `day` (`YYYYMMDD`), if any.
    pub fn shift_calendar_on(&self, org: &UnifiedSocialCreditCode, day: u32) -> Option<ShiftCalendarRecord> {
        match self.scan(&KeyRange::shift_calendars_until(org, day), true, 1).into_iter().next() {
            Some((_, StateValue::ShiftCalendar(c))) => Some(c),
            _ => None,
        }
    }

    /// Every shift calendar version of an enterprise, oldest first (at most
    /// [`MAX_SHIFT_CALENDARS`]).
    pub fn shift_calendars(&self, org: &UnifiedSocialCreditCode) -> Vec<ShiftCalendarRecord> {
        self.scan(&KeyRange::shift_calendars(org), false, MAX_SHIFT_CALENDARS)
            .into_iter()
            .filter_map(|(_, v)| match v {
                StateValue::ShiftCalendar(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// The output recorded for one shift instance.
    pub fn shift_output(&self, org: &UnifiedSocialCreditCode, day: u32, shift: &str) -> Option<ShiftOutputRecord> {
        match self.get(&StateKey::ShiftOutput(org.clone(), day, shift.to_string())) {
            Some(StateValue::ShiftOutput(r)) => Some(r),
            _ => None,
        }
    }

    /// The outputs recorded for days `from..=to` (`YYYYMMDD`), by day then shift name: (day,
    /// shift, record), at most `limit`.
    pub fn shift_outputs(
        &self,
        org: &UnifiedSocialCreditCode,
        from: u32,
        to: u32,
        limit: usize,
    ) -> Vec<(u32, String, ShiftOutputRecord)> {
        self.scan(&KeyRange::shift_outputs(org, from, to), false, limit)
            .into_iter()
            .filter_map(|(k, v)| match (k, v) {
                (StateKey::ShiftOutput(_, day, shift), StateValue::ShiftOutput(r)) => Some((day, shift, r)),
                _ => None,
            })
            .collect()
    }

    /// The last day (`YYYYMMDD`) with shift output recorded, if any.
    pub fn last_shift_output_day(&self, org: &UnifiedSocialCreditCode) -> Option<u32> {
        match self.scan(&KeyRange::every_shift_output(org), true, 1).into_iter().next() {
            Some((StateKey::ShiftOutput(_, day, _), _)) => Some(day),
            _ => None,
        }
    }
}

fn refused(msg: String) -> TxOutcome {
    TxOutcome::Rejected(Rejection::new(RejectCode::InvalidShiftData, msg))
}

fn enterprise_only(org: &UnifiedSocialCreditCode, kind: OrgKind, what: &str) -> Option<TxOutcome> {
    (kind != OrgKind::Enterprise).then(|| {
        TxOutcome::Rejected(Rejection::new(
            RejectCode::NotAuthorised,
            format!("only an enterprise {what}, for itself; {org} is a {kind:?}"),
        ))
    })
}

/// `YYYYMMDD` of a day number, for messages.
fn label(day: i32) -> String {
    date_of_day(day).map_or_else(|| day.to_string(), date_label)
}

fn hm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Applies [`trustmeter_types::TxPayload::SetShiftCalendar`].
pub(crate) fn set_calendar(
    state: &mut State,
    (height, timestamp_ms): (u64, i64),
    (org, kind): (&UnifiedSocialCreditCode, OrgKind),
    sender: &PublicKey,
    cal: &ShiftCalendar,
) -> TxOutcome {
    if let Some(r) = enterprise_only(org, kind, "sets its shift calendar") {
        return r;
    }
    let today = calendar::day_number(timestamp_ms);
    // Checked by the transaction's validation.
    let Some(from) = day_number(cal.effective_from) else {
        return refused(format!("{} is not a date", cal.effective_from));
    };
    if from < today - SHIFT_BACKDATE_DAYS || from > today + MAX_CALENDAR_AHEAD_DAYS {
        return refused(format!(
            "a calendar takes effect from {} to {} (at most {SHIFT_BACKDATE_DAYS} days back, {MAX_CALENDAR_AHEAD_DAYS} ahead), not {}",
            label(today - SHIFT_BACKDATE_DAYS),
            label(today + MAX_CALENDAR_AHEAD_DAYS),
            date_label(cal.effective_from)
        ));
    }
    let versions = state.shift_calendars(org);
    if let Some(latest) = versions.last()
        && latest.calendar.effective_from > cal.effective_from
    {
        return refused(format!(
            "the latest calendar takes effect {}; a new version takes effect that day (replacing it) or later, not {}",
            date_label(latest.calendar.effective_from),
            date_label(cal.effective_from)
        ));
    }
    if let Some(last) = state.last_shift_output_day(org)
        && cal.effective_from <= last
    {
        return refused(format!(
            "{} already has shift output recorded under the calendar in force: a new calendar takes effect after it (from {} on), so recorded shifts keep theirs",
            date_label(last),
            day_number(last).map_or_else(String::new, |d| label(d + 1))
        ));
    }
    let replaces = versions.last().is_some_and(|v| v.calendar.effective_from == cal.effective_from);
    if versions.len() >= MAX_SHIFT_CALENDARS && !replaces {
        return TxOutcome::Rejected(Rejection::new(
            RejectCode::LimitReached,
            format!("{org} has {MAX_SHIFT_CALENDARS} shift calendar versions, the most kept"),
        ));
    }
    // The previous version's shifts that cross midnight run into the new version's first day.
    if let Some(previous) = date_of_day(from - 1).and_then(|d| state.shift_calendar_on(org, d)) {
        let tail = previous.calendar.tail_minutes();
        if let Some(s) = cal.shifts.iter().find(|s| u32::from(s.start_minute) < tail) {
            let night = previous.calendar.shifts.iter().find(|p| p.tail_minutes() == tail).map_or("", |p| &p.name);
            return refused(format!(
                "shift {} starts at {} on {}, while the previous calendar's {night} of the day before runs until {}: start the first shift at {} or later",
                s.name,
                hm(u32::from(s.start_minute)),
                date_label(cal.effective_from),
                hm(tail),
                hm(tail)
            ));
        }
    }
    state.put(
        StateKey::ShiftCalendar(org.clone(), cal.effective_from),
        StateValue::ShiftCalendar(ShiftCalendarRecord {
            calendar: cal.clone(),
            recorded_by: sender.clone(),
            height,
            time_ms: timestamp_ms,
        }),
    );
    TxOutcome::Accepted
}

/// Applies [`trustmeter_types::TxPayload::RecordShiftOutput`].
pub(crate) fn record_output(
    state: &mut State,
    (height, timestamp_ms): (u64, i64),
    (org, kind): (&UnifiedSocialCreditCode, OrgKind),
    sender: &PublicKey,
    output: &ShiftOutput,
) -> TxOutcome {
    if let Some(r) = enterprise_only(org, kind, "records shift output") {
        return r;
    }
    let today = calendar::day_number(timestamp_ms);
    let Some(day) = day_number(output.day) else {
        return refused(format!("{} is not a date", output.day));
    };
    if day < today - SHIFT_BACKDATE_DAYS {
        return refused(format!(
            "shift output is recorded for days up to {SHIFT_BACKDATE_DAYS} back (from {}), not {}",
            label(today - SHIFT_BACKDATE_DAYS),
            date_label(output.day)
        ));
    }
    let Some(cal) = state.shift_calendar_on(org, output.day) else {
        return refused(format!(
            "{org} has no shift calendar in force on {}: set one first (trustmeter tx shift-calendar)",
            date_label(output.day)
        ));
    };
    let c = &cal.calendar;
    let Some((index, shift)) = c.shift(&output.shift) else {
        let names: Vec<&str> = c.shifts.iter().map(|s| s.name.as_str()).collect();
        return refused(format!(
            "the calendar in force on {} (from {}) has no shift {}; its shifts: {}",
            date_label(output.day),
            date_label(c.effective_from),
            output.shift,
            names.join(", ")
        ));
    };
    let start_ms = calendar::day_start_ms(day) + i64::from(shift.start_minute) * 60_000;
    if start_ms > timestamp_ms {
        return refused(format!(
            "shift {} of {} starts at {}: record its output once it has started",
            shift.name,
            date_label(output.day),
            hm(u32::from(shift.start_minute))
        ));
    }
    let previous = state.shift_output(org, output.day, &output.shift);
    let (team, team_from_rotation) = match &output.team {
        Some(t) if !c.teams.contains(t) => {
            return refused(format!(
                "team {t} is not a team of the calendar in force on {}; its teams: {}",
                date_label(output.day),
                if c.teams.is_empty() { "none".to_string() } else { c.teams.join(", ") }
            ));
        }
        Some(t) => (Some(t.clone()), false),
        None => match previous.as_ref().filter(|p| p.team.is_some()) {
            Some(p) => (p.team.clone(), p.team_from_rotation),
            None => match c.rotation_team(output.day, index) {
                Some(t) => (Some(t.to_string()), true),
                None => (None, false),
            },
        },
    };
    let mut products = previous.map(|p| p.products).unwrap_or_default();
    for p in &output.products {
        match products.iter_mut().find(|q| q.product == p.product) {
            Some(q) => {
                q.unit = p.unit.clone();
                q.quantity = p.quantity;
                q.revision = q.revision.saturating_add(1);
                q.height = height;
            }
            None => products.push(ShiftProductRecord {
                product: p.product.clone(),
                unit: p.unit.clone(),
                quantity: p.quantity,
                revision: 1,
                height,
            }),
        }
    }
    if products.len() > MAX_SHIFT_PRODUCTS {
        return TxOutcome::Rejected(Rejection::new(
            RejectCode::LimitReached,
            format!(
                "shift {} of {} would hold {} products; a shift's output names at most {MAX_SHIFT_PRODUCTS}",
                shift.name,
                date_label(output.day),
                products.len()
            ),
        ));
    }
    state.put(
        StateKey::ShiftOutput(org.clone(), output.day, output.shift.clone()),
        StateValue::ShiftOutput(ShiftOutputRecord {
            team,
            team_from_rotation,
            products,
            note: output.note.clone(),
            recorded_by: sender.clone(),
            height,
            time_ms: timestamp_ms,
        }),
    );
    TxOutcome::Accepted
}
