//! What each onboarding stage lets a participant do: the one policy that
//! every participant call goes through (SPEC §2.2).
//!
//! | stage | reads | keys, merchants | payments |
//! |---|---|---|---|
//! | `applied` | yes | no | no |
//! | `admitted` | yes | yes | no |
//! | `joint_testing` | yes | yes | only marked as test and routed to a simulator |
//! | `production_verification`, `signed` | yes | yes | test ones as above; real ones under the amount cap and count |
//! | `live` | yes | yes | all |
//! | `suspended`, `terminated` | no | no | no |
//!
//! `signed` keeps the verification limits: a signed contract is not yet
//! the operator's go-live. Roles are checked here too: a call made as a
//! role the participant does not have is refused whatever its stage.

use crate::{Role, Stage};

/// What a call does, as far as the policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// Reading its own records.
    Read,
    /// Changing its own set-up: keys, merchants.
    Setup,
    /// Moving money (consult, quote, pay, cancel, refund, rates).
    Payment {
        /// Marked as test traffic by the caller.
        test: bool,
        /// Routed to a built-in simulator rather than a real participant.
        to_simulator: bool,
        /// The payment's amount in the reporting currency, minor units.
        reporting_minor: i64,
    },
}

/// A call: what it does and, when it is a role's call, which role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    pub kind: CallKind,
    pub role: Option<Role>,
}

/// The configured limits of production verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StagePolicy {
    /// Largest real payment while verifying, in reporting-currency minor
    /// units.
    pub verification_amount_max_minor: i64,
    /// Most real payments while verifying.
    pub verification_payments_max: u64,
}

impl Default for StagePolicy {
    fn default() -> Self {
        StagePolicy {
            // 100.00 of the reporting currency (CNY by default).
            verification_amount_max_minor: 10_000,
            verification_payments_max: 50,
        }
    }
}

/// Why the policy refused a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a participant at stage {stage} may not {what}")]
    Stage { stage: &'static str, what: String },
    #[error("this call is a {0}'s and the participant is not one")]
    Role(&'static str),
}

impl StagePolicy {
    /// Whether a participant at `stage` with `roles` may make `call`;
    /// `verified_so_far` counts its real payments made while verifying.
    pub fn check(
        &self,
        stage: Stage,
        roles: &[Role],
        call: Call,
        verified_so_far: u64,
    ) -> Result<(), Refusal> {
        let refuse = |what: String| {
            Err(Refusal::Stage {
                stage: stage.as_str(),
                what,
            })
        };
        if matches!(stage, Stage::Suspended | Stage::Terminated) {
            return refuse("make any call".into());
        }
        if let Some(role) = call.role
            && !roles.contains(&role)
        {
            return Err(Refusal::Role(role.as_str()));
        }
        match call.kind {
            CallKind::Read => Ok(()),
            CallKind::Setup if stage == Stage::Applied => {
                refuse("change its set-up before it is admitted".into())
            }
            CallKind::Setup => Ok(()),
            CallKind::Payment {
                test,
                to_simulator,
                reporting_minor,
            } => match stage {
                Stage::Live => Ok(()),
                Stage::Applied | Stage::Admitted => refuse("make payments".into()),
                _ if test && to_simulator => Ok(()),
                Stage::JointTesting => {
                    refuse("make payments other than test ones to a simulator".into())
                }
                _ if test => refuse("send test payments to a real participant".into()),
                _ if reporting_minor > self.verification_amount_max_minor => refuse(format!(
                    "pay more than {} minor units of the reporting currency",
                    self.verification_amount_max_minor
                )),
                _ if verified_so_far >= self.verification_payments_max => refuse(format!(
                    "make more than {} real payments",
                    self.verification_payments_max
                )),
                _ => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: [Role; 3] = [Role::Wallet, Role::Acquirer, Role::FxProvider];

    fn payment(test: bool, to_simulator: bool, reporting_minor: i64) -> CallKind {
        CallKind::Payment {
            test,
            to_simulator,
            reporting_minor,
        }
    }

    /// The whole table, every stage by every kind of call and role.
    #[test]
    fn every_stage_and_role() {
        let policy = StagePolicy::default();
        let cap = policy.verification_amount_max_minor;
        let kinds = [
            ("read", CallKind::Read),
            ("setup", CallKind::Setup),
            ("test-sim", payment(true, true, 1)),
            ("test-real", payment(true, false, 1)),
            ("small", payment(false, false, cap)),
            ("large", payment(false, false, cap + 1)),
        ];
        // Expected verdicts in the order of `kinds`.
        let table: [(Stage, [bool; 6]); 8] = [
            (Stage::Applied, [true, false, false, false, false, false]),
            (Stage::Admitted, [true, true, false, false, false, false]),
            (Stage::JointTesting, [true, true, true, false, false, false]),
            (
                Stage::ProductionVerification,
                [true, true, true, false, true, false],
            ),
            (Stage::Signed, [true, true, true, false, true, false]),
            (Stage::Live, [true, true, true, true, true, true]),
            (Stage::Suspended, [false; 6]),
            (Stage::Terminated, [false; 6]),
        ];
        for (stage, verdicts) in table {
            for ((name, kind), allowed) in kinds.iter().zip(verdicts) {
                for role in ROLES {
                    for has_role in [true, false] {
                        let roles: Vec<Role> = if has_role {
                            vec![role]
                        } else {
                            ROLES.into_iter().filter(|r| *r != role).collect()
                        };
                        let call = Call {
                            kind: *kind,
                            role: Some(role),
                        };
                        let got = policy.check(stage, &roles, call, 0);
                        let expected = allowed && has_role;
                        assert_eq!(
                            got.is_ok(),
                            expected,
                            "{stage:?} {name} as {role:?} (has it: {has_role}): {got:?}"
                        );
                        if !has_role && allowed {
                            assert_eq!(got, Err(Refusal::Role(role.as_str())));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn verification_stops_at_the_count() {
        let policy = StagePolicy {
            verification_amount_max_minor: 100,
            verification_payments_max: 3,
        };
        let call = Call {
            kind: payment(false, false, 100),
            role: Some(Role::Wallet),
        };
        for n in 0..3 {
            assert!(
                policy
                    .check(Stage::ProductionVerification, &[Role::Wallet], call, n)
                    .is_ok()
            );
        }
        let refused = policy
            .check(Stage::ProductionVerification, &[Role::Wallet], call, 3)
            .unwrap_err();
        assert!(refused.to_string().contains("more than 3"), "{refused}");
        assert!(
            policy
                .check(Stage::Live, &[Role::Wallet], call, 1_000)
                .is_ok()
        );
    }
}
