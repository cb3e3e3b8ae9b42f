//! EMVCo merchant-presented mode: structure, CRC, the generic rules of EMV
//! QRCPS MPM v1.1, and the decoded view with the governing profile's fields.

use std::borrow::Cow;

use crate::amount::{Amount, parse_amount};
use crate::error::{DecodeError, ErrorCode};
use crate::profile::{self, Named, Profile};
use crate::rule::{Rule, Violation, Warning};
use crate::tlv::{self, Tlv, Tree};

/// How the code was generated (tag 01).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Initiation {
    /// `11`: may be paid many times.
    Static,
    /// `12`: one payment (single use).
    Dynamic,
}

/// A structurally sound MPM payload with a correct CRC, before validation.
#[derive(Clone, Debug)]
pub struct Code<'a> {
    pub payload: &'a str,
    pub tree: Tree<'a>,
    /// Top-level id → index + 1 in `tree.objects()` (0: absent), so lookups
    /// by id do not scan; the first occurrence wins.
    index: [u16; 100],
}

impl<'a> Code<'a> {
    /// A parsed payload.
    pub fn new(payload: &'a str, tree: Tree<'a>) -> Self {
        let mut code = Code {
            payload,
            tree,
            index: [0; 100],
        };
        code.index_objects();
        code
    }

    /// Fill the by-id index (in place: a `Code` is large to move).
    fn index_objects(&mut self) {
        // Backwards, so that the first occurrence is written last and wins.
        for (i, o) in self.tree.objects().iter().enumerate().rev() {
            if let Some(slot) = self.index.get_mut(usize::from(o.id)) {
                *slot = u16::try_from(i + 1).unwrap_or(0);
            }
        }
    }

    /// The top-level object with `id`.
    pub fn get(&self, id: u8) -> Option<&Tlv<'a>> {
        match self.index.get(usize::from(id)) {
            Some(0) | None => None,
            Some(&i) => self.tree.objects().get(usize::from(i) - 1),
        }
    }

    /// The value of the top-level object with `id`.
    pub fn value(&self, id: u8) -> Option<&'a str> {
        self.get(id).map(|t| t.value)
    }

    /// Tag 01 read as static or dynamic.
    pub fn initiation(&self) -> Option<Initiation> {
        match self.value(1)? {
            "11" => Some(Initiation::Static),
            "12" => Some(Initiation::Dynamic),
            _ => None,
        }
    }

    /// The sub-objects of a parsed template.
    pub fn children(&self, t: &Tlv<'a>) -> Option<&[Tlv<'a>]> {
        self.tree.children(t)
    }

    /// The child with `id` of a parsed template.
    pub fn child(&self, t: &Tlv<'a>, id: u8) -> Option<&Tlv<'a>> {
        self.tree.child(t, id)
    }

    /// The value of the child with `id` of a parsed template.
    pub fn child_value(&self, t: &Tlv<'a>, id: u8) -> Option<&'a str> {
        self.tree.child_value(t, id)
    }

    /// The character position of the object at `path` (`"99.01"`).
    pub fn position_of(&self, path: &str) -> Option<usize> {
        let mut objects = self.tree.objects();
        let mut found = None;
        for part in path.split('.') {
            let id: u8 = part.parse().ok()?;
            let t = objects.iter().find(|t| t.id == id)?;
            found = Some(t.position);
            objects = self.tree.children(t).unwrap_or(&[]);
        }
        found
    }

    /// The merchant account entries, 02-51, in payload order.
    pub fn accounts(&self) -> impl Iterator<Item = &Tlv<'a>> {
        self.tree
            .objects()
            .iter()
            .filter(|o| (2..=51).contains(&o.id))
    }
}

/// One merchant account entry with the scheme it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account<'a> {
    /// Index of the entry in `Decoded::code.tree.objects()`.
    pub index: usize,
    pub tag: u8,
    pub scheme: Option<&'static str>,
    pub named: Named<'a>,
}

/// The merchant as the code describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Merchant<'a> {
    pub name: Option<&'a str>,
    pub city: Option<&'a str>,
    pub mcc: Option<&'a str>,
    pub country: Option<&'a str>,
    pub postal_code: Option<&'a str>,
}

/// The names EMVCo gives the sub-fields 01-11 of tag 62, with their
/// maximum lengths.
pub const ADDITIONAL_FIELDS: [(u8, &str, usize); 11] = [
    (1, "bill_number", 25),
    (2, "mobile_number", 25),
    (3, "store_label", 25),
    (4, "loyalty_number", 25),
    (5, "reference_label", 25),
    (6, "customer_label", 25),
    (7, "terminal_label", 25),
    (8, "purpose_of_transaction", 25),
    (9, "additional_consumer_data_request", 3),
    (10, "merchant_tax_id", 20),
    (11, "merchant_channel", 3),
];

