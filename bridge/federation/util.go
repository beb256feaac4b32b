package federation

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// backoff paces a loop's retries after errors: from min, doubling up to
// max, with jitter so that routers do not retry in step.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// wait sleeps for the next delay; false if ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	if b.cur == 0 {
		b.cur = b.min
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	d := b.cur/2 + rand.N(b.cur/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// limiter rate-limits log lines by key: while Redis is down every loop fails
// at each attempt, and one line per key per period is enough.
type limiter struct {
	period time.Duration
	mu     sync.Mutex
	last   map[string]time.Time
	quiet  map[string]int // lines suppressed since the last one logged
}

func newLimiter(period time.Duration) *limiter {
	return &limiter{period: period, last: map[string]time.Time{}, quiet: map[string]int{}}
}

// log logs at level unless a line with the same key was logged within the
// period; a line that is logged says how many were suppressed before it.
func (l *limiter) log(lg *slog.Logger, level slog.Level, key, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.period {
		l.quiet[key]++
		l.mu.Unlock()
		return
	}
	l.last[key] = now
	n := l.quiet[key]
	delete(l.quiet, key)
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	lg.Log(context.Background(), level, msg, args...)
}
