//! The binary form of the log's frequent records: transactions added, edited and deleted, payments
//! recorded and deleted. Replay decodes these in a few hundred nanoseconds where `serde_json` took
//! microseconds; every other record stays JSON (rare, and readable with `grep`).
//!
//! A binary record is written in its log line as `~` and the payload in base64 (no padding), so the
//! line framing, the checksum and the torn-tail rule stay what they are (`wal`). The payload: the
//! image version whose transaction layout it uses (1 byte), the record's tag (1 byte), its fields in
//! `binary`'s encoding. `splitd inspect` decodes it back to the record's JSON.
//!
//! Owns this encoding only; `wal` chooses between it and JSON.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;

use super::binary::{
    put_payment, put_transaction, take_payment, take_transaction, take_transaction_into, IMAGE_VERSION,
};
use super::bytes::{Put, Short, Take};
use crate::machine::Record;

/// The byte that starts a binary record where JSON would start with `{`.
pub const MARK: u8 = b'~';
const TRANSACTION_ADDED: u8 = 1;
const TRANSACTION_EDITED: u8 = 2;
const TRANSACTION_DELETED: u8 = 3;
const PAYMENT_RECORDED: u8 = 4;
const PAYMENT_DELETED: u8 = 5;

/// Appends `~` and the record's base64 payload to `out`; `false` (nothing written) for a record
/// kept as JSON.
pub fn encode(record: &Record, scratch: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    scratch.clear();
    scratch.push(IMAGE_VERSION as u8);
    match record {
        Record::TransactionAdded { group, txn, seq } => {
            scratch.push(TRANSACTION_ADDED);
            scratch.u32v(*group);
            put_transaction(scratch, txn);
            put_seq(scratch, *seq);
        }
        Record::TransactionEdited { group, txn, by, at, seq } => {
            scratch.push(TRANSACTION_EDITED);
            scratch.u32v(*group);
            put_transaction(scratch, txn);
            put_change(scratch, (*by, *at, *seq));
        }
        Record::TransactionDeleted { group, txn, by, at, seq } => {
            scratch.push(TRANSACTION_DELETED);
            scratch.u32v(*group);
            scratch.u64v(*txn);
            put_change(scratch, (*by, *at, *seq));
        }
        Record::PaymentRecorded { group, payment, seq } => {
            scratch.push(PAYMENT_RECORDED);
            scratch.u32v(*group);
            put_payment(scratch, payment);
            put_seq(scratch, *seq);
        }
        Record::PaymentDeleted { group, payment, by, at, seq } => {
            scratch.push(PAYMENT_DELETED);
            scratch.u32v(*group);
            scratch.u64v(*payment);
            put_change(scratch, (*by, *at, *seq));
        }
        _ => return false,
    }
    out.push(MARK);
    let at = out.len();
    // `None` only when the base64 length would not fit a usize: never for a payload in memory.
    out.resize(at + base64::encoded_len(scratch.len(), false).unwrap_or(0), 0);
    let written = STANDARD_NO_PAD.encode_slice(&scratch[..], &mut out[at..]).unwrap_or(0);
    out.truncate(at + written);
    true
}

/// The record in a line's text after `~`.
#[cfg(test)]
pub fn decode(text: &[u8]) -> Result<Record, String> {
    let mut slot = None;
    decode_into(text, &mut slot)?;
    slot.ok_or_else(|| "binary record: nothing read".into())
}

/// The record in a line's text after `~`, into `slot`: a transaction added over the one already
/// there reuses its memory (replay reads a million of them one after another). On an error the slot
/// holds anything.
pub fn decode_into(text: &[u8], slot: &mut Option<Record>) -> Result<(), String> {
    // Most payloads fit on the stack: no allocation per record at replay.
    let mut small = [0u8; 256];
    let large;
    let payload = match base64::decoded_len_estimate(text.len()) <= small.len() {
        true => {
            let len = STANDARD_NO_PAD.decode_slice(text, &mut small).map_err(|e| format!("binary record: {e}"))?;
            &small[..len]
        }
        false => {
            large = STANDARD_NO_PAD.decode(text).map_err(|e| format!("binary record: {e}"))?;
            &large[..]
        }
    };
    let (&version, rest) = payload.split_first().ok_or("binary record: empty")?;
    if version as u32 > IMAGE_VERSION {
        return Err(format!("binary record of layout {version}; this build reads up to {IMAGE_VERSION}"));
    }
    let mut take = Take::written_by(rest, version as u32);
    take_record_into(&mut take, slot).map_err(|Short(what)| format!("binary record: cannot read {what}"))?;
    match take.is_empty() {
        true => Ok(()),
        false => Err("binary record: trailing bytes".into()),
    }
}

