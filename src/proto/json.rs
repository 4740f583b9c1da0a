//! JSON text written straight into a byte buffer.
//!
//! Replies, views and notifications are written field by field into the bytes that go on the wire,
//! without building a `serde_json::Value` tree first: a write's reply and a balance read are the hot
//! paths, and the tree (a `BTreeMap` node and a `String` for every key, then a second pass to
//! serialise it) cost more than the request's own work. The output is the text `serde_json` would
//! give for the same fields in the same order (same escapes); unit tests hold it to that.

use serde::Serialize;

use crate::money::Cents;

/// Appends `text` as a JSON string, escaped exactly as `serde_json` escapes it.
pub fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Names, keys and descriptions rarely need an escape: one scan, one copy.
    let Some(first) = first_escape(bytes) else {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    };
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate().skip(first) {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The first byte of `bytes` that JSON escapes (a control character, `"` or `\\`), if any. Eight bytes
/// at a time (the hot reply writes a name or two per request): a word holds one exactly when one of
/// its bytes is below 0x20 or equal to either (the "has less" and "has zero" bit tests), and only
/// that word is then looked at byte by byte.
fn first_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else { break };
        let word = u64::from_ne_bytes(chunk);
        let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
        if below_space | zero_byte(word ^ (ONES * u64::from(b'"'))) | zero_byte(word ^ (ONES * u64::from(b'\\'))) != 0 {
            break;
        }
        at += 8;
    }
    let escaped = |&b: &u8| b < 0x20 || b == b'"' || b == b'\\';
    bytes[at..].iter().position(escaped).map(|i| at + i)
}

/// Appends `n` in decimal.
pub fn u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

pub fn i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    u64(out, n.unsigned_abs());
}

/// Appends an amount as an exact two-decimal JSON number (`12.30`, `-0.05`), the form `Cents::to_json`
/// gives.
pub fn cents(out: &mut Vec<u8>, amount: Cents) {
    if amount.0 < 0 {
        out.push(b'-');
    }
    let abs = amount.0.unsigned_abs();
    u64(out, abs / 100);
    let fraction = (abs % 100) as u8;
    out.extend_from_slice(&[b'.', b'0' + fraction / 10, b'0' + fraction % 10]);
}

/// Appends an amount in cents that may not fit `i64` (sums over many transactions), in the same
/// two-decimal form as `cents`.
pub fn wide_cents(out: &mut Vec<u8>, amount: i128) {
    if amount < 0 {
        out.push(b'-');
    }
    let abs = amount.unsigned_abs();
    match u64::try_from(abs / 100) {
        Ok(units) => u64(out, units),
        Err(_) => out.extend_from_slice((abs / 100).to_string().as_bytes()),
    }
    let fraction = (abs % 100) as u8;
    out.extend_from_slice(&[b'.', b'0' + fraction / 10, b'0' + fraction % 10]);
}

/// Appends an amount with `decimals` decimals (a currency's minor unit: `1234` yen, `-1.250` dinar,
/// `12.30` euro, which is `cents`).
pub fn amount(out: &mut Vec<u8>, amount: Cents, decimals: u8) {
    if decimals == 2 {
        return cents(out, amount);
    }
    wide_amount(out, i128::from(amount.0), decimals);
}

/// `wide_cents` with `decimals` decimals (at most 3: `vocab::currency::DECIMALS_MAX`).
pub fn wide_amount(out: &mut Vec<u8>, amount: i128, decimals: u8) {
    if decimals == 2 {
        return wide_cents(out, amount);
    }
    if amount < 0 {
        out.push(b'-');
    }
    let unit = 10_u128.pow(u32::from(decimals));
    let abs = amount.unsigned_abs();
    match u64::try_from(abs / unit) {
        Ok(units) => u64(out, units),
        Err(_) => out.extend_from_slice((abs / unit).to_string().as_bytes()),
    }
    if decimals > 0 {
        out.extend_from_slice(format!(".{:0width$}", abs % unit, width = usize::from(decimals)).as_bytes());
    }
}

