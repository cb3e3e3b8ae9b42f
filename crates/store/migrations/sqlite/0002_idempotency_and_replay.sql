-- Idempotency records (SPEC 4.3): one per (participant, operation, request
-- id); the fingerprint is a hash of the request's canonical JSON; the first
-- answer is kept and replayed. Times are Unix milliseconds.
CREATE TABLE idempotency_records (
    participant_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    gateway_id TEXT NOT NULL,
    status_code BIGINT,
    response TEXT,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (participant_id, operation, request_id)
);

CREATE INDEX idempotency_records_expiry ON idempotency_records (expires_at_ms);

-- The replay guard (SPEC 4.1): a signature is accepted once within the
-- skew window, whichever node sees it.
CREATE TABLE seen_signatures (
    signature_hash TEXT PRIMARY KEY,
    expires_at_ms BIGINT NOT NULL
);

CREATE INDEX seen_signatures_expiry ON seen_signatures (expires_at_ms);
