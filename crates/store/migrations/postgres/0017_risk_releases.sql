-- Risk counters released (SPEC §2.9): a rule may say a payment stops
-- counting when it ends failed or cancelled, or when it is refunded. A
-- release is a new event that takes the payment's share off at the
-- original event's time (so every window that held the payment sees it
-- go), never an update: the counters stay a sum of what happened.
ALTER TABLE risk_events ADD COLUMN units BIGINT NOT NULL DEFAULT 1;
-- never | cancel | cancel_and_refund (the rule's, when the event was written)
ALTER TABLE risk_events ADD COLUMN release_on TEXT NOT NULL DEFAULT 'never';
-- payment | cancel | refund:<refund id>
ALTER TABLE risk_events ADD COLUMN source TEXT NOT NULL DEFAULT 'payment';
-- The payment's corridor (the payer's history: corridors in a day).
ALTER TABLE risk_events ADD COLUMN corridor TEXT NOT NULL DEFAULT '';
CREATE INDEX risk_events_payment ON risk_events (payment_id, source);
