-- Issue 6: database at scale. Trigram search, the popular-conversations view, and the
-- bookkeeping table the maintenance jobs write to.

-- Message search (GET /api/search/messages): ILIKE '%q%' can only use a trigram index.
-- Created on the partitioned parent, so every monthly partition (existing and future) gets its own.
create index if not exists messages_text_trgm_idx on messages using gin (text gin_trgm_ops);

-- The most active shared conversations of the last 7 days (API.md: GET /api/conversations/popular).
-- A message's author is the conversation owner (role user) or the assistant in schema v1, so
-- participants counts distinct human authors plus the assistant when it answered.
create materialized view if not exists popular_conversations as
select c.user_id,
       c.conversation_id,
       c.title,
       count(*)::bigint                                                          as message_count,
       (count(distinct m.user_id) filter (where m.role = 'user')
         + (bool_or(m.role = 'assistant'))::int)::int                            as participants,
       max(m.created_at)                                                         as last_activity_at
from conversations c
join messages m on m.user_id = c.user_id and m.conversation_id = c.conversation_id
where c.shared
  and m.created_at > now() - interval '7 days'
group by c.user_id, c.conversation_id, c.title;

-- REFRESH ... CONCURRENTLY needs a unique index over all rows (no WHERE clause).
create unique index if not exists popular_conversations_key on popular_conversations (user_id, conversation_id);
-- The endpoint reads the top N by activity.
create index if not exists popular_conversations_rank_idx
    on popular_conversations (message_count desc, last_activity_at desc, conversation_id);

-- One row per maintenance run that did work (under its advisory lock): lets operators (and the
-- tests) see who ran what and when, and proves two instances never ran one job at once.
create table if not exists maintenance_runs (
    job         text not null,
    instance    text not null,
    started_at  timestamptz not null,
    finished_at timestamptz not null,
    rows        bigint not null default 0,
    primary key (job, started_at, instance)
);
