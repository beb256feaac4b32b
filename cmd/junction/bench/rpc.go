package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// RPC: WAMP callers CALL the procedure (the topic in WAMP form); MQTT
// callers and callees use Junction's $rpc/ convention with the JSON
// envelope of MQTT 3.1.1 (README, "RPC for MQTT clients"), so MQTT RPC needs
// a Junction router. Callees answer with the call's arguments; the latency
// is the round trip, from the timestamp the result carries back.

type rpcCall struct {
	ReplyTo     string `json:"reply_to"`
	Correlation uint64 `json:"correlation"`
	Args        []any  `json:"args"`
}

type rpcInvocation struct {
	ReplyTo     string          `json:"reply_to"`
	Correlation json.RawMessage `json:"correlation"`
	Args        json.RawMessage `json:"args"`
}

type rpcResult struct {
	Correlation json.RawMessage `json:"correlation"`
	Args        json.RawMessage `json:"args,omitempty"`
	Error       string          `json:"error,omitempty"`
}

func (r *run) runRPC(ctx context.Context, res *Result) error {
	c := r.cfg
	proc := wampURI(c.Topic)
	rpcTopic := "$rpc/" + c.Topic
	start := time.Now()
	callees, _, err := connectAll(ctx, c, c.Callees, false, func(ctx context.Context, i int) (endpoint, error) {
		e, err := r.dial(ctx, c.subProto(), c.subURL(), fmt.Sprintf("%s-callee-%d", c.ClientPrefix, i))
		if err != nil {
			return e, err
		}
		if e.mqtt != nil {
			m := e.mqtt
			err = m.subscribe(ctx, rpcTopic, byte(c.QoS), func(_ string, p []byte) {
				var inv rpcInvocation
				if err := json.Unmarshal(p, &inv); err != nil || inv.ReplyTo == "" {
					r.fail(fmt.Errorf("callee: not an invocation envelope: %q", p))
					return
				}
				out, _ := json.Marshal(rpcResult{Correlation: inv.Correlation, Args: inv.Args})
				if err := m.send(inv.ReplyTo, byte(c.QoS), out); err != nil {
					r.fail(fmt.Errorf("callee: %w", err))
				}
			})
		} else {
			err = e.wamp.Register(proc, func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
				return client.InvokeResult{Args: inv.Arguments}
			}, nxwamp.Dict{"invoke": "roundrobin"})
		}
		if err != nil {
			e.close()
			return endpoint{}, fmt.Errorf("registering %s: %w", proc, err)
		}
		r.watch(e.lost())
		return e, nil
	})
	defer func() { r.closeAll(callees) }()
	if err != nil {
		return fmt.Errorf("callees: %w", err)
	}
	callers, _, err := connectAll(ctx, c, c.Callers, false, func(ctx context.Context, i int) (*caller, error) {
		id := fmt.Sprintf("%s-caller-%d", c.ClientPrefix, i)
		e, err := r.dial(ctx, c.Proto, c.URL, id)
		if err != nil {
			return nil, err
		}
		cl := &caller{endpoint: e, replyTo: "bench/replies/" + id, pending: map[uint64]chan rpcResult{}}
		if e.mqtt != nil {
			if err := e.mqtt.subscribe(ctx, cl.replyTo, byte(c.QoS), cl.onReply); err != nil {
				e.close()
				return nil, err
			}
		}
		r.watch(e.lost())
		return cl, nil
	})
	defer func() {
		eps := make([]endpoint, 0, len(callers))
		for _, cl := range callers {
			if cl != nil {
				eps = append(eps, cl.endpoint)
			}
		}
		r.closeAll(eps)
	}()
	if err != nil {
		return fmt.Errorf("callers: %w", err)
	}
	res.Connect = connectStats(c.Callees+c.Callers, 0, time.Since(start))

	r.phase.Store("calling")
	sendStart := time.Now()
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.Count == 0 {
		sendCtx, cancel = context.WithDeadline(ctx, sendStart.Add(c.Duration))
		defer cancel()
	}
	var wg sync.WaitGroup
	for _, cl := range callers {
		// Inflight workers per caller share its count and rate.
		var issued atomic.Int64
		interval := time.Duration(0)
		if c.Rate > 0 {
			interval = time.Duration(float64(time.Second) * float64(c.Inflight) / c.Rate)
		}
		for range c.Inflight {
			wg.Go(func() { r.callLoop(ctx, sendCtx, cl, proc, rpcTopic, &issued, interval) })
		}
	}
	wg.Wait()
	sendEnd := time.Now()
	res.Expected = r.sent.Load()
	res.Seconds = sendEnd.Sub(sendStart).Seconds()
	res.SentPerSec = float64(r.sent.Load()) / res.Seconds
	if last := r.lastRecv.Load(); last > 0 {
		res.ReceivedPerSec = float64(r.received.Load()) / time.Unix(0, last).Sub(sendStart).Seconds()
	}
	return nil
}

