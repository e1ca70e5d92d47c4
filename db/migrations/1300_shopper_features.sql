-- Issue 19: the shopper's tools. Per-user tables keep user_id first in every key (Citus: they
-- are distributed by user_id and colocated with users, so each statement routes to one shard).

-- Saved products ("shortlist"), at most Shortlist:MaxItems per user (checked by the insert).
create table if not exists shortlist_items (
    user_id    uuid not null references users (user_id) on delete cascade,
    product_id text not null,                  -- products.product_id; no FK: products is a reference table that re-imports replace
    added_at   timestamptz not null default now(),
    primary key (user_id, product_id)
);
-- The panel lists newest first.
create index if not exists shortlist_items_added_idx on shortlist_items (user_id, added_at desc, product_id);

-- Thumbs up/down on an assistant answer, one per (user, message); a second vote replaces the first.
create table if not exists message_feedback (
    user_id         uuid not null,
    conversation_id uuid not null,
    message_id      uuid not null,
    rating          text not null check (rating in ('up', 'down')),
    reason          text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (user_id, conversation_id, message_id),
    -- Deleting a conversation deletes its feedback (colocated under Citus: same distribution key).
    foreign key (user_id, conversation_id) references conversations (user_id, conversation_id) on delete cascade
);
-- The operator's list (GET /api/admin/feedback) reads the newest across users.
create index if not exists message_feedback_recent_idx on message_feedback (updated_at desc);

-- "Often compared with": how many times two products were compared together (any user).
-- Not per user (no user_id, no personal data): a reference table under Citus, like products.
create table if not exists product_comparisons (
    product_id text not null,
    other_id   text not null,
    times      bigint not null default 0,
    primary key (product_id, other_id)
);
