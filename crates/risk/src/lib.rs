//! Real-time risk control (SPEC §2.9), pure: no I/O.
//!
//! - [`RuleSet::parse`]: the rule file (TOML, docs/risk.md), every rule
//!   checked at load — syntax, unknown fields, contradictions (a minimum
//!   above its maximum, an unknown corridor or MCC, a value both allowed
//!   and blocked) — refused with its line and reason.
//! - [`RuleSet::counters`]: which counters a payment's evaluation reads
//!   (amount totals per period, velocity windows), so the store reads them
//!   exactly and the evaluation stays pure.
//! - [`RuleSet::evaluate`]: facts and counters → a [`Decision`]: the
//!   action, the score, the rules that fired with the values they saw, and
//!   every rule's outcome (the trace).
//! - [`screen`]: sanctions screening across scripts.
//!
//! Two moments: a rule that needs the payer (its id, name, history) runs
//! once the payer is known — before any money moves in MPM, at the
//! wallet's authorisation in CPM. Evaluated without the payer, such a rule
//! is `deferred`, not passed.

pub mod screen;
mod zones;

pub use zones::country_time_zone;

use std::collections::{BTreeMap, BTreeSet};

use money::{Currency, Money};
use serde::{Deserialize, Serialize};

/// What a rule does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Approve,
    /// Approve and raise an alert.
    Review,
    Decline,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Review => "review",
            Action::Decline => "decline",
        }
    }
}

/// What an amount limit counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Corridor,
    Participant,
    Payer,
}

/// An amount limit's period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Single,
    Daily,
    Monthly,
    Annual,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Single => "single",
            Period::Daily => "daily",
            Period::Monthly => "monthly",
            Period::Annual => "annual",
        }
    }
}

/// Whose payments a velocity rule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Payer,
    Merchant,
}

/// When a counted payment stops counting (an amount limit's or a velocity
/// rule's `release`). By default it never does: an attempt that failed is
/// still an attempt.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    #[default]
    Never,
    /// A payment that ends failed or cancelled no longer counts.
    Cancel,
    /// That, and a refund takes its share off the amount (a full refund
    /// takes the payment off the count too).
    CancelAndRefund,
}

impl Release {
    pub fn as_str(self) -> &'static str {
        match self {
            Release::Never => "never",
            Release::Cancel => "cancel",
            Release::CancelAndRefund => "cancel_and_refund",
        }
    }
}

/// A field a list rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    PayerId,
    MerchantId,
    PayerCountry,
    MerchantCountry,
    Mcc,
}

impl Field {
    fn needs_payer(self) -> bool {
        matches!(self, Field::PayerId)
    }
}

/// A name screened against the sanctions list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameField {
    PayerName,
    MerchantName,
}

/// One rule of the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// The payment (`single`) or its scope's total over the period,
    /// payment included, above `max` (in the file's currency).
    AmountLimit {
        id: String,
        action: Action,
        scope: Scope,
        /// `MN-CN`: payer country → merchant country (scope `corridor`;
        /// optional for the others, which then apply on it only).
        #[serde(default)]
        corridor: Option<String>,
        /// A participant id (scope `participant`).
        #[serde(default)]
        participant: Option<String>,
        period: Period,
        /// Major units, e.g. "50000.00".
        max: String,
        #[serde(default)]
        release: Release,
    },
    /// More than `max_count` payments, or more than `max_amount`, of one
    /// payer or merchant within the last `window_s` seconds (this one
    /// included).
    Velocity {
        id: String,
        action: Action,
        subject: Subject,
        window_s: u32,
        #[serde(default)]
        max_count: Option<u32>,
        #[serde(default)]
        max_amount: Option<String>,
        #[serde(default)]
        release: Release,
    },
    /// Any value of `values` in `field`.
    BlockList {
        id: String,
        action: Action,
        field: Field,
        values: Vec<String>,
    },
    /// Any value of `values` in `field`: the payment is approved without
    /// its amount, velocity, MCC and anomaly rules (block lists and
    /// sanctions still apply).
    AllowList {
        id: String,
        field: Field,
        values: Vec<String>,
    },
    /// An MCC of `mccs` on the corridor.
    MccRestriction {
        id: String,
        action: Action,
        corridor: String,
        mccs: Vec<String>,
    },
    /// The anomaly score (0–100) at or above `threshold`.
    Anomaly {
        id: String,
        action: Action,
        threshold: u32,
    },
    /// A listed name within the list's edit distance, scoring at least
    /// `threshold` (0–1).
    Sanctions {
        id: String,
        action: Action,
        fields: Vec<NameField>,
        threshold: f64,
    },
}

