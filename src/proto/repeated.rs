//! Finds a key that a JSON object of a frame repeats, at any depth.
//!
//! Why: serde_json's `Map` keeps the last of a repeated key, so `"amount":1,"amount":999` would
//! record 999.00 and `"group":"nope","group":"trip"` act on trip, while a proxy, a log or another
//! parser in front of splitd may have read the first. A frame that says two things is refused.
//!
//! How: one more pass over the frame (which has already parsed as JSON), through serde without
//! building anything: keys are borrowed from the frame unless they hold an escape (`"\u0061"` is
//! `"a"`: keys are compared unescaped); an object's few keys are searched in a line, a large
//! object's in a `HashSet`, so the pass stays linear however many keys an object has. It costs
//! about half of the `Value` parse before it. The general decoder calls it; the fast paths need
//! not: serde's derive errors on a repeated field, so they decline to the general decoder.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The first key a frame repeats.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Repeated {
    /// Where it is, from the top: `amount` for `{"data":{"amount":…,"amount":…}}` (inside `data`,
    /// as every field error names it), `split.amounts.bob`, `id`, `split_between[2].x`.
    pub field: String,
    /// The envelope repeats `id`: which one to echo is unclear, so the reply echoes none.
    pub id_repeated: bool,
}

/// The first key repeated in any object of `frame`, in the order of the text; `None` if none is.
/// `frame` must already have parsed as JSON (the general decoder's first step): should this pass
/// still fail to read it, it reports nothing, and the frame is answered by that parse.
pub(super) fn first_repeated(frame: &[u8]) -> Option<Repeated> {
    let mut scan = Scan { path: Vec::new(), keys: Vec::new(), first: None, id_repeated: false };
    let mut deserializer = serde_json::Deserializer::from_slice(frame);
    let _read = Node(&mut scan).deserialize(&mut deserializer);
    let path = scan.first?;
    Some(Repeated { field: path, id_repeated: scan.id_repeated })
}

/// Up to this many keys an object's are searched in a line: no allocation and no hashing for the
/// few keys of a request's objects (or the one-key object a number is, see `visit_map`), and a
/// bound on the work of a line, beyond which a `HashSet` keeps the pass linear.
const LINEAR_KEYS_MAX: usize = 16;

/// One step of the way from the top of the frame to a value.
enum Step<'de> {
    Key(Cow<'de, str>),
    Index(usize),
}

/// What the pass has found, and where it is now.
struct Scan<'de> {
    path: Vec<Step<'de>>,
    /// The keys met so far in each object open on `path`, each object's after its parent's (an
    /// object with more than `LINEAR_KEYS_MAX` keys moves its own to a `HashSet`).
    keys: Vec<Cow<'de, str>>,
    /// The path of the first repeated key, rendered.
    first: Option<String>,
    id_repeated: bool,
}

impl Scan<'_> {
    fn repeated(&mut self, key: &str) {
        if self.path.is_empty() && key == "id" {
            self.id_repeated = true;
        }
        if self.first.is_some() {
            return;
        }
        // Fields inside `data` are named without it, as every other field error names them.
        let steps = match self.path.first() {
            Some(Step::Key(top)) if top == "data" => &self.path[1..],
            _ => &self.path[..],
        };
        let mut field = String::new();
        for step in steps {
            match step {
                Step::Key(name) => {
                    field.push_str(name);
                    field.push('.');
                }
                Step::Index(index) => {
                    field.pop();
                    field.push_str(&format!("[{index}]."));
                }
            }
        }
        field.push_str(key);
        self.first = Some(field);
    }
}

/// Reads any value, descending into objects and arrays.
struct Node<'s, 'de>(&'s mut Scan<'de>);

impl<'de> DeserializeSeed<'de> for Node<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for index in 0.. {
            self.0.path.push(Step::Index(index));
            let more = seq.next_element_seed(Node(&mut *self.0))?;
            self.0.path.pop();
            if more.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// An object. (With `arbitrary_precision`, serde_json also hands a number over as a one-key
    /// object holding its text: one key cannot repeat, so it needs no case of its own.)
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let start = self.0.keys.len();
        let mut many: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key_seed(Key)? {
            let seen = match &mut many {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let seen = self.0.keys[start..].contains(&key);
                    self.0.keys.push(key.clone());
                    if self.0.keys.len() - start > LINEAR_KEYS_MAX {
                        many = Some(self.0.keys.drain(start..).collect());
                    }
                    seen
                }
            };
            if seen {
                self.0.repeated(&key);
            }
            self.0.path.push(Step::Key(key));
            map.next_value_seed(Node(&mut *self.0))?;
            self.0.path.pop();
        }
        self.0.keys.truncate(start);
        Ok(())
    }
}

