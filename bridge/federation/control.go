package federation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"time"
)

// controlState is the control loop's own memory.
type controlState struct {
	nextHB     time.Time
	failing    bool      // the last heartbeat failed
	registered bool      // a heartbeat has succeeded
	upSince    time.Time // since when heartbeats succeed without a gap (or since Redis lost its data)
	lastOK     time.Time // the last successful heartbeat
	epoch      string
	myVer      int64 // the version of this router's route set, as last written
	myCard     int64 // the size of that set
	needReset  bool  // rewrite the whole route set
	routeRetry time.Time
	lastForget time.Time
}

// controlLoop heartbeats, writes this router's route changes, and judges
// the other routers: one goroutine, so that route writes and the checks of
// what Redis holds of them never race.
func (l *Link) controlLoop(ctx context.Context) {
	var st controlState
	t := time.NewTicker(l.cfg.Heartbeat)
	defer t.Stop()
	for {
		now := time.Now()
		if !now.Before(st.nextHB) {
			st.nextHB = now.Add(l.cfg.Heartbeat * 9 / 10)
			l.heartbeat(ctx, &st)
		}
		if st.registered && !st.failing && !now.Before(st.routeRetry) {
			l.writeRoutes(ctx, &st)
		}
		if now.Sub(st.lastForget) > time.Minute {
			st.lastForget = now
			l.forget(now)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.ctl:
		}
	}
}

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// heartbeat records this router in Redis and learns who else lives.
func (l *Link) heartbeat(ctx context.Context, st *controlState) {
	sent := time.Now()
	c, cancel := context.WithTimeout(ctx, min(l.opTimeout, l.cfg.NodeTimeout/2))
	defer cancel()
	pipe := l.client.Pipeline()
	hb := pipe.Eval(c, scriptHeartbeat, []string{l.keys.nodes, l.keys.epoch, l.keys.ver, l.keys.routeSet(l.inc)}, l.inc, newEpoch())
	pipe.Eval(c, scriptEnsureInbox, []string{l.keys.inbox(l.inc)}, inboxGroup)
	_, err := pipe.Exec(c)
	var r heartbeatReply
	if err == nil {
		r, err = parseHeartbeat(hb.Val())
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		l.troubled()
		if !st.failing {
			st.failing = true
			l.hbOK.Store(false)
			l.refreshUp()
		}
		l.warn.log(l.log, slog.LevelWarn, "heartbeat", "federation: Redis unreachable, retrying", "error", err)
		return
	}
	now := time.Now()
	switch {
	case st.failing || !st.registered:
		st.upSince = now
		if st.failing {
			l.log.Info("federation: Redis reachable again")
		}
	case now.Sub(st.lastOK) > max(2*l.cfg.Heartbeat, l.cfg.NodeTimeout/2):
		// This router's own heartbeats stalled (a pause, starved CPU, a
		// slow Redis): the others' may have too. Judge nobody for a while.
		st.upSince = now
		l.log.Warn("federation: heartbeats were late; not judging other routers for NodeTimeout", "late_by", now.Sub(st.lastOK)-l.cfg.Heartbeat)
	}
	st.lastOK = now
	st.failing = false
	if st.epoch != "" && r.epoch != st.epoch {
		// Redis restarted empty (or was flushed): every router re-announces
		// its routes, reloads the others', resends what is unacknowledged,
		// and checks its retained store.
		l.log.Warn("federation: Redis lost its data; re-announcing routes and resending", "old_epoch", st.epoch, "epoch", r.epoch)
		st.upSince = now
		st.needReset = true
		l.resyncAll.Store(true)
		l.rewindAll.Store(true)
		l.retainedReseed.Store(true)
		l.retainedCheck.Store(true)
		l.kick()
	}
	st.epoch = r.epoch
	switch {
	case r.added && st.registered:
		l.log.Warn("federation: this router had been removed from Redis (judged dead?); re-announcing its routes")
		st.needReset = true
	case r.ver != st.myVer || r.card != st.myCard:
		l.log.Info("federation: the route set in Redis differs from this router's; re-announcing", "version", r.ver, "expected", st.myVer, "rows", r.card, "expected_rows", st.myCard)
		st.needReset = true
	}
	st.registered = true
	l.hbOK.Store(true)
	l.refreshUp()
	l.judge(ctx, st, r, sent)
}

