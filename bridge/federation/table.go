package federation

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// The route table: every other router's rows, loaded from Redis and kept
// current from the route log. The route reader (routeLoop) is its main
// writer; the control loop drops dead routers. Both hold tmu; the index,
// which Publish reads, is updated under its own lock, briefly.

// remoteLocked returns the table entry of inc, creating it (and its spool,
// whose numbering continues where a previous one for inc stopped).
func (l *Link) remoteLocked(inc string) *remote {
	if r := l.nodes[inc]; r != nil {
		return r
	}
	t := l.tombs[inc]
	delete(l.tombs, inc)
	d := newDest(inc, l.keys.inbox(inc), t.seq)
	l.idx.mu.Lock()
	d.slot = l.idx.allocSlot(d)
	l.idx.mu.Unlock()
	r := &remote{rows: map[string]pattern{}, dest: d, addedAt: time.Now()}
	l.nodes[inc] = r
	return r
}

// setRowsLocked replaces the rows of inc with a snapshot at version ver.
func (l *Link) setRowsLocked(inc string, ver int64, rows []string) {
	if _, dead := l.dead[inc]; dead || inc == l.inc {
		return
	}
	r := l.remoteLocked(inc)
	next := make(map[string]pattern, len(rows))
	for _, row := range rows {
		p, err := parseRow(row)
		if err != nil {
			l.warn.log(l.log, slog.LevelWarn, "bad_row", "federation: route row ignored", "remote", inc, "row", row, "error", err)
			continue
		}
		next[row] = p
	}
	var add, del []pattern
	var addOpaque, delOpaque []string
	for row, p := range r.rows {
		if _, ok := next[row]; !ok {
			del = append(del, p)
			if p.kind == kindOpaque {
				delOpaque = append(delOpaque, p.text)
			}
		}
	}
	for row, p := range next {
		if _, ok := r.rows[row]; !ok {
			add = append(add, p)
			if p.kind == kindOpaque {
				addOpaque = append(addOpaque, p.text)
			}
		}
	}
	if len(addOpaque)+len(delOpaque) > 0 {
		l.events.push(tableEvent{node: inc, added: addOpaque, removed: delOpaque})
	}
	if len(add)+len(del) > 0 {
		l.idx.mu.Lock()
		for _, p := range del {
			l.idx.update(r.dest.slot, p, false)
		}
		for _, p := range add {
			l.idx.update(r.dest.slot, p, true)
		}
		l.idx.mu.Unlock()
	}
	l.remoteRows += len(add) - len(del)
	r.rows, r.ver = next, ver
	l.m.RemoteRoutes(l.remoteRows)
}

// applyEntryLocked applies one route log entry; a gap in a router's versions
// asks the route reader to reload that router.
func (l *Link) applyEntryLocked(e routeEntry) {
	if e.node == l.inc {
		return
	}
	if e.op == "bye" {
		l.dropNodeLocked(e.node, "left")
		return
	}
	if _, dead := l.dead[e.node]; dead {
		return
	}
	r := l.nodes[e.node]
	known := int64(0)
	if r != nil {
		known = r.ver
	}
	switch {
	case e.op == "reset" || e.ver > known+1:
		l.resyncReq[e.node] = true
		return
	case e.ver <= known:
		return
	}
	r = l.remoteLocked(e.node)
	r.ver = e.ver
	p, err := parseRow(e.row)
	if err != nil {
		l.warn.log(l.log, slog.LevelWarn, "bad_row", "federation: route row ignored", "remote", e.node, "row", e.row, "error", err)
		return
	}
	_, had := r.rows[e.row]
	add := e.op == "add"
	if had == add {
		return
	}
	if add {
		r.rows[e.row] = p
		l.remoteRows++
	} else {
		delete(r.rows, e.row)
		l.remoteRows--
	}
	l.idx.mu.Lock()
	l.idx.update(r.dest.slot, p, add)
	l.idx.mu.Unlock()
	l.m.RemoteRoutes(l.remoteRows)
	if p.kind == kindOpaque {
		if add {
			l.events.push(tableEvent{node: e.node, added: []string{p.text}})
		} else {
			l.events.push(tableEvent{node: e.node, removed: []string{p.text}})
		}
	}
}

// dropNodeLocked forgets a router that died or left: Publish stops targeting
// it at once, and what was queued for it is discarded.
func (l *Link) dropNodeLocked(inc, reason string) {
	if inc == l.inc {
		return
	}
	now := time.Now()
	_, wasDead := l.dead[inc]
	l.dead[inc] = now
	delete(l.resyncReq, inc)
	r := l.nodes[inc]
	if r == nil {
		if !wasDead {
			l.events.push(tableEvent{node: inc, gone: true})
		}
		return
	}
	var opaque []string
	for _, p := range r.rows {
		if p.kind == kindOpaque {
			opaque = append(opaque, p.text)
		}
	}
	l.events.push(tableEvent{node: inc, removed: opaque, gone: true, returned: l.undelivered(r.dest)})
	delete(l.nodes, inc)
	l.idx.mu.Lock()
	for _, p := range r.rows {
		l.idx.update(r.dest.slot, p, false)
	}
	l.idx.freeSlot(r.dest.slot)
	l.idx.mu.Unlock()
	n, last := r.dest.discard(&l.budget)
	l.tombs[inc] = tomb{seq: last, at: now}
	l.remoteRows -= len(r.rows)
	if n > 0 {
		l.m.Dropped(DropDeadNode, n)
		// The flusher reports the spool after its rounds; on a quiet
		// cluster there may be none for a long while.
		l.m.SpoolDepth(int(l.budget.count.Load()), l.budget.used.Load())
	}
	l.m.RemoteRoutes(l.remoteRows)
	l.log.Info("federation: router gone, its routes dropped", "remote", inc, "reason", reason, "routes", len(r.rows), "discarded", n)
}

