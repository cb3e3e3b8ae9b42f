-- The resolver reads the refunds whose outcome is not known, every sweep:
-- a partial index holds only those.
CREATE INDEX refunds_open ON refunds (updated_at_ms) WHERE state IN ('pending', 'unknown');
