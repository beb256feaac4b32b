package router

// End-to-end tests with real third-party clients run as subprocesses:
// mosquitto_pub/mosquitto_sub, MQTT.js, autobahn-python and autobahn-js.
// `make deps` installs them; a missing one fails the test, it never skips.
//
// The scripts the tests run live in testdata/ (autobahn_client.py) and
// testdata/node/ (mqttjs_client.js, autobahn_client.js). They print one JSON
// object per line on stdout, which the tests read as they come: every wait is
// on a line of output or a process exit, each under a deadline.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// extProcTimeout bounds the life of every client process.
	extProcTimeout = 45 * time.Second
	// extStepTimeout bounds each wait for a line of output or an exit.
	extStepTimeout = 20 * time.Second
	// debianPython is the interpreter that sees Debian's python3-autobahn,
	// python3-msgpack and python3-cbor2 (a python3 earlier on PATH may not).
	debianPython = "/usr/bin/python3"
)

// --- finding the clients ------------------------------------------------------

var (
	extPythonErr = sync.OnceValue(func() error {
		out, err := exec.Command(debianPython, "-c", "import autobahn, msgpack, cbor2").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s cannot import autobahn, msgpack and cbor2: %v\n%s", debianPython, err, out)
		}
		return nil
	})
	extNodeErr = sync.OnceValue(func() error {
		if _, err := exec.LookPath("node"); err != nil {
			return fmt.Errorf("node is not installed: %v", err)
		}
		for _, m := range []string{"mqtt", "autobahn", "ws"} {
			if _, err := os.Stat(filepath.Join("testdata", "node", "node_modules", m, "package.json")); err != nil {
				return fmt.Errorf("node module %q is missing from testdata/node/node_modules: %v", m, err)
			}
		}
		return nil
	})
)

func requireDep(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%v\nrun `make deps` to install the clients these tests drive", err)
	}
}

func requireMosquitto(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"mosquitto_sub", "mosquitto_pub"} {
		if _, err := exec.LookPath(bin); err != nil {
			requireDep(t, fmt.Errorf("%s (Debian package mosquitto-clients) is not installed: %v", bin, err))
		}
	}
	if _, err := exec.LookPath("stdbuf"); err != nil {
		requireDep(t, fmt.Errorf("stdbuf (coreutils) is not installed: %v", err))
	}
}

// mosquittoSub is the command line that runs mosquitto_sub with args. Its
// stdout is a pipe, which stdio buffers in blocks; stdbuf makes it flush
// every line, so the test sees the SUBACK when it happens.
func mosquittoSub(args ...string) []string {
	return append([]string{"stdbuf", "-oL", "mosquitto_sub"}, args...)
}

func requirePython(t *testing.T) { t.Helper(); requireDep(t, extPythonErr()) }
func requireNode(t *testing.T)   { t.Helper(); requireDep(t, extNodeErr()) }

// --- running them -------------------------------------------------------------

// extProc is a client running as a subprocess. Its stdout arrives line by line
// on lines; stdout and stderr are both kept for failure messages.
type extProc struct {
	t      *testing.T
	name   string
	cancel context.CancelFunc
	stdin  io.WriteCloser // nil unless asked for
	lines  chan string
	done   chan struct{}
	err    error // the exit, once done is closed

	stdout, stderr *lineWriter

	mu         sync.Mutex
	transcript []string
	overflow   bool
}

// startExt starts argv[0] with the rest as arguments. It is killed, if still
// running, when the test ends (before the router, started earlier, shuts down).
func startExt(t *testing.T, name string, withStdin bool, argv ...string) *extProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), extProcTimeout)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 2 * time.Second
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "NO_COLOR=1")
	p := newExtProc(t, name, cancel, cmd)
	if withStdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			cancel()
			t.Fatalf("%s: stdin: %v", name, err)
		}
		p.stdin = w
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: starting %q: %v", name, argv, err)
	}
	p.watch(cmd)
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// newExtProc makes the extProc of cmd, before it starts: cmd's stdout lines
// will come on lines, and both streams are kept for failure messages.
func newExtProc(t *testing.T, name string, cancel context.CancelFunc, cmd *exec.Cmd) *extProc {
	p := &extProc{t: t, name: name, cancel: cancel, lines: make(chan string, 4096), done: make(chan struct{})}
	p.stdout = &lineWriter{emit: func(l string) {
		p.record("out| " + l)
		select {
		case p.lines <- l:
		default:
			p.mu.Lock()
			p.overflow = true
			p.mu.Unlock()
		}
	}}
	p.stderr = &lineWriter{emit: func(l string) { p.record("err| " + l) }}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	return p
}

