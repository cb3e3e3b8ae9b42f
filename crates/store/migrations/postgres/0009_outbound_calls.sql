-- The gateway's own calls to participants (SPEC §4.3): a row is written
-- before each attempt, so whichever node resumes a payment reuses its
-- request ids. `purpose` names what the call is for (`pay:<payment>`,
-- `refund:<refund>`), so the id for a purpose is made once.
CREATE TABLE outbound_calls (
    request_id TEXT PRIMARY KEY,
    purpose TEXT UNIQUE,
    participant_id TEXT NOT NULL,
    call TEXT NOT NULL,
    payment_id TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    status TEXT,
    code TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX outbound_calls_by_payment ON outbound_calls (payment_id);
