//! What a policy sees of one reading: [`AuditInput`] and its parts.
//!
//! Expressions see these as the identifiers `reading`, `meter`, `has_previous`, `previous`, `block`
//! (and `params`, the policy's own parameters). The CEL type of every field is fixed (see the table
//! in the crate README), so a field can never be missing at run time: `previous` is always present,
//! zeroed when the meter has no earlier reading, and `has_previous` says which.

use serde::{Deserialize, Serialize};
use trustmeter_types::{EnergyKind, Meter, Reading, RegisterKind};

/// Everything one evaluation of a policy reads: the reading, its meter, the meter's previous
/// reading in time order (if any) and the block that records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditInput {
    /// The reading under audit.
    pub reading: ReadingFacts,
    /// The meter it claims to come from, as registered.
    pub meter: MeterFacts,
    /// The meter's previous reading in time order, `None` for its first reading.
    pub previous: Option<PreviousFacts>,
    /// The block that would record it ("now" is the block time, never a host clock).
    pub block: BlockFacts,
}

/// The reading under audit. CEL: `reading.<field>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadingFacts {
    /// Meter id (CEL `string`).
    pub meter: String,
    /// Per-meter sequence number (CEL `uint`).
    pub seq: u64,
    /// Collection time, Unix milliseconds UTC (CEL `int`).
    pub timestamp_ms: i64,
    /// The register value in the meter's unit (CEL `double`).
    pub value: f64,
    /// Unit symbol, e.g. `kWh`, `Nm3`, `t/h` (CEL `string`).
    pub unit: String,
    /// `online`, `manual` or `imported` (CEL `string`).
    pub origin: String,
    /// The gateway's clock was suspect when the reading was collected (CEL `bool`).
    pub clock_suspect: bool,
}

/// The meter, as registered. CEL: `meter.<field>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeterFacts {
    /// Energy kind, the snake_case name of [`EnergyKind`], e.g. `electricity`, `natural_gas`
    /// (CEL `string`).
    pub energy: String,
    /// Unit symbol of its register (CEL `string`).
    pub unit: String,
    /// `cumulative` or `instantaneous` (CEL `string`).
    pub register: String,
    /// Register maximum, the rollover point (CEL `double`).
    pub register_max: f64,
    /// Rated capacity per hour in the meter's unit; 0 = unknown (CEL `double`).
    pub rated_per_hour: f64,
    /// Accuracy class in percent, e.g. 0.5 (CEL `double`).
    pub accuracy_class: f64,
}

/// The meter's previous reading in time order. CEL: `previous.<field>`, zeroed (and `has_previous`
/// false) when there is none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PreviousFacts {
    /// Its collection time, Unix milliseconds UTC (CEL `int`).
    pub timestamp_ms: i64,
    /// Its register value (CEL `double`).
    pub value: f64,
}

/// The block that would record the reading. CEL: `block.<field>`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockFacts {
    /// Block time, Unix milliseconds UTC: "now" for every rule (CEL `int`).
    pub timestamp_ms: i64,
    /// How far a reading may be ahead of the block time, ms (CEL `int`).
    pub max_future_skew_ms: i64,
    /// How far a reading may be behind the block time, ms (CEL `int`).
    pub late_window_ms: i64,
}

/// The snake_case name of an energy kind, as `serde` spells it and `meter.energy` shows it.
pub fn energy_name(kind: EnergyKind) -> &'static str {
    kind.name()
}

/// The name of a register kind, as `meter.register` shows it: `cumulative`, `instantaneous` or
/// `cumulative_export` (rules about totalising registers test `!= 'instantaneous'`).
pub fn register_name(kind: RegisterKind) -> &'static str {
    match kind {
        RegisterKind::Cumulative => "cumulative",
        RegisterKind::Instantaneous => "instantaneous",
        RegisterKind::CumulativeExport => "cumulative_export",
    }
}

impl ReadingFacts {
    /// The facts of a reading. The value is `Quantity::as_f64` (micro-units ÷ 10⁶, correctly
    /// rounded, identical on every machine).
    pub fn from_reading(reading: &Reading) -> ReadingFacts {
        ReadingFacts {
            meter: reading.meter.as_str().to_owned(),
            seq: reading.seq,
            timestamp_ms: reading.timestamp_ms,
            value: reading.value.as_f64(),
            unit: reading.unit.symbol().to_owned(),
            origin: reading.origin.as_str().to_owned(),
            clock_suspect: reading.clock_suspect,
        }
    }
}

impl MeterFacts {
    /// The facts of a registered meter.
    pub fn from_meter(meter: &Meter) -> MeterFacts {
        MeterFacts {
            energy: energy_name(meter.energy).to_owned(),
            unit: meter.unit.symbol().to_owned(),
            register: register_name(meter.register).to_owned(),
            register_max: meter.register_max.as_f64(),
            rated_per_hour: meter.rated_per_hour.as_f64(),
            accuracy_class: meter.accuracy.percent(),
        }
    }
}

impl PreviousFacts {
    /// The facts of the meter's previous reading.
    pub fn from_reading(reading: &Reading) -> PreviousFacts {
        PreviousFacts { timestamp_ms: reading.timestamp_ms, value: reading.value.as_f64() }
    }
}

/// The CEL type of a field of an input record, for the static checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldType {
    Int,
    UInt,
    Double,
    String,
    Bool,
}

/// The input records an expression can name, with their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Reading,
    Meter,
    Previous,
    Block,
}

impl Record {
    /// The identifier it is bound to.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Record::Reading => "reading",
            Record::Meter => "meter",
            Record::Previous => "previous",
            Record::Block => "block",
        }
    }

    /// Its fields in order, with their CEL types. The evaluator fills them in this order.
    pub(crate) fn fields(self) -> &'static [(&'static str, FieldType)] {
        use FieldType::*;
        match self {
            Record::Reading => &[
                ("meter", String),
                ("seq", UInt),
                ("timestamp_ms", Int),
                ("value", Double),
                ("unit", String),
                ("origin", String),
                ("clock_suspect", Bool),
            ],
            Record::Meter => &[
                ("energy", String),
                ("unit", String),
                ("register", String),
                ("register_max", Double),
                ("rated_per_hour", Double),
                ("accuracy_class", Double),
            ],
            Record::Previous => &[("timestamp_ms", Int), ("value", Double)],
            Record::Block => &[("timestamp_ms", Int), ("max_future_skew_ms", Int), ("late_window_ms", Int)],
        }
    }

    /// The record bound to `identifier`, if any.
    pub(crate) fn from_identifier(identifier: &str) -> Option<Record> {
        match identifier {
            "reading" => Some(Record::Reading),
            "meter" => Some(Record::Meter),
            "previous" => Some(Record::Previous),
            "block" => Some(Record::Block),
            _ => None,
        }
    }
}

/// The identifiers an expression may use, in the order the README lists them.
pub const IDENTIFIERS: [&str; 6] = ["reading", "meter", "has_previous", "previous", "block", "params"];
