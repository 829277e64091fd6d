//! How the tools write JSON values: strings and numbers through
//! `serde_json`, rates and other measured numbers rounded to 6 decimals
//! ([`Rounded`]). `ixy-stats` serialises its report structs whole
//! (`crate::stats::json`); `ixy-pktgen` and `ixy-latency` assemble their
//! objects from the values encoded here.

use serde::{Serialize, Serializer};

/// `s` as a JSON string literal, quotes included (`serde_json`'s escaping).
pub fn json_string(s: &str) -> String {
    // Serialising a `str` cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A measured number as JSON: [`Rounded`] (rounded to 6 decimals, an
/// integer when whole, `null` when unknown or not finite).
pub fn json_number(v: Option<f64>) -> String {
    serde_json::to_string(&Rounded(v)).unwrap_or_else(|_| "null".into())
}

/// A measured number (a rate, a percentage, seconds) as the tools write it
/// in JSON: rounded to 6 decimals; an integer when that is whole (`2`, not
/// `2.0`); `null` when unknown (`None`) or not finite. `-0` is written `0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rounded(pub Option<f64>);

impl Serialize for Rounded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// Whole numbers below this are exact in an f64 and written as integers.
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        match self.0 {
            Some(v) if v.is_finite() => {
                let r = (v * 1e6).round() / 1e6;
                if r.fract() == 0.0 && r.abs() < EXACT {
                    s.serialize_i64(r as i64)
                } else {
                    s.serialize_f64(r)
                }
            }
            _ => s.serialize_none(),
        }
    }
}

/// `#[serde(serialize_with = "crate::json::rounded")]` for an
/// `Option<f64>` field: see [`Rounded`].
pub fn rounded<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    Rounded(*v).serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(json_string("sim:demo/0"), "\"sim:demo/0\"");
        assert_eq!(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(json_string("\n\r\t\u{8}\u{c}"), "\"\\n\\r\\t\\b\\f\"");
        assert_eq!(json_string("\u{1}\u{1f}"), "\"\\u0001\\u001f\"");
        assert_eq!(json_string("é€😀"), "\"é€😀\"");
    }

    #[test]
    fn numbers_are_rounded_and_whole_ones_are_integers() {
        assert_eq!(json_number(Some(1.0)), "1");
        assert_eq!(json_number(Some(1.024)), "1.024");
        assert_eq!(json_number(Some(0.1234567)), "0.123457");
        assert_eq!(json_number(Some(-0.0000001)), "0");
        assert_eq!(json_number(Some(-2.5)), "-2.5");
        assert_eq!(json_number(Some(1e300)), "1e+300");
        assert_eq!(json_number(None), "null");
        assert_eq!(json_number(Some(f64::NAN)), "null");
        assert_eq!(json_number(Some(f64::INFINITY)), "null");
        for v in [0.000001, 0.000123, 12.5, 1e15 + 0.5] {
            let back: f64 = serde_json::from_str(&json_number(Some(v))).unwrap();
            assert!((back - v).abs() <= 5e-7 * v.abs().max(1.0), "{v}");
        }
    }
}
