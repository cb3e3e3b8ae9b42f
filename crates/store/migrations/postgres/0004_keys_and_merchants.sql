-- Participants' public keys (SPEC 4.1): versioned; a rotated key stays
-- valid until valid_until_ms (the overlap window); a revoked one never is.
CREATE TABLE participant_keys (
    participant_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    public_pem TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    valid_until_ms BIGINT,
    revoked_at_ms BIGINT,
    revoked_by TEXT,
    PRIMARY KEY (participant_id, version)
);

-- The gateway's own signing keys: the private half sealed under the
-- key-encryption key, never stored in the clear. The newest version whose
-- activation time has come signs; a newer one is published before it
-- signs, so every node publishes it first; the one before is still published.
CREATE TABLE gateway_keys (
    version BIGINT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    public_pem TEXT NOT NULL,
    sealed_private BYTEA NOT NULL,
    kek_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    activates_at_ms BIGINT NOT NULL
);

-- The acquirers' merchants (SPEC 2.2) and the QR identifiers that point
-- to them; an identifier points to one merchant in the whole network.
CREATE TABLE merchants (
    id TEXT PRIMARY KEY,
    acquirer_id TEXT NOT NULL,
    acquirer_merchant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    mcc TEXT NOT NULL,
    country TEXT NOT NULL,
    city TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    kyb_status TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (acquirer_id, acquirer_merchant_id)
);

CREATE TABLE merchant_identifiers (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    acquirer_id TEXT NOT NULL,
    PRIMARY KEY (kind, value)
);

CREATE INDEX merchant_identifiers_by_merchant ON merchant_identifiers (merchant_id);