impl Rule {
    pub fn id(&self) -> &str {
        match self {
            Rule::AmountLimit { id, .. }
            | Rule::Velocity { id, .. }
            | Rule::BlockList { id, .. }
            | Rule::AllowList { id, .. }
            | Rule::MccRestriction { id, .. }
            | Rule::Anomaly { id, .. }
            | Rule::Sanctions { id, .. } => id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Rule::AmountLimit { .. } => "amount_limit",
            Rule::Velocity { .. } => "velocity",
            Rule::BlockList { .. } => "block_list",
            Rule::AllowList { .. } => "allow_list",
            Rule::MccRestriction { .. } => "mcc_restriction",
            Rule::Anomaly { .. } => "anomaly",
            Rule::Sanctions { .. } => "sanctions",
        }
    }

    fn action(&self) -> Action {
        match self {
            Rule::AllowList { .. } => Action::Approve,
            Rule::AmountLimit { action, .. }
            | Rule::Velocity { action, .. }
            | Rule::BlockList { action, .. }
            | Rule::MccRestriction { action, .. }
            | Rule::Anomaly { action, .. }
            | Rule::Sanctions { action, .. } => *action,
        }
    }

    /// Whether the rule reads the payer (its id, name or history): it
    /// runs once the payer is known.
    pub fn needs_payer(&self) -> bool {
        match self {
            Rule::AmountLimit { scope, .. } => *scope == Scope::Payer,
            Rule::Velocity { subject, .. } => *subject == Subject::Payer,
            Rule::BlockList { field, .. } | Rule::AllowList { field, .. } => field.needs_payer(),
            Rule::Anomaly { .. } => true,
            Rule::Sanctions { fields, .. } => fields.contains(&NameField::PayerName),
            Rule::MccRestriction { .. } => false,
        }
    }

    /// Whether an allow-list match exempts the rule.
    fn exempted_by_allow(&self) -> bool {
        matches!(
            self,
            Rule::AmountLimit { .. }
                | Rule::Velocity { .. }
                | Rule::MccRestriction { .. }
                | Rule::Anomaly { .. }
        )
    }
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    version: String,
    /// The currency of every amount in the file (the reporting currency).
    currency: String,
    #[serde(default)]
    rule: Vec<toml::Spanned<Rule>>,
}

/// A rule file refused, with the line at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rule file line {line}: {reason}")]
pub struct RuleError {
    pub line: usize,
    pub reason: String,
}

/// Most rules a set holds, and values per list rule.
pub const RULES_MAX: usize = 1_000;
pub const LIST_VALUES_MAX: usize = 100_000;

/// A checked rule set, ready to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSet {
    pub version: String,
    pub currency: Currency,
    pub rules: Vec<Rule>,
    /// Limits in minor units of `currency`, by rule index.
    limits: Vec<(Option<i64>, Option<i64>)>,
    /// Block and allow lists as sets, by rule index.
    lists: Vec<BTreeSet<String>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |t| t.bytes().filter(|b| *b == b'\n').count() + 1)
}

fn corridor_ok(c: &str) -> bool {
    c.split_once('-').is_some_and(|(a, b)| {
        rust_iso3166::from_alpha2(a).is_some() && rust_iso3166::from_alpha2(b).is_some()
    })
}

