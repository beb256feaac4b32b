package router

// TestClusterExample runs examples/cluster/run.sh as a user would: three
// routers (separate processes of the real binary), one redis-server and
// HAProxy, with mosquitto_pub/mosquitto_sub as the clients. `make deps`
// installs redis-server, haproxy and mosquitto-clients; a missing one fails
// the test, it never skips.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

const (
	// clusterReadyTimeout bounds run.sh's start: Redis, three routers
	// federated with each other, HAProxy with all six servers up.
	clusterReadyTimeout = 60 * time.Second
	// clusterStopTimeout bounds run.sh's exit after SIGTERM: it stops
	// HAProxy, the routers (each drains), then Redis.
	clusterStopTimeout = 45 * time.Second
	// clusterRouteTimeout bounds the wait for a route or a retained message
	// to reach the other routers through Redis.
	clusterRouteTimeout = 15 * time.Second
)

// clusterPorts are the ports run.sh is given, by the name of the variable
// that sets each (see the script's header).
type clusterPorts map[string]int

func (p clusterPorts) addr(v string) string { return fmt.Sprintf("127.0.0.1:%d", p[v]) }

// routerMQTT and routerHTTP are router n's (1..3) own ports.
func (p clusterPorts) routerMQTT(n int) string {
	return p.addr(fmt.Sprintf("CLUSTER_R%d_MQTT_PORT", n))
}
func (p clusterPorts) routerHTTP(n int) string {
	return p.addr(fmt.Sprintf("CLUSTER_R%d_HTTP_PORT", n))
}

// freeClusterPorts picks a free loopback port for each of run.sh's port
// variables, holding them all open at once so that no two are the same.
func freeClusterPorts(t *testing.T) clusterPorts {
	t.Helper()
	vars := []string{"CLUSTER_REDIS_PORT", "CLUSTER_HTTP_PORT", "CLUSTER_MQTT_PORT", "CLUSTER_STATS_PORT"}
	for n := 1; n <= 3; n++ {
		vars = append(vars, fmt.Sprintf("CLUSTER_R%d_HTTP_PORT", n), fmt.Sprintf("CLUSTER_R%d_MQTT_PORT", n))
	}
	ports := clusterPorts{}
	for _, v := range vars {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		defer l.Close()
		ports[v] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// requireClusterTools fails the test unless everything run.sh and the
// clients need is installed.
func requireClusterTools(t *testing.T) {
	t.Helper()
	requireMosquitto(t)
	for _, tool := range []struct{ bin, pkg string }{
		{"bash", "bash"}, {"redis-server", "redis-server"}, {"haproxy", "haproxy"}, {"timeout", "coreutils"},
	} {
		_, err := exec.LookPath(tool.bin)
		if err != nil && tool.bin == "haproxy" {
			// In /usr/sbin, which is not on every user's PATH; run.sh looks there too.
			for _, dir := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
				if _, serr := exec.LookPath(filepath.Join(dir, tool.bin)); serr == nil {
					err = nil
					break
				}
			}
		}
		if err != nil {
			requireDep(t, fmt.Errorf("%s (Debian package %s) is not installed; examples/cluster/run.sh needs it: %v", tool.bin, tool.pkg, err))
		}
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is not in PATH, needed to build the junction binary: %v", err)
	}
}

// clusterExample is run.sh running, in a process group of its own.
type clusterExample struct {
	*extProc
	cmd   *exec.Cmd
	pgid  int
	ports clusterPorts
	dir   string // TMPDIR of the script: its working directory (logs) is made in it
}

// startClusterExample starts run.sh with bin and ports, and returns once it has
// printed its "ready" line. When the test ends the whole process group is
// stopped: SIGTERM, then SIGKILL for whatever is left.
func startClusterExample(t *testing.T, bin string, ports clusterPorts) *clusterExample {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "examples", "cluster", "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	c := &clusterExample{ports: ports, dir: t.TempDir()}
	c.cmd = exec.Command(script)
	c.cmd.Dir = c.dir // run.sh finds the repository from its own path, not the working directory
	c.cmd.Env = append(os.Environ(), "CLUSTER_BIN="+bin, "CLUSTER_KEEP=1", "TMPDIR="+c.dir,
		fmt.Sprintf("CLUSTER_START_TIMEOUT=%d", int(clusterReadyTimeout/time.Second)-10))
	for v, p := range ports {
		c.cmd.Env = append(c.cmd.Env, fmt.Sprintf("%s=%d", v, p))
	}
	// Its own process group, so that everything it starts can be signalled
	// at once; and SIGTERM (which it traps to stop its children) should the
	// test process die first.
	c.cmd.SysProcAttr = groupProcAttr(syscall.SIGTERM)

	p := newExtProc(t, "run.sh", func() {}, c.cmd)
	c.cmd.WaitDelay = 5 * time.Second
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", script, err)
	}
	c.pgid = c.cmd.Process.Pid
	c.extProc = p
	p.watch(c.cmd)
	t.Cleanup(c.cleanup)

	// Wait for "ready", which run.sh prints once everything is up.
	start := time.Now()
	deadline := time.NewTimer(clusterReadyTimeout)
	defer deadline.Stop()
	for ready := false; !ready; {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.fatalf("exited (%v) before printing its ready line", p.err)
			}
			ready = strings.HasPrefix(l, "ready")
		case <-deadline.C:
			p.fatalf("no ready line after %v", clusterReadyTimeout)
		}
	}
	t.Logf("run.sh ready in %v", time.Since(start).Round(time.Millisecond))
	return c
}

