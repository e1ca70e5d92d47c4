-- Analytics (issue 17, docs/analytics.md): change data capture reads committed rows of these
-- tables from the WAL (logical decoding, pgoutput); consumers keep their rollups here.

-- "Product opened" reports from the web app. A plain insert: the capture carries it to the
-- stream like any other committed row, so the request path never writes to the log itself.
create table product_opens (
    user_id    uuid not null,
    opened_id  uuid not null,
    product_id text not null,
    opened_at  timestamptz not null default now(),
    primary key (user_id, opened_id)
);

-- Inserts only: every captured fact is a new row (messages are stored once, final; sign-ups and
-- conversations are born as inserts). Updates (conversation last_seq on every message) would
-- multiply the decoded volume for nothing. publish_via_partition_root: a message arrives as
-- "messages", whichever monthly partition holds it.
create publication shopgpt_analytics for table messages, conversations, users, product_opens
    with (publish = 'insert', publish_via_partition_root = true);

-- Each consumer's position per partition, written in the same transaction as its rollup rows:
-- stream_seq is where to resume reading; capture_lsn/capture_idx is the last capture position
-- applied, so an event the stream holds twice (re-captured after the dedup window) counts once.
create table analytics_positions (
    consumer    text not null,
    partition   integer not null,
    stream_seq  bigint not null default 0,
    capture_lsn bigint not null default 0,
    capture_idx integer not null default 0,
    updated_at  timestamptz not null default now(),
    primary key (consumer, partition)
);

-- Engagement: counters per hour and metric (user_messages, assistant_turns, answers_failed,
-- answers_stopped, conversations, signups, guests).
create table analytics_hourly (
    hour   timestamptz not null,
    metric text not null,
    value  bigint not null,
    primary key (hour, metric)
);

-- Active users: a user who sent a message that day / month.
create table analytics_daily_users (
    day     date not null,
    user_id uuid not null,
    primary key (day, user_id)
);
create table analytics_monthly_users (
    month   date not null,
    user_id uuid not null,
    primary key (month, user_id)
);

create table analytics_user_conversations (
    user_id       uuid primary key,
    conversations bigint not null
);

-- Shopping: per product and kind (recommended, compared, opened).
create table analytics_products (
    product_id text not null,
    kind       text not null,
    value      bigint not null,
    primary key (product_id, kind)
);

-- The last user query of each conversation, until the assistant's answer says whether it matched.
create table analytics_pending_queries (
    conversation_id uuid primary key,
    query           text not null
);

-- What the catalog lacks: normalised queries whose answer recommended no product.
create table analytics_no_match (
    query   text primary key,
    value   bigint not null,
    last_at timestamptz not null
);
