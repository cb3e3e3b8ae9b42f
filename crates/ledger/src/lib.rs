//! The books (SPEC §2.8, §6), shaped after TigerBeetle (STYLE.md).
//!
//! - An [`Account`] belongs to an owner (a participant, or the gateway
//!   `unigate`), has a [`Kind`] and one currency, and keeps four sums:
//!   pending and posted debits and credits. An account may carry a debit
//!   limit: how far its net debit (pending and posted debits less posted
//!   credits) may go — a wallet's net debit cap, 0 for a prefunded wallet
//!   (only its top-ups), an acquirer's refund allowance.
//! - A [`Transfer`] moves an amount from a debit account to a credit account
//!   of the same currency. It is immutable. Two-phase: a `Pending` transfer
//!   reserves, a later `Post` or `Void` of it settles or releases; `Single`
//!   posts at once. A correction is a new transfer.
//! - Every transfer balances by construction (one amount, one debit, one
//!   credit), so the sum of all accounts' net balances per currency is
//!   always zero, the gateway's included.
//!
//! [`Book`] is the rules in memory: the model the store's SQL is checked
//! against, and what replaying transfers rebuilds balances with.

pub mod fees;

use std::collections::BTreeMap;

use money::Currency;

/// The gateway's owner id in the books.
pub const GATEWAY: &str = "unigate";

/// What an account is for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A participant's (or FX provider's) settlement position.
    Settlement,
    /// The gateway's fee income.
    FeeIncome,
    /// The gateway's FX markup income.
    FxMarkup,
    /// FX revaluation.
    FxRevaluation,
    /// Rounding residues.
    Rounding,
    /// Amounts whose outcome is unknown, until the operator resolves them.
    Suspense,
    /// Money entering or leaving the system (top-ups and withdrawals
    /// against the settlement banks).
    Funding,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Settlement,
        Kind::FeeIncome,
        Kind::FxMarkup,
        Kind::FxRevaluation,
        Kind::Rounding,
        Kind::Suspense,
        Kind::Funding,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Settlement => "settlement",
            Kind::FeeIncome => "fee_income",
            Kind::FxMarkup => "fx_markup",
            Kind::FxRevaluation => "fx_revaluation",
            Kind::Rounding => "rounding",
            Kind::Suspense => "suspense",
            Kind::Funding => "funding",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The gateway's own accounts, touched by every payment: kept in
    /// shards so that no one row serialises the system.
    pub fn is_house(self) -> bool {
        !matches!(self, Kind::Settlement)
    }
}

/// An account's identity: owner, kind, currency. Its id is
/// `owner:kind:CCY`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId {
    pub owner: String,
    pub kind: Kind,
    pub currency: Currency,
}

impl AccountId {
    pub fn new(owner: &str, kind: Kind, currency: Currency) -> AccountId {
        AccountId {
            owner: owner.to_string(),
            kind,
            currency,
        }
    }

    pub fn gateway(kind: Kind, currency: Currency) -> AccountId {
        AccountId::new(GATEWAY, kind, currency)
    }

    pub fn key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.owner,
            self.kind.as_str(),
            self.currency.code()
        )
    }

    pub fn parse(key: &str) -> Option<AccountId> {
        let mut parts = key.rsplitn(3, ':');
        let currency = Currency::parse(parts.next()?).ok()?;
        let kind = Kind::parse(parts.next()?)?;
        let owner = parts.next()?;
        (!owner.is_empty()).then(|| AccountId::new(owner, kind, currency))
    }
}

/// An account's four sums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Balance {
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
}

impl Balance {
    /// Posted credits less posted debits.
    pub fn net_posted(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted)
    }

    /// What a debit limit is held against: pending and posted debits less
    /// posted credits (pending credits do not count until posted).
    pub fn exposure(&self) -> i128 {
        i128::from(self.debits_pending) + i128::from(self.debits_posted)
            - i128::from(self.credits_posted)
    }

    pub fn plus(&self, other: &Balance) -> Option<Balance> {
        Some(Balance {
            debits_pending: self.debits_pending.checked_add(other.debits_pending)?,
            debits_posted: self.debits_posted.checked_add(other.debits_posted)?,
            credits_pending: self.credits_pending.checked_add(other.credits_pending)?,
            credits_posted: self.credits_posted.checked_add(other.credits_posted)?,
        })
    }
}