/// The schemes a code carries; inline, since nearly every code carries one
/// or two (no allocation per decode).
pub type Schemes = smallvec::SmallVec<[&'static str; 4]>;

/// A code's merchant account entries; the first inline (two would take the
/// boxed view past the allocator's small-object size).
pub type Accounts<'a> = smallvec::SmallVec<[Account<'a>; 1]>;

/// A validated MPM code.
#[derive(Clone, Debug)]
pub struct Decoded<'a> {
    pub code: Code<'a>,
    /// The profile that validated the code.
    pub profile: &'static dyn Profile,
    /// Every scheme the code carries, in payload order, without repeats.
    pub schemes: Schemes,
    pub initiation: Option<Initiation>,
    pub merchant: Merchant<'a>,
    pub currency: Option<iso_currency::Currency>,
    pub amount: Option<Amount>,
    pub accounts: Accounts<'a>,
    pub warnings: Vec<Warning>,
    /// The expiry the code carries (KHQR, PayNow, FPS), if any.
    pub expiry: Option<profile::Expiry>,
    /// Whether that expiry has passed; `None` without an expiry or a clock.
    pub expired: Option<bool>,
}

impl Decoded<'_> {
    /// The governing scheme's name.
    pub fn scheme(&self) -> &'static str {
        self.profile.scheme()
    }
}

/// Parse and check structure, the format indicator and the CRC.
pub fn parse(payload: &str) -> Result<Code<'_>, DecodeError> {
    parse_tree(payload).map(|tree| Code::new(payload, tree))
}

/// Parse, check and validate a payload (see [`parse`] and [`validate`]):
/// the decoded view is built once, on the heap, and filled in place.
pub fn decode<'a>(
    payload: &'a str,
    forced: Option<&'static dyn Profile>,
    context: &profile::Context,
) -> Result<Box<Decoded<'a>>, DecodeError> {
    let tree = parse_tree(payload)?;
    let mut decoded = Decoded::unvalidated(payload, tree);
    fill(&mut decoded, forced, context)?;
    Ok(decoded)
}

fn parse_tree(payload: &str) -> Result<Tree<'_>, DecodeError> {
    if payload.is_empty() {
        return Err(DecodeError::new(ErrorCode::Truncated, "empty payload").at(0));
    }
    if "000201".starts_with(payload) {
        return Err(DecodeError::new(
            ErrorCode::Truncated,
            format!(
                "payload ends after {} characters, inside the payload format indicator",
                payload.len()
            ),
        )
        .at(payload.len()));
    }
    if !payload.starts_with("00") {
        return Err(DecodeError::new(
            ErrorCode::BadFormatIndicator,
            "an EMVCo MPM payload starts with the payload format indicator 000201",
        )
        .at(0)
        .tag("00"));
    }
    let tree = tlv::parse(payload)?;
    let first = tree.objects().first().ok_or_else(|| {
        DecodeError::new(ErrorCode::Truncated, "payload holds no data object").at(0)
    })?;
    // "01" is EMVCo's only version; "02" is DuitNow's (PayNet QR spec v1.5),
    // refused later unless the governing profile accepts it. Anything else is
    // not a payload this decoder knows.
    if first.id != 0 || !matches!(first.value, "01" | "02") {
        return Err(DecodeError::new(
            ErrorCode::BadFormatIndicator,
            format!(
                "payload format indicator (tag 00) is {:?}; EMVCo MPM requires \"01\"",
                first.value
            ),
        )
        .at(0)
        .tag("00"));
    }
    check_crc(payload, &tree)?;
    Ok(tree)
}

