//! The decode JSON of SPEC §5, serialised straight from the borrowed
//! decoded view (no intermediate tree of values).

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::mpm::{ADDITIONAL_FIELDS, Decoded};
use crate::rule::Warning;
use crate::tlv::{Tlv, Tree};
use crate::{DecodeError, Format};

/// `{"valid": true, ...}` for a decoded code.
#[derive(Debug)]
pub struct ValidJson<'d, 'a>(pub &'d Decoded<'a>);

/// `{"valid": false, "error": {...}}` for a refused payload.
#[derive(Debug)]
pub struct InvalidJson<'e>(pub &'e DecodeError);

impl Serialize for InvalidJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("valid", &false)?;
        m.serialize_entry("error", self.0)?;
        m.end()
    }
}

impl Serialize for ValidJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let code = &d.code;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("valid", &true)?;
        m.serialize_entry("format", Format::EmvcoMpm.as_str())?;
        m.serialize_entry("scheme", d.scheme())?;
        m.serialize_entry("schemes", d.schemes.as_slice())?;
        m.serialize_entry("initiation", &d.initiation)?;
        m.serialize_entry("merchant", &d.merchant)?;
        m.serialize_entry("currency", &d.currency.map(|c| c.code()))?;
        m.serialize_entry("amount", &d.amount.map(|a| a.to_string()))?;
        m.serialize_entry("accounts", &Accounts(d))?;
        m.serialize_entry("additional", &Additional(&code.tree, code.get(62)))?;
        m.serialize_entry(
            "merchant_alternate_language",
            &Language(&code.tree, code.get(64)),
        )?;
        m.serialize_entry("convenience_fee", &Convenience(d))?;
        m.serialize_entry(
            "expires_at",
            &d.expiry.as_ref().map(|x| rfc3339_ms(x.at_unix_ms)),
        )?;
        m.serialize_entry("expired", &d.expired)?;
        m.serialize_entry("tags", &Objects::all(&code.tree, code.tree.objects()))?;
        m.serialize_entry("warnings", &d.warnings)?;
        m.end()
    }
}

/// A level of the tree as an object of tag ids; `skip` leaves one id out
/// (the GUID of an account template, shown apart); `from` keeps only ids
/// at or above it (62's 50-99 templates).
struct Objects<'t, 'a> {
    tree: &'t Tree<'a>,
    objects: &'t [Tlv<'a>],
    skip: Option<u8>,
    from: u8,
}

impl<'t, 'a> Objects<'t, 'a> {
    fn all(tree: &'t Tree<'a>, objects: &'t [Tlv<'a>]) -> Self {
        Objects {
            tree,
            objects,
            skip: None,
            from: 0,
        }
    }

    fn shown(&self) -> impl Iterator<Item = &'t Tlv<'a>> + '_ {
        self.objects
            .iter()
            .filter(|t| Some(t.id) != self.skip && t.id >= self.from)
    }
}

impl Serialize for Objects<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for t in self.shown() {
            let key = TagKey(t.id);
            match self.tree.children(t) {
                Some(children) => m.serialize_entry(&key, &Objects::all(self.tree, children))?,
                None => m.serialize_entry(&key, t.value)?,
            }
        }
        m.end()
    }
}

/// A two-digit tag id as a map key, without allocating.
struct TagKey(u8);

impl Serialize for TagKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let digits = [b'0' + self.0 / 10 % 10, b'0' + self.0 % 10];
        s.serialize_str(std::str::from_utf8(&digits).unwrap_or("??"))
    }
}

struct Accounts<'d, 'a>(&'d Decoded<'a>);

impl Serialize for Accounts<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut seq = s.serialize_seq(Some(d.accounts.len()))?;
        for account in &d.accounts {
            let Some(object) = d.code.tree.objects().get(account.index) else {
                continue;
            };
            seq.serialize_element(&AccountJson {
                tree: &d.code.tree,
                object,
                scheme: account.scheme,
                named: &account.named,
            })?;
        }
        seq.end()
    }
}

struct AccountJson<'t, 'a> {
    tree: &'t Tree<'a>,
    object: &'t Tlv<'a>,
    scheme: Option<&'static str>,
    named: &'t crate::profile::Named<'a>,
}

impl Serialize for AccountJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("tag", &TagKey(self.object.id))?;
        m.serialize_entry("scheme", &self.scheme)?;
        match self.tree.children(self.object) {
            Some(children) => {
                m.serialize_entry("guid", &self.tree.child_value(self.object, 0))?;
                let fields = Objects {
                    tree: self.tree,
                    objects: children,
                    skip: Some(0),
                    from: 0,
                };
                m.serialize_entry("fields", &fields)?;
            }
            None => m.serialize_entry("value", self.object.value)?,
        }
        m.serialize_entry("named", &Pairs(self.named))?;
        m.end()
    }
}

