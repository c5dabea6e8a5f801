-- 0001_initial, statement 1
CREATE TABLE IF NOT EXISTS `ingest`.loader_offsets ON CLUSTER `ingest_cluster`
(
    table_name      String,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    UInt64,
    updated_at      DateTime
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/loader_offsets', '{replica}', kafka_offset)
ORDER BY (table_name, kafka_topic, kafka_partition);

-- 0001_initial, statement 2
CREATE TABLE IF NOT EXISTS `ingest`.logs ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/logs', '{replica}')
PARTITION BY toYYYYMMDD(time)
ORDER BY (tenant, time, event_id);

-- 0001_initial, statement 3
CREATE TABLE IF NOT EXISTS `ingest`.logs_all ON CLUSTER `ingest_cluster` AS `ingest`.logs
ENGINE = Distributed('ingest_cluster', 'ingest', 'logs');

-- 0001_initial, statement 4
CREATE TABLE IF NOT EXISTS `ingest`.logs_shadow ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/logs_shadow', '{replica}')
PARTITION BY toYYYYMMDD(time)
ORDER BY (tenant, time, event_id);

-- 0001_initial, statement 5
CREATE TABLE IF NOT EXISTS `ingest`.logs_shadow_all ON CLUSTER `ingest_cluster` AS `ingest`.logs_shadow
ENGINE = Distributed('ingest_cluster', 'ingest', 'logs_shadow');

-- 0001_initial, statement 6
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.logs_offsets_mv ON CLUSTER `ingest_cluster` TO `ingest`.loader_offsets AS
SELECT
    'logs' AS table_name,
    kafka_topic,
    kafka_partition,
    toUInt64(max(kafka_offset)) AS kafka_offset,
    now() AS updated_at
FROM `ingest`.logs
GROUP BY kafka_topic, kafka_partition;

-- 0001_initial, statement 7
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.logs_shadow_offsets_mv ON CLUSTER `ingest_cluster` TO `ingest`.loader_offsets AS
SELECT
    'logs_shadow' AS table_name,
    kafka_topic,
    kafka_partition,
    toUInt64(max(kafka_offset)) AS kafka_offset,
    now() AS updated_at
FROM `ingest`.logs_shadow
GROUP BY kafka_topic, kafka_partition;

-- 0001_initial, statement 8
CREATE TABLE IF NOT EXISTS `ingest`.metrics ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/metrics', '{replica}')
PARTITION BY toYYYYMMDD(time)
ORDER BY (tenant, name, time, event_id);

-- 0001_initial, statement 9
CREATE TABLE IF NOT EXISTS `ingest`.metrics_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics');

-- 0001_initial, statement 10
CREATE TABLE IF NOT EXISTS `ingest`.metrics_shadow ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_shadow', '{replica}')
PARTITION BY toYYYYMMDD(time)
ORDER BY (tenant, name, time, event_id);

-- 0001_initial, statement 11
CREATE TABLE IF NOT EXISTS `ingest`.metrics_shadow_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_shadow
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_shadow');

-- 0001_initial, statement 12
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.metrics_offsets_mv ON CLUSTER `ingest_cluster` TO `ingest`.loader_offsets AS
SELECT
    'metrics' AS table_name,
    kafka_topic,
    kafka_partition,
    toUInt64(max(kafka_offset)) AS kafka_offset,
    now() AS updated_at
FROM `ingest`.metrics
GROUP BY kafka_topic, kafka_partition;

-- 0001_initial, statement 13
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.metrics_shadow_offsets_mv ON CLUSTER `ingest_cluster` TO `ingest`.loader_offsets AS
SELECT
    'metrics_shadow' AS table_name,
    kafka_topic,
    kafka_partition,
    toUInt64(max(kafka_offset)) AS kafka_offset,
    now() AS updated_at
FROM `ingest`.metrics_shadow
GROUP BY kafka_topic, kafka_partition;

-- 0001_initial, statement 14
CREATE TABLE IF NOT EXISTS `ingest`.spans ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/spans', '{replica}')
PARTITION BY toYYYYMMDD(time)
ORDER BY (tenant, time, event_id);

-- 0001_initial, statement 15
CREATE TABLE IF NOT EXISTS `ingest`.spans_all ON CLUSTER `ingest_cluster` AS `ingest`.spans
ENGINE = Distributed('ingest_cluster', 'ingest', 'spans');

-- 0001_initial, statement 16
CREATE TABLE IF NOT EXISTS `ingest`.spans_shadow ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/spans_shadow', '{replica}')
PARTITION BY toYYYYMMDD(time)
ORDER BY (tenant, time, event_id);

-- 0001_initial, statement 17
CREATE TABLE IF NOT EXISTS `ingest`.spans_shadow_all ON CLUSTER `ingest_cluster` AS `ingest`.spans_shadow
ENGINE = Distributed('ingest_cluster', 'ingest', 'spans_shadow');

-- 0001_initial, statement 18
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.spans_offsets_mv ON CLUSTER `ingest_cluster` TO `ingest`.loader_offsets AS
SELECT
    'spans' AS table_name,
    kafka_topic,
    kafka_partition,
    toUInt64(max(kafka_offset)) AS kafka_offset,
    now() AS updated_at
FROM `ingest`.spans
GROUP BY kafka_topic, kafka_partition;

-- 0001_initial, statement 19
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.spans_shadow_offsets_mv ON CLUSTER `ingest_cluster` TO `ingest`.loader_offsets AS
SELECT
    'spans_shadow' AS table_name,
    kafka_topic,
    kafka_partition,
    toUInt64(max(kafka_offset)) AS kafka_offset,
    now() AS updated_at
FROM `ingest`.spans_shadow
GROUP BY kafka_topic, kafka_partition;

-- 0001_initial, statement 20
CREATE TABLE IF NOT EXISTS `ingest`.metrics_1m ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_1m', '{replica}')
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0001_initial, statement 21
CREATE TABLE IF NOT EXISTS `ingest`.metrics_1m_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_1m
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_1m');

-- 0001_initial, statement 22
CREATE TABLE IF NOT EXISTS `ingest`.metrics_1m_shadow ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_1m_shadow', '{replica}')
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0001_initial, statement 23
CREATE TABLE IF NOT EXISTS `ingest`.metrics_1m_shadow_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_1m_shadow
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_1m_shadow');

-- 0001_initial, statement 24
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.metrics_1m_mv ON CLUSTER `ingest_cluster` TO `ingest`.metrics_1m AS
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
FROM `ingest`.metrics
GROUP BY tenant, name, series_id, window_start;

-- 0001_initial, statement 25
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.metrics_1m_shadow_mv ON CLUSTER `ingest_cluster` TO `ingest`.metrics_1m_shadow AS
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
FROM `ingest`.metrics_shadow
GROUP BY tenant, name, series_id, window_start;

-- 0001_initial, statement 26
CREATE TABLE IF NOT EXISTS `ingest`.metrics_10m ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_10m', '{replica}')
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0001_initial, statement 27
CREATE TABLE IF NOT EXISTS `ingest`.metrics_10m_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_10m
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_10m');

-- 0001_initial, statement 28
CREATE TABLE IF NOT EXISTS `ingest`.metrics_10m_shadow ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_10m_shadow', '{replica}')
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0001_initial, statement 29
CREATE TABLE IF NOT EXISTS `ingest`.metrics_10m_shadow_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_10m_shadow
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_10m_shadow');

-- 0001_initial, statement 30
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.metrics_10m_mv ON CLUSTER `ingest_cluster` TO `ingest`.metrics_10m AS
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
FROM `ingest`.metrics
GROUP BY tenant, name, series_id, window_start;

-- 0001_initial, statement 31
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.metrics_10m_shadow_mv ON CLUSTER `ingest_cluster` TO `ingest`.metrics_10m_shadow AS
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
FROM `ingest`.metrics_shadow
GROUP BY tenant, name, series_id, window_start;

-- 0001_initial, statement 32
CREATE TABLE IF NOT EXISTS `ingest`.metrics_60m ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_60m', '{replica}')
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0001_initial, statement 33
CREATE TABLE IF NOT EXISTS `ingest`.metrics_60m_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_60m
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_60m');

-- 0001_initial, statement 34
CREATE TABLE IF NOT EXISTS `ingest`.metrics_60m_shadow ON CLUSTER `ingest_cluster`
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_60m_shadow', '{replica}')
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0001_initial, statement 35
CREATE TABLE IF NOT EXISTS `ingest`.metrics_60m_shadow_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_60m_shadow
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_60m_shadow');

-- 0001_initial, statement 36
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.metrics_60m_mv ON CLUSTER `ingest_cluster` TO `ingest`.metrics_60m AS
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
FROM `ingest`.metrics
GROUP BY tenant, name, series_id, window_start;

-- 0001_initial, statement 37
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.metrics_60m_shadow_mv ON CLUSTER `ingest_cluster` TO `ingest`.metrics_60m_shadow AS
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
FROM `ingest`.metrics_shadow
GROUP BY tenant, name, series_id, window_start;

-- 0002_exact_rollups, statement 1
CREATE TABLE IF NOT EXISTS `ingest`.metrics_windows ON CLUSTER `ingest_cluster`
(
    tenant          String,
    window_start    DateTime,
    kafka_topic     String,
    kafka_partition Int32,
    max_offset      Int64,
    rows            UInt64,
    inserted_at     DateTime DEFAULT now()
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/ingest/metrics_windows', '{replica}')
PARTITION BY toYYYYMMDD(inserted_at)
ORDER BY (inserted_at, tenant, window_start);

-- 0002_exact_rollups, statement 2
CREATE TABLE IF NOT EXISTS `ingest`.metrics_windows_shadow ON CLUSTER `ingest_cluster`
(
    tenant          String,
    window_start    DateTime,
    kafka_topic     String,
    kafka_partition Int32,
    max_offset      Int64,
    rows            UInt64,
    inserted_at     DateTime DEFAULT now()
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/ingest/metrics_windows_shadow', '{replica}')
PARTITION BY toYYYYMMDD(inserted_at)
ORDER BY (inserted_at, tenant, window_start);

-- 0002_exact_rollups, statement 3
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.metrics_windows_mv ON CLUSTER `ingest_cluster` TO `ingest`.metrics_windows AS
SELECT
    tenant,
    toStartOfMinute(time) AS window_start,
    kafka_topic,
    kafka_partition,
    max(kafka_offset) AS max_offset,
    count() AS rows,
    now() AS inserted_at
FROM `ingest`.metrics
GROUP BY tenant, window_start, kafka_topic, kafka_partition;

-- 0002_exact_rollups, statement 4
CREATE MATERIALIZED VIEW IF NOT EXISTS `ingest`.metrics_windows_shadow_mv ON CLUSTER `ingest_cluster` TO `ingest`.metrics_windows_shadow AS
SELECT
    tenant,
    toStartOfMinute(time) AS window_start,
    kafka_topic,
    kafka_partition,
    max(kafka_offset) AS max_offset,
    count() AS rows,
    now() AS inserted_at
FROM `ingest`.metrics_shadow
GROUP BY tenant, window_start, kafka_topic, kafka_partition;

-- 0002_exact_rollups, statement 5
CREATE TABLE IF NOT EXISTS `ingest`.rollup_state ON CLUSTER `ingest_cluster`
(
    table_set  String,
    cursor     DateTime,
    version    UInt64,
    updated_at DateTime
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/rollup_state', '{replica}', version)
ORDER BY table_set;

-- 0002_exact_rollups, statement 6
DROP TABLE IF EXISTS `ingest`.metrics_1m_mv ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 7
DROP TABLE IF EXISTS `ingest`.metrics_1m_shadow_mv ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 8
DROP TABLE IF EXISTS `ingest`.metrics_10m_mv ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 9
DROP TABLE IF EXISTS `ingest`.metrics_10m_shadow_mv ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 10
DROP TABLE IF EXISTS `ingest`.metrics_60m_mv ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 11
DROP TABLE IF EXISTS `ingest`.metrics_60m_shadow_mv ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 12
DROP TABLE IF EXISTS `ingest`.metrics_1m_all ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 13
DROP TABLE IF EXISTS `ingest`.metrics_1m ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 14
DROP TABLE IF EXISTS `ingest`.metrics_1m_shadow_all ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 15
DROP TABLE IF EXISTS `ingest`.metrics_1m_shadow ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 16
DROP TABLE IF EXISTS `ingest`.metrics_10m_all ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 17
DROP TABLE IF EXISTS `ingest`.metrics_10m ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 18
DROP TABLE IF EXISTS `ingest`.metrics_10m_shadow_all ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 19
DROP TABLE IF EXISTS `ingest`.metrics_10m_shadow ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 20
DROP TABLE IF EXISTS `ingest`.metrics_60m_all ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 21
DROP TABLE IF EXISTS `ingest`.metrics_60m ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 22
DROP TABLE IF EXISTS `ingest`.metrics_60m_shadow_all ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 23
DROP TABLE IF EXISTS `ingest`.metrics_60m_shadow ON CLUSTER `ingest_cluster`;

-- 0002_exact_rollups, statement 24
CREATE TABLE IF NOT EXISTS `ingest`.metrics_1m ON CLUSTER `ingest_cluster`
(
    tenant              String,
    name                String,
    series_id           UInt64,
    window_start        DateTime,
    unit                String,
    scope               String,
    kind                UInt8,
    temporality         UInt8,
    monotonic           UInt8,
    attr_keys           Array(String),
    attr_values         Array(String),
    resource_keys       Array(String),
    resource_values     Array(String),
    points              UInt64,
    value_sum           Float64,
    value_min           Float64,
    value_max           Float64,
    value_last          Float64,
    last_time_unix_nano Int64,
    dist_count          UInt64,
    dist_sum            Float64,
    version             UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_1m', '{replica}', version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0002_exact_rollups, statement 25
CREATE TABLE IF NOT EXISTS `ingest`.metrics_1m_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_1m
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_1m');

-- 0002_exact_rollups, statement 26
CREATE TABLE IF NOT EXISTS `ingest`.metrics_1m_shadow ON CLUSTER `ingest_cluster`
(
    tenant              String,
    name                String,
    series_id           UInt64,
    window_start        DateTime,
    unit                String,
    scope               String,
    kind                UInt8,
    temporality         UInt8,
    monotonic           UInt8,
    attr_keys           Array(String),
    attr_values         Array(String),
    resource_keys       Array(String),
    resource_values     Array(String),
    points              UInt64,
    value_sum           Float64,
    value_min           Float64,
    value_max           Float64,
    value_last          Float64,
    last_time_unix_nano Int64,
    dist_count          UInt64,
    dist_sum            Float64,
    version             UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_1m_shadow', '{replica}', version)
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0002_exact_rollups, statement 27
CREATE TABLE IF NOT EXISTS `ingest`.metrics_1m_shadow_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_1m_shadow
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_1m_shadow');

-- 0002_exact_rollups, statement 28
CREATE TABLE IF NOT EXISTS `ingest`.metrics_10m ON CLUSTER `ingest_cluster`
(
    tenant              String,
    name                String,
    series_id           UInt64,
    window_start        DateTime,
    unit                String,
    scope               String,
    kind                UInt8,
    temporality         UInt8,
    monotonic           UInt8,
    attr_keys           Array(String),
    attr_values         Array(String),
    resource_keys       Array(String),
    resource_values     Array(String),
    points              UInt64,
    value_sum           Float64,
    value_min           Float64,
    value_max           Float64,
    value_last          Float64,
    last_time_unix_nano Int64,
    dist_count          UInt64,
    dist_sum            Float64,
    version             UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_10m', '{replica}', version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0002_exact_rollups, statement 29
CREATE TABLE IF NOT EXISTS `ingest`.metrics_10m_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_10m
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_10m');

-- 0002_exact_rollups, statement 30
CREATE TABLE IF NOT EXISTS `ingest`.metrics_10m_shadow ON CLUSTER `ingest_cluster`
(
    tenant              String,
    name                String,
    series_id           UInt64,
    window_start        DateTime,
    unit                String,
    scope               String,
    kind                UInt8,
    temporality         UInt8,
    monotonic           UInt8,
    attr_keys           Array(String),
    attr_values         Array(String),
    resource_keys       Array(String),
    resource_values     Array(String),
    points              UInt64,
    value_sum           Float64,
    value_min           Float64,
    value_max           Float64,
    value_last          Float64,
    last_time_unix_nano Int64,
    dist_count          UInt64,
    dist_sum            Float64,
    version             UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_10m_shadow', '{replica}', version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0002_exact_rollups, statement 31
CREATE TABLE IF NOT EXISTS `ingest`.metrics_10m_shadow_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_10m_shadow
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_10m_shadow');

-- 0002_exact_rollups, statement 32
CREATE TABLE IF NOT EXISTS `ingest`.metrics_60m ON CLUSTER `ingest_cluster`
(
    tenant              String,
    name                String,
    series_id           UInt64,
    window_start        DateTime,
    unit                String,
    scope               String,
    kind                UInt8,
    temporality         UInt8,
    monotonic           UInt8,
    attr_keys           Array(String),
    attr_values         Array(String),
    resource_keys       Array(String),
    resource_values     Array(String),
    points              UInt64,
    value_sum           Float64,
    value_min           Float64,
    value_max           Float64,
    value_last          Float64,
    last_time_unix_nano Int64,
    dist_count          UInt64,
    dist_sum            Float64,
    version             UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_60m', '{replica}', version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0002_exact_rollups, statement 33
CREATE TABLE IF NOT EXISTS `ingest`.metrics_60m_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_60m
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_60m');

-- 0002_exact_rollups, statement 34
CREATE TABLE IF NOT EXISTS `ingest`.metrics_60m_shadow ON CLUSTER `ingest_cluster`
(
    tenant              String,
    name                String,
    series_id           UInt64,
    window_start        DateTime,
    unit                String,
    scope               String,
    kind                UInt8,
    temporality         UInt8,
    monotonic           UInt8,
    attr_keys           Array(String),
    attr_values         Array(String),
    resource_keys       Array(String),
    resource_values     Array(String),
    points              UInt64,
    value_sum           Float64,
    value_min           Float64,
    value_max           Float64,
    value_last          Float64,
    last_time_unix_nano Int64,
    dist_count          UInt64,
    dist_sum            Float64,
    version             UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/metrics_60m_shadow', '{replica}', version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant, name, series_id, window_start);

-- 0002_exact_rollups, statement 35
CREATE TABLE IF NOT EXISTS `ingest`.metrics_60m_shadow_all ON CLUSTER `ingest_cluster` AS `ingest`.metrics_60m_shadow
ENGINE = Distributed('ingest_cluster', 'ingest', 'metrics_60m_shadow');

-- 0002_exact_rollups, statement 36
INSERT INTO `ingest`.metrics_windows (tenant, window_start, kafka_topic, kafka_partition, max_offset, rows, inserted_at)
SELECT
    tenant,
    toStartOfMinute(time) AS window_start,
    '' AS kafka_topic,
    toInt32(0) AS kafka_partition,
    toInt64(0) AS max_offset,
    count() AS rows,
    now() AS inserted_at
FROM `ingest`.metrics
GROUP BY tenant, window_start;

-- 0002_exact_rollups, statement 37
INSERT INTO `ingest`.metrics_windows_shadow (tenant, window_start, kafka_topic, kafka_partition, max_offset, rows, inserted_at)
SELECT
    tenant,
    toStartOfMinute(time) AS window_start,
    '' AS kafka_topic,
    toInt32(0) AS kafka_partition,
    toInt64(0) AS max_offset,
    count() AS rows,
    now() AS inserted_at
FROM `ingest`.metrics_shadow
GROUP BY tenant, window_start;

-- 0003_loader_topics, statement 1
CREATE TABLE IF NOT EXISTS `ingest`.loader_topics ON CLUSTER `ingest_cluster`
(
    kafka_topic String,
    topic_id    String,
    first_seen  DateTime,
    version     UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ingest/loader_topics', '{replica}', version)
ORDER BY kafka_topic;