fn check_crc(payload: &str, tree: &Tree<'_>) -> Result<(), DecodeError> {
    let objects = tree.objects();
    let crc_index = match objects.last() {
        // Nearly always: 63 last and, no id being repeated, nowhere else.
        Some(last) if last.id == 63 && !tree.has_repeats_or_empties() => Some(objects.len() - 1),
        _ => objects.iter().position(|o| o.id == 63),
    };
    let Some(crc_index) = crc_index else {
        return Err(DecodeError::new(ErrorCode::MissingTag, "CRC (tag 63) is missing").tag("63"));
    };
    let Some(crc) = tree.objects().get(crc_index) else {
        return Err(DecodeError::new(ErrorCode::MissingTag, "CRC (tag 63) is missing").tag("63"));
    };
    if crc_index + 1 != tree.objects().len() {
        return Err(DecodeError::new(
            ErrorCode::BadValue,
            "CRC (tag 63) must be the last data object",
        )
        .at(crc.position)
        .tag("63"));
    }
    // Four bytes of ASCII are four characters: count only otherwise.
    if !(crc.value.len() == 4 && crc.value.is_ascii()) && crc.value.chars().count() != 4 {
        return Err(DecodeError::new(
            ErrorCode::BadLength,
            format!(
                "CRC (tag 63) has length {:02}; it must be 04",
                crc.value.chars().count()
            ),
        )
        .at(crc.position)
        .tag("63"));
    }
    // Four hex digits (checked above to be four characters).
    let found = crc
        .value
        .bytes()
        .try_fold(0u16, |n, b| {
            let digit = char::from(b).to_digit(16)?;
            Some(n << 4 | u16::try_from(digit).ok()?)
        })
        .ok_or_else(|| {
            DecodeError::new(
                ErrorCode::BadValue,
                format!("CRC (tag 63) {:?} is not four hex digits", crc.value),
            )
            .at(crc.position)
            .tag("63")
        })?;
    // The CRC covers every byte up to and including "6304"; the four hex
    // digits are the payload's last four bytes.
    let covered = payload
        .as_bytes()
        .get(..payload.len().saturating_sub(4))
        .unwrap_or_default();
    let expected = crate::crc::crc16(covered);
    if found != expected {
        return Err(DecodeError::new(
            ErrorCode::CrcMismatch,
            format!(
                "CRC (tag 63) is {}; the payload's CRC-16/CCITT-FALSE is {expected:04X}",
                crc.value
            ),
        )
        .at(crc.position)
        .tag("63"));
    }
    Ok(())
}

/// Validate a parsed code under `forced` (or the governing profile found
/// from its accounts) and build the decoded view.
pub fn validate<'a>(
    code: Code<'a>,
    forced: Option<&'static dyn Profile>,
    context: &profile::Context,
) -> Result<Box<Decoded<'a>>, DecodeError> {
    let mut decoded: Box<Decoded<'a>> = Box::default();
    decoded.code = code;
    fill(&mut decoded, forced, context)?;
    Ok(decoded)
}

impl<'a> Decoded<'a> {
    /// An empty view on the heap, for validation to fill in place. Built by
    /// `Default`, which the compiler writes straight into the allocation;
    /// a struct literal is built on the stack and copied there.
    fn unvalidated(payload: &'a str, tree: Tree<'a>) -> Box<Self> {
        let mut decoded: Box<Self> = Box::default();
        decoded.code.payload = payload;
        decoded.code.tree = tree;
        decoded.code.index_objects();
        decoded
    }
}

/// An empty view (no code, the generic profile): what validation starts
/// from and fills in, not a decoded payload.
impl Default for Decoded<'_> {
    fn default() -> Self {
        Decoded {
            code: Code {
                payload: "",
                tree: Tree::default(),
                index: [0; 100],
            },
            profile: &profile::GENERIC,
            schemes: Schemes::new(),
            initiation: None,
            merchant: Merchant::default(),
            currency: None,
            amount: None,
            accounts: Accounts::new(),
            warnings: Vec::new(),
            expiry: None,
            expired: None,
        }
    }
}

