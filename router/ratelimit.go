package router

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxRateSources bounds the source addresses an accept rate limiter
// remembers. A source whose bucket is full again is forgotten first, which
// costs it nothing; past the bound an arbitrary one is, which can only
// favour that source.
const maxRateSources = 100_000

// acceptLimiter is one listener's accept rate limit (http.accept_rate,
// mqtt.accept_rate): a token bucket for the listener and one per source
// address. A nil *acceptLimiter allows everything.
type acceptLimiter struct {
	all *rate.Limiter // nil: no listener-wide limit

	perSource rate.Limit // 0: no per-source limit
	burst     int
	mu        sync.Mutex
	sources   map[netip.Addr]*rate.Limiter
}

func newAcceptLimiter(c AcceptRateConfig) *acceptLimiter {
	if c.Rate <= 0 && c.PerSource <= 0 {
		return nil
	}
	l := &acceptLimiter{perSource: rate.Limit(c.PerSource), burst: c.PerSourceBurst}
	if c.Rate > 0 {
		l.all = rate.NewLimiter(rate.Limit(c.Rate), c.Burst)
	}
	if c.PerSource > 0 {
		l.sources = map[netip.Addr]*rate.Limiter{}
	}
	return l
}

// allowListener takes a token from the listener's bucket.
func (l *acceptLimiter) allowListener() bool {
	return l == nil || l.all == nil || l.all.Allow()
}

// allowSource takes a token from the bucket of the client at remote
// (host:port or a bare address; IPv6 counts per /64, IPv4 per address).
func (l *acceptLimiter) allowSource(remote string) bool {
	if l == nil || l.perSource <= 0 {
		return true
	}
	ip, ok := parseHost(remote)
	if !ok {
		return true // not an IP address (a test's pipe): nothing to key on
	}
	if ip.Is6() {
		ip = netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.sources[ip]
	if lim == nil {
		if len(l.sources) >= maxRateSources {
			l.prune(now)
		}
		lim = rate.NewLimiter(l.perSource, l.burst)
		l.sources[ip] = lim
	}
	return lim.AllowN(now, 1)
}

// prune forgets the sources whose bucket is full (they are as good as new),
// and if none is, one arbitrary source. l.mu is held.
func (l *acceptLimiter) prune(now time.Time) {
	full := float64(l.burst)
	for ip, lim := range l.sources {
		if lim.TokensAt(now) >= full {
			delete(l.sources, ip)
		}
	}
	for ip := range l.sources {
		if len(l.sources) < maxRateSources {
			break
		}
		delete(l.sources, ip)
	}
}
