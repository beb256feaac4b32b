package bench

import (
	"testing"
	"time"
)

// Paced publishers start spread over their first interval.
func TestPhase(t *testing.T) {
	for _, tc := range []struct {
		i, n int
		rate float64
		want time.Duration
	}{
		{0, 1000, 10, 0},
		{500, 1000, 10, 50 * time.Millisecond},
		{999, 1000, 10, 99900 * time.Microsecond},
		{1, 4, 100, 2500 * time.Microsecond},
		{3, 4, 0, 0}, // unpaced
		{0, 1, 10, 0},
	} {
		if got := phase(tc.i, tc.n, tc.rate); got != tc.want {
			t.Errorf("phase(%d, %d, %g) = %v, want %v", tc.i, tc.n, tc.rate, got, tc.want)
		}
	}
}