/// Appends any serialisable value (through `serde_json`): for the shapes that are not hot.
pub fn value<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serialising into memory fails only for maps with non-string keys, which splitd never has;
    // should it happen, `null` keeps the text valid.
    let start = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

/// An object being written; its `}` is written when it is dropped.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, first: true }
    }

    /// Starts an object whose first fields are `fields`, JSON text written as it is (`"a":1`): for
    /// the constant start of every reply, which need not pass through the escaper.
    pub fn with_raw_fields(out: &'a mut Vec<u8>, fields: &[u8]) -> Object<'a> {
        out.push(b'{');
        out.extend_from_slice(fields);
        Object { out, first: fields.is_empty() }
    }

    /// Writes `"key":` (after a comma if needed) and returns the buffer for the value.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        string(self.out, key);
        self.out.push(b':');
        self.out
    }

    pub fn str(&mut self, key: &str, text: &str) -> &mut Self {
        string(self.key(key), text);
        self
    }

    pub fn u64(&mut self, key: &str, n: u64) -> &mut Self {
        u64(self.key(key), n);
        self
    }

    pub fn i64(&mut self, key: &str, n: i64) -> &mut Self {
        i64(self.key(key), n);
        self
    }

    pub fn bool(&mut self, key: &str, yes: bool) -> &mut Self {
        self.key(key).extend_from_slice(if yes { b"true" } else { b"false" });
        self
    }

    pub fn cents(&mut self, key: &str, amount: Cents) -> &mut Self {
        cents(self.key(key), amount);
        self
    }

    /// An amount with `decimals` decimals (`amount`).
    pub fn amount(&mut self, key: &str, value: Cents, decimals: u8) -> &mut Self {
        amount(self.key(key), value, decimals);
        self
    }

    pub fn value<T: Serialize + ?Sized>(&mut self, key: &str, item: &T) -> &mut Self {
        value(self.key(key), item);
        self
    }

    pub fn object(&mut self, key: &str) -> Object<'_> {
        Object::new(self.key(key))
    }

    pub fn array(&mut self, key: &str) -> Array<'_> {
        Array::new(self.key(key))
    }
}

impl Drop for Object<'_> {
    fn drop(&mut self) {
        self.out.push(b'}');
    }
}

/// An array being written; its `]` is written when it is dropped.
pub struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Array<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Array<'a> {
        out.push(b'[');
        Array { out, first: true }
    }

    /// Writes the separator (if needed) and returns the buffer for the next item.
    pub fn item(&mut self) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out
    }

    pub fn str(&mut self, text: &str) -> &mut Self {
        string(self.item(), text);
        self
    }

    pub fn object(&mut self) -> Object<'_> {
        Object::new(self.item())
    }
}

