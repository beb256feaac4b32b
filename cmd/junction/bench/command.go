package bench

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const longHelp = `Drive an MQTT broker or a WAMP router with publishers and subscribers, RPC
callers and callees, or idle connections, and report connects/s, messages/s
sent and received, loss (expected = sent × subscribers) and latency
percentiles (p50, p90, p99, p99.9), measured from a send timestamp carried in
every payload. Any broker or router works: Junction, mosquitto, mochi,
nexusd, ... (MQTT RPC uses Junction's $rpc/ convention, so it needs Junction).

Progress goes to stderr once a second; the report to stdout, as a table or,
with --json, as JSON.

What runs:
  --publishers P --subscribers S   pub/sub (the default, 1 → 1)
  --callers C --callees E          RPC: callees answer with the arguments
  --idle N                         N connections that connect and stay silent

Publishers send --rate messages/s each, or with --rate 0 as fast as an
end-to-end window allows (--window messages per publisher sent and not yet
received by every subscriber; --window 0: open loop), for --duration or
--count messages each. Then the run waits up to --drain for what is still on
its way. Subscribers and callees may connect elsewhere (--sub-url) and in the
other protocol (--sub-proto): through Junction's bridge, or to another router
of a federation. The topic is in MQTT form; WAMP clients use it with "/" as
"." (bench/t is bench.t), as Junction's bridge maps it.

Presets (--scenario; flags you give override them):
%s`

const examples = `  # MQTT 3.1.1 over TCP, 1 → 1, QoS 1, 10 s, unpaced
  junction bench --url tcp://localhost:1883 --qos 1

  # MQTT 5 over WebSocket (Junction's universal port), 1000 msg/s, latency
  junction bench --url ws://localhost:8080/ws --mqtt-version 5 --rate 1000

  # fan-out 1 → 1000 and fan-in 1000 → 1, as JSON
  junction bench --scenario fanout --url tcp://localhost:1883 --json
  junction bench --scenario fanin --url tcp://localhost:1883 --rate 5 --duration 30s

  # WAMP, msgpack: pub/sub, then RPC with 4 callers and 2 callees
  junction bench --proto wamp --url ws://localhost:8080/ws --serializer msgpack
  junction bench --proto wamp --url ws://localhost:8080/ws --callers 4 --callees 2

  # across the bridge: MQTT publishers, WAMP subscribers
  junction bench --url tcp://localhost:1883 --sub-proto wamp --sub-url ws://localhost:8080/ws

  # across a federation: publish to one router, subscribe on another
  junction bench --url tcp://localhost:1884 --sub-url tcp://localhost:1885

  # 5000 idle connections held for 30 s
  junction bench --idle 5000 --hold 30s --url tcp://localhost:1883`

// NewCommand returns `junction bench`. The report goes to stdout, progress
// to stderr.
func NewCommand(stdout, stderr io.Writer) *cobra.Command { return newCommand(stdout, stderr, nil) }

