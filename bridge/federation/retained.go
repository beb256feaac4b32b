package federation

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// retainedLoop feeds Handler.Retained: it loads the retained store whole,
// then tails the retained log from the position taken just before the load,
// so no change falls between. Each log entry carries the store's change
// number; any break in the numbering (the log was trimmed past this reader,
// or Redis lost data) makes it load the store again.
func (l *Link) retainedLoop(ctx context.Context) {
	bo := backoff{min: 50 * time.Millisecond, max: min(max(l.cfg.Heartbeat, 100*time.Millisecond), time.Second)}
	known := map[string]struct{}{} // topics the Handler holds a retained message for
	var pos string
	var seq int64
	load, check := true, false
	fail := func(what string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		l.troubled()
		l.warn.log(l.log, slog.LevelWarn, "retained_reader", "federation: "+what, "error", err)
		return bo.wait(ctx)
	}
	for ctx.Err() == nil {
		if l.retainedReseed.Load() {
			if err := l.reseedRetained(ctx, known); err != nil {
				if !fail("retained messages not put back after Redis lost its data, retrying", err) {
					return
				}
				continue
			}
			l.retainedReseed.Store(false)
		}
		if l.retainedCheck.Swap(false) {
			check = true
		}
		if load {
			p, n, err := l.loadRetained(ctx, known)
			if err != nil {
				if !fail("retained store not loaded, retrying", err) {
					return
				}
				continue
			}
			pos, seq, load, check = p, n, false, false
			bo.reset()
		}
		if check {
			// After an error or when Redis lost data: if the store's change
			// number went back, changes were lost and the store is reloaded;
			// otherwise the numbering of the next entries tells.
			_, n, err := l.retainedPosition(ctx)
			if err != nil {
				if !fail("retained log not checked, retrying", err) {
					return
				}
				continue
			}
			check = false
			if n < seq {
				// The change number went back: Redis lost the store (it
				// restarted without persistence). Put back what this
				// router holds before reloading, or it would be cleared.
				l.retainedReseed.Store(true)
				load = true
				continue
			}
		}
		res, err := l.blocking.XRead(ctx, &redis.XReadArgs{Streams: []string{l.keys.retainedLog, pos}, Count: 512, Block: l.block}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			check = true
			if !fail("retained log not read, retrying", err) {
				return
			}
			continue
		}
	entries:
		for _, s := range res {
			for _, msg := range s.Messages {
				e, err := parseRetainedEntry(msg.Values)
				if err != nil || e.n != seq+1 {
					if err != nil {
						l.m.Dropped(DropBadEntry, 1)
						l.warn.log(l.log, slog.LevelWarn, "bad_retained_entry", "federation: bad retained log entry, reloading the store", "id", msg.ID, "error", err)
					} else {
						l.log.Info("federation: retained log numbering broken, reloading the store", "expected", seq+1, "got", e.n)
					}
					load = true
					break entries
				}
				pos, seq = msg.ID, e.n
				if e.body == nil {
					delete(known, e.topic)
				} else {
					known[e.topic] = struct{}{}
				}
				l.h.Retained(e.topic, e.body)
			}
		}
	}
}

// reseedRetained puts back, after Redis lost its data, the retained
// messages this router holds (see RetainedSource), each only if no other
// router has put it back already.
func (l *Link) reseedRetained(ctx context.Context, known map[string]struct{}) error {
	src, ok := l.h.(RetainedSource)
	if !ok || len(known) == 0 {
		return nil
	}
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	pipe := l.client.Pipeline()
	n := 0
	for topic := range known {
		body := src.RetainedBody(topic)
		if body == nil {
			continue
		}
		pipe.Eval(c, scriptRetainIfAbsent, []string{l.keys.retained, l.keys.retainedSeq, l.keys.retainedLog},
			topic, retainedLogMaxLen, body)
		n++
	}
	if n == 0 {
		return nil
	}
	if _, err := pipe.Exec(c); err != nil {
		return err
	}
	l.log.Info("federation: retained messages put back after Redis lost its data", "topics", n)
	return nil
}

// retainedPosition returns the retained log's last ID and change number.
func (l *Link) retainedPosition(ctx context.Context) (string, int64, error) {
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	v, err := l.client.Eval(c, scriptRetainedPosition, []string{l.keys.retainedLog, l.keys.retainedSeq}).Result()
	if err != nil {
		return "", 0, err
	}
	return parseRetainedPosition(v)
}

// loadRetained hands the whole retained store to the Handler, reports as
// cleared the known topics it no longer holds, and returns the log position
// taken before the load.
func (l *Link) loadRetained(ctx context.Context, known map[string]struct{}) (string, int64, error) {
	pos, n, err := l.retainedPosition(ctx)
	if err != nil {
		return "", 0, err
	}
	seen := make(map[string]struct{}, len(known))
	var cursor uint64
	for {
		c, cancel := context.WithTimeout(ctx, l.opTimeout)
		kv, next, err := l.client.HScan(c, l.keys.retained, cursor, "", 1000).Result()
		cancel()
		if err != nil {
			return "", 0, err
		}
		for i := 0; i+1 < len(kv); i += 2 {
			seen[kv[i]] = struct{}{}
			l.h.Retained(kv[i], []byte(kv[i+1]))
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	for topic := range known {
		if _, ok := seen[topic]; !ok {
			l.h.Retained(topic, nil)
			delete(known, topic)
		}
	}
	for topic := range seen {
		known[topic] = struct{}{}
	}
	return pos, n, nil
}
