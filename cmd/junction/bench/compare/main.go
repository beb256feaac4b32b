// Command compare is `make bench-compare`: it runs the same `junction
// bench` scenarios against Junction, mosquitto, a bare mochi and a bare
// nexus (each in a process of its own, one after the other, started afresh
// for every scenario) and writes docs/benchmarks.md with SVG charts.
//
//	go run ./cmd/junction/bench/compare -junction bin/junction -out docs
//
// With -serve mochi|nexus it is instead the bare server it starts.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"

	"github.com/junctionmq/junction/cmd/junction/bench"
)

// target is one system a scenario runs against; args gives its URLs.
type target struct {
	name string
	args func(s *server) []string
	// federated: two routers; args gets the second as s2
	fed bool
}

type scenario struct {
	name, title string
	args        []string // common bench flags
	targets     []target
	metric      string // "msg/s", "calls/s" or "connects/s"
	note        string
}

func mqttTCP(s *server) []string { return []string{"--url", s.mqtt} }
func mqttWS(s *server) []string  { return []string{"--url", s.ws} }
func wampWS(s *server) []string  { return []string{"--proto", "wamp", "--url", s.ws} }

func scenarios(d time.Duration) []scenario {
	dur := []string{"--duration", d.String()}
	with := func(a ...string) []string { return append(append([]string{}, dur...), a...) }
	mqttTCPTargets := []target{{name: "junction", args: mqttTCP}, {name: "mosquitto", args: mqttTCP}, {name: "mochi", args: mqttTCP}}
	mqttWSTargets := []target{{name: "junction", args: mqttWS}, {name: "mochi", args: mqttWS}}
	wampTargets := []target{{name: "junction", args: wampWS}, {name: "nexus", args: wampWS}}
	return []scenario{
		{"mqtt-tcp-qos0", "MQTT 3.1.1 over TCP, 1 → 1, QoS 0, unpaced (window 1000)", with("--qos", "0"), mqttTCPTargets, "msg/s", ""},
		{"mqtt-tcp-qos1", "MQTT 3.1.1 over TCP, 1 → 1, QoS 1, unpaced (window 1000)", with("--qos", "1"), mqttTCPTargets, "msg/s", ""},
		{"mqtt-ws-qos0", "MQTT 3.1.1 over WebSocket, 1 → 1, QoS 0, unpaced", with("--qos", "0"), mqttWSTargets, "msg/s", "mosquitto: n/a, its WebSocket listener does not start on this machine (libwebsockets)"},
		{"mqtt-ws-qos1", "MQTT 3.1.1 over WebSocket, 1 → 1, QoS 1, unpaced", with("--qos", "1"), mqttWSTargets, "msg/s", "mosquitto: n/a, as above"},
		{"fanout", "fan-out 1 → 1000, QoS 1, 10 msg/s (10 000 deliveries/s)", with("--scenario", "fanout", "--qos", "1", "--rate", "10"), mqttTCPTargets, "msg/s", ""},
		{"fanin", "fan-in 1000 → 1, QoS 0, 10 msg/s each (10 000 msg/s)", with("--scenario", "fanin", "--qos", "0"), mqttTCPTargets, "msg/s", ""},
		{"idle-mqtt", "5000 idle MQTT connections over TCP, held 3 s", []string{"--scenario", "idle", "--hold", "3s"}, mqttTCPTargets, "connects/s", ""},
		{"idle-wamp", "2000 idle WAMP JSON sessions over WebSocket, held 3 s", []string{"--scenario", "idle", "--idle", "2000", "--hold", "3s"}, wampTargets, "connects/s", ""},
		{"wamp-pubsub", "WAMP JSON over WebSocket, 1 → 1, unpaced (window 1000)", with(), wampTargets, "msg/s", ""},
		{"wamp-pubsub-msgpack", "WAMP msgpack over WebSocket, 1 → 1, unpaced (window 1000)", with("--serializer", "msgpack"), wampTargets, "msg/s", ""},
		{"wamp-rpc", "WAMP JSON RPC, 1 caller (16 in flight) → 1 callee", with("--scenario", "rpc"), wampTargets, "calls/s", ""},
		{"bridge", "bridged: MQTT publisher (TCP, QoS 0) → WAMP JSON subscriber, unpaced, against MQTT → MQTT on the same router", with(), []target{
			{name: "junction", args: mqttTCP},
			{name: "junction bridged", args: func(s *server) []string {
				return []string{"--url", s.mqtt, "--sub-proto", "wamp", "--sub-url", s.ws}
			}},
			{name: "junction bridged back", args: func(s *server) []string {
				return []string{"--proto", "wamp", "--url", s.ws, "--sub-proto", "mqtt", "--sub-url", s.mqtt}
			}},
		}, "msg/s", "\"junction bridged back\" is WAMP JSON publisher → MQTT subscriber"},
		{"cross-router", "cross-router: MQTT 3.1.1 QoS 1, publisher on one router, subscriber on another, federated through redis-server, 1000 msg/s", with("--qos", "1", "--rate", "1000", "--warmup", "1s"), []target{
			{name: "junction", args: mqttTCP},
			{name: "junction federated", fed: true},
		}, "msg/s", "\"junction\" is one router alone; \"junction federated\" two routers and Redis, on the same 2 cores"},
	}
}

