//! The audit policy (审核规则) in force and its deployed versions.

use super::*;

/// A deployed version of the audit policy.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyVersionView {
    /// Name from the document.
    pub name: String,
    /// Version.
    pub version: u32,
    /// First height whose readings it audits.
    pub effective_height: u64,
    /// Height of the block that deployed it (0 = the default shipped with genesis).
    pub deployed_height: u64,
    /// The regulator that deployed it.
    pub deployed_by: Option<String>,
    /// `in_force`, `superseded` or `pending` (effective at a later height).
    pub status: String,
    /// The document (TOML with CEL expressions).
    pub text: String,
}

/// The audit policy in force and every version.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// The finalized height.
    pub height: u64,
    /// The version auditing the next block's readings.
    pub in_force: PolicyVersionView,
    /// Every version, oldest first.
    pub versions: Vec<PolicyVersionView>,
}

/// The audit policy in force (for the next block) and every deployed version.
pub fn policy(state: &State) -> PolicyView {
    let next = state.height + 1;
    let (current, _) = state.policy_at(next);
    let view = |p: &trustmeter_state::PolicyRecord| PolicyVersionView {
        name: p.name.clone(),
        version: p.version,
        effective_height: p.effective_height,
        deployed_height: p.deployed_height,
        deployed_by: p.deployed_by.as_ref().map(|o| o.to_string()),
        status: if p.version == current.version {
            "in_force"
        } else if p.effective_height > next {
            "pending"
        } else {
            "superseded"
        }
        .into(),
        text: p.text.clone(),
    };
    PolicyView {
        height: state.height,
        in_force: view(&current),
        versions: state.policies().map(|p| view(&p)).collect(),
    }
}
