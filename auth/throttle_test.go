package auth

import (
	"fmt"
	"testing"
	"time"
)

// throttled returns an Authority with the given throttle settings and a
// clock the test moves by hand.
func throttled(t *testing.T, tc ThrottleConfig) (*Authority, *time.Time) {
	t.Helper()
	a, err := New(Config{Realms: []Realm{{Name: "r"}}, Throttle: tc})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	return a, &now
}

// throttleCfg is the throttle most tests use.
func throttleCfg() ThrottleConfig {
	return ThrottleConfig{MaxFailures: 3, Window: time.Minute, Block: 5 * time.Minute}
}

func TestThrottleBlocksAndExpires(t *testing.T) {
	a, now := throttled(t, throttleCfg())
	const ip = "192.0.2.1"
	for i := 0; i < 2; i++ {
		a.LoginFailed(ip)
		*now = now.Add(time.Second)
	}
	if a.Throttled(ip) {
		t.Fatal("blocked after 2 failures")
	}
	a.LoginFailed(ip)
	if !a.Throttled(ip) {
		t.Fatal("not blocked after 3 failures within the window")
	}
	if a.Throttled("192.0.2.2") {
		t.Error("another address is blocked")
	}
	a.LoginSucceeded(ip) // cannot lift a block
	if !a.Throttled(ip) {
		t.Error("LoginSucceeded lifted a block")
	}
	a.LoginFailed(ip) // does not extend it
	*now = now.Add(5*time.Minute - time.Nanosecond)
	if !a.Throttled(ip) {
		t.Error("not blocked just before Block elapsed")
	}
	*now = now.Add(time.Nanosecond)
	if a.Throttled(ip) {
		t.Error("still blocked after Block")
	}
	// A fresh start: it takes 3 failures again.
	a.LoginFailed(ip)
	a.LoginFailed(ip)
	if a.Throttled(ip) {
		t.Error("blocked after 2 failures following a block")
	}
}

func TestThrottleWindow(t *testing.T) {
	a, now := throttled(t, throttleCfg())
	const ip = "192.0.2.1"
	a.LoginFailed(ip)
	*now = now.Add(40 * time.Second)
	a.LoginFailed(ip)
	*now = now.Add(20 * time.Second) // the first failure no longer counts
	a.LoginFailed(ip)
	if a.Throttled(ip) {
		t.Error("blocked for failures spread beyond Window")
	}
	a.LoginFailed(ip)
	a.LoginFailed(ip)
	if !a.Throttled(ip) {
		t.Error("not blocked after 3 failures in a new window")
	}
}

func TestThrottleSuccessResets(t *testing.T) {
	a, _ := throttled(t, throttleCfg())
	const ip = "192.0.2.1"
	a.LoginFailed(ip)
	a.LoginFailed(ip)
	a.LoginSucceeded(ip)
	a.LoginFailed(ip)
	a.LoginFailed(ip)
	if a.Throttled(ip) {
		t.Error("failures before a success still count")
	}
	a.LoginFailed(ip)
	if !a.Throttled(ip) {
		t.Error("not blocked after 3 failures")
	}
	a.LoginSucceeded("192.0.2.99") // unknown: nothing happens
}

func TestThrottleAddresses(t *testing.T) {
	tests := []struct {
		name   string
		failed []string
		probe  string
		want   bool
	}{
		{"port stripped", []string{"192.0.2.1:1000", "192.0.2.1:1001", "192.0.2.1:1002"}, "192.0.2.1", true},
		{"probe with port", []string{"192.0.2.1", "192.0.2.1", "192.0.2.1"}, "192.0.2.1:9", true},
		{"IPv4-mapped IPv6", []string{"[::ffff:192.0.2.1]:1", "192.0.2.1:2", "::ffff:192.0.2.1"}, "192.0.2.1", true},
		{"IPv6 /64", []string{"[2001:db8::1]:443", "2001:db8::2", "[2001:db8:0:0:ffff::3]:1"}, "2001:db8::abcd", true},
		{"IPv6 other /64", []string{"2001:db8::1", "2001:db8::1", "2001:db8::1"}, "2001:db8:0:1::1", false},
		{"IPv6 zone", []string{"[fe80::1%eth0]:1", "fe80::1%eth1", "fe80::2"}, "fe80::9", true},
		{"different IPv4", []string{"192.0.2.1", "192.0.2.1", "192.0.2.1"}, "192.0.2.2", false},
		{"not an IP", []string{"@", "@", "@"}, "@", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := throttled(t, throttleCfg())
			for _, r := range tc.failed {
				a.LoginFailed(r)
			}
			if got := a.Throttled(tc.probe); got != tc.want {
				t.Errorf("Throttled(%q) = %v, want %v", tc.probe, got, tc.want)
			}
		})
	}
}