func main() {
	var (
		junctionBin = flag.String("junction", "bin/junction", "the junction binary (make build)")
		out         = flag.String("out", "docs", "where benchmarks.md and benchmarks/*.svg go")
		duration    = flag.Duration("duration", 5*time.Second, "sending time per scenario and target")
		only        = flag.String("only", "", "comma-separated scenario names to run (default: all)")
		serve       = flag.String("serve", "", "internal: run as a bare mochi or nexus server")
		mqttAddr    = flag.String("mqtt-addr", "", "internal: -serve's MQTT address")
		wsAddr      = flag.String("ws-addr", "", "internal: -serve's WebSocket address")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *serve != "" {
		if err := serveBare(ctx, *serve, *mqttAddr, *wsAddr); err != nil {
			log.Error("bare server", "kind", *serve, "error", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, log, *junctionBin, *out, *duration, *only); err != nil {
		log.Error("bench-compare", "error", err)
		os.Exit(1)
	}
}

// outcome is one scenario against one target.
type outcome struct {
	Target string        `json:"target"`
	Result *bench.Result `json:"result,omitempty"`
	Err    string        `json:"error,omitempty"`
}

type section struct {
	scenario
	Outcomes []outcome
}

func run(ctx context.Context, log *slog.Logger, bin, out string, d time.Duration, only string) error {
	dir, err := os.MkdirTemp("", "bench-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logs, err := os.Create(dir + "/servers.log")
	if err != nil {
		return err
	}
	defer logs.Close()
	began := time.Now()
	var sections []section
	for _, sc := range scenarios(d) {
		if only != "" && !contains(strings.Split(only, ","), sc.name) {
			continue
		}
		sec := section{scenario: sc}
		for _, t := range sc.targets {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Info("running", "scenario", sc.name, "target", t.name)
			res, err := runOne(ctx, bin, dir, logs, sc, t)
			o := outcome{Target: t.name, Result: res}
			if err != nil {
				o.Err = err.Error()
				log.Warn("run failed", "scenario", sc.name, "target", t.name, "error", err)
			} else {
				log.Info("done", "scenario", sc.name, "target", t.name,
					"received_per_sec", int(res.ReceivedPerSec), "lost", res.Lost, "p50_us", res.Latency.P50, "p99_us", res.Latency.P99,
					"connects_per_sec", int(res.Connect.PerSecond))
			}
			sec.Outcomes = append(sec.Outcomes, o)
		}
		sections = append(sections, sec)
	}
	return writeReport(out, sections, d, time.Since(began))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.TrimSpace(v) == s {
			return true
		}
	}
	return false
}

// runOne starts the target afresh, runs `junction bench --json` against it
// and stops it.
func runOne(ctx context.Context, bin, dir string, logs io.Writer, sc scenario, t target) (*bench.Result, error) {
	var s *server
	var err error
	var targetArgs []string
	switch {
	case t.fed:
		var a, b *server
		a, b, err = startFederated(bin, dir, logs)
		if err == nil {
			s = b
			targetArgs = []string{"--url", a.mqtt, "--sub-url", b.mqtt}
		}
	case strings.HasPrefix(t.name, "junction"):
		s, err = startJunction(bin, dir, logs)
	case t.name == "mosquitto":
		s, err = startMosquitto(dir, logs)
	default:
		s, err = startBare(t.name, logs)
	}
	if err != nil {
		return nil, err
	}
	defer s.stop()
	if targetArgs == nil {
		targetArgs = t.args(s)
	}
	args := append(append([]string{"bench", "--json", "--quiet", "--client-prefix", "cmp"}, sc.args...), targetArgs...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("junction %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("reading the result: %w", err)
	}
	return &res, nil
}
