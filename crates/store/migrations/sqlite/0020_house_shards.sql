-- PostgreSQL's 0020 takes the gateway's house accounts from 16 shards to 64
-- (fewer payments waiting on one shard's row lock until the commit). SQLite
-- has one writer and no row locks, so it keeps 16 (store::house_shards):
-- nothing to change here; the version keeps both engines' numbering alike.
SELECT 1;