func TestThrottleOff(t *testing.T) {
	a, _ := throttled(t, ThrottleConfig{})
	for i := 0; i < 100; i++ {
		a.LoginFailed("192.0.2.1")
	}
	if a.Throttled("192.0.2.1") {
		t.Error("blocked with throttling off")
	}
	if n := a.throttle.size(); n != 0 {
		t.Errorf("%d addresses remembered with throttling off", n)
	}
}

func TestThrottleBounded(t *testing.T) {
	a, now := throttled(t, ThrottleConfig{MaxFailures: 1, Window: time.Minute, Block: time.Hour})
	a.throttle.max = 10
	for i := 0; i < 1000; i++ {
		a.LoginFailed(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		if n := a.throttle.size(); n > 10 {
			t.Fatalf("%d addresses remembered, bound is 10", n)
		}
	}
	// The most recent are kept.
	if !a.Throttled("10.0.3.231") { // i = 999
		t.Error("the most recent address was forgotten")
	}
	if a.Throttled("10.0.0.0") {
		t.Error("the oldest address was kept beyond the bound")
	}

	// Expired entries go away lazily, without a goroutine: failures after
	// they expire drop them.
	*now = now.Add(2 * time.Hour)
	for i := 0; i < 3; i++ {
		a.LoginFailed(fmt.Sprintf("172.16.0.%d", i))
	}
	if n := a.throttle.size(); n != 3 {
		t.Errorf("%d addresses remembered after the others expired, want 3", n)
	}
	// And a lookup drops the expired entry it finds.
	*now = now.Add(2 * time.Hour)
	a.Throttled("172.16.0.0")
	if n := a.throttle.size(); n != 2 {
		t.Errorf("%d addresses remembered after a lookup of an expired one, want 2", n)
	}
}

func TestThrottleSurvivesReload(t *testing.T) {
	a, now := throttled(t, throttleCfg())
	for i := 0; i < 3; i++ {
		a.LoginFailed("192.0.2.1")
	}
	a.LoginFailed("192.0.2.2")
	longer := throttleCfg()
	longer.Block = time.Hour
	longer.MaxFailures = 2
	if err := a.Reload(Config{Realms: []Realm{{Name: "r"}}, Throttle: longer}); err != nil {
		t.Fatal(err)
	}
	if !a.Throttled("192.0.2.1") {
		t.Error("Reload lifted a block")
	}
	a.LoginFailed("192.0.2.2") // the count kept, and the new MaxFailures applies
	if !a.Throttled("192.0.2.2") {
		t.Error("Reload lost a count of failures")
	}
	*now = now.Add(10 * time.Minute)
	if a.Throttled("192.0.2.1") {
		t.Error("a block set before Reload is not lifted when it ends")
	}
}

func TestThrottleKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1:80", "192.0.2.1"},
		{"[::1]:80", "::/64"},
		{"::1", "::/64"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"", ""},
		{"/run/junction.sock", "/run/junction.sock"},
	} {
		if got := throttleKey(tc.in); got != tc.want {
			t.Errorf("throttleKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := throttleKey(string(make([]byte, 1000))); len(got) > maxThrottleKeyLen {
		t.Errorf("key of %d bytes", len(got))
	}
}
