package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/junctionmq/junction/router"
)

// startJunction runs a router in this process on 127.0.0.1:0 ports and
// returns its MQTT (tcp://) and WebSocket (ws://) URLs.
func startJunction(t *testing.T) (mqttURL, wsURL string) {
	t.Helper()
	cfg := router.DefaultConfig()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Listen = "127.0.0.1:0"
	cfg.Shutdown.DrainTimeout = router.Duration(2 * time.Second)
	r, err := router.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("router.New: %v", err)
	}
	if err := r.Start(); err != nil {
		t.Fatalf("router.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return "tcp://" + r.MQTTAddr().String(), "ws://" + r.HTTPAddr().String() + cfg.HTTP.WSPath
}

// startMosquitto runs the Debian mosquitto binary on a free port.
func startMosquitto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("mosquitto is not installed (make deps)")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type none\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mosquitto: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			return "tcp://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // a port has no event to wait on
	}
}

// runJSON runs `junction bench ARGS --json` and decodes its output.
func runJSON(t *testing.T, args ...string) *Result {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCommand(&out, &errOut)
	cmd.SetArgs(append(args, "--json", "--quiet"))
	cmd.SetOut(&errOut)
	cmd.SetErr(&errOut)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("bench %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	var res Result
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("bench %s: output is not the JSON result: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return &res
}

// checkDelivered asserts a run that must lose nothing.
func checkDelivered(t *testing.T, res *Result, wantSent uint64) {
	t.Helper()
	if res.Sent != wantSent {
		t.Errorf("sent %d, want %d", res.Sent, wantSent)
	}
	if res.Lost != 0 || res.Received != res.Expected || res.Expected == 0 {
		t.Errorf("received %d of %d expected (lost %d)", res.Received, res.Expected, res.Lost)
	}
	if res.Errors != 0 || res.Disconnects != 0 {
		t.Errorf("errors %d, disconnects %d: %v", res.Errors, res.Disconnects, res.ErrorSample)
	}
	l := res.Latency
	if l.Count != res.Received || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max {
		t.Errorf("latency %+v for %d received", l, res.Received)
	}
	if res.SentPerSec <= 0 || res.ReceivedPerSec <= 0 || res.Connect.PerSecond <= 0 {
		t.Errorf("rates: sent %v/s received %v/s connects %v/s", res.SentPerSec, res.ReceivedPerSec, res.Connect.PerSecond)
	}
}

func TestBenchJunction(t *testing.T) {
	mqttURL, wsURL := startJunction(t)
	tests := []struct {
		name string
		args []string
		sent uint64 // messages (calls) sent: publishers × count
		subs uint64
	}{
		{"mqtt 3.1.1 tcp qos1", []string{"--url", mqttURL, "--qos", "1", "-n", "500"}, 500, 1},
		{"mqtt 3.1.1 tcp qos2 fan-out", []string{"--url", mqttURL, "--qos", "2", "-n", "50", "-s", "20"}, 50, 20},
		{"mqtt 5 ws qos1 fan-in", []string{"--url", wsURL, "--mqtt-version", "5", "--qos", "1", "-n", "50", "-p", "20"}, 1000, 1},
		{"mqtt warmup not counted", []string{"--url", mqttURL, "--qos", "1", "-n", "100", "--warmup", "200ms", "--rate", "2000"}, 100, 1},
		{"mqtt paced", []string{"--url", mqttURL, "--qos", "1", "-n", "100", "--rate", "1000"}, 100, 1},
		{"wamp json", []string{"--proto", "wamp", "--url", wsURL, "-n", "500"}, 500, 1},
		{"wamp msgpack rawsocket", []string{"--proto", "wamp", "--url", strings.Replace(strings.TrimSuffix(wsURL, "/ws"), "ws://", "tcp://", 1), "--serializer", "msgpack", "-n", "300"}, 300, 1},
		{"bridge mqtt to wamp cbor", []string{"--url", mqttURL, "--qos", "1", "--sub-proto", "wamp", "--sub-url", wsURL, "--serializer", "cbor", "-n", "300"}, 300, 1},
		{"bridge wamp to mqtt", []string{"--proto", "wamp", "--url", wsURL, "--sub-proto", "mqtt", "--sub-url", mqttURL, "--qos", "1", "-n", "300"}, 300, 1},
		{"rpc wamp", []string{"--scenario", "rpc", "--proto", "wamp", "--url", wsURL, "-n", "300", "--callees", "2"}, 300, 1},
		{"rpc mqtt to mqtt", []string{"--scenario", "rpc", "--url", mqttURL, "-n", "200", "--qos", "1"}, 200, 1},
		{"rpc mqtt to wamp", []string{"--scenario", "rpc", "--url", mqttURL, "--sub-proto", "wamp", "--sub-url", wsURL, "-n", "200"}, 200, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runJSON(t, append(tc.args, "--client-prefix", strings.ReplaceAll(tc.name, " ", "-"))...)
			checkDelivered(t, res, tc.sent)
			if res.Expected != tc.sent*tc.subs {
				t.Errorf("expected %d, want sent × subscribers = %d", res.Expected, tc.sent*tc.subs)
			}
		})
	}
	t.Run("idle", func(t *testing.T) {
		res := runJSON(t, "--scenario", "idle", "--url", mqttURL, "--idle", "200", "--hold", "100ms")
		if res.Mode != ModeIdle || res.Connect.Connections != 200 || res.Connect.Failed != 0 || res.Held != 200 {
			t.Errorf("idle: %+v", res)
		}
	})
}

func TestBenchMosquitto(t *testing.T) {
	url := startMosquitto(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"3.1.1 qos1", []string{"--qos", "1"}},
		{"5 qos1", []string{"--qos", "1", "--mqtt-version", "5"}},
		{"3.1.1 qos1 fan-out", []string{"--qos", "1", "-s", "10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runJSON(t, append(tc.args, "--url", url, "-n", "500", "--client-prefix", strings.ReplaceAll(tc.name, " ", "-"))...)
			checkDelivered(t, res, 500)
		})
	}
}

