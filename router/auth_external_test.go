package router

// Authentication and authorization seen through real third-party clients run
// as subprocesses: mosquitto_pub/mosquitto_sub (MQTT 5 and 3.1.1, TCP and
// TLS), MQTT.js over WebSocket, and autobahn-python over WebSocket with every
// WAMP authentication method. The router is secure_test.go's fixture; the
// helpers that run the clients are external_test.go's. Each assertion is on
// what the client itself reports: mosquitto's -d packet log and messages,
// MQTT.js's CONNACK and errors, autobahn's WELCOME details, ABORT reason and
// ApplicationError URIs.
//
// The scripts: testdata/autobahn_auth.py and testdata/node/mqttjs_auth.js.

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// authExtCryptosignErr reports whether Debian's autobahn can do cryptosign,
// which needs python3-nacl.
var authExtCryptosignErr = sync.OnceValue(func() error {
	out, err := exec.Command(debianPython, "-c",
		"import nacl; from autobahn.wamp.cryptosign import HAS_CRYPTOSIGN; assert HAS_CRYPTOSIGN, 'no cryptosign'").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s cannot use autobahn's cryptosign (python3-nacl): %v\n%s", debianPython, err, out)
	}
	return nil
})

// --- mosquitto ----------------------------------------------------------------

// authExtMosquitto runs mosquitto_pub or mosquitto_sub (tool) with -d against
// addr and waits for it to exit; it returns the process, whose stdout lines
// can still be read in order (authExtLine), and its exit code.
func authExtMosquitto(t *testing.T, tool, addr, version, id string, args ...string) (*extProc, int) {
	t.Helper()
	host, port := mqttHostPort(addr)
	argv := append([]string{tool, "-d", "-h", host, "-p", port, "-V", version, "-i", id}, args...)
	if tool == "mosquitto_sub" {
		argv = mosquittoSub(argv[1:]...)
	}
	p := startExt(t, tool+" "+id, false, argv...)
	err := p.wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return p, 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return p, exit.ExitCode()
	default:
		p.fatalf("did not exit by itself: %v", err)
		return nil, 0
	}
}

// authExtLine reads p's stdout lines until one is exactly line.
func authExtLine(p *extProc, line string) {
	p.t.Helper()
	p.expect(fmt.Sprintf("%q", line), func(l string) bool { return l == line })
}

