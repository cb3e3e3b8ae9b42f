-- Leases: work that must run on exactly one node (batch jobs, the resolver,
-- cycle closes). Times are Unix milliseconds.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    acquired_at_ms BIGINT NOT NULL,
    renewals BIGINT NOT NULL DEFAULT 0
);

-- Operator and regulator bearer tokens, stored as SHA-256 hashes.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('operator', 'regulator')),
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
