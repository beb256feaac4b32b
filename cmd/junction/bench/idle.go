package bench

import (
	"context"
	"fmt"
	"time"
)

// runIdle opens Idle connections, ConnectParallel at a time, holds them
// open and silent for Hold, and reports connects/s and how many stayed.
func (r *run) runIdle(ctx context.Context, res *Result) error {
	c := r.cfg
	start := time.Now()
	conns, failed, err := connectAll(ctx, c, c.Idle, true, func(ctx context.Context, i int) (endpoint, error) {
		e, err := r.dial(ctx, c.Proto, c.URL, fmt.Sprintf("%s-idle-%d", c.ClientPrefix, i))
		if err != nil {
			r.fail(err)
			return e, err
		}
		r.received.Add(1) // progress shows connections as "received"
		r.watch(e.lost())
		return e, nil
	})
	defer func() { r.closeAll(conns) }()
	res.Connect = connectStats(len(conns), failed, time.Since(start))
	if err != nil {
		return fmt.Errorf("idle connections: %w", err)
	}
	r.phase.Store("holding")
	if c.Hold > 0 {
		t := time.NewTimer(c.Hold)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	res.Held = len(conns) - int(r.lostConn.Load())
	r.received.Store(0)
	return nil
}
