//! EMVCo consumer-presented mode (EMV QRCPS CPM v1.0): base64 of BER-TLV.
//!
//! `85` "CPV01" first; one or more application templates `61`, each with its
//! ADF name `4F` and possibly an application specific transparent template
//! `63`; an optional common data template `62`, possibly holding a common
//! data transparent template `64`. Tags are BER (multi-byte when the low
//! five bits of the first byte are all set), lengths short or long form.
//!
//! Sources: the specification's example as reproduced by mvallim/emv-qrcode
//! (`DecoderCpmTest`, `ConsumerPresentedModeValidator`) and
//! dongri/emv-qrcode (`emvco/cpm`); UnionPay International's developer
//! portal (CPM is EMVCo-compatible).
//!
//! The PAN (`5A`) and track 2 (`57`) are secrets: the decoded view reports
//! only their last four digits by name; the raw `tags` tree is the caller's
//! own input, given back as SPEC §5 defines.

use base64::Engine;

use crate::error::{DecodeError, ErrorCode};

/// One BER-TLV data object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ber {
    /// The tag bytes (`[0x9F, 0x26]`).
    pub tag: Vec<u8>,
    /// The value bytes (for a constructed object, its encoded children).
    pub value: Vec<u8>,
    /// Parsed children of a constructed object.
    pub children: Option<Vec<Ber>>,
    /// Byte offset of the tag in the decoded bytes.
    pub offset: usize,
}

impl Ber {
    /// The tag as uppercase hex (`9F26`).
    pub fn tag_hex(&self) -> String {
        hex_upper(&self.tag)
    }

    /// Whether this is the one-byte tag `t`.
    pub fn is(&self, t: u8) -> bool {
        self.tag.as_slice() == [t]
    }

    /// The first child with tag bytes `tag`.
    pub fn child(&self, tag: &[u8]) -> Option<&Ber> {
        self.children.as_deref()?.iter().find(|c| c.tag == tag)
    }
}

/// Uppercase hex of bytes.
pub fn hex_upper(bytes: &[u8]) -> String {
    let digit = |n: u8| char::from(if n < 10 { b'0' + n } else { b'A' + n - 10 });
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(digit(b >> 4));
        s.push(digit(b & 0x0F));
    }
    s
}

/// Tags whose values the specification defines as text.
pub const TEXT_TAGS: [&[u8]; 6] = [
    &[0x85],
    &[0x50],
    &[0x5F, 0x20],
    &[0x5F, 0x2D],
    &[0x5F, 0x50],
    &[0x9F, 0x12],
];

/// Whether a payload looks like CPM: base64 whose bytes begin with `85`
/// (in base64, `hQ`).
pub fn looks_like(payload: &str) -> bool {
    payload.starts_with("hQ")
}

