package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scenario is a preset: it sets some fields, flags given on the command line
// override them.
type Scenario struct {
	Name, Help string
	Apply      func(*Config)
}

// Scenarios are the presets of --scenario.
var Scenarios = []Scenario{
	{"pair", "1 publisher → 1 subscriber, unpaced (window 1000): throughput", func(c *Config) {
		c.Publishers, c.Subscribers, c.Rate = 1, 1, 0
	}},
	{"latency", "1 publisher → 1 subscriber at 1000 msg/s: latency at a steady load", func(c *Config) {
		c.Publishers, c.Subscribers, c.Rate = 1, 1, 1000
	}},
	{"fanout", "1 publisher → 1000 subscribers at 20 msg/s (20 000 deliveries/s)", func(c *Config) {
		c.Publishers, c.Subscribers, c.Rate = 1, 1000, 20
	}},
	{"fanin", "1000 publishers at 10 msg/s each → 1 subscriber (10 000 msg/s)", func(c *Config) {
		c.Publishers, c.Subscribers, c.Rate = 1000, 1, 10
	}},
	{"rpc", "1 caller with 16 calls in flight → 1 callee, unpaced", func(c *Config) {
		c.Callers, c.Callees, c.Inflight, c.Rate = 1, 1, 16, 0
	}},
	{"idle", "5000 idle connections, held 5 s: connects/s and how many stay", func(c *Config) {
		c.Idle, c.Hold = 5000, 5*time.Second
	}},
}

// ScenarioByName finds a preset.
func ScenarioByName(name string) (Scenario, error) {
	i := slices.IndexFunc(Scenarios, func(s Scenario) bool { return s.Name == name })
	if i < 0 {
		names := make([]string, len(Scenarios))
		for i, s := range Scenarios {
			names[i] = s.Name
		}
		return Scenario{}, fmt.Errorf("--scenario %q: want one of %s", name, strings.Join(names, ", "))
	}
	return Scenarios[i], nil
}
