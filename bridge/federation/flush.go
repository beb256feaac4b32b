package federation

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limits of one flush round: a pipeline of about this many body bytes, and
// of at most this many retained changes.
const (
	roundBytes    = 1 << 20
	roundRetained = 256
)

// planeKey marks the context of the flusher's commands, so that a hook can
// tell data-plane commands from the background ones (see the tests).
type planeKey struct{}

// flushState is the flusher's memory between rounds.
type flushState struct {
	dests       []*dest
	byInc       map[string]*dest
	frames      []sentFrame
	take        []record
	fw          frameWriter
	rr          int // round-robin start among dests
	lastAckPoll time.Time
	failing     bool
}

// sentFrame is a frame in the round's pipeline.
type sentFrame struct {
	d           *dest
	cmd         *redis.StringCmd
	first, last uint64 // its reliable seqs (first 0: none)
	unrel       int
	unrelBytes  int64
}

// flushLoop is the data-plane writer: woken by Publish and Retain, and every
// ackEvery for acknowledgements and resends, it writes everything queued in
// pipelined rounds, one XADD per destination frame.
func (l *Link) flushLoop(ctx context.Context) {
	fs := flushState{byInc: map[string]*dest{}}
	bo := backoff{min: 20 * time.Millisecond, max: min(max(l.cfg.Heartbeat, 100*time.Millisecond), time.Second)}
	t := time.NewTicker(l.ackEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-t.C:
		}
		for {
			more, err := l.flushOnce(ctx, &fs)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				l.troubled()
				if !fs.failing {
					fs.failing = true
					l.sendFailing.Store(true)
				}
				l.warn.log(l.log, slog.LevelWarn, "flush", "federation: messages not written, retrying", "error", err,
					"spool_messages", l.budget.count.Load(), "spool_bytes", l.budget.used.Load())
				if !bo.wait(ctx) {
					return
				}
				continue
			}
			if fs.failing {
				// Redis may have restarted and lost what was written before:
				// go back to the first unacknowledged message everywhere.
				fs.failing = false
				l.sendFailing.Store(false)
				l.rewindAll.Store(true)
				more = true
			}
			bo.reset()
			if !more {
				break
			}
		}
	}
}

// pendingWork reports whether anything is queued and unwritten.
func (l *Link) pendingWork() bool {
	l.retMu.Lock()
	n := len(l.retQ)
	l.retMu.Unlock()
	if n > 0 {
		return true
	}
	l.idx.mu.RLock()
	defer l.idx.mu.RUnlock()
	for _, d := range l.idx.dests {
		if d != nil && d.hasUnsent() {
			return true
		}
	}
	return false
}

func (d *dest) hasUnsent() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.dead && (len(d.unrel) > 0 || d.next <= d.lastSeq)
}

