package router

// Federation end to end: Junction routers as separate OS processes (the
// binary `junction serve --redis ...`), a real redis-server or a 6-node
// Redis Cluster, and third-party clients run as subprocesses (helpers in
// external_test.go): mosquitto_pub/sub, MQTT.js and autobahn-python. Every
// wait is on a line a process printed, or, for the routers' state (routes
// known, routers alive), on their /metrics under a deadline.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
	goredis "github.com/redis/go-redis/v9"
)

// buildJunction builds the junction binary into a temporary directory.
func buildJunction(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "junction")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/junction").CombinedOutput()
	if err != nil {
		t.Fatalf("building junction: %v\n%s", err, out)
	}
	return bin
}

// routerProc is a `junction serve` process.
type routerProc struct {
	t          *testing.T
	name       string
	cmd        *exec.Cmd
	http, mqtt string // host:port
	done       chan struct{}

	mu  sync.Mutex
	log []string
}

var listeningRE = regexp.MustCompile(`msg=listening listener=(http|mqtt) address=(\S+)`)

// startRouterProc starts a router federating through redisURL, on free
// loopback ports, with a short heartbeat so that a dead router is noticed in
// 2s, and waits until it listens.
func startRouterProc(t *testing.T, bin, redisURL, name string, env ...string) *routerProc {
	t.Helper()
	p := &routerProc{t: t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--redis", redisURL, "--node-id", name,
		"--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--log-level", "debug")
	p.cmd.Env = append(os.Environ(), "JUNCTION_FEDERATION_HEARTBEAT=200ms", "JUNCTION_FEDERATION_NODE_TIMEOUT=2s",
		"JUNCTION_SHUTDOWN_DRAIN_TIMEOUT=2s")
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting router %s: %v", name, err)
	}
	addrs := make(chan [2]string, 2)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log = append(p.log, line)
			p.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				addrs <- [2]string{m[1], m[2]}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.signal(syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			p.mu.Lock()
			n := 40
			if v, err := strconv.Atoi(os.Getenv("JUNCTION_TEST_LOG_LINES")); err == nil {
				n = v
			}
			t.Logf("--- router %s log (last %d lines) ---\n%s", name, n, strings.Join(tail(p.log, n), "\n"))
			p.mu.Unlock()
		}
	})
	for range 2 {
		select {
		case a := <-addrs:
			if a[0] == "http" {
				p.http = a[1]
			} else {
				p.mqtt = a[1]
			}
		case <-p.done:
			p.fatalf("exited before listening")
		case <-time.After(extStepTimeout):
			p.fatalf("not listening after %v", extStepTimeout)
		}
	}
	return p
}

func tail(lines []string, n int) []string { return lines[max(0, len(lines)-n):] }

