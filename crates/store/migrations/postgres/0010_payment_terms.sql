-- What a payment was agreed at (SPEC §6): the merchant as the code and the
-- registry gave it, the FX legs and the fee with its split, written before
-- the payment itself so an inquiry always finds them.
CREATE TABLE payment_terms (
    payment_id TEXT PRIMARY KEY,
    merchant_name TEXT NOT NULL,
    acquirer_merchant_id TEXT NOT NULL,
    merchant_country TEXT NOT NULL,
    mcc TEXT NOT NULL,
    payer_country TEXT NOT NULL,
    fx_provider TEXT,
    fx_rate TEXT,
    markup_bps BIGINT,
    fx_provider_minor BIGINT NOT NULL,
    fx_markup_minor BIGINT NOT NULL,
    fx_rounding_minor BIGINT NOT NULL,
    fee_discount BIGINT NOT NULL,
    fee_acquirer BIGINT NOT NULL,
    fee_wallet BIGINT NOT NULL,
    fee_gateway BIGINT NOT NULL,
    fee_scheme BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- Dynamic codes and CPM orders are single use per acquirer (SPEC §6): the
-- first payment claims the order; a payment that fails releases it.
CREATE TABLE used_orders (
    acquirer_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (acquirer_id, order_id)
);