impl Drop for Array<'_> {
    fn drop(&mut self) {
        self.out.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_exactly_as_serde_json_does() {
        let mut samples: Vec<String> = ["", "plain", "a\"b\\c", "tab\there\nnew\r", "é ₹ 😀", "</script>", "\u{7f}"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        samples.push((0u8..0x20).map(char::from).collect());
        samples.push((0u8..0x80).map(char::from).rev().collect());
        for sample in samples {
            assert_eq!(text(|out| string(out, &sample)), serde_json::to_string(&sample).unwrap(), "{sample:?}");
        }
    }

    /// Every byte that needs an escape, at every place in and around an eight-byte word, among bytes
    /// that do not (those just above and below them too).
    #[test]
    fn an_escape_is_found_wherever_it_is() {
        // Bytes one bit away from those, above the range, and UTF-8's high ones.
        let plain = [b'a', 0x80, b'!', 0xa2, 0xdc, 0x9f, 0x7f, 0xff, b' ', b'#', b']', 0x20 | 0x80];
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for len in 1..=20 {
                for at in 0..len {
                    let mut bytes: Vec<u8> = (0..len).map(|i| plain[i % plain.len()]).collect();
                    assert_eq!(first_escape(&bytes), None);
                    bytes[at] = special;
                    assert_eq!(first_escape(&bytes), Some(at), "{special:#x} at {at} of {len}");
                }
            }
        }
        let sample = "caf\u{e9} \u{1f600} \u{20b9} long enough to span words \\ and\u{1}".to_string();
        assert_eq!(text(|out| string(out, &sample)), serde_json::to_string(&sample).unwrap());
    }

    #[test]
    fn amounts_in_each_currencys_decimals() {
        assert_eq!(text(|out| amount(out, Cents(1234), 0)), "1234");
        assert_eq!(text(|out| amount(out, Cents(-1250), 3)), "-1.250");
        assert_eq!(text(|out| amount(out, Cents(5), 3)), "0.005");
        assert_eq!(text(|out| amount(out, Cents(1230), 2)), "12.30");
        assert_eq!(text(|out| wide_amount(out, i128::from(i64::MAX) * 10, 0)), "92233720368547758070");
        assert_eq!(text(|out| wide_amount(out, -7, 1)), "-0.7");
        for (n, d) in [(0_i64, 0_u8), (-1, 3), (999_999, 3), (-120, 0)] {
            assert_eq!(text(|out| amount(out, Cents(n), d)), vocab::money::minor_text(Cents(n), d), "{n} {d}");
        }
    }

    #[test]
    fn wide_amounts_beyond_i64() {
        assert_eq!(text(|out| wide_cents(out, i128::from(i64::MAX) * 10)), "922337203685477580.70");
        assert_eq!(text(|out| wide_cents(out, -5)), "-0.05");
        assert_eq!(text(|out| wide_cents(out, 1234)), text(|out| cents(out, Cents(1234))));
    }

    #[test]
    fn numbers_and_amounts() {
        for n in [0u64, 7, 10, 99, 100, 12_345, u64::MAX] {
            assert_eq!(text(|out| u64(out, n)), n.to_string());
        }
        for n in [0i64, -1, -10, 42, i64::MIN, i64::MAX] {
            assert_eq!(text(|out| i64(out, n)), n.to_string());
        }
        for c in [0i64, 1, -1, 5, -5, 10, 99, 100, 1230, -1230, 1_000_000_000_000, i64::MIN, i64::MAX] {
            let written = text(|out| cents(out, Cents(c)));
            assert_eq!(written, Cents(c).to_string());
            assert_eq!(written, Cents(c).to_json().to_string(), "the text to_json gives");
        }
    }

    #[test]
    fn nested_objects_and_arrays_close_in_order() {
        let written = text(|out| {
            let mut obj = Object::new(out);
            obj.str("name", "trip").u64("n", 3).bool("open", false).cents("total", Cents(-5));
            {
                let mut list = obj.array("members");
                list.str("alice").str("bob");
                let mut inner = list.object();
                inner.i64("x", -2);
            }
            obj.object("empty");
            obj.array("none");
            obj.value("extra", &json!({"k": [1, null]}));
        });
        let parsed: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(
            parsed,
            json!({"name": "trip", "n": 3, "open": false, "total": -0.05,
                   "members": ["alice", "bob", {"x": -2}], "empty": {}, "none": [], "extra": {"k": [1, null]}})
        );
        assert_eq!(parsed["total"].to_string(), "-0.05");
    }

    #[test]
    fn raw_first_fields_are_followed_by_a_comma() {
        assert_eq!(text(|out| drop(Object::with_raw_fields(out, br#""a":1"#))), r#"{"a":1}"#);
        assert_eq!(text(|out| _ = Object::with_raw_fields(out, br#""a":1"#).u64("b", 2)), r#"{"a":1,"b":2}"#);
        assert_eq!(text(|out| _ = Object::with_raw_fields(out, b"").u64("b", 2)), r#"{"b":2}"#);
    }
}