/// Validate `decoded.code` and fill in the rest of the view, in place.
fn fill(
    decoded: &mut Decoded<'_>,
    forced: Option<&'static dyn Profile>,
    context: &profile::Context,
) -> Result<(), DecodeError> {
    let Decoded {
        code,
        profile: governing_profile,
        schemes,
        initiation,
        merchant,
        currency: currency_out,
        amount: amount_out,
        accounts,
        warnings,
        expiry: expiry_out,
        expired: expired_out,
    } = decoded;
    let code = &*code;
    let mut violations = Vec::new();
    let (currency, amount) = generic_rules(code, &mut violations);

    // The profiles the code carries, as indexes into `PROFILES`: a bit each,
    // and their order in the payload.
    let mut carried = Carried::default();
    for (index, object) in code.tree.objects().iter().enumerate() {
        if !(2..=51).contains(&object.id) {
            continue;
        }
        let guid = code.child_value(object, 0);
        let owner = profile::PROFILES
            .iter()
            .position(|p| p.recognises(code, object, guid));
        let owner = owner.and_then(|i| Some((i, *profile::PROFILES.get(i)?)));
        let scheme = owner
            .map(|(_, p)| p.scheme())
            .or_else(|| profile::card_network(object.id));
        if let Some(s) = scheme
            && !schemes.contains(&s)
        {
            schemes.push(s);
        }
        // The named fields are filled in place: moving an account copies
        // its inline fields.
        accounts.push(Account {
            index,
            tag: object.id,
            scheme,
            named: Named::new(),
        });
        if let Some((i, p)) = owner {
            if let Some(account) = accounts.last_mut() {
                p.named(code, object, &mut account.named);
            }
            carried.add(i);
        }
    }

    // Under a forced profile only its rules run. Otherwise every scheme the
    // code carries checks its own part; the governing profile decides on the
    // generic rules, and each scheme on the rules it raised.
    let (profile, governing_index) = match forced {
        Some(p) => (p, None),
        None => governing(code, &carried),
    };
    let checkers = || {
        carried
            .in_payload_order()
            .filter(move |&i| forced.is_none() && Some(i) != governing_index)
            .filter_map(|i| profile::PROFILES.get(i).copied())
    };
    let mut raised: Vec<(Violation, &'static dyn Profile)> = Vec::new();
    for p in std::iter::once(profile).chain(checkers()) {
        let mut own = Vec::new();
        p.check(code, context, &mut own);
        raised.extend(own.into_iter().map(|v| (v, p)));
    }
    let all = violations.into_iter().map(|v| (v, profile)).chain(raised);

    for (violation, judge) in all {
        match judge.tolerance(violation.rule) {
            Some(tolerance) => warnings.push(Warning {
                rule: violation.rule.id(),
                tag: violation.tag,
                message: violation.message,
                source: tolerance.source,
            }),
            None => return Err(violation.into_error()),
        }
    }

    let expiry = std::iter::once(profile)
        .chain(checkers())
        .find_map(|p| p.expiry(code));
    *expired_out = expiry
        .as_ref()
        .zip(context.now_unix_ms)
        .map(|(x, now)| now > x.at_unix_ms);
    *expiry_out = expiry;

    *amount_out = amount;
    *currency_out = currency;
    *initiation = code.initiation();
    *merchant = Merchant {
        name: code.value(59),
        city: code.value(60),
        mcc: code.value(52),
        country: code.value(58),
        postal_code: code.value(61),
    };
    *governing_profile = profile;
    Ok(())
}

/// The registered profiles a code carries, by their index in `PROFILES`
/// (fewer than 16): one bit each, and the order they first appear in.
#[derive(Default)]
struct Carried {
    bits: u16,
    order: [u8; 16],
    count: usize,
}

impl Carried {
    fn add(&mut self, index: usize) {
        // (A test holds `PROFILES` under 16; a larger index is not counted.)
        if index < 16
            && !self.has(index)
            && let Some(slot) = self.order.get_mut(self.count)
        {
            let bit = 1u16 << index;
            self.bits |= bit;
            *slot = u8::try_from(index).unwrap_or(u8::MAX);
            self.count += 1;
        }
    }

    fn has(&self, index: usize) -> bool {
        index < 16 && self.bits & (1 << index) != 0
    }

    fn in_payload_order(&self) -> impl Iterator<Item = usize> + '_ {
        self.order.iter().take(self.count).map(|&i| usize::from(i))
    }
}

/// The governing scheme and its index in `PROFILES`: the first registered
/// profile of the merchant's country that the code carries, else the first
/// carried, else generic.
fn governing(code: &Code<'_>, carried: &Carried) -> (&'static dyn Profile, Option<usize>) {
    let country = code.value(58);
    let chosen = profile::PROFILES
        .iter()
        .enumerate()
        .find(|&(i, p)| carried.has(i) && p.country().is_some() && p.country() == country)
        .map(|(i, _)| i)
        .or_else(|| carried.in_payload_order().next());
    match chosen.and_then(|i| Some((*profile::PROFILES.get(i)?, i))) {
        Some((p, i)) => (p, Some(i)),
        None => (&profile::GENERIC, None),
    }
}

/// The currency's minor-unit exponent (ISO 4217); 2 when it has none.
pub fn exponent(currency: Option<iso_currency::Currency>) -> u8 {
    currency
        .and_then(|c| c.exponent())
        .and_then(|e| u8::try_from(e).ok())
        .unwrap_or(2)
}

/// Whether `code` is an ISO 3166-1 alpha-2 country code. One bit per
/// two-letter pair, built once from `rust_iso3166`: the decoder asks on every
/// code, and the crate's map hashes with SipHash.
pub fn is_country(code: &str) -> bool {
    static PAIRS: std::sync::LazyLock<[u64; 11]> = std::sync::LazyLock::new(|| {
        let mut bits = [0u64; 11];
        for c in rust_iso3166::ALL {
            if let Some(i) = pair_index(c.alpha2)
                && let Some(word) = bits.get_mut(i / 64)
            {
                *word |= 1 << (i % 64);
            }
        }
        bits
    });
    pair_index(code)
        .and_then(|i| PAIRS.get(i / 64).map(|w| w >> (i % 64) & 1 == 1))
        .unwrap_or(false)
}

