//! Decodes the Kubernetes protobuf request bodies typed clients (kubectl `create namespace`,
//! `create secret`, `create configmap`) send for core kinds into their JSON form. Only the
//! fields these kinds and ObjectMeta carry on writes are read; unknown fields are skipped.
//! No I/O.

use base64::Engine;
use serde_json::{Map, Value, json};

const MAGIC: [u8; 4] = [0x6b, 0x38, 0x73, 0x00];

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("not a Kubernetes protobuf envelope")]
    NoEnvelope,
    #[error("truncated or malformed protobuf")]
    Malformed,
    #[error("protobuf bodies of kind {0} are not supported by the test bed")]
    Unsupported(String),
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first().ok_or(ProtoError::Malformed)?;
            self.buf = rest;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(ProtoError::Malformed)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if n > self.buf.len() {
            return Err(ProtoError::Malformed);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn next(&mut self) -> Option<Result<(u64, Field<'a>), ProtoError>> {
        if self.buf.is_empty() {
            return None;
        }
        Some(self.field())
    }

    fn field(&mut self) -> Result<(u64, Field<'a>), ProtoError> {
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Field::Other
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| ProtoError::Malformed)?;
                Field::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Field::Other
            }
            _ => return Err(ProtoError::Malformed),
        };
        Ok((key >> 3, field))
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ProtoError> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next() {
        out.push(f?);
    }
    Ok(out)
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

/// A `map<string, string|bytes>` entry: key=1, value=2.
fn map_entry(b: &[u8], binary: bool) -> Result<(String, Value), ProtoError> {
    let mut key = String::new();
    let mut value = Value::String(String::new());
    for (n, f) in fields(b)? {
        if let Field::Bytes(v) = f {
            match n {
                1 => key = String::from_utf8_lossy(v).into_owned(),
                2 if binary => {
                    value = Value::String(base64::engine::general_purpose::STANDARD.encode(v))
                }
                2 => value = text(v),
                _ => {}
            }
        }
    }
    Ok((key, value))
}

fn insert_entry(
    obj: &mut Map<String, Value>,
    name: &str,
    b: &[u8],
    binary: bool,
) -> Result<(), ProtoError> {
    let (k, v) = map_entry(b, binary)?;
    if let Value::Object(m) = obj.entry(name).or_insert_with(|| Value::Object(Map::new())) {
        m.insert(k, v);
    }
    Ok(())
}

fn push(obj: &mut Map<String, Value>, name: &str, v: Value) {
    if let Value::Array(a) = obj.entry(name).or_insert_with(|| Value::Array(Vec::new())) {
        a.push(v);
    }
}

fn owner_reference(b: &[u8]) -> Result<Value, ProtoError> {
    let mut o = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => drop(o.insert("kind".into(), text(v))),
            (3, Field::Bytes(v)) => drop(o.insert("name".into(), text(v))),
            (4, Field::Bytes(v)) => drop(o.insert("uid".into(), text(v))),
            (5, Field::Bytes(v)) => drop(o.insert("apiVersion".into(), text(v))),
            (6, Field::Varint(v)) => drop(o.insert("controller".into(), json!(v != 0))),
            (7, Field::Varint(v)) => drop(o.insert("blockOwnerDeletion".into(), json!(v != 0))),
            _ => {}
        }
    }
    Ok(Value::Object(o))
}

fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => drop(m.insert("name".into(), text(v))),
            (2, Field::Bytes(v)) => drop(m.insert("generateName".into(), text(v))),
            (3, Field::Bytes(v)) => drop(m.insert("namespace".into(), text(v))),
            (5, Field::Bytes(v)) => drop(m.insert("uid".into(), text(v))),
            (6, Field::Bytes(v)) => drop(m.insert("resourceVersion".into(), text(v))),
            (11, Field::Bytes(v)) => insert_entry(&mut m, "labels", v, false)?,
            (12, Field::Bytes(v)) => insert_entry(&mut m, "annotations", v, false)?,
            (13, Field::Bytes(v)) => push(&mut m, "ownerReferences", owner_reference(v)?),
            (14, Field::Bytes(v)) => push(&mut m, "finalizers", text(v)),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn secret(b: &[u8], o: &mut Map<String, Value>) -> Result<(), ProtoError> {
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => drop(o.insert("metadata".into(), object_meta(v)?)),
            (2, Field::Bytes(v)) => insert_entry(o, "data", v, true)?,
            (3, Field::Bytes(v)) => drop(o.insert("type".into(), text(v))),
            (4, Field::Bytes(v)) => insert_entry(o, "stringData", v, false)?,
            (5, Field::Varint(v)) => drop(o.insert("immutable".into(), json!(v != 0))),
            _ => {}
        }
    }
    Ok(())
}

fn config_map(b: &[u8], o: &mut Map<String, Value>) -> Result<(), ProtoError> {
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => drop(o.insert("metadata".into(), object_meta(v)?)),
            (2, Field::Bytes(v)) => insert_entry(o, "data", v, false)?,
            (3, Field::Bytes(v)) => insert_entry(o, "binaryData", v, true)?,
            (4, Field::Varint(v)) => drop(o.insert("immutable".into(), json!(v != 0))),
            _ => {}
        }
    }
    Ok(())
}

fn namespace(b: &[u8], o: &mut Map<String, Value>) -> Result<(), ProtoError> {
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => drop(o.insert("metadata".into(), object_meta(v)?)),
            (2, Field::Bytes(v)) => {
                let mut spec = Map::new();
                for (n, f) in fields(v)? {
                    if let (1, Field::Bytes(s)) = (n, f) {
                        push(&mut spec, "finalizers", text(s));
                    }
                }
                o.insert("spec".into(), Value::Object(spec));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The JSON object a protobuf-encoded Namespace, Secret or ConfigMap stands for.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body.strip_prefix(&MAGIC).ok_or(ProtoError::NoEnvelope)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(rest)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (n, f) in fields(tm)? {
                    match (n, f) {
                        (1, Field::Bytes(v)) => {
                            api_version = String::from_utf8_lossy(v).into_owned()
                        }
                        (2, Field::Bytes(v)) => kind = String::from_utf8_lossy(v).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(v)) => raw = v,
            _ => {}
        }
    }
    let mut o = Map::new();
    o.insert("apiVersion".into(), Value::String(api_version));
    o.insert("kind".into(), Value::String(kind.clone()));
    match kind.as_str() {
        "Secret" => secret(raw, &mut o)?,
        "ConfigMap" => config_map(raw, &mut o)?,
        "Namespace" => namespace(raw, &mut o)?,
        other => return Err(ProtoError::Unsupported(other.to_string())),
    }
    Ok(Value::Object(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lenfield(n: u8, b: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3) | 2, u8::try_from(b.len()).unwrap()];
        out.extend_from_slice(b);
        out
    }

    #[test]
    fn decodes_a_secret() {
        let meta = [lenfield(1, b"s1"), lenfield(3, b"ns")].concat();
        let entry = [lenfield(1, b"k"), lenfield(2, b"v")].concat();
        let secret = [
            lenfield(1, &meta),
            lenfield(2, &entry),
            lenfield(3, b"Opaque"),
        ]
        .concat();
        let tm = [lenfield(1, b"v1"), lenfield(2, b"Secret")].concat();
        let body = [MAGIC.to_vec(), lenfield(1, &tm), lenfield(2, &secret)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["metadata"]["name"], "s1");
        assert_eq!(v["metadata"]["namespace"], "ns");
        assert_eq!(v["data"]["k"], "dg==");
        assert_eq!(v["type"], "Opaque");
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode(b"{}").is_err());
        assert!(decode(&[0x6b, 0x38, 0x73, 0x00, 0x0a, 0x7f]).is_err());
    }
}