// cleanup stops whatever is still running in the group and, if the test
// failed, logs the routers', Redis' and HAProxy's logs.
func (c *clusterExample) cleanup() {
	select {
	case <-c.done:
	default:
		_ = syscall.Kill(-c.pgid, syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(clusterStopTimeout):
			c.t.Errorf("run.sh still running %v after SIGTERM; killing its process group", clusterStopTimeout)
		}
	}
	// Anything left in the group (nothing, if run.sh did its job) goes now.
	if syscall.Kill(-c.pgid, 0) == nil {
		_ = syscall.Kill(-c.pgid, syscall.SIGKILL)
	}
	<-c.done
	if c.t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(c.dir, "junction-cluster.*", "*.log"))
		for _, f := range logs {
			b, _ := os.ReadFile(f)
			c.t.Logf("--- %s ---\n%s", filepath.Base(f), b)
		}
		c.mu.Lock()
		c.t.Logf("--- run.sh output ---\n%s", strings.Join(c.transcript, "\n"))
		c.mu.Unlock()
	}
}

// get fetches http://addr/path.
func clusterGet(t *testing.T, addr, path string) (string, error) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s%s: %s", addr, path, resp.Status)
	}
	return string(b), nil
}

// metric is the value of the unlabelled metric name on router n, or -1.
func (c *clusterExample) metric(t *testing.T, n int, name string) float64 {
	t.Helper()
	body, err := clusterGet(t, c.ports.routerHTTP(n), "/metrics")
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// waitMetric waits until the metric on router n satisfies ok.
func (c *clusterExample) waitMetric(t *testing.T, n int, name, want string, ok func(float64) bool) {
	t.Helper()
	last := -1.0
	waitFor(t, clusterRouteTimeout, fmt.Sprintf("%s on r%d to be %s", name, n, want), func() bool {
		last = c.metric(t, n, name)
		return ok(last)
	})
	t.Logf("r%d %s %v", n, name, last)
}

// mqttServerOf is the router (1..3) HAProxy's MQTT pool has a connection
// open to, read from the stats page's CSV (column scur); 0 if none or
// several have.
func (c *clusterExample) mqttServerOf(t *testing.T) int {
	t.Helper()
	csv, err := clusterGet(t, c.ports.addr("CLUSTER_STATS_PORT"), "/;csv")
	if err != nil {
		t.Fatalf("HAProxy stats: %v", err)
	}
	on := 0
	for _, line := range strings.Split(csv, "\n") {
		f := strings.Split(line, ",")
		if len(f) < 5 || f[0] != "routers_mqtt" || !strings.HasPrefix(f[1], "r") {
			continue
		}
		if scur, _ := strconv.Atoi(f[4]); scur > 0 {
			if on != 0 {
				return 0
			}
			on, _ = strconv.Atoi(strings.TrimPrefix(f[1], "r"))
		}
	}
	return on
}

func TestClusterExample(t *testing.T) {
	requireClusterTools(t)
	start := time.Now()
	bin := buildJunction(t) // federation_external_test.go
	t.Logf("built %s in %v", bin, time.Since(start).Round(time.Millisecond))
	ports := freeClusterPorts(t)
	c := startClusterExample(t, bin, ports)
	lbMQTT := ports.addr("CLUSTER_MQTT_PORT")
	remoteRoutes := "junction_federation_remote_routes"

	// Every router is ready and federated with the two others, and so is
	// what HAProxy's HTTP port leads to.
	for n := 1; n <= 3; n++ {
		body, err := clusterGet(t, ports.routerHTTP(n), "/readyz")
		if err != nil || body != "ready\nfederation: up; other routers: 2\n" {
			c.fatalf("r%d /readyz: %q %v", n, body, err)
		}
	}
	if body, err := clusterGet(t, ports.addr("CLUSTER_HTTP_PORT"), "/readyz"); err != nil || !strings.HasPrefix(body, "ready\n") {
		c.fatalf("/readyz through HAProxy: %q %v", body, err)
	}

	t.Run("through HAProxy to r3", func(t *testing.T) {
		// A subscriber through HAProxy, a publisher on r3's own port. HAProxy
		// picks the subscriber's router; should it pick r3, the publisher
		// goes to r1 instead, so that the message crosses routers.
		sub := startMosquittoSub(t, lbMQTT, "mqttv311", "cluster-sub-lb", "cluster/lb/+", 1, 1)
		subOn := c.mqttServerOf(t)
		if subOn == 0 {
			t.Fatalf("HAProxy's stats show no single router holding the subscriber's connection")
		}
		pubOn := 3
		if subOn == 3 {
			pubOn = 1
		}
		t.Logf("HAProxy sent the subscriber to r%d; publishing on r%d", subOn, pubOn)
		c.waitMetric(t, pubOn, remoteRoutes, "1", func(v float64) bool { return v == 1 })
		sent := c.metric(t, pubOn, "junction_federation_sent_total")
		mosquittoPub(t, ports.routerMQTT(pubOn), "mqttv5", "cluster-pub-r3", "cluster/lb/temp", "21.5", 1)
		if got, want := mosquittoMessage(sub), "cluster/lb/temp|1|0|||21.5"; got != want {
			sub.fatalf("got %q, want %q", got, want)
		}
		sub.succeed()
		if now := c.metric(t, pubOn, "junction_federation_sent_total"); now < sent+1 {
			t.Errorf("r%d junction_federation_sent_total went from %v to %v: the message did not go through Redis", pubOn, sent, now)
		}
		// The subscriber has gone: every router forgets its route.
		for n := 1; n <= 3; n++ {
			c.waitMetric(t, n, remoteRoutes, "0", func(v float64) bool { return v == 0 })
		}
	})

	t.Run("on r3 from HAProxy", func(t *testing.T) {
		// The reverse: a subscriber on r3's own port, a publisher through
		// HAProxy (to any router: r1 and r2 both know r3's route first).
		sub := startMosquittoSub(t, ports.routerMQTT(3), "mqttv5", "cluster-sub-r3", "cluster/r3/#", 1, 1)
		c.waitMetric(t, 1, remoteRoutes, "1", func(v float64) bool { return v == 1 })
		c.waitMetric(t, 2, remoteRoutes, "1", func(v float64) bool { return v == 1 })
		received := c.metric(t, 3, "junction_federation_received_total")
		mosquittoPub(t, lbMQTT, "mqttv311", "cluster-pub-lb", "cluster/r3/cmd", "reboot", 1)
		if got, want := mosquittoMessage(sub), "cluster/r3/cmd|1|0|||reboot"; got != want {
			sub.fatalf("got %q, want %q", got, want)
		}
		sub.succeed()
		t.Logf("r3 received %v messages from other routers (0 if HAProxy sent the publisher to r3 itself)",
			c.metric(t, 3, "junction_federation_received_total")-received)
	})

	t.Run("retained cluster-wide", func(t *testing.T) {
		// Retained on r1; a new subscriber on r2 gets it. r2 learns of it
		// through Redis' retained log, on its own time, so the subscriber
		// tries again until it comes (retainedOn, in
		// federation_external_test.go, gives each try a second).
		mosquittoPub(t, ports.routerMQTT(1), "mqttv311", "cluster-retain-r1", "cluster/retained/config", `{"interval":10}`, 1, "-r")
		if got, want := retainedOn(t, ports.routerMQTT(2), "cluster/retained/#"), `cluster/retained/config|1|1|||{"interval":10}`; got != want {
			t.Fatalf("a new subscriber on r2 got %q, want %q", got, want)
		}
	})

	t.Run("RPC through HAProxy", func(t *testing.T) {
		// A device on r2 serves a procedure; callers come through HAProxy
		// (mosquitto_pub with MQTT 5 request/response), each new connection
		// to whichever router HAProxy picks: the call reaches r2's device.
		startV3Device(t, ports.routerMQTT(2), "cluster-lamp", "$rpc/cluster/lamp/toggle", func(inv map[string]any) []map[string]any {
			return []map[string]any{{"correlation": inv["correlation"], "args": []any{"toggled", inv["args"].([]any)[0]}}}
		})
		for _, n := range []int{1, 3} {
			c.waitMetric(t, n, remoteRoutes, "r2's procedure", func(v float64) bool { return v >= 1 })
		}
		for i := range 3 {
			id := fmt.Sprintf("cluster-caller-%d", i)
			sub := startMosquittoSub(t, lbMQTT, "mqttv5", id+"-replies", "replies/"+id, 1, 1)
			mosquittoPub(t, lbMQTT, "mqttv5", id, "$rpc/cluster/lamp/toggle", fmt.Sprintf(`"%d"`, i), 1,
				"-D", "publish", "response-topic", "replies/"+id, "-D", "publish", "correlation-data", id)
			if got, want := mosquittoMessage(sub), fmt.Sprintf(`replies/%s|1|0|application/vnd.junction.wamp+json||{"args":["toggled","%d"]}`, id, i); got != want {
				sub.fatalf("reply %q, want %q", got, want)
			}
			sub.succeed()
		}
	})

	t.Run("roaming device", func(t *testing.T) {
		// A device's persistent session made on r2; while it is away a
		// command is published through HAProxy; the device comes back on
		// r1 (mosquitto_sub -c) and the command waits for it there.
		base := map[int]float64{}
		for _, n := range []int{1, 3} {
			c.waitMetric(t, n, remoteRoutes, "the RPC device gone", func(v float64) bool { return v == 0 })
			base[n] = 0
		}
		dev := connectV3(t, "tcp://"+ports.routerMQTT(2), "cluster-roamer", func(o *mqtt3.ClientOptions) { o.SetCleanSession(false) })
		waitToken(t, dev.Subscribe("cluster/roam/cmd", 1, nil), "subscribe")
		dev.Disconnect(100)
		for _, n := range []int{1, 3} {
			c.waitMetric(t, n, remoteRoutes, "the device's route", func(v float64) bool { return v >= base[n]+1 })
		}
		mosquittoPub(t, lbMQTT, "mqttv311", "cluster-commander", "cluster/roam/cmd", "reboot", 1)
		host, port := mqttHostPort(ports.routerMQTT(1))
		back := startExt(t, "mosquitto_sub cluster-roamer on r1", false, mosquittoSub("-d", "-c", "-h", host, "-p", port,
			"-V", "mqttv311", "-i", "cluster-roamer", "-q", "1", "-t", "cluster/roam/cmd", "-C", "1", "-F", mosquittoFormat)...)
		// The command was published while the device's only subscription was
		// its offline session on r2: that it arrives on r1 means the
		// session moved (mosquitto_sub prints no session-present flag).
		if got, want := mosquittoMessage(back), "cluster/roam/cmd|1|0|||reboot"; got != want {
			back.fatalf("the device got %q, want %q", got, want)
		}
		back.succeed()
		// The device starts clean on r1, where its session is now: the
		// session, and its route, are gone everywhere before the next
		// subtest counts routes.
		connectV3(t, "tcp://"+ports.routerMQTT(1), "cluster-roamer", nil).Disconnect(50)
		for n := 1; n <= 3; n++ {
			c.waitMetric(t, n, remoteRoutes, "0", func(v float64) bool { return v == 0 })
		}
	})

	t.Run("shared subscription across routers", func(t *testing.T) {
		// A group with a member on each router: each job reaches one member.
		var members []*extProc
		base := map[int]float64{}
		for n := 1; n <= 3; n++ {
			base[n] = c.metric(t, n, remoteRoutes)
		}
		for n := 1; n <= 3; n++ {
			members = append(members, startMosquittoSub(t, ports.routerMQTT(n), "mqttv5", fmt.Sprintf("cluster-worker-%d", n), "$share/workers/cluster/jobs/#", 1, 1))
		}
		for n := 1; n <= 3; n++ {
			c.waitMetric(t, n, remoteRoutes, "the other workers' routes", func(v float64) bool { return v >= base[n]+2 })
		}
		for i := 1; i <= 3; i++ {
			mosquittoPub(t, lbMQTT, "mqttv311", fmt.Sprintf("cluster-boss-%d", i), fmt.Sprintf("cluster/jobs/%d", i), fmt.Sprintf("job-%d", i), 1)
		}
		// Round robin over the routers with members: each worker gets one.
		got := map[string]bool{}
		for _, m := range members {
			got[mosquittoMessage(m)] = true
			m.succeed()
		}
		if len(got) != 3 {
			t.Fatalf("the workers got %v, want three different jobs", got)
		}
	})

	// SIGTERM to run.sh alone (as Ctrl-C or a service manager would send
	// it): it must stop every child, then exit.
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to run.sh: %v", err)
	}
	select {
	case <-c.done:
	case <-time.After(clusterStopTimeout):
		c.fatalf("still running %v after SIGTERM", clusterStopTimeout)
	}
	var exit *exec.ExitError
	if c.err != nil && (!errors.As(c.err, &exit) || exit.ExitCode() != 143) {
		c.fatalf("exited with %v after SIGTERM, want status 143 (or 0)", c.err)
	}
	if err := syscall.Kill(-c.pgid, 0); !errors.Is(err, syscall.ESRCH) {
		out, _ := exec.Command("ps", "-eo", "pgid,pid,stat,args").CombinedOutput()
		var left []string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == strconv.Itoa(c.pgid) {
				left = append(left, l)
			}
		}
		c.fatalf("processes outlived run.sh (kill -0 on its group: %v):\n%s", err, strings.Join(left, "\n"))
	}
	for v := range ports {
		if conn, err := net.DialTimeout("tcp", ports.addr(v), time.Second); err == nil {
			conn.Close()
			c.fatalf("%s (%s) still accepts connections after run.sh exited", ports.addr(v), v)
		}
	}
	if dirs, _ := filepath.Glob(filepath.Join(c.dir, "junction-cluster.*")); len(dirs) != 1 {
		t.Errorf("want the one working directory kept (CLUSTER_KEEP=1), got %v", dirs)
	}
}
