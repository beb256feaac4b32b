package federation

import (
	"context"
	"errors"
	"strings"
	"time"
)

// MQTT persistent sessions across routers: who owns a client id.
//
// One router owns each MQTT session that outlives its connection; the owner
// is recorded in Redis, one key per client id, with its own hash tag (the
// keys spread over the Cluster slots):
//
//	P:{sess:<client id>}  STRING the incarnation that owns the session
//
// A router claims a client id when a client connects with a persistent
// session (or asks to resume one) and learns from the same script who owned
// it before; the hub then asks that router for the session (see
// bridge/fedsession.go). A router that drains moves the key to the router it
// hands the session to, only if it still owns it. The owner deletes the key
// when the session ends (expiry, or a session that ends with its
// connection). A key whose owner died stays until the client id is claimed
// again: the claimer sees a previous owner that is not live.

func (k keys) session(clientID string) string { return k.prefix + ":{sess:" + clientID + "}" }

// A key's value is the owner's incarnation, followed by "\n" and the
// incarnation it came from while a draining router hands the session over
// (MoveSession): a router that claims a key it owns already, with such a
// "from", asks that router for the session in transit.

// scriptSessionClaim sets the owner and returns the previous value ("" none).
//
//	KEYS: session key; ARGV: incarnation
const scriptSessionClaim = `
local prev = redis.call('GET', KEYS[1]) or ''
redis.call('SET', KEYS[1], ARGV[1])
return prev
`

// scriptSessionMove sets the owner to ARGV[2] (recording ARGV[1] as where
// it came from) only if it is ARGV[1]; with ARGV[2] empty it deletes the
// key instead. Returns {1 if it changed it, the owner now ("" none)}.
//
//	KEYS: session key; ARGV: expected owner, new owner or ""
const scriptSessionMove = `
local v = redis.call('GET', KEYS[1])
if not v then return {0, ''} end
local owner = v
local i = string.find(v, '\n', 1, true)
if i then owner = string.sub(v, 1, i - 1) end
if owner ~= ARGV[1] then return {0, owner} end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2] .. '\n' .. ARGV[1]) end
return {1, ARGV[2]}
`

// ErrNotStarted is returned by the session calls before Start and after
// Close.
var ErrNotStarted = errors.New("federation link not running")

func (l *Link) running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state == stateStarted && !l.closed.Load()
}

// ClaimSession makes this router the owner of an MQTT client id's session
// and returns the previous owner ("" if none; this router's own incarnation
// if it owned it already) and, when a draining router was handing the
// session to that owner, the router it came from (else ""). One Redis
// command.
func (l *Link) ClaimSession(ctx context.Context, clientID string) (prev, from string, err error) {
	if !l.running() {
		return "", "", ErrNotStarted
	}
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	v, err := l.client.Eval(c, scriptSessionClaim, []string{l.keys.session(clientID)}, l.inc).Text()
	if err != nil {
		return "", "", err
	}
	prev, from, _ = strings.Cut(v, "\n")
	return prev, from, nil
}

// MoveSession hands the ownership of a client id's session from this
// router to another (to "" releases it), only if this router still owns
// it. It reports whether it did, and the owner now ("" none). One Redis
// command.
func (l *Link) MoveSession(ctx context.Context, clientID, to string) (moved bool, owner string, err error) {
	if !l.running() {
		return false, "", ErrNotStarted
	}
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	res, err := l.client.Eval(c, scriptSessionMove, []string{l.keys.session(clientID)}, l.inc, to).Slice()
	if err != nil {
		return false, "", err
	}
	if len(res) != 2 {
		return false, "", errors.New("federation: unexpected answer to a session move")
	}
	n, _ := res[0].(int64)
	owner, _ = res[1].(string)
	return n == 1, owner, nil
}

// HasRoute reports whether this router's route table holds r for another
// router. The route log is one stream that every router applies in order,
// so once this router sees a route of node's, every router will have
// applied it before any change this router writes afterwards. Once it
// reports true, every message Publish routed here before that route was
// known is queued, ahead of anything SendTo queues afterwards for the same
// router (the session barrier of bridge/fedsession.go relies on it).
func (l *Link) HasRoute(node string, r Route) bool {
	row, err := r.row()
	if err != nil {
		return false
	}
	l.tmu.Lock()
	defer l.tmu.Unlock()
	rem := l.nodes[node]
	if rem == nil {
		return false
	}
	_, ok := rem.rows[row]
	return ok
}

// RoutesWritten waits until every route change made before the call is
// written to Redis, and returns the version of this router's route set
// then: a router whose table has this router's set at that version or later
// (RouteVersion) has those changes. It waits at most ctx.
func (l *Link) RoutesWritten(ctx context.Context) (int64, error) {
	l.rmu.Lock()
	want := l.changes
	l.rmu.Unlock()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		l.rmu.Lock()
		done, ver := l.written >= want, l.writtenVer
		l.rmu.Unlock()
		if done {
			return ver, nil
		}
		select {
		case l.ctl <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// RouteVersion is the version of node's route set this router's table has
// applied (0: none). The route log is applied in order: once it is at least
// a version node returned from RoutesWritten, this router's table has the
// changes node made before that call (or later ones).
func (l *Link) RouteVersion(node string) int64 {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	if rem := l.nodes[node]; rem != nil {
		return rem.ver
	}
	return 0
}

// IsLive reports whether node is another live router, as of the last
// heartbeat.
func (l *Link) IsLive(node string) bool { return l.isLive(node) }

// scriptNodeAlive: KEYS nodes; ARGV incarnation, node timeout ms. Returns 1
// if the router heartbeat within the timeout (by the Redis clock).
const scriptNodeAlive = `
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not seen then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now - tonumber(seen) <= tonumber(ARGV[2]) then return 1 end
return 0
`

// NodeAlive asks Redis whether node is a live router now. IsLive answers
// as of this router's last heartbeat, up to a heartbeat ago: a router that
// has left since (it removed itself from Redis) is still live there, and a
// session handed to it would be lost. One Redis command.
func (l *Link) NodeAlive(ctx context.Context, node string) (bool, error) {
	if !l.running() {
		return false, ErrNotStarted
	}
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	n, err := l.client.Eval(c, scriptNodeAlive, []string{l.keys.nodes}, node, l.cfg.NodeTimeout.Milliseconds()).Int64()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}
