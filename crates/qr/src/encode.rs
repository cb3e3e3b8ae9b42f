//! The MPM encoder: data objects to a payload with lengths in characters and
//! the CRC computed over the UTF-8 bytes, for any scheme. [`MpmSpec`]
//! describes a code by its fields; [`encode`] writes any tree of objects.
//! Either way the result is decoded again before it is returned, so the
//! encoder never emits a code its own decoder refuses.

use std::collections::BTreeMap;

use crate::error::{DecodeError, ErrorCode};
use crate::mpm::Initiation;
use crate::{Options, crc16, decode};

/// One data object: a primitive value or a template of objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub id: u8,
    pub value: Value,
}

/// What an object holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Template(Vec<Object>),
}

impl Object {
    pub fn text(id: u8, value: impl Into<String>) -> Self {
        Object {
            id,
            value: Value::Text(value.into()),
        }
    }

    pub fn template(id: u8, children: Vec<Object>) -> Self {
        Object {
            id,
            value: Value::Template(children),
        }
    }
}

/// Why a code could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("tag {0} is not an id from 00 to 99")]
    BadId(String),
    #[error("tag {path} is {len} characters; a value holds 1 to 99")]
    BadLength { path: String, len: usize },
    #[error("tag {0} appears twice")]
    Duplicate(String),
    #[error("tag {0} is written by the encoder itself")]
    Reserved(String),
    #[error("{0} is not a known currency")]
    Currency(String),
    #[error("{0} must be text or an object of sub-tags")]
    BadValue(String),
    #[error("the encoded code does not decode: {0}")]
    Invalid(DecodeError),
}

impl EncodeError {
    /// The decode error code this corresponds to, for one error catalogue.
    pub fn code(&self) -> ErrorCode {
        match self {
            EncodeError::BadId(_)
            | EncodeError::Reserved(_)
            | EncodeError::Currency(_)
            | EncodeError::BadValue(_) => ErrorCode::BadValue,
            EncodeError::BadLength { .. } => ErrorCode::BadLength,
            EncodeError::Duplicate(_) => ErrorCode::DuplicateTag,
            EncodeError::Invalid(e) => e.code,
        }
    }
}

/// Write objects as ID-length-value, lengths in characters.
pub fn write_objects(
    objects: &[Object],
    parent: &str,
    out: &mut String,
) -> Result<(), EncodeError> {
    let mut seen = [false; 100];
    for o in objects {
        let path = crate::tlv::join_path(parent, o.id);
        let slot = seen
            .get_mut(usize::from(o.id))
            .ok_or_else(|| EncodeError::BadId(path.clone()))?;
        if std::mem::replace(slot, true) {
            return Err(EncodeError::Duplicate(path));
        }
        let mut inner = String::new();
        let value = match &o.value {
            Value::Text(t) => t.as_str(),
            Value::Template(children) => {
                write_objects(children, &path, &mut inner)?;
                inner.as_str()
            }
        };
        let len = value.chars().count();
        if !(1..=99).contains(&len) {
            return Err(EncodeError::BadLength { path, len });
        }
        out.push_str(&format!("{:02}{len:02}{value}", o.id));
    }
    Ok(())
}

/// `objects` as a payload: the format indicator first (`01` unless the
/// objects carry their own 00), the CRC last. No validation.
pub fn encode_unchecked(objects: &[Object]) -> Result<String, EncodeError> {
    if objects.iter().any(|o| o.id == 63) {
        return Err(EncodeError::Reserved("63".into()));
    }
    let mut out = String::new();
    let indicator = objects.iter().find(|o| o.id == 0);
    let rest: Vec<Object> = objects.iter().filter(|o| o.id != 0).cloned().collect();
    write_objects(
        &[indicator.cloned().unwrap_or_else(|| Object::text(0, "01"))],
        "",
        &mut out,
    )?;
    write_objects(&rest, "", &mut out)?;
    out.push_str("6304");
    let crc = crc16(out.as_bytes());
    out.push_str(&format!("{crc:04X}"));
    Ok(out)
}

/// Encode and check that the result decodes under `options`.
pub fn encode(objects: &[Object], options: &Options) -> Result<String, EncodeError> {
    let payload = encode_unchecked(objects)?;
    decode(&payload, options).map_err(EncodeError::Invalid)?;
    Ok(payload)
}

