-- Participants (SPEC 2.2) and every move of their onboarding stage.
CREATE TABLE participants (
    id TEXT PRIMARY KEY,
    legal_name TEXT NOT NULL,
    roles TEXT NOT NULL,
    country TEXT NOT NULL,
    currencies TEXT NOT NULL,
    settlement_currency TEXT NOT NULL,
    settlement_account TEXT NOT NULL,
    callback_base_url TEXT NOT NULL,
    contacts TEXT NOT NULL,
    stage TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE participant_stage_history (
    participant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (participant_id, seq)
);
