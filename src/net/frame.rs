//! Newline framing over a growable input buffer.
//!
//! Handles many frames in one read and one frame over many reads, strips a trailing `\r`, and enforces
//! the maximum frame length before the newline arrives. Only new bytes are scanned for `\n`, so a frame
//! trickling in byte by byte costs O(n), not O(n²). The buffer is released when it empties, so an idle
//! connection holds no input memory.

use std::io::{self, Read};

#[derive(Debug, Default)]
pub struct FrameBuf {
    buf: Vec<u8>,
    /// Start of the first unconsumed byte.
    start: usize,
    /// Bytes before this offset are known to hold no `\n` (past `start`).
    scanned: usize,
}

/// What `next_frame` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<'a> {
    /// One frame without its `\n` (and without a `\r` before it).
    Frame(&'a [u8]),
    /// No complete frame buffered yet.
    Incomplete,
    /// The buffered partial frame is already longer than the limit.
    TooLong,
}

impl FrameBuf {
    /// Reads once from `source` (through the caller's scratch buffer, so no per-connection buffer is
    /// allocated until bytes arrive). Returns the byte count; `Ok(0)` is end of stream.
    pub fn read_from(&mut self, source: &mut impl Read, scratch: &mut [u8]) -> io::Result<usize> {
        let n = source.read(scratch)?;
        self.extend(&scratch[..n]);
        Ok(n)
    }

    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.clear();
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet taken as frames.
    pub fn pending_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Takes the next complete frame, if any. `max_bytes` bounds a frame's length (without `\n`).
    pub fn next_frame(&mut self, max_bytes: usize) -> Next<'_> {
        let from = self.scanned.max(self.start);
        match self.buf[from..].iter().position(|&b| b == b'\n') {
            Some(offset) => {
                let newline = from + offset;
                let begin = self.start;
                self.start = newline + 1;
                self.scanned = self.start;
                let mut end = newline;
                if end > begin && self.buf[end - 1] == b'\r' {
                    end -= 1;
                }
                if end - begin > max_bytes {
                    return Next::TooLong;
                }
                // The slice stays valid until the next `extend`, which starts afresh once all is consumed.
                Next::Frame(&self.buf[begin..end])
            }
            None => {
                self.scanned = self.buf.len();
                // A `\r` that will turn out to precede the newline does not count against the limit.
                let pending = self.pending_len();
                let carriage_return_last = self.buf.last() == Some(&b'\r');
                if pending > max_bytes + 1 || (pending == max_bytes + 1 && !carriage_return_last) {
                    Next::TooLong
                } else {
                    Next::Incomplete
                }
            }
        }
    }

    /// Frees the buffer's memory when nothing is pending; keeps a partial frame compacted to the front.
    pub fn release_if_empty(&mut self) {
        if self.pending_len() == 0 {
            self.clear();
        } else if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
    }

    /// Drops everything buffered (a closed connection's half frame is never executed).
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.scanned = 0;
    }

    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(buf: &mut FrameBuf, max: usize) -> Vec<Result<String, &'static str>> {
        let mut out = Vec::new();
        loop {
            match buf.next_frame(max) {
                Next::Frame(f) => out.push(Ok(String::from_utf8_lossy(f).into_owned())),
                Next::TooLong => out.push(Err("too long")),
                Next::Incomplete => return out,
            }
        }
    }

    #[test]
    fn many_frames_in_one_read_and_crlf() {
        let mut buf = FrameBuf::default();
        buf.extend(b"{\"a\":1}\n{\"b\":2}\r\n\npartial");
        assert_eq!(frames(&mut buf, 100), vec![Ok("{\"a\":1}".into()), Ok("{\"b\":2}".into()), Ok("".into())]);
        assert_eq!(buf.pending_len(), 7);
        buf.extend(b" done\n");
        assert_eq!(frames(&mut buf, 100), vec![Ok("partial done".into())]);
        buf.release_if_empty();
        assert_eq!(buf.capacity(), 0, "an empty buffer holds no memory");
    }

    #[test]
    fn one_frame_over_many_reads() {
        let mut buf = FrameBuf::default();
        let text = b"{\"action\":\"list_groups\"}\n";
        for (i, byte) in text.iter().enumerate() {
            buf.extend(&[*byte]);
            let got = frames(&mut buf, 1000);
            if i + 1 < text.len() {
                assert!(got.is_empty());
            } else {
                assert_eq!(got, vec![Ok("{\"action\":\"list_groups\"}".into())]);
            }
        }
    }

    #[test]
    fn length_limit_is_enforced_before_the_newline() {
        let mut buf = FrameBuf::default();
        buf.extend(&[b'x'; 11]);
        assert_eq!(buf.next_frame(10), Next::TooLong);
        let mut buf = FrameBuf::default();
        buf.extend(b"0123456789\n0123456789x\n");
        assert_eq!(frames(&mut buf, 10), vec![Ok("0123456789".into()), Err("too long")]);
        // `\r\n` does not count against the limit.
        let mut buf = FrameBuf::default();
        buf.extend(b"0123456789\r");
        assert_eq!(buf.next_frame(10), Next::Incomplete);
        buf.extend(b"\n");
        assert_eq!(buf.next_frame(10), Next::Frame(b"0123456789"));
    }

    #[test]
    fn partial_frame_is_compacted_not_lost() {
        let mut buf = FrameBuf::default();
        buf.extend(b"one\ntw");
        assert_eq!(frames(&mut buf, 10), vec![Ok("one".into())]);
        buf.release_if_empty();
        buf.extend(b"o\n");
        assert_eq!(frames(&mut buf, 10), vec![Ok("two".into())]);
    }
}
