//! Parsed methodologies, kept by the process.
//!
//! Parsing a document (with its unit checks and dry run) takes 3–6 ms; a validator checks every
//! documented entry against its enterprise's methodology and the API computes months from it, so
//! parsed documents are kept, recognised by their text (a version's text never changes on a
//! chain, but two chains in one process may deploy different texts under one id and version), at
//! most [`PARSED_CACHE`], most recently used first. Parsing is a pure function of the text, so
//! the cache changes no result, only the time it takes.

use std::sync::{Arc, LazyLock, Mutex};

use crate::document::{DocumentError, Methodology};

/// Most parsed documents kept.
pub const PARSED_CACHE: usize = 16;

/// Documents and their parsed forms, most recently used first.
type ParsedCache = Mutex<Vec<(String, Arc<Methodology>)>>;

/// The parsed form of a document, from the cache when it was parsed before.
pub fn parsed(text: &str) -> Result<Arc<Methodology>, DocumentError> {
    static CACHE: LazyLock<ParsedCache> = LazyLock::new(|| Mutex::new(Vec::new()));
    {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = cache.iter().position(|(t, _)| t.len() == text.len() && t == text) {
            let hit = cache.remove(i);
            let m = hit.1.clone();
            cache.insert(0, hit);
            return Ok(m);
        }
    }
    let m = Arc::new(Methodology::parse(text)?);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.insert(0, (text.to_string(), m.clone()));
    cache.truncate(PARSED_CACHE);
    Ok(m)
}
