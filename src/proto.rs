//! Wire types: decoding a request frame, building replies and pushed messages.
//!
//! This module owns the JSON shapes of PROTOCOL.md and nothing else: it does not know users, groups or
//! sockets. Decoding is total: any byte string becomes either a `Request` or an `Error` that names what
//! was wrong, so the loop always has a reply to send.

use serde_json::{Map, Value};

use crate::money::{AmountError, Cents};
use crate::settle::Method;

/// A stable, machine-readable error class, sent as `"code"` beside the human `"message"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BadJson,
    BadRequest,
    UnknownAction,
    NotAuthenticated,
    InvalidCredentials,
    UserExists,
    GroupExists,
    GroupNotFound,
    NotMember,
    InvalidGroupPassword,
    NotInGroup,
    InvalidIndex,
    TransactionNotFound,
    SettlementFailed,
    FrameTooLong,
    TooManyConnections,
    Limit,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BadJson => "bad_json",
            Code::BadRequest => "bad_request",
            Code::UnknownAction => "unknown_action",
            Code::NotAuthenticated => "not_authenticated",
            Code::InvalidCredentials => "invalid_credentials",
            Code::UserExists => "user_exists",
            Code::GroupExists => "group_exists",
            Code::GroupNotFound => "group_not_found",
            Code::NotMember => "not_member",
            Code::InvalidGroupPassword => "invalid_group_password",
            Code::NotInGroup => "not_in_group",
            Code::InvalidIndex => "invalid_index",
            Code::TransactionNotFound => "transaction_not_found",
            Code::SettlementFailed => "settlement_failed",
            Code::FrameTooLong => "frame_too_long",
            Code::TooManyConnections => "too_many_connections",
            Code::Limit => "limit",
            Code::Internal => "internal",
        }
    }
}

/// An error reply: what went wrong, in words and as a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Error {
        Error::new(Code::BadRequest, message)
    }
}

/// Which transaction `delete_transaction` means: the original's 0-based position, or splitd's stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnRef {
    Index(usize),
    Id(u64),
}

/// One decoded request. Field names follow PROTOCOL.md.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Signup {
        username: String,
        password: String,
    },
    Login {
        username: String,
        password: String,
    },
    Logout,
    CreateGroup {
        group: String,
        password: String,
    },
    JoinGroup {
        group: String,
        password: String,
    },
    ListGroups,
    GetGroupMembers {
        group: String,
    },
    AddTransaction {
        group: String,
        amount: Cents,
        description: String,
        split_between: Vec<String>,
        include_payer: bool,
    },
    ViewTransactions {
        group: String,
    },
    DeleteTransaction {
        group: String,
        target: TxnRef,
    },
    ViewBalances {
        group: String,
    },
    Settle {
        group: String,
        method: Method,
    },
}

impl Request {
    /// The action name, for logs.
    pub fn action(&self) -> &'static str {
        match self {
            Request::Signup { .. } => "signup",
            Request::Login { .. } => "login",
            Request::Logout => "logout",
            Request::CreateGroup { .. } => "create_group",
            Request::JoinGroup { .. } => "join_group",
            Request::ListGroups => "list_groups",
            Request::GetGroupMembers { .. } => "get_group_members",
            Request::AddTransaction { .. } => "add_transaction",
            Request::ViewTransactions { .. } => "view_transactions",
            Request::DeleteTransaction { .. } => "delete_transaction",
            Request::ViewBalances { .. } => "view_balances",
            Request::Settle { .. } => "settle",
        }
    }
}

/// A decoded frame: the request (or why it could not be decoded) and the `id` to echo either way.
#[derive(Debug)]
pub struct Decoded {
    pub id: Option<Value>,
    pub request: Result<Request, Error>,
}

/// Decodes one frame (without its newline). Never panics.
pub fn decode(frame: &[u8]) -> Decoded {
    let value: Value = match serde_json::from_slice(frame) {
        Ok(value) => value,
        Err(err) => {
            return Decoded { id: None, request: Err(Error::new(Code::BadJson, format!("Invalid JSON: {err}"))) }
        }
    };
    let Value::Object(mut envelope) = value else {
        return Decoded { id: None, request: Err(Error::new(Code::BadJson, "A request must be a JSON object")) };
    };
    let id = envelope.remove("id");
    let request = match &id {
        Some(Value::String(_) | Value::Number(_)) | None => decode_envelope(envelope),
        Some(_) => Err(Error::bad_request("Field 'id' must be a string or a number")),
    };
    Decoded { id, request }
}

