//! The policy document (TOML) as written, and the checks on its plain fields.

use crate::error::PolicyError;
use crate::{MAX_DESCRIPTION_BYTES, MAX_ID_BYTES, MAX_PARAMS_DEPTH, MAX_RULES, POLICY_ERROR_CODE};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What a rule does when its check fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Record the reading with a finding that the figures built on it carry.
    Flag,
    /// Refuse the reading.
    Reject,
}

impl Action {
    /// `flag` or `reject`, as written in the document.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Flag => "flag",
            Action::Reject => "reject",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    pub name: String,
    pub version: u32,
    pub description: String,
    #[serde(default)]
    pub params: toml::Table,
    #[serde(default)]
    pub rules: Vec<RuleDocument>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDocument {
    pub id: String,
    pub code: String,
    pub action: Action,
    #[serde(default)]
    pub when: Option<String>,
    pub check: String,
    pub reason: String,
    pub description: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError::InvalidField { field: field.into(), message: message.into() }
}

/// `[a-z][a-z0-9_]*`, at most [`MAX_ID_BYTES`].
fn check_snake(field: &str, value: &str) -> Result<(), PolicyError> {
    let ok = value.len() <= MAX_ID_BYTES
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!(
                "`{value}` is not a snake_case identifier: use a lowercase letter, then lowercase letters, digits \
                 and underscores, at most {MAX_ID_BYTES} bytes"
            ),
        ))
    }
}

fn check_description(field: &str, value: &str) -> Result<(), PolicyError> {
    if value.trim().is_empty() {
        return Err(invalid(field, "is empty; say what the rule or policy is for, for a reviewer"));
    }
    if value.len() > MAX_DESCRIPTION_BYTES {
        return Err(PolicyError::TooLarge { what: field.to_owned(), size: value.len(), max: MAX_DESCRIPTION_BYTES });
    }
    Ok(())
}

impl Document {
    /// Checks the plain fields: names, version, ids, codes, descriptions, rule count, params.
    pub(crate) fn check(&self) -> Result<(), PolicyError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= MAX_ID_BYTES
            && self.name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && self.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !name_ok {
            return Err(invalid(
                "name",
                format!(
                    "`{}` is not a valid policy name: use lowercase letters, digits, `-` and `_`, at most \
                     {MAX_ID_BYTES} bytes",
                    self.name
                ),
            ));
        }
        if self.version == 0 {
            return Err(invalid("version", "must be at least 1"));
        }
        check_description("description", &self.description)?;
        if self.rules.len() > MAX_RULES {
            return Err(PolicyError::TooManyRules { count: self.rules.len(), max: MAX_RULES });
        }
        let mut ids = BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            check_snake(&format!("rules[{i}].id"), &rule.id)?;
            if !ids.insert(rule.id.as_str()) {
                return Err(invalid(format!("rules[{i}].id"), format!("`{}` is used by an earlier rule", rule.id)));
            }
            check_snake(&format!("rule `{}`: code", rule.id), &rule.code)?;
            if rule.code == POLICY_ERROR_CODE {
                return Err(invalid(
                    format!("rule `{}`: code", rule.id),
                    format!("`{POLICY_ERROR_CODE}` is reserved for rules that fail to evaluate; choose another code"),
                ));
            }
            check_description(&format!("rule `{}`: description", rule.id), &rule.description)?;
        }
        check_params("params", &self.params, 1)
    }
}

fn check_params(path: &str, table: &toml::Table, depth: usize) -> Result<(), PolicyError> {
    if depth > MAX_PARAMS_DEPTH {
        return Err(invalid(path, format!("tables are nested more than {MAX_PARAMS_DEPTH} deep")));
    }
    for (key, value) in table {
        check_param(&format!("{path}.{key}"), value, depth)?;
    }
    Ok(())
}

fn check_param(path: &str, value: &toml::Value, depth: usize) -> Result<(), PolicyError> {
    match value {
        toml::Value::Float(f) if !f.is_finite() => {
            Err(invalid(path, "must be a finite number (nan and inf are not allowed)"))
        }
        toml::Value::Datetime(_) => Err(invalid(
            path,
            "dates and times are not supported as parameters; give Unix milliseconds or a duration in ms as an integer",
        )),
        toml::Value::Array(items) => {
            if depth >= MAX_PARAMS_DEPTH {
                return Err(invalid(path, format!("lists and tables are nested more than {MAX_PARAMS_DEPTH} deep")));
            }
            for (i, item) in items.iter().enumerate() {
                check_param(&format!("{path}[{i}]"), item, depth + 1)?;
            }
            Ok(())
        }
        toml::Value::Table(t) => check_params(path, t, depth + 1),
        _ => Ok(()),
    }
}

/// The CEL value of a checked parameter tree.
pub(crate) fn params_value(value: &toml::Value) -> cel::Value {
    match value {
        toml::Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        toml::Value::Integer(i) => cel::Value::Int(*i),
        toml::Value::Float(f) => cel::Value::Float(*f),
        toml::Value::Boolean(b) => cel::Value::Bool(*b),
        // refused by `check_param`; never reached for a checked document
        toml::Value::Datetime(d) => cel::Value::String(Arc::new(d.to_string())),
        toml::Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(params_value).collect())),
        toml::Value::Table(t) => {
            let map: HashMap<cel::objects::Key, cel::Value> =
                t.iter().map(|(k, v)| (cel::objects::Key::String(Arc::new(k.clone())), params_value(v))).collect();
            cel::Value::Map(cel::objects::Map { map: Arc::new(map) })
        }
    }
}
