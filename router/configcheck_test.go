package router

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// problemTexts returns "path: msg" of each problem, without its source.
func problemTexts(t *testing.T, err error) []string {
	t.Helper()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *ConfigError", err, err)
	}
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("error %v does not wrap ErrConfig", err)
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, p.Path+": "+p.Msg)
	}
	slices.Sort(out)
	return out
}

// TestValidateRefusesWhatNewRefuses: each configuration here is one that
// New (and so `junction serve`) refuses. LoadConfig, which `config check`
// runs, must refuse it with the same problems, found by Validate before
// anything is built.
func TestValidateRefusesWhatNewRefuses(t *testing.T) {
	cert, key, _ := selfSigned(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	realm := "realms:\n  - name: r\n    roles:\n      - name: user\n        permissions:\n          - {uri: a., match: prefix, allow: [publish]}\n"
	cases := []struct{ name, yaml, want string }{
		{"unknown anonymous role", "realms:\n  - name: a\n    anonymous: true\n    anonymous_role: nobody\n", `realms[0].anonymous_role: role "nobody" not defined`},
		{"unknown action", realm + "          - {uri: b, match: exact, allow: [fly]}\n", `realms[0].roles[0].permissions[1].allow[0]: unknown action "fly"`},
		{"bad match and action", realm + "          - {uri: b, match: glob, allow: [fly]}\n", `realms[0].roles[0].permissions[1].allow[0]: unknown action "fly"`},
		{"bad match", realm + "          - {uri: b, match: glob, allow: [call]}\n", `realms[0].roles[0].permissions[1].match: "glob" is not exact, prefix or wildcard`},
		{"duplicate role", realm + "      - name: user\n", `realms[0].roles[1]: role "user" defined twice`},
		{"user of an unknown realm", realm + "auth:\n  users:\n    - {authid: a, realm: nope, role: user}\n", `auth.users[0]: realm "nope" not defined`},
		{"user of an unknown role", realm + "auth:\n  users:\n    - {authid: a, realm: r, role: admin}\n", `auth.users[0].role: role "admin" not in realm "r"`},
		{"bad password hash", realm + "auth:\n  users:\n    - {authid: a, realm: r, role: user, password: plain}\n", `auth.users[0].password: unsupported password hash format`},
		{"bad cryptosign key", realm + "auth:\n  users:\n    - {authid: a, realm: r, role: user, cryptosign_keys: [zz]}\n", `auth.users[0].cryptosign_keys[0]: not an Ed25519 public key`},
		{"throttle without window", "auth:\n  throttle: {max_failures: 3, window: 0s}\n", `auth.throttle.window: 0s: must be positive`},
		{"missing JWT key file", "auth:\n  jwt:\n    key_files: [" + missing + "]\n", `auth.jwt.key_files[0]: "` + missing + `": open`},
		{"negative JWT leeway", "auth:\n  jwt:\n    hmac_secret_files: [" + missing + "]\n    leeway: -1s\n", `auth.jwt.leeway: cannot be negative`},
		{"missing certificate", "http:\n  tls:\n    cert_file: " + missing + "\n    key_file: " + key + "\n", `http.tls.cert_file: open ` + missing},
		{"certificate that is not PEM", "mqtt:\n  tls:\n    cert_file: " + notPEM + "\n    key_file: " + key + "\n", `mqtt.tls: loading TLS certificate`},
		{"client CA that is not PEM", "http:\n  tls:\n    cert_file: " + cert + "\n    key_file: " + key + "\n    client_ca_file: " + notPEM + "\n", `http.tls.client_ca_file: ` + notPEM + ` holds no PEM certificates`},
		{"MQTT queue beyond 32 bits", "limits:\n  mqtt_queue: 3000000000\n", `limits.mqtt_queue: at most 2147483647`},
		{"MQTT inflight beyond the packet ids", "limits:\n  mqtt_inflight: 65536\n", `limits.mqtt_inflight: between 1 and 65535`},
		{"no MQTT inflight", "limits:\n  mqtt_inflight: 0\n", `limits.mqtt_inflight: between 1 and 65535`},
		{"one port for both listeners", "http:\n  listen: 127.0.0.1:7000\nmqtt:\n  listen: :7000\n", `mqtt.listen: ":7000" is http.listen's port too`},
		{"one port, localhost and 127.0.0.1", "http:\n  listen: localhost:7000\nmqtt:\n  listen: 127.0.0.1:7000\n", `mqtt.listen: "127.0.0.1:7000" is http.listen's port too`},
		{"one port, an IPv4-mapped address", "http:\n  listen: \"[::ffff:127.0.0.1]:7000\"\nmqtt:\n  listen: 127.0.0.1:7000\n", `mqtt.listen: "127.0.0.1:7000" is http.listen's port too`},
		{"negative duration", "wamp:\n  ping_interval: -1s\n", `wamp.ping_interval: cannot be negative`},
		{"zero call timeout", "rpc:\n  call_timeout: 0s\n", `rpc.call_timeout: must be positive`},
		{"bad invoke policy", "rpc:\n  invoke: fastest\n", `rpc.invoke: want single`},
		{"bad bridge payload", "bridge:\n  rules:\n    - {mqtt: a/#, payload: xml}\n", `bridge.rules[0].payload: payload "xml" is not auto, raw or json`},
		{"bad bridge topic", "bridge:\n  rules:\n    - {mqtt: a/b}\n    - {wamp: wamp.x.}\n", `bridge.rules[0].mqtt: mqtt "a/b" must be a topic followed by /#, or #`},
		{"two bridge rules, one root", "bridge:\n  rules:\n    - {mqtt: a/#, wamp: x.}\n    - {mqtt: a/#, wamp: y.}\n", `bridge.rules[1]: another rule has the root`},
		{"federation node timeout", "federation:\n  redis: redis://localhost:6379\n  heartbeat: 2s\n  node_timeout: 3s\n", `federation.node_timeout: 3s is less than twice heartbeat (2s)`},
		{"federation node id", "federation:\n  redis: redis://localhost:6379\n  node_id: 'a b'\n", `federation.node_id: `},
		{"federation key prefix", "federation:\n  redis: redis://localhost:6379\n  key_prefix: '{x}'\n", `federation.key_prefix: "{x}" holds braces`},
		{"federation cluster and sentinel", "federation:\n  redis: redis://localhost:6379\n  cluster: true\n  sentinel_master: m\n", `federation.sentinel_master: cluster and sentinel_master: choose one`},
		{"federation bad url", "federation:\n  redis: http://localhost:6379\n", `federation.redis: want a redis:// or rediss:// URL`},
		{"static file, not directory", "http:\n  static: " + notPEM + "\n", `http.static: "` + notPEM + `" is not a directory`},
		{"ws_path net/http cannot parse", "http:\n  ws_path: /ws x\n", `http.ws_path: "/ws x" cannot be served`},
		{"ws_path with a bad wildcard", "http:\n  ws_path: /{\n", `http.ws_path: "/{" cannot be served`},
		{"ws_path where static is", "http:\n  ws_path: /\n  static: " + dir + "\n", `http.ws_path: "/" is where http.static is served`},
		{"ws_path of the health check", "http:\n  ws_path: /healthz\n", `http.ws_path: "/healthz" is served by the router itself`},
		{"bad log format", "log:\n  format: xml\n", `log.format: want text or json`},
		{"bad realm name", "realms:\n  - name: 'a b'\n", `realms[0].name: want a URI`},
		{"duplicate realm", "realms:\n  - name: a\n  - name: a\n", `realms[1].name: realm "a" defined twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := writeConfig(t, tc.yaml)
			cfg, _ := loadConfig(file, nil) // as decoded, problems and all
			_, loadErr := LoadConfig(file, nil)
			if loadErr == nil {
				t.Fatal("LoadConfig (config check) accepted it")
			}
			r, newErr := New(cfg, nil)
			if newErr == nil {
				r.wamp.Close()
				t.Fatal("New (serve) accepted it")
			}
			check, serve := problemTexts(t, loadErr), problemTexts(t, newErr)
			if !reflect.DeepEqual(check, serve) {
				t.Fatalf("config check and serve disagree:\ncheck: %q\nserve: %q", check, serve)
			}
			if !slices.ContainsFunc(check, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Fatalf("problems %q, want one containing %q", check, tc.want)
			}
			// Every problem of a key in the file names its line.
			var ce *ConfigError
			errors.As(loadErr, &ce)
			for _, p := range ce.Problems {
				if !strings.HasPrefix(p.Source, file+":") {
					t.Errorf("problem %q has no line of %s", p, file)
				}
			}
		})
	}
}

// TestConfigCheckNamesEveryProblem: one run reports every bad key, in the
// order of the file, each as FILE:LINE: path: message.
func TestConfigCheckNamesEveryProblem(t *testing.T) {
	file := writeConfig(t, `http:
  listn: ":9000"
  universal: yes
  tls:
    client_certs: sometimes
limits:
  max_message_size: big
  mqtt_queu: 5
  write_timeout: -1s
realms:
  - name: realm1
    anonymous: true
    anonymous_role: guest
    roles:
      - name: anonymous
        permissions:
          - {uri: "", match: prefixx, allow: [publish, fly]}
bridge:
  rules:
    - {mqtt: "devices/#", payload: xml}
`)
	_, err := LoadConfig(file, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v", err)
	}
	want := []string{
		file + `:2: http.listn: unknown key (did you mean listen?)`,
		file + `:3: http.universal: want true or false, got str "yes"`,
		file + `:5: http.tls.client_certs: want optional or required, got "sometimes"`,
		file + `:7: limits.max_message_size: want an integer, got str "big"`,
		file + `:8: limits.mqtt_queu: unknown key (did you mean mqtt_queue?)`,
		file + `:9: limits.write_timeout: must be positive`,
		file + `:13: realms[0].anonymous_role: role "guest" not defined`,
		file + `:17: realms[0].roles[0].permissions[0].match: "prefixx" is not exact, prefix or wildcard`,
		file + `:17: realms[0].roles[0].permissions[0].allow[1]: unknown action "fly" (want publish, subscribe, call or register)`,
		file + `:20: bridge.rules[0].payload: payload "xml" is not auto, raw or json`,
	}
	if got := ce.Lines(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestProblemsNameTheirSource: a value from a variable or a flag is
// reported as such, not at the file's line of the value it replaced.
func TestProblemsNameTheirSource(t *testing.T) {
	file := writeConfig(t, "http:\n  listen: 127.0.0.1:9000\nlimits:\n  wamp_queue: 10\n")
	_, err := LoadConfig(file, []string{"JUNCTION_HTTP_LISTEN=nowhere"}, func(c *Config) { c.Limits.WAMPQueue = -1 })
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v", err)
	}
	want := []string{
		`JUNCTION_HTTP_LISTEN: http.listen: want host:port, got "nowhere"`,
		`command line: limits.wamp_queue: must be positive, got -1`,
	}
	if got := ce.Lines(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestEnvironmentIsStrict(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want []string // lines; nil: accepted
	}{
		{"typo", []string{"JUNCTION_HTTP_LISTN=:1"}, []string{"JUNCTION_HTTP_LISTN: unknown configuration variable (did you mean JUNCTION_HTTP_LISTEN?)"}},
		{"no such key", []string{"JUNCTION_SOMETHING_ELSE=x"}, []string{"JUNCTION_SOMETHING_ELSE: unknown configuration variable"}},
		{"a section, not a key", []string{"JUNCTION_HTTP={listen: ':1'}"}, []string{"JUNCTION_HTTP: unknown configuration variable"}},
		{"wrong type", []string{"JUNCTION_LIMITS_MAX_CONNECTIONS=lots"}, []string{`JUNCTION_LIMITS_MAX_CONNECTIONS: limits.max_connections: want an integer, got str "lots"`}},
		{"bool", []string{"JUNCTION_HTTP_UNIVERSAL=yes"}, []string{`JUNCTION_HTTP_UNIVERSAL: http.universal: want true or false, got str "yes"`}},
		{"empty number", []string{"JUNCTION_LIMITS_WAMP_QUEUE="}, []string{`JUNCTION_LIMITS_WAMP_QUEUE: limits.wamp_queue: empty: want a value (YAML; a list in flow syntax, e.g. [])`}},
		{"list of the wrong kind", []string{"JUNCTION_HTTP_ALLOWED_ORIGINS={a: b}"}, []string{`JUNCTION_HTTP_ALLOWED_ORIGINS: http.allowed_origins: want a list, got a mapping`}},
		{"unknown key inside a list", []string{"JUNCTION_REALMS=[{name: a, anonymus: true}]"}, []string{`JUNCTION_REALMS: realms[0].anonymus: unknown key (did you mean anonymous?)`}},
		{"every problem", []string{"JUNCTION_LOG_LEVL=debug", "JUNCTION_LIMITS_WAMP_QUEUE=x"}, []string{
			"JUNCTION_LOG_LEVL: unknown configuration variable (did you mean JUNCTION_LOG_LEVEL?)",
			`JUNCTION_LIMITS_WAMP_QUEUE: limits.wamp_queue: want an integer, got str "x"`,
		}},
		{"the tests' own variables", []string{"JUNCTION_TEST_LOG=1", "JUNCTION_FLAKY_TESTS=1", "JUNCTION_CONNS_SERVER=x", "PATH=/bin"}, nil},
		{"a string is itself", []string{"JUNCTION_AUTH_JWT_COOKIE=# not a comment: [x]"}, nil},
		{"a list of realms", []string{"JUNCTION_REALMS=[{name: a, anonymous: true, anonymous_role: r, roles: [{name: r, permissions: [{uri: '', match: prefix, allow: [publish]}]}]}]"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig("", tc.env)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "a string is itself" && c.Auth.JWT.Cookie != "# not a comment: [x]" {
					t.Fatalf("cookie %q", c.Auth.JWT.Cookie)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v", err)
			}
			if got := ce.Lines(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestEnvNamesAreDistinct: the mapping from keys to variables is one to one.
func TestEnvNamesAreDistinct(t *testing.T) {
	paths := map[string]string{}
	for _, p := range keyPaths(reflect.TypeFor[Config](), "") {
		if strings.Contains(p, "[]") {
			continue
		}
		name := EnvName(p)
		if other, ok := paths[name]; ok {
			t.Errorf("%s and %s are both %s", p, other, name)
		}
		paths[name] = p
	}
	if EnvName("limits.max_message_size") != "JUNCTION_LIMITS_MAX_MESSAGE_SIZE" {
		t.Fatal(EnvName("limits.max_message_size"))
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"listen", "ws_path", "universal", "allowed_origins", "tls", "static"}
	for _, tc := range []struct{ in, want string }{
		{"listn", "listen"},
		{"lsiten", "listen"}, // a swap is one edit
		{"Listen", "listen"},
		{"wspath", "ws_path"},
		{"allowed_orgins", "allowed_origins"},
		{"tsl", "tls"},
		{"port", ""},
		{"x", ""},
		{"compression", ""},
	} {
		if got := suggest(tc.in, keys); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestSameListener: which two listen addresses would take one port.
func TestSameListener(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{":1883", "127.0.0.1:1883", true},
		{"0.0.0.0:1883", "[::1]:1883", true},
		{"127.0.0.1:1883", "127.0.0.1:1883", true},
		{"localhost:1883", "127.0.0.1:1883", true},
		{"LOCALHOST:1883", "localhost:1883", true},
		{"[::ffff:127.0.0.1]:1883", "127.0.0.1:1883", true},
		{"127.0.0.1:1883", "127.0.0.2:1883", false},
		{"localhost:1883", "[::1]:1883", false},
		{"127.0.0.1:1883", "127.0.0.1:8080", false},
		{":0", ":0", false}, // each gets a port of its own
		{"", ":1883", false},
		{"example.com:1883", "127.0.0.1:1883", false}, // not looked up
	} {
		if got := sameListener(tc.a, tc.b); got != tc.same {
			t.Errorf("sameListener(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