// watch waits, in the background, for the started cmd to exit; then lines
// and done close.
func (p *extProc) watch(cmd *exec.Cmd) {
	go func() {
		p.err = cmd.Wait() // returns once stdout and stderr are copied
		p.stdout.flush()
		p.stderr.flush()
		close(p.lines)
		close(p.done)
	}()
}

func (p *extProc) record(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.transcript = append(p.transcript, line)
}

// fatalf fails the test with the process's output so far.
func (p *extProc) fatalf(format string, args ...any) {
	p.t.Helper()
	p.mu.Lock()
	out := strings.Join(p.transcript, "\n")
	if p.overflow {
		out += "\n(more than 4096 lines; some were not seen by the test)"
	}
	p.mu.Unlock()
	p.t.Fatalf("%s: %s\n--- %s output ---\n%s\n---", p.name, fmt.Sprintf(format, args...), p.name, out)
}

// expect reads stdout lines until one satisfies match and returns it.
func (p *extProc) expect(what string, match func(string) bool) string {
	p.t.Helper()
	timer := time.NewTimer(extStepTimeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.fatalf("exited (%v) before printing %s", p.err, what)
			}
			if match(l) {
				return l
			}
		case <-timer.C:
			p.fatalf("timed out after %v waiting for %s", extStepTimeout, what)
		}
	}
}

// event waits for the JSON line {"event": name, ...} and returns it decoded.
// An {"event": "error"} line fails the test at once.
func (p *extProc) event(name string) map[string]any {
	p.t.Helper()
	var got map[string]any
	p.expect(fmt.Sprintf(`{"event": %q}`, name), func(l string) bool {
		var m map[string]any
		if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &m) != nil {
			return false // a client library's own logging
		}
		if m["event"] == "error" {
			p.fatalf("reported an error: %v", m["error"])
		}
		if m["event"] != name {
			return false
		}
		got = m
		return true
	})
	return got
}

// wait waits for the process to exit and returns how it exited.
func (p *extProc) wait() error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(extStepTimeout):
		p.fatalf("still running after %v", extStepTimeout)
		return nil
	}
}

// succeed waits for the process to exit and fails the test unless it exited 0.
func (p *extProc) succeed() {
	p.t.Helper()
	if err := p.wait(); err != nil {
		p.fatalf("exited with %v, want success", err)
	}
}

// closeStdin tells a process that waits on its stdin to finish.
func (p *extProc) closeStdin() {
	p.t.Helper()
	if err := p.stdin.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		p.fatalf("closing stdin: %v", err)
	}
}

// lineWriter splits what a process writes into lines.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.emit(strings.TrimSuffix(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

// assertJSON checks that got has every key of want (a JSON object) with
// exactly that value; keys of got that want leaves out are not checked.
func assertJSON(t *testing.T, who string, got map[string]any, want string) {
	t.Helper()
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	for k, wv := range w {
		gv, ok := got[k]
		if !ok || !reflect.DeepEqual(gv, wv) {
			gj, _ := json.Marshal(gv)
			wj, _ := json.Marshal(wv)
			t.Errorf("%s: %q = %s, want %s (whole line: %v)", who, k, gj, wj, got)
		}
	}
}

func nodeScript(name string) string   { return filepath.Join("testdata", "node", name) }
func pythonScript(name string) string { return filepath.Join("testdata", name) }
func mqttHostPort(addr string) (host, port string) {
	host, port, _ = net.SplitHostPort(addr)
	return host, port
}

// --- mosquitto -----------------------------------------------------------------

// mosquittoFormat is mosquitto_sub's -F: topic, QoS, retain flag, MQTT 5
// content type and user properties, payload.
const mosquittoFormat = "MSG|%t|%q|%r|%C|%P|%p"