func (p *routerProc) signal(sig syscall.Signal) {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

func (p *routerProc) fatalf(format string, args ...any) {
	p.t.Helper()
	p.mu.Lock()
	log := strings.Join(tail(p.log, 40), "\n")
	p.mu.Unlock()
	p.t.Fatalf("router %s: %s\n--- its log ---\n%s", p.name, fmt.Sprintf(format, args...), log)
}

func (p *routerProc) ws() string { return "ws://" + p.http + "/ws" }

// metric reads one sample of the router's /metrics (0 if absent).
func (p *routerProc) metric(name string) float64 {
	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}

// waitMetric waits until the router's metric satisfies ok.
func (p *routerProc) waitMetric(name, what string, ok func(float64) bool) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok(p.metric(name)) {
		if time.Now().After(deadline) {
			p.fatalf("timed out waiting for %s (%s = %v)", what, name, p.metric(name))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// autobahnSubscribe starts autobahn-python (WebSocket, serializer ser)
// subscribed to topic, and returns once the router acknowledged it.
func autobahnSubscribe(t *testing.T, url, ser, topic, match string, count int) *extProc {
	t.Helper()
	p := startExt(t, "autobahn-python subscriber "+url, false, debianPython, pythonScript("bridge_autobahn.py"),
		"subscribe", url, ser, topic, match, "false", fmt.Sprint(count))
	p.event("subscribed")
	return p
}

// autobahnPublish publishes args with autobahn-python, acknowledged.
func autobahnPublish(t *testing.T, url, ser, topic, argsJSON string) {
	t.Helper()
	p := startExt(t, "autobahn-python publisher "+url, false, debianPython, pythonScript("bridge_autobahn.py"),
		"publish", url, ser, topic, argsJSON, `{"acknowledge": true}`)
	p.event("published")
	p.succeed()
}

// TestFederationThreeRouterProcesses: three `junction serve` processes and
// one redis-server, then a 6-node Redis Cluster; real clients on different
// routers reach each other: MQTT → WAMP, WAMP → MQTT and MQTT → MQTT with
// wildcards, and a retained message set on one router is read on another.
// Then a router is killed (SIGKILL): within node_timeout the others drop
// it, and publishes stop going to it.
func TestFederationThreeRouterProcesses(t *testing.T) {
	requireMosquitto(t)
	requirePython(t)
	requireNode(t)
	bin := buildJunction(t)
	onSingleAndCluster(t, func(t *testing.T, d redisUnderTest) { threeRouterProcesses(t, bin, d.url, d.env...) })
}

// onSingleAndCluster runs test against a single redis-server ("single") and
// a Redis Cluster ("cluster"), giving it the URL and the environment that
// router processes need for each, and a client to look into Redis with.
func onSingleAndCluster(t *testing.T, test func(t *testing.T, d redisUnderTest)) {
	t.Run("single", func(t *testing.T) {
		redis := fedtest.Start(t, fedtest.Options{})
		c := goredis.NewClient(&goredis.Options{Addr: redis.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		test(t, redisUnderTest{url: "redis://" + redis.Addr(), client: c})
	})
	t.Run("cluster", func(t *testing.T) {
		c := fedtest.StartCluster(t)
		addrs := c.Addrs()
		test(t, redisUnderTest{url: "redis://" + addrs[0], client: c.Client(t), env: []string{"JUNCTION_FEDERATION_CLUSTER=true",
			`JUNCTION_FEDERATION_ADDRESSES=["` + strings.Join(addrs[1:], `","`) + `"]`}})
	})
}

// redisUnderTest is a Redis that router processes federate through.
type redisUnderTest struct {
	url    string
	env    []string // for the router processes
	client goredis.UniversalClient
}

func threeRouterProcesses(t *testing.T, bin, url string, env ...string) {
	a := startRouterProc(t, bin, url, "a", env...)
	b := startRouterProc(t, bin, url, "b", env...)
	c := startRouterProc(t, bin, url, "c", env...)
	for _, r := range []*routerProc{a, b, c} {
		r.waitMetric("junction_federation_remote_routers", "two other routers", func(v float64) bool { return v == 2 })
	}

	// Subscribers: autobahn-python on B (wildcard), MQTT.js on C (+ and #),
	// mosquitto_sub on A.
	wampOnB := autobahnSubscribe(t, b.ws(), "msgpack", "plant..temp", "wildcard", 2)
	jsOnC := startExt(t, "MQTT.js on c", false, "node", nodeScript("mqttjs_bridge.js"),
		"subscribe", "mqtt://"+c.mqtt, "js-c", "plant/#", "1", "2")
	assertJSON(t, "MQTT.js SUBACK", jsOnC.event("suback"), `{"granted": [{"topic": "plant/#", "qos": 1}]}`)
	subOnA := startMosquittoSub(t, a.mqtt, "mqttv5", "sub-a", "plant/+/temp", 1, 2)
	// Each router knows the others' routes before anyone publishes.
	for _, r := range []*routerProc{a, b, c} {
		r.waitMetric("junction_federation_remote_routes", "the other routers' routes", func(v float64) bool { return v >= 2 })
	}

	// MQTT on A → WAMP on B, MQTT on C (and A's own subscriber).
	mosquittoPub(t, a.mqtt, "mqttv311", "pub-a", "plant/1/temp", "21.5", 1)
	// WAMP on C → WAMP on B, MQTT on A and C.
	autobahnPublish(t, c.ws(), "json", "plant.2.temp", `["hot"]`)

	got := map[string]any{}
	for range 2 {
		ev := wampOnB.event("event")
		got[ev["topic"].(string)] = ev["args"]
	}
	if fmt.Sprint(got) != "map[plant.1.temp:[21.5] plant.2.temp:[hot]]" {
		t.Fatalf("autobahn on B got %v", got)
	}
	got = map[string]any{}
	for range 2 {
		m := jsOnC.event("message")
		got[m["topic"].(string)] = fmt.Sprint(m["payload"], " qos ", m["qos"])
	}
	if fmt.Sprint(got) != "map[plant/1/temp:21.5 qos 1 plant/2/temp:hot qos 1]" {
		t.Fatalf("MQTT.js on C got %v", got)
	}
	got = map[string]any{}
	for range 2 {
		m := mosquittoMessage(subOnA)
		got[strings.SplitN(m, "|", 2)[0]] = m
	}
	if fmt.Sprint(got) != "map[plant/1/temp:plant/1/temp|1|0|||21.5 plant/2/temp:plant/2/temp|1|0|text/plain; charset=utf-8||hot]" {
		t.Fatalf("mosquitto_sub on A got %v", got)
	}
	wampOnB.succeed()
	jsOnC.event("done")
	subOnA.succeed()

	// Retained: set on A, read by a new subscriber on C (the cluster's
	// retained log reaches C's store a moment later: ask until it is there).
	mosquittoPub(t, a.mqtt, "mqttv5", "retainer", "plant/3/state", "open", 1, "-r")
	if got := retainedOn(t, c.mqtt, "plant/3/state"); got != "plant/3/state|1|1|||open" {
		t.Fatalf("retained on C: %q", got)
	}

	// C dies without a word: A and B drop it within node_timeout (2s here).
	onB := startMosquittoSub(t, b.mqtt, "mqttv311", "on-b", "plant/+/temp", 1, 1)
	startMosquittoSub(t, c.mqtt, "mqttv311", "only-c", "only/c", 1, 1)
	a.waitMetric("junction_federation_remote_routes", "b's and c's routes", func(v float64) bool { return v == 2 })
	c.signal(syscall.SIGKILL)
	start := time.Now()
	a.waitMetric("junction_federation_remote_routers", "c dropped", func(v float64) bool { return v == 1 })
	b.waitMetric("junction_federation_remote_routers", "c dropped", func(v float64) bool { return v == 1 })
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("c dropped after %v, want about node_timeout (2s)", d)
	}
	sent := a.metric("junction_federation_sent_total")
	mosquittoPub(t, a.mqtt, "mqttv311", "to-c", "only/c", "anyone?", 1)
	mosquittoPub(t, a.mqtt, "mqttv311", "to-b", "plant/9/temp", "still", 1) // b's routes remain
	a.waitMetric("junction_federation_sent_total", "the message to b", func(v float64) bool { return v >= sent+1 })
	if got := mosquittoMessage(onB); got != "plant/9/temp|1|0|||still" {
		onB.fatalf("b got %q", got)
	}
	if got := a.metric("junction_federation_sent_total") - sent; got != 1 {
		t.Fatalf("a wrote %v messages after c died, want 1 (to b only)", got)
	}
}

// retainedOn subscribes to topic with mosquitto_sub, again until a retained
// message comes (each try waits a second), and returns it in
// mosquittoFormat without "MSG|".
func retainedOn(t *testing.T, addr, topic string) string {
	t.Helper()
	host, port := mqttHostPort(addr)
	for i := range 10 {
		p := startExt(t, "mosquitto_sub retained", false, mosquittoSub("-h", host, "-p", port, "-V", "mqttv311",
			"-i", fmt.Sprintf("retained-%d", i), "-q", "1", "-t", topic, "-C", "1", "-W", "1", "-F", mosquittoFormat)...)
		for l := range p.lines {
			if m, ok := strings.CutPrefix(l, "MSG|"); ok {
				return m
			}
		}
	}
	t.Fatalf("no retained message on %s at %s after 10 tries", topic, addr)
	return ""
}
