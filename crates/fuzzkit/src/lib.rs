//! # trustmeter-fuzzkit (tests only)
//!
//! What the bounded fuzz tests of several crates share (`crates/*/tests/fuzz.rs` and the other
//! fuzz modules listed in the README): a proptest configuration with a fixed seed (a CI failure
//! replays as it is), random edits of byte strings (flips, cuts, insertions, length prefixes set
//! to edge values), and structural edits of JSON documents (members dropped, renamed or added,
//! values replaced, copied or nested deeply, arrays grown, characters and numbers changed).
//! Never a dependency of anything but tests.
//!
//! Two environment variables lengthen and vary every target at once (the README's long run):
//! [`SCALE_VAR`] multiplies each target's case count, [`SEED_VAR`] is XORed into each target's
//! fixed seed (0 or unset: the seeds of `cargo test`).

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{RngAlgorithm, RngSeed};
use serde_json::Value;

/// Multiplies the case count of every bounded fuzz target (`FUZZ_SCALE=100`: 100 times as many).
pub const SCALE_VAR: &str = "FUZZ_SCALE";
/// XORed into every target's fixed seed (`FUZZ_SEED=$RANDOM`: other inputs; the same value replays
/// them).
pub const SEED_VAR: &str = "FUZZ_SEED";

/// The case count and seed a target with `cases` and `seed` runs with, given the values of
/// [`SCALE_VAR`] and [`SEED_VAR`] (unparsable values count as unset).
pub fn scaled(cases: u32, seed: u64, scale: Option<&str>, seed_xor: Option<&str>) -> (u32, u64) {
    let scale = scale.and_then(|s| s.trim().parse::<u32>().ok()).unwrap_or(1).max(1);
    let xor = seed_xor.and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
    (cases.saturating_mul(scale), seed ^ xor)
}

/// A bounded, replayable configuration: `cases` cases from `seed` (both changed by [`SCALE_VAR`]
/// and [`SEED_VAR`]), no failure files in the source tree, shrinking capped.
pub fn config(cases: u32, seed: u64) -> ProptestConfig {
    let var = |name: &str| std::env::var(name).ok();
    let (cases, seed) = scaled(cases, seed, var(SCALE_VAR).as_deref(), var(SEED_VAR).as_deref());
    ProptestConfig {
        cases,
        max_shrink_iters: 2_000,
        max_shrink_time: 30_000,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Byte edits
// ---------------------------------------------------------------------------------------------

/// Values a length prefix or a count is often checked against.
pub const EDGE_U32: [u32; 14] = [0, 1, 2, 3, 4, 31, 64, 255, 256, 2_048, 4_096, 65_535, 0x7FFF_FFFF, u32::MAX];
/// 64-bit edge values (lengths, nonces, timestamps).
pub const EDGE_U64: [u64; 7] = [0, 1, u32::MAX as u64, i64::MAX as u64, i64::MIN as u64, u64::MAX - 1, u64::MAX];

/// One random change to a byte string. Positions are [`Index`]es, scaled to the string's length.
#[derive(Clone, Debug)]
pub enum ByteEdit {
    /// Flips one bit.
    FlipBit { at: Index, bit: u8 },
    /// Sets one byte.
    SetByte { at: Index, value: u8 },
    /// Cuts the string at a position.
    Truncate { at: Index },
    /// Inserts bytes.
    Insert { at: Index, bytes: Vec<u8> },
    /// Removes a run of bytes.
    Remove { at: Index, len: usize },
    /// Repeats a run of bytes.
    Duplicate { at: Index, len: usize },
    /// Overwrites 4 bytes with an edge value (a length prefix, a count).
    SetU32 { at: Index, value: u32 },
    /// Overwrites 8 bytes with an edge value.
    SetU64 { at: Index, value: u64 },
}

/// A random [`ByteEdit`] (bit flips and edge-value length prefixes weighted up).
pub fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        4 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| ByteEdit::FlipBit { at, bit }),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, value)| ByteEdit::SetByte { at, value }),
        1 => any::<Index>().prop_map(|at| ByteEdit::Truncate { at }),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..9)).prop_map(|(at, bytes)| ByteEdit::Insert { at, bytes }),
        1 => (any::<Index>(), 1usize..40).prop_map(|(at, len)| ByteEdit::Remove { at, len }),
        1 => (any::<Index>(), 1usize..80).prop_map(|(at, len)| ByteEdit::Duplicate { at, len }),
        2 => (any::<Index>(), prop::sample::select(&EDGE_U32[..])).prop_map(|(at, value)| ByteEdit::SetU32 { at, value }),
        1 => (any::<Index>(), prop::sample::select(&EDGE_U64[..])).prop_map(|(at, value)| ByteEdit::SetU64 { at, value }),
    ]
}

