//! The primitives of the binary snapshot: LEB128 varints (zigzag for signed), length-prefixed text
//! and lists, written onto a `Vec<u8>` (`Put`) and read back from a slice in one pass (`Take`).
//!
//! Owns only the byte-level encoding; what the fields are is `binary`'s. Reading never panics: any
//! input gives a value or a `Short` naming what was being read.

/// Why bytes did not read: what was being read when they ran out or made no sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Short(pub &'static str);

/// Writing: appends to the buffer, infallibly.
pub trait Put {
    fn u64v(&mut self, value: u64);
    fn i64v(&mut self, value: i64);
    fn u32v(&mut self, value: u32) {
        self.u64v(value as u64);
    }
    fn flag(&mut self, value: bool);
    fn text(&mut self, value: &str);
    fn opt_text(&mut self, value: Option<&str>);
}

impl Put for Vec<u8> {
    fn u64v(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.push(value as u8);
    }

    fn i64v(&mut self, value: i64) {
        self.u64v(((value << 1) ^ (value >> 63)) as u64);
    }

    fn flag(&mut self, value: bool) {
        self.push(value as u8);
    }

    fn text(&mut self, value: &str) {
        self.u64v(value.len() as u64);
        self.extend_from_slice(value.as_bytes());
    }

    fn opt_text(&mut self, value: Option<&str>) {
        match value {
            None => self.push(0),
            Some(text) => {
                self.push(1);
                self.text(text);
            }
        }
    }
}

/// Reading: a cursor over borrowed bytes.
pub struct Take<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The image version that wrote the bytes, for the readers whose layout changed with it.
    pub version: u32,
}

impl<'a> Take<'a> {
    /// Bytes written by this build's image version.
    pub fn new(bytes: &'a [u8]) -> Take<'a> {
        Take::written_by(bytes, super::binary::IMAGE_VERSION)
    }

    pub fn written_by(bytes: &'a [u8], version: u32) -> Take<'a> {
        Take { bytes, at: 0, version }
    }

    pub fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    pub fn raw(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], Short> {
        let end = self.at.checked_add(len).filter(|&end| end <= self.bytes.len()).ok_or(Short(what))?;
        let raw = &self.bytes[self.at..end];
        self.at = end;
        Ok(raw)
    }

    pub fn byte(&mut self, what: &'static str) -> Result<u8, Short> {
        Ok(self.raw(1, what)?[0])
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Short> {
        self.raw(N, what)?.try_into().map_err(|_| Short(what))
    }

    pub fn u64v(&mut self, what: &'static str) -> Result<u64, Short> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte(what)?;
            value |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Short(what))
    }

    pub fn u32v(&mut self, what: &'static str) -> Result<u32, Short> {
        u32::try_from(self.u64v(what)?).map_err(|_| Short(what))
    }

    pub fn i64v(&mut self, what: &'static str) -> Result<i64, Short> {
        let zigzag = self.u64v(what)?;
        Ok(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
    }

    pub fn flag(&mut self, what: &'static str) -> Result<bool, Short> {
        match self.byte(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Short(what)),
        }
    }

    /// A count of items that each take at least one byte: never more than the bytes left, so a
    /// damaged count cannot make a reader reserve gigabytes.
    pub fn count(&mut self, what: &'static str) -> Result<usize, Short> {
        let count = self.u64v(what)?;
        let left = (self.bytes.len() - self.at) as u64;
        if count > left {
            return Err(Short(what));
        }
        Ok(count as usize)
    }

    pub fn text(&mut self, what: &'static str) -> Result<&'a str, Short> {
        let len = self.count(what)?;
        std::str::from_utf8(self.raw(len, what)?).map_err(|_| Short(what))
    }

    pub fn string(&mut self, what: &'static str) -> Result<String, Short> {
        self.text(what).map(str::to_string)
    }

    pub fn opt_string(&mut self, what: &'static str) -> Result<Option<String>, Short> {
        match self.byte(what)? {
            0 => Ok(None),
            1 => self.string(what).map(Some),
            _ => Err(Short(what)),
        }
    }

    /// `count` items read by `item`.
    pub fn list<T>(
        &mut self,
        what: &'static str,
        mut item: impl FnMut(&mut Take<'a>) -> Result<T, Short>,
    ) -> Result<Vec<T>, Short> {
        let count = self.count(what)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_text_round_trip_and_damage_is_refused() {
        let mut out = Vec::new();
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            out.u64v(v);
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            out.i64v(v);
        }
        out.text("héllo");
        out.opt_text(None);
        out.opt_text(Some(""));
        let mut take = Take::new(&out);
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(take.u64v("u"), Ok(v));
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(take.i64v("i"), Ok(v));
        }
        assert_eq!(take.text("t"), Ok("héllo"));
        assert_eq!(take.opt_string("o"), Ok(None));
        assert_eq!(take.opt_string("o"), Ok(Some(String::new())));
        assert!(take.is_empty());
        assert_eq!(take.byte("past the end"), Err(Short("past the end")));
        // A huge count with few bytes behind it, a varint that never ends, bad UTF-8.
        assert!(Take::new(&[0xff, 0xff, 0xff, 0x0f, 1]).count("n").is_err());
        assert!(Take::new(&[0xff; 11]).u64v("v").is_err());
        assert!(Take::new(&[2, 0xc3, 0x28]).text("t").is_err());
    }
}
