-- Payments (SPEC 2.6, 6) and every transition of their state machine (the
-- `payment` crate). A payment row is changed only by a compare-and-set on
-- its version, in the same transaction that appends its history row; the
-- history's seq is the version it produced (the creation row is seq 1).
-- Money is BIGINT minor units beside its ISO 4217 code; never REAL.
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    mode TEXT NOT NULL CHECK (mode IN ('mpm', 'cpm')),
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'transit')),
    wallet TEXT NOT NULL,
    acquirer TEXT NOT NULL,
    merchant_id TEXT,
    initiator TEXT NOT NULL,
    request_id TEXT NOT NULL,
    order_id TEXT,
    merchant_amount BIGINT NOT NULL CHECK (merchant_amount > 0),
    merchant_currency TEXT NOT NULL,
    payer_amount BIGINT,
    payer_currency TEXT,
    wallet_settlement_amount BIGINT,
    wallet_settlement_currency TEXT,
    acquirer_settlement_amount BIGINT,
    acquirer_settlement_currency TEXT,
    reporting_amount BIGINT,
    reporting_currency TEXT,
    quote_id TEXT,
    clearing_date TEXT,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (initiator, request_id)
);

-- The recovery sweep reads open payments by age: a partial index holds only
-- the payments a node may have to finish.
CREATE INDEX payments_open ON payments (updated_at_ms)
    WHERE state NOT IN ('succeeded', 'failed', 'cancelled', 'exception');
CREATE INDEX payments_by_state ON payments (state, updated_at_ms);

CREATE TABLE payment_history (
    payment_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    event TEXT,
    detail TEXT NOT NULL,
    node TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (payment_id, seq)
);
