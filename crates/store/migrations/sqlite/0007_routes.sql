-- Routing (SPEC 2.4): the operator's route table. A route maps a matcher
-- (its kind and canonical value, checked by the `routing` crate) on one
-- side (merchant: an acquirer; wallet: a wallet) to a participant. One
-- route per side, kind and value.
CREATE TABLE routes (
    id TEXT PRIMARY KEY,
    side TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (side, kind, value)
);

CREATE INDEX routes_by_participant ON routes (participant_id);
