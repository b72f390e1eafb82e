//! The text an assessment is FTS-indexed under: the reference's
//! `_assessment_fts_text`, recomputed from the stored item.
//!
//! The reference computes it from the `Assessment` object at write time:
//! `feedback.value` if not `None`, else `expectation.value`; a string as is,
//! anything else through Python's `str()`. From the stored `data` map:
//!
//! - `feedback.value` / `expectation.value`: `S` as is, `BOOL` as
//!   `True`/`False`, `N` as stored, `M`/`L` as Python's `repr` of the dict /
//!   list (strings quoted and escaped like Python's `repr`, `None`, `True`).
//!   `NULL` or absent = `None`.
//! - `expectation.serialized_value` (`JSON_FORMAT`, how MLflow stores
//!   non-primitive expectations): the JSON is decoded and rendered the same
//!   way; JSON numbers as Python would print the decoded `int` / `float`.
//!
//! Limits (documented, not hidden): tokens are `[a-z0-9]+` runs of the
//! lowered text, so only what yields letters or digits matters. Python's
//! `repr` escapes non-printable characters (`\x..`, `\u....`); we know the
//! ASCII ones and the common non-ASCII format/space/private-use ranges, not
//! every unassigned code point of Python's Unicode database. JSON integers
//! beyond 64 bits are read as floats (Python keeps them exact). Float values
//! in feedback cannot be stored by the `v0.1` store at all (boto3 rejects
//! floats), so they never reach the table. An item we cannot render
//! (binary values, sets, an unknown serialization format, undecodable JSON)
//! gives [`Unrenderable`]: the planner then leaves that field's existing
//! items alone.

use std::collections::HashMap;

use crate::item::AttributeValue;

/// The assessment's value cannot be rendered as the reference would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unrenderable;

/// The text the reference indexes for an assessment whose `data` attribute is
/// `data`; `Ok(None)` when it indexes nothing.
pub fn assessment_fts_text(data: &AttributeValue) -> Result<Option<String>, Unrenderable> {
    let AttributeValue::M(data) = data else {
        return Err(Unrenderable);
    };
    if let Some(AttributeValue::M(feedback)) = data.get("feedback") {
        match feedback.get("value") {
            None | Some(AttributeValue::Null(_)) => {}
            Some(v) => return top_level(v).map(Some),
        }
    }
    if let Some(AttributeValue::M(expectation)) = data.get("expectation") {
        match expectation.get("value") {
            None | Some(AttributeValue::Null(_)) => {}
            Some(v) => return top_level(v).map(Some),
        }
        if let Some(AttributeValue::M(serialized)) = expectation.get("serialized_value") {
            return serialized_text(serialized);
        }
    }
    Ok(None)
}

/// `str(val) if not isinstance(val, str) else val`.
fn top_level(v: &AttributeValue) -> Result<String, Unrenderable> {
    match v {
        AttributeValue::S(s) => Ok(s.clone()),
        other => {
            let mut out = String::new();
            repr_attr(other, &mut out)?;
            Ok(out)
        }
    }
}

fn serialized_text(
    serialized: &HashMap<String, AttributeValue>,
) -> Result<Option<String>, Unrenderable> {
    match serialized.get("serialization_format") {
        Some(AttributeValue::S(f)) if f == "JSON_FORMAT" => {}
        _ => return Err(Unrenderable),
    }
    let Some(AttributeValue::S(json)) = serialized.get("value") else {
        return Err(Unrenderable);
    };
    let value: serde_json::Value = serde_json::from_str(json).map_err(|_| Unrenderable)?;
    Ok(match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => {
            let mut out = String::new();
            repr_json(&other, &mut out);
            Some(out)
        }
    })
}

fn repr_attr(v: &AttributeValue, out: &mut String) -> Result<(), Unrenderable> {
    match v {
        AttributeValue::S(s) => repr_str(s, out),
        AttributeValue::N(n) => out.push_str(n),
        AttributeValue::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        AttributeValue::Null(_) => out.push_str("None"),
        AttributeValue::L(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_attr(item, out)?;
            }
            out.push(']');
        }
        AttributeValue::M(map) => {
            out.push('{');
            // Map order is lost in DynamoDB; the token set does not depend on
            // it (tokens never span a `, ` separator). Sorted for stability.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_str(k, out);
                out.push_str(": ");
                repr_attr(v, out)?;
            }
            out.push('}');
        }
        AttributeValue::B(_)
        | AttributeValue::Ss(_)
        | AttributeValue::Ns(_)
        | AttributeValue::Bs(_) => return Err(Unrenderable),
    }
    Ok(())
}

fn repr_json(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                out.push_str(&py_float_repr(n.as_f64().unwrap_or(f64::NAN)));
            }
        }
        Value::String(s) => repr_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_str(k, out);
                out.push_str(": ");
                repr_json(v, out);
            }
            out.push('}');
        }
    }
}

/// Python's `repr(float)`: the shortest round-tripping digits, fixed
/// notation for exponents in `-4..16`, else `d.ddde±XX`.
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    // Rust's `{:e}` prints the shortest round-tripping digits too.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    let body = if (-4..16).contains(&exp) {
        if exp >= n - 1 {
            format!("{digits}{}.0", "0".repeat((exp - (n - 1)) as usize))
        } else if exp >= 0 {
            let (a, b) = digits.split_at((exp + 1) as usize);
            format!("{a}.{b}")
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let (a, b) = digits.split_at(1);
        let frac = if b.is_empty() {
            String::new()
        } else {
            format!(".{b}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{a}{frac}e{esign}{:02}", exp.unsigned_abs())
    };
    format!("{sign}{body}")
}

