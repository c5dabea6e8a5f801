package sinkwriter

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaLogger passes franz-go's errors to slog. Its warnings repeat every reconnect attempt
// while Kafka is down (the writer logs that state change itself, once), and its info and debug
// logs every connection and metadata refresh: they stay out.
type kafkaLogger struct{ log *slog.Logger }

func (kafkaLogger) Level() kgo.LogLevel { return kgo.LogLevelError }

func (l kafkaLogger) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	l.log.Log(context.Background(), slog.LevelError, "kafka client: "+msg, keyvals...)
}
