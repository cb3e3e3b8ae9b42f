-- Risk counters (SPEC §2.9): one event per counter a payment adds to,
-- written in the transaction that checked the counters, so two racing
-- payments can never both take the last of a limit. A window is summed
-- from its events.
CREATE TABLE risk_events (
    rule TEXT NOT NULL,
    counter_key TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    payment_id TEXT NOT NULL
);
CREATE INDEX risk_events_window ON risk_events (rule, counter_key, at_ms);

-- The decision of each payment at each moment, with its evidence.
CREATE TABLE risk_decisions (
    payment_id TEXT NOT NULL,
    moment TEXT NOT NULL,
    action TEXT NOT NULL,
    version TEXT NOT NULL,
    score BIGINT NOT NULL,
    decision TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (payment_id, moment)
);
