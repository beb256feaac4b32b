package federation

import (
	"context"
	"errors"
	"fmt"
)

// Claims: names that at most one live router may hold at a time (a single
// WAMP registration). The route table replicates who serves what, but only
// after the fact: two routers that accept the same single registration at
// the same moment would both hold it. A claim is one script in the route
// table's slot, decided by Redis: a router gets the name unless another
// router that is alive holds it. A dead router's claims need no cleanup:
// they lapse with its heartbeat. Alive here is a heartbeat younger than
// twice NodeTimeout: a router whose heartbeats are late (a loaded machine)
// must not lose its claims while the others still route to it. A claim
// younger than that also counts as alive whatever the heartbeats say: a
// router that has just started may claim before its first heartbeat is in
// Redis, and its claim must not be taken from it for that.
//
//	P:{routes}:claims     HASH   name → "incarnation ms" (holder, when claimed)

// ErrClaimed is returned by Claim when another live router holds the name.
var ErrClaimed = errors.New("held by another router")

// scriptClaim: KEYS claims, nodes; ARGV name, incarnation, node timeout ms.
// Returns the holder after the call.
const scriptClaim = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local holder, at = string.match(v, '^(.*) (%d+)$')
  if not holder then
    holder, at = v, '0'
  end
  if holder ~= ARGV[2] then
    if now - tonumber(at) <= tonumber(ARGV[3]) then
      return holder
    end
    local seen = redis.call('ZSCORE', KEYS[2], holder)
    if seen and now - tonumber(seen) <= tonumber(ARGV[3]) then
      return holder
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. now)
return ARGV[2]
`

// scriptRelease: KEYS claims; ARGV name, incarnation. Deletes the claim if
// this incarnation holds it.
const scriptRelease = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and (v == ARGV[2] or string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. ' ') then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
`

func (k keys) claims() string { return k.prefix + ":{routes}:claims" }

// Claim makes this router the holder of name, unless another live router
// holds it (ErrClaimed, naming the holder). It waits for Redis, at most
// for one command's timeout and ctx: callers decide what an error other
// than ErrClaimed means (Redis unreachable: nobody can tell).
func (l *Link) Claim(ctx context.Context, name string) error {
	l.mu.Lock()
	client := l.client
	l.mu.Unlock()
	if client == nil || l.closed.Load() {
		return errors.New("federation link not started")
	}
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	holder, err := client.Eval(c, scriptClaim, []string{l.keys.claims(), l.keys.nodes}, name, l.inc, 2*l.cfg.NodeTimeout.Milliseconds()).Text()
	if err != nil {
		l.troubled()
		return fmt.Errorf("claim %q: %w", name, err)
	}
	if holder != l.inc {
		return fmt.Errorf("%w: %s holds %q", ErrClaimed, holder, name)
	}
	return nil
}

// Release gives up a claim this router holds.
func (l *Link) Release(ctx context.Context, name string) error {
	l.mu.Lock()
	client := l.client
	l.mu.Unlock()
	if client == nil || l.closed.Load() {
		return nil
	}
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	if err := client.Eval(c, scriptRelease, []string{l.keys.claims()}, name, l.inc).Err(); err != nil {
		l.troubled()
		return fmt.Errorf("release %q: %w", name, err)
	}
	return nil
}