/// `"AA"` → 0 … `"ZZ"` → 675; `None` for anything but two capitals.
fn pair_index(code: &str) -> Option<usize> {
    match code.as_bytes() {
        [a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
            Some(usize::from(a - b'A') * 26 + usize::from(b - b'A'))
        }
        _ => None,
    }
}

/// ISO 4217 numeric text (`"764"`) to the currency.
pub fn currency_from_numeric(text: &str) -> Option<iso_currency::Currency> {
    if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    iso_currency::Currency::from_numeric(text.parse().ok()?)
}

/// A mandatory tag is absent; the message is built at compile time.
macro_rules! missing {
    ($c:expr, $rule:expr, $tag:literal, $what:literal) => {
        $c.push(
            $rule,
            ErrorCode::MissingTag,
            $tag,
            None,
            concat!($what, " (tag ", $tag, ") is missing"),
        )
    };
}

struct Checker<'v> {
    out: &'v mut Vec<Violation>,
}

impl Checker<'_> {
    fn push(
        &mut self,
        rule: Rule,
        code: ErrorCode,
        tag: impl Into<Cow<'static, str>>,
        position: Option<usize>,
        message: impl Into<Cow<'static, str>>,
    ) {
        self.out.push(Violation {
            rule,
            code,
            tag: tag.into(),
            position,
            message: message.into(),
        });
    }

    fn max_len(&mut self, rule: Rule, tlv: &Tlv<'_>, path: &str, what: &str, max: usize) {
        if tlv.value.len() <= max {
            // Bytes bound characters from above: nothing to count.
            return;
        }
        let len = tlv.value.chars().count();
        if len > max {
            self.push(
                rule,
                ErrorCode::BadLength,
                path.to_string(),
                Some(tlv.position),
                format!("{what} (tag {path}) is {len} characters; at most {max} are allowed"),
            );
        }
    }
}