// flushOnce runs one round: it rewinds what must be resent, polls this
// router's acknowledgements when some are awaited, and writes queued
// retained changes and frames in one pipeline. It reports whether more is
// queued than one round takes.
func (l *Link) flushOnce(ctx context.Context, fs *flushState) (bool, error) {
	defer l.rounds.Add(1)
	now := time.Now()
	mono := l.mono(now)

	l.idx.mu.RLock()
	fs.dests = fs.dests[:0]
	for _, d := range l.idx.dests {
		if d != nil {
			fs.dests = append(fs.dests, d)
		}
	}
	l.idx.mu.RUnlock()

	// Go back to the first unacknowledged message where it has waited for
	// ResendAfter (or everywhere, when Redis lost data). Acknowledgements
	// are awaited for whatever was written, rewound or not: they may be on
	// their way.
	rewind := l.rewindAll.Swap(false)
	resent, awaiting := 0, false
	for _, d := range fs.dests {
		d.mu.Lock()
		if d.rel.len() > 0 {
			f := d.rel.front()
			awaiting = awaiting || f.sentAt != 0
			if d.next > f.seq && (rewind || time.Duration(mono-f.sentAt) >= l.cfg.ResendAfter) {
				resent += int(d.next - f.seq)
				d.next = f.seq
			}
		}
		d.mu.Unlock()
	}
	if resent > 0 {
		l.m.Resent(resent)
	}

	c, cancel := context.WithTimeout(context.WithValue(ctx, planeKey{}, "data"), l.opTimeout)
	defer cancel()
	pipe := l.client.Pipeline()
	var acks *redis.MapStringStringCmd
	if awaiting && now.Sub(fs.lastAckPoll) >= l.ackEvery {
		acks = pipe.HGetAll(c, l.keys.acks(l.inc))
	}

	// Retained changes, in their order.
	l.retMu.Lock()
	rets := l.retQ[:min(len(l.retQ), roundRetained)]
	l.retQ = l.retQ[len(rets):]
	if len(l.retQ) == 0 {
		l.retQ = nil
	}
	l.retMu.Unlock()
	retCmds := make([]*redis.Cmd, len(rets))
	for i, r := range rets {
		args := []any{r.topic, retainedLogMaxLen}
		if r.body != nil {
			args = append(args, r.body)
		}
		retCmds[i] = pipe.Eval(c, scriptRetain, []string{l.keys.retained, l.keys.retainedSeq, l.keys.retainedLog}, args...)
	}

	// Frames, destinations in turn, until the round is full.
	fs.frames = fs.frames[:0]
	left := roundBytes
	n := len(fs.dests)
	for i := 0; i < n && left > 0; i++ {
		d := fs.dests[(fs.rr+i)%n]
		left = l.frameDest(c, pipe, fs, d, left)
	}
	if n > 0 {
		fs.rr = (fs.rr + 1) % n
	}
	if pipe.Len() == 0 {
		return false, nil
	}
	_, _ = pipe.Exec(c) // each command's outcome is looked at below

	var err error // the first failure that calls for backing off (see refused)
	if acks != nil {
		if aerr := acks.Err(); aerr == nil {
			fs.lastAckPoll = now
			l.applyAcks(fs, acks.Val())
		} else if !refused(aerr) {
			err = aerr
		}
	}
	err = cmp.Or(err, l.settleRetained(rets, retCmds))
	sent, failed, ferr := l.settleFrames(fs, mono)
	err = cmp.Or(err, ferr)
	if sent > 0 {
		l.m.Sent(sent)
	}
	if failed > 0 {
		l.m.Dropped(DropSendFailed, failed)
	}
	l.m.SpoolDepth(int(l.budget.count.Load()), l.budget.used.Load())
	if err != nil {
		return false, err // Redis unreachable or busy: back off
	}
	l.retMu.Lock()
	more := left <= 0 || len(l.retQ) > 0
	l.retMu.Unlock()
	return more, nil
}

// mono is a monotonic clock reading for spool timestamps (never 0).
func (l *Link) mono(now time.Time) int64 { return int64(now.Sub(l.t0)) + 1 }

// frameDest adds d's queued messages to the pipeline as frames, within left
// body bytes, and returns what is left.
func (l *Link) frameDest(c context.Context, pipe redis.Pipeliner, fs *flushState, d *dest, left int) int {
	d.mu.Lock()
	if d.dead || (len(d.unrel) == 0 && d.next > d.lastSeq) {
		d.mu.Unlock()
		return left
	}
	unrel := d.unrel
	d.unrel = nil
	floor := d.floorLocked()
	fs.take = fs.take[:0]
	if d.rel.len() > 0 {
		base := d.rel.front().seq
		for s := d.next; s <= d.lastSeq && left > 0; s++ {
			e := d.rel.at(int(s - base))
			fs.take = append(fs.take, record{seq: e.seq, body: e.body})
			left -= len(e.body) + 8
		}
	}
	d.mu.Unlock()

	var f sentFrame
	fs.fw.reset(l.inc, floor)
	f.d = d
	emit := func() {
		f.cmd = pipe.XAdd(c, &redis.XAddArgs{
			Stream:     d.inbox,
			NoMkStream: true, // only a live router's inbox exists; never recreate a dead one's
			MaxLen:     l.cfg.InboxMaxLen,
			Approx:     true,
			Values:     []any{"f", fs.fw.finish()},
		})
		fs.frames = append(fs.frames, f)
		f = sentFrame{d: d}
		fs.fw.reset(l.inc, floor)
	}
	for _, b := range unrel {
		if fs.fw.full(len(b)) {
			emit()
		}
		fs.fw.add(0, b)
		f.unrel++
		f.unrelBytes += int64(len(b))
		left -= len(b) + 8
	}
	for _, r := range fs.take {
		if fs.fw.full(len(r.body)) {
			emit()
		}
		fs.fw.add(r.seq, r.body)
		if f.first == 0 {
			f.first = r.seq
		}
		f.last = r.seq
	}
	if fs.fw.count > 0 {
		emit()
	}
	return left
}

