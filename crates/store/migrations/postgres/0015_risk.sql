-- Risk (SPEC §2.9): every rule set and sanctions list ever loaded, by
-- version; the latest of each kind is the one in force on every node (a
-- node reloads when the store has a newer one). Alerts for the operator.
CREATE TABLE risk_sets (
    kind TEXT NOT NULL CHECK (kind IN ('rules', 'sanctions')),
    version TEXT NOT NULL,
    body TEXT NOT NULL,
    items BIGINT NOT NULL,
    loaded_at_ms BIGINT NOT NULL,
    loaded_by TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (kind, version)
);
CREATE INDEX risk_sets_latest ON risk_sets (kind, seq);

CREATE TABLE risk_alerts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payment_id TEXT,
    detail TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    acked_at_ms BIGINT,
    acked_by TEXT
);
CREATE INDEX risk_alerts_open ON risk_alerts (created_at_ms) WHERE acked_at_ms IS NULL;
