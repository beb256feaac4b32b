package auth

import (
	"container/list"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

const (
	// defaultThrottleEntries bounds the addresses the throttle remembers.
	defaultThrottleEntries = 100_000
	// throttlePrune is how many expired entries a failure may drop from the
	// oldest end, so that the map shrinks without a goroutine.
	throttlePrune = 8
	// maxThrottleKeyLen bounds a key that is not an IP address.
	maxThrottleKeyLen = 64
)

// throttle counts failed logins per remote address. Its state is bounded (at
// most max addresses; when full, the one whose last failure is oldest is
// forgotten) and expires lazily, on access: no goroutine.
type throttle struct {
	mu      sync.Mutex
	max     int
	entries map[string]*list.Element // of *throttleEntry
	order   list.List                // by last failure, oldest first
}

type throttleEntry struct {
	key          string
	failures     int       // within the window that started at windowStart
	windowStart  time.Time // the first of those failures
	blockedUntil time.Time
}

// expired reports whether e no longer matters: not blocked, and no failure
// that still counts.
func (e *throttleEntry) expired(now time.Time, cfg ThrottleConfig) bool {
	return !now.Before(e.blockedUntil) && (e.failures == 0 || now.Sub(e.windowStart) >= cfg.Window)
}

// Throttled reports whether remote (an IP address, with or without a port)
// is blocked for too many failed logins; callers refuse it with
// ErrThrottled. IPv6 addresses count per /64, which is what one subscriber
// usually gets.
func (a *Authority) Throttled(remote string) bool {
	cfg := a.state.Load().throttle
	if cfg.MaxFailures <= 0 || a.throttle.empty() {
		return false // no failure remembered: no key to work out (every login asks)
	}
	return a.throttle.blocked(throttleKey(remote), a.now(), cfg)
}

// LoginFailed counts a failed login from remote: MaxFailures of them within
// Window block it for Block.
func (a *Authority) LoginFailed(remote string) {
	cfg := a.state.Load().throttle
	if cfg.MaxFailures <= 0 {
		return
	}
	a.throttle.failed(throttleKey(remote), a.now(), cfg)
}

// LoginSucceeded clears remote's count of failures. A block in force stays.
func (a *Authority) LoginSucceeded(remote string) {
	if a.throttle.empty() {
		return
	}
	a.throttle.succeeded(throttleKey(remote), a.now())
}

// empty reports whether no address is remembered.
func (t *throttle) empty() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries) == 0
}

func (t *throttle) blocked(key string, now time.Time, cfg ThrottleConfig) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.entries[key]
	if !ok {
		return false
	}
	e := el.Value.(*throttleEntry)
	if now.Before(e.blockedUntil) {
		return true
	}
	if e.expired(now, cfg) {
		t.remove(el)
	}
	return false
}

func (t *throttle) failed(key string, now time.Time, cfg ThrottleConfig) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries == nil {
		t.entries = make(map[string]*list.Element)
	}
	for i := 0; i < throttlePrune; i++ {
		front := t.order.Front()
		if front == nil || front.Value.(*throttleEntry).key == key || !front.Value.(*throttleEntry).expired(now, cfg) {
			break
		}
		t.remove(front)
	}

	var e *throttleEntry
	if el, ok := t.entries[key]; ok {
		e = el.Value.(*throttleEntry)
		t.order.MoveToBack(el)
	} else {
		for len(t.entries) >= max(t.max, 1) {
			t.remove(t.order.Front())
		}
		e = &throttleEntry{key: key}
		t.entries[key] = t.order.PushBack(e)
	}

	if now.Before(e.blockedUntil) {
		return // already blocked; the block is not extended
	}
	if e.failures == 0 || now.Sub(e.windowStart) >= cfg.Window {
		e.failures, e.windowStart = 0, now
	}
	e.failures++
	if e.failures >= cfg.MaxFailures {
		e.blockedUntil = now.Add(cfg.Block)
		e.failures = 0
	}
}

func (t *throttle) succeeded(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.entries[key]
	if !ok {
		return
	}
	e := el.Value.(*throttleEntry)
	e.failures = 0
	if !now.Before(e.blockedUntil) {
		t.remove(el)
	}
}

func (t *throttle) remove(el *list.Element) {
	delete(t.entries, el.Value.(*throttleEntry).key)
	t.order.Remove(el)
}

// size returns the number of addresses remembered.
func (t *throttle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// throttleKey is the address remote counts under: the IP without port or
// zone, IPv4-mapped IPv6 as IPv4, IPv6 as its /64. Anything else (a Unix
// socket's name) counts as itself, truncated.
func throttleKey(remote string) string {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	addr, err := netip.ParseAddr(host)
	if err != nil {
		if len(host) > maxThrottleKeyLen {
			host = host[:maxThrottleKeyLen]
		}
		return host
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
