-- Refunds (SPEC §2.6, §6): at the original rates, pro rata of every leg,
-- the last taking the remainder. A payment's refunds go one at a time: the
-- claim adds to `refunded_minor` only when none is in flight, so the
-- cumulative pro-rata shares stay exact and concurrent refunds can never
-- exceed what was paid.
ALTER TABLE payment_terms ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payment_terms ADD COLUMN refund_in_flight TEXT;

CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    acquirer_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    merchant_minor BIGINT NOT NULL,
    merchant_currency TEXT NOT NULL,
    payer_minor BIGINT NOT NULL,
    payer_currency TEXT NOT NULL,
    refunded_before_minor BIGINT NOT NULL,
    state TEXT NOT NULL,
    code TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (acquirer_id, request_id)
);
CREATE INDEX refunds_by_payment ON refunds (payment_id);
