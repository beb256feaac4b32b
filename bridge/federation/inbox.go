package federation

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// origin is what this router knows of a sender incarnation.
type origin struct {
	next      uint64    // the next reliable seq expected from it
	acked     uint64    // the acknowledgement last written for it
	dirty     bool      // an acknowledgement is to be written (progress, or duplicates: the sender does not know)
	lastHeard time.Time // for forget
	expiredAt time.Time // when its acks hash's expiry was last pushed back
}

// ackTTL is the expiry of an acks hash, pushed back while receivers write
// to it: the hash of a router that died while receivers still wrote to it
// does not linger.
const ackTTL = forgetAfter

// inboxLoop reads this router's inbox from its last position: one blocking
// XREAD per batch of frames, each frame decoded, deduplicated, and delivered.
func (l *Link) inboxLoop(ctx context.Context) {
	bo := backoff{min: 20 * time.Millisecond, max: min(max(l.cfg.Heartbeat, 100*time.Millisecond), time.Second)}
	pos := "0-0" // a new incarnation's inbox holds only what was sent to it
	var recs []record
	inbox := l.keys.inbox(l.inc)
	for ctx.Err() == nil {
		res, err := l.blocking.XRead(ctx, &redis.XReadArgs{Streams: []string{inbox, pos}, Count: 128, Block: l.block}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.troubled()
			l.warn.log(l.log, slog.LevelWarn, "inbox_reader", "federation: inbox not read, retrying", "error", err)
			if !bo.wait(ctx) {
				return
			}
			continue
		}
		bo.reset()
		for _, s := range res {
			for _, msg := range s.Messages {
				pos = msg.ID
				recs = l.receive(msg.Values, recs)
			}
		}
	}
}

// receive delivers the messages of one inbox entry: unreliable ones always,
// reliable ones only in sequence. A reliable message below the expected seq
// is a duplicate; one above it waits for the sender to go back to the missing
// one (go-back-N), unless the frame's floor says the sender no longer has it.
func (l *Link) receive(values map[string]any, recs []record) []record {
	f, ok := values["f"].(string)
	if !ok {
		l.m.Dropped(DropBadEntry, 1)
		l.warn.log(l.log, slog.LevelWarn, "bad_frame", "federation: inbox entry without a frame ignored")
		return recs
	}
	buf := []byte(f)
	h, rs, err := decodeFrame(buf, recs)
	if err != nil {
		l.m.Dropped(DropBadEntry, 1)
		l.warn.log(l.log, slog.LevelWarn, "bad_frame", "federation: undecodable frame ignored", "error", err)
		return rs
	}
	var dups, gaps int
	var lost uint64
	out := rs[:0]
	l.recvMu.Lock()
	o := l.origins[string(h.origin)]
	if o == nil {
		o = &origin{next: 1}
		l.origins[string(h.origin)] = o
	}
	for _, r := range rs {
		switch {
		case r.seq == 0:
			out = append(out, r)
			continue
		case r.seq < o.next:
			dups++
			continue
		case r.seq > o.next && h.floor > o.next:
			to := min(h.floor, r.seq)
			lost += to - o.next
			o.next = to
		}
		if r.seq == o.next {
			out = append(out, r)
			o.next++
		} else {
			gaps++
		}
	}
	o.lastHeard = time.Now()
	if dups > 0 || o.next-1 != o.acked {
		o.dirty = true
	}
	l.recvMu.Unlock()

	if dups > 0 {
		l.m.Duplicates(dups)
	}
	if gaps > 0 {
		l.m.Dropped(DropGap, gaps)
	}
	if lost > 0 {
		l.m.Dropped(DropLost, int(lost))
		l.warn.log(l.log, slog.LevelWarn, "lost", "federation: reliable messages lost: their sender discarded them", "origin", string(h.origin), "lost", lost)
	}
	if len(out) > 0 {
		l.m.Received(len(out))
		if oh, ok := l.h.(OriginHandler); ok {
			from := string(h.origin)
			for _, r := range out {
				oh.DeliverFrom(from, r.body)
			}
		} else {
			for _, r := range out {
				l.h.Deliver(r.body)
			}
		}
	}
	return rs
}

// ackLoop writes, every ackEvery, the contiguous acknowledgement of each
// origin that has progressed (or sent duplicates) into the origin's acks
// hash, in the origin's hash slot.
func (l *Link) ackLoop(ctx context.Context) {
	t := time.NewTicker(l.ackEvery)
	defer t.Stop()
	var retryAt time.Time
	bo := backoff{min: l.ackEvery, max: time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Now().Before(retryAt) {
			continue
		}
		if err := l.writeAcks(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			l.troubled()
			l.warn.log(l.log, slog.LevelWarn, "acks", "federation: acknowledgements not written, retrying", "error", err)
			bo.cur = min(max(bo.cur*2, bo.min), bo.max)
			retryAt = time.Now().Add(bo.cur)
			continue
		}
		bo.reset()
	}
}

type ackWrite struct {
	inc    string
	o      *origin
	seq    uint64
	expire bool
}

func (l *Link) writeAcks(ctx context.Context) error {
	now := time.Now()
	var writes []ackWrite
	l.tmu.Lock()
	l.recvMu.Lock()
	for inc, o := range l.origins {
		if !o.dirty {
			continue
		}
		if _, dead := l.dead[inc]; dead {
			continue // its acks hash is gone, or going
		}
		o.dirty = false
		writes = append(writes, ackWrite{inc: inc, o: o, seq: o.next - 1, expire: now.Sub(o.expiredAt) > ackTTL/4})
	}
	l.recvMu.Unlock()
	l.tmu.Unlock()
	if len(writes) == 0 {
		return nil
	}
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	pipe := l.client.Pipeline()
	for _, w := range writes {
		key := l.keys.acks(w.inc)
		pipe.HSet(c, key, l.inc, w.seq)
		if w.expire {
			pipe.PExpire(c, key, ackTTL)
		}
	}
	_, err := pipe.Exec(c)
	l.recvMu.Lock()
	for _, w := range writes {
		if err != nil {
			w.o.dirty = true
			continue
		}
		w.o.acked = max(w.o.acked, w.seq)
		if w.expire {
			w.o.expiredAt = now
		}
	}
	l.recvMu.Unlock()
	return err
}