/// Applies `edit` to `bytes` (nothing when it needs more bytes than there are).
pub fn apply_byte_edit(bytes: &mut Vec<u8>, edit: &ByteEdit) {
    let len = bytes.len();
    let pos = |at: &Index| if len == 0 { 0 } else { at.index(len) };
    match edit {
        ByteEdit::FlipBit { at, bit } if len > 0 => bytes[pos(at)] ^= 1 << bit,
        ByteEdit::SetByte { at, value } if len > 0 => bytes[pos(at)] = *value,
        ByteEdit::Truncate { at } => bytes.truncate(pos(at)),
        ByteEdit::Insert { at, bytes: new } => {
            let p = if len == 0 { 0 } else { at.index(len + 1) };
            bytes.splice(p..p, new.iter().copied());
        }
        ByteEdit::Remove { at, len: n } if len > 0 => {
            let p = pos(at);
            bytes.drain(p..(p + n).min(len));
        }
        ByteEdit::Duplicate { at, len: n } if len > 0 => {
            let p = pos(at);
            let copy = bytes[p..(p + n).min(len)].to_vec();
            bytes.splice(p..p, copy);
        }
        ByteEdit::SetU32 { at, value } if len >= 4 => {
            let p = at.index(len - 3);
            bytes[p..p + 4].copy_from_slice(&value.to_le_bytes());
        }
        ByteEdit::SetU64 { at, value } if len >= 8 => {
            let p = at.index(len - 7);
            bytes[p..p + 8].copy_from_slice(&value.to_le_bytes());
        }
        _ => {}
    }
}

/// One to four random [`ByteEdit`]s.
pub fn byte_edits() -> impl Strategy<Value = Vec<ByteEdit>> {
    prop::collection::vec(byte_edit(), 1..5)
}

/// `original` with `edits` applied in order.
pub fn edited(original: &[u8], edits: &[ByteEdit]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for e in edits {
        apply_byte_edit(&mut bytes, e);
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// JSON edits
// ---------------------------------------------------------------------------------------------

/// One structural change to a JSON document, at the `at`-th value in pre-order.
#[derive(Clone, Debug)]
pub enum JsonEdit {
    /// Removes a member of an object (drops a field).
    RemoveMember { at: Index, member: Index },
    /// Renames a member of an object.
    RenameMember { at: Index, member: Index, name: String },
    /// Adds a member to an object.
    AddMember { at: Index, name: String, value: Value },
    /// Replaces a value.
    Replace { at: Index, value: Value },
    /// Replaces a value by a copy of another value of the same document.
    CopyFrom { at: Index, from: Index },
    /// Nests a value in `depth` arrays.
    Wrap { at: Index, depth: usize },
    /// Appends a copy of one of an array's elements to it.
    DuplicateElement { at: Index, element: Index },
    /// Removes an element of an array.
    RemoveElement { at: Index, element: Index },
    /// Appends a copy of any value of the document to an array (a header to `descendants`, a
    /// hash to `audit_path` …).
    PushCopy { at: Index, from: Index },
    /// Repeats an array's last element until the array has `len` elements.
    Grow { at: Index, len: usize },
    /// Changes one character of a string (a hex digit, mostly).
    ChangeCharacter { at: Index, position: Index, to: char },
    /// Adds or subtracts one to a number.
    Nudge { at: Index, up: bool },
}

/// Structural edits whose replacement and added values come from `values` (a crate's edge
/// values: odd strings, other types, huge numbers).
pub fn json_edit(values: BoxedStrategy<Value>) -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, member)| JsonEdit::RemoveMember { at, member }),
        1 => (any::<Index>(), any::<Index>(), "[a-z_]{1,10}").prop_map(|(at, member, name)| JsonEdit::RenameMember { at, member, name }),
        1 => (any::<Index>(), "[a-z_]{1,10}", values.clone()).prop_map(|(at, name, value)| JsonEdit::AddMember { at, name, value }),
        3 => (any::<Index>(), values).prop_map(|(at, value)| JsonEdit::Replace { at, value }),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, from)| JsonEdit::CopyFrom { at, from }),
        1 => (any::<Index>(), prop_oneof![1usize..3, 120usize..140]).prop_map(|(at, depth)| JsonEdit::Wrap { at, depth }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(at, element)| JsonEdit::DuplicateElement { at, element }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(at, element)| JsonEdit::RemoveElement { at, element }),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, from)| JsonEdit::PushCopy { at, from }),
        1 => (any::<Index>(), prop_oneof![2usize..10, 250usize..300]).prop_map(|(at, len)| JsonEdit::Grow { at, len }),
        4 => (any::<Index>(), any::<Index>(), prop_oneof![prop::sample::select(vec!['0', '1', '9', 'a', 'f', 'A', 'F']), any::<char>()])
            .prop_map(|(at, position, to)| JsonEdit::ChangeCharacter { at, position, to }),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(at, up)| JsonEdit::Nudge { at, up }),
    ]
}

