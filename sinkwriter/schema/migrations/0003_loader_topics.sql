-- 0003: loader_topics, the incarnation (Kafka topic id) of each topic the tables hold. A topic
-- deleted and created again, or a Kafka cluster wiped while ClickHouse was kept, starts again
-- at offset 0 while the offsets ledger still holds the old incarnation's offsets. The loader
-- records a topic's id here before it inserts the first rows of it, and holds a topic whose id
-- is no longer the recorded one instead of skipping its records by the old ledger. An
-- operator's accept_recreated_topics records the new id (a newer version) after deleting the
-- topic's ledger entries. See docs/sinkwriter.md, "A recreated topic".
--
-- One table, not per table set: a topic's incarnation is the same for the live and shadow
-- tables. Read it with argMax(topic_id, version) per kafka_topic. Syntax kept to what
-- ClickHouse 18.16 and current releases both accept (see 0001).

CREATE TABLE IF NOT EXISTS {db}.loader_topics
(
    kafka_topic String,
    topic_id    String,
    first_seen  DateTime,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY kafka_topic;