/// Parse BER-TLV objects from `bytes` (at `base` in the whole input).
pub fn parse_ber(bytes: &[u8], base: usize, depth: u8) -> Result<Vec<Ber>, DecodeError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let offset = base + i;
        // Tag.
        let first = *bytes.get(i).ok_or_else(|| truncated(offset, "a tag"))?;
        let mut end = i + 1;
        if first & 0x1F == 0x1F {
            loop {
                let b = *bytes
                    .get(end)
                    .ok_or_else(|| truncated(offset, "a multi-byte tag"))?;
                end += 1;
                if b & 0x80 == 0 {
                    break;
                }
                if end - i > 4 {
                    return Err(DecodeError::new(
                        ErrorCode::BadValue,
                        format!("tag at byte {offset} is longer than 4 bytes"),
                    )
                    .at(offset));
                }
            }
        }
        let tag = bytes.get(i..end).unwrap_or_default().to_vec();
        let tag_hex = hex_upper(&tag);
        // Length.
        let l0 = *bytes
            .get(end)
            .ok_or_else(|| truncated(offset, "the length").tag(tag_hex.clone()))?;
        let mut pos = end + 1;
        let len = if l0 < 0x80 {
            usize::from(l0)
        } else {
            let n = usize::from(l0 & 0x7F);
            if n == 0 || n > 3 {
                return Err(DecodeError::new(
                    ErrorCode::BadLength,
                    format!("tag {tag_hex} at byte {offset} has length byte {l0:#04X}: an indefinite or over-long length"),
                )
                .at(offset)
                .tag(tag_hex));
            }
            let mut len = 0usize;
            for _ in 0..n {
                let b = *bytes
                    .get(pos)
                    .ok_or_else(|| truncated(offset, "a long-form length").tag(tag_hex.clone()))?;
                len = (len << 8) | usize::from(b);
                pos += 1;
            }
            len
        };
        let value = bytes.get(pos..pos + len).ok_or_else(|| {
            DecodeError::new(
                ErrorCode::Truncated,
                format!(
                    "tag {tag_hex} at byte {offset} declares {len} bytes but only {} remain",
                    bytes.len() - pos
                ),
            )
            .at(offset)
            .tag(tag_hex.clone())
        })?;
        let constructed = first & 0x20 != 0;
        let children = if constructed {
            if depth >= 4 {
                return Err(DecodeError::new(
                    ErrorCode::BadValue,
                    format!("tag {tag_hex} nests too deep"),
                )
                .at(offset)
                .tag(tag_hex));
            }
            Some(parse_ber(value, base + pos, depth + 1)?)
        } else {
            None
        };
        out.push(Ber {
            tag,
            value: value.to_vec(),
            children,
            offset,
        });
        i = pos + len;
    }
    Ok(out)
}

fn truncated(offset: usize, what: &str) -> DecodeError {
    DecodeError::new(
        ErrorCode::Truncated,
        format!("payload ends inside {what} at byte {offset}"),
    )
    .at(offset)
}

/// One application of a CPM code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub aid: String,
    pub label: Option<String>,
    pub scheme: Option<&'static str>,
}

/// A validated CPM payload.
#[derive(Clone, Debug)]
pub struct Decoded {
    pub objects: Vec<Ber>,
    pub applications: Vec<Application>,
    pub schemes: Vec<&'static str>,
    /// Last four digits of the PAN (from `5A`, or `57` before the separator).
    pub pan_last4: Option<String>,
    pub cardholder_name: Option<String>,
    pub language: Option<String>,
}

impl Decoded {
    /// The governing scheme: that of the first application, else `emvco`.
    pub fn scheme(&self) -> &'static str {
        self.schemes.first().copied().unwrap_or("emvco")
    }
}

/// The payment network of an AID, by its registered application provider
/// identifier (the first five bytes).
pub fn scheme_of_aid(aid_hex: &str) -> Option<&'static str> {
    let rid = aid_hex.get(..10)?;
    Some(match rid {
        "A000000003" => "visa",
        "A000000004" => "mastercard",
        "A000000025" => "amex",
        "A000000065" => "jcb",
        "A000000152" => "discover",
        "A000000333" => "unionpay",
        "A000000524" => "rupay",
        "A000000602" => "qris",
        "A000000615" => "duitnow",
        "A000000677" => "promptpay",
        _ => return None,
    })
}

/// Decode a CPM payload (base64 text).
pub fn decode(payload: &str) -> Result<Decoded, DecodeError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|e| {
            DecodeError::new(
                ErrorCode::BadValue,
                format!("consumer-presented payload is not standard base64: {e}"),
            )
        })?;
    let objects = parse_ber(&bytes, 0, 0)?;
    validate(objects)
}

