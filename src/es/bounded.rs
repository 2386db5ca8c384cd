//! Deserializers that hold no more than a bound of what a server sends, so that a hostile
//! one (behind a tenant's `url`) cannot make the operator build a tree many times its answer:
//! lists of at most Elasticsearch's page of entries, JSON values of at most a number of
//! nodes, epoch millis that are never a tree. Pure, no I/O.

use std::{cell::Cell, fmt, marker::PhantomData};

use serde::{
    Deserialize, Deserializer,
    de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor},
};
use serde_json::{Map, Value};

/// The most entries a listing may hold: Elasticsearch answers at most 10,000 jobs (its page
/// of job configurations). A longer list is no Elasticsearch answer, and is refused as it is
/// read rather than held.
pub(super) const MAX_LISTED: usize = 10_000;

/// The most nodes (values, at any depth) a kept JSON value may have: a job's
/// `custom_settings` holds a few entries; a hundred thousand is far past any real one.
pub(super) const MAX_NODES: usize = 100_000;

/// A list of at most `MAX_LISTED` entries.
pub(super) fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    struct Bounded<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Bounded<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a list of at most {MAX_LISTED} entries")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = seq.next_element()? {
                if out.len() == MAX_LISTED {
                    return Err(de::Error::custom(format!(
                        "more than {MAX_LISTED} entries, more than Elasticsearch lists"
                    )));
                }
                out.push(entry);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Bounded(PhantomData))
}

/// Epoch millis, as a number or a numeric string; anything else is no time (and is skipped
/// as it is read, never held).
pub(super) fn lenient_millis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(Millis { strict: false })
}

/// Epoch millis as Elasticsearch gives them (a number, or a numeric string with `?human`):
/// `null` is none, an unreadable string or a fraction is none, anything else (a list, an
/// object, a boolean) is an error, refused without being read on.
pub(super) fn strict_millis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(Millis { strict: true })
}

/// Epoch millis; `strict`: what is not a time is an error rather than none.
struct Millis {
    strict: bool,
}

impl Millis {
    fn not_a_time<E: de::Error>(&self, what: Unexpected) -> Result<Option<i64>, E> {
        if self.strict {
            Err(E::invalid_type(what, self))
        } else {
            Ok(None)
        }
    }
}

impl<'de> Visitor<'de> for Millis {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("epoch milliseconds (a number or a numeric string)")
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).ok())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.parse().ok())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.not_a_time(Unexpected::Bool(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if self.strict {
            return self.not_a_time(Unexpected::Seq);
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if self.strict {
            return self.not_a_time(Unexpected::Map);
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// A JSON value of at most `MAX_NODES` nodes (`null`: none).
pub(super) fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    let left = Cell::new(MAX_NODES);
    let v = Budget(&left).deserialize(d)?;
    Ok((!v.is_null()).then_some(v))
}

/// Builds a `Value`, one node at a time out of a shared budget.
struct Budget<'a>(&'a Cell<usize>);

impl Budget<'_> {
    fn spend<E: de::Error>(&self) -> Result<(), E> {
        match self.0.get().checked_sub(1) {
            Some(left) => {
                self.0.set(left);
                Ok(())
            }
            None => Err(E::custom(format!("more than {MAX_NODES} values"))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Budget<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budget<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON value of at most {MAX_NODES} values")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Budget(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(Budget(self.0))?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "value")]
        v: Option<Value>,
    }

    fn read(json: &str) -> Result<Option<Value>, String> {
        serde_json::from_str::<Holder>(json)
            .map(|h| h.v)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_value_within_its_budget_is_kept_whole() {
        let v = r#"{"a":[1,2.5,"x",true,null,{"b":{}}],"c":-3}"#;
        let want: Value = serde_json::from_str(v).unwrap_or_default();
        assert_eq!(read(&format!(r#"{{"v":{v}}}"#)), Ok(Some(want)));
        assert_eq!(read(r#"{"v":null}"#), Ok(None));
        assert_eq!(read("{}"), Ok(None));
    }

    #[test]
    fn a_value_past_its_budget_is_refused_as_it_is_read() {
        let zeros = vec!["0"; MAX_NODES].join(",");
        // The list itself is a node: one zero too many.
        let err = read(&format!(r#"{{"v":[{zeros}]}}"#))
            .err()
            .unwrap_or_default();
        assert!(err.contains("more than 100000 values"), "{err}");
        let fits = vec!["0"; MAX_NODES - 1].join(",");
        assert!(read(&format!(r#"{{"v":[{fits}]}}"#)).is_ok());
    }
}