fn take_record_into(take: &mut Take, slot: &mut Option<Record>) -> Result<(), Short> {
    let tag = take.byte("tag")?;
    let group = take.u32v("group")?;
    if let (TRANSACTION_ADDED, Some(Record::TransactionAdded { group: into, txn, seq })) = (tag, &mut *slot) {
        take_transaction_into(take, txn)?;
        (*into, *seq) = (group, take_seq(take)?);
        return Ok(());
    }
    *slot = Some(take_record(take, tag, group)?);
    Ok(())
}

fn take_record(take: &mut Take, tag: u8, group: u32) -> Result<Record, Short> {
    Ok(match tag {
        TRANSACTION_ADDED => Record::TransactionAdded { group, txn: take_transaction(take)?, seq: take_seq(take)? },
        TRANSACTION_EDITED => {
            let txn = take_transaction(take)?;
            let (by, at, seq) = take_change(take)?;
            Record::TransactionEdited { group, txn, by, at, seq }
        }
        TRANSACTION_DELETED => {
            let txn = take.u64v("transaction id")?;
            let (by, at, seq) = take_change(take)?;
            Record::TransactionDeleted { group, txn, by, at, seq }
        }
        PAYMENT_RECORDED => Record::PaymentRecorded { group, payment: take_payment(take)?, seq: take_seq(take)? },
        PAYMENT_DELETED => {
            let payment = take.u64v("payment id")?;
            let (by, at, seq) = take_change(take)?;
            Record::PaymentDeleted { group, payment, by, at, seq }
        }
        _ => return Err(Short("a known tag")),
    })
}

fn put_seq(out: &mut Vec<u8>, seq: Option<u64>) {
    out.flag(seq.is_some());
    if let Some(seq) = seq {
        out.u64v(seq);
    }
}

fn take_seq(take: &mut Take) -> Result<Option<u64>, Short> {
    match take.flag("seq")? {
        false => Ok(None),
        true => Ok(Some(take.u64v("seq")?)),
    }
}

/// Who changed it, when, and its number in the group.
fn put_change(out: &mut Vec<u8>, (by, at, seq): (u32, i64, Option<u64>)) {
    out.u32v(by);
    out.i64v(at);
    put_seq(out, seq);
}