/// An object's key, unescaped: borrowed from the frame when it has no escape.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(frame: &str) -> Option<String> {
        first_repeated(frame.as_bytes()).map(|r| r.field)
    }

    #[test]
    fn names_the_first_repeated_key_by_its_path() {
        assert_eq!(field(r#"{"action":"x","data":{"amount":1,"amount":999}}"#).as_deref(), Some("amount"));
        assert_eq!(field(r#"{"action":"x","action":"y"}"#).as_deref(), Some("action"));
        assert_eq!(field(r#"{"data":{},"data":{}}"#).as_deref(), Some("data"));
        assert_eq!(field(r#"{"data":{"split":{"amounts":{"b":1,"c":2,"b":3}}}}"#).as_deref(), Some("split.amounts.b"));
        assert_eq!(field(r#"{"data":{"paid_by":{"a":1,"a":1}}}"#).as_deref(), Some("paid_by.a"));
        assert_eq!(field(r#"{"data":{"l":[1,{"k":1},{"k":1,"k":2}]}}"#).as_deref(), Some("l[2].k"));
        assert_eq!(field(r#"[{"a":[[{"x":1,"x":1}]]}]"#).as_deref(), Some("[0].a[0][0].x"));
        assert_eq!(field(r#"{"data":{"a":1,"a":2,"b":1,"b":2}}"#).as_deref(), Some("a"), "the first one");
        // Keys are compared as the strings they stand for.
        assert_eq!(field(r#"{"data":{"group":"a","\u0067roup":"b"}}"#).as_deref(), Some("group"));
        assert_eq!(field(r#"{"data":{"\u00e9":1,"é":2}}"#).as_deref(), Some("é"));
    }

    #[test]
    fn distinct_keys_and_values_are_not_repeats() {
        for frame in [
            r#"{"action":"x","data":{"a":1,"b":{"a":1},"c":[{"a":1},{"a":1}]},"id":1}"#,
            r#"{"data":{"amount":1e2,"x":12.50,"y":-1,"z":"a","n":null,"t":true}}"#,
            r#"{"data":{"a":"a","A":"a","a ":"a"}}"#,
            r#"[1,2,[3,[4]],{}]"#,
            "7",
        ] {
            assert_eq!(first_repeated(frame.as_bytes()), None, "{frame}");
        }
    }

    /// Past `LINEAR_KEYS_MAX` keys an object's keys move to a set: repeats across the move and after
    /// it are found, and nested objects' keys never count as the parent's.
    #[test]
    fn large_and_nested_objects() {
        let object = |keys: &[String]| {
            format!("{{{}}}", keys.iter().map(|k| format!("\"{k}\":1")).collect::<Vec<_>>().join(","))
        };
        let mut keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
        assert_eq!(field(&object(&keys)), None);
        for (at, again) in [(2, 3), (2, 30), (25, 30), (0, 39)] {
            keys[again] = format!("k{at}");
            assert_eq!(field(&object(&keys)), Some(format!("k{at}")), "k{at} again at {again}");
            keys[again] = format!("k{again}");
        }
        let inner = object(&keys);
        assert_eq!(field(&format!(r#"{{"k1":{inner},"k2":[{inner}],"k3":1}}"#)), None);
        assert_eq!(field(&format!(r#"{{"data":{{"x":{inner},"k5":1,"k5":2}}}}"#)).as_deref(), Some("k5"));
        assert_eq!(field(r#"{"x":{"b":1},"b":2,"y":{"b":{"x":1}}}"#), None);
    }

    #[test]
    fn a_repeated_id_in_the_envelope_is_marked() {
        let both = first_repeated(br#"{"data":{"a":1,"a":2},"id":1,"id":2}"#).expect("repeats");
        assert_eq!((both.field.as_str(), both.id_repeated), ("a", true));
        let nested = first_repeated(br#"{"data":{"id":1,"id":2},"id":3}"#).expect("repeats");
        assert_eq!((nested.field.as_str(), nested.id_repeated), ("id", false));
    }
}
