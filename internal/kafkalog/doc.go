// Package kafkalog is the one adapter from franz-go's logger (kgo.Logger) to log/slog, shared by
// every Kafka client of the pipeline (the sink writer's producers, the loader's consumer).
//
// franz-go logs every connection, metadata refresh and reconnect attempt; a component logs the
// state changes that matter (Kafka down, Kafka back) itself, once. So by default only franz-go's
// errors reach slog.
package kafkalog