/// JSON pointers of every value of `v`, in pre-order.
pub fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                pointers(child, format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Applies `edit` to `doc` (nothing when its target has the wrong kind).
pub fn apply_json_edit(doc: &mut Value, edit: &JsonEdit) {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    // A character change goes to a string, a nudge to a number, a push or growth to an array.
    let kind: Option<fn(&Value) -> bool> = match edit {
        JsonEdit::ChangeCharacter { .. } => Some(|v| v.is_string()),
        JsonEdit::Nudge { .. } => Some(|v| v.is_number()),
        JsonEdit::PushCopy { .. } => Some(|v| v.is_array()),
        JsonEdit::Grow { .. } => Some(|v| v.as_array().is_some_and(|a| !a.is_empty())),
        _ => None,
    };
    if let Some(is_kind) = kind {
        all.retain(|p| doc.pointer(p).is_some_and(is_kind));
        if all.is_empty() {
            return;
        }
    }
    let pick = |at: &Index| all[at.index(all.len())].clone();
    let at = match edit {
        JsonEdit::RemoveMember { at, .. }
        | JsonEdit::RenameMember { at, .. }
        | JsonEdit::AddMember { at, .. }
        | JsonEdit::Replace { at, .. }
        | JsonEdit::CopyFrom { at, .. }
        | JsonEdit::Wrap { at, .. }
        | JsonEdit::DuplicateElement { at, .. }
        | JsonEdit::RemoveElement { at, .. }
        | JsonEdit::PushCopy { at, .. }
        | JsonEdit::Grow { at, .. }
        | JsonEdit::ChangeCharacter { at, .. }
        | JsonEdit::Nudge { at, .. } => pick(at),
    };
    let copied = match edit {
        JsonEdit::CopyFrom { from, .. } | JsonEdit::PushCopy { from, .. } => doc.pointer(&pick(from)).cloned(),
        _ => None,
    };
    let Some(target) = doc.pointer_mut(&at) else { return };
    match (edit, target) {
        (JsonEdit::RemoveMember { member, .. }, Value::Object(m)) if !m.is_empty() => {
            let k = m.keys().nth(member.index(m.len())).cloned().unwrap_or_default();
            m.remove(&k);
        }
        (JsonEdit::RenameMember { member, name, .. }, Value::Object(m)) if !m.is_empty() => {
            let k = m.keys().nth(member.index(m.len())).cloned().unwrap_or_default();
            if let Some(v) = m.remove(&k) {
                m.insert(name.clone(), v);
            }
        }
        (JsonEdit::AddMember { name, value, .. }, Value::Object(m)) => {
            m.insert(name.clone(), value.clone());
        }
        (JsonEdit::DuplicateElement { element, .. }, Value::Array(a)) if !a.is_empty() => {
            let copy = a[element.index(a.len())].clone();
            a.push(copy);
        }
        (JsonEdit::RemoveElement { element, .. }, Value::Array(a)) if !a.is_empty() => {
            a.remove(element.index(a.len()));
        }
        (JsonEdit::PushCopy { .. }, Value::Array(a)) => a.extend(copied),
        (JsonEdit::Grow { len, .. }, Value::Array(a)) => {
            if let Some(last) = a.last().cloned() {
                a.resize(*len.max(&a.len()), last);
            }
        }
        (JsonEdit::ChangeCharacter { position, to, .. }, Value::String(s)) if !s.is_empty() => {
            let mut chars: Vec<char> = s.chars().collect();
            let i = position.index(chars.len());
            chars[i] = *to;
            *s = chars.into_iter().collect();
        }
        (JsonEdit::Nudge { up, .. }, Value::Number(n)) => {
            *n = if let Some(u) = n.as_u64() {
                if *up { u.wrapping_add(1).into() } else { u.wrapping_sub(1).into() }
            } else if let Some(i) = n.as_i64() {
                if *up { i.wrapping_add(1).into() } else { i.wrapping_sub(1).into() }
            } else {
                n.clone()
            };
        }
        (JsonEdit::Replace { value, .. }, target) => *target = value.clone(),
        (JsonEdit::CopyFrom { .. }, target) => {
            if let Some(v) = copied {
                *target = v;
            }
        }
        (JsonEdit::Wrap { depth, .. }, target) => {
            for _ in 0..*depth {
                *target = Value::Array(vec![target.take()]);
            }
        }
        _ => {}
    }
}

/// One change to JSON text.
#[derive(Clone, Debug)]
pub enum TextEdit {
    /// Replaces the `which`-th run of digits with a token.
    ReplaceNumber { which: Index, token: &'static str },
    /// Duplicates the `which`-th member following a `{`, making a duplicate key.
    DuplicateKey { which: Index },
    /// Adds whitespace after the `which`-th structural character (a change of no meaning).
    Whitespace { which: Index, ws: &'static str },
    /// Inserts a token anywhere.
    Insert { at: Index, token: &'static str },
    /// Flips a bit of a byte.
    FlipBit { at: Index, bit: u8 },
    /// Removes bytes.
    Remove { at: Index, len: usize },
    /// Any byte edit, on the text's bytes.
    Bytes(ByteEdit),
}

/// Text edits; numbers are replaced by, and insertions taken from, `tokens`.
pub fn text_edit(tokens: &'static [&'static str]) -> impl Strategy<Value = TextEdit> {
    prop_oneof![
        2 => (any::<Index>(), prop::sample::select(tokens)).prop_map(|(which, token)| TextEdit::ReplaceNumber { which, token }),
        1 => any::<Index>().prop_map(|which| TextEdit::DuplicateKey { which }),
        2 => (any::<Index>(), prop::sample::select(vec![" ", "\n", "\t", "\r\n  "])).prop_map(|(which, ws)| TextEdit::Whitespace { which, ws }),
        1 => (any::<Index>(), prop::sample::select(tokens)).prop_map(|(at, token)| TextEdit::Insert { at, token }),
        2 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| TextEdit::FlipBit { at, bit }),
        1 => (any::<Index>(), 1usize..20).prop_map(|(at, len)| TextEdit::Remove { at, len }),
        2 => byte_edit().prop_map(TextEdit::Bytes),
    ]
}

/// Applies `edit` to JSON text.
pub fn apply_text_edit(text: &mut Vec<u8>, edit: &TextEdit) {
    let positions = |text: &[u8], f: &dyn Fn(usize) -> bool| (0..text.len()).filter(|i| f(*i)).collect::<Vec<_>>();
    match edit {
        TextEdit::ReplaceNumber { which, token } => {
            let starts =
                positions(text, &|i| text[i].is_ascii_digit() && (i == 0 || !text[i - 1].is_ascii_alphanumeric()));
            if !starts.is_empty() {
                let s = starts[which.index(starts.len())];
                let e = (s..text.len()).find(|&i| !text[i].is_ascii_digit()).unwrap_or(text.len());
                text.splice(s..e, token.bytes());
            }
        }
        TextEdit::DuplicateKey { which } => {
            let starts = positions(text, &|i| text[i] == b'{');
            if !starts.is_empty() {
                let s = starts[which.index(starts.len())] + 1;
                let e = text[s..].iter().position(|b| *b == b',').map_or(text.len(), |p| s + p + 1);
                let member = text[s..e].to_vec();
                text.splice(s..s, member);
            }
        }
        TextEdit::Whitespace { which, ws } => {
            let starts = positions(text, &|i| matches!(text[i], b'{' | b'[' | b',' | b':'));
            if !starts.is_empty() {
                let s = starts[which.index(starts.len())] + 1;
                text.splice(s..s, ws.bytes());
            }
        }
        TextEdit::Insert { at, token } => {
            let p = at.index(text.len() + 1);
            text.splice(p..p, token.bytes());
        }
        TextEdit::FlipBit { at, bit } if !text.is_empty() => {
            let p = at.index(text.len());
            text[p] ^= 1 << bit;
        }
        TextEdit::Remove { at, len } if !text.is_empty() => {
            let p = at.index(text.len());
            text.drain(p..(p + len).min(text.len()));
        }
        TextEdit::Bytes(e) => apply_byte_edit(text, e),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::scaled;

    #[test]
    fn the_environment_scales_cases_and_varies_seeds() {
        assert_eq!(scaled(3_000, 42, None, None), (3_000, 42));
        assert_eq!(scaled(3_000, 42, Some("100"), Some("1")), (300_000, 43));
        assert_eq!(scaled(3_000, 42, Some(" 0 "), Some("x")), (3_000, 42), "0 and junk count as unset");
        assert_eq!(scaled(3_000_000, 42, Some("10000"), Some("0")), (u32::MAX, 42), "saturates");
    }
}