// newCommand is NewCommand; a non-nil dryRun gets the resolved
// configuration instead of a run (for tests).
func newCommand(stdout, stderr io.Writer, dryRun func(Config)) *cobra.Command {
	def := DefaultConfig()
	var (
		f          = def
		scenario   string
		mqttVer    string
		jsonOut    bool
		noProgress bool
	)
	var presets strings.Builder
	for _, s := range Scenarios {
		fmt.Fprintf(&presets, "  %-8s %s\n", s.Name, s.Help)
	}
	cmd := &cobra.Command{
		Use:     "bench",
		Short:   "Benchmark an MQTT broker or a WAMP router: throughput, loss, latency, connects/s",
		Long:    fmt.Sprintf(longHelp, presets.String()),
		Example: examples,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := DefaultConfig()
			if scenario != "" {
				s, err := ScenarioByName(scenario)
				if err != nil {
					return err
				}
				s.Apply(&cfg)
				cfg.Scenario = s.Name
			}
			v, err := parseMQTTVersion(mqttVer)
			if err != nil {
				return err
			}
			f.MQTTVersion = v
			overlay(&cfg, f, cmd.Flags())
			if err := cfg.Validate(); err != nil {
				return err
			}
			if dryRun != nil {
				dryRun(cfg)
				return nil
			}
			raiseFileLimit()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			var progress io.Writer = stderr
			if noProgress {
				progress = nil
			}
			res, err := Run(ctx, cfg, progress)
			if err != nil {
				return err
			}
			if jsonOut {
				return res.JSON(stdout)
			}
			return res.Table(stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&scenario, "scenario", "", "a preset (see above); explicit flags override it")
	fl.StringVar(&f.URL, "url", def.URL, "where publishers, callers and idle connections connect: tcp://, mqtt://, ws://, wss:// (WAMP: ws://, wss://, tcp:// RawSocket)")
	fl.StringVar(&f.SubURL, "sub-url", "", "where subscribers and callees connect (default: --url)")
	fl.StringVar(&f.Proto, "proto", def.Proto, "protocol of publishers and callers: mqtt or wamp")
	fl.StringVar(&f.SubProto, "sub-proto", "", "protocol of subscribers and callees (default: --proto)")
	fl.StringVar(&mqttVer, "mqtt-version", "3.1.1", "MQTT version: 3.1.1 (or 3) or 5")
	fl.StringVar(&f.Serializer, "serializer", def.Serializer, "WAMP serializer: json, msgpack or cbor")
	fl.StringVar(&f.Realm, "realm", def.Realm, "WAMP realm")
	fl.StringVar(&f.Topic, "topic", def.Topic, "topic (MQTT form; the WAMP URI and the RPC procedure replace / with .)")
	fl.IntVarP(&f.Publishers, "publishers", "p", def.Publishers, "publisher connections")
	fl.IntVarP(&f.Subscribers, "subscribers", "s", def.Subscribers, "subscriber connections (each gets every message)")
	fl.IntVar(&f.Callers, "callers", 0, "RPC caller connections (RPC mode)")
	fl.IntVar(&f.Callees, "callees", 0, "RPC callee connections (a shared registration, round robin)")
	fl.IntVar(&f.Idle, "idle", 0, "idle connections to open and hold (idle mode)")
	fl.IntVarP(&f.QoS, "qos", "q", def.QoS, "MQTT QoS of publishes and subscriptions: 0, 1 or 2")
	fl.IntVar(&f.Size, "size", def.Size, fmt.Sprintf("payload bytes (at least %d: the timestamp)", MinPayload))
	fl.Float64VarP(&f.Rate, "rate", "r", def.Rate, "messages (calls) per second per publisher (caller); 0: unpaced")
	fl.IntVar(&f.Window, "window", def.Window, "unpaced: messages per publisher in flight end to end before it waits; 0: open loop")
	fl.IntVar(&f.Inflight, "inflight", def.Inflight, "QoS 1/2 publishes awaiting acknowledgement per MQTT publisher; calls in flight per caller")
	fl.DurationVar(&f.Warmup, "warmup", 0, "pub/sub: publish this long first, not counted (routes settle, e.g. across a federation)")
	fl.DurationVarP(&f.Duration, "duration", "d", def.Duration, "how long to send")
	fl.IntVarP(&f.Count, "count", "n", 0, "messages (calls) per publisher (caller), instead of --duration")
	fl.DurationVar(&f.Drain, "drain", def.Drain, "after sending: wait this long without a delivery before counting the rest lost")
	fl.DurationVar(&f.Hold, "hold", def.Hold, "idle: how long the connections stay open")
	fl.DurationVar(&f.ConnectTimeout, "connect-timeout", def.ConnectTimeout, "per connection (and per call)")
	fl.IntVar(&f.ConnectParallel, "connect-parallel", def.ConnectParallel, "connections opened at a time")
	fl.StringVar(&f.ClientPrefix, "client-prefix", def.ClientPrefix, "MQTT client ids are PREFIX-pub-N, PREFIX-sub-N, ...")
	fl.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	fl.BoolVar(&noProgress, "quiet", false, "no progress on stderr")
	return cmd
}

// overlay copies the flags the user gave from f onto cfg (which holds the
// defaults and the scenario's settings).
func overlay(cfg *Config, f Config, fs *pflag.FlagSet) {
	set := map[string]func(){
		"url": func() { cfg.URL = f.URL }, "sub-url": func() { cfg.SubURL = f.SubURL },
		"proto": func() { cfg.Proto = f.Proto }, "sub-proto": func() { cfg.SubProto = f.SubProto },
		"mqtt-version": func() { cfg.MQTTVersion = f.MQTTVersion }, "serializer": func() { cfg.Serializer = f.Serializer },
		"realm": func() { cfg.Realm = f.Realm }, "topic": func() { cfg.Topic = f.Topic },
		"publishers": func() { cfg.Publishers = f.Publishers }, "subscribers": func() { cfg.Subscribers = f.Subscribers },
		"callers": func() { cfg.Callers = f.Callers }, "callees": func() { cfg.Callees = f.Callees },
		"idle": func() { cfg.Idle = f.Idle }, "qos": func() { cfg.QoS = f.QoS }, "size": func() { cfg.Size = f.Size },
		"rate": func() { cfg.Rate = f.Rate }, "window": func() { cfg.Window = f.Window },
		"inflight": func() { cfg.Inflight = f.Inflight }, "warmup": func() { cfg.Warmup = f.Warmup }, "duration": func() { cfg.Duration = f.Duration },
		"count": func() { cfg.Count = f.Count }, "drain": func() { cfg.Drain = f.Drain }, "hold": func() { cfg.Hold = f.Hold },
		"connect-timeout":  func() { cfg.ConnectTimeout = f.ConnectTimeout },
		"connect-parallel": func() { cfg.ConnectParallel = f.ConnectParallel },
		"client-prefix":    func() { cfg.ClientPrefix = f.ClientPrefix },
	}
	fs.Visit(func(fl *pflag.Flag) {
		if apply, ok := set[fl.Name]; ok {
			apply()
		}
	})
}

func parseMQTTVersion(s string) (int, error) {
	switch s {
	case "3", "3.1.1", "4":
		return 4, nil
	case "5":
		return 5, nil
	}
	return 0, fmt.Errorf("--mqtt-version %q: want 3.1.1 or 5", s)
}
