//! State keys: their classes, trees and order-preserving encoding, defined in `trustmeter-schema`
//! (where a verifier reads them without the state machine) and re-exported here.

pub use trustmeter_schema::keys::*;