// startMosquittoSub starts mosquitto_sub for count messages on topic and
// returns once the router has acknowledged the subscription (mosquitto_sub -d
// prints the SUBACK), checking the QoS granted.
func startMosquittoSub(t *testing.T, addr, version, id, topic string, qos, count int) *extProc {
	t.Helper()
	host, port := mqttHostPort(addr)
	sub := startExt(t, "mosquitto_sub "+id, false, mosquittoSub("-d", "-h", host, "-p", port, "-V", version,
		"-i", id, "-q", fmt.Sprint(qos), "-t", topic, "-C", fmt.Sprint(count), "-F", mosquittoFormat)...)
	sub.expect("SUBACK", func(l string) bool { return l == "Client "+id+" received SUBACK" })
	granted := sub.expect("the granted QoS", func(l string) bool { return strings.HasPrefix(l, "Subscribed (mid: ") })
	if want := fmt.Sprintf("): %d", qos); !strings.HasSuffix(granted, want) {
		sub.fatalf("granted %q, want QoS %d", granted, qos)
	}
	return sub
}

// mosquittoPub publishes one message and checks it completed the QoS flow.
func mosquittoPub(t *testing.T, addr, version, id, topic, payload string, qos int, extra ...string) {
	t.Helper()
	host, port := mqttHostPort(addr)
	args := append([]string{"mosquitto_pub", "-d", "-h", host, "-p", port, "-V", version, "-i", id,
		"-q", fmt.Sprint(qos), "-t", topic, "-m", payload}, extra...)
	pub := startExt(t, "mosquitto_pub "+id, false, args...)
	pub.succeed()
	// The last packet of the flow at each QoS (v5 adds ", RC:0" and such).
	last := map[int]string{0: "sending PUBLISH", 1: "received PUBACK", 2: "received PUBCOMP"}[qos]
	pub.mu.Lock()
	out := strings.Join(pub.transcript, "\n")
	pub.mu.Unlock()
	if !strings.Contains(out, "Client "+id+" "+last) {
		pub.fatalf("no %q in its debug output", last)
	}
}

// mosquittoMessage waits for one message line of mosquittoFormat.
func mosquittoMessage(sub *extProc) string {
	return strings.TrimPrefix(sub.expect("a message", func(l string) bool { return strings.HasPrefix(l, "MSG|") }), "MSG|")
}

func TestExternalMosquittoPubSub(t *testing.T) {
	requireMosquitto(t)
	r := startRouter(t, nil)
	ports := []struct{ name, addr string }{{"mqtt_port", mqttAddr(r)}, {"universal_port", httpAddr(r)}}
	versions := []string{"mqttv311", "mqttv5"}
	for _, port := range ports {
		for _, subV := range versions {
			for _, pubV := range versions {
				for qos := range 3 {
					name := fmt.Sprintf("%s/sub_%s/pub_%s/qos%d", port.name, subV, pubV, qos)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						id := strings.NewReplacer("/", "-", "_", "-").Replace(name)
						topic := "junction/ext/" + strings.ReplaceAll(name, "_", "-")
						payload := fmt.Sprintf("hello from mosquitto %s qos %d", pubV, qos)
						sub := startMosquittoSub(t, port.addr, subV, "sub-"+id, topic, qos, 1)
						var props []string
						if pubV == "mqttv5" {
							props = []string{"-D", "publish", "user-property", "origin", "mosquitto",
								"-D", "publish", "content-type", "text/plain"}
						}
						mosquittoPub(t, port.addr, pubV, "pub-"+id, topic, payload, qos, props...)

						// MQTT 5 properties reach an MQTT 5 subscriber only.
						ct, up := "", ""
						if pubV == "mqttv5" && subV == "mqttv5" {
							ct, up = "text/plain", "origin:mosquitto"
						}
						want := fmt.Sprintf("%s|%d|0|%s|%s|%s", topic, qos, ct, up, payload)
						if got := mosquittoMessage(sub); got != want {
							sub.fatalf("got message %q, want %q", got, want)
						}
						sub.succeed() // -C 1: it leaves after one message
					})
				}
			}
		}
	}
}

