//! The unified model of the gateway's callbacks (SPEC §4.4): one message
//! type per call, as the gateway means it. The native dialect sends each
//! as its JSON; other dialects translate it.

use money::{Currency, Money};
use serde::{Deserialize, Serialize};

/// The callbacks the gateway makes to a participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Ask the acquirer for a merchant (and an order) behind a code.
    MerchantInquiry,
    /// Credit the merchant (the acquirer).
    Pay,
    /// CPM: debit the payer (the wallet).
    Authorize,
    /// Ask what became of an earlier call.
    Inquiry,
    /// Reverse an earlier call.
    Cancel,
    /// Refund (part of) a payment.
    Refund,
    /// Tell a participant what became of a payment.
    Notify,
    /// Ask an FX provider for a firm quote.
    FxQuote,
}

impl Call {
    /// Every call, in the order of SPEC §4.4.
    pub const ALL: [Call; 8] = [
        Call::MerchantInquiry,
        Call::Pay,
        Call::Authorize,
        Call::Inquiry,
        Call::Cancel,
        Call::Refund,
        Call::Notify,
        Call::FxQuote,
    ];

    /// Its path under the participant's callback base URL.
    pub fn path(self) -> &'static str {
        match self {
            Call::MerchantInquiry => "/merchant-inquiry",
            Call::Pay => "/pay",
            Call::Authorize => "/authorize",
            Call::Inquiry => "/inquiry",
            Call::Cancel => "/cancel",
            Call::Refund => "/refund",
            Call::Notify => "/notify",
            Call::FxQuote => "/fx-quote",
        }
    }

    /// Its stable name (for the outbound log and metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Call::MerchantInquiry => "merchant_inquiry",
            Call::Pay => "pay",
            Call::Authorize => "authorize",
            Call::Inquiry => "inquiry",
            Call::Cancel => "cancel",
            Call::Refund => "refund",
            Call::Notify => "notify",
            Call::FxQuote => "fx_quote",
        }
    }

    /// Whether sending it again can do no harm, so a failed attempt may
    /// be retried. Reads are; cancel, refund and notify are keyed by
    /// their request id, which the participant deduplicates (SPEC §4.3).
    /// `pay` and `authorize` move money on an answer the gateway may
    /// never see: an unknown outcome is resolved by inquiry, not by
    /// sending them again.
    pub fn idempotent(self) -> bool {
        !matches!(self, Call::Pay | Call::Authorize)
    }
}

/// The payer, with the FATF R16 data a cross-border payment carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    pub id: String,
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// `merchant-inquiry`: who is behind this code (and which order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantInquiry {
    pub request_id: String,
    /// The raw code as scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The gateway merchant id or the acquirer's merchant id, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
}

/// `pay`: credit the merchant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pay {
    pub request_id: String,
    pub payment_id: String,
    /// `mpm` or `cpm`.
    pub mode: String,
    pub merchant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// What the merchant receives, in the merchant's currency.
    pub amount: Money,
    pub payer: Payer,
}

/// `authorize` (CPM): debit the payer whose payment code this is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorize {
    pub request_id: String,
    pub payment_id: String,
    /// The payment code as shown by the payer: a secret, sent only to
    /// the wallet that issued it, never logged or stored.
    pub payment_code: String,
    /// What the payer pays, in the wallet's currency.
    pub amount: Money,
    pub merchant_id: String,
    pub merchant_name: String,
    pub merchant_country: String,
}

/// `inquiry`: what became of an earlier call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inquiry {
    pub request_id: String,
    pub payment_id: String,
    /// The call asked about.
    pub call: Call,
    /// Its request id.
    pub original_request_id: String,
}

/// `cancel`: reverse an earlier `pay` or `authorize`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    pub request_id: String,
    pub payment_id: String,
    pub call: Call,
    pub original_request_id: String,
    pub amount: Money,
}