// authExtPrinted reports whether p wrote s anywhere in its output.
func authExtPrinted(p *extProc, s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.transcript {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// authExtStderr checks that p wrote line to stderr.
func authExtStderr(p *extProc, line string) {
	p.t.Helper()
	p.mu.Lock()
	found := false
	for _, l := range p.transcript {
		if l == "err| "+line {
			found = true
			break
		}
	}
	p.mu.Unlock()
	if !found {
		p.fatalf("no %q on stderr", line)
	}
}

// mosquitto prints the CONNACK's code and the message of the CONNACK's code;
// refusals by MQTT 5 reason code (0x86, 134) and 3.1.1 return code 4.
var authExtBadLogin = map[string]struct {
	code    int
	message string
}{
	"mqttv5":   {134, "Connection error: Bad User Name or Password"},
	"mqttv311": {4, "Connection error: Connection Refused: bad user name or password."},
}

// authExtNotAuthorized is the SUBACK code of a refused filter: MQTT 5 0x87
// (not authorized), MQTT 3.1.1 0x80 (failure).
var authExtNotAuthorized = map[string]int{"mqttv5": 0x87, "mqttv311": 0x80}

// TestAuthExternalMosquitto logs mosquitto_pub and mosquitto_sub in over
// plain TCP, on the MQTT port and the universal port, with MQTT 5 and 3.1.1:
// a right -u/-P gets CONNACK 0 and its publish PUBACK RC:0; a wrong password
// or an unknown user gets CONNACK 134 (v5, 0x86) or 4 (3.1.1) and mosquitto's
// "bad user name or password" error, and nothing is published; a SUBSCRIBE
// with an allowed and a forbidden filter is granted "1, 135" (v5) or "1, 128"
// (3.1.1), and one with only a forbidden filter makes mosquitto_sub give up;
// an MQTT 5 QoS 1 publish to a forbidden topic gets PUBACK RC:135.
func TestAuthExternalMosquitto(t *testing.T) {
	requireMosquitto(t)
	f := newSecureFixture(t, nil)
	ports := []struct{ name, addr string }{{"mqtt_port", mqttAddr(f.r)}, {"universal_port", httpAddr(f.r)}}
	for _, port := range ports {
		for _, v := range []string{"mqttv5", "mqttv311"} {
			tag := strings.ReplaceAll(port.name, "_", "-") + "-" + v
			t.Run(port.name+"/"+v, func(t *testing.T) {
				t.Parallel()
				t.Run("login accepted", func(t *testing.T) {
					t.Parallel()
					id := "good-" + tag
					p, code := authExtMosquitto(t, "mosquitto_pub", port.addr, v, id,
						"-u", "alice", "-P", "alice-pw", "-q", "1", "-t", "public/chat", "-m", "hello")
					authExtLine(p, "Client "+id+" received CONNACK (0)")
					authExtLine(p, "Client "+id+" received PUBACK (Mid: 1, RC:0)")
					if code != 0 {
						p.fatalf("exit code %d, want 0", code)
					}
				})
				t.Run("wrong password refused", func(t *testing.T) {
					t.Parallel()
					id := "bad-" + tag
					p, code := authExtMosquitto(t, "mosquitto_pub", port.addr, v, id,
						"-u", "alice", "-P", "not-alice-pw", "-q", "1", "-t", "public/chat", "-m", "x")
					want := authExtBadLogin[v]
					authExtLine(p, fmt.Sprintf("Client %s received CONNACK (%d)", id, want.code))
					authExtStderr(p, want.message)
					if code == 0 {
						p.fatalf("exit code 0 after a refused login")
					}
					if authExtPrinted(p, "sending PUBLISH") {
						p.fatalf("published after a refused login")
					}
				})
				t.Run("unknown user refused", func(t *testing.T) {
					t.Parallel()
					id := "mallory-" + tag
					p, code := authExtMosquitto(t, "mosquitto_sub", port.addr, v, id,
						"-u", "mallory", "-P", "mallory-pw", "-q", "1", "-t", "public/news")
					want := authExtBadLogin[v]
					authExtLine(p, fmt.Sprintf("Client %s received CONNACK (%d)", id, want.code))
					authExtStderr(p, want.message)
					if code == 0 {
						p.fatalf("exit code 0 after a refused login")
					}
				})
				t.Run("subscribe to a forbidden filter", func(t *testing.T) {
					t.Parallel()
					// One SUBSCRIBE, two filters: alice (browser) may read
					// the devices' temperatures, not internal/.
					id := "sub-" + tag
					p, code := authExtMosquitto(t, "mosquitto_sub", port.addr, v, id,
						"-u", "alice", "-P", "alice-pw", "-q", "1",
						"-t", "devices/+/temp", "-t", "internal/secrets", "-E")
					authExtLine(p, "Client "+id+" received SUBACK")
					authExtLine(p, fmt.Sprintf("Subscribed (mid: 1): 1, %d", authExtNotAuthorized[v]))
					if code != 0 {
						p.fatalf("exit code %d, want 0 (-E: exit once subscribed)", code)
					}
					// Only a refused filter: mosquitto_sub gives up.
					id = "sub-denied-" + tag
					p, _ = authExtMosquitto(t, "mosquitto_sub", port.addr, v, id,
						"-u", "alice", "-P", "alice-pw", "-q", "1", "-t", "#")
					authExtLine(p, fmt.Sprintf("Subscribed (mid: 1): %d", authExtNotAuthorized[v]))
					authExtStderr(p, "All subscription requests were denied.")
				})
				if v == "mqttv5" {
					t.Run("publish to a forbidden topic", func(t *testing.T) {
						t.Parallel()
						// A browser may send a device commands, not readings.
						id := "pub-denied-" + tag
						p, code := authExtMosquitto(t, "mosquitto_pub", port.addr, v, id,
							"-u", "alice", "-P", "alice-pw", "-q", "1", "-t", "devices/sensor-1/temp", "-m", "spoofed")
						authExtLine(p, "Client "+id+" received CONNACK (0)")
						authExtLine(p, "Client "+id+" received PUBACK (Mid: 1, RC:135)")
						authExtStderr(p, "Warning: Publish 1 failed: Not authorized.")
						if code != 0 {
							p.fatalf("exit code %d, want 0", code)
						}
					})
				}
			})
		}
	}
}

// TestAuthExternalMosquittoRefusedPublishNotDelivered: MQTT 3.1.1 has no
// reason codes in PUBACK, so a refused QoS 1 publish is acknowledged like any
// other; it must still reach no subscriber. backend, allowed everything,
// watches '#': sensor-1 (-u/-P, its password an argon2id hash) publishes to
// another device's topic with 3.1.1 and with 5, then an allowed marker, and
// the marker must be the first message backend gets. Its own router: a
// watcher on '#' would see other tests.
func TestAuthExternalMosquittoRefusedPublishNotDelivered(t *testing.T) {
	requireMosquitto(t)
	f := newSecureFixture(t, nil)
	for _, port := range []struct{ name, addr string }{{"mqtt_port", mqttAddr(f.r)}, {"universal_port", httpAddr(f.r)}} {
		t.Run(port.name, func(t *testing.T) {
			host, p := mqttHostPort(port.addr)
			watchID := "watch-" + strings.ReplaceAll(port.name, "_", "-")
			watch := startExt(t, "mosquitto_sub "+watchID, false, mosquittoSub("-d", "-h", host, "-p", p, "-V", "mqttv5",
				"-i", watchID, "-u", "backend", "-P", "backend-pw", "-q", "1", "-t", "#", "-C", "1", "-F", mosquittoFormat)...)
			authExtLine(watch, "Client "+watchID+" received SUBACK")
			authExtLine(watch, "Subscribed (mid: 1): 1")

			login := []string{"-u", "sensor-1", "-P", "sensor-1-pw", "-q", "1"}
			v3, _ := authExtMosquitto(t, "mosquitto_pub", port.addr, "mqttv311", "refused-v3",
				append(login, "-t", "devices/sensor-9/temp", "-m", "refused 3.1.1")...)
			authExtLine(v3, "Client refused-v3 received PUBACK (Mid: 1, RC:0)") // acknowledged all the same
			v5, _ := authExtMosquitto(t, "mosquitto_pub", port.addr, "mqttv5", "refused-v5",
				append(login, "-t", "devices/sensor-9/temp", "-m", "refused 5")...)
			authExtLine(v5, "Client refused-v5 received PUBACK (Mid: 1, RC:135)")
			ok, _ := authExtMosquitto(t, "mosquitto_pub", port.addr, "mqttv311", "marker-v3",
				append(login, "-t", "devices/sensor-1/marker", "-m", "marker")...)
			authExtLine(ok, "Client marker-v3 received PUBACK (Mid: 1, RC:0)")

			if got, want := mosquittoMessage(watch), "devices/sensor-1/marker|1|0|||marker"; got != want {
				watch.fatalf("backend on '#' got %q first, want the marker %q: a refused publish was delivered", got, want)
			}
			watch.succeed()
		})
	}
}

// TestAuthExternalMosquittoTLS: mosquitto over TLS on both ports, trusting
// the fixture's CA (--cafile). A password works as over TCP (CONNACK 0, or
// 134/4 when wrong); sensor-2's client certificate (--cert/--key), with no
// username, is the identity: its own topics are allowed (PUBACK RC:0, SUBACK
// 1), another device's refused (PUBACK RC:135, SUBACK 135/128); TLS without a
// certificate or username is an anonymous guest (PUBACK RC:135).
func TestAuthExternalMosquittoTLS(t *testing.T) {
	requireMosquitto(t)
	f := newSecureFixture(t, withTLS)
	ca := []string{"--cafile", filepath.Join(f.dir, "ca.pem")}
	cert := append(ca[:2:2], "--cert", filepath.Join(f.dir, "sensor-2.pem"), "--key", filepath.Join(f.dir, "sensor-2-key.pem"))
	pub := func(args []string, topic string) []string {
		return append(args[:len(args):len(args)], "-q", "1", "-t", topic, "-m", "x")
	}
	for _, port := range []struct{ name, addr string }{{"mqtt_port", mqttAddr(f.r)}, {"universal_port", httpAddr(f.r)}} {
		tag := strings.ReplaceAll(port.name, "_", "-")
		t.Run(port.name, func(t *testing.T) {
			t.Run("cafile and password", func(t *testing.T) {
				t.Parallel()
				for _, v := range []string{"mqttv5", "mqttv311"} {
					id := "tls-alice-" + v + "-" + tag
					p, code := authExtMosquitto(t, "mosquitto_pub", port.addr, v, id,
						pub(append(ca, "-u", "alice", "-P", "alice-pw"), "public/chat")...)
					authExtLine(p, "Client "+id+" received CONNACK (0)")
					authExtLine(p, "Client "+id+" received PUBACK (Mid: 1, RC:0)")
					if code != 0 {
						p.fatalf("exit code %d", code)
					}
					id = "tls-bad-" + v + "-" + tag
					p, _ = authExtMosquitto(t, "mosquitto_pub", port.addr, v, id,
						pub(append(ca, "-u", "alice", "-P", "wrong"), "public/chat")...)
					authExtLine(p, fmt.Sprintf("Client %s received CONNACK (%d)", id, authExtBadLogin[v].code))
					authExtStderr(p, authExtBadLogin[v].message)
				}
			})
			t.Run("client certificate of sensor-2", func(t *testing.T) {
				t.Parallel()
				// No username: the certificate is the identity, and
				// sensor-2's device role applies.
				id := "tls-cert-own-" + tag
				p, code := authExtMosquitto(t, "mosquitto_pub", port.addr, "mqttv5", id, pub(cert, "devices/sensor-2/temp")...)
				authExtLine(p, "Client "+id+" received CONNACK (0)")
				authExtLine(p, "Client "+id+" received PUBACK (Mid: 1, RC:0)")
				if code != 0 {
					p.fatalf("exit code %d", code)
				}
				id = "tls-cert-other-" + tag
				p, _ = authExtMosquitto(t, "mosquitto_pub", port.addr, "mqttv5", id, pub(cert, "devices/sensor-1/temp")...)
				authExtLine(p, "Client "+id+" received CONNACK (0)")
				authExtLine(p, "Client "+id+" received PUBACK (Mid: 1, RC:135)")
				for _, v := range []string{"mqttv5", "mqttv311"} {
					id = "tls-cert-sub-" + v + "-" + tag
					p, _ = authExtMosquitto(t, "mosquitto_sub", port.addr, v, id,
						append(cert, "-q", "1", "-t", "devices/sensor-2/cmd", "-t", "devices/sensor-1/cmd", "-E")...)
					authExtLine(p, "Client "+id+" received CONNACK (0)")
					authExtLine(p, fmt.Sprintf("Subscribed (mid: 1): 1, %d", authExtNotAuthorized[v]))
				}
			})
			t.Run("no certificate is anonymous", func(t *testing.T) {
				t.Parallel()
				// TLS without a certificate or username: a guest, who may
				// not publish to sensor-2's topics.
				id := "tls-anon-" + tag
				p, _ := authExtMosquitto(t, "mosquitto_pub", port.addr, "mqttv5", id, pub(ca, "devices/sensor-2/temp")...)
				authExtLine(p, "Client "+id+" received CONNACK (0)")
				authExtLine(p, "Client "+id+" received PUBACK (Mid: 1, RC:135)")
			})
		})
	}
}

// --- MQTT.js ------------------------------------------------------------------

// authExtAllEvents reads the JSON lines {"event": ...} of p in order until it
// exits, each within extStepTimeout, failing on {"event": "error"}.
func authExtAllEvents(p *extProc) []map[string]any {
	p.t.Helper()
	var got []map[string]any
	timer := time.NewTimer(extStepTimeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return got
			}
			var m map[string]any
			if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &m) != nil || m["event"] == nil {
				continue // a library's own logging
			}
			if m["event"] == "error" {
				p.fatalf("reported an error: %v", m["error"])
			}
			got = append(got, m)
			timer.Reset(extStepTimeout)
		case <-timer.C:
			p.fatalf("timed out after %v waiting for its next line or its exit", extStepTimeout)
		}
	}
}