fn mcc_ok(m: &str) -> bool {
    m.len() == 4 && m.bytes().all(|b| b.is_ascii_digit())
}

impl RuleSet {
    /// Parse and check a rule file. Nothing of a refused file is kept.
    pub fn parse(text: &str) -> Result<RuleSet, RuleError> {
        let file: RuleFile = toml::from_str(text).map_err(|e| RuleError {
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            reason: e.message().to_string(),
        })?;
        let at = |line: usize, reason: String| RuleError { line, reason };
        if file.version.trim().is_empty() || file.version.chars().count() > 64 {
            return Err(at(1, "version is 1 to 64 characters".into()));
        }
        let currency = Currency::parse(&file.currency)
            .map_err(|e| at(1, format!("currency {:?}: {e}", file.currency)))?;
        if file.rule.len() > RULES_MAX {
            return Err(at(1, format!("at most {RULES_MAX} rules")));
        }
        let amount = |line: usize, field: &str, text: &str| -> Result<i64, RuleError> {
            let m = Money::from_major(text, currency)
                .map_err(|e| at(line, format!("{field} {text:?}: {e}")))?;
            if m.minor <= 0 {
                return Err(at(line, format!("{field} must be above zero")));
            }
            Ok(m.minor)
        };
        let mut ids = BTreeSet::new();
        let mut rules = Vec::new();
        let mut limits = Vec::new();
        let mut lists = Vec::new();
        let mut allowed: BTreeMap<Field, (usize, BTreeSet<String>)> = BTreeMap::new();
        let mut blocked: BTreeMap<Field, (usize, BTreeSet<String>)> = BTreeMap::new();
        for spanned in file.rule {
            let line = line_of(text, spanned.span().start);
            let rule = spanned.into_inner();
            let id = rule.id();
            if id.is_empty() || id.chars().count() > 64 || !id.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(at(line, "id is 1 to 64 printable characters".into()));
            }
            if !ids.insert(id.to_string()) {
                return Err(at(line, format!("rule id {id:?} is used twice")));
            }
            let mut limit = (None, None);
            let mut list = BTreeSet::new();
            match &rule {
                Rule::AmountLimit {
                    scope,
                    corridor,
                    participant,
                    period,
                    max,
                    release,
                    ..
                } => {
                    if *period == Period::Single && *release != Release::Never {
                        return Err(at(
                            line,
                            "release needs a period: a single limit counts nothing".into(),
                        ));
                    }
                    if let Some(c) = corridor
                        && !corridor_ok(c)
                    {
                        return Err(at(
                            line,
                            format!("corridor {c:?} is not two ISO countries, e.g. MN-CN"),
                        ));
                    }
                    match scope {
                        Scope::Corridor if corridor.is_none() => {
                            return Err(at(line, "scope corridor needs a corridor".into()));
                        }
                        Scope::Participant if participant.as_deref().is_none_or(str::is_empty) => {
                            return Err(at(line, "scope participant needs a participant".into()));
                        }
                        _ => {}
                    }
                    if *scope != Scope::Participant && participant.is_some() {
                        return Err(at(line, "participant belongs to scope participant".into()));
                    }
                    limit.1 = Some(amount(line, "max", max)?);
                }
                Rule::Velocity {
                    window_s,
                    max_count,
                    max_amount,
                    ..
                } => {
                    if !(1..=31_622_400).contains(window_s) {
                        return Err(at(line, "window_s is 1 to 31622400 (a year)".into()));
                    }
                    if max_count.is_none() && max_amount.is_none() {
                        return Err(at(line, "velocity needs max_count or max_amount".into()));
                    }
                    if *max_count == Some(0) {
                        return Err(at(line, "max_count must be above zero".into()));
                    }
                    limit.0 = max_count.map(i64::from);
                    limit.1 = max_amount
                        .as_deref()
                        .map(|m| amount(line, "max_amount", m))
                        .transpose()?;
                }
                Rule::BlockList { field, values, .. } | Rule::AllowList { field, values, .. } => {
                    if values.is_empty() || values.len() > LIST_VALUES_MAX {
                        return Err(at(line, format!("values: 1 to {LIST_VALUES_MAX}")));
                    }
                    for v in values {
                        let ok = match field {
                            Field::PayerCountry | Field::MerchantCountry => {
                                rust_iso3166::from_alpha2(v).is_some()
                            }
                            Field::Mcc => mcc_ok(v),
                            Field::PayerId | Field::MerchantId => {
                                !v.is_empty() && v.chars().count() <= 128
                            }
                        };
                        if !ok {
                            return Err(at(line, format!("{v:?} is not a {field:?} value")));
                        }
                        list.insert(v.clone());
                    }
                    let (mine, other) = if matches!(rule, Rule::BlockList { .. }) {
                        (&mut blocked, &allowed)
                    } else {
                        (&mut allowed, &blocked)
                    };
                    if let Some((other_line, vals)) = other.get(field)
                        && let Some(v) = list.iter().find(|v| vals.contains(*v))
                    {
                        return Err(at(
                            line,
                            format!("{v:?} is both allowed and blocked (see line {other_line})"),
                        ));
                    }
                    let entry = mine.entry(*field).or_insert((line, BTreeSet::new()));
                    entry.1.extend(list.iter().cloned());
                }
                Rule::MccRestriction { corridor, mccs, .. } => {
                    if !corridor_ok(corridor) {
                        return Err(at(
                            line,
                            format!("corridor {corridor:?} is not two ISO countries, e.g. MN-CN"),
                        ));
                    }
                    if mccs.is_empty() {
                        return Err(at(line, "mccs is empty".into()));
                    }
                    for m in mccs {
                        if !mcc_ok(m) {
                            return Err(at(line, format!("{m:?} is not an MCC (four digits)")));
                        }
                        list.insert(m.clone());
                    }
                }
                Rule::Anomaly { threshold, .. } => {
                    if !(1..=100).contains(threshold) {
                        return Err(at(line, "threshold is 1 to 100".into()));
                    }
                }
                Rule::Sanctions {
                    fields, threshold, ..
                } => {
                    if fields.is_empty() {
                        return Err(at(line, "fields is empty".into()));
                    }
                    if !(threshold.is_finite() && *threshold > 0.0 && *threshold <= 1.0) {
                        return Err(at(line, "threshold is above 0 and at most 1".into()));
                    }
                }
            }
            rules.push(rule);
            limits.push(limit);
            lists.push(list);
        }
        Ok(RuleSet {
            version: file.version,
            currency,
            rules,
            limits,
            lists,
        })
    }

    /// Whether the evaluation reads the payer's history (an anomaly rule
    /// is in the set).
    pub fn needs_history(&self) -> bool {
        self.rules.iter().any(|r| matches!(r, Rule::Anomaly { .. }))
    }

    /// The counters the evaluation of these facts reads, each once; only
    /// the payer's rules' at the payer's moment (`payer_only`).
    pub fn counters(&self, facts: &Facts<'_>, payer_only: bool) -> Vec<CounterKey> {
        let mut out = Vec::new();
        for r in self.rules.iter().filter(|r| !payer_only || r.needs_payer()) {
            match r {
                Rule::AmountLimit {
                    id,
                    scope,
                    period,
                    corridor,
                    participant,
                    release,
                    ..
                } if *period != Period::Single => {
                    if !applies(corridor.as_deref(), participant.as_deref(), facts) {
                        continue;
                    }
                    let Some(key) = scope_key(*scope, facts) else {
                        continue;
                    };
                    out.push(CounterKey {
                        rule: id.clone(),
                        key,
                        window: Window::Period(*period),
                        release: *release,
                    });
                }
                Rule::Velocity {
                    id,
                    subject,
                    window_s,
                    release,
                    ..
                } => {
                    if let Some(key) = subject_key(*subject, facts) {
                        out.push(CounterKey {
                            rule: id.clone(),
                            key,
                            window: Window::Seconds(*window_s),
                            release: *release,
                        });
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Evaluate the facts at one moment. `payer_known`: the payer's facts
    /// are there (MPM; CPM after authorisation). `payer_only`: only the
    /// rules that need the payer run (CPM's second moment).
    pub fn evaluate(
        &self,
        facts: &Facts<'_>,
        counters: &Counters,
        screen: Option<&screen::Screen>,
        payer_only: bool,
    ) -> Decision {
        let payer_known = facts.payer_id.is_some();
        let mut outcomes = Vec::with_capacity(self.rules.len());
        // An allow-list match first: it exempts some rules.
        let mut allowed_by = None;
        for (i, r) in self.rules.iter().enumerate() {
            if let Rule::AllowList { id, field, .. } = r
                && let Some(v) = field_value(*field, facts)
                && self.lists.get(i).is_some_and(|l| l.contains(v))
            {
                allowed_by = Some(id.clone());
                break;
            }
        }
        // Once per evaluation: the score and, for the trace, what made it.
        let features = anomaly_features(facts);
        let score = score_of(&features);
        for (i, r) in self.rules.iter().enumerate() {
            let needs_payer = r.needs_payer();
            let status = if payer_only && !needs_payer {
                Status::NotThisMoment
            } else if needs_payer && !payer_known {
                Status::Deferred
            } else if allowed_by.is_some() && r.exempted_by_allow() {
                Status::Exempt
            } else {
                Status::Evaluated
            };
            if status != Status::Evaluated {
                outcomes.push(RuleOutcome {
                    rule: r.id().to_string(),
                    kind: r.kind().to_string(),
                    status,
                    fired: false,
                    action: r.action(),
                    saw: String::new(),
                });
                continue;
            }
            let (fired, saw) = self.check(i, r, facts, counters, screen, (score, &features));
            outcomes.push(RuleOutcome {
                rule: r.id().to_string(),
                kind: r.kind().to_string(),
                status,
                fired,
                action: r.action(),
                saw,
            });
        }
        let action = outcomes
            .iter()
            .filter(|o| o.fired && o.kind != "allow_list")
            .map(|o| o.action)
            .max()
            .unwrap_or(Action::Approve);
        Decision {
            action,
            score,
            version: self.version.clone(),
            allowed_by,
            outcomes,
        }
    }

    fn check(
        &self,
        i: usize,
        r: &Rule,
        f: &Facts<'_>,
        counters: &Counters,
        screen: Option<&screen::Screen>,
        anomaly: (u32, &[(u32, String)]),
    ) -> (bool, String) {
        let (max_count, max_amount) = self.limits.get(i).copied().unwrap_or((None, None));
        let ccy = self.currency.code();
        match r {
            Rule::AmountLimit {
                id,
                scope,
                corridor,
                participant,
                period,
                ..
            } => {
                if !applies(corridor.as_deref(), participant.as_deref(), f) {
                    return (false, "not this corridor or participant".into());
                }
                let before = if *period == Period::Single {
                    0
                } else {
                    let Some(key) = scope_key(*scope, f) else {
                        return (false, "no key".into());
                    };
                    counters.get(id, &key).1
                };
                let total = before.saturating_add(f.amount_minor);
                let max = max_amount.unwrap_or(i64::MAX);
                (
                    total > max,
                    format!(
                        "{} total {total} (before {before}) against max {max} minor {ccy}",
                        period.as_str()
                    ),
                )
            }
            Rule::Velocity {
                id,
                subject,
                window_s,
                ..
            } => {
                let Some(key) = subject_key(*subject, f) else {
                    return (false, "no subject".into());
                };
                let (count, amount) = counters.get(id, &key);
                let (count, amount) = (
                    count.saturating_add(1),
                    amount.saturating_add(f.amount_minor),
                );
                let fired =
                    max_count.is_some_and(|m| count > m) || max_amount.is_some_and(|m| amount > m);
                (
                    fired,
                    format!("{count} payments, {amount} minor {ccy} in {window_s} s"),
                )
            }
            Rule::BlockList { field, .. } | Rule::AllowList { field, .. } => {
                let v = field_value(*field, f).unwrap_or("");
                (
                    self.lists.get(i).is_some_and(|l| l.contains(v)),
                    format!("{field:?} {v:?}"),
                )
            }
            Rule::MccRestriction { corridor, .. } => {
                let here = format!("{}-{}", f.payer_country, f.merchant_country);
                let fired =
                    *corridor == here && self.lists.get(i).is_some_and(|l| l.contains(f.mcc));
                (fired, format!("corridor {here}, mcc {}", f.mcc))
            }
            Rule::Anomaly { threshold, .. } => {
                let why: Vec<String> = anomaly
                    .1
                    .iter()
                    .map(|(points, what)| format!("{what} +{points}"))
                    .collect();
                (
                    anomaly.0 >= *threshold,
                    format!(
                        "score {} against {threshold} ({})",
                        anomaly.0,
                        why.join(", ")
                    ),
                )
            }
            Rule::Sanctions {
                fields, threshold, ..
            } => {
                let Some(screen) = screen else {
                    return (false, "no list loaded".into());
                };
                for field in fields {
                    let name = match field {
                        NameField::PayerName => f.payer_name,
                        NameField::MerchantName => Some(f.merchant_name),
                    };
                    if let Some(name) = name
                        && let Some(hit) = screen.check(name, *threshold).into_iter().next()
                    {
                        return (
                            true,
                            format!(
                                "{field:?} {name:?} ~ {:?} (entry {}, score {:.2})",
                                hit.name, hit.id, hit.score
                            ),
                        );
                    }
                }
                (false, "no hit".into())
            }
        }
    }
}

fn applies(corridor: Option<&str>, participant: Option<&str>, f: &Facts<'_>) -> bool {
    corridor.is_none_or(|c| {
        c.split_once('-')
            .is_some_and(|(a, b)| a == f.payer_country && b == f.merchant_country)
    }) && participant.is_none_or(|p| p == f.wallet || p == f.acquirer)
}

fn scope_key(scope: Scope, f: &Facts<'_>) -> Option<String> {
    match scope {
        Scope::Corridor => Some(format!(
            "corridor:{}-{}",
            f.payer_country, f.merchant_country
        )),
        Scope::Participant => Some(format!("participant:{}", f.wallet)),
        Scope::Payer => subject_key(Subject::Payer, f),
    }
}

/// The key a payer's counters and history are kept under (a payer id is
/// its wallet's); `None` until the payer is known.
pub fn payer_key(f: &Facts<'_>) -> Option<String> {
    subject_key(Subject::Payer, f)
}

/// The counter key of a velocity rule's subject (a payer is its wallet's).
fn subject_key(subject: Subject, f: &Facts<'_>) -> Option<String> {
    match subject {
        Subject::Payer => f.payer_id.map(|p| format!("payer:{}:{p}", f.wallet)),
        Subject::Merchant => Some(format!("merchant:{}:{}", f.acquirer, f.merchant_id)),
    }
}

fn field_value<'a>(field: Field, f: &Facts<'a>) -> Option<&'a str> {
    match field {
        Field::PayerId => f.payer_id,
        Field::MerchantId => Some(f.merchant_id),
        Field::PayerCountry => Some(f.payer_country),
        Field::MerchantCountry => Some(f.merchant_country),
        Field::Mcc => Some(f.mcc),
    }
}

/// The anomaly score, 0–100, from the features: an amount far above the
/// payer's average (40, or 20 for three times), a payer never seen (20),
/// night in the merchant's time zone, 00:00–05:00 (20), three or more
/// corridors in a day (20).
pub fn anomaly_score(f: &Facts<'_>) -> u32 {
    score_of(&anomaly_features(f))
}

/// The score of the features, capped at 100.
fn score_of(features: &[(u32, String)]) -> u32 {
    features
        .iter()
        .map(|(points, _)| points)
        .sum::<u32>()
        .min(100)
}

/// The features that add to the anomaly score, with their points and what
/// was seen (the trace).
pub fn anomaly_features(f: &Facts<'_>) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    match &f.history {
        Some(h) if h.count > 0 => {
            let average = h.total_minor / h.count.max(1);
            for (times, points) in [(10, 40), (3, 20)] {
                if average > 0 && f.amount_minor >= average.saturating_mul(times) {
                    out.push((
                        points,
                        format!(
                            "amount {} at least {times}x the payer's average {average}",
                            f.amount_minor
                        ),
                    ));
                    break;
                }
            }
            if h.corridors_24h >= 3 {
                out.push((20, format!("{} corridors in 24h", h.corridors_24h)));
            }
        }
        _ => out.push((20, "a payer never seen".into())),
    }
    if let Some(h) = f.merchant_local_hour.filter(|h| *h < 5) {
        out.push((20, format!("{h:02}h in the merchant's time zone")));
    }
    out
}

/// Everything a rule may look at. Amounts in minor units of the rule
/// set's currency.
#[derive(Clone, Debug, Default)]
pub struct Facts<'a> {
    pub wallet: &'a str,
    pub acquirer: &'a str,
    /// `None` until the payer is known (CPM before authorisation).
    pub payer_id: Option<&'a str>,
    pub payer_name: Option<&'a str>,
    pub payer_country: &'a str,
    pub merchant_id: &'a str,
    pub merchant_name: &'a str,
    pub merchant_country: &'a str,
    pub mcc: &'a str,
    pub amount_minor: i64,
    /// The hour in the merchant's time zone.
    pub merchant_local_hour: Option<u8>,
    /// The payer's history (`None`: never seen).
    pub history: Option<History>,
}

