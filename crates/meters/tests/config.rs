//! The gateway's `[[point]]` tables in TOML: one example per driver (the same as in the README),
//! defaults, round trips and refusals.

use serde::{Deserialize, Serialize};
use trustmeter_meters::{
    DataType, Dlt645Address, Dlt645Register, PointConfig, RegisterTable, Scale, SourceConfig, WordOrder,
    validate_points,
};
use trustmeter_types::{Quantity, RegisterKind, Unit};

#[derive(Debug, Deserialize, Serialize, PartialEq)]
struct GatewayFile {
    point: Vec<PointConfig>,
}

const EXAMPLE: &str = r#"
# Modbus TCP: a u32 energy register in 0.01 kWh, high word first.
[[point]]
meter = "91430100MA4L0001XA-E01"
driver = "modbus"
address = "192.168.1.20:502"
unit_id = 3
table = "holding"
register = 100
data_type = "u32"
word_order = "big"
timeout_ms = 1500
unit = "kWh"
scale = "0.01"
poll_interval_s = 900
min = "0"
max = "99999999.99"

# DL/T 645-2007 behind a serial-to-TCP converter: valley (谷) energy, CT ratio 200.
[[point]]
meter = "91430100MA4L0001XA-E02"
driver = "dlt645"
address = "192.168.1.30:8899"
meter_address = "000012345678"
register = "valley"
unit = "kWh"
scale = "200"
poll_interval_s = 900

# MQTT: a gas flow computer publishing JSON with its own timestamp.
[[point]]
meter = "91430100MA4L0001XA-G01"
driver = "mqtt"
broker = "192.168.1.40:1883"
topic = "plant/boiler1/gas"
field = "/totals/volume"
timestamp_field = "/ts"
client_id = "gw-01"
unit = "Nm3"

# Simulator: 250 kWh per hour at full production, rolling over at 1 000 000.
[[point]]
meter = "91430100MA4L0001XA-E09"
driver = "simulator"
seed = 42
rated_per_hour = 250
start = "999000"
register_max = "1000000"
unit = "kWh"
poll_interval_s = 900
"#;

#[test]
fn one_example_per_driver() {
    let file: GatewayFile = toml::from_str(EXAMPLE).unwrap();
    assert!(validate_points(&file.point).is_ok());
    let [modbus, dlt, mqtt, sim] = &file.point[..] else { panic!("four points") };

    let SourceConfig::Modbus(m) = &modbus.source else { panic!() };
    assert_eq!(
        (m.address.as_str(), m.unit_id, m.table, m.register),
        ("192.168.1.20:502", 3, RegisterTable::Holding, 100)
    );
    assert_eq!((m.data_type, m.word_order, m.timeout_ms), (DataType::U32, WordOrder::BigEndian, 1500));
    assert_eq!(modbus.scale, Scale::parse("0.01").unwrap());
    assert_eq!(
        (modbus.min, modbus.max),
        (Some(Quantity::from_micros(0)), Some(Quantity::from_micros(99_999_999_990_000)))
    );
    assert_eq!((modbus.unit, modbus.kind, modbus.poll_interval_s), (Unit::KilowattHour, RegisterKind::Cumulative, 900));

    let SourceConfig::Dlt645(d) = &dlt.source else { panic!() };
    assert_eq!(d.meter_address, Dlt645Address([0x78, 0x56, 0x34, 0x12, 0x00, 0x00]));
    assert_eq!((d.register, d.timeout_ms), (Dlt645Register::Valley, 2000));
    assert_eq!(dlt.scale.to_string(), "200");

    let SourceConfig::Mqtt(q) = &mqtt.source else { panic!() };
    assert_eq!(
        (q.field.as_str(), q.timestamp_field.as_deref(), q.client_id.as_deref()),
        ("/totals/volume", Some("/ts"), Some("gw-01"))
    );
    assert_eq!((mqtt.unit, mqtt.scale, mqtt.poll_interval_s), (Unit::NormalCubicMetre, Scale::ONE, 60));

    let SourceConfig::Simulator(s) = &sim.source else { panic!() };
    assert_eq!((s.seed, s.rated_per_hour, s.noise), (42, 250.0, 0.08));
    assert_eq!(
        (s.start, s.register_max),
        (Quantity::from_micros(999_000_000_000), Some(Quantity::from_micros(1_000_000_000_000)))
    );

    // Serialising and parsing again gives the same points.
    let text = toml::to_string(&file).unwrap();
    let again: GatewayFile = toml::from_str(&text).unwrap();
    assert_eq!(again, file);
    // The same points as JSON (the gateway may keep its config in either).
    let json = serde_json::to_string(&file).unwrap();
    assert_eq!(serde_json::from_str::<GatewayFile>(&json).unwrap(), file);
}