// authExtExpectEvents reads every event of p until it exits and checks them
// against want, JSON objects in order: the same events, each with at least
// the keys and values of its object.
func authExtExpectEvents(p *extProc, want []string) []map[string]any {
	p.t.Helper()
	got := authExtAllEvents(p)
	var names, wantNames []string
	for _, m := range got {
		names = append(names, fmt.Sprint(m["event"]))
	}
	for _, w := range want {
		var m map[string]any
		if err := json.Unmarshal([]byte(w), &m); err != nil {
			p.t.Fatalf("bad expectation %s: %v", w, err)
		}
		wantNames = append(wantNames, fmt.Sprint(m["event"]))
	}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		p.fatalf("events %q, want %q", names, wantNames)
	}
	for i, w := range want {
		assertJSON(p.t, p.name, got[i], w)
	}
	return got
}

// TestAuthExternalMQTTjs logs MQTT.js in over WebSocket: with a username
// and password (MQTT 5 and 3.1.1) and with a JWT as the password, then checks
// the identity's permissions through MQTT.js's PUBACK and SUBACK results. A
// refused login is MQTT.js's connect error with code 134 (0x86, v5) or 4
// (3.1.1).
func TestAuthExternalMQTTjs(t *testing.T) {
	requireNode(t)
	f := newSecureFixture(t, nil)
	jwt9 := f.token(t, "sensor-9", "device", "realm1", nil)
	expired := f.token(t, "sensor-9", "device", "realm1", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
	cases := []struct {
		name, version, user, password string
		actions                       []string
		want                          []string // JSON objects each event must match, in order
	}{
		{"v5 password", "5", "alice", "alice-pw",
			[]string{"pub:public/chat", "pub:devices/sensor-1/temp", "sub:devices/+/temp", "sub:#"},
			[]string{`{"event": "connected", "reasonCode": 0}`,
				`{"event": "puback", "topic": "public/chat", "reasonCode": 0, "error": null}`,
				`{"event": "puback", "topic": "devices/sensor-1/temp", "code": 135, "error": "Publish error: Not authorized"}`,
				`{"event": "suback", "topic": "devices/+/temp", "reasonCodes": [1], "error": null}`,
				`{"event": "suback", "topic": "#", "reasonCodes": [135]}`,
				`{"event": "done"}`}},
		{"v3.1.1 password", "4", "alice", "alice-pw",
			[]string{"sub:devices/+/temp", "sub:#"},
			[]string{`{"event": "connected", "returnCode": 0}`,
				`{"event": "suback", "topic": "devices/+/temp", "reasonCodes": [1], "error": null}`,
				`{"event": "suback", "topic": "#", "reasonCodes": [128]}`,
				`{"event": "done"}`}},
		// The token's subject, sensor-9, is the identity, whatever the
		// username: its own device topics only.
		{"v5 jwt as password", "5", "jwt", jwt9,
			[]string{"pub:devices/sensor-9/temp", "pub:devices/sensor-1/temp"},
			[]string{`{"event": "connected", "reasonCode": 0}`,
				`{"event": "puback", "topic": "devices/sensor-9/temp", "reasonCode": 0, "error": null}`,
				`{"event": "puback", "topic": "devices/sensor-1/temp", "code": 135}`,
				`{"event": "done"}`}},
		{"v5 wrong password", "5", "alice", "not-alice-pw", nil,
			[]string{`{"event": "refused", "code": 134, "message": "Connection refused: Bad User Name or Password"}`, `{"event": "done"}`}},
		{"v5 unknown user", "5", "mallory", "mallory-pw", nil,
			[]string{`{"event": "refused", "code": 134}`, `{"event": "done"}`}},
		{"v5 expired jwt", "5", "jwt", expired, nil,
			[]string{`{"event": "refused", "code": 134}`, `{"event": "done"}`}},
		{"v3.1.1 wrong password", "4", "alice", "not-alice-pw", nil,
			[]string{`{"event": "refused", "code": 4, "message": "Connection refused: Bad username or password"}`, `{"event": "done"}`}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"node", nodeScript("mqttjs_auth.js"), wsURL(f.r), tc.version,
				fmt.Sprintf("mqttjs-auth-%d", i), tc.user, tc.password}, tc.actions...)
			p := startExt(t, "MQTT.js "+tc.name, false, args...)
			authExtExpectEvents(p, tc.want)
			p.succeed()
		})
	}
}