func TestExternalMosquittoRetained(t *testing.T) {
	requireMosquitto(t)
	r := startRouter(t, nil)
	ports := []struct{ name, addr string }{{"mqtt_port", mqttAddr(r)}, {"universal_port", httpAddr(r)}}
	for _, port := range ports {
		for _, v := range []string{"mqttv311", "mqttv5"} {
			name := port.name + "/" + v
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				id := strings.NewReplacer("/", "-", "_", "-").Replace(name)
				topic := "junction/ext/retained/" + id
				// MQTT 5: the retained message keeps its properties.
				retain, props := []string{"-r"}, "|||"
				if v == "mqttv5" {
					retain = append(retain, "-D", "publish", "user-property", "kept", "yes",
						"-D", "publish", "content-type", "text/plain")
					props = "|text/plain|kept:yes|"
				}
				mosquittoPub(t, port.addr, v, "pub-retained-"+id, topic, "retained payload", 1, retain...)

				// A later subscriber gets the retained message, flagged, then
				// a live one, not flagged.
				sub := startMosquittoSub(t, port.addr, v, "sub-"+id, topic, 1, 2)
				if got, want := mosquittoMessage(sub), topic+"|1|1"+props+"retained payload"; got != want {
					sub.fatalf("got retained message %q, want %q", got, want)
				}
				mosquittoPub(t, port.addr, v, "pub-live-"+id, topic, "live payload", 1)
				if got, want := mosquittoMessage(sub), topic+"|1|0|||live payload"; got != want {
					sub.fatalf("got live message %q, want %q", got, want)
				}
				sub.succeed()
			})
		}
	}
}

// --- MQTT.js ----------------------------------------------------------------------

func TestExternalMQTTjs(t *testing.T) {
	requireNode(t)
	r := startRouter(t, nil)
	cases := []struct {
		name, url   string
		version     int
		subprotocol string // the WebSocket subprotocol MQTT.js offers and Junction must accept; "" for TCP
	}{
		{"websocket/v5", wsURL(r), 5, "mqtt"},
		{"websocket/v4", wsURL(r), 4, "mqtt"},
		{"websocket/v3", wsURL(r), 3, "mqttv3.1"},
		{"mqtt_port/v5", "mqtt://" + mqttAddr(r), 5, ""},
		{"mqtt_port/v4", "mqtt://" + mqttAddr(r), 4, ""},
		{"universal_port/v5", "mqtt://" + httpAddr(r), 5, ""},
		{"universal_port/v4", "mqtt://" + httpAddr(r), 4, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tag := strings.NewReplacer("/", "-", "_", "-").Replace(tc.name) // client IDs and topic
			p := startExt(t, "MQTT.js "+tc.name, false, "node", nodeScript("mqttjs_client.js"), "roundtrip", tc.url, fmt.Sprint(tc.version), tag)
			for _, client := range []string{"sub", "pub"} {
				id := fmt.Sprintf("mqttjs-%s-%s", client, tag)
				if tc.subprotocol != "" {
					ws := p.event("websocket")
					assertJSON(t, "MQTT.js "+client, ws, fmt.Sprintf(`{"client": %q, "offered": [%q], "accepted": %q}`, id, tc.subprotocol, tc.subprotocol))
				}
				c := p.event("connected")
				ack := `{"returnCode": 0}`
				if tc.version == 5 {
					ack = `{"reasonCode": 0}`
				}
				assertJSON(t, "MQTT.js "+client+" CONNACK", c, ack)
			}
			topic := "junction/mqttjs/" + tag
			assertJSON(t, "MQTT.js SUBACK", p.event("suback"), fmt.Sprintf(`{"granted": [{"topic": %q, "qos": 1}]}`, topic))
			p.event("puback")
			msg := p.event("message")
			want := fmt.Sprintf(`{"topic": %q, "payload": "{\"hello\":\"junction\",\"n\":42}", "qos": 1, "retain": false}`, topic)
			assertJSON(t, "MQTT.js message", msg, want)
			props := `{"userProperties": null, "contentType": null, "responseTopic": null, "correlationData": null}`
			if tc.version == 5 {
				props = `{"userProperties": {"origin": "mqtt.js", "ünï": "cödé"}, "contentType": "application/json",
					"responseTopic": "junction/mqttjs/reply", "correlationData": "corr-42"}`
			}
			assertJSON(t, "MQTT.js message properties", msg, props)
			p.event("done")
			p.succeed()
		})
	}
}

// --- autobahn-python ---------------------------------------------------------------

