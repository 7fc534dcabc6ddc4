//! Numbers are kept exactly as sent, or refused. serde_json reads an integer beyond 64 bits, or a
//! decimal with more digits than a double holds, as the nearest double: `123456789012345678901234567890`
//! would be stored and shown as `1.2345678901234568e29`, and two different numbers would be one.
//! So each number token of a body is compared, as a decimal, with the double it becomes; a body
//! whose number would change is refused, naming the number.

/// Whether `value` holds a number read as a double: only those can have changed (integers that fit
/// 64 bits are read exactly), so a body without one needs no second look at its text.
pub(crate) fn has_double(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(n) => n.is_f64(),
        serde_json::Value::Array(items) => items.iter().any(has_double),
        serde_json::Value::Object(fields) => fields.values().any(has_double),
        _ => false,
    }
}

/// The first number token in `body` (JSON text) whose value a double or a 64-bit integer cannot
/// hold exactly.
pub(crate) fn first_inexact(body: &[u8]) -> Option<String> {
    let mut i = 0;
    let mut in_string = false;
    while i < body.len() {
        let b = body[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < body.len() && matches!(body[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                let token = std::str::from_utf8(&body[start..i]).unwrap_or_default();
                if !is_exact(token) {
                    return Some(token.to_owned());
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Whether serde_json keeps `token` (a JSON number) exactly: as a 64-bit integer, or as a double
/// whose shortest decimal form has the same value.
fn is_exact(token: &str) -> bool {
    let integer = !token.contains(['.', 'e', 'E']);
    if integer && (token.parse::<u64>().is_ok() || token.parse::<i64>().is_ok()) {
        return true;
    }
    if integer {
        return false;
    }
    match token.parse::<f64>() {
        Ok(v) if v.is_finite() => decimal(token) == decimal(&format!("{v:e}")),
        _ => false,
    }
}

/// A decimal number as (negative, significant digits without leading or trailing zeros, the
/// exponent of its first digit), so that equal values compare equal whatever their notation.
fn decimal(text: &str) -> (bool, String, i64) {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let leading = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_matches('0').to_owned();
    if significant.is_empty() {
        return (false, String::new(), 0);
    }
    let first = whole.len() as i64 - leading as i64 + exponent;
    (negative, significant, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_a_double_or_a_64_bit_integer_holds_are_exact() {
        for token in [
            "0",
            "-0",
            "7",
            "-12",
            "18446744073709551615",
            "-9223372036854775808",
            "1.5",
            "0.1",
            "1e3",
            "2.50",
            "-0.000125",
            "1.7976931348623157e308",
        ] {
            assert!(is_exact(token), "{token}");
        }
    }

    #[test]
    fn numbers_that_would_change_are_not() {
        for token in [
            "123456789012345678901234567890",
            "18446744073709551616",
            "-9223372036854775809",
            "0.1000000000000000055511151231257827",
            "9007199254740993.0",
            "1e400",
        ] {
            assert!(!is_exact(token), "{token}");
        }
    }

    #[test]
    fn only_bodies_with_a_double_are_looked_at_again() {
        let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert!(!has_double(&parse(
            r#"{"a": [1, -2, 18446744073709551615], "b": "1.5"}"#
        )));
        assert!(has_double(&parse(r#"{"a": {"b": [1.5]}}"#)));
        assert!(has_double(&parse(r#"[123456789012345678901234567890]"#)));
    }

    #[test]
    fn numbers_inside_strings_are_text() {
        assert_eq!(
            first_inexact(br#"{"a": "123456789012345678901234567890", "b": 1}"#),
            None
        );
        assert_eq!(
            first_inexact(br#"{"a": "x\"", "b": [1, 123456789012345678901234567890]}"#).as_deref(),
            Some("123456789012345678901234567890")
        );
    }
}
