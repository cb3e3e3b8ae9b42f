-- The books (SPEC 2.8, 6). An account is one row per shard: participants'
-- accounts have one (their debit limit is checked on it, atomically); the
-- gateway's house accounts, touched by every payment, have several so that
-- no single row serialises the system. A balance is the sum of its shards.
CREATE TABLE ledger_accounts (
    id TEXT NOT NULL,
    shard BIGINT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    currency TEXT NOT NULL,
    debit_limit BIGINT,
    debits_pending BIGINT NOT NULL,
    debits_posted BIGINT NOT NULL,
    credits_pending BIGINT NOT NULL,
    credits_posted BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (id, shard)
);

-- Transfers: immutable, in the order they were written. A pending one is
-- open until a post or void of it closes it (the one column that changes).
CREATE TABLE ledger_transfers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    debit_account TEXT NOT NULL,
    debit_shard BIGINT NOT NULL,
    credit_account TEXT NOT NULL,
    credit_shard BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    code TEXT NOT NULL,
    reference TEXT NOT NULL,
    phase TEXT NOT NULL,
    pending_id TEXT,
    expires_at_ms BIGINT,
    open BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE INDEX ledger_transfers_by_reference ON ledger_transfers (reference);
-- Balances at a time are the current ones less what came after: an index
-- on time grows at its end, where per-account indexes would dirty pages all
-- over on every commit (measured: three to four times slower on SQLite).
CREATE INDEX ledger_transfers_by_time ON ledger_transfers (created_at_ms);
-- Only open reservations are looked up by expiry: a partial index stays small.
CREATE INDEX ledger_transfers_open ON ledger_transfers (expires_at_ms) WHERE open = 1;
