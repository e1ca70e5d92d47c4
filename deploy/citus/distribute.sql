-- ShopGPT on Citus: distribute the per-user tables by user_id, co-located, 128 shards.
-- Run once on the coordinator after the migrations have created the schema (docs/operations.md,
-- "Running on Citus"). tests/ShopGpt.Tests/Database/CitusCompatibilityTests.cs checks this file
-- against the real schema: every key of a distributed table contains its distribution column,
-- foreign keys join co-located tables on it or point at reference tables, and every table is
-- placed here (distributed, reference, or coordinator-local).
--
-- coordinator-local: schema_migrations, maintenance_runs
--   (bookkeeping read and written by the instances' maintenance jobs; tiny, never joined with user data)
-- coordinator-local: analytics_positions, analytics_hourly, analytics_daily_users, analytics_monthly_users, analytics_user_conversations, analytics_products, analytics_pending_queries, analytics_no_match
--   (analytics rollups, written only by the stream consumers and read whole by the dashboard; see docs/analytics.md)

create extension if not exists citus;

set citus.shard_count = 128;

-- Per-user data: every query names the user (ARCHITECTURE.md), so each is routed to one shard, and
-- joins between these tables (conversation + its last message, batcher's lock + insert) stay on one
-- node because the tables are co-located (same shard for the same user_id).
select create_distributed_table('users', 'user_id', shard_count => 128);
select create_distributed_table('sessions', 'user_id', colocate_with => 'users');
select create_distributed_table('conversations', 'user_id', colocate_with => 'users');
-- Partitioned by month and distributed by user: Citus distributes every partition (also ones
-- the partition job creates later) with the parent's placement.
select create_distributed_table('messages', 'user_id', colocate_with => 'users');
-- Issue 19: saved products and answer feedback are per user; co-located, so feedback's foreign
-- key to conversations and the shortlist's to users stay on one shard.
select create_distributed_table('assistant_dialogue', 'user_id', colocate_with => 'users');
select create_distributed_table('shortlist_items', 'user_id', colocate_with => 'users');
select create_distributed_table('message_feedback', 'user_id', colocate_with => 'users');
select create_distributed_table('product_opens', 'user_id', colocate_with => 'users');

-- credentials is looked up by email at login, before the user is known, so it is keyed and
-- distributed by email: a login is a single-shard lookup. It is not co-located with users (and
-- has no foreign key to it, see 0001_init.sql): registration writes users and credentials in one
-- transaction across two shards, which Citus commits with 2PC. A reference table would also work
-- but copies every row to every node, which does not suit a table that grows with the user base.
select create_distributed_table('credentials', 'email', colocate_with => 'none');

-- The product catalog is read by everybody and joined with nothing per-user at scale: a
-- reference table (a full copy on every node) makes catalog reads local wherever they run.
-- Guarded: the catalog (migrations 04xx) may not be deployed yet.
do $$
begin
    if to_regclass('products') is not null then
        perform create_reference_table('products');
    end if;
end $$;

-- How often two products were compared (issue 19): no user data, read next to products.
select create_reference_table('product_comparisons');

-- popular_conversations (materialized view) is built on the coordinator from a distributed
-- query over conversations and messages; REFRESH ... CONCURRENTLY works on it as on PostgreSQL.