/// `refund`: give (part of) a payment back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub request_id: String,
    pub payment_id: String,
    pub refund_id: String,
    pub amount: Money,
}

/// `notify`: a payment's outcome, delivered at least once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    pub request_id: String,
    pub payment_id: String,
    /// The payment's state (`succeeded`, `cancelled`, …).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

/// `fx-quote`: a firm quote to deliver `receive` for `from`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FxQuote {
    pub request_id: String,
    pub from: Currency,
    pub to: Currency,
    pub receive: Money,
    pub valid_for_s: i64,
}

/// One callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    MerchantInquiry(MerchantInquiry),
    Pay(Pay),
    Authorize(Authorize),
    Inquiry(Inquiry),
    Cancel(Cancel),
    Refund(Refund),
    Notify(Notify),
    FxQuote(FxQuote),
}

impl Message {
    pub fn call(&self) -> Call {
        match self {
            Message::MerchantInquiry(_) => Call::MerchantInquiry,
            Message::Pay(_) => Call::Pay,
            Message::Authorize(_) => Call::Authorize,
            Message::Inquiry(_) => Call::Inquiry,
            Message::Cancel(_) => Call::Cancel,
            Message::Refund(_) => Call::Refund,
            Message::Notify(_) => Call::Notify,
            Message::FxQuote(_) => Call::FxQuote,
        }
    }

    /// The gateway's request id of this call (persisted before it is
    /// sent, SPEC §4.3).
    pub fn request_id(&self) -> &str {
        match self {
            Message::MerchantInquiry(m) => &m.request_id,
            Message::Pay(m) => &m.request_id,
            Message::Authorize(m) => &m.request_id,
            Message::Inquiry(m) => &m.request_id,
            Message::Cancel(m) => &m.request_id,
            Message::Refund(m) => &m.request_id,
            Message::Notify(m) => &m.request_id,
            Message::FxQuote(m) => &m.request_id,
        }
    }

    /// The payment it is about, if any.
    pub fn payment_id(&self) -> Option<&str> {
        match self {
            Message::MerchantInquiry(_) | Message::FxQuote(_) => None,
            Message::Pay(m) => Some(&m.payment_id),
            Message::Authorize(m) => Some(&m.payment_id),
            Message::Inquiry(m) => Some(&m.payment_id),
            Message::Cancel(m) => Some(&m.payment_id),
            Message::Refund(m) => Some(&m.payment_id),
            Message::Notify(m) => Some(&m.payment_id),
        }
    }

    /// Its native JSON (SPEC §4.4).
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self {
            Message::MerchantInquiry(m) => serde_json::to_value(m),
            Message::Pay(m) => serde_json::to_value(m),
            Message::Authorize(m) => serde_json::to_value(m),
            Message::Inquiry(m) => serde_json::to_value(m),
            Message::Cancel(m) => serde_json::to_value(m),
            Message::Refund(m) => serde_json::to_value(m),
            Message::Notify(m) => serde_json::to_value(m),
            Message::FxQuote(m) => serde_json::to_value(m),
        };
        // Plain structs of strings and numbers always serialise.
        value.unwrap_or(serde_json::Value::Null)
    }
}

/// S, F or U (SPEC §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    S,
    F,
    U,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::S => "S",
            Status::F => "F",
            Status::U => "U",
        }
    }
}

/// A `result` object: a participant's, or the connector's own when no
/// trustworthy answer came.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl Outcome {
    pub fn new(status: Status, code: &str, message: impl Into<String>) -> Outcome {
        Outcome {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// What the merchant side answers to `merchant-inquiry` (beside its
/// `result`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantInfo {
    pub merchant_id: String,
    pub name: String,
    pub mcc: String,
    pub city: String,
    pub country: String,
    pub currency: Currency,
    /// A dynamic code's order, when the code names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

/// What a participant answers to `inquiry` (beside its `result`, which
/// is the outcome of the call asked about: `U` while it does not know).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InquiryInfo {
    pub original_request_id: String,
}