/// The rules of EMV QRCPS MPM v1.1 every code is held to. Returns the
/// currency and amount it read on the way, for the view.
fn generic_rules(
    code: &Code<'_>,
    out: &mut Vec<Violation>,
) -> (Option<iso_currency::Currency>, Option<Amount>) {
    let mut c = Checker { out };

    for fault in &code.tree.faults {
        c.push(
            Rule::TemplateWellFormed,
            fault.error.code,
            fault.path.clone(),
            fault.error.position,
            format!(
                "template {} is not well-formed ID-length-value: {}",
                fault.path, fault.error.message
            ),
        );
    }
    if code.tree.has_repeats_or_empties() {
        duplicates_and_empties(&mut c, &code.tree, code.tree.objects(), &[]);
    }

    if let Some(t) = code.get(0)
        && t.value != "01"
    {
        c.push(
            Rule::FormatIndicator,
            ErrorCode::BadFormatIndicator,
            "00",
            Some(t.position),
            format!(
                "payload format indicator (tag 00) is {:?}; EMVCo MPM requires \"01\"",
                t.value
            ),
        );
    }

    if let Some(crc) = code.get(63)
        && crc.value.bytes().any(|b| b.is_ascii_lowercase())
    {
        c.push(
            Rule::CrcUppercase,
            ErrorCode::BadValue,
            "63",
            Some(crc.position),
            format!("CRC (tag 63) {:?} uses lowercase hex digits", crc.value),
        );
    }

    if let Some(t) = code.get(1)
        && t.value != "11"
        && t.value != "12"
    {
        c.push(
            Rule::InitiationMethod,
            ErrorCode::BadValue,
            "01",
            Some(t.position),
            format!(
                "point of initiation method (tag 01) is {:?}; it must be \"11\" (static) or \"12\" (dynamic)",
                t.value
            ),
        );
    }

    if code.accounts().next().is_none() {
        missing!(
            c,
            Rule::MerchantAccountPresent,
            "02-51",
            "merchant account information"
        );
    }
    for t in code.tree.objects() {
        if matches!(t.id, 26..=51 | 80..=99)
            && let Some(children) = code.tree.children(t)
        {
            match children.iter().find(|s| s.id == 0) {
                None => c.push(
                    Rule::TemplateIdPresent,
                    ErrorCode::MissingTag,
                    format!("{:02}.00", t.id),
                    None,
                    format!("globally unique identifier (tag {:02}.00) is missing", t.id),
                ),
                Some(id) if too_long(id, 32) => c.max_len(
                    Rule::TemplateIdLength,
                    id,
                    &format!("{:02}.00", t.id),
                    "globally unique identifier",
                    32,
                ),
                Some(_) => {}
            }
        }
    }

    match code.get(52) {
        None => missing!(c, Rule::MccPresent, "52", "merchant category code"),
        Some(t) if t.value.len() != 4 || !t.value.bytes().all(|b| b.is_ascii_digit()) => c.push(
            Rule::MccFormat,
            ErrorCode::BadValue,
            "52",
            Some(t.position),
            format!(
                "merchant category code (tag 52) {:?} is not four digits",
                t.value
            ),
        ),
        Some(_) => {}
    }

    let currency = match code.get(53) {
        None => {
            missing!(c, Rule::CurrencyPresent, "53", "transaction currency");
            None
        }
        Some(t) => {
            let currency = currency_from_numeric(t.value);
            if currency.is_none() {
                c.push(
                    Rule::CurrencyKnown,
                    ErrorCode::BadValue,
                    "53",
                    Some(t.position),
                    format!(
                        "transaction currency (tag 53) {:?} is not an ISO 4217 numeric code",
                        t.value
                    ),
                );
            }
            currency
        }
    };

    let amount = code
        .get(54)
        .and_then(|t| amount_rules(&mut c, t, "54", "transaction amount", currency));

    tip_rules(&mut c, code, currency);

    match code.get(58) {
        None => missing!(c, Rule::CountryPresent, "58", "country code"),
        Some(t) => {
            if !is_country(t.value) {
                c.push(
                    Rule::CountryKnown,
                    ErrorCode::BadValue,
                    "58",
                    Some(t.position),
                    format!(
                        "country code (tag 58) {:?} is not an ISO 3166-1 alpha-2 code",
                        t.value
                    ),
                );
            }
        }
    }
    match code.get(59) {
        None => missing!(c, Rule::MerchantNamePresent, "59", "merchant name"),
        Some(t) => c.max_len(Rule::MerchantNameLength, t, "59", "merchant name", 25),
    }
    match code.get(60) {
        None => missing!(c, Rule::MerchantCityPresent, "60", "merchant city"),
        Some(t) => c.max_len(Rule::MerchantCityLength, t, "60", "merchant city", 15),
    }
    if let Some(t) = code.get(61) {
        c.max_len(Rule::PostalCodeLength, t, "61", "postal code", 10);
    }

    // (A template value is at least one character, so a parsed 62 always
    // holds a data object, as EMVCo requires.)
    if let Some(children) = code.get(62).and_then(|t| code.tree.children(t)) {
        for sub in children {
            let Some(&(_, name, max)) = ADDITIONAL_FIELDS.iter().find(|f| f.0 == sub.id) else {
                continue;
            };
            if too_long(sub, max) {
                c.max_len(
                    Rule::AdditionalFieldLength,
                    sub,
                    &format!("62.{:02}", sub.id),
                    name,
                    max,
                );
            }
            if sub.id == 9 && !consumer_data_request_ok(sub.value) {
                c.push(
                    Rule::ConsumerDataRequest,
                    ErrorCode::BadValue,
                    "62.09",
                    Some(sub.position),
                    format!(
                        "additional consumer data request (tag 62.09) {:?} may hold only A, M and E, each once",
                        sub.value
                    ),
                );
            }
        }
    }

    if let Some(t64) = code.get(64)
        && let Some(children) = code.tree.children(t64)
    {
        match children.iter().find(|s| s.id == 0) {
            None => missing!(c, Rule::LanguageTemplate, "64.00", "language preference"),
            Some(s) if s.value.len() != 2 || !s.value.bytes().all(|b| b.is_ascii_alphabetic()) => c
                .push(
                    Rule::LanguageTemplate,
                    ErrorCode::BadValue,
                    "64.00",
                    Some(s.position),
                    format!(
                        "language preference (tag 64.00) {:?} is not a two-letter ISO 639-1 code",
                        s.value
                    ),
                ),
            Some(_) => {}
        }
        match children.iter().find(|s| s.id == 1) {
            None => missing!(
                c,
                Rule::LanguageTemplate,
                "64.01",
                "merchant name in the alternate language"
            ),
            Some(s) => c.max_len(
                Rule::LanguageFieldLength,
                s,
                "64.01",
                "merchant name in the alternate language",
                25,
            ),
        }
        if let Some(s) = children.iter().find(|s| s.id == 2) {
            c.max_len(
                Rule::LanguageFieldLength,
                s,
                "64.02",
                "merchant city in the alternate language",
                15,
            );
        }
    }

    // Nearly every payload is printable ASCII throughout (the parser knows).
    let printable = code.tree.is_printable();
    if !printable {
        charset(&mut c, &code.tree, code.tree.objects(), &[]);
    }
    (currency, amount)
}