func TestExternalAutobahnPython(t *testing.T) {
	requirePython(t)
	for _, ser := range []string{"json", "msgpack", "cbor"} {
		t.Run(ser, func(t *testing.T) {
			t.Parallel()
			r := startRouter(t, nil) // one each: they register the same procedures
			p := startExt(t, "autobahn-python "+ser, false, debianPython, pythonScript("autobahn_client.py"), "basic", wsURL(r), ser)
			assertJSON(t, "joined", p.event("joined"), fmt.Sprintf(`{"realm": "realm1", "subprotocol": "wamp.2.%s"}`, ser))
			assertJSON(t, "publish", p.event("published"), `{"acknowledged": true}`)
			assertJSON(t, "event", p.event("event"), `{
				"args": [1, "two", 3.5, true, null, ["nested", {"k": "v"}], "ünïcödé"],
				"kwargs": {"a": 1, "b": "x", "c": {"d": [1, 2, 3]}, "e": -7}}`)
			assertJSON(t, "call", p.event("call"), `{"results": [5, "sum"], "kwargs": {"tag": "t1"}}`)
			assertJSON(t, "echo", p.event("echo"), `{"result": "ping"}`)
			assertJSON(t, "progressive call", p.event("progressive"), `{
				"progress": [{"args": [1], "kwargs": {"step": 1}}, {"args": [2], "kwargs": {"step": 2}}, {"args": [3], "kwargs": {"step": 3}}],
				"results": ["final", 3], "kwargs": {"done": true, "progressive": true}}`)
			assertJSON(t, "wildcard subscription", p.event("pattern"), `{"match": "wildcard", "args": ["wildcard"], "topic": "com.x.a.t"}`)
			assertJSON(t, "prefix subscription", p.event("pattern"), `{"match": "prefix", "args": ["prefix"], "topic": "com.y.z.w"}`)
			assertJSON(t, "unregistered procedure", p.event("missing"), `{"error": "wamp.error.no_such_procedure"}`)
			p.event("done")
			assertJSON(t, "leave", p.event("leave"), `{"reason": "wamp.close.goodbye_and_out"}`)
			p.succeed()
		})
	}
}

// --- autobahn-js -------------------------------------------------------------------

func TestExternalAutobahnJS(t *testing.T) {
	requireNode(t)
	requirePython(t)
	cases := []struct {
		name     string
		url      func(*Router) string
		ser      string
		protocol string
	}{
		{"websocket/json", wsURL, "json", "wamp.2.json"},
		{"websocket/msgpack", wsURL, "msgpack", "wamp.2.msgpack"},
		// WAMP RawSocket on the universal port; autobahn-js speaks json there.
		{"rawsocket/json", func(r *Router) string { return "rs://" + httpAddr(r) }, "json", "wamp.2.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRouter(t, nil) // one each: they register the same procedures
			// The procedure with progressive results: autobahn-python implements
			// call canceling, which the WAMP spec requires of a callee for
			// progressive results, and autobahn-js 22.x does not.
			callee := startExt(t, "autobahn-python callee", true, debianPython, pythonScript("autobahn_client.py"), "callee", wsURL(r), "cbor")
			callee.event("registered")

			p := startExt(t, "autobahn-js "+tc.name, false, "node", nodeScript("autobahn_client.js"), tc.url(r), tc.ser)
			joined := p.event("joined")
			assertJSON(t, "joined", joined, `{"realm": "realm1"}`)
			if tr, _ := joined["transport"].(map[string]any); tr == nil || tr["protocol"] != tc.protocol {
				t.Errorf("transport %v, want protocol %s", joined["transport"], tc.protocol)
			}
			assertJSON(t, "publish", p.event("published"), `{"acknowledged": true}`)
			assertJSON(t, "event", p.event("event"), `{
				"args": [1, "two", {"three": 3}, [4.5, null, true]],
				"kwargs": {"a": "b", "n": -1, "list": ["x", "y"]},
				"topic": "com.ext.js.topic"}`)
			assertJSON(t, "progressive call to autobahn-python", p.event("progressive"), `{
				"procedure": "com.ext.py.progress",
				"progress": [{"args": [1], "kwargs": {"step": 1}}, {"args": [2], "kwargs": {"step": 2}}, {"args": [3], "kwargs": {"step": 3}}],
				"result": {"args": ["final", 3], "kwargs": {"done": true, "progressive": true}}}`)
			// autobahn-js as the callee: it announces progressive_call_results
			// but not call_canceling, so the dealer does not pass it
			// receive_progress; the call still gets its final result.
			assertJSON(t, "progressive call to autobahn-js", p.event("progressive"), `{
				"procedure": "com.ext.js.progress", "calleeReceiveProgress": false, "progress": [],
				"result": {"args": ["final", 3], "kwargs": {"done": true}}}`)
			p.event("done")
			// The WAMP session ends with GOODBYE. (autobahn-js's own first
			// argument, "closed" or "lost", reflects only whether the WebSocket
			// close code was 1000: it closes with no code, and when its close
			// frame reaches Junction before Junction's own close 1000 goes out,
			// the echo carries no code either and autobahn-js says "lost".)
			assertJSON(t, "close", p.event("closed"), `{"details": "wamp.close.goodbye_and_out"}`)
			p.succeed()

			callee.closeStdin()
			callee.event("leave")
			callee.succeed()
		})
	}
}