// --- autobahn-python ------------------------------------------------------------

// TestAuthExternalAutobahnPython joins with autobahn-python over WebSocket by
// ticket (a password, and a JWT as the ticket), wampcra (the key derived
// with the CHALLENGE's salt, iterations and keylen), cryptosign (a
// CryptosignKey from the raw seed) and anonymously, and checks the WELCOME's
// authid, authrole and authmethod; then that actions outside the role raise
// ApplicationError wamp.error.not_authorized while the session stays up, and
// actions inside it succeed. Refused logins end in onLeave with ABORT
// wamp.error.authentication_failed and no onJoin.
func TestAuthExternalAutobahnPython(t *testing.T) {
	requirePython(t)
	requireDep(t, authExtCryptosignErr())
	f := newSecureFixture(t, nil)
	notAuthorized := func(action, uri string) string {
		return fmt.Sprintf(`{"event": "action", "action": %q, "uri": %q, "ok": false, "error": "wamp.error.not_authorized"}`, action, uri)
	}
	allowed := func(action, uri string) string {
		return fmt.Sprintf(`{"event": "action", "action": %q, "uri": %q, "ok": true, "error": null}`, action, uri)
	}
	joined := func(authid, role, method string) string {
		return fmt.Sprintf(`{"event": "joined", "realm": "realm1", "authid": %q, "authrole": %q, "authmethod": %q}`, authid, role, method)
	}
	const goodbye = `{"event": "leave", "reason": "wamp.close.goodbye_and_out"}`
	const refused = `{"event": "leave", "reason": "wamp.error.authentication_failed"}`
	challenge := func(method string) string { return fmt.Sprintf(`{"event": "challenge", "method": %q}`, method) }

	cases := []struct {
		name, realm, method, authid, secret string
		actions                             []string
		want                                []string // JSON objects each event must match, in order
		check                               func(t *testing.T, events []map[string]any)
	}{
		{"ticket password", "realm1", "ticket", "alice", "alice-pw",
			[]string{"publish:public.chat", "publish:devices.sensor-1.temp", "call:com.acme.nobody.home", "call:internal.admin.reset"},
			[]string{challenge("ticket"), joined("alice", "browser", "ticket"),
				allowed("publish", "public.chat"),
				notAuthorized("publish", "devices.sensor-1.temp"),
				// Allowed to call it, but nobody registered it.
				`{"event": "action", "uri": "com.acme.nobody.home", "ok": false, "error": "wamp.error.no_such_procedure"}`,
				notAuthorized("call", "internal.admin.reset"),
				goodbye}, nil},
		{"ticket jwt", "realm1", "ticket", "-", f.token(t, "browser-7", "browser", "realm1", nil),
			[]string{"publish:public.chat", "subscribe:devices.sensor-1.temp", "publish:devices.sensor-1.temp"},
			[]string{challenge("ticket"), joined("browser-7", "browser", "ticket"),
				allowed("publish", "public.chat"), allowed("subscribe", "devices.sensor-1.temp"),
				notAuthorized("publish", "devices.sensor-1.temp"), goodbye}, nil},
		{"wampcra", "realm1", "wampcra", "sensor-1", f.craSecret,
			[]string{"register:com.acme.device.sensor-1.toggle", "register:com.acme.device.sensor-9.toggle",
				"subscribe:devices.sensor-9.temp", "call:com.acme.device.sensor-1.toggle"},
			[]string{
				// The key is salted: autobahn derives it from what the
				// challenge says.
				challenge("wampcra"),
				joined("sensor-1", "device", "wampcra"),
				allowed("register", "com.acme.device.sensor-1.toggle"),
				notAuthorized("register", "com.acme.device.sensor-9.toggle"),
				notAuthorized("subscribe", "devices.sensor-9.temp"),
				notAuthorized("call", "com.acme.device.sensor-1.toggle"), // devices may not call
				goodbye},
			func(t *testing.T, events []map[string]any) {
				extra, _ := events[0]["extra"].(map[string]any)
				if salt, _ := extra["salt"].(string); salt == "" || extra["iterations"] != 1000.0 || extra["keylen"] != 32.0 {
					t.Errorf("wampcra CHALLENGE extra %v, want a salt, iterations 1000, keylen 32", extra)
				}
			}},
		{"cryptosign", "realm1", "cryptosign", "sensor-1", hex.EncodeToString(f.signKey.Seed()),
			[]string{"publish:devices.sensor-1.temp", "publish:devices.sensor-9.temp"},
			[]string{challenge("cryptosign"), joined("sensor-1", "device", "cryptosign"),
				allowed("publish", "devices.sensor-1.temp"), notAuthorized("publish", "devices.sensor-9.temp"), goodbye}, nil},
		{"anonymous", "realm1", "anonymous", "-", "-",
			[]string{"subscribe:public.news", "publish:public.chat", "subscribe:devices.sensor-1.temp"},
			[]string{`{"event": "joined", "realm": "realm1", "authrole": "guest", "authmethod": "anonymous"}`,
				allowed("subscribe", "public.news"), notAuthorized("publish", "public.chat"),
				notAuthorized("subscribe", "devices.sensor-1.temp"), goodbye},
			func(t *testing.T, events []map[string]any) {
				if id, _ := events[0]["authid"].(string); !strings.HasPrefix(id, "anonymous-") {
					t.Errorf("anonymous authid %q, want anonymous-*", id)
				}
			}},
		{"wrong ticket", "realm1", "ticket", "alice", "not-alice-pw", []string{"publish:public.chat"},
			[]string{challenge("ticket"), refused}, nil},
		{"expired jwt ticket", "realm1", "ticket", "-",
			f.token(t, "browser-7", "browser", "realm1", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), nil,
			[]string{challenge("ticket"), refused}, nil},
		{"wampcra wrong secret", "realm1", "wampcra", "sensor-1", "not-the-cra-secret", nil,
			[]string{challenge("wampcra"), refused}, nil},
		{"cryptosign unknown key", "realm1", "cryptosign", "sensor-1", hex.EncodeToString(f.otherKey.Seed()), nil,
			[]string{challenge("cryptosign"), refused}, nil},
		{"anonymous in a locked realm", "locked", "anonymous", "-", "-", nil,
			[]string{`{"event": "leave", "reason": "wamp.error.not_authorized"}`}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{debianPython, pythonScript("autobahn_auth.py"), wsURL(f.r), tc.realm, tc.method, tc.authid, tc.secret}, tc.actions...)
			p := startExt(t, "autobahn-python "+tc.name, false, args...)
			got := authExtExpectEvents(p, tc.want)
			if tc.check != nil {
				tc.check(t, got)
			}
			p.succeed()
		})
	}
}