fn decode_envelope(mut envelope: Map<String, Value>) -> Result<Request, Error> {
    let action = match envelope.remove("action") {
        Some(Value::String(action)) => action,
        Some(_) => return Err(Error::bad_request("Field 'action' must be a string")),
        None => return Err(Error::bad_request("Missing field 'action'")),
    };
    if let Some(extra) = envelope.keys().find(|k| k.as_str() != "data") {
        return Err(Error::bad_request(format!("Unknown field '{extra}'")));
    }
    let data = match envelope.remove("data") {
        Some(Value::Object(data)) => data,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(Error::bad_request("Field 'data' must be an object")),
    };
    let mut fields = Fields { data };
    let request = match action.as_str() {
        "signup" => Request::Signup { username: fields.string("username")?, password: fields.string("password")? },
        "login" => Request::Login { username: fields.string("username")?, password: fields.string("password")? },
        "logout" => Request::Logout,
        "create_group" => Request::CreateGroup {
            group: fields.string("group")?,
            password: fields.optional_string("password")?.unwrap_or_default(),
        },
        "join_group" => Request::JoinGroup {
            group: fields.string("group")?,
            password: fields.optional_string("password")?.unwrap_or_default(),
        },
        "list_groups" => Request::ListGroups,
        "get_group_members" => Request::GetGroupMembers { group: fields.string("group")? },
        "add_transaction" => Request::AddTransaction {
            group: fields.string("group")?,
            amount: fields.amount("amount")?,
            description: fields.optional_string("description")?.unwrap_or_default(),
            split_between: fields.string_list("split_between")?,
            include_payer: fields.optional_bool("include_payer")?.unwrap_or(false),
        },
        "view_transactions" => Request::ViewTransactions { group: fields.string("group")? },
        "delete_transaction" => {
            let group = fields.string("group")?;
            let id = fields.optional_u64("id")?;
            let index = fields.optional_u64("index")?;
            let target = match (id, index) {
                (Some(id), None) => TxnRef::Id(id),
                (None, Some(index)) => TxnRef::Index(usize::try_from(index).unwrap_or(usize::MAX)),
                (Some(_), Some(_)) => return Err(Error::bad_request("Give either 'id' or 'index', not both")),
                (None, None) => return Err(Error::bad_request("Missing field 'id' (or 'index')")),
            };
            Request::DeleteTransaction { group, target }
        }
        "view_balances" => Request::ViewBalances { group: fields.string("group")? },
        "settle" => {
            let group = fields.string("group")?;
            let method = match fields.optional_string("method")? {
                None => Method::Minimal,
                Some(name) => Method::parse(&name)
                    .ok_or_else(|| Error::bad_request("Field 'method' must be \"minimal\" or \"greedy\""))?,
            };
            Request::Settle { group, method }
        }
        _ => return Err(Error::new(Code::UnknownAction, "Unknown action")),
    };
    fields.finish()?;
    Ok(request)
}

/// The `data` object of a request, taken apart field by field so every error names its field.
struct Fields {
    data: Map<String, Value>,
}

impl Fields {
    fn take(&mut self, name: &str) -> Option<Value> {
        match self.data.remove(name) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    fn string(&mut self, name: &str) -> Result<String, Error> {
        self.optional_string(name)?.ok_or_else(|| Error::bad_request(format!("Missing field '{name}'")))
    }

    fn optional_string(&mut self, name: &str) -> Result<Option<String>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::bad_request(format!("Field '{name}' must be a string"))),
        }
    }

    fn optional_bool(&mut self, name: &str) -> Result<Option<bool>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(Error::bad_request(format!("Field '{name}' must be true or false"))),
        }
    }

    fn optional_u64(&mut self, name: &str) -> Result<Option<u64>, Error> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::bad_request(format!("Field '{name}' must be a whole number >= 0"))),
            Some(_) => Err(Error::bad_request(format!("Field '{name}' must be a whole number >= 0"))),
        }
    }

    fn string_list(&mut self, name: &str) -> Result<Vec<String>, Error> {
        let wrong = || Error::bad_request(format!("Field '{name}' must be a list of names"));
        match self.take(name) {
            None => Err(Error::bad_request(format!("Missing field '{name}'"))),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    _ => Err(wrong()),
                })
                .collect(),
            Some(_) => Err(wrong()),
        }
    }

    /// A positive amount, from a JSON number or a decimal string, parsed exactly from its text.
    fn amount(&mut self, name: &str) -> Result<Cents, Error> {
        let text = match self.take(name) {
            None => return Err(Error::bad_request(format!("Missing field '{name}'"))),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s,
            Some(_) => return Err(Error::bad_request(format!("Field '{name}' must be a number"))),
        };
        Cents::parse_amount(&text).map_err(|err: AmountError| Error::bad_request(format!("Field '{name}' {err}")))
    }

    /// Unknown fields are refused rather than ignored: a misspelt optional field would otherwise be
    /// silently dropped (a `"include_payr": true` splitting money wrongly).
    fn finish(self) -> Result<(), Error> {
        match self.data.keys().next() {
            Some(extra) => Err(Error::bad_request(format!("Unknown field '{extra}'"))),
            None => Ok(()),
        }
    }
}

