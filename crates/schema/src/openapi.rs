//! The OpenAPI schema (feature `openapi`) of [`StateKey`], written by hand: serde writes it
//! adjacently tagged (`{"kind": "progress", "id": ["<gateway>", 3]}`), its tuple variants as
//! arrays of mixed types, which the derive would describe as arrays of bare objects. Every other
//! type of this crate derives its schema from its serde attributes.

use crate::StateKey;
use std::borrow::Cow;
use trustmeter_types::{DeviceId, GrantScope, Hash32, PublicKey, UnifiedSocialCreditCode};
use utoipa::openapi::schema::{AllOfBuilder, ArrayBuilder, ArrayItems, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// Components a schema refers to, by name (what `ToSchema::schemas` fills).
type Components = Vec<(String, RefOr<Schema>)>;

/// One element of a key's `id`: a named component (referred to) or a number or text (inline).
struct Part {
    schema: fn() -> RefOr<Schema>,
    name: Option<fn() -> Cow<'static, str>>,
    deps: fn(&mut Components),
}

/// A part referring to `T`'s component.
fn named<T: ToSchema>() -> Part {
    Part { schema: T::schema, name: Some(T::name), deps: T::schemas }
}

/// A part inlined (integers and text).
fn inline<T: ToSchema>() -> Part {
    Part { schema: T::schema, name: None, deps: |_| {} }
}

impl Part {
    fn reference(&self) -> RefOr<Schema> {
        match self.name {
            Some(name) => Ref::from_schema_name(name()).into(),
            None => (self.schema)(),
        }
    }
    /// As a `Schema` (a `prefixItems` member cannot be a bare `$ref`: it is wrapped in `allOf`).
    fn as_schema(&self) -> Schema {
        match self.reference() {
            RefOr::T(s) => s,
            r @ RefOr::Ref(_) => AllOfBuilder::new().item(r).into(),
        }
    }
}

/// Every variant: its `kind` (serde's snake_case name) and the parts of its `id` (none: a unit
/// variant, serialized without `id`).
fn variants() -> Vec<(&'static str, Vec<Part>)> {
    let org = named::<UnifiedSocialCreditCode>;
    let key = named::<PublicKey>;
    let device = named::<DeviceId>;
    vec![
        ("organisation", vec![org()]),
        ("account", vec![key()]),
        ("nonce", vec![key()]),
        ("gateway", vec![device()]),
        ("meter", vec![device()]),
        ("progress", vec![device(), inline::<u32>()]),
        ("policy", vec![inline::<u32>()]),
        ("daily", vec![named::<crate::DailyKey>()]),
        ("monthly_report", vec![org(), inline::<u32>()]),
        ("point", vec![device(), inline::<i64>(), inline::<u64>()]),
        ("key_use", vec![key()]),
        ("membership", vec![org()]),
        ("proposal", vec![named::<Hash32>()]),
        ("regulators", vec![]),
        ("grant", vec![org(), org(), named::<GrantScope>()]),
        ("disclosure", vec![inline::<u32>()]),
        ("published", vec![org()]),
        ("grant_received", vec![org(), org(), named::<GrantScope>()]),
        ("methodology", vec![inline::<String>(), inline::<u32>()]),
        ("carbon_plan", vec![org(), inline::<u32>()]),
        ("carbon_entry", vec![org(), inline::<u32>(), inline::<u32>()]),
        ("certificate_claim", vec![inline::<String>(), inline::<u64>()]),
        ("carbon_result", vec![org(), inline::<u32>()]),
        ("carbon_report", vec![org(), inline::<u32>()]),
        ("verification", vec![org(), inline::<u32>()]),
        ("quota", vec![org(), inline::<u32>()]),
        ("verification_due", vec![inline::<i64>(), org(), inline::<u32>()]),
        ("carbon_year", vec![org(), inline::<u32>()]),
        ("validator", vec![key()]),
        ("validator_set", vec![inline::<u64>()]),
        ("token", vec![org()]),
        ("economy", vec![]),
        ("delegation", vec![org(), key()]),
        ("unbonding", vec![org(), key(), inline::<u64>()]),
        ("epoch_activity", vec![inline::<u64>()]),
        ("reward_schedule", vec![inline::<u32>()]),
        ("points", vec![org(), inline::<u64>()]),
        ("epoch_rewards", vec![inline::<u64>()]),
        ("shift_calendar", vec![org(), inline::<u32>()]),
        ("shift_output", vec![org(), inline::<u32>(), inline::<String>()]),
        ("month_totals", vec![org(), inline::<u32>()]),
        ("token_policy", vec![]),
    ]
}

/// The number of [`StateKey`] variants [`variants`] describes (checked against real keys by the
/// node's OpenAPI tests).
pub const STATE_KEY_KINDS: usize = 42;

impl PartialSchema for StateKey {
    fn schema() -> RefOr<Schema> {
        let mut one_of = OneOfBuilder::new().description(Some(
            "A key in the state, tagged by `kind`; `id` holds its fields (one value, or an array of them in order); keys without fields have no `id`.",
        ));
        for (kind, parts) in variants() {
            let tag = ObjectBuilder::new().schema_type(Type::String).enum_values(Some([kind]));
            let mut alt = ObjectBuilder::new().property("kind", tag).required("kind");
            match parts.len() {
                0 => {}
                1 => alt = alt.property("id", parts[0].reference()).required("id"),
                n => {
                    let array = ArrayBuilder::new()
                        .prefix_items(parts.iter().map(Part::as_schema))
                        .items(ArrayItems::False)
                        .min_items(Some(n))
                        .max_items(Some(n));
                    alt = alt.property("id", array).required("id");
                }
            }
            one_of = one_of.item(alt);
        }
        one_of.into()
    }
}

impl ToSchema for StateKey {
    fn schemas(out: &mut Components) {
        let mut seen = std::collections::BTreeSet::new();
        for (_, parts) in variants() {
            for p in parts {
                if let Some(name) = p.name
                    && seen.insert(name())
                {
                    out.push((name().into_owned(), (p.schema)()));
                    (p.deps)(out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustmeter_types::openapi::check::{bare_objects, conforms_to_own};
    use trustmeter_types::{EnergyKind, KeyScheme, Unit};

    /// One key of every kind (the `match` fails to compile when a variant is added, so this
    /// list and [`variants`] are revisited).
    fn every_kind() -> Vec<StateKey> {
        let org = UnifiedSocialCreditCode::new("91430100MA4L0001XA").unwrap();
        let key = PublicKey::new(KeyScheme::Ed25519, vec![7; 32]).unwrap();
        let dev = DeviceId::new("91430100MA4L0001XA-EM0001").unwrap();
        let daily = crate::DailyKey {
            org: org.clone(),
            day: 20_000,
            energy: EnergyKind::Electricity,
            unit: Unit::KilowattHour,
        };
        let keys = vec![
            StateKey::Organisation(org.clone()),
            StateKey::Account(key.clone()),
            StateKey::Nonce(key.clone()),
            StateKey::Gateway(dev.clone()),
            StateKey::Meter(dev.clone()),
            StateKey::Progress(dev.clone(), 3),
            StateKey::Policy(2),
            StateKey::Daily(daily),
            StateKey::MonthlyReport(org.clone(), 202_611),
            StateKey::Point(dev.clone(), -5, 9),
            StateKey::KeyUse(key.clone()),
            StateKey::Membership(org.clone()),
            StateKey::Proposal(Hash32([1; 32])),
            StateKey::Regulators,
            StateKey::Grant(org.clone(), org.clone(), GrantScope::Readings),
            StateKey::Disclosure(430_000),
            StateKey::Published(org.clone()),
            StateKey::GrantReceived(org.clone(), org.clone(), GrantScope::Registry),
            StateKey::Methodology("GB/T 32150-2015".into(), 1),
            StateKey::CarbonPlan(org.clone(), 202_601),
            StateKey::CarbonEntry(org.clone(), 202_601, 4),
            StateKey::CertificateClaim("GEC-1".into(), 100),
            StateKey::CarbonResult(org.clone(), 202_601),
            StateKey::CarbonReport(org.clone(), 2026),
            StateKey::Verification(org.clone(), 2026),
            StateKey::Quota(org.clone(), 2026),
            StateKey::VerificationDue(1_700_000_000_000, org.clone(), 2026),
            StateKey::CarbonYear(org.clone(), 2026),
            StateKey::Validator(key.clone()),
            StateKey::ValidatorSet(4),
            StateKey::Token(org.clone()),
            StateKey::Economy,
            StateKey::Delegation(org.clone(), key.clone()),
            StateKey::Unbonding(org.clone(), key.clone(), 6),
            StateKey::EpochActivity(5),
            StateKey::RewardSchedule(1),
            StateKey::Points(org.clone(), 5),
            StateKey::EpochRewards(5),
            StateKey::ShiftCalendar(org.clone(), 20_260_101),
            StateKey::ShiftOutput(org.clone(), 20_260_102, "A".into()),
            StateKey::MonthTotals(org.clone(), 202_601),
            StateKey::TokenPolicy,
        ];
        for k in &keys {
            match k {
                StateKey::Organisation(_)
                | StateKey::Account(_)
                | StateKey::Nonce(_)
                | StateKey::Gateway(_)
                | StateKey::Meter(_)
                | StateKey::Progress(..)
                | StateKey::Policy(_)
                | StateKey::Daily(_)
                | StateKey::MonthlyReport(..)
                | StateKey::Point(..)
                | StateKey::KeyUse(_)
                | StateKey::Membership(_)
                | StateKey::Proposal(_)
                | StateKey::Regulators
                | StateKey::Grant(..)
                | StateKey::Disclosure(_)
                | StateKey::Published(_)
                | StateKey::GrantReceived(..)
                | StateKey::Methodology(..)
                | StateKey::CarbonPlan(..)
                | StateKey::CarbonEntry(..)
                | StateKey::CertificateClaim(..)
                | StateKey::CarbonResult(..)
                | StateKey::CarbonReport(..)
                | StateKey::Verification(..)
                | StateKey::Quota(..)
                | StateKey::VerificationDue(..)
                | StateKey::CarbonYear(..)
                | StateKey::Validator(_)
                | StateKey::ValidatorSet(_)
                | StateKey::Token(_)
                | StateKey::Economy
                | StateKey::Delegation(..)
                | StateKey::Unbonding(..)
                | StateKey::EpochActivity(_)
                | StateKey::RewardSchedule(_)
                | StateKey::Points(..)
                | StateKey::EpochRewards(_)
                | StateKey::ShiftCalendar(..)
                | StateKey::ShiftOutput(..)
                | StateKey::MonthTotals(..)
                | StateKey::TokenPolicy => {}
            }
        }
        keys
    }

    #[test]
    fn a_key_of_every_kind_matches_exactly_one_alternative() {
        let keys = every_kind();
        assert_eq!(keys.len(), STATE_KEY_KINDS);
        assert_eq!(variants().len(), STATE_KEY_KINDS);
        for k in &keys {
            conforms_to_own(k).unwrap_or_else(|e| panic!("{k:?}: {e}"));
        }
    }

    #[test]
    fn a_key_with_a_field_of_the_wrong_kind_is_refused() {
        let v = serde_json::to_value(StateKey::Progress(DeviceId::new("91430100MA4L0001XA-GW01").unwrap(), 3)).unwrap();
        let schemas = trustmeter_types::openapi::check::components::<StateKey>();
        let root = serde_json::json!({"$ref": "#/components/schemas/StateKey"});
        let check = |v: &serde_json::Value| trustmeter_types::openapi::check::conforms(&schemas, &root, v);
        assert!(check(&v).is_ok());
        let mut swapped = v.clone();
        swapped["id"] = serde_json::json!([3, "91430100MA4L0001XA-GW01"]);
        assert!(check(&swapped).is_err(), "fields swapped");
        let mut renamed = v;
        renamed["kind"] = "progres".into();
        assert!(check(&renamed).is_err(), "an unknown kind");
        let all = serde_json::Value::Object(schemas);
        assert!(bare_objects(&all).is_empty(), "{:?}", bare_objects(&all));
    }
}
