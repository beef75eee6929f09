//! OpenAPI schemas (feature `openapi`) of the types whose JSON is text parsed by hand: hashes,
//! identifiers, credit codes, keys and signatures. Every other type derives its schema from its
//! serde attributes (`#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]`). And
//! [`check`]: values against schemas, and the bare objects of a document, for the tests that
//! hold the node's `/openapi.json` to what it serves.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

macro_rules! text_schema {
    ($ty:ty, $pattern:expr, $description:expr, $example:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern($pattern)
                    .description(Some($description))
                    .examples([serde_json::Value::String($example.into())])
                    .into()
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}

text_schema!(
    crate::Hash32,
    Some("^[0-9a-f]{64}$"),
    "A 32-byte hash (SHA-256 or SM3, the chain's `params.hash`), lowercase hex.",
    "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592"
);
text_schema!(
    crate::ChainId,
    Some("^[A-Za-z0-9._-]{1,64}$"),
    "A chain's id (e.g. `hunan-1`); every transaction signature covers it.",
    "hunan-1"
);
text_schema!(
    crate::DeviceId,
    Some("^[A-Za-z0-9._-]{1,64}$"),
    "A device id: `<owner's unified social credit code>-<local id>`.",
    "91430100MA4L0001XA-EM0001"
);
text_schema!(
    crate::UnifiedSocialCreditCode,
    Some("^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"),
    "An organisation's unified social credit code (统一社会信用代码, GB 32100-2015), with its check character.",
    "91430100MA4L0001XA"
);
text_schema!(
    crate::PublicKey,
    Some("^(ed25519|sm2):[0-9a-f]+$"),
    "A public key tagged with its scheme: `ed25519:<32 bytes hex>` or `sm2:<65 bytes hex, uncompressed SEC1>`.",
    "ed25519:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
);
text_schema!(
    crate::Signature,
    Some("^(ed25519|sm2):[0-9a-f]+$"),
    "A signature tagged with its scheme: `ed25519:<64 bytes hex>` or `sm2:<r ‖ s, 64 bytes hex>`.",
    "ed25519:00"
);

pub mod check {
    //! A small structural check of JSON values against OpenAPI schemas, for tests that hold a
    //! served document to what the server really sends (written here, not a library's): `$ref`,
    //! `allOf`/`oneOf`/`anyOf`, `type` (with `null`), `enum`, `properties` (a property the
    //! schema does not describe is a mismatch, unless `additionalProperties` describes it),
    //! `required`, `additionalProperties`, `items`, `prefixItems`, `minItems`/`maxItems`, and
    //! `pattern` prefixes of the `^(a|b):` form. And [`bare_objects`]: the schemas of a document
    //! that say only "an object".

    use serde_json::{Map, Value};
    use std::collections::BTreeSet;
    use utoipa::ToSchema;

    /// Deepest nesting of schemas and values followed.
    const MAX_DEPTH: usize = 128;

    /// Where a value departs from its schema, and how.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    #[error("{path}: {why}")]
    pub struct Mismatch {
        /// The value's path (`$.block.header`).
        pub path: String,
        /// What does not match.
        pub why: String,
    }

    fn mismatch(path: &str, why: impl Into<String>) -> Mismatch {
        Mismatch { path: path.to_string(), why: why.into() }
    }

    /// Every schema `T` needs, by name, as a document's `components.schemas` holds them.
    pub fn components<T: ToSchema>() -> Map<String, Value> {
        let mut all = vec![(T::name().into_owned(), T::schema())];
        T::schemas(&mut all);
        all.into_iter().filter_map(|(n, s)| Some((n, serde_json::to_value(s).ok()?))).collect()
    }

    /// The schema a `$ref` names (or the schema itself).
    fn resolve<'a>(schemas: &'a Map<String, Value>, schema: &'a Value, path: &str) -> Result<&'a Value, Mismatch> {
        match schema.get("$ref").and_then(Value::as_str) {
            None => Ok(schema),
            Some(r) => {
                let name =
                    r.strip_prefix("#/components/schemas/").ok_or_else(|| mismatch(path, format!("odd $ref {r}")))?;
                schemas.get(name).ok_or_else(|| mismatch(path, format!("$ref to unknown schema {name}")))
            }
        }
    }

    /// The property names an object schema describes, its `allOf` members' included.
    fn described(schemas: &Map<String, Value>, schema: &Value, depth: usize) -> BTreeSet<String> {
        let Ok(schema) = resolve(schemas, schema, "") else { return BTreeSet::new() };
        let mut out: BTreeSet<String> =
            schema.get("properties").and_then(Value::as_object).into_iter().flat_map(|p| p.keys().cloned()).collect();
        if depth < MAX_DEPTH {
            for member in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
                out.extend(described(schemas, member, depth + 1));
            }
        }
        out
    }

    /// Checks `value` against `schema`, whose `$ref`s name entries of `schemas` (a document's
    /// `components.schemas`).
    pub fn conforms(schemas: &Map<String, Value>, schema: &Value, value: &Value) -> Result<(), Mismatch> {
        check_in(schemas, schema, value, "$", None, 0)
    }

    /// [`conforms`] for a value of `T` against `T`'s own schema.
    pub fn conforms_to_own<T: ToSchema + serde::Serialize>(value: &T) -> Result<(), Mismatch> {
        let schemas = components::<T>();
        let root = serde_json::json!({"$ref": format!("#/components/schemas/{}", T::name())});
        let v = serde_json::to_value(value).map_err(|e| mismatch("$", e.to_string()))?;
        conforms(&schemas, &root, &v)
    }

    /// [`conforms`], where `allowed` (inside an `allOf`) is every property the whole
    /// composition describes, so a member does not call its siblings' properties unknown.
    fn check_in(
        schemas: &Map<String, Value>,
        schema: &Value,
        v: &Value,
        path: &str,
        allowed: Option<&BTreeSet<String>>,
        depth: usize,
    ) -> Result<(), Mismatch> {
        if depth > MAX_DEPTH {
            return Err(mismatch(path, "nested too deep"));
        }
        let check = |s: &Value, x: &Value, p: &str| check_in(schemas, s, x, p, None, depth + 1);
        if schema.get("$ref").is_some() {
            let target = resolve(schemas, schema, path)?;
            return check_in(schemas, target, v, path, allowed, depth + 1);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            let mut union = described(schemas, schema, depth);
            union.extend(allowed.into_iter().flatten().cloned());
            for s in all {
                check_in(schemas, s, v, path, Some(&union), depth + 1)?;
            }
        }
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
            && !any.iter().any(|s| check(s, v, path).is_ok())
        {
            return Err(mismatch(path, format!("matches none of anyOf: {v}")));
        }
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
            let matching = one.iter().filter(|s| check(s, v, path).is_ok()).count();
            if matching != 1 {
                let why: Vec<String> =
                    one.iter().filter_map(|s| check(s, v, path).err()).take(3).map(|e| e.to_string()).collect();
                return Err(mismatch(
                    path,
                    format!("matches {matching} of oneOf's {} alternatives ({why:?})", one.len()),
                ));
            }
        }
        if let Some(t) = schema.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => return Err(mismatch(path, format!("odd type {t}"))),
            };
            let ok = types.iter().any(|t| match *t {
                "null" => v.is_null(),
                "boolean" => v.is_boolean(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "string" => v.is_string(),
                "array" => v.is_array(),
                "object" => v.is_object(),
                _ => false,
            });
            if !ok {
                return Err(mismatch(path, format!("{v} is not of type {types:?}")));
            }
        }
        if let Some(e) = schema.get("enum").and_then(Value::as_array)
            && !e.contains(v)
        {
            return Err(mismatch(path, format!("{v} is not one of {e:?}")));
        }
        if let (Some(p), Some(s)) = (schema.get("pattern").and_then(Value::as_str), v.as_str()) {
            // The patterns of tagged text are `^(a|b):…`: check the literal alternatives.
            if let Some(prefixes) = p.strip_prefix("^(").and_then(|r| r.split_once("):")).map(|(a, _)| a) {
                let scheme = s.split(':').next().unwrap_or_default();
                if !prefixes.split('|').any(|x| x == scheme) {
                    return Err(mismatch(path, format!("{s:?} does not start with one of {prefixes}:")));
                }
            }
        }
        if let Some(obj) = v.as_object() {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties");
            for (k, x) in obj {
                let sub = format!("{path}.{k}");
                match (props.and_then(|p| p.get(k)), extra) {
                    (Some(s), _) => check(s, x, &sub)?,
                    (None, Some(Value::Bool(false))) => {
                        return Err(mismatch(path, format!("property {k:?} is not allowed")));
                    }
                    (None, Some(s)) if s.is_object() => check(s, x, &sub)?,
                    (None, _) if props.is_some() && !allowed.is_some_and(|a| a.contains(k)) => {
                        return Err(mismatch(path, format!("property {k:?} is not described by the schema")));
                    }
                    _ => {}
                }
            }
            for r in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                let k = r.as_str().unwrap_or_default();
                if !obj.contains_key(k) {
                    return Err(mismatch(path, format!("required property {k:?} missing")));
                }
            }
        }
        if let Some(arr) = v.as_array() {
            let prefix = schema.get("prefixItems").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            for (i, x) in arr.iter().enumerate() {
                let sub = format!("{path}[{i}]");
                match (prefix.get(i), schema.get("items")) {
                    (Some(s), _) => check(s, x, &sub)?,
                    (None, Some(Value::Bool(false))) => {
                        return Err(mismatch(path, format!("{} items, at most {} allowed", arr.len(), prefix.len())));
                    }
                    (None, Some(s)) => check(s, x, &sub)?,
                    (None, None) => {}
                }
            }
            let n = arr.len() as u64;
            if schema.get("minItems").and_then(Value::as_u64).is_some_and(|m| n < m)
                || schema.get("maxItems").and_then(Value::as_u64).is_some_and(|m| n > m)
            {
                return Err(mismatch(path, format!("{n} items, outside minItems/maxItems")));
            }
        }
        Ok(())
    }

    /// The places in `doc` (a whole OpenAPI document, or any part of one) of every schema that
    /// is `type: object` with neither `properties`, `additionalProperties`, `$ref`, `allOf`,
    /// `oneOf` nor `anyOf`: an object a client learns nothing about. Examples are not walked.
    pub fn bare_objects(doc: &Value) -> Vec<String> {
        let mut out = Vec::new();
        walk(doc, "#", 0, &mut out);
        out
    }

    fn walk(v: &Value, path: &str, depth: usize, out: &mut Vec<String>) {
        if depth > MAX_DEPTH {
            out.push(format!("{path}: nested too deep to check"));
            return;
        }
        match v {
            Value::Object(m) => {
                let is_object = match m.get("type") {
                    Some(Value::String(t)) => t == "object",
                    Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
                    _ => false,
                };
                let said = ["properties", "additionalProperties", "$ref", "allOf", "oneOf", "anyOf"];
                if is_object && !said.iter().any(|k| m.contains_key(*k)) {
                    out.push(path.to_string());
                }
                for (k, x) in m {
                    if k != "example" && k != "examples" {
                        walk(x, &format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")), depth + 1, out);
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{path}/{i}"), depth + 1, out);
                }
            }
            _ => {}
        }
    }
}