fn take_change(take: &mut Take) -> Result<(u32, i64, Option<u64>), Short> {
    Ok((take.u32v("by")?, take.i64v("at")?, take_seq(take)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{Foreign, Payment, Rate, Split, Transaction};
    use crate::money::Cents;
    use crate::store::wal::{decode_line, decode_line_into, encode_line, LineError};

    fn transaction(extras: bool) -> Transaction {
        Transaction {
            id: 70_000,
            payer: 2,
            amount: Cents(1001),
            description: "dîner\nà deux".into(),
            split_between: vec![2, 9],
            include_payer: false,
            paid: vec![(2, Cents(1001))],
            owed: vec![(2, Cents(501)), (9, Cents(500))],
            created_at: 1_764_000_000_000,
            split: Split::Equal,
            date: extras.then(|| "2026-02-28".into()),
            key: extras.then(|| "k-1".into()),
            version: 2,
            foreign: extras.then(|| Foreign {
                currency: "JPY".into(),
                amount: Cents(1234),
                rate: Some(Rate { digits: 81, scale: 2 }),
            }),
            category: extras.then(|| "food".into()),
            rule: extras.then_some(3),
        }
    }

    fn frequent() -> Vec<Record> {
        let payment = Payment {
            id: 5,
            from: 9,
            to: 2,
            amount: Cents(500),
            by: 9,
            created_at: -1,
            date: None,
            key: Some("p".into()),
            currency: Some("JPY".into()),
        };
        vec![
            Record::TransactionAdded { group: 0, txn: transaction(false), seq: None },
            Record::TransactionAdded { group: 4_000_000_000, txn: transaction(true), seq: Some(u64::MAX) },
            Record::TransactionEdited { group: 1, txn: transaction(true), by: 9, at: 7, seq: Some(12) },
            Record::TransactionDeleted { group: 1, txn: 70_000, by: 2, at: i64::MIN, seq: Some(13) },
            Record::PaymentRecorded { group: 1, payment, seq: Some(14) },
            Record::PaymentDeleted { group: 1, payment: 5, by: 2, at: 8, seq: None },
        ]
    }

    fn line(record: &Record) -> Vec<u8> {
        let mut out = Vec::new();
        encode_line(3, record, &mut Vec::new(), &mut out);
        assert_eq!(out.pop(), Some(b'\n'));
        out
    }

    #[test]
    fn the_frequent_records_are_one_binary_line_each_and_read_back() {
        for record in frequent() {
            let line = line(&record);
            assert!(!line.contains(&b'\n'), "one line");
            assert_eq!(line[line.iter().position(|&b| b == b' ').unwrap() + 3], MARK, "binary: {record:?}");
            assert_eq!(decode_line(&line), Ok((3, record)));
        }
        let other = Record::MemberJoined { group: 0, user: 1, at: 2, seq: None };
        assert!(String::from_utf8(line(&other)).unwrap().ends_with(r#"{"member_joined":{"group":0,"user":1,"at":2}}"#));
    }

    #[test]
    fn records_read_over_one_another_keep_nothing_of_the_last() {
        let mut records = frequent();
        let mut bare = transaction(false);
        bare.split = Split::Exact;
        records.insert(2, Record::TransactionAdded { group: 8, txn: bare, seq: None });
        records.push(Record::TransactionAdded { group: 1, txn: transaction(true), seq: Some(2) });
        records.push(Record::TransactionAdded { group: 0, txn: transaction(false), seq: None });
        let mut slot = None;
        for record in records {
            assert_eq!(decode_line_into(&line(&record), &mut slot), Ok(3));
            assert_eq!(slot.as_ref(), Some(&record));
        }
    }

    #[test]
    fn a_payload_too_large_for_the_stack_reads_too() {
        let mut txn = transaction(true);
        txn.description = "é".repeat(400);
        let record = Record::TransactionAdded { group: 0, txn, seq: Some(1) };
        assert!(line(&record).len() > 1000);
        assert_eq!(decode_line(&line(&record)), Ok((3, record)));
    }

    #[test]
    fn a_binary_line_is_smaller_than_its_json() {
        let record = Record::TransactionAdded { group: 0, txn: transaction(false), seq: Some(7) };
        let json = serde_json::to_vec(&record).unwrap();
        assert!(line(&record).len() * 2 < json.len(), "{} vs {}", line(&record).len(), json.len());
    }

    #[test]
    fn damaged_payloads_are_refused_never_misread() {
        let record = &frequent()[2];
        let mut scratch = Vec::new();
        let mut text = Vec::new();
        assert!(encode(record, &mut scratch, &mut text));
        let payload = scratch.clone();
        let base64 = |bytes: &[u8]| STANDARD_NO_PAD.encode(bytes).into_bytes();
        assert_eq!(decode(&text[1..]), Ok(record.clone()));
        for cut in 0..payload.len() {
            assert!(decode(&base64(&payload[..cut])).is_err(), "cut at {cut}");
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert_eq!(decode(&base64(&longer)), Err("binary record: trailing bytes".into()));
        let mut newer = payload.clone();
        newer[0] = IMAGE_VERSION as u8 + 1;
        assert!(decode(&base64(&newer)).unwrap_err().contains("this build reads up to"));
        let mut unknown = payload;
        unknown[1] = 200;
        assert!(decode(&base64(&unknown)).is_err());
        assert!(decode(b"not base64!").is_err());
        // Inside a line, a bad payload is a malformed line (its checksum still matches).
        let mut line = format!("{:08x} ", crc32c::crc32c(b"9 ~AAAA")).into_bytes();
        line.extend_from_slice(b"9 ~AAAA");
        assert!(matches!(decode_line(&line), Err(LineError::Malformed(_))));
    }
}