/// Why the ledger refused a transfer; nothing was applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("the amount must be more than zero")]
    NotPositive,
    #[error("a transfer needs two different accounts")]
    SameAccount,
    #[error("{0} is in another currency than the transfer")]
    CurrencyMismatch(String),
    #[error("account {0} does not exist")]
    NoAccount(String),
    #[error("transfer {0} exists already")]
    Exists(String),
    #[error("transfer {0} is not a pending transfer that is still open")]
    NotPending(String),
    #[error("{account} would go {over} minor units beyond its debit limit")]
    LimitExceeded { account: String, over: i128 },
    #[error("a sum would overflow 64 bits")]
    Overflow,
}

/// Which phase a transfer is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    /// Posted at once.
    Single,
    /// A reservation, to be posted or voided (by `expires_at_ms` the
    /// expiry job acts on it).
    Pending { expires_at_ms: i64 },
    /// Post a pending transfer in full.
    Post { pending_id: String },
    /// Release a pending transfer.
    Void { pending_id: String },
}

/// Why money moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    Payment,
    FxLeg,
    Fee,
    Markup,
    Rounding,
    Refund,
    TopUp,
    Withdrawal,
    Suspense,
    Correction,
    /// A cycle's settlement: brings a party's net position back to zero.
    Settlement,
}

impl Code {
    pub const ALL: [Code; 11] = [
        Code::Payment,
        Code::FxLeg,
        Code::Fee,
        Code::Markup,
        Code::Rounding,
        Code::Refund,
        Code::TopUp,
        Code::Withdrawal,
        Code::Suspense,
        Code::Correction,
        Code::Settlement,
    ];

    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Payment => "payment",
            Code::FxLeg => "fx_leg",
            Code::Fee => "fee",
            Code::Markup => "markup",
            Code::Rounding => "rounding",
            Code::Refund => "refund",
            Code::TopUp => "top_up",
            Code::Withdrawal => "withdrawal",
            Code::Suspense => "suspense",
            Code::Correction => "correction",
            Code::Settlement => "settlement",
        }
    }
}

/// A transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub id: String,
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: i64,
    pub code: Code,
    /// The payment (or top-up, refund…) it belongs to.
    pub reference: String,
    pub phase: Phase,
}

impl Transfer {
    /// The checks that need no balances.
    pub fn validate(&self) -> Result<(), LedgerError> {
        if self.amount <= 0 {
            return Err(LedgerError::NotPositive);
        }
        if self.debit == self.credit {
            return Err(LedgerError::SameAccount);
        }
        if self.debit.currency != self.credit.currency {
            return Err(LedgerError::CurrencyMismatch(self.credit.key()));
        }
        Ok(())
    }
}

/// An account's definition and sums in the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// How far the exposure may go; `None`: no limit.
    pub debit_limit: Option<i64>,
    pub balance: Balance,
}

/// The rules in memory.
#[derive(Clone, Debug, Default)]
pub struct Book {
    pub accounts: BTreeMap<AccountId, Account>,
    /// Every transfer applied, in order.
    pub transfers: Vec<Transfer>,
    /// Pending transfers still open, by id.
    open: BTreeMap<String, Transfer>,
}

impl Book {
    pub fn open_account(&mut self, id: AccountId, debit_limit: Option<i64>) {
        self.accounts.entry(id.clone()).or_insert(Account {
            id,
            debit_limit,
            balance: Balance::default(),
        });
    }

    pub fn set_limit(
        &mut self,
        id: &AccountId,
        debit_limit: Option<i64>,
    ) -> Result<(), LedgerError> {
        let a = self
            .accounts
            .get_mut(id)
            .ok_or_else(|| LedgerError::NoAccount(id.key()))?;
        a.debit_limit = debit_limit;
        Ok(())
    }