struct Pairs<'p, 'a>(&'p crate::profile::Named<'a>);

impl Serialize for Pairs<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

struct Additional<'t, 'a>(&'t Tree<'a>, Option<&'t Tlv<'a>>);

impl Serialize for Additional<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        let children = self.1.and_then(|t| self.0.children(t)).unwrap_or(&[]);
        for sub in children {
            if let Some((_, name, _)) = ADDITIONAL_FIELDS.iter().find(|f| f.0 == sub.id) {
                m.serialize_entry(name, sub.value)?;
            }
        }
        if children.iter().any(|c| c.id >= 50) {
            let templates = Objects {
                tree: self.0,
                objects: children,
                skip: None,
                from: 50,
            };
            m.serialize_entry("payment_system_specific", &templates)?;
        }
        m.end()
    }
}

struct Language<'t, 'a>(&'t Tree<'a>, Option<&'t Tlv<'a>>);

impl Serialize for Language<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let tree = self.0;
        let Some(t) = self.1.filter(|t| t.is_template()) else {
            return s.serialize_none();
        };
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("language", &tree.child_value(t, 0))?;
        m.serialize_entry("name", &tree.child_value(t, 1))?;
        m.serialize_entry("city", &tree.child_value(t, 2))?;
        m.end()
    }
}

struct Convenience<'d, 'a>(&'d Decoded<'a>);

impl Serialize for Convenience<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let code = &self.0.code;
        let indicator = match code.value(55) {
            Some("01") => "prompt",
            Some("02") => "fixed",
            Some("03") => "percentage",
            _ => return s.serialize_none(),
        };
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("indicator", indicator)?;
        m.serialize_entry("fixed", &code.value(56))?;
        m.serialize_entry("percentage", &code.value(57))?;
        m.end()
    }
}

/// Unix milliseconds as RFC 3339 UTC.
pub fn rfc3339_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// The keys every format's JSON shares, for formats without them.
fn common<M: SerializeMap>(
    m: &mut M,
    format: Format,
    scheme: &str,
    schemes: &[&str],
) -> Result<(), M::Error> {
    m.serialize_entry("valid", &true)?;
    m.serialize_entry("format", format.as_str())?;
    m.serialize_entry("scheme", scheme)?;
    m.serialize_entry("schemes", schemes)?;
    Ok(())
}

/// `{"valid": true, "format": "emvco-cpm", ...}`.
#[derive(Debug)]
pub struct CpmJson<'d>(pub &'d crate::cpm::Decoded);

impl Serialize for CpmJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut m = s.serialize_map(None)?;
        common(&mut m, Format::EmvcoCpm, d.scheme(), &d.schemes)?;
        m.serialize_entry("initiation", &None::<()>)?;
        m.serialize_entry("merchant", &None::<()>)?;
        m.serialize_entry("currency", &None::<()>)?;
        m.serialize_entry("amount", &None::<()>)?;
        let apps: Vec<serde_json::Value> = d
            .applications
            .iter()
            .map(|a| serde_json::json!({"aid": a.aid, "label": a.label, "scheme": a.scheme}))
            .collect();
        m.serialize_entry("applications", &apps)?;
        m.serialize_entry("pan_last4", &d.pan_last4)?;
        m.serialize_entry("cardholder_name", &d.cardholder_name)?;
        m.serialize_entry("language", &d.language)?;
        m.serialize_entry("tags", &BerObjects(&d.objects))?;
        m.serialize_entry("warnings", &[] as &[Warning])?;
        m.end()
    }
}

/// SPEC §5: uppercase hex keys; a constructed tag is an object of its
/// children; a tag repeated at one level is a list; text elements as text,
/// all others as uppercase hex.
struct BerObjects<'t>(&'t [crate::cpm::Ber]);

impl Serialize for BerObjects<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut keys: Vec<&[u8]> = Vec::new();
        for o in self.0 {
            if !keys.contains(&o.tag.as_slice()) {
                keys.push(&o.tag);
            }
        }
        let mut m = s.serialize_map(Some(keys.len()))?;
        for key in keys {
            let same: Vec<&crate::cpm::Ber> = self.0.iter().filter(|o| o.tag == key).collect();
            let hex = crate::cpm::hex_upper(key);
            match same.as_slice() {
                [one] => m.serialize_entry(&hex, &BerValue(one))?,
                many => {
                    let values: Vec<BerValue<'_>> = many.iter().map(|o| BerValue(o)).collect();
                    m.serialize_entry(&hex, &values)?;
                }
            }
        }
        m.end()
    }
}

