-- Clearing and settlement (SPEC §2.8, §6). A payment belongs to the cycle
-- of the clearing date it was given when accepted; so does a refund (its
-- own date) and a cancel (its payment's: a cancel is only taken before
-- that date's cut-off, or in its grace period).
ALTER TABLE refunds ADD COLUMN clearing_date TEXT;
CREATE INDEX refunds_by_clearing_date ON refunds (clearing_date);
CREATE INDEX payments_by_clearing_date ON payments (clearing_date);

-- One cycle per clearing date: open → cut_off → closed → settled. The close
-- writes the positions and the instructions and moves the state in one
-- transaction, so a failed close leaves the cycle as it was.
CREATE TABLE clearing_cycles (
    clearing_date TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('open', 'cut_off', 'closed', 'settled')),
    cutoff_at_ms BIGINT NOT NULL,
    grace_until_ms BIGINT NOT NULL,
    closed_at_ms BIGINT,
    closed_by TEXT,
    closed_early BIGINT NOT NULL DEFAULT 0,
    settled_at_ms BIGINT,
    payments BIGINT NOT NULL DEFAULT 0,
    refunds BIGINT NOT NULL DEFAULT 0
);

-- Each party's multilateral position per currency in a closed cycle.
CREATE TABLE cycle_positions (
    clearing_date TEXT NOT NULL,
    party TEXT NOT NULL,
    currency TEXT NOT NULL,
    gross_debits BIGINT NOT NULL,
    gross_credits BIGINT NOT NULL,
    fees BIGINT NOT NULL,
    net BIGINT NOT NULL,
    PRIMARY KEY (clearing_date, party, currency)
);

-- Who pays whom to settle a closed cycle.
CREATE TABLE settlement_instructions (
    clearing_date TEXT NOT NULL,
    seq BIGINT NOT NULL,
    payer TEXT NOT NULL,
    payee TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    payer_account TEXT NOT NULL,
    payee_account TEXT NOT NULL,
    value_date TEXT NOT NULL,
    PRIMARY KEY (clearing_date, seq)
);