// routeLoop keeps the route table: it loads it whole at start and after any
// error (so after every reconnect), reloads single routers when their
// versions jump, checks all versions every resyncEvery as a backstop, and
// otherwise tails the route log with a blocking XREAD.
func (l *Link) routeLoop(ctx context.Context) {
	bo := backoff{min: 50 * time.Millisecond, max: min(max(l.cfg.Heartbeat, 100*time.Millisecond), time.Second)}
	resyncEvery := 30 * l.cfg.Heartbeat
	pos := ""
	lastCheck := time.Now()
	fail := func(what string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		pos = ""
		l.troubled()
		l.routesOK.Store(false)
		l.refreshUp()
		l.warn.log(l.log, slog.LevelWarn, "route_reader", "federation: "+what, "error", err)
		return bo.wait(ctx)
	}
	for ctx.Err() == nil {
		if pos == "" || l.resyncAll.Swap(false) {
			p, err := l.loadRoutes(ctx)
			if err != nil {
				if !fail("route table not loaded, retrying", err) {
					return
				}
				continue
			}
			pos = p
			bo.reset()
			l.routesOK.Store(true)
			l.refreshUp()
		}
		if err := l.reloadRequested(ctx); err != nil {
			if !fail("routes not reloaded, retrying", err) {
				return
			}
			continue
		}
		if time.Since(lastCheck) > resyncEvery {
			lastCheck = time.Now()
			if err := l.checkVersions(ctx); err != nil {
				if !fail("route versions not checked, retrying", err) {
					return
				}
				continue
			}
		}
		res, err := l.blocking.XRead(ctx, &redis.XReadArgs{Streams: []string{l.keys.routeLog, pos}, Count: 512, Block: l.block}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if !fail("route log not read, retrying", err) {
				return
			}
			continue
		}
		l.tmu.Lock()
		for _, s := range res {
			for _, msg := range s.Messages {
				pos = msg.ID
				e, err := parseRouteEntry(msg.Values)
				if err != nil {
					l.warn.log(l.log, slog.LevelWarn, "bad_route_entry", "federation: route log entry ignored", "id", msg.ID, "error", err)
					continue
				}
				l.applyEntryLocked(e)
			}
		}
		l.tmu.Unlock()
	}
}

// loadRoutes loads every other router's rows and returns the route log
// position to tail from. The position is taken first: entries after it that
// the snapshots already hold are recognised by their versions.
func (l *Link) loadRoutes(ctx context.Context) (string, error) {
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	last, err := l.client.XRevRangeN(c, l.keys.routeLog, "+", "-", 1).Result()
	if err != nil {
		return "", err
	}
	pos := "0-0"
	if len(last) > 0 {
		pos = last[0].ID
	}
	vers, err := l.client.HGetAll(c, l.keys.ver).Result()
	if err != nil {
		return "", err
	}
	incs := make([]string, 0, len(vers))
	for inc := range vers {
		if inc != l.inc {
			incs = append(incs, inc)
		}
	}
	if err := l.reload(c, incs); err != nil {
		return "", err
	}
	return pos, nil
}

// reloadRequested reloads the routers the table asked for.
func (l *Link) reloadRequested(ctx context.Context) error {
	l.tmu.Lock()
	if len(l.resyncReq) == 0 {
		l.tmu.Unlock()
		return nil
	}
	incs := make([]string, 0, len(l.resyncReq))
	for inc := range l.resyncReq {
		incs = append(incs, inc)
	}
	clear(l.resyncReq)
	l.tmu.Unlock()
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	err := l.reload(c, incs)
	if err != nil {
		l.tmu.Lock()
		for _, inc := range incs {
			l.resyncReq[inc] = true
		}
		l.tmu.Unlock()
	}
	return err
}

// reload replaces the rows of the given routers by snapshots. A router
// without a version in Redis keeps what the table has: it either left (its
// "bye" is in the log) or Redis lost its data (it will re-announce), and
// otherwise it is dropped when its heartbeat stops.
func (l *Link) reload(ctx context.Context, incs []string) error {
	const batch = 256
	for len(incs) > 0 {
		n := min(len(incs), batch)
		pipe := l.client.Pipeline()
		cmds := make([]*redis.Cmd, n)
		for i, inc := range incs[:n] {
			cmds[i] = pipe.Eval(ctx, scriptSnapshot, []string{l.keys.ver, l.keys.routeSet(inc)}, inc)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		l.tmu.Lock()
		for i, inc := range incs[:n] {
			ver, rows, err := parseSnapshot(cmds[i].Val())
			if err != nil {
				l.warn.log(l.log, slog.LevelWarn, "bad_snapshot", "federation: route snapshot ignored", "remote", inc, "error", err)
				continue
			}
			if ver > 0 {
				l.setRowsLocked(inc, ver, rows)
			}
		}
		l.tmu.Unlock()
		incs = incs[n:]
	}
	return nil
}

// checkVersions compares the table's versions with Redis' and asks for a
// reload of every router that differs: a backstop for anything the log
// could not tell (a trimmed log, a lost entry).
func (l *Link) checkVersions(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	vers, err := l.client.HGetAll(c, l.keys.ver).Result()
	if err != nil {
		return err
	}
	l.tmu.Lock()
	defer l.tmu.Unlock()
	for inc, v := range vers {
		if inc == l.inc {
			continue
		}
		if _, dead := l.dead[inc]; dead {
			continue
		}
		if r := l.nodes[inc]; r == nil || formatInt(r.ver) != v {
			l.resyncReq[inc] = true
		}
	}
	return nil
}
