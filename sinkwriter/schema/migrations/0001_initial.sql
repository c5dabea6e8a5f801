-- 0001: the live and shadow tables of logs, metrics and spans, the loader's offsets ledger, and
-- the metric roll-ups at 1m, 10m and 60m. See docs/sinkwriter.md, "ClickHouse schema".
--
-- {db} is replaced by the database (a quoted identifier) when the migration runs. A statement
-- that names {set} is applied once per table set: live ({set} empty) and shadow ({set} =
-- "_shadow", where replay writes), so the shadow tables cannot drift from the live ones. Statements are
-- separated by a line that ends with ';'. Every statement is idempotent (IF NOT EXISTS), so a
-- migration interrupted halfway is completed by the next run.
--
-- Syntax kept to what ClickHouse 18.16 (Debian) and current releases both accept: no Map, JSON,
-- DateTime64, LowCardinality, codecs, TTL or SimpleAggregateFunction.

-- The ledger: per table, Kafka topic and partition, the highest offset the table holds. One
-- materialized view per data table writes it from every inserted block, in the same insert, so
-- the ledger and the rows can never disagree after a loader crash. Read it with max().
CREATE TABLE IF NOT EXISTS {db}.loader_offsets
(
    table_name      String,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    UInt64,
    updated_at      DateTime
)
ENGINE = ReplacingMergeTree(kafka_offset)
ORDER BY (table_name, kafka_topic, kafka_partition);