/// What the store knows of a payer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub count: i64,
    pub total_minor: i64,
    /// Distinct corridors in the last 24 hours.
    pub corridors_24h: u32,
}

/// A counter a rule reads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CounterKey {
    pub rule: String,
    pub key: String,
    pub window: Window,
    /// When the payment stops counting.
    pub release: Release,
}

/// The time a counter covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The current calendar day, month or year.
    Period(Period),
    /// The last n seconds.
    Seconds(u32),
}

/// The counters' values before this payment: (count, amount).
#[derive(Clone, Debug, Default)]
pub struct Counters(BTreeMap<(String, String), (i64, i64)>);

impl Counters {
    pub fn set(&mut self, rule: &str, key: &str, count: i64, amount: i64) {
        self.0
            .insert((rule.to_string(), key.to_string()), (count, amount));
    }

    fn get(&self, rule: &str, key: &str) -> (i64, i64) {
        self.0
            .get(&(rule.to_string(), key.to_string()))
            .copied()
            .unwrap_or((0, 0))
    }
}

/// Why a rule was or was not evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Evaluated,
    /// It needs the payer, not known yet: it runs at authorisation.
    Deferred,
    /// The payer's moment: only payer rules run.
    NotThisMoment,
    /// An allow-list match exempts it.
    Exempt,
}

/// One rule's outcome, for the trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    pub rule: String,
    pub kind: String,
    pub status: Status,
    pub fired: bool,
    pub action: Action,
    /// The values it saw.
    pub saw: String,
}

/// The decision of one moment, with its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The strongest action of the rules that fired (`approve` if none).
    pub action: Action,
    pub score: u32,
    /// The rule set's version.
    pub version: String,
    /// The allow-list rule that matched, if any.
    pub allowed_by: Option<String>,
    pub outcomes: Vec<RuleOutcome>,
}

impl Decision {
    /// The rules that fired.
    pub fn fired(&self) -> impl Iterator<Item = &RuleOutcome> {
        self.outcomes.iter().filter(|o| o.fired)
    }
}

#[cfg(test)]
mod tests;
