//! Hard limits on every length that crosses a trust boundary.
//!
//! Decoding checks these (see [`crate::codec::decode`]); state-machine admission checks them
//! again. They are part of the protocol: changing one is a hard fork.

/// Longest chain id, in bytes (ASCII).
pub const MAX_CHAIN_ID_LEN: usize = 32;
/// Longest device (gateway or meter) id, in bytes (ASCII).
pub const MAX_DEVICE_ID_LEN: usize = 64;
/// Longest human-readable name (organisation, meter), in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 128;
/// Most levels in a location path (site / workshop / line / equipment).
pub const MAX_LOCATION_DEPTH: usize = 4;
/// Longest single segment of a location path, in bytes of UTF-8.
pub const MAX_LOCATION_SEGMENT_LEN: usize = 64;
/// Longest calibration certificate number, in bytes.
pub const MAX_CERTIFICATE_NO_LEN: usize = 64;
/// Longest public key, in bytes (Ed25519: 32; SM2 compressed SEC1: 33).
pub const MAX_PUBLIC_KEY_LEN: usize = 33;
/// Longest signature, in bytes (Ed25519: 64; SM2 r‖s: 64).
pub const MAX_SIGNATURE_LEN: usize = 64;
/// Most retired keys a device keeps after rotations; a rotation beyond it forgets the oldest.
pub const MAX_RETIRED_KEYS: usize = 8;
/// Most readings in one `SubmitReadings` transaction.
pub const MAX_READINGS_PER_TX: usize = 4_096;
/// Largest encoded transaction, in bytes.
pub const MAX_TX_BYTES: usize = 1 << 20;
/// Most transactions in one block.
pub const MAX_TXS_PER_BLOCK: usize = 2_048;
/// Most readings in one block (across all its transactions).
pub const MAX_READINGS_PER_BLOCK: usize = 32_768;
/// Largest encoded block, in bytes. Marshal and p2p message sizes are derived from it.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;
/// Longest human-readable rejection message, in bytes.
pub const MAX_MESSAGE_LEN: usize = 256;
/// Most organisations, accounts or validators in a genesis document.
pub const MAX_GENESIS_ENTRIES: usize = 1_024;

/// Largest policy document (bytes) a `DeployPolicy` transaction may carry.
pub const MAX_POLICY_BYTES: usize = 16 * 1024;
/// Largest reward schedule document (bytes) a `DeployRewardSchedule` transaction may carry.
pub const MAX_REWARD_SCHEDULE_BYTES: usize = 8 * 1024;
/// Largest carbon methodology document (bytes) a `DeployMethodology` transaction may carry: its
/// factor tables (fuels, gases, GWP sets, grid factors by year and region) with room to grow.
pub const MAX_METHODOLOGY_BYTES: usize = 128 * 1024;
/// Most lines (energy kinds or products) in a monthly report.
pub const MAX_REPORT_LINES: usize = 64;

/// Longest late-data window a genesis may set (`AccountingParams::late_window_ms`): 31 days. A
/// meter's window points are looked for hour by hour over this span.
pub const MAX_LATE_WINDOW_MS: i64 = 31 * 24 * 3_600_000;
/// Largest future clock skew a genesis may allow (`ChainParams::max_future_skew_ms`): one hour.
pub const MAX_FUTURE_SKEW_MS: i64 = 3_600_000;

/// Most active account keys one organisation may hold (revoked keys do not count).
pub const MAX_ACCOUNTS_PER_ORG: usize = 16;
/// Most active regulators a chain may have: the set every k-of-n decision counts.
pub const MAX_REGULATORS: usize = 64;
/// Longest a membership proposal may collect approvals (`GovernanceParams::proposal_lifetime_ms`):
/// 90 days.
pub const MAX_PROPOSAL_LIFETIME_MS: i64 = 90 * 24 * 3_600_000;
/// Most grants (grantee × scope) one organisation may have in force.
pub const MAX_GRANTS_PER_ORG: usize = 256;
/// Longest a grant may run from its issue: 5 years.
pub const MAX_GRANT_MS: i64 = 5 * 366 * 24 * 3_600_000;
