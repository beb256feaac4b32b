package federation

import (
	"context"
	"errors"
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

// scriptSessionClaim sets the owner and returns the previous one ("" none).
//
//	KEYS: session key; ARGV: incarnation
const scriptSessionClaim = `
local prev = redis.call('GET', KEYS[1]) or ''
redis.call('SET', KEYS[1], ARGV[1])
return prev
`

// scriptSessionMove sets the owner to ARGV[2] only if it is ARGV[1]; with
// ARGV[2] empty it deletes the key instead. Returns 1 if it changed it.
//
//	KEYS: session key; ARGV: expected owner, new owner or ""
const scriptSessionMove = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
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
// if it owned it already). One Redis command.
func (l *Link) ClaimSession(ctx context.Context, clientID string) (string, error) {
	if !l.running() {
		return "", ErrNotStarted
	}
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	return l.client.Eval(c, scriptSessionClaim, []string{l.keys.session(clientID)}, l.inc).Text()
}

// MoveSession hands the ownership of a client id's session from this
// router to another (to "" releases it), only if this router still owns
// it. It reports whether it did. One Redis command.
func (l *Link) MoveSession(ctx context.Context, clientID, to string) (bool, error) {
	if !l.running() {
		return false, ErrNotStarted
	}
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	n, err := l.client.Eval(c, scriptSessionMove, []string{l.keys.session(clientID)}, l.inc, to).Int()
	return n == 1, err
}

// HasRoute reports whether this router's route table holds r for another
// router. The route log is one stream that every router applies in order,
// so once this router sees a route of node's, every router will have
// applied it before any change this router writes afterwards.
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

// IsLive reports whether node is another live router, as of the last
// heartbeat.
func (l *Link) IsLive(node string) bool { return l.isLive(node) }