struct BerValue<'t>(&'t crate::cpm::Ber);

impl Serialize for BerValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = self.0;
        match &o.children {
            Some(children) => BerObjects(children).serialize(s),
            None if crate::cpm::TEXT_TAGS.contains(&o.tag.as_slice()) => {
                s.serialize_str(&String::from_utf8_lossy(&o.value))
            }
            None => s.serialize_str(&crate::cpm::hex_upper(&o.value)),
        }
    }
}

/// `{"valid": true, "format": "cn-payment-code", ...}`: the code itself is a
/// bearer secret and is not repeated.
#[derive(Debug)]
pub struct PaymentCodeJson<'d>(pub &'d crate::cn::PaymentCode);

impl Serialize for PaymentCodeJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(None)?;
        common(&mut m, Format::CnPaymentCode, c.scheme, &[c.scheme])?;
        m.serialize_entry("initiation", &None::<()>)?;
        m.serialize_entry("merchant", &None::<()>)?;
        m.serialize_entry("currency", &None::<()>)?;
        m.serialize_entry("amount", &None::<()>)?;
        m.serialize_entry(
            "payment_code",
            &serde_json::json!({"length": c.length, "prefix": c.prefix, "last4": c.last4, "region": c.region}),
        )?;
        m.serialize_entry("tags", &serde_json::Map::new())?;
        m.serialize_entry("warnings", &[] as &[Warning])?;
        m.end()
    }
}

/// `{"valid": true, "format": "cn-merchant-url", ...}`.
#[derive(Debug)]
pub struct MerchantUrlJson<'d>(pub &'d crate::cn::MerchantUrl);

impl Serialize for MerchantUrlJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let mut m = s.serialize_map(None)?;
        common(&mut m, Format::CnMerchantUrl, u.scheme, &[u.scheme])?;
        m.serialize_entry("initiation", &None::<()>)?;
        m.serialize_entry("merchant", &None::<()>)?;
        m.serialize_entry("currency", &None::<()>)?;
        m.serialize_entry("amount", &None::<()>)?;
        let query: serde_json::Map<String, serde_json::Value> = u
            .query
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        m.serialize_entry(
            "url",
            &serde_json::json!({"url": u.url, "scheme": u.url_scheme, "host": u.host, "path": u.path, "query": query, "token": u.token}),
        )?;
        m.serialize_entry("tags", &serde_json::Map::new())?;
        m.serialize_entry("warnings", &[] as &[Warning])?;
        m.end()
    }
}

/// `{"valid": true, "format": "upi-uri", ...}`.
#[derive(Debug)]
pub struct UpiJson<'d>(pub &'d crate::cn::UpiUri);

impl Serialize for UpiJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let mut m = s.serialize_map(None)?;
        common(&mut m, Format::UpiUri, "upi", &["upi"])?;
        // A transaction reference marks a dynamic (single-order) link.
        let initiation = if u.get("tr").is_some_and(|t| !t.is_empty()) {
            "dynamic"
        } else {
            "static"
        };
        m.serialize_entry("initiation", initiation)?;
        m.serialize_entry(
            "merchant",
            &serde_json::json!({"name": u.get("pn"), "city": null, "mcc": u.get("mc"), "country": "IN", "postal_code": null}),
        )?;
        m.serialize_entry("currency", "INR")?;
        m.serialize_entry("amount", &u.amount.map(|a| a.to_string()))?;
        let named: serde_json::Map<String, serde_json::Value> = [
            ("vpa", "pa"),
            ("payee_name", "pn"),
            ("transaction_reference", "tr"),
            ("transaction_id", "tid"),
            ("note", "tn"),
            ("minimum_amount", "mam"),
            ("reference_url", "url"),
        ]
        .iter()
        .filter_map(|(name, key)| {
            u.get(key)
                .filter(|v| !v.is_empty() && *v != "null")
                .map(|v| (name.to_string(), serde_json::Value::String(v.to_string())))
        })
        .collect();
        m.serialize_entry(
            "accounts",
            &[serde_json::json!({"tag": null, "scheme": "upi", "named": named})],
        )?;
        let params: serde_json::Map<String, serde_json::Value> = u
            .params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        m.serialize_entry("params", &params)?;
        m.serialize_entry("tags", &serde_json::Map::new())?;
        m.serialize_entry("warnings", &[] as &[Warning])?;
        m.end()
    }
}