/// A merchant-presented code described by its fields, for people and
/// programs that do not want to think in tags. Deserialises from JSON:
///
/// ```json
/// {"initiation": "dynamic",
///  "accounts": {"29": {"00": "A000000677010111", "01": "0066812345678"}},
///  "mcc": "5812", "currency": "THB", "amount": "100.00", "country": "TH",
///  "merchant_name": "SOM TAM HOUSE", "merchant_city": "BANGKOK",
///  "additional": {"05": "INV-1"}}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MpmSpec {
    pub format_indicator: Option<String>,
    pub initiation: Option<Initiation>,
    /// Merchant account information, 02-51: a string or a template.
    #[serde(default)]
    pub accounts: BTreeMap<String, Tree>,
    pub mcc: Option<String>,
    /// ISO 4217, alphabetic (`THB`) or numeric (`764`).
    pub currency: Option<String>,
    /// Decimal text as it should appear in tag 54 (`"100.00"`).
    pub amount: Option<String>,
    /// Tag 55: `prompt`, `fixed` or `percentage`.
    pub tip: Option<String>,
    pub convenience_fee_fixed: Option<String>,
    pub convenience_fee_percentage: Option<String>,
    pub country: Option<String>,
    pub merchant_name: Option<String>,
    pub merchant_city: Option<String>,
    pub postal_code: Option<String>,
    /// Tag 62 sub-objects.
    #[serde(default)]
    pub additional: BTreeMap<String, Tree>,
    /// Tag 64: `{"00": "ZH", "01": "...", "02": "..."}`.
    #[serde(default)]
    pub language: BTreeMap<String, Tree>,
    /// Any other top-level objects (65-99), by id.
    #[serde(default)]
    pub other: BTreeMap<String, Tree>,
}

/// A value in the JSON form of a tree: text, or an object of sub-tags.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum Tree {
    Text(String),
    Template(BTreeMap<String, Tree>),
}

/// Objects from the JSON form of a tree (`{"00": "...", "01": {...}}`).
pub fn objects_from_tree(
    tree: &BTreeMap<String, Tree>,
    parent: &str,
) -> Result<Vec<Object>, EncodeError> {
    tree.iter()
        .map(|(key, value)| {
            let id = parse_id(key, parent)?;
            let path = crate::tlv::join_path(parent, id);
            Ok(match value {
                Tree::Text(t) => Object::text(id, t.clone()),
                Tree::Template(children) => {
                    Object::template(id, objects_from_tree(children, &path)?)
                }
            })
        })
        .collect()
}

fn parse_id(key: &str, parent: &str) -> Result<u8, EncodeError> {
    let shown = if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    };
    match key.as_bytes() {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Ok((a - b'0') * 10 + (b - b'0')),
        _ => Err(EncodeError::BadId(shown)),
    }
}

impl MpmSpec {
    /// The top-level objects, in the usual order.
    pub fn to_objects(&self) -> Result<Vec<Object>, EncodeError> {
        let mut out = Vec::new();
        if let Some(f) = &self.format_indicator {
            out.push(Object::text(0, f.clone()));
        }
        if let Some(i) = self.initiation {
            out.push(Object::text(
                1,
                if i == Initiation::Static { "11" } else { "12" },
            ));
        }
        out.extend(objects_from_tree(&self.accounts, "")?);
        let text = |id: u8, v: &Option<String>| v.as_ref().map(|v| Object::text(id, v.clone()));
        out.extend(text(52, &self.mcc));
        if let Some(c) = &self.currency {
            out.push(Object::text(53, currency_numeric(c)?));
        }
        out.extend(text(54, &self.amount));
        if let Some(t) = &self.tip {
            let v = match t.as_str() {
                "prompt" | "01" => "01",
                "fixed" | "02" => "02",
                "percentage" | "03" => "03",
                other => other,
            };
            out.push(Object::text(55, v));
        }
        out.extend(text(56, &self.convenience_fee_fixed));
        out.extend(text(57, &self.convenience_fee_percentage));
        out.extend(text(58, &self.country));
        out.extend(text(59, &self.merchant_name));
        out.extend(text(60, &self.merchant_city));
        out.extend(text(61, &self.postal_code));
        if !self.additional.is_empty() {
            out.push(Object::template(
                62,
                objects_from_tree(&self.additional, "62")?,
            ));
        }
        if !self.language.is_empty() {
            out.push(Object::template(
                64,
                objects_from_tree(&self.language, "64")?,
            ));
        }
        out.extend(objects_from_tree(&self.other, "")?);
        Ok(out)
    }

    /// The payload, checked by decoding it under `options`.
    pub fn encode(&self, options: &Options) -> Result<String, EncodeError> {
        encode(&self.to_objects()?, options)
    }
}

