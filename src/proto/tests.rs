//! Decoding, field by field, and the fast paths held to the general decoder.

use serde_json::Value;

use super::decode::decode_general;
use super::fast::{decode_group_read, decode_original_add};
use super::*;
use crate::machine::{
    AddTransaction, EditTransaction, History, Method, RecordPayment, Settle, SplitSpec, Stats, StatsBy, TxnRef,
};
use crate::money::Cents;

fn request(frame: &str) -> Result<Command, Error> {
    decode(frame.as_bytes()).command
}

#[test]
fn decodes_the_original_clients_requests() {
    assert_eq!(request(r#"{"action": "list_groups"}"#), Ok(Command::ListGroups));
    assert_eq!(
        request(
            r#"{"action":"add_transaction","data":{"group":"trip","amount":30.5,"description":"taxi","split_between":["bob"],"include_payer":true}}"#
        ),
        Ok(Command::AddTransaction(AddTransaction {
            group: "trip".into(),
            amount: Cents(30500),
            description: "taxi".into(),
            split: SplitSpec::Equal { members: Some(vec!["bob".into()]), include_payer: true },
            paid_by: None,
            date: None,
            key: None,
            category: None,
            foreign: None,
        }))
    );
    assert_eq!(
        request(r#"{"action":"delete_transaction","data":{"group":"g","index":0}}"#),
        Ok(Command::DeleteTransaction { group: "g".into(), target: TxnRef::Index(0), version: None })
    );
}

#[test]
fn decodes_categories_stats_and_restores() {
    let add = request(
        r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":["b"],"category":"Food"}}"#,
    );
    assert!(matches!(add, Ok(Command::AddTransaction(AddTransaction { category: Some(ref c), .. })) if c == "Food"));
    let edit = |data: &str| match request(&format!(r#"{{"action":"edit_transaction","data":{data}}}"#)) {
        Ok(Command::EditTransaction(edit)) => Ok(edit.category),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e.code),
    };
    assert_eq!(edit(r#"{"group":"g","id":1,"category":""}"#), Ok(Some(None)), "'' clears");
    assert_eq!(edit(r#"{"group":"g","id":1,"category":"fun"}"#), Ok(Some(Some("fun".into()))));
    assert_eq!(edit(r#"{"group":"g","id":1,"category":3}"#), Err(Code::BadRequest));
    assert_eq!(
        request(r#"{"action":"add_category","data":{"group":"g","category":"ski"}}"#),
        Ok(Command::AddCategory { group: "g".into(), category: "ski".into() })
    );
    assert_eq!(
        request(r#"{"action":"stats","data":{"group":"g","by":"month","from":"2026-01-01","to":"2026-01-01"}}"#),
        Ok(Command::Stats(Stats {
            group: "g".into(),
            from: Some("2026-01-01".into()),
            to: Some("2026-01-01".into()),
            by: StatsBy::Month
        }))
    );
    for (data, field) in [
        (r#"{"group":"g"}"#, "'by'"),
        (r#"{"group":"g","by":"day"}"#, "'by'"),
        (r#"{"group":"g","by":"member","from":"2026-02-01","to":"2026-01-31"}"#, "'from'"),
        (r#"{"group":"g","by":"member","from":"1/1/2026"}"#, "'from'"),
    ] {
        let error = request(&format!(r#"{{"action":"stats","data":{data}}}"#)).unwrap_err();
        assert!(error.code == Code::BadRequest && error.message.contains(field), "{data}: {error:?}");
    }
    assert_eq!(
        request(r#"{"action":"restore_transaction","data":{"group":"g","id":4}}"#),
        Ok(Command::RestoreTransaction { group: "g".into(), id: 4 })
    );
    assert_eq!(
        request(r#"{"action":"restore_payment","data":{"group":"g","id":5}}"#),
        Ok(Command::RestorePayment { group: "g".into(), id: 5 })
    );
    assert!(request(r#"{"action":"restore_payment","data":{"group":"g"}}"#).is_err());
}

#[test]
fn decodes_the_new_actions() {
    assert_eq!(
        request(
            r#"{"action":"add_transaction","data":{"group":"g","amount":"9","split":{"mode":"shares","shares":{"carol":1,"bob":2}},"paid_by":{"bob":9},"date":"2024-02-29","key":"k"}}"#
        ),
        Ok(Command::AddTransaction(AddTransaction {
            group: "g".into(),
            amount: Cents(9000),
            description: String::new(),
            split: SplitSpec::Shares(vec![("bob".into(), 2), ("carol".into(), 1)]),
            paid_by: Some(vec![("bob".into(), Cents(9000))]),
            date: Some("2024-02-29".into()),
            key: Some("k".into()),
            category: None,
            foreign: None,
        }))
    );
    assert_eq!(
        request(r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split":{"mode":"percent","percents":{"a":33.33,"b":"66.67"}}}}"#)
            .map(|r| match r {
                Command::AddTransaction(add) => add.split,
                _ => unreachable!(),
            }),
        Ok(SplitSpec::Percent(vec![("a".into(), 3333), ("b".into(), 6667)]))
    );
    assert_eq!(
        request(r#"{"action":"edit_transaction","data":{"group":"g","id":3,"date":""}}"#),
        Ok(Command::EditTransaction(EditTransaction {
            group: "g".into(),
            id: 3,
            amount: None,
            description: None,
            split: None,
            paid_by: None,
            date: Some(None),
            version: None,
            category: None,
            foreign: None,
        }))
    );
    assert_eq!(
        request(r#"{"action":"history","data":{"group":"g"}}"#),
        Ok(Command::History(History { group: "g".into(), before: None, after: None, limit: HISTORY_LIMIT_DEFAULT }))
    );
    assert_eq!(
        request(r#"{"action":"settle","data":{"group":"g","record":true}}"#),
        Ok(Command::Settle(Settle { group: "g".into(), method: Method::Minimal, record: true }))
    );
    assert_eq!(
        request(r#"{"action":"record_payment","data":{"group":"g","to":"b","amount":1}}"#),
        Ok(Command::RecordPayment(RecordPayment {
            group: "g".into(),
            from: None,
            to: "b".into(),
            amount: Cents(1000),
            date: None,
            key: None,
            currency: None
        }))
    );
    let cases = [
        (r#"{"action":"add_transaction","data":{"group":"g","amount":1}}"#, "Missing field 'split_between'"),
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":1,"include_payer":true}}"#,
            "Missing field 'split_between'",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split":{"mode":"exact","amounts":{"b":"x"}}}}"#,
            "'split.amounts.b'",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":[],"paid_by":[1]}}"#,
            "'paid_by' must be an object",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":[],"key":""}}"#,
            "'key' must be 1-64",
        ),
        (r#"{"action":"create_group","data":{"group":"g","currency":"EURO"}}"#, "'currency'"),
        (r#"{"action":"set_group_currency","data":{"group":"g"}}"#, "Missing field 'currency'"),
        (r#"{"action":"history","data":{"group":"g","before":-1}}"#, "'before'"),
        (r#"{"action":"delete_payment","data":{"group":"g"}}"#, "Missing field 'id'"),
        (r#"{"action":"record_payment","data":{"group":"g","to":"b","amount":1,"memo":"x"}}"#, "Unknown field 'memo'"),
    ];
    for (frame, needle) in cases {
        let err = request(frame).expect_err(frame);
        assert_eq!(err.code, Code::BadRequest, "{frame}");
        assert!(err.message.contains(needle), "{frame}: {}", err.message);
    }
}

/// The borrowed fast path must decode exactly what the general path decodes, whenever it decodes
/// at all (otherwise it declines and the general path answers).
#[test]
fn the_read_fast_path_agrees_with_the_general_decoder() {
    let frames = [
        r#"{"action":"view_balances","data":{"group":"trip"}}"#,
        r#"{"action":"view_transactions","data":{"group":"t\u00e9 \"x\""},"id":7}"#,
        r#"{"action":"get_group_members","id":"a","data":{"group":"g"}}"#,
        r#" { "data" : { "group" : "g" } , "action" : "view_balances" } "#,
        r#"{"action":"view_balances","data":{"group":"g"},"id":null}"#,
        r#"{"action":"view_balances","data":{"group":"g"},"id":true}"#,
        r#"{"action":"view_balances","data":{"group":"g"},"id":123456789012345678901234567890}"#,
        r#"{"action":"view_balances","data":{"group":"g"},"id":1.5e3}"#,
        r#"{"action":"view_balances","data":{"group":"g","x":1}}"#,
        r#"{"action":"view_balances","data":{"group":"g"},"extra":1}"#,
        r#"{"action":"view_balances","action":"settle","data":{"group":"g"}}"#,
        r#"{"action":"view_balances","data":{"group":"a","group":"b"}}"#,
        r#"{"action":"view_balances","data":{"group":5}}"#,
        r#"{"action":"view_balances","data":null}"#,
        r#"{"action":"settle","data":{"group":"g"}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":30.5,"description":"taxi","split_between":["bob"],"include_payer":true}}"#,
        r#"{"action":"add_transaction","id":9,"data":{"group":"g","amount":1e2,"split_between":["a","b"]}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":"7.00","split_between":[]}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":0.001,"split_between":["a"],"include_payer":null}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":5,"description":null,"split_between":["a"],"key":"k"}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":-5,"split_between":["a"]}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":5,"split_between":null}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount" : 12.50 ,"split_between":["a"]}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":1,"amount":999,"split_between":["a"]}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":["a"],"group":"h"}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":["a"]},"id":1,"id":2}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":["a"]},"action":"add_transaction"}"#,
        r#"{"action":"view_balances","data":{"group":"nope","group":"trip"}}"#,
        r#"{"action":"view_balances","data":{"group":"g","\u0067roup":"h"}}"#,
        r#"{"action":"view_balances","data":{"group":"g"},"data":{"group":"g"}}"#,
        r#"{"action":"view_balances","data":{"group":"g"},"id":1,"id":1}"#,
    ];
    let agree = |frame: &[u8]| {
        if let Some(fast) = decode_original_add(frame) {
            let general = decode_general(frame);
            assert_eq!(fast.command, general.command, "{}", String::from_utf8_lossy(frame));
            assert_eq!(fast.id, general.id, "{}", String::from_utf8_lossy(frame));
        }
        if let Some(fast) = decode_group_read(frame) {
            let general = decode_general(frame);
            assert_eq!(fast.command, general.command, "{}", String::from_utf8_lossy(frame));
            assert_eq!(fast.id, general.id, "{}", String::from_utf8_lossy(frame));
        }
    };
    for frame in frames {
        agree(frame.as_bytes());
    }
    assert!(decode_group_read(frames[0].as_bytes()).is_some(), "the common read takes the fast path");
    assert!(decode_original_add(frames[15].as_bytes()).is_some(), "the original add takes the fast path");
    assert!(
        decode_original_add(frames[22].as_bytes()).is_some(),
        "spaces around the amount are JSON's, not the amount's"
    );
    for frame in &frames[23..] {
        let refused = decode(frame.as_bytes()).command.expect_err(frame);
        assert!(refused.message.starts_with("Duplicate field '"), "{frame}: {}", refused.message);
    }
    // Seeded byte mutations of the same frames.
    let mut seed = 0x51_u64;
    for _ in 0..40_000 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut frame = frames[(seed >> 40) as usize % frames.len()].as_bytes().to_vec();
        let at = (seed >> 20) as usize % frame.len();
        frame[at] = b" {}[]\",:0123456789abcdefgnrtu-.e\"\\x"[(seed >> 8) as usize % 34];
        agree(&frame);
    }
}

/// serde_json's map keeps the last of a repeated key: `"amount":1,"amount":999` was 999.00. Now the
/// frame is refused, naming the key, wherever it repeats.
#[test]
fn a_repeated_key_anywhere_refuses_the_frame() {
    let add = |data: &str| format!(r#"{{"action":"add_transaction","data":{{"group":"g",{data}}}}}"#);
    let cases = [
        (add(r#""amount":1,"amount":999,"split_between":["a"]"#), "amount"),
        (add(r#""amount":1,"split":{"mode":"exact","mode":"equal","amounts":{"a":1}}"#), "split.mode"),
        (add(r#""amount":2,"split":{"mode":"exact","amounts":{"a":1,"b":1,"a":1}}"#), "split.amounts.a"),
        (add(r#""amount":2,"split_between":["a"],"paid_by":{"a":1,"a":1}"#), "paid_by.a"),
        (add(r#""amount":1,"split_between":["a"],"include_payer":true,"include_payer":false"#), "include_payer"),
        (r#"{"action":"view_balances","data":{"group":"nope","group":"trip"}}"#.into(), "group"),
        (r#"{"action":"list_groups","action":"logout"}"#.into(), "action"),
        (r#"{"action":"login","data":{"username":"a","password":"x"},"data":{}}"#.into(), "data"),
        (r#"{"action":"login","data":{"username":"a","username":"b","password":"x"}}"#.into(), "username"),
    ];
    for (frame, field) in &cases {
        let decoded = decode(frame.as_bytes());
        let err = decoded.command.expect_err(frame);
        assert_eq!(err.code, Code::BadRequest, "{frame}");
        assert_eq!(err.message, format!("Duplicate field '{field}'"), "{frame}");
    }
    // The id is echoed, unless it is what repeats.
    let decoded = decode(br#"{"action":"list_groups","action":"logout","id":5}"#);
    assert_eq!(decoded.id, Some(Value::from(5)));
    let decoded = decode(br#"{"action":"list_groups","id":5,"id":6}"#);
    assert_eq!((decoded.id, decoded.command.unwrap_err().message), (None, "Duplicate field 'id'".to_string()));
}

/// One grammar for an amount, the text of a JSON number: every lenient form once taken is refused,
/// as a string and wherever an amount goes; the helpful words say what to write.
#[test]
fn lenient_amount_strings_are_refused() {
    let add = |amount: &str| {
        let amount = serde_json::to_string(amount).unwrap();
        format!(r#"{{"action":"add_transaction","data":{{"group":"g","amount":{amount},"split_between":["a"]}}}}"#)
    };
    let cases = [
        (" 1", "write 1 (no spaces)"),
        ("\u{a0}1", "write 1 (no spaces)"),
        ("1 ", "write 1 (no spaces)"),
        ("+1", "write 1 (no plus sign)"),
        ("007", "write 7 (no leading zeros)"),
        ("1.", "write 1 (digits after the point, or no point)"),
        (".5", "write 0.5 (a digit before the point)"),
        ("12,50", "write 12.50 (a point, not a comma)"),
        ("0x10", "must be a decimal number"),
        ("1_000", "must be a decimal number"),
    ];
    for (amount, needle) in cases {
        let err = request(&add(amount)).expect_err(amount);
        assert_eq!(err.code, Code::BadRequest, "{amount:?}");
        assert!(err.message.starts_with("Field 'amount' must be a decimal number"), "{amount:?}: {}", err.message);
        assert!(err.message.contains(needle), "{amount:?}: {}", err.message);
    }
    let elsewhere = [
        r#"{"action":"record_payment","data":{"group":"g","to":"b","amount":"+1"}}"#,
        r#"{"action":"edit_transaction","data":{"group":"g","id":1,"amount":" 1"}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split":{"mode":"exact","amounts":{"a":".5"}}}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":["a"],"paid_by":{"a":"01"}}}"#,
        r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split":{"mode":"percent","percents":{"a":"+100"}}}}"#,
    ];
    for frame in elsewhere {
        assert_eq!(request(frame).expect_err(frame).code, Code::BadRequest, "{frame}");
    }
    // A minus sign is its own refusal; JSON numbers, exponents and strings of them still work.
    let err = request(&add("-1")).unwrap_err();
    assert_eq!(err.message, "Field 'amount' must be greater than zero");
    for (amount, cents) in [("1e3", 100_000), ("1.25e1", 1250), ("12.50", 1250), ("0.5", 50), ("1E+2", 10_000)] {
        let as_string = request(&add(amount));
        let as_number = request(&add(amount).replace(&format!("\"{amount}\""), amount));
        for decoded in [as_string, as_number] {
            let Ok(Command::AddTransaction(txn)) = decoded else { panic!("{amount}: {decoded:?}") };
            // In thousandths (`WIRE_DECIMALS`): the machine rescales them to the group's decimals.
            assert_eq!(txn.amount, Cents(cents * 10), "{amount}");
        }
    }
}

#[test]
fn echoes_id_even_on_errors() {
    let decoded = decode(br#"{"action":"nope","id":"abc"}"#);
    assert_eq!(decoded.id, Some(Value::from("abc")));
    assert_eq!(decoded.command.unwrap_err().code, Code::UnknownAction);
}

#[test]
fn every_bad_input_names_its_problem() {
    let cases = [
        ("not json", Code::BadJson, "Invalid JSON"),
        ("[1,2]", Code::BadJson, "must be a JSON object"),
        ("\"x\"", Code::BadJson, "must be a JSON object"),
        ("{}", Code::BadRequest, "Missing field 'action'"),
        (r#"{"action":5}"#, Code::BadRequest, "'action' must be a string"),
        (r#"{"action":"login","data":[]}"#, Code::BadRequest, "'data' must be an object"),
        (r#"{"action":"login","data":{"username":"a"}}"#, Code::BadRequest, "Missing field 'password'"),
        (r#"{"action":"login","data":{"username":1,"password":"x"}}"#, Code::BadRequest, "'username' must be a string"),
        (r#"{"action":"login","data":{"username":"a","password":"x","x":1}}"#, Code::BadRequest, "Unknown field 'x'"),
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":-1,"split_between":[]}}"#,
            Code::BadRequest,
            "'amount' must be greater than zero",
        ),
        (
            // Thousandths decode (the machine refuses them in a group whose currency has two).
            r#"{"action":"add_transaction","data":{"group":"g","amount":1.0001,"split_between":[]}}"#,
            Code::BadRequest,
            "at most 3 decimals",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":1e999,"split_between":[]}}"#,
            Code::BadRequest,
            "at most 10000000000",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":"x","split_between":[]}}"#,
            Code::BadRequest,
            "decimal number",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":true,"split_between":[]}}"#,
            Code::BadRequest,
            "'amount' must be a number",
        ),
        (
            r#"{"action":"add_transaction","data":{"group":"g","amount":1,"split_between":[1]}}"#,
            Code::BadRequest,
            "list of names",
        ),
        (r#"{"action":"delete_transaction","data":{"group":"g"}}"#, Code::BadRequest, "Missing field 'id'"),
        (r#"{"action":"delete_transaction","data":{"group":"g","index":-1}}"#, Code::BadRequest, "whole number"),
        (r#"{"action":"settle","data":{"group":"g","method":"magic"}}"#, Code::BadRequest, "'method'"),
        (r#"{"action":"list_groups","id":[1]}"#, Code::BadRequest, "'id' must be"),
    ];
    for (frame, code, needle) in cases {
        let err = request(frame).expect_err(frame);
        assert_eq!(err.code, code, "{frame}");
        assert!(err.message.contains(needle), "{frame}: {}", err.message);
    }
}

#[test]
fn deep_nesting_and_garbage_are_errors_not_panics() {
    let deep = "[".repeat(100_000);
    assert_eq!(request(&deep).unwrap_err().code, Code::BadJson);
    assert_eq!(decode(b"\xff\xfe\x00").command.unwrap_err().code, Code::BadJson);
    assert_eq!(decode(b"").command.unwrap_err().code, Code::BadJson);
}

#[test]
fn replies_have_no_type_key_and_echo_id() {
    let mut out = Vec::new();
    let machine = crate::machine::Machine::new();
    let done = Ok(crate::machine::Answer::Done(crate::machine::Done::SignedUp));
    write_answer(&machine, &done, Some(&Value::from(7)), &mut out);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["message"], "Signup successful");
    assert_eq!(v["id"], 7);
    assert!(v.get("type").is_none());
    assert_eq!(out.last(), Some(&b'\n'));
}

#[test]
fn a_rate_limited_error_says_when_to_try_again() {
    let mut out = Vec::new();
    let error = Error::rate_limited("Too many failed attempts", std::time::Duration::from_micros(5_999_400));
    write_error(&error, Some(&Value::from("a")), &mut out);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(v["code"], "rate_limited");
    assert_eq!(v["retry_after_ms"], 5999);
    assert_eq!(v["id"], "a");
    let mut plain = Vec::new();
    write_error(&Error::bad_request("x"), None, &mut plain);
    let v: Value = serde_json::from_slice(&plain).unwrap();
    assert!(v.get("retry_after_ms").is_none(), "only rate_limited carries it: {v}");
    let soon = Error::rate_limited("x", std::time::Duration::ZERO);
    assert_eq!(soon.retry_after_ms, Some(1), "never 0: that would invite a retry at once");
}

#[test]
fn a_not_leader_error_names_the_leader_or_says_null() {
    let mut out = Vec::new();
    write_error(&Error::not_leader("not the leader", Some("127.0.0.1:7001".into())), Some(&Value::from(3)), &mut out);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (&v["status"], &v["code"], &v["leader"], &v["id"]),
        (&json(&"error"), &json(&"not_leader"), &json(&"127.0.0.1:7001"), &json(&3))
    );
    out.clear();
    write_error(&Error::not_leader("electing", None), None, &mut out);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert!(v.get("leader").is_some_and(Value::is_null), "unknown leader is null: {v}");
    out.clear();
    write_error(&Error::bad_request("x"), None, &mut out);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert!(v.get("leader").is_none(), "only not_leader carries it: {v}");
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

/// `stale` is the decoder's own envelope field: a stale read decodes as itself, and a frame that
/// carries it still has every other rule applied (a cluster member once stripped it by re-writing
/// the frame, which silently dropped a repeated key).
#[test]
fn stale_is_read_by_the_decoder_and_changes_no_other_rule() {
    let read = decode(br#"{"action":"view_balances","data":{"group":"g"},"stale":true}"#);
    assert!(read.stale);
    assert_eq!(read.command, Ok(Command::ViewBalances { group: "g".into() }));
    assert!(!decode(br#"{"action":"view_balances","data":{"group":"g"}}"#).stale);
    let repeated = decode(
        br#"{"action":"add_transaction","stale":true,"data":{"group":"g","amount":1,"amount":999,"split_between":["a"]}}"#,
    );
    assert!(repeated.command.expect_err("repeated key").message.contains("Duplicate field 'amount'"));
    let wrong = decode(br#"{"action":"view_balances","data":{"group":"g"},"stale":"yes"}"#);
    assert!(wrong.command.expect_err("stale not a bool").message.contains("'stale'"));
}
