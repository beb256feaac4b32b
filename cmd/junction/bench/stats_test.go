package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func(i int) time.Duration
		n    int
	}{
		{"constant", func(int) time.Duration { return 250 * time.Microsecond }, 1000},
		{"uniform 0-10ms", func(int) time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Millisecond))) }, 100000},
		{"exponential", func(int) time.Duration { return time.Duration(rng.ExpFloat64() * float64(300*time.Microsecond)) }, 100000},
		{"small values", func(i int) time.Duration { return time.Duration(i % 200) }, 10000},
		{"long tail", func(i int) time.Duration {
			if i%1000 == 0 {
				return time.Duration(rng.Int64N(int64(2 * time.Second)))
			}
			return time.Duration(100_000 + rng.Int64N(50_000))
		}, 200000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			vals := make([]time.Duration, tc.n)
			for i := range vals {
				vals[i] = tc.gen(i)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				exact := vals[max(int(math.Ceil(q*float64(len(vals))))-1, 0)]
				got := h.Quantile(q)
				// log-linear buckets: within 1/128 of the value (plus one ns)
				if tol := float64(exact)/histSub + 1; math.Abs(float64(got-exact)) > tol {
					t.Errorf("q%v = %v, exact %v (tolerance %.0fns)", q, got, exact, tol)
				}
			}
			if got := h.Count(); got != uint64(tc.n) {
				t.Errorf("count %d, want %d", got, tc.n)
			}
			s := h.Summary()
			if !(s.Min <= s.P50 && s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
				t.Errorf("summary not ordered: %+v", s)
			}
		})
	}
}

func TestHistogramEmptyAndEdges(t *testing.T) {
	var h Histogram
	if got := h.Summary(); got != (Latency{}) {
		t.Errorf("empty summary %+v", got)
	}
	h.Record(-5) // a clock step
	h.Record(time.Duration(math.MaxInt64))
	if h.Quantile(0) != 0 || h.Quantile(1) != time.Duration(math.MaxInt64) {
		t.Errorf("edges: q0 %v q1 %v", h.Quantile(0), h.Quantile(1))
	}
	for i := range histBuckets {
		lo, hi := bucketRange(i)
		if bucketOf(lo) != i || (i < histBuckets-1 && bucketOf(hi) != i) {
			t.Fatalf("bucket %d: [%d,%d] maps to %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
	}
}

func TestPayload(t *testing.T) {
	for _, size := range []int{0, MinPayload, 100, 4096} {
		b := newPayload(size)
		if len(b) != max(size, MinPayload) {
			t.Fatalf("size %d: len %d", size, len(b))
		}
		now := time.Now()
		stamp(b, now)
		got, err := sentAt(b)
		if err != nil || !got.Equal(time.Unix(0, now.UnixNano())) {
			t.Errorf("size %d: sentAt = %v, %v; want %v", size, got, err, now)
		}
	}
	for _, bad := range []string{"", "JB", "hello world, not ours", "JBzzzzzzzzzzzzzzzz"} {
		if _, err := sentAt([]byte(bad)); err == nil {
			t.Errorf("sentAt(%q): no error", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings of the error; none: valid
	}{
		{"default", func(*Config) {}, nil},
		{"wamp rawsocket", func(c *Config) { c.Proto, c.URL = "wamp", "tcp://h:8080" }, nil},
		{"bridge", func(c *Config) { c.SubProto, c.SubURL = "wamp", "ws://h:8080/ws" }, nil},
		{"rpc", func(c *Config) { c.Callers, c.Callees = 2, 1 }, nil},
		{"idle", func(c *Config) { c.Idle, c.Duration = 10, 0 }, nil},
		{"bad qos and size", func(c *Config) { c.QoS, c.Size = 3, 4 }, []string{"--qos 3", "--size 4"}},
		{"bad proto", func(c *Config) { c.Proto = "amqp" }, []string{`--proto "amqp"`}},
		{"wamp over mqtt scheme", func(c *Config) { c.Proto, c.URL = "wamp", "mqtt://h:1883" }, []string{`scheme "mqtt"`}},
		{"no host", func(c *Config) { c.URL = "localhost:1883" }, []string{"--url"}},
		{"wildcard topic", func(c *Config) { c.Topic = "a/#" }, []string{"--topic"}},
		{"serializer", func(c *Config) { c.Serializer = "xml" }, []string{"--serializer"}},
		{"no subscribers", func(c *Config) { c.Subscribers = 0 }, []string{"pub/sub needs"}},
		{"callers without callees", func(c *Config) { c.Callers = 1 }, []string{"RPC needs"}},
		{"never ends", func(c *Config) { c.Duration, c.Count = 0, 0 }, []string{"never end"}},
		{"negative", func(c *Config) { c.Rate, c.Window = -1, -1 }, []string{"--rate", "--window"}},
		{"mqtt version", func(c *Config) { c.MQTTVersion = 3 }, []string{"--mqtt-version"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestModes(t *testing.T) {
	tests := []struct {
		c    Config
		want Mode
	}{
		{Config{Publishers: 1, Subscribers: 1}, ModePubSub},
		{Config{Callers: 1, Callees: 1}, ModeRPC},
		{Config{Idle: 5, Publishers: 1}, ModeIdle},
	}
	for _, tc := range tests {
		if got := tc.c.Mode(); got != tc.want {
			t.Errorf("%+v: mode %s, want %s", tc.c, got, tc.want)
		}
	}
}
