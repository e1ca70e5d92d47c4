-- Issue 14: the need a conversation is on (what the shopper wants, with every refinement so far)
-- and the products the last answer showed, stored per conversation so a turn reads one row and
-- understands only its new message, instead of re-parsing the recent history every turn (a few
-- long messages made a short follow-up take seconds to its first delta). Keyed like every
-- per-user table (user_id first: one shard in Citus); it goes with its conversation.
create table if not exists assistant_dialogue (
    user_id         uuid not null,
    conversation_id uuid not null,
    answered_seq    bigint not null,          -- the user message this state is the outcome of
    state           jsonb not null,
    updated_at      timestamptz not null default now(),
    primary key (user_id, conversation_id),
    foreign key (user_id, conversation_id) references conversations (user_id, conversation_id) on delete cascade
);