    pub fn balance(&self, id: &AccountId) -> Option<Balance> {
        self.accounts.get(id).map(|a| a.balance)
    }

    /// Apply one transfer, or refuse it and change nothing.
    pub fn apply(&mut self, t: &Transfer) -> Result<(), LedgerError> {
        t.validate()?;
        if self.transfers.iter().any(|x| x.id == t.id) {
            return Err(LedgerError::Exists(t.id.clone()));
        }
        for id in [&t.debit, &t.credit] {
            if !self.accounts.contains_key(id) {
                return Err(LedgerError::NoAccount(id.key()));
            }
        }
        let (debit_delta, credit_delta) = match &t.phase {
            Phase::Single => (
                Balance {
                    debits_posted: t.amount,
                    ..Balance::default()
                },
                Balance {
                    credits_posted: t.amount,
                    ..Balance::default()
                },
            ),
            Phase::Pending { .. } => (
                Balance {
                    debits_pending: t.amount,
                    ..Balance::default()
                },
                Balance {
                    credits_pending: t.amount,
                    ..Balance::default()
                },
            ),
            Phase::Post { pending_id } | Phase::Void { pending_id } => {
                let p = self
                    .open
                    .get(pending_id)
                    .filter(|p| p.debit == t.debit && p.credit == t.credit && p.amount == t.amount)
                    .ok_or_else(|| LedgerError::NotPending(pending_id.clone()))?;
                let posted = i64::from(matches!(t.phase, Phase::Post { .. }));
                (
                    Balance {
                        debits_pending: -p.amount,
                        debits_posted: posted * p.amount,
                        ..Balance::default()
                    },
                    Balance {
                        credits_pending: -p.amount,
                        credits_posted: posted * p.amount,
                        ..Balance::default()
                    },
                )
            }
        };
        let debit = self
            .accounts
            .get(&t.debit)
            .ok_or_else(|| LedgerError::NoAccount(t.debit.key()))?;
        let new_debit = debit
            .balance
            .plus(&debit_delta)
            .ok_or(LedgerError::Overflow)?;
        // Only a new debit can breach a limit: posting or voiding a
        // reservation never raises the exposure.
        if let Some(limit) = debit.debit_limit
            && matches!(t.phase, Phase::Single | Phase::Pending { .. })
            && new_debit.exposure() > i128::from(limit)
        {
            return Err(LedgerError::LimitExceeded {
                account: t.debit.key(),
                over: new_debit.exposure() - i128::from(limit),
            });
        }
        let credit = self
            .accounts
            .get(&t.credit)
            .ok_or_else(|| LedgerError::NoAccount(t.credit.key()))?;
        let new_credit = credit
            .balance
            .plus(&credit_delta)
            .ok_or(LedgerError::Overflow)?;
        if let Some(a) = self.accounts.get_mut(&t.debit) {
            a.balance = new_debit;
        }
        if let Some(a) = self.accounts.get_mut(&t.credit) {
            a.balance = new_credit;
        }
        match &t.phase {
            Phase::Pending { .. } => {
                self.open.insert(t.id.clone(), t.clone());
            }
            Phase::Post { pending_id } | Phase::Void { pending_id } => {
                self.open.remove(pending_id);
            }
            Phase::Single => {}
        }
        self.transfers.push(t.clone());
        Ok(())
    }

