package kafkalog

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Prefix starts the message of every line the adapter logs, so that franz-go's lines are told
// apart from the component's own.
const Prefix = "kafka client: "

// New returns a kgo.Logger that passes franz-go's errors to log at slog.LevelError, with
// franz-go's key/value pairs as attributes, and drops its warnings, info and debug lines (they
// repeat every reconnect attempt while Kafka is down). It is safe for concurrent use.
func New(log *slog.Logger) kgo.Logger { return NewLevel(log, kgo.LogLevelError) }

// NewLevel is New passing franz-go's lines of level and more severe ones: kgo.LogLevelWarn
// passes errors and warnings. franz-go's levels map to slog's of the same name. A level of
// kgo.LogLevelNone passes nothing.
func NewLevel(log *slog.Logger, level kgo.LogLevel) kgo.Logger {
	return logger{log: log, level: level}
}

type logger struct {
	log   *slog.Logger
	level kgo.LogLevel
}

func (l logger) Level() kgo.LogLevel { return l.level }

func (l logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelNone || level > l.level {
		return
	}
	l.log.Log(context.Background(), slogLevel(level), Prefix+msg, keyvals...)
}

// slogLevel maps a franz-go level to slog's.
func slogLevel(level kgo.LogLevel) slog.Level {
	switch level {
	case kgo.LogLevelError:
		return slog.LevelError
	case kgo.LogLevelWarn:
		return slog.LevelWarn
	case kgo.LogLevelInfo:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}