fn validate(objects: Vec<Ber>) -> Result<Decoded, DecodeError> {
    let first = objects
        .first()
        .ok_or_else(|| DecodeError::new(ErrorCode::Truncated, "empty payload").at(0))?;
    if !first.is(0x85) || first.value != b"CPV01" {
        return Err(DecodeError::new(
            ErrorCode::BadFormatIndicator,
            format!(
                "a consumer-presented payload starts with 85 \"CPV01\"; this starts with {} {:?}",
                first.tag_hex(),
                String::from_utf8_lossy(&first.value)
            ),
        )
        .at(first.offset)
        .tag(first.tag_hex()));
    }
    // Top level: 85 once, 61 one or more, 62 at most once; nothing else.
    let mut seen_62 = false;
    for o in objects.iter().skip(1) {
        match o.tag.as_slice() {
            [0x61] => {}
            [0x62] if !seen_62 => seen_62 = true,
            [0x62] | [0x85] => {
                return Err(DecodeError::new(
                    ErrorCode::DuplicateTag,
                    format!("tag {} appears twice at the top level", o.tag_hex()),
                )
                .at(o.offset)
                .tag(o.tag_hex()));
            }
            _ => {
                return Err(DecodeError::new(
                    ErrorCode::BadValue,
                    format!(
                        "tag {} at byte {} is not allowed at the top level (only 85, 61 and 62)",
                        o.tag_hex(),
                        o.offset
                    ),
                )
                .at(o.offset)
                .tag(o.tag_hex()));
            }
        }
        if o.children.is_none() {
            return Err(DecodeError::new(
                ErrorCode::BadValue,
                format!("tag {} must be a constructed template", o.tag_hex()),
            )
            .at(o.offset)
            .tag(o.tag_hex()));
        }
    }
    let apps: Vec<&Ber> = objects.iter().filter(|o| o.is(0x61)).collect();
    if apps.is_empty() {
        return Err(DecodeError::new(
            ErrorCode::MissingTag,
            "a consumer-presented payload carries at least one application template (61)",
        )
        .tag("61"));
    }
    let common = objects.iter().find(|o| o.is(0x62));
    for t in apps.iter().copied().chain(common) {
        let children = t.children.as_deref().unwrap_or_default();
        let nested = if t.is(0x61) { 0x63 } else { 0x64 };
        let mut tags: Vec<&[u8]> = Vec::new();
        for c in children {
            if tags.contains(&c.tag.as_slice()) {
                return Err(DecodeError::new(
                    ErrorCode::DuplicateTag,
                    format!(
                        "tag {} appears twice in template {}",
                        c.tag_hex(),
                        t.tag_hex()
                    ),
                )
                .at(c.offset)
                .tag(c.tag_hex()));
            }
            tags.push(&c.tag);
            if matches!(c.tag.as_slice(), [0x61] | [0x62] | [0x63] | [0x64])
                && c.tag.as_slice() != [nested]
            {
                return Err(DecodeError::new(
                    ErrorCode::BadValue,
                    format!(
                        "template {} may not hold template {}",
                        t.tag_hex(),
                        c.tag_hex()
                    ),
                )
                .at(c.offset)
                .tag(c.tag_hex()));
            }
            if let Some(grand) = &c.children {
                let mut inner: Vec<&[u8]> = Vec::new();
                for g in grand {
                    if inner.contains(&g.tag.as_slice()) || tags.contains(&g.tag.as_slice()) {
                        return Err(DecodeError::new(
                            ErrorCode::DuplicateTag,
                            format!(
                                "tag {} appears twice in template {}",
                                g.tag_hex(),
                                t.tag_hex()
                            ),
                        )
                        .at(g.offset)
                        .tag(g.tag_hex()));
                    }
                    inner.push(&g.tag);
                }
            }
        }
        if t.is(0x61) {
            match t.child(&[0x4F]) {
                None => {
                    return Err(DecodeError::new(
                        ErrorCode::MissingTag,
                        "an application template (61) carries its ADF name (4F)",
                    )
                    .at(t.offset)
                    .tag("61.4F"));
                }
                Some(a) if !(5..=16).contains(&a.value.len()) => {
                    return Err(DecodeError::new(
                        ErrorCode::BadLength,
                        format!(
                            "an ADF name (4F) is 5 to 16 bytes; this is {}",
                            a.value.len()
                        ),
                    )
                    .at(a.offset)
                    .tag("4F"));
                }
                Some(_) => {}
            }
        }
    }
    // A data object defined in an application and in the common template
    // would be ambiguous: which one applies?
    if let Some(common) = common {
        for c in common.children.as_deref().unwrap_or_default() {
            if c.is(0x64) {
                continue;
            }
            if apps.iter().any(|a| a.child(&c.tag).is_some()) {
                return Err(DecodeError::new(
                    ErrorCode::DuplicateTag,
                    format!("tag {} is defined both in an application template and in the common data template", c.tag_hex()),
                )
                .at(c.offset)
                .tag(c.tag_hex()));
            }
        }
    }
    for t in find_all(&objects) {
        if TEXT_TAGS.contains(&t.tag.as_slice()) && std::str::from_utf8(&t.value).is_err() {
            return Err(DecodeError::new(
                ErrorCode::BadValue,
                format!("tag {} is text but not valid UTF-8", t.tag_hex()),
            )
            .at(t.offset)
            .tag(t.tag_hex()));
        }
    }

    let applications: Vec<Application> = apps
        .iter()
        .map(|a| {
            let aid = a
                .child(&[0x4F])
                .map(|x| hex_upper(&x.value))
                .unwrap_or_default();
            Application {
                scheme: scheme_of_aid(&aid),
                label: a
                    .child(&[0x50])
                    .map(|x| String::from_utf8_lossy(&x.value).into_owned()),
                aid,
            }
        })
        .collect();
    let mut schemes = Vec::new();
    for s in applications.iter().filter_map(|a| a.scheme) {
        if !schemes.contains(&s) {
            schemes.push(s);
        }
    }
    let all = find_all(&objects);
    let find = |tag: &[u8]| all.iter().copied().find(|o| o.tag == tag);
    let pan_last4 = find(&[0x5A])
        .map(|o| digits_of(&o.value))
        .or_else(|| {
            find(&[0x57]).map(|o| {
                digits_of(&o.value)
                    .split('D')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
        })
        .map(|d| {
            d.get(d.len().saturating_sub(4)..)
                .unwrap_or_default()
                .to_string()
        });
    let text = |tag: &[u8]| find(tag).map(|o| String::from_utf8_lossy(&o.value).into_owned());
    let cardholder_name = text(&[0x5F, 0x20]);
    let language = text(&[0x5F, 0x2D]);
    drop(all);
    Ok(Decoded {
        applications,
        schemes,
        pan_last4,
        cardholder_name,
        language,
        objects,
    })
}

/// BCD nibbles as digits, `F` padding dropped (the track 2 separator stays
/// as `D`); ASCII digits (as some issuers write) pass through.
fn digits_of(value: &[u8]) -> String {
    if value.iter().all(u8::is_ascii_digit) {
        return String::from_utf8_lossy(value).into_owned();
    }
    hex_upper(value).trim_end_matches('F').to_string()
}

fn find_all(objects: &[Ber]) -> Vec<&Ber> {
    let mut out = Vec::new();
    for o in objects {
        out.push(o);
        if let Some(c) = &o.children {
            out.extend(find_all(c));
        }
    }
    out
}

/// Encode BER-TLV objects (from their tags, values and children).
pub fn encode_ber(objects: &[Ber]) -> Vec<u8> {
    let mut out = Vec::new();
    for o in objects {
        let value = match &o.children {
            Some(c) => encode_ber(c),
            None => o.value.clone(),
        };
        out.extend_from_slice(&o.tag);
        // Short form below 128, else long form with the fewest bytes.
        let len = value.len().to_be_bytes();
        let significant = len.iter().position(|b| *b != 0).unwrap_or(len.len() - 1);
        let len_bytes = len.get(significant..).unwrap_or_default();
        match len_bytes {
            [b] if *b < 0x80 => out.push(*b),
            bytes => {
                out.push(0x80 | u8::try_from(bytes.len()).unwrap_or(0x7F));
                out.extend_from_slice(bytes);
            }
        }
        out.extend_from_slice(&value);
    }
    out
}

/// Objects from the `tags` tree of the decode JSON (SPEC §5): uppercase hex
/// keys; text elements as text, others as hex; a constructed tag an object;
/// a repeated tag a list.
pub fn objects_from_json(tree: &serde_json::Value) -> Result<Vec<Ber>, DecodeError> {
    fn bad(what: String) -> DecodeError {
        DecodeError::new(ErrorCode::BadValue, what)
    }
    fn one(tag: &[u8], value: &serde_json::Value, key: &str) -> Result<Ber, DecodeError> {
        Ok(match value {
            serde_json::Value::Object(_) => Ber {
                tag: tag.to_vec(),
                value: Vec::new(),
                children: Some(objects_from_json(value)?),
                offset: 0,
            },
            serde_json::Value::String(s) if TEXT_TAGS.contains(&tag) => Ber {
                tag: tag.to_vec(),
                value: s.as_bytes().to_vec(),
                children: None,
                offset: 0,
            },
            serde_json::Value::String(s) => Ber {
                tag: tag.to_vec(),
                value: from_hex(s).ok_or_else(|| bad(format!("tag {key}: {s:?} is not hex")))?,
                children: None,
                offset: 0,
            },
            _ => return Err(bad(format!("tag {key} must be text, hex or an object"))),
        })
    }
    let map = tree
        .as_object()
        .ok_or_else(|| bad("the tags tree must be an object".into()))?;
    let mut out = Vec::new();
    for (key, value) in map {
        let tag = from_hex(key)
            .filter(|t| !t.is_empty() && t.len() <= 4)
            .ok_or_else(|| bad(format!("{key:?} is not a hex tag")))?;
        match value {
            serde_json::Value::Array(items) => {
                for item in items {
                    out.push(one(&tag, item, key)?);
                }
            }
            _ => out.push(one(&tag, value, key)?),
        }
    }
    Ok(out)
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Encode objects as a CPM payload (base64), checked by decoding it.
pub fn encode(objects: &[Ber]) -> Result<String, DecodeError> {
    let payload = base64::engine::general_purpose::STANDARD.encode(encode_ber(objects));
    decode(&payload)?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==";

    #[test]
    fn spec_example() {
        let d = decode(SPEC).unwrap();
        assert_eq!(d.applications.len(), 2);
        assert_eq!(d.applications[0].aid, "A0000000555555");
        assert_eq!(d.applications[1].label.as_deref(), Some("Product2"));
        assert_eq!(d.pan_last4.as_deref(), Some("3458"));
        assert_eq!(d.cardholder_name.as_deref(), Some("CARDHOLDER/EMV"));
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(encode_ber(&d.objects)),
            SPEC
        );
    }

    #[test]
    fn long_form_lengths() {
        let objects = vec![
            Ber {
                tag: vec![0x85],
                value: b"CPV01".to_vec(),
                children: None,
                offset: 0,
            },
            Ber {
                tag: vec![0x61],
                value: vec![],
                children: Some(vec![
                    Ber {
                        tag: vec![0x4F],
                        value: vec![0xA0, 0, 0, 3, 0x33, 1, 1, 1],
                        children: None,
                        offset: 0,
                    },
                    Ber {
                        tag: vec![0x9F, 0x74],
                        value: vec![b'x'; 200],
                        children: None,
                        offset: 0,
                    },
                ]),
                offset: 0,
            },
        ];
        let bytes = encode_ber(&objects);
        assert_eq!(&bytes[7..10], &[0x61, 0x81, 0xD6]);
        let back = parse_ber(&bytes, 0, 0).unwrap();
        assert_eq!(back[1].children.as_ref().unwrap()[1].value.len(), 200);
    }
}
