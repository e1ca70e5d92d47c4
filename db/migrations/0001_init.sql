-- Schema v1. Citus-ready: every primary/unique key of a per-user table starts with user_id,
-- the distribution column (deploy/citus). Tables that are looked up by something other than
-- the user (credentials by email) are keyed by that value and carry no foreign key.
create extension if not exists pg_trgm;

create table users (
    user_id      uuid primary key,
    display_name text not null,
    is_guest     boolean not null default false,
    created_at   timestamptz not null default now()
);

-- Login looks a user up by email; in Citus this table is distributed by email, so no FK to users.
create table credentials (
    email         text primary key,          -- normalised: trimmed, lower-case
    user_id       uuid not null,
    password_hash text not null,
    created_at    timestamptz not null default now()
);

-- Tokens carry their user id (see Accounts/SessionToken.cs), so a lookup is routed to one shard.
create table sessions (
    user_id      uuid not null references users (user_id) on delete cascade,
    token_hash   bytea not null,             -- SHA-256 of the token; the token itself is never stored
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    last_seen_at timestamptz not null default now(),
    primary key (user_id, token_hash)
);
create index sessions_expires_idx on sessions (expires_at);

create table conversations (
    user_id         uuid not null references users (user_id) on delete cascade,
    conversation_id uuid not null,
    title           text not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    last_seq        bigint not null default 0,
    archived        boolean not null default false,
    pinned          boolean not null default false,
    shared          boolean not null default false,
    primary key (user_id, conversation_id)
);
-- The conversation list: WHERE user_id = $1 AND archived = $2 ORDER BY updated_at DESC, conversation_id DESC.
create index conversations_list_idx on conversations (user_id, archived, updated_at desc, conversation_id desc);
-- Shared reads and realtime subscriptions find a conversation by id alone.
create index conversations_id_idx on conversations (conversation_id);

-- Messages are range-partitioned by month (ARCHITECTURE.md, scaling report section 2).
-- A partitioned table's keys must include the partition column, so seq and client_id
-- uniqueness per conversation is guaranteed by the write path, which assigns seq and checks
-- client ids while holding the conversation row lock (Messaging/MessageBatcher.cs).
create table messages (
    user_id         uuid not null,
    conversation_id uuid not null,
    seq             bigint not null,
    message_id      uuid not null,
    role            text not null check (role in ('user', 'assistant')),
    text            text not null,
    products        jsonb,
    client_id       text,
    status          text not null default 'complete' check (status in ('complete', 'stopped', 'failed')),
    created_at      timestamptz not null default now(),
    primary key (user_id, conversation_id, seq, created_at)
) partition by range (created_at);

-- Message pages: (conversation, seq) ranges; also serves the idempotency lookup's conversation filter.
create index messages_conv_seq_idx on messages (conversation_id, seq);
create index messages_client_id_idx on messages (conversation_id, client_id) where client_id is not null;

-- Safety net: a row whose month has no partition lands here instead of failing the insert.
create table messages_default partition of messages default;

-- Partitions for this month and the next three; Data/PartitionMaintenance.cs keeps creating them.
do $$
declare
    m date := date_trunc('month', now())::date;
begin
    for i in 0..3 loop
        execute format(
            'create table if not exists %I partition of messages for values from (%L) to (%L)',
            'messages_' || to_char(m + make_interval(months => i), 'YYYY_MM'),
            m + make_interval(months => i),
            m + make_interval(months => i + 1));
    end loop;
end $$;
