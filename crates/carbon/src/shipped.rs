//! The methodology documents that ship with Trustmeter, embedded.
//!
//! Released documents are frozen (a test pins their digests): a correction is a new version
//! deployed on the chain, never an edit.

/// GB/T 32151.29-2024, machinery and equipment manufacturing (机械设备制造企业), version 1.
pub const MACHINERY_V1: &str = include_str!("../methodologies/gb-t-32151.29-2024-v1.toml");

/// GB/T 32150-2015, the general frame for industrial enterprises (工业企业通则), version 1.
pub const GENERAL_V1: &str = include_str!("../methodologies/gb-t-32150-2015-v1.toml");

/// Every shipped document.
pub const ALL: [&str; 2] = [MACHINERY_V1, GENERAL_V1];
