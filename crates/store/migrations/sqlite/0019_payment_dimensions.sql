-- The statistics' dimensions of a payment's terms, kept on the payment
-- row too, so statistics read one table (no join over a million rows).
-- Written with the terms (whichever of the two rows comes second copies
-- them); older payments are filled in here.
ALTER TABLE payments ADD COLUMN payer_country TEXT;
ALTER TABLE payments ADD COLUMN merchant_country TEXT;
ALTER TABLE payments ADD COLUMN mcc TEXT;
ALTER TABLE payments ADD COLUMN payer_residency TEXT;
ALTER TABLE payments ADD COLUMN merchant_residency TEXT;
ALTER TABLE payments ADD COLUMN purpose TEXT;
UPDATE payments SET
    payer_country = (SELECT t.payer_country FROM payment_terms t WHERE t.payment_id = payments.id),
    merchant_country = (SELECT t.merchant_country FROM payment_terms t WHERE t.payment_id = payments.id),
    mcc = (SELECT t.mcc FROM payment_terms t WHERE t.payment_id = payments.id),
    payer_residency = (SELECT t.payer_residency FROM payment_terms t WHERE t.payment_id = payments.id),
    merchant_residency = (SELECT t.merchant_residency FROM payment_terms t WHERE t.payment_id = payments.id),
    purpose = (SELECT t.purpose FROM payment_terms t WHERE t.payment_id = payments.id);