func TestBenchDuration(t *testing.T) {
	mqttURL, _ := startJunction(t)
	var out, progress bytes.Buffer
	cmd := NewCommand(&out, &progress)
	cmd.SetArgs([]string{"--url", mqttURL, "--qos", "1", "-d", "1500ms", "--rate", "200"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"messages sent", "received", "lost           0 ", "latency µs", "p99.9"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(progress.String(), "sending") {
		t.Errorf("no progress line on stderr: %q", progress.String())
	}
}

func TestCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--qos", "3"}, "--qos 3"},
		{[]string{"--scenario", "nope"}, `--scenario "nope"`},
		{[]string{"--mqtt-version", "4.0"}, "--mqtt-version"},
		{[]string{"--scenario", "fanout", "--subscribers", "0"}, "pub/sub needs"},
	} {
		var out bytes.Buffer
		cmd := NewCommand(&out, &out)
		cmd.SetArgs(tc.args)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to name %q", tc.args, err, tc.want)
		}
	}
}

func TestScenarioOverlay(t *testing.T) {
	tests := []struct {
		args []string
		want func(Config) bool
	}{
		{[]string{"--scenario", "fanout"}, func(c Config) bool {
			return c.Publishers == 1 && c.Subscribers == 1000 && c.Rate == 20 && c.Scenario == "fanout"
		}},
		{[]string{"--scenario", "fanout", "--rate", "5", "-s", "10"}, func(c Config) bool {
			return c.Subscribers == 10 && c.Rate == 5 && c.Publishers == 1
		}},
		{[]string{"--scenario", "rpc", "--inflight", "1", "--mqtt-version", "5"}, func(c Config) bool {
			return c.Callers == 1 && c.Callees == 1 && c.Inflight == 1 && c.MQTTVersion == 5 && c.Mode() == ModeRPC
		}},
		{[]string{"--scenario", "idle", "--idle", "7"}, func(c Config) bool { return c.Idle == 7 && c.Hold == 5*time.Second }},
		{[]string{"--proto", "wamp", "--url", "ws://h:1/ws", "--serializer", "cbor"}, func(c Config) bool {
			return c.Proto == "wamp" && c.Serializer == "cbor" && c.Publishers == 1 && c.Window == 1000
		}},
	}
	for _, tc := range tests {
		var got Config
		cmd := newCommand(new(bytes.Buffer), new(bytes.Buffer), func(c Config) { got = c })
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if !tc.want(got) {
			t.Errorf("%v: resolved %+v", tc.args, got)
		}
	}
}