/// A reply under construction: `{"status": ...}` plus fields. Never has a `type` key, so the original
/// client never mistakes it for a pushed message.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply(pub Map<String, Value>);

impl Reply {
    pub fn ok() -> Reply {
        let mut map = Map::new();
        map.insert("status".into(), Value::from("ok"));
        Reply(map)
    }

    pub fn message(text: &str) -> Reply {
        Reply::ok().with("message", text)
    }

    pub fn error(error: &Error) -> Reply {
        let mut map = Map::new();
        map.insert("status".into(), Value::from("error"));
        map.insert("message".into(), Value::from(error.message.as_str()));
        map.insert("code".into(), Value::from(error.code.as_str()));
        Reply(map)
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Reply {
        debug_assert_ne!(key, "type", "replies never carry a type key");
        self.0.insert(key.into(), value.into());
        self
    }

    pub fn is_ok(&self) -> bool {
        self.0.get("status").and_then(Value::as_str) == Some("ok")
    }

    /// Appends the reply, with the request's `id` echoed, as one frame.
    pub fn write_frame(mut self, id: Option<Value>, out: &mut Vec<u8>) {
        if let Some(id) = id {
            self.0.insert("id".into(), id);
        }
        write_value_frame(&Value::Object(self.0), out);
    }
}

/// Appends `value` and a newline. Serialising a `Value` into memory cannot fail.
pub fn write_value_frame(value: &Value, out: &mut Vec<u8>) {
    if serde_json::to_writer(&mut *out, value).is_ok() {
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(frame: &str) -> Result<Request, Error> {
        decode(frame.as_bytes()).request
    }

    #[test]
    fn decodes_the_original_clients_requests() {
        assert_eq!(request(r#"{"action": "list_groups"}"#), Ok(Request::ListGroups));
        assert_eq!(
            request(
                r#"{"action":"add_transaction","data":{"group":"trip","amount":30.5,"description":"taxi","split_between":["bob"],"include_payer":true}}"#
            ),
            Ok(Request::AddTransaction {
                group: "trip".into(),
                amount: Cents(3050),
                description: "taxi".into(),
                split_between: vec!["bob".into()],
                include_payer: true,
            })
        );
        assert_eq!(
            request(r#"{"action":"delete_transaction","data":{"group":"g","index":0}}"#),
            Ok(Request::DeleteTransaction { group: "g".into(), target: TxnRef::Index(0) })
        );
    }

    #[test]
    fn echoes_id_even_on_errors() {
        let decoded = decode(br#"{"action":"nope","id":"abc"}"#);
        assert_eq!(decoded.id, Some(Value::from("abc")));
        assert_eq!(decoded.request.unwrap_err().code, Code::UnknownAction);
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
            (
                r#"{"action":"login","data":{"username":1,"password":"x"}}"#,
                Code::BadRequest,
                "'username' must be a string",
            ),
            (
                r#"{"action":"login","data":{"username":"a","password":"x","x":1}}"#,
                Code::BadRequest,
                "Unknown field 'x'",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":-1,"split_between":[]}}"#,
                Code::BadRequest,
                "'amount' must be greater than zero",
            ),
            (
                r#"{"action":"add_transaction","data":{"group":"g","amount":1.001,"split_between":[]}}"#,
                Code::BadRequest,
                "at most 2 decimals",
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
        assert_eq!(decode(b"\xff\xfe\x00").request.unwrap_err().code, Code::BadJson);
        assert_eq!(decode(b"").request.unwrap_err().code, Code::BadJson);
    }

    #[test]
    fn replies_have_no_type_key_and_echo_id() {
        let mut out = Vec::new();
        Reply::message("Signup successful").write_frame(Some(Value::from(7)), &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["message"], "Signup successful");
        assert_eq!(v["id"], 7);
        assert!(v.get("type").is_none());
        assert_eq!(out.last(), Some(&b'\n'));
    }
}