CREATE TABLE IF NOT EXISTS {db}.logs{set}
(
    tenant             String,
    time               DateTime,
    time_unix_nano     Int64,
    event_id           FixedString(16),
    received_unix_nano Int64,
    name               String,
    scope              String,
    unit               String,
    attr_keys          Array(String),
    attr_values        Array(String),
    resource_keys      Array(String),
    resource_values    Array(String),
    has_trace          UInt8,
    trace_id           FixedString(16),
    span_id            FixedString(8),
    parent_span_id     FixedString(8),
    severity_number    UInt8,
    severity_text      String,
    body               String,
    kafka_topic        String,
    kafka_partition    Int32,
    kafka_offset       Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(time)
ORDER BY (tenant, time, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.logs{set}_offsets_mv TO {db}.loader_offsets AS
SELECT
    'logs{set}' AS table_name,
    kafka_topic,
    kafka_partition,
    toUInt64(max(kafka_offset)) AS kafka_offset,
    now() AS updated_at
FROM {db}.logs{set}
GROUP BY kafka_topic, kafka_partition;

CREATE TABLE IF NOT EXISTS {db}.metrics{set}
(
    tenant             String,
    time               DateTime,
    time_unix_nano     Int64,
    event_id           FixedString(16),
    received_unix_nano Int64,
    name               String,
    scope              String,
    unit               String,
    attr_keys          Array(String),
    attr_values        Array(String),
    resource_keys      Array(String),
    resource_values    Array(String),
    has_trace          UInt8,
    trace_id           FixedString(16),
    span_id            FixedString(8),
    parent_span_id     FixedString(8),
    series_id          UInt64,
    kind               UInt8,
    temporality        UInt8,
    monotonic          UInt8,
    value              Float64,
    has_distribution   UInt8,
    dist_count         UInt64,
    dist_sum           Float64,
    has_min_max        UInt8,
    dist_min           Float64,
    dist_max           Float64,
    bucket_bounds      Array(Float64),
    bucket_counts      Array(UInt64),
    quantiles          Array(Float64),
    quantile_values    Array(Float64),
    kafka_topic        String,
    kafka_partition    Int32,
    kafka_offset       Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(time)
ORDER BY (tenant, name, time, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.metrics{set}_offsets_mv TO {db}.loader_offsets AS
SELECT
    'metrics{set}' AS table_name,
    kafka_topic,
    kafka_partition,
    toUInt64(max(kafka_offset)) AS kafka_offset,
    now() AS updated_at
FROM {db}.metrics{set}
GROUP BY kafka_topic, kafka_partition;

CREATE TABLE IF NOT EXISTS {db}.spans{set}
(
    tenant             String,
    time               DateTime,
    time_unix_nano     Int64,
    event_id           FixedString(16),
    received_unix_nano Int64,
    name               String,
    scope              String,
    unit               String,
    attr_keys          Array(String),
    attr_values        Array(String),
    resource_keys      Array(String),
    resource_values    Array(String),
    has_trace          UInt8,
    trace_id           FixedString(16),
    span_id            FixedString(8),
    parent_span_id     FixedString(8),
    duration_ns        Int64,
    span_kind          UInt8,
    status_code        UInt8,
    status_message     String,
    kafka_topic        String,
    kafka_partition    Int32,
    kafka_offset       Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(time)
ORDER BY (tenant, time, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.spans{set}_offsets_mv TO {db}.loader_offsets AS
SELECT
    'spans{set}' AS table_name,
    kafka_topic,
    kafka_partition,
    toUInt64(max(kafka_offset)) AS kafka_offset,
    now() AS updated_at
FROM {db}.spans{set}
GROUP BY kafka_topic, kafka_partition;

CREATE TABLE IF NOT EXISTS {db}.metrics_1m{set}
(
    tenant          String,
    name            String,
    series_id       UInt64,
    window_start    DateTime,
    unit            String,
    scope           String,
    kind            UInt8,
    temporality     UInt8,
    monotonic       UInt8,
    attr_keys       Array(String),
    attr_values     Array(String),
    resource_keys   Array(String),
    resource_values Array(String),
    points          AggregateFunction(count),
    value_sum       AggregateFunction(sum, Float64),
    value_min       AggregateFunction(min, Float64),
    value_max       AggregateFunction(max, Float64),
    value_last      AggregateFunction(argMax, Float64, Int64),
    dist_count      AggregateFunction(sum, UInt64),
    dist_sum        AggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (tenant, name, series_id, window_start);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.metrics_1m{set}_mv TO {db}.metrics_1m{set} AS
SELECT
    tenant,
    name,
    series_id,
    toStartOfMinute(time) AS window_start,
    any(unit) AS unit,
    any(scope) AS scope,
    any(kind) AS kind,
    any(temporality) AS temporality,
    any(monotonic) AS monotonic,
    any(attr_keys) AS attr_keys,
    any(attr_values) AS attr_values,
    any(resource_keys) AS resource_keys,
    any(resource_values) AS resource_values,
    countState() AS points,
    sumState(value) AS value_sum,
    minState(value) AS value_min,
    maxState(value) AS value_max,
    argMaxState(value, time_unix_nano) AS value_last,
    sumState(dist_count) AS dist_count,
    sumState(dist_sum) AS dist_sum
FROM {db}.metrics{set}
GROUP BY tenant, name, series_id, window_start;

CREATE TABLE IF NOT EXISTS {db}.metrics_10m{set}
(
    tenant          String,
    name            String,
    series_id       UInt64,
    window_start    DateTime,
    unit            String,
    scope           String,
    kind            UInt8,
    temporality     UInt8,
    monotonic       UInt8,
    attr_keys       Array(String),
    attr_values     Array(String),
    resource_keys   Array(String),
    resource_values Array(String),
    points          AggregateFunction(count),
    value_sum       AggregateFunction(sum, Float64),
    value_min       AggregateFunction(min, Float64),
    value_max       AggregateFunction(max, Float64),
    value_last      AggregateFunction(argMax, Float64, Int64),
    dist_count      AggregateFunction(sum, UInt64),
    dist_sum        AggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, name, series_id, window_start);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.metrics_10m{set}_mv TO {db}.metrics_10m{set} AS
SELECT
    tenant,
    name,
    series_id,
    toDateTime(intDiv(toUInt32(time), 600) * 600) AS window_start,
    any(unit) AS unit,
    any(scope) AS scope,
    any(kind) AS kind,
    any(temporality) AS temporality,
    any(monotonic) AS monotonic,
    any(attr_keys) AS attr_keys,
    any(attr_values) AS attr_values,
    any(resource_keys) AS resource_keys,
    any(resource_values) AS resource_values,
    countState() AS points,
    sumState(value) AS value_sum,
    minState(value) AS value_min,
    maxState(value) AS value_max,
    argMaxState(value, time_unix_nano) AS value_last,
    sumState(dist_count) AS dist_count,
    sumState(dist_sum) AS dist_sum
FROM {db}.metrics{set}
GROUP BY tenant, name, series_id, window_start;

CREATE TABLE IF NOT EXISTS {db}.metrics_60m{set}
(
    tenant          String,
    name            String,
    series_id       UInt64,
    window_start    DateTime,
    unit            String,
    scope           String,
    kind            UInt8,
    temporality     UInt8,
    monotonic       UInt8,
    attr_keys       Array(String),
    attr_values     Array(String),
    resource_keys   Array(String),
    resource_values Array(String),
    points          AggregateFunction(count),
    value_sum       AggregateFunction(sum, Float64),
    value_min       AggregateFunction(min, Float64),
    value_max       AggregateFunction(max, Float64),
    value_last      AggregateFunction(argMax, Float64, Int64),
    dist_count      AggregateFunction(sum, UInt64),
    dist_sum        AggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, name, series_id, window_start);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.metrics_60m{set}_mv TO {db}.metrics_60m{set} AS
SELECT
    tenant,
    name,
    series_id,
    toStartOfHour(time) AS window_start,
    any(unit) AS unit,
    any(scope) AS scope,
    any(kind) AS kind,
    any(temporality) AS temporality,
    any(monotonic) AS monotonic,
    any(attr_keys) AS attr_keys,
    any(attr_values) AS attr_values,
    any(resource_keys) AS resource_keys,
    any(resource_values) AS resource_values,
    countState() AS points,
    sumState(value) AS value_sum,
    minState(value) AS value_min,
    maxState(value) AS value_max,
    argMaxState(value, time_unix_nano) AS value_last,
    sumState(dist_count) AS dist_count,
    sumState(dist_sum) AS dist_sum
FROM {db}.metrics{set}
GROUP BY tenant, name, series_id, window_start;

