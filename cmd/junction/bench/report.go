package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Table writes the result for people.
func (r *Result) Table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c := r.Config
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	target := c.URL
	if c.SubURL != "" && c.SubURL != c.URL {
		target += " → " + c.SubURL
	}
	proto := c.Proto
	if c.subProto() != c.Proto {
		proto += " → " + c.subProto()
	}
	name := string(r.Mode)
	if c.Scenario != "" {
		name = c.Scenario + " (" + name + ")"
	}
	row("scenario", "%s", name)
	row("target", "%s, %s", target, describeProto(c, proto))
	row("connections", "%d in %.2fs: %.0f connects/s (%d failed)", r.Connect.Connections, r.Connect.Seconds, r.Connect.PerSecond, r.Connect.Failed)
	switch r.Mode {
	case ModeIdle:
		row("held", "%d of %d open after %v (%d disconnected)", r.Held, r.Connect.Connections, c.Hold, r.Disconnects)
	default:
		what := "messages"
		if r.Mode == ModeRPC {
			what = "calls"
		}
		row("load", "%s", describeLoad(c))
		row(what+" sent", "%d in %.2fs: %.0f/s", r.Sent, r.Seconds, r.SentPerSec)
		row("received", "%d of %d expected: %.0f/s", r.Received, r.Expected, r.ReceivedPerSec)
		row("lost", "%d (%.4f%%)", r.Lost, 100*r.LossRatio)
		l := r.Latency
		row("latency µs", "p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f  (mean %.0f, n %d)", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean, l.Count)
		if r.Foreign > 0 {
			row("foreign", "%d messages on the topic were not this run's", r.Foreign)
		}
	}
	row("errors", "%d; disconnects %d", r.Errors, r.Disconnects)
	for _, e := range r.ErrorSample {
		row("", "%s", e)
	}
	return tw.Flush()
}

func describeProto(c Config, proto string) string {
	var parts []string
	if strings.Contains(proto, "mqtt") {
		v := "3.1.1"
		if c.MQTTVersion == 5 {
			v = "5"
		}
		parts = append(parts, "MQTT "+v)
	}
	if strings.Contains(proto, "wamp") {
		parts = append(parts, "WAMP "+c.Serializer+" realm "+c.Realm)
	}
	return proto + " (" + strings.Join(parts, ", ") + ")"
}

func describeLoad(c Config) string {
	rate := "unpaced"
	if c.Rate > 0 {
		rate = fmt.Sprintf("%g/s each", c.Rate)
	} else if c.Window > 0 && c.Mode() == ModePubSub {
		rate = fmt.Sprintf("unpaced, window %d", c.Window)
	}
	until := c.Duration.String()
	if c.Count > 0 {
		until = fmt.Sprintf("%d each", c.Count)
	}
	if c.Mode() == ModeRPC {
		return fmt.Sprintf("%d callers (%d in flight each) → %d callees, %s, %d B, QoS %d, %s", c.Callers, c.Inflight, c.Callees, rate, c.Size, c.QoS, until)
	}
	return fmt.Sprintf("%d publishers → %d subscribers, %s, %d B, QoS %d, %s", c.Publishers, c.Subscribers, rate, c.Size, c.QoS, until)
}