// judge updates the live routers and drops those silent for NodeTimeout.
// Right after this router (re)connects it judges nobody for NodeTimeout:
// when Redis itself was down, every router's heartbeat is old, and the live
// ones need a moment to renew it.
func (l *Link) judge(ctx context.Context, st *controlState, r heartbeatReply, sent time.Time) {
	timeout := l.cfg.NodeTimeout.Milliseconds()
	live := make([]string, 0, len(r.nodes))
	liveSet := make(map[string]bool, len(r.nodes))
	var stale []string
	for _, n := range r.nodes {
		switch {
		case n.inc == l.inc:
		case r.now-n.score <= timeout:
			live = append(live, n.inc)
			liveSet[n.inc] = true
		default:
			stale = append(stale, n.inc)
		}
	}
	slices.Sort(live)
	l.live.Store(&live)
	l.m.RemoteNodes(len(live))
	judging := time.Since(st.upSince) >= l.cfg.NodeTimeout

	var gone []string
	l.tmu.Lock()
	for _, inc := range live {
		if _, ok := l.dead[inc]; ok {
			delete(l.dead, inc)
			l.resyncReq[inc] = true
			l.log.Info("federation: a router judged dead is back", "remote", inc)
		}
	}
	if judging {
		for inc, rm := range l.nodes {
			if !liveSet[inc] && rm.addedAt.Before(sent) {
				gone = append(gone, inc)
			}
		}
		for _, inc := range gone {
			l.dropNodeLocked(inc, "timeout")
		}
		// A stale router this one never exchanged with is gone too: a
		// NodeWatcher may hold state of it (calls it sent, sessions).
		for _, inc := range stale {
			if _, ok := l.dead[inc]; !ok {
				l.dropNodeLocked(inc, "timeout")
			}
		}
	}
	l.tmu.Unlock()
	if !judging {
		return
	}
	for _, inc := range append(stale, gone...) {
		l.removeDead(ctx, inc)
	}
}

// removeDead deletes a dead router's keys, unless it heartbeat meanwhile.
// Every router may try; the script makes it idempotent.
func (l *Link) removeDead(ctx context.Context, inc string) {
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	n, err := l.client.Eval(c, scriptRemove, []string{l.keys.nodes, l.keys.ver, l.keys.routeSet(inc), l.keys.routeLog},
		inc, l.cfg.NodeTimeout.Milliseconds(), routeLogMaxLen).Int64()
	if err == nil && n > 0 {
		err = l.client.Del(c, l.keys.inbox(inc), l.keys.acks(inc)).Err()
		l.log.Info("federation: removed a dead router's keys", "remote", inc)
	}
	if err == nil {
		err = l.client.HDel(c, l.keys.acks(l.inc), inc).Err()
	}
	if err != nil && ctx.Err() == nil {
		l.troubled()
		l.warn.log(l.log, slog.LevelWarn, "remove_dead", "federation: could not remove a dead router's keys", "remote", inc, "error", err)
	}
}

// writeRoutes writes this router's pending route changes, or its whole route
// set when Redis does not hold what it last wrote.
func (l *Link) writeRoutes(ctx context.Context, st *controlState) {
	for ctx.Err() == nil {
		l.rmu.Lock()
		if !st.needReset && len(l.pending) == 0 {
			l.written, l.writtenVer = l.changes, st.myVer
			l.rmu.Unlock()
			return
		}
		upTo := l.changes
		mode := "delta"
		args := []any{l.inc, routeLogMaxLen, mode, st.myVer}
		var taken []string
		if st.needReset {
			args[2] = "reset"
			for row := range l.local {
				args = append(args, row)
			}
			clear(l.pending)
		} else {
			for row := range l.pending {
				op := "-"
				if _, want := l.local[row]; want {
					op = "+"
				}
				args = append(args, op+row)
				taken = append(taken, row)
				delete(l.pending, row)
				if len(taken) == 1000 {
					break
				}
			}
		}
		l.rmu.Unlock()

		c, cancel := context.WithTimeout(ctx, l.opTimeout)
		res, err := l.client.Eval(c, scriptRoutes, []string{l.keys.routeSet(l.inc), l.keys.ver, l.keys.routeLog}, args...).Slice()
		cancel()
		var status string
		var ver, card int64
		if err == nil {
			status, ver, card, err = parseRoutesReply(res)
		}
		if err != nil || status == "mismatch" {
			l.rmu.Lock()
			for _, row := range taken {
				l.pending[row] = struct{}{}
			}
			l.rmu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					l.troubled()
					l.warn.log(l.log, slog.LevelWarn, "routes", "federation: route changes not written, retrying", "error", err)
				}
				st.routeRetry = time.Now().Add(l.cfg.Heartbeat)
				return
			}
			l.log.Info("federation: the route set in Redis is not the one this router wrote; re-announcing", "version", ver, "expected", st.myVer)
			st.needReset = true
			continue
		}
		st.myVer, st.myCard = ver, card
		l.rmu.Lock()
		if len(l.pending) == 0 {
			l.written, l.writtenVer = upTo, ver
		}
		l.rmu.Unlock()
		if args[2] == "reset" {
			st.needReset = false
			l.log.Info("federation: routes announced", "routes", card, "version", ver)
		}
	}
}

// forget drops what is kept of routers dead for forgetAfter.
func (l *Link) forget(now time.Time) {
	l.tmu.Lock()
	for inc, at := range l.dead {
		if now.Sub(at) > forgetAfter {
			delete(l.dead, inc)
		}
	}
	for inc, t := range l.tombs {
		if now.Sub(t.at) > forgetAfter {
			delete(l.tombs, inc)
		}
	}
	l.tmu.Unlock()
	live := *l.live.Load()
	l.recvMu.Lock()
	for inc, o := range l.origins {
		if now.Sub(o.lastHeard) > forgetAfter && !slices.Contains(live, inc) {
			delete(l.origins, inc)
		}
	}
	l.recvMu.Unlock()
}