/// Objects from the `tags` tree of the decode JSON (SPEC §5): keys are
/// two-digit ids, values text or objects of sub-tags, in order. Tag 63 is
/// dropped (the encoder writes the CRC), so `encode(decode(p).tags) == p`.
pub fn objects_from_json(tree: &serde_json::Value) -> Result<Vec<Object>, EncodeError> {
    fn walk(
        map: &serde_json::Map<String, serde_json::Value>,
        parent: &str,
    ) -> Result<Vec<Object>, EncodeError> {
        let mut out = Vec::new();
        for (key, value) in map {
            let id = parse_id(key, parent)?;
            if parent.is_empty() && id == 63 {
                continue;
            }
            let path = crate::tlv::join_path(parent, id);
            out.push(match value {
                serde_json::Value::String(s) => Object::text(id, s.clone()),
                serde_json::Value::Object(m) => Object::template(id, walk(m, &path)?),
                _ => return Err(EncodeError::BadValue(path)),
            });
        }
        Ok(out)
    }
    match tree {
        serde_json::Value::Object(m) => walk(m, ""),
        _ => Err(EncodeError::BadValue("the tags tree".into())),
    }
}

/// `THB` or `764` to the numeric code tag 53 carries.
fn currency_numeric(code: &str) -> Result<String, EncodeError> {
    let currency = if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) {
        crate::mpm::currency_from_numeric(code)
    } else {
        iso_currency::Currency::from_code(&code.to_ascii_uppercase())
    };
    currency
        .map(|c| format!("{:03}", c.numeric()))
        .ok_or_else(|| EncodeError::Currency(code.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_round_trip() {
        // The EMVCo specification's example, written from its tree.
        let objects = vec![
            Object::text(1, "12"),
            Object::template(
                29,
                vec![
                    Object::text(0, "D15600000000"),
                    Object::text(5, "A93FO3230Q"),
                ],
            ),
            Object::template(
                31,
                vec![Object::text(0, "D15600000001"), Object::text(3, "12345678")],
            ),
            Object::text(52, "4111"),
            Object::text(58, "CN"),
            Object::text(59, "BEST TRANSPORT"),
            Object::text(60, "BEIJING"),
            Object::template(
                64,
                vec![
                    Object::text(0, "ZH"),
                    Object::text(1, "最佳运输"),
                    Object::text(2, "北京"),
                ],
            ),
            Object::text(54, "23.72"),
            Object::text(53, "156"),
            Object::text(55, "01"),
            Object::template(
                62,
                vec![
                    Object::text(3, "1234"),
                    Object::text(6, "***"),
                    Object::text(7, "A6008667"),
                    Object::text(9, "ME"),
                ],
            ),
            Object::template(
                91,
                vec![
                    Object::text(0, "A011223344998877"),
                    Object::text(7, "12345678"),
                ],
            ),
        ];
        let payload = encode(&objects, &Options::default()).unwrap();
        assert_eq!(
            payload,
            "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A"
        );
    }

    #[test]
    fn refuses_what_it_cannot_write() {
        let long = Object::text(59, "x".repeat(100));
        assert!(matches!(
            encode_unchecked(&[long]),
            Err(EncodeError::BadLength { .. })
        ));
        let dup = [Object::text(59, "A"), Object::text(59, "B")];
        assert_eq!(
            encode_unchecked(&dup),
            Err(EncodeError::Duplicate("59".into()))
        );
        assert_eq!(
            encode_unchecked(&[Object::text(100, "A")]),
            Err(EncodeError::BadId("100".into()))
        );
        assert_eq!(
            encode_unchecked(&[Object::text(63, "ABCD")]),
            Err(EncodeError::Reserved("63".into()))
        );
        // Valid TLV that is not a valid code: the check catches it.
        let e = encode(&[Object::text(59, "A")], &Options::default()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::MissingTag);
    }

    #[test]
    fn spec_from_json() {
        let spec: MpmSpec = serde_json::from_str(
            r#"{"initiation": "dynamic",
                "accounts": {"29": {"00": "A000000677010111", "01": "0066812345678"}},
                "currency": "THB", "amount": "100.00", "country": "TH"}"#,
        )
        .unwrap();
        let payload = spec.encode(&Options::default()).unwrap();
        let Ok(crate::Decoded::Mpm(d)) = decode(&payload, &Options::default()) else {
            panic!("not MPM");
        };
        assert_eq!(d.scheme(), "promptpay");
        assert_eq!(d.amount.map(|a| a.minor()), Some(10000));
        let bad: Result<MpmSpec, _> = serde_json::from_str(r#"{"colour": "red"}"#);
        assert!(bad.is_err());
        let e = MpmSpec {
            currency: Some("XYZ".into()),
            ..MpmSpec::default()
        }
        .to_objects();
        assert_eq!(e, Err(EncodeError::Currency("XYZ".into())));
    }
}
