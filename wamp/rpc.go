package wamp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxrouter "github.com/gammazero/nexus/v3/router"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/topic"
)

// dealer opens the WAMP sessions through which MQTT clients call and
// register procedures: one in-process nexus session per MQTT client, under
// its authid and role (nexus patch 6), so that the dealer treats a device
// like any other peer: shared registrations, invocation policies, timeouts,
// cancellation, and a callee that leaves fails its calls in flight at once.
// Local sessions skip nexus' authorizer; the hub checks MQTT clients' call
// and register permissions itself.
type dealer struct {
	nexus nxrouter.Router
	realm string
	queue int // the session's inbound queue: invocations and results in flight
	log   *slog.Logger
}

// Dealer returns what the hub opens MQTT clients' WAMP sessions with; nil
// without a bridge.
func (s *Server) Dealer(maxPendingCalls int) bridge.Dealer {
	if s.hub == nil {
		return nil
	}
	return &dealer{nexus: s.nexus, realm: s.hub.realm, queue: max(s.peerCfg.queueSize, 2*maxPendingCalls), log: s.log}
}

// ClusterDealer returns what federation opens sessions in any realm with, to
// serve and make calls for other routers.
func (s *Server) ClusterDealer(maxPendingCalls int) bridge.ClusterDealer {
	return &dealer{nexus: s.nexus, queue: max(s.peerCfg.queueSize, 2*maxPendingCalls), log: s.log}
}

// Session implements bridge.Dealer.
func (d *dealer) Session(id auth.Identity) (bridge.DealerSession, error) {
	return d.SessionIn(d.realm, id)
}

// SessionIn implements bridge.ClusterDealer: a session in any realm, for the
// calls and registrations federation makes on behalf of other routers.
func (d *dealer) SessionIn(realm string, id auth.Identity) (bridge.DealerSession, error) {
	c, err := client.ConnectLocal(d.nexus, client.Config{
		Realm: realm,
		HelloDetails: nxwamp.Dict{
			"authid":   id.AuthID,
			"authrole": id.Role,
		},
		LocalQueueSize: d.queue,
		Logger:         nexusLogger{d.log},
	})
	if err != nil {
		return nil, fmt.Errorf("WAMP session for MQTT client %s: %w", id.ClientID, err)
	}
	// A canceled call (its MQTT caller left, or its deadline passed) ends at
	// once: the dealer answers the CANCEL without waiting for the callee.
	if err := c.SetCallCancelMode(nxwamp.CancelModeKillNoWait); err != nil {
		_ = c.Close()
		return nil, err
	}
	return &rpcSession{client: c}, nil
}

// rpcSession is one MQTT client's WAMP session.
type rpcSession struct {
	client *client.Client
}

// Call implements bridge.DealerSession.
func (s *rpcSession) Call(ctx context.Context, c bridge.Call, progress func(bridge.Result)) bridge.Result {
	opts := nxwamp.Dict{}
	if c.Timeout > 0 {
		opts[nxwamp.OptTimeout] = c.Timeout.Milliseconds()
	}
	if c.Disclose {
		opts[nxwamp.OptDiscloseMe] = true
	}
	if c.Caller != nil {
		opts[nxrouter.CallerOverride] = nxwamp.Dict{"caller_authid": c.Caller.AuthID, "caller_authrole": c.Caller.AuthRole}
	}
	var progcb client.ProgressHandler
	if progress != nil && c.ReceiveProgress {
		progcb = func(r *nxwamp.Result) {
			progress(bridge.Result{WAMPPayload: bridge.WAMPPayload{Args: r.Arguments, Kwargs: r.ArgumentsKw}, Progress: true})
		}
	}
	args, _ := wampBinary(c.Args).(nxwamp.List)
	kwargs, _ := wampBinary(c.Kwargs).(nxwamp.Dict)
	res, err := s.client.Call(ctx, c.Procedure, opts, args, kwargs, progcb)
	if err == nil {
		return bridge.Result{WAMPPayload: bridge.WAMPPayload{Args: res.Arguments, Kwargs: res.ArgumentsKw}}
	}
	var rpcErr client.RPCError
	if errors.As(err, &rpcErr) && rpcErr.Err != nil {
		return bridge.Result{Error: string(rpcErr.Err.Error),
			WAMPPayload: bridge.WAMPPayload{Args: rpcErr.Err.Arguments, Kwargs: rpcErr.Err.ArgumentsKw}}
	}
	// The context ended or the session is gone.
	return bridge.Result{Error: bridge.ErrorCanceled, WAMPPayload: bridge.WAMPPayload{Args: []any{err.Error()}}}
}

// Register implements bridge.DealerSession. The dealer enforces a caller's
// timeout (and interrupts the invocation); the hub bounds the wait for an
// MQTT callee by its own default besides, so that a device that never
// answers cannot hold a caller that gave none forever.
func (s *rpcSession) Register(p topic.Pattern, o bridge.RegisterOptions, h bridge.InvocationHandler) error {
	opts := nxwamp.Dict{nxwamp.OptInvoke: o.Invoke}
	if o.DiscloseCaller {
		opts[nxwamp.OptDiscloseCaller] = true
	}
	if p.Match.OrExact() != topic.MatchExact {
		opts[nxwamp.OptMatch] = string(p.Match) // nexus reads a string
	}
	return s.client.Register(p.URI, func(ctx context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		in := bridge.Invocation{
			Procedure:   p.URI,
			WAMPPayload: bridge.WAMPPayload{Args: inv.Arguments, Kwargs: inv.ArgumentsKw},
		}
		if proc, ok := nxwamp.AsString(inv.Details[nxwamp.OptProcedure]); ok && proc != "" {
			in.Procedure = proc
		}
		if ms, ok := nxwamp.AsInt64(inv.Details[nxwamp.OptTimeout]); ok && ms > 0 {
			in.Timeout = time.Duration(ms) * time.Millisecond
		}
		in.ReceiveProgress, _ = inv.Details[nxwamp.OptReceiveProgress].(bool)
		if authid, ok := nxwamp.AsString(inv.Details["caller_authid"]); ok {
			role, _ := nxwamp.AsString(inv.Details["caller_authrole"])
			in.Caller = &bridge.Disclosed{AuthID: authid, AuthRole: role}
			in.DiscloseMe, _ = inv.Details[nxrouter.DiscloseMeDetail].(bool)
		}
		r := h(ctx, in, func(r bridge.Result) error {
			args, _ := wampBinary(r.Args).(nxwamp.List)
			kwargs, _ := wampBinary(r.Kwargs).(nxwamp.Dict)
			return s.client.SendProgress(ctx, args, kwargs)
		})
		args, _ := wampBinary(r.Args).(nxwamp.List)
		kwargs, _ := wampBinary(r.Kwargs).(nxwamp.Dict)
		return client.InvokeResult{Args: args, Kwargs: kwargs, Err: nxwamp.URI(r.Error)}
	}, opts)
}

// Unregister implements bridge.DealerSession.
func (s *rpcSession) Unregister(p topic.Pattern) error { return s.client.Unregister(p.URI) }

// Close implements bridge.DealerSession.
func (s *rpcSession) Close() { _ = s.client.Close() }

// Drain waits, at most d, until the session's invocation handlers have sent
// their results (nexus patch 10), so that a Close right after does not turn
// an answer into "callee gone".
func (s *rpcSession) Drain(d time.Duration) { s.client.WaitInvocations(d) }

// ID implements bridge.DealerSession.
func (s *rpcSession) ID() uint64 { return uint64(s.client.ID()) }