fn parse_err(text: &str) -> String {
    toml::from_str::<GatewayFile>(text).unwrap_err().to_string()
}

#[test]
fn refusals_say_what_to_write() {
    let base = "[[point]]\nmeter = \"E-1\"\ndriver = \"modbus\"\naddress = \"h:502\"\nregister = 1\ndata_type = \"u16\"\nunit = \"kWh\"\n";
    assert!(toml::from_str::<GatewayFile>(base).is_ok());
    let e = parse_err(&format!("{base}scale = 0.01\n"));
    assert!(e.contains("quoted text"), "{e}");
    let e = parse_err(&format!("{base}scale = \"0\"\n"));
    assert!(e.contains("zero"), "{e}");
    let e = parse_err(&format!("{base}min = \"1.0000001\"\n"));
    assert!(e.contains("more than 6 decimal places"), "{e}");
    let e = parse_err(&base.replace("\"modbus\"", "\"bacnet\""));
    assert!(e.contains("bacnet"), "{e}");
    let e = parse_err(&base.replace("\"u16\"", "\"float\""));
    assert!(e.contains("float"), "{e}");
    let e = parse_err(
        "[[point]]\nmeter = \"E-1\"\ndriver = \"dlt645\"\naddress = \"h:1\"\nmeter_address = \"12345\"\nunit = \"kWh\"\n",
    );
    assert!(e.contains("12 decimal digits"), "{e}");
    let e = parse_err(&base.replace("E-1", "E 1"));
    assert!(e.contains("not allowed"), "{e}");

    // What serde cannot see, validate does.
    let mut file: GatewayFile =
        toml::from_str(&format!("{base}poll_interval_s = 0\nmin = \"5\"\nmax = \"1\"\n")).unwrap();
    let errors = validate_points(&file.point).unwrap_err();
    assert!(errors[0].to_string().contains("poll_interval_s"), "{}", errors[0]);
    file.point[0].poll_interval_s = 60;
    let errors = validate_points(&file.point).unwrap_err();
    assert!(errors[0].to_string().contains("above max"), "{}", errors[0]);
    let bad_address: GatewayFile = toml::from_str(&base.replace("h:502", "192.168.1.20")).unwrap();
    assert!(validate_points(&bad_address.point).unwrap_err()[0].to_string().contains("host:port"));
    let bad_topic: GatewayFile = toml::from_str(
        "[[point]]\nmeter = \"E-1\"\ndriver = \"mqtt\"\nbroker = \"b:1883\"\ntopic = \"a/#/b\"\nfield = \"v\"\nunit = \"kWh\"\n",
    )
    .unwrap();
    assert!(validate_points(&bad_topic.point).unwrap_err()[0].to_string().contains("'#'"));

    // Range check helper for the gateway's "value out of range" alarm.
    let p = &toml::from_str::<GatewayFile>(EXAMPLE).unwrap().point[0];
    assert!(p.check_range(Quantity::from_micros(5_000_000)).is_ok());
    let e = p.check_range(Quantity::from_micros(-1)).unwrap_err();
    assert!(e.to_string().contains("value out of range") && e.to_string().contains("-0.000001"), "{e}");
}