/// One pass over every level: a tag twice at one level, and empty values.
fn duplicates_and_empties(
    c: &mut Checker<'_>,
    tree: &Tree<'_>,
    objects: &[Tlv<'_>],
    parent: &[u8],
) {
    let mut seen: u128 = 0;
    for t in objects {
        let bit = 1u128 << (t.id % 128);
        if seen & bit != 0 {
            let path = path_of(parent, t.id);
            c.push(
                Rule::NoDuplicateTag,
                ErrorCode::DuplicateTag,
                path.clone(),
                Some(t.position),
                format!("tag {path} appears more than once"),
            );
        }
        seen |= bit;
        if t.value.is_empty() {
            let path = path_of(parent, t.id);
            c.push(
                Rule::ValueNotEmpty,
                ErrorCode::BadLength,
                path.clone(),
                Some(t.position),
                format!("tag {path} has length 00; EMVCo lengths are 01-99"),
            );
        }
        if let Some(children) = tree.children(t) {
            let (ids, n) = child_ids(parent, t.id);
            duplicates_and_empties(c, tree, children, ids.get(..n).unwrap_or_default());
        }
    }
}

/// The ids from the root to a child of `parent` (templates nest at most
/// twice, so four slots are plenty), without allocating.
fn child_ids(parent: &[u8], id: u8) -> ([u8; 4], usize) {
    let mut ids = [0u8; 4];
    let n = parent.len().min(3);
    for (slot, p) in ids.iter_mut().zip(parent.iter().take(n)) {
        *slot = *p;
    }
    if let Some(slot) = ids.get_mut(n) {
        *slot = id;
    }
    (ids, n + 1)
}

/// `[62]` + 5 → `"62.05"`, built only when a rule is broken.
fn path_of(parent: &[u8], id: u8) -> String {
    let mut path = String::new();
    for p in parent.iter().chain(std::iter::once(&id)) {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&format!("{p:02}"));
    }
    path
}

/// Whether the value is longer than `max` characters (bytes bound the
/// characters from above, so most values need no counting).
fn too_long(t: &Tlv<'_>, max: usize) -> bool {
    t.value.len() > max && t.value.chars().count() > max
}

/// EMVCo's common character set (ANS): printable ASCII. Tag 64 alone may
/// carry other characters.
fn charset(c: &mut Checker<'_>, tree: &Tree<'_>, objects: &[Tlv<'_>], parent: &[u8]) {
    for t in objects {
        if parent.is_empty() && t.id == 64 {
            continue;
        }
        match tree.children(t) {
            Some(children) => {
                let (ids, n) = child_ids(parent, t.id);
                charset(c, tree, children, ids.get(..n).unwrap_or_default());
            }
            None => {
                if t.value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                    continue;
                }
                if let Some(bad) = t.value.chars().find(|ch| !(' '..='~').contains(ch)) {
                    let path = path_of(parent, t.id);
                    c.push(
                        Rule::CommonCharacterSet,
                        ErrorCode::BadValue,
                        path.clone(),
                        Some(t.position),
                        format!(
                            "tag {path} holds {bad:?} (U+{:04X}), outside EMVCo's common character set",
                            u32::from(bad)
                        ),
                    );
                }
            }
        }
    }
}

fn consumer_data_request_ok(value: &str) -> bool {
    let mut seen = [false; 3];
    value.bytes().all(|b| {
        let i = match b {
            b'A' => 0,
            b'M' => 1,
            b'E' => 2,
            _ => return false,
        };
        seen.get_mut(i).is_some_and(|s| !std::mem::replace(s, true))
    })
}

fn amount_rules(
    c: &mut Checker<'_>,
    t: &Tlv<'_>,
    tag: &'static str,
    what: &str,
    currency: Option<iso_currency::Currency>,
) -> Option<Amount> {
    // Bytes bound characters from above: count only past 13 bytes.
    let len = if t.value.len() > 13 {
        t.value.chars().count()
    } else {
        t.value.len()
    };
    if len > 13 {
        c.push(
            Rule::AmountLength,
            ErrorCode::BadLength,
            tag,
            Some(t.position),
            format!("{what} (tag {tag}) is {len} characters; at most 13 are allowed"),
        );
        return parse_amount(t.value, exponent(currency)).ok();
    }
    let amount = parse_amount(t.value, exponent(currency));
    match &amount {
        Ok(a) if a.minor() == 0 => c.push(
            Rule::AmountNonZero,
            ErrorCode::BadValue,
            tag,
            Some(t.position),
            format!(
                "{what} (tag {tag}) is zero; leave the tag out to let the payer enter the amount"
            ),
        ),
        Ok(_) => {}
        Err(crate::amount::AmountError::Syntax) => c.push(
            Rule::AmountSyntax,
            ErrorCode::BadValue,
            tag,
            Some(t.position),
            format!(
                "{what} (tag {tag}) {:?} is not digits with an optional single '.'",
                t.value
            ),
        ),
        Err(crate::amount::AmountError::Precision) => c.push(
            Rule::AmountPrecision,
            ErrorCode::BadValue,
            tag,
            Some(t.position),
            format!(
                "{what} (tag {tag}) {:?} has more decimals than the currency's exponent {}",
                t.value,
                exponent(currency)
            ),
        ),
    }
    amount.ok()
}

