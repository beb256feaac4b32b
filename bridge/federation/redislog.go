package federation

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// RedisLogger carries go-redis' own log lines (a failed dial, a Cluster or
// Sentinel change) into slog, each kind at most once per 10 seconds: while
// Redis is down go-redis logs every dial attempt of every connection pool.
// go-redis has one logger per process, so the link does not install it;
// the program does, once, at start:
//
//	redis.SetLogger(federation.NewRedisLogger(logger))
type RedisLogger struct {
	log   *slog.Logger
	limit *limiter
}

// NewRedisLogger returns a RedisLogger writing to l.
func NewRedisLogger(l *slog.Logger) *RedisLogger {
	return &RedisLogger{log: l.With("component", "go-redis"), limit: newLimiter(10 * time.Second)}
}

// Printf implements go-redis' logging interface.
func (r *RedisLogger) Printf(_ context.Context, format string, v ...any) {
	level := slog.LevelInfo
	if f := strings.ToLower(format); strings.Contains(f, "fail") || strings.Contains(f, "error") {
		level = slog.LevelWarn
	}
	r.limit.log(r.log, level, format, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
