package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records latencies (nanoseconds) in log-linear buckets, the way
// HdrHistogram does: every power of two is split into histSub sub-buckets,
// so a recorded value is known within 1/histSub (under 0.8%) whatever its
// magnitude, in constant memory. Record is safe for concurrent use (atomic
// adds); read it once recording has stopped.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // nanoseconds
	max    atomic.Uint64
	min    atomic.Uint64 // stored as ^v so that the zero value means "none"
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // sub-buckets per power of two
	// histMaxShift bounds the range: values up to 2^(histMaxShift+8) ns,
	// about 2.4 hours; larger ones land in the last bucket.
	histMaxShift = 35
	histBuckets  = (histMaxShift+1)*histSub + histSub
)

func bucketOf(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - (histSubBits + 1)
	if shift > histMaxShift {
		return histBuckets - 1
	}
	return shift*histSub + int(v>>uint(shift))
}

// bucketRange is the smallest and largest value bucket i holds.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*histSub {
		return uint64(i), uint64(i)
	}
	shift := uint(i/histSub - 1)
	m := uint64(i%histSub + histSub)
	return m << shift, (m+1)<<shift - 1
}

// Record adds one latency; negative ones (clock steps) count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load()
		if ^v <= m || h.min.CompareAndSwap(m, ^v) {
			break
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Quantile returns the value below or at which a fraction q of the recorded
// values lie, as the highest value of its bucket (never above the maximum).
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			if i == histBuckets-1 { // beyond the range: only the maximum is known
				return time.Duration(h.max.Load())
			}
			_, hi := bucketRange(i)
			lo := ^h.min.Load()
			return time.Duration(min(max(hi, lo), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// Latency is the summary of a histogram in microseconds, as reported.
type Latency struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

// Summary returns the percentiles in microseconds.
func (h *Histogram) Summary() Latency {
	n := h.total.Load()
	if n == 0 {
		return Latency{}
	}
	us := func(d time.Duration) float64 { return math.Round(float64(d)/1e1) / 1e2 }
	return Latency{
		Count: n,
		Min:   us(time.Duration(^h.min.Load())),
		Mean:  us(time.Duration(h.sum.Load() / n)),
		P50:   us(h.Quantile(0.50)),
		P90:   us(h.Quantile(0.90)),
		P99:   us(h.Quantile(0.99)),
		P999:  us(h.Quantile(0.999)),
		Max:   us(time.Duration(h.max.Load())),
	}
}
