-- The gateway's house accounts go from 16 shards to 64 (store::house_shards):
-- on PostgreSQL a payment holds its shards' row locks until its commit, and
-- with 16 the next payment on the same shard waited that long too often
-- (BENCHMARKS.md, ledger). The new shards start at zero and a balance is the
-- sum of its shards, so no balance changes; reservations keep the shard
-- written in their transfer.
INSERT INTO ledger_accounts (id, shard, owner, kind, currency, debit_limit, debits_pending,
    debits_posted, credits_pending, credits_posted, created_at_ms)
SELECT a.id, s.n, a.owner, a.kind, a.currency, a.debit_limit, 0, 0, 0, 0, a.created_at_ms
FROM ledger_accounts a
CROSS JOIN (
    WITH RECURSIVE shards (n) AS (SELECT 16 UNION ALL SELECT n + 1 FROM shards WHERE n < 63)
    SELECT n FROM shards
) s
WHERE a.shard = 0 AND a.kind <> 'settlement'
ON CONFLICT (id, shard) DO NOTHING;
