//! Reason templates: text with `{expression}` placeholders.
//!
//! A placeholder is any CEL expression over the same identifiers as the rule (`{reading.value}`,
//! `{previous.value}`, `{params.max_rate_factor}`, `{reading.value - previous.value}`), checked
//! like the rule's expressions and run by the dry run, that gives a single value (number, string or
//! bool). `{{` and `}}` stand for literal braces; a placeholder cannot contain braces.

use crate::{MAX_PLACEHOLDERS, MAX_REASON_BYTES};

/// A piece of a template, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Placeholder(String),
}

/// Splits a template into text and placeholders.
pub(crate) fn split(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut source = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') => {
                            return Err("a placeholder cannot contain `{`; write `{{` for a literal brace".into());
                        }
                        Some(c) => source.push(c),
                        None => return Err("a `{` is not closed by `}`; write `{{` for a literal brace".into()),
                    }
                }
                let source = source.trim();
                if source.is_empty() {
                    return Err("an empty placeholder `{}`; put an expression in it, or write `{{}}` for braces".into());
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Placeholder(source.to_owned()));
            }
            '}' => return Err("a `}` without a `{`; write `}}` for a literal brace".into()),
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    let placeholders = pieces.iter().filter(|p| matches!(p, Piece::Placeholder(_))).count();
    if placeholders > MAX_PLACEHOLDERS {
        return Err(format!("{placeholders} placeholders, more than the limit of {MAX_PLACEHOLDERS}"));
    }
    Ok(pieces)
}

/// Cuts `s` to at most [`MAX_REASON_BYTES`], on a character boundary, ending with `…` if cut.
pub(crate) fn truncate(mut s: String) -> String {
    if s.len() <= MAX_REASON_BYTES {
        return s;
    }
    let mut end = MAX_REASON_BYTES - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_placeholders_and_escaped_braces() {
        assert_eq!(
            split("from {previous.value} to {reading.value} {{sic}}").unwrap(),
            vec![
                Piece::Text("from ".into()),
                Piece::Placeholder("previous.value".into()),
                Piece::Text(" to ".into()),
                Piece::Placeholder("reading.value".into()),
                Piece::Text(" {sic}".into()),
            ]
        );
        assert!(split("a {b").is_err());
        assert!(split("a } b").is_err());
        assert!(split("a {} b").is_err());
        assert!(split("a {x{y}} b").is_err());
        assert!(split(&"{a}".repeat(MAX_PLACEHOLDERS + 1)).is_err());
    }

    #[test]
    fn truncates_on_a_character_boundary() {
        let long = "能".repeat(200);
        let t = truncate(long);
        assert!(t.len() <= MAX_REASON_BYTES);
        assert!(t.ends_with('…'));
        assert_eq!(truncate("short".into()), "short");
    }
}
