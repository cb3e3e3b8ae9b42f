-- The unified information interface (SPEC §2.10).

-- Balance-of-payments fields of each payment: the payer's and the
-- merchant's residency (ISO 3166) and a purpose code (ISO 20022
-- ExternalPurpose1Code). Empty for payments made before they were kept.
ALTER TABLE payment_terms ADD COLUMN payer_residency TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_terms ADD COLUMN merchant_residency TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_terms ADD COLUMN purpose TEXT NOT NULL DEFAULT '';

-- Statistics read payments by time.
CREATE INDEX payments_by_created ON payments (created_at_ms);

-- The daily regulatory report, made when its cycle closes: the same
-- figures as JSON and CSV, with the SHA-256 of each.
CREATE TABLE regulatory_reports (
    clearing_date TEXT PRIMARY KEY,
    json TEXT NOT NULL,
    json_sha256 TEXT NOT NULL,
    csv TEXT NOT NULL,
    csv_sha256 TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