    /// Apply transfers all or none (a payment's linked legs). A batch of
    /// new (single or pending) transfers holds each debit limit on the
    /// batch's final state, as the store does: the batch is atomic, so no
    /// state in between is ever seen; a batch with posts or voids applies
    /// one by one.
    pub fn apply_all(&mut self, ts: &[Transfer]) -> Result<(), LedgerError> {
        let mut trial = self.clone();
        let new_only = ts
            .iter()
            .all(|t| matches!(t.phase, Phase::Single | Phase::Pending { .. }));
        if !new_only || ts.len() < 2 {
            for t in ts {
                trial.apply(t)?;
            }
            *self = trial;
            return Ok(());
        }
        let limits: Vec<(AccountId, Option<i64>)> = ts
            .iter()
            .filter_map(|t| {
                trial
                    .accounts
                    .get(&t.debit)
                    .map(|a| (a.id.clone(), a.debit_limit))
            })
            .collect();
        for (id, _) in &limits {
            trial.set_limit(id, None)?;
        }
        for t in ts {
            trial.apply(t)?;
        }
        for (id, limit) in &limits {
            trial.set_limit(id, *limit)?;
            if let (Some(limit), Some(b)) = (limit, trial.balance(id))
                && b.exposure() > i128::from(*limit)
            {
                return Err(LedgerError::LimitExceeded {
                    account: id.key(),
                    over: b.exposure() - i128::from(*limit),
                });
            }
        }
        *self = trial;
        Ok(())
    }

    /// Per currency, the sum of every account's posted and of its pending
    /// nets: both are zero in a sound book.
    pub fn trial_balance(&self) -> BTreeMap<Currency, (i128, i128)> {
        let mut out: BTreeMap<Currency, (i128, i128)> = BTreeMap::new();
        for a in self.accounts.values() {
            let e = out.entry(a.id.currency).or_default();
            e.0 += a.balance.net_posted();
            e.1 += i128::from(a.balance.credits_pending) - i128::from(a.balance.debits_pending);
        }
        out
    }

    /// Rebuild every balance from the transfers alone.
    pub fn replayed(&self) -> Result<Book, LedgerError> {
        let mut fresh = Book::default();
        for a in self.accounts.values() {
            fresh.open_account(a.id.clone(), None);
        }
        for t in &self.transfers {
            fresh.apply(t)?;
        }
        for a in self.accounts.values() {
            fresh.set_limit(&a.id, a.debit_limit)?;
        }
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::parse("CNY").unwrap_or_else(|e| panic!("{e}"))
    }

    fn t(id: &str, debit: &AccountId, credit: &AccountId, amount: i64, phase: Phase) -> Transfer {
        Transfer {
            id: id.into(),
            debit: debit.clone(),
            credit: credit.clone(),
            amount,
            code: Code::Payment,
            reference: "p-1".into(),
            phase,
        }
    }

    #[test]
    fn two_phase_with_a_cap() {
        let wallet = AccountId::new("hipay", Kind::Settlement, cny());
        let acquirer = AccountId::new("kbank", Kind::Settlement, cny());
        let mut b = Book::default();
        b.open_account(wallet.clone(), Some(1_000));
        b.open_account(acquirer.clone(), None);
        b.apply(&t(
            "r1",
            &wallet,
            &acquirer,
            600,
            Phase::Pending { expires_at_ms: 10 },
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        // The last headroom is 400: 401 is refused and nothing changes.
        let before = b.balance(&wallet);
        assert!(matches!(
            b.apply(&t(
                "r2",
                &wallet,
                &acquirer,
                401,
                Phase::Pending { expires_at_ms: 10 }
            )),
            Err(LedgerError::LimitExceeded { .. })
        ));
        assert_eq!(b.balance(&wallet), before);
        b.apply(&t(
            "p1",
            &wallet,
            &acquirer,
            600,
            Phase::Post {
                pending_id: "r1".into(),
            },
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            b.apply(&t(
                "v1",
                &wallet,
                &acquirer,
                600,
                Phase::Void {
                    pending_id: "r1".into()
                }
            ))
            .is_err()
        );
        assert_eq!(b.balance(&wallet).map(|x| x.debits_posted), Some(600));
        assert_eq!(b.trial_balance().get(&cny()), Some(&(0, 0)));
        let replayed = b.replayed().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(replayed.accounts, b.accounts);
        assert_eq!(AccountId::parse(&wallet.key()), Some(wallet));
        assert_eq!(
            AccountId::parse("a:b:c:settlement:CNY").map(|a| a.owner),
            Some("a:b:c".into())
        );
    }
}
