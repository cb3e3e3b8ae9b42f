-- FX (SPEC 2.7, 6). Rates are exact decimal text, never floats.

-- Every rate a provider pushed (or the operator set for the house book):
-- the history, append-only.
CREATE TABLE fx_rate_history (
    provider_id TEXT NOT NULL,
    base TEXT NOT NULL,
    quote TEXT NOT NULL,
    bid TEXT NOT NULL,
    ask TEXT NOT NULL,
    source TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL
);

CREATE INDEX fx_rate_history_by_pair ON fx_rate_history (provider_id, base, quote, at_ms);

-- The latest rate of each provider and pair.
CREATE TABLE fx_rates (
    provider_id TEXT NOT NULL,
    base TEXT NOT NULL,
    quote TEXT NOT NULL,
    bid TEXT NOT NULL,
    ask TEXT NOT NULL,
    source TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (provider_id, base, quote)
);

-- Markup rules: '' in a column matches anything.
CREATE TABLE fx_markups (
    participant_id TEXT NOT NULL,
    from_currency TEXT NOT NULL,
    to_currency TEXT NOT NULL,
    bps BIGINT NOT NULL,
    PRIMARY KEY (participant_id, from_currency, to_currency)
);

-- Named FX settings (the pivot, the default markup).
CREATE TABLE fx_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Firm quotes: bound to the participant, payer, merchant or order, pair and
-- receive amount; single use before they expire.
CREATE TABLE fx_quotes (
    id TEXT PRIMARY KEY,
    participant_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    -- The provider's own reference of its firm quote (callbacks), or ''.
    provider_ref TEXT NOT NULL,
    from_currency TEXT NOT NULL,
    to_currency TEXT NOT NULL,
    price_num TEXT NOT NULL,
    price_den TEXT NOT NULL,
    rate TEXT NOT NULL,
    markup_bps BIGINT NOT NULL,
    pay_minor BIGINT NOT NULL,
    receive_minor BIGINT NOT NULL,
    payer_id TEXT NOT NULL,
    merchant_ref TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms BIGINT,
    used_by TEXT
);

CREATE INDEX fx_quotes_by_participant ON fx_quotes (participant_id, created_at_ms);
