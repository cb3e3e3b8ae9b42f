-- The notifications outbox (SPEC §2.6): each final result of a payment, to
-- tell each participant concerned, written in the same transaction as the
-- state change that produced it; sent at least once by the notifier, with
-- retries and backoff, and parked as `dead` after its attempts run out
-- (the operator lists and replays those). The row's id is the request id
-- of every attempt, so a participant recognises a repeat.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    participant TEXT NOT NULL,
    payment_state TEXT NOT NULL,
    amount BIGINT,
    currency TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at_ms BIGINT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX notifications_due ON notifications (status, next_at_ms);
CREATE INDEX notifications_by_payment ON notifications (payment_id);