// --- drain -------------------------------------------------------------------------

// TestExternalDrain shuts a router down under connected real clients and
// checks each is told why: WAMP GOODBYE wamp.close.system_shutdown, MQTT 5
// DISCONNECT 0x8B (server shutting down).
func TestExternalDrain(t *testing.T) {
	requireNode(t)
	requirePython(t)
	requireMosquitto(t)
	r := startRouter(t, nil)

	type client struct {
		name  string
		start func() *extProc
		ready string                         // the event printed once connected
		check func(t *testing.T, p *extProc) // after Shutdown
	}
	mqttjs := func(tag, url string) func() *extProc {
		return func() *extProc {
			return startExt(t, "MQTT.js drain "+tag, false, "node", nodeScript("mqttjs_client.js"), "drain", url, tag)
		}
	}
	mqttjsCheck := func(t *testing.T, p *extProc) {
		assertJSON(t, "MQTT.js DISCONNECT", p.event("disconnect"), `{"reasonCode": 139}`)
		assertJSON(t, "MQTT.js close", p.event("close"), `{"gotDisconnect": true}`)
	}
	var clients []client
	for _, ser := range []string{"json", "msgpack", "cbor"} {
		clients = append(clients, client{
			name: "autobahn-python/" + ser,
			start: func() *extProc {
				return startExt(t, "autobahn-python drain "+ser, false, debianPython, pythonScript("autobahn_client.py"), "drain", wsURL(r), ser)
			},
			ready: "joined",
			check: func(t *testing.T, p *extProc) {
				assertJSON(t, "autobahn-python onLeave", p.event("leave"), `{"reason": "wamp.close.system_shutdown"}`)
				p.event("disconnected")
			},
		})
	}
	clients = append(clients,
		client{"MQTT.js/websocket", mqttjs("websocket", wsURL(r)), "connected", mqttjsCheck},
		client{"MQTT.js/mqtt_port", mqttjs("mqtt-port", "mqtt://"+mqttAddr(r)), "connected", mqttjsCheck},
		client{"MQTT.js/universal_port", mqttjs("universal-port", "mqtt://"+httpAddr(r)), "connected", mqttjsCheck},
		client{
			name: "mosquitto_sub/mqttv5",
			start: func() *extProc {
				host, port := mqttHostPort(mqttAddr(r))
				return startExt(t, "mosquitto_sub drain", false, mosquittoSub("-d", "-h", host, "-p", port,
					"-V", "mqttv5", "-i", "sub-drain", "-t", "junction/drain", "-q", "1")...)
			},
			ready: "",
			check: func(t *testing.T, p *extProc) {
				// MQTT 5 DISCONNECT with reason code 0x8B, server shutting down.
				p.expect("Received DISCONNECT (139)", func(l string) bool { return l == "Received DISCONNECT (139)" })
			},
		},
	)

	procs := make([]*extProc, len(clients))
	for i, c := range clients {
		procs[i] = c.start()
	}
	for i, c := range clients {
		if c.ready != "" {
			procs[i].event(c.ready)
		} else {
			procs[i].expect("SUBACK", func(l string) bool { return strings.HasSuffix(l, "received SUBACK") })
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with clients connected: %v, want every client to leave in time", err)
	}
	t.Logf("drained %d clients in %v", len(clients), time.Since(start).Round(time.Millisecond))

	for i, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			procs[i].t = t
			c.check(t, procs[i])
			procs[i].succeed()
		})
	}
}