fn tip_rules(c: &mut Checker<'_>, code: &Code<'_>, currency: Option<iso_currency::Currency>) {
    let indicator = code.get(55);
    let fixed = code.get(56);
    let percentage = code.get(57);
    if let Some(t) = indicator
        && !matches!(t.value, "01" | "02" | "03")
    {
        c.push(
            Rule::TipIndicator,
            ErrorCode::BadValue,
            "55",
            Some(t.position),
            format!(
                "tip or convenience indicator (tag 55) {:?} must be 01, 02 or 03",
                t.value
            ),
        );
    }
    let wants = indicator.map(|t| t.value);
    match (wants == Some("02"), fixed) {
        (true, None) => missing!(
            c,
            Rule::ConvenienceFeeFixed,
            "56",
            "fixed convenience fee (required when tag 55 is 02)"
        ),
        (false, Some(t)) => c.push(
            Rule::ConvenienceFeeFixed,
            ErrorCode::BadValue,
            "56",
            Some(t.position),
            "fixed convenience fee (tag 56) is present but tag 55 is not 02".to_string(),
        ),
        (true, Some(t)) => {
            amount_rules(c, t, "56", "fixed convenience fee", currency);
        }
        (false, None) => {}
    }
    match (wants == Some("03"), percentage) {
        (true, None) => missing!(
            c,
            Rule::ConvenienceFeePercentage,
            "57",
            "percentage convenience fee (required when tag 55 is 03)"
        ),
        (false, Some(t)) => c.push(
            Rule::ConvenienceFeePercentage,
            ErrorCode::BadValue,
            "57",
            Some(t.position),
            "percentage convenience fee (tag 57) is present but tag 55 is not 03".to_string(),
        ),
        (true, Some(t)) => {
            // 00.01 to 99.99: at most two decimals, between 1 and 9999 hundredths.
            let ok = t.value.chars().count() <= 5
                && matches!(parse_amount(t.value, 2), Ok(a) if (1..=9999).contains(&a.minor()));
            if !ok {
                c.push(
                    Rule::ConvenienceFeePercentage,
                    ErrorCode::BadValue,
                    "57",
                    Some(t.position),
                    format!(
                        "percentage convenience fee (tag 57) {:?} must be between 00.01 and 99.99",
                        t.value
                    ),
                );
            }
        }
        (false, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_profiles_fit_their_bits() {
        // `Carried` keeps one bit per registered profile in a u16.
        assert!(profile::PROFILES.len() <= 16);
        let mut c = Carried::default();
        for i in [3, 0, 3, 15, 16] {
            c.add(i);
        }
        assert_eq!(c.in_payload_order().collect::<Vec<_>>(), vec![3, 0, 15]);
        assert!(c.has(15) && !c.has(16) && !c.has(1));
    }

    #[test]
    fn decode_and_parse_then_validate_agree() {
        // The in-place path (`decode`) and the two public steps give the same view.
        // The static BR Code of the BCB's Pix manual, with a second scheme's
        // account added so that two profiles check it.
        let payload = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-42665544000015120000111122225204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***6304";
        let payload = format!("{payload}{:04X}", crate::crc16(payload.as_bytes()));
        let context = profile::Context::default();
        let a = decode(&payload, None, &context).expect("decodes");
        let b = validate(parse(&payload).expect("parses"), None, &context).expect("validates");
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(a.scheme(), "pix");
        assert_eq!(a.schemes.as_slice(), ["pix", "unionpay"]);
    }

    #[test]
    fn country_bitmap_agrees_with_the_iso_3166_crate() {
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b]).unwrap();
                assert_eq!(
                    is_country(&code),
                    rust_iso3166::from_alpha2(&code).is_some(),
                    "{code}"
                );
            }
        }
        for not in ["", "B", "br", "BRA", "É", "B1"] {
            assert!(!is_country(not), "{not}");
        }
    }
}