/// Python's `repr(str)`.
fn repr_str(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if !c.is_ascii() && !py_printable(c) => {
                let u = c as u32;
                if u <= 0xff {
                    out.push_str(&format!("\\x{u:02x}"));
                } else if u <= 0xffff {
                    out.push_str(&format!("\\u{u:04x}"));
                } else {
                    out.push_str(&format!("\\U{u:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable` for non-ASCII characters, as far as the
/// common non-printable categories go (Cc, Cf, Zs, Zl, Zp, Co and two
/// non-characters). Unassigned code points are taken as printable.
fn py_printable(c: char) -> bool {
    const NON_PRINTABLE: &[(u32, u32)] = &[
        (0x80, 0xA0),
        (0xAD, 0xAD),
        (0x600, 0x605),
        (0x61C, 0x61C),
        (0x6DD, 0x6DD),
        (0x70F, 0x70F),
        (0x890, 0x891),
        (0x8E2, 0x8E2),
        (0x1680, 0x1680),
        (0x180E, 0x180E),
        (0x2000, 0x200F),
        (0x2028, 0x202F),
        (0x205F, 0x2064),
        (0x2066, 0x206F),
        (0x3000, 0x3000),
        (0xE000, 0xF8FF),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0xFFFE, 0xFFFF),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x13438),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        (0xF0000, 0xFFFFD),
        (0x100000, 0x10FFFD),
    ];
    let u = c as u32;
    !NON_PRINTABLE
        .iter()
        .any(|(lo, hi)| (*lo..=*hi).contains(&u))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }
    fn m(entries: &[(&str, AttributeValue)]) -> AttributeValue {
        AttributeValue::M(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    fn check(data: AttributeValue, expected: Result<Option<&str>, Unrenderable>) {
        assert_eq!(
            assessment_fts_text(&data),
            expected.map(|o| o.map(str::to_owned)),
            "{data:?}"
        );
    }

    #[test]
    fn texts_as_the_reference_computes_them() {
        // Shapes observed in a table written by the v0.1 store (moto).
        check(
            m(&[("feedback", m(&[("value", s("Hello World"))]))]),
            Ok(Some("Hello World")),
        );
        check(
            m(&[("feedback", m(&[("value", AttributeValue::Bool(true))]))]),
            Ok(Some("True")),
        );
        check(
            m(&[("feedback", m(&[("value", AttributeValue::Null(true))]))]),
            Ok(None),
        );
        check(
            m(&[(
                "feedback",
                m(&[(
                    "value",
                    AttributeValue::L(vec![s("p"), AttributeValue::Null(true)]),
                )]),
            )]),
            Ok(Some("['p', None]")),
        );
        check(
            m(&[(
                "feedback",
                m(&[(
                    "value",
                    m(&[("b", AttributeValue::Bool(false)), ("a", s("it's"))]),
                )]),
            )]),
            Ok(Some("{'a': \"it's\", 'b': False}")),
        );
        check(
            m(&[("expectation", m(&[("value", s("hello"))]))]),
            Ok(Some("hello")),
        );
        check(
            m(&[(
                "expectation",
                m(&[(
                    "serialized_value",
                    m(&[
                        ("serialization_format", s("JSON_FORMAT")),
                        (
                            "value",
                            s(r#"{"k": "v\nw", "n": [1, 2.5, 1e20, true, null]}"#),
                        ),
                    ]),
                )]),
            )]),
            Ok(Some(r"{'k': 'v\nw', 'n': [1, 2.5, 1e+20, True, None]}")),
        );
        // Feedback without a value falls through to the expectation.
        check(
            m(&[
                ("feedback", m(&[("error", m(&[]))])),
                ("expectation", m(&[("value", s("x"))])),
            ]),
            Ok(Some("x")),
        );
        check(m(&[("rationale", s("no value"))]), Ok(None));
        check(s("not a map"), Err(Unrenderable));
        check(
            m(&[(
                "expectation",
                m(&[(
                    "serialized_value",
                    m(&[("serialization_format", s("PICKLE")), ("value", s("x"))]),
                )]),
            )]),
            Err(Unrenderable),
        );
    }

    #[test]
    fn python_float_repr() {
        for (x, want) in [
            (2.5, "2.5"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (123456.789, "123456.789"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (1e100, "1e+100"),
            (-3.5, "-3.5"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(py_float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn python_str_repr_escapes() {
        for (input, want) in [
            ("plain", "'plain'"),
            ("it's", "\"it's\""),
            ("both ' \"", "'both \\' \"'"),
            ("tab\there", "'tab\\there'"),
            ("back\\slash", "'back\\\\slash'"),
            ("bell\u{7}", "'bell\\x07'"),
            ("nbsp\u{a0}x", "'nbsp\\xa0x'"),
            ("ls\u{2028}x", "'ls\\u2028x'"),
            ("é日本", "'é日本'"),
        ] {
            let mut out = String::new();
            repr_str(input, &mut out);
            assert_eq!(out, want, "{input:?}");
        }
    }
}