// applyAcks trims each destination's spool to what it acknowledged.
func (l *Link) applyAcks(fs *flushState, acks map[string]string) {
	clear(fs.byInc)
	for _, d := range fs.dests {
		fs.byInc[d.inc] = d
	}
	for inc, v := range acks {
		d := fs.byInc[inc]
		if d == nil {
			continue
		}
		seq, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			continue
		}
		d.ack(seq, &l.budget)
	}
}

// settleRetained releases written retained changes and puts the others back
// at the head of the queue, in order: from the first that failed on, so the
// log keeps the order of Retain calls (a change written twice is harmless).
// A change Redis refuses (see refused) is dropped rather than retried for
// ever. It returns the first other error.
func (l *Link) settleRetained(rets []retainedChange, cmds []*redis.Cmd) error {
	done := len(rets)
	var first error
	for i, c := range cmds {
		err := c.Err()
		if err == nil {
			continue
		}
		if refused(err) {
			l.m.Dropped(DropSendFailed, 1)
			l.warn.log(l.log, slog.LevelWarn, "retained_refused", "federation: Redis refused a retained change; dropped", "topic", rets[i].topic, "error", err)
			continue
		}
		done, first = i, err
		break
	}
	var bytes int64
	for _, r := range rets[:done] {
		bytes += int64(len(r.body) + len(r.topic))
	}
	l.budget.release(done, bytes)
	if done < len(rets) {
		l.retMu.Lock()
		l.retQ = append(append([]retainedChange(nil), rets[done:]...), l.retQ...)
		l.retMu.Unlock()
	}
	return first
}

// refused reports whether err is Redis refusing a command for good (a key
// of the wrong type, a script error), as opposed to Redis being unreachable,
// loading, busy, out of memory or between Cluster primaries: retrying a
// refused command would fail the same way.
func refused(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) || errors.Is(err, redis.Nil) {
		return errors.Is(err, redis.Nil)
	}
	return redis.HasErrorPrefix(err, "WRONGTYPE") || redis.HasErrorPrefix(err, "ERR") && !redis.IsMaxClientsError(err)
}

// settleFrames records the outcome of the round's frames (and returns the
// first failure that is not refused): written reliable
// messages are marked sent (their resend timer starts), and a destination's
// next seq advances over its frames up to the first that failed, so a failed
// frame and all after it are written again. Unreliable messages are counted
// sent or dropped, and released either way.
func (l *Link) settleFrames(fs *flushState, mono int64) (sent, failed int, first error) {
	var stop *dest // the destination whose frame failed (frames of one destination are consecutive)
	for _, f := range fs.frames {
		err := f.cmd.Err()
		// redis.Nil: the inbox does not exist (NOMKSTREAM). Its router is
		// dead or has not recreated it after Redis lost data. Or Redis
		// refused the XADD (something else holds the key). Either way
		// count the frame as written: its reliable messages are resent
		// after ResendAfter, and nothing spins.
		ok := err == nil || refused(err)
		if err != nil && !errors.Is(err, redis.Nil) && ok {
			l.warn.log(l.log, slog.LevelWarn, "frame_refused", "federation: Redis refused a frame", "inbox", f.d.inbox, "error", err)
		}
		if !ok {
			first = cmp.Or(first, err)
		}
		if f.unrel > 0 {
			if err == nil {
				sent += f.unrel
			} else {
				failed += f.unrel
			}
			l.budget.release(f.unrel, f.unrelBytes)
		}
		if f.first == 0 {
			continue
		}
		if !ok {
			stop = f.d
			continue
		}
		if stop == f.d {
			continue
		}
		d := f.d
		d.mu.Lock()
		if !d.dead && d.rel.len() > 0 {
			base := d.rel.front().seq
			for s := max(f.first, base); s <= f.last && s <= d.lastSeq; s++ {
				d.rel.at(int(s - base)).sentAt = mono
			}
			if d.next <= f.last && d.next >= f.first {
				d.next = f.last + 1
			}
		}
		d.mu.Unlock()
		sent += int(f.last - f.first + 1)
	}
	return sent, failed, first
}