// caller is one caller connection; for MQTT it matches results to calls.
type caller struct {
	endpoint
	replyTo string
	corr    atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]chan rpcResult
}

func (cl *caller) onReply(_ string, p []byte) {
	var res rpcResult
	if err := json.Unmarshal(p, &res); err != nil {
		return
	}
	var id uint64
	if json.Unmarshal(res.Correlation, &id) != nil {
		return
	}
	cl.mu.Lock()
	ch := cl.pending[id]
	delete(cl.pending, id)
	cl.mu.Unlock()
	if ch != nil {
		ch <- res
	}
}

func (r *run) callLoop(ctx, sendCtx context.Context, cl *caller, proc, rpcTopic string, issued *atomic.Int64, interval time.Duration) {
	c := r.cfg
	buf := newPayload(c.Size)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	next := time.Now()
	for {
		if sendCtx.Err() != nil || (c.Count > 0 && issued.Add(1) > int64(c.Count)) {
			return
		}
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-sendCtx.Done():
					return
				}
			}
		}
		stamp(buf, time.Now())
		r.sent.Add(1)
		var reply []byte
		var err error
		if cl.mqtt != nil {
			reply, err = cl.callMQTT(ctx, rpcTopic, byte(c.QoS), buf, c.ConnectTimeout)
		} else {
			var res *nxwamp.Result
			res, err = cl.wamp.Call(ctx, proc, nil, nxwamp.List{string(buf)}, nil, nil)
			if err == nil {
				reply = wampPayload(res.Arguments)
			}
		}
		if err != nil {
			r.fail(fmt.Errorf("call %s: %w", proc, err))
			select {
			case <-cl.lost():
				return
			default:
			}
			continue
		}
		r.onMessage(proc, reply)
	}
}

var errCallTimeout = errors.New("no result in time")

func (cl *caller) callMQTT(ctx context.Context, topic string, qos byte, payload []byte, timeout time.Duration) ([]byte, error) {
	id := cl.corr.Add(1)
	ch := make(chan rpcResult, 1)
	cl.mu.Lock()
	cl.pending[id] = ch
	cl.mu.Unlock()
	body, err := json.Marshal(rpcCall{ReplyTo: cl.replyTo, Correlation: id, Args: []any{string(payload)}})
	if err == nil {
		err = cl.mqtt.publish(ctx, topic, qos, body)
	}
	if err == nil {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case res := <-ch:
			if res.Error != "" {
				return nil, errors.New(res.Error)
			}
			var args []string
			if err := json.Unmarshal(res.Args, &args); err != nil || len(args) == 0 {
				return nil, fmt.Errorf("result args %s: want one string", res.Args)
			}
			return []byte(args[0]), nil
		case <-t.C:
			err = errCallTimeout
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	cl.mu.Lock()
	delete(cl.pending, id)
	cl.mu.Unlock()
	return nil, err
}
