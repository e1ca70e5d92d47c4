-- Issue 6, group-commit throughput: every message insert maintained two btrees over the same
-- (conversation_id, seq) order: the primary key (user_id, conversation_id, seq, created_at) and
-- messages_conv_seq_idx (conversation_id, seq). Every query on messages filters by the owner
-- (user_id) and the conversation (ConversationStore, MessageSearch, the batcher; shared reads
-- resolve the owner first with FindReadableOwnerAsync), so the primary key serves all of them
-- and the second btree was pure insert cost (one index insertion, WAL record and dirtied page
-- per message; 434 MB on the 4.8M-message bench partition). Dropping it on the partitioned
-- parent drops it on every partition.
drop index if exists messages_conv_seq_idx;
