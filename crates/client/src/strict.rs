//! Strict JSON parsing of proof documents: every level refuses unknown and missing fields.
//!
//! `docs/proof-format.md` (§2) says a proof document has exactly the fields it lists, at every
//! level, and that none is optional. Most nested types refuse unknown fields themselves
//! (`#[serde(deny_unknown_fields)]`), but serde's derive reads a missing `Option` field as `None`
//! and some types of other crates accept extra fields, so [`parse`] adds a structural check that
//! does not depend on any type's attributes: after the typed parse, the document's objects must
//! have exactly the keys of the canonical JSON of what was parsed. Errors name the field and where
//! it is (e.g. ``unknown field `note` at `meter_proof.entry.value.value` ``).

use serde::Serialize;
use serde::de::{DeserializeOwned, Error as _};
use serde_json::Value;

/// Parses `json` as a `T`, strictly (see the [module documentation](self)): malformed JSON, a
/// duplicate key, a wrong type, an unknown field or a missing field anywhere is an error that
/// names the field and its path.
pub fn parse<T: DeserializeOwned + Serialize>(json: &str) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let typed: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() { inner } else { serde_json::Error::custom(format!("at `{path}`: {inner}")) }
    })?;
    de.end()?;
    let document: Value = serde_json::from_str(json)?;
    let canonical = serde_json::to_value(&typed)?;
    let mut path = Vec::new();
    same_shape(&document, &canonical, &mut path).map_err(serde_json::Error::custom)?;
    Ok(typed)
}

/// Where a value is, as `a.b[3].c` (empty at the top level).
fn show(path: &[String]) -> String {
    if path.is_empty() { "the top level".to_string() } else { format!("`{}`", path.concat().trim_start_matches('.')) }
}

/// Checks that every object in `document` has exactly the keys of the object at the same place in
/// `canonical`. Scalars are not compared (hex case, for one, may differ).
fn same_shape(document: &Value, canonical: &Value, path: &mut Vec<String>) -> Result<(), String> {
    match (document, canonical) {
        (Value::Object(d), Value::Object(c)) => {
            if let Some(k) = d.keys().find(|k| !c.contains_key(*k)) {
                return Err(format!("unknown field `{k}` at {}", show(path)));
            }
            if let Some(k) = c.keys().find(|k| !d.contains_key(*k)) {
                return Err(format!("missing field `{k}` at {}", show(path)));
            }
            for (k, dv) in d {
                path.push(format!(".{k}"));
                same_shape(dv, &c[k], path)?;
                path.pop();
            }
            Ok(())
        }
        (Value::Array(d), Value::Array(c)) if d.len() == c.len() => {
            for (i, (dv, cv)) in d.iter().zip(c).enumerate() {
                path.push(format!("[{i}]"));
                same_shape(dv, cv, path)?;
                path.pop();
            }
            Ok(())
        }
        (Value::Object(_), _) | (_, Value::Object(_)) | (Value::Array(_), _) | (_, Value::Array(_)) => {
            Err(format!("the value at {} does not have the documented shape", show(path)))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        a: u32,
        b: Option<String>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Outer {
        inner: Vec<Inner>,
    }

    #[test]
    fn unknown_and_missing_fields_are_refused_with_their_path() {
        let ok: Outer = parse(r#"{"inner": [{"a": 1, "b": null}, {"a": 2, "b": "x"}]}"#).unwrap();
        assert_eq!(ok.inner[1].b.as_deref(), Some("x"));
        let e = parse::<Outer>(r#"{"inner": [{"a": 1, "b": null}, {"a": 2, "b": "x", "c": 3}]}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `c` at `inner[1]`"), "{e}");
        let e = parse::<Outer>(r#"{"inner": [{"a": 1}]}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `b` at `inner[0]`"), "{e}");
        let e = parse::<Outer>(r#"{"inner": [], "extra": 1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `extra` at the top level"), "{e}");
        let e = parse::<Outer>(r#"{"inner": [{"a": "1", "b": null}]}"#).unwrap_err();
        assert!(e.to_string().contains("inner[0].a"), "{e}");
        let e = parse::<Outer>(r#"{"inner": [], "inner": []}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate field `inner`"), "{e}");
        assert!(parse::<Outer>(r#"{"inner": []} x"#).is_err(), "trailing characters");
    }
}
