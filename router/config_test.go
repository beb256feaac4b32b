package router

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("embedded default is invalid: %v", err)
	}
	checks := map[string]bool{
		"realm realm1 with anonymous access": len(c.Realms) == 1 && c.Realms[0].Name == "realm1" && c.Realms[0].Anonymous,
		"HTTP and WebSocket on :8080 at /ws": c.HTTP.Listen == ":8080" && c.HTTP.WSPath == "/ws",
		"MQTT over TCP on :1883":             c.MQTT.Listen == ":1883",
		"1 MiB messages":                     c.Limits.MaxMessageSize == 1<<20,
		"universal port on":                  c.HTTP.Universal,
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("default config: want %s", what)
		}
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "junction.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown top-level key", "htp:\n  listen: :1\n", "junction.yaml:1: htp: unknown key (did you mean http?)"},
		{"unknown nested key", "limits:\n  max_msg_size: 10\n", "junction.yaml:2: limits.max_msg_size: unknown key (did you mean max_message_size?)"},
		{"unknown key in a list item", "realms:\n  - name: a\n    anonymus: true\n", "junction.yaml:3: realms[0].anonymus: unknown key (did you mean anonymous?)"},
		{"key of another section", "http:\n  max_connections: 10\n", "junction.yaml:2: http.max_connections: unknown key here (max_connections is known as limits.max_connections)"},
		{"unknown key in a pointer", "auth:\n  users:\n    - authid: a\n      cra: {key: k, salt: s, iterations: 1, keylen: 1, extra: 1}\n", "junction.yaml:4: auth.users[0].cra.extra: unknown key"},
		{"key twice", "log:\n  level: info\n  level: debug\n", "junction.yaml:3: log.level: defined twice (first at line 2)"},
		{"string for an int", "limits:\n  max_message_size: big\n", `junction.yaml:2: limits.max_message_size: want an integer, got str "big"`},
		{"int too large", "limits:\n  max_message_size: 99999999999999999999\n", `junction.yaml:2: limits.max_message_size: want an integer, got float`},
		{"string for a number", "http:\n  accept_rate: {rate: fast}\n", `junction.yaml:2: http.accept_rate.rate: want a number, got str "fast"`},
		{"int for a bool", "http:\n  universal: 1\n", "junction.yaml:2: http.universal: want true or false"},
		{"bad duration", "limits:\n  write_timeout: soon\n", "junction.yaml:2: limits.write_timeout: want a duration"},
		{"number for a duration", "limits:\n  write_timeout: 10\n", "junction.yaml:2: limits.write_timeout: want a duration"},
		{"mapping for a string", "mqtt:\n  listen:\n    a: b\n", "junction.yaml:2: mqtt.listen: want a string, got a mapping"},
		{"not YAML", "limits: [\n", "junction.yaml:1: not YAML: did not find expected node content"},
		{"bad address", "http:\n  listen: localhost\n", `junction.yaml:2: http.listen: want host:port, got "localhost"`},
		{"bad port", "mqtt:\n  listen: :99999\n", "mqtt.listen: want host:port"},
		{"bad log level", "log:\n  level: loud\n", "log.level: want debug, info, warn or error"},
		{"no realms", "realms: []\n", "realms: at least one realm is required"},
		{"rule that neither allows nor denies", "realms:\n  - name: a\n    roles:\n      - name: r\n        permissions:\n          - uri: x\n            match: exact\n", "realms[0].roles[0].permissions[0]: neither allow nor deny"},
		{"rule that allows and denies an action", "realms:\n  - name: a\n    roles:\n      - name: r\n        permissions:\n          - uri: x\n            match: exact\n            allow: [publish]\n            deny: [publish]\n", `realms[0].roles[0].permissions[0].deny[0]: "publish" is also in allow`},
		{"bad realm", "realms:\n  - name: 'a..b'\n", "realms[0].name: want a URI"},
		{"duplicate realm", "realms:\n  - name: a\n  - name: a\n", `realms[1].name: realm "a" defined twice`},
		{"negative size", "limits:\n  max_message_size: -1\n", "limits.max_message_size: must be positive"},
		{"buffer below message size", "limits:\n  mqtt_write_buffer: 10\n", "limits.mqtt_write_buffer: must hold one message"},
		{"half a TLS pair", "http:\n  tls:\n    cert_file: a.pem\n", "http.tls: cert_file and key_file go together"},
		{"ws path", "http:\n  ws_path: ws\n", "http.ws_path: must start with /"},
		// What the router builds from the file is checked too, so that
		// `config check` refuses what `serve` would.
		{"unknown anonymous role", "realms:\n  - name: a\n    anonymous: true\n    anonymous_role: nobody\n", `realms[0].anonymous_role: role "nobody" not defined`},
		{"anonymous without a role", "realms:\n  - name: a\n    anonymous: true\n", `junction.yaml:3: realms[0].anonymous: true needs anonymous_role`},
		{"unknown action", "realms:\n  - name: a\n    roles:\n      - name: r\n        permissions:\n          - {uri: x, match: exact, allow: [fly]}\n", `realms[0].roles[0].permissions[0].allow[0]: unknown action "fly"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tc.yaml), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfigOverlaysDefaults(t *testing.T) {
	p := writeConfig(t, `
http:
  listen: 127.0.0.1:9000
limits:
  write_timeout: 3s
realms:
  - name: com.example.app
    anonymous: false
`)
	c, err := LoadConfig(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:9000" || c.HTTP.WSPath != "/ws" || c.MQTT.Listen != ":1883" {
		t.Fatalf("overlay: %+v %+v", c.HTTP, c.MQTT)
	}
	if c.Limits.WriteTimeout.D() != 3*time.Second || c.Limits.MaxMessageSize != 1<<20 {
		t.Fatalf("limits: %+v", c.Limits)
	}
	if len(c.Realms) != 1 || c.Realms[0].Name != "com.example.app" || c.Realms[0].Anonymous {
		t.Fatalf("realms: %+v", c.Realms)
	}
}

func TestEnvironmentOverridesSingleKeys(t *testing.T) {
	p := writeConfig(t, "http:\n  listen: 127.0.0.1:9000\n")
	env := []string{
		"PATH=/bin",
		"JUNCTION_HTTP_LISTEN=127.0.0.1:9100",
		"JUNCTION_MQTT_LISTEN=",
		"JUNCTION_LIMITS_MAX_MESSAGE_SIZE=65536",
		"JUNCTION_LIMITS_MQTT_WRITE_BUFFER=65536",
		"JUNCTION_SHUTDOWN_DRAIN_TIMEOUT=2s",
		`JUNCTION_HTTP_ALLOWED_ORIGINS=["https://a.example", "https://*.b.example"]`,
		"JUNCTION_LOG_FORMAT=json",
		"JUNCTION_TEST_LOG=1", // the tests' own variables are not configuration
	}
	c, err := LoadConfig(p, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:9100" || c.MQTT.Listen != "" || c.Limits.MaxMessageSize != 65536 ||
		c.Shutdown.DrainTimeout.D() != 2*time.Second || len(c.HTTP.AllowedOrigins) != 2 || c.Log.Format != "json" {
		t.Fatalf("environment not applied: %+v", c)
	}
	_, err = LoadConfig("", []string{"JUNCTION_LIMITS_MAX_CONNECTIONS=lots"})
	if err == nil || !strings.Contains(err.Error(), "JUNCTION_LIMITS_MAX_CONNECTIONS") || !strings.Contains(err.Error(), "limits.max_connections") {
		t.Fatalf("bad variable: %v", err)
	}
}

func TestDefaultYAMLIsComplete(t *testing.T) {
	// Every configuration key appears in the documented default, so that
	// `junction config default` documents everything.
	leaves := map[string]leaf{}
	collectLeaves(reflect.TypeFor[Config](), "", leaves)
	for _, l := range leaves {
		key := l.path[strings.LastIndex(l.path, ".")+1:]
		if !bytes.Contains(DefaultYAML, []byte(key+":")) {
			t.Errorf("default.yaml does not mention %s", l.path)
		}
	}
}

func FuzzConfig(f *testing.F) {
	f.Add(DefaultYAML)
	f.Add([]byte("limits:\n  max_message_size: 10\n"))
	f.Add([]byte("realms:\n  - name: a\n    anonymous: yes\n"))
	f.Add([]byte("http: &a\n  listen: *a\n"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Config
		if err := decodeStrict(b, &c); err != nil {
			return
		}
		_ = c.Validate() // must not panic, whatever it decoded
	})
}

func TestFederationRedisURL(t *testing.T) {
	for _, tc := range []struct {
		url               string
		addrs, user, pass string
		db                int
		tls               bool
		wantErr           string
	}{
		{url: "redis://localhost:6379", addrs: "[localhost:6379]"},
		{url: "rediss://app:s3cret@redis.example.com:6380/2", addrs: "[redis.example.com:6380]", user: "app", pass: "s3cret", db: 2, tls: true},
		{url: "redis://s3cret@10.0.0.5:6379", addrs: "[10.0.0.5:6379]", pass: "s3cret"},
		{url: "redis://:s3cret@10.0.0.5:6379", addrs: "[10.0.0.5:6379]", pass: "s3cret"},
		{url: "http://localhost:6379", wantErr: "redis:// or rediss://"},
		{url: "redis://localhost", wantErr: "host:port"},
		{url: "redis://localhost:6379/x", wantErr: "not a number"},
	} {
		c, err := FedConfig{Redis: tc.url}.linkConfig()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one about %q", tc.url, err, tc.wantErr)
			}
			continue
		}
		if err != nil || fmt.Sprint(c.Addrs) != tc.addrs || c.Username != tc.user || c.Password != tc.pass ||
			c.DB != tc.db || (c.TLS != nil) != tc.tls {
			t.Errorf("%s: %v addrs %v user %q password %q db %d tls %v", tc.url, err, c.Addrs, c.Username, c.Password, c.DB, c.TLS != nil)
		}
	}
	// Cluster options without a Redis: refused, not ignored.
	cfg := DefaultConfig()
	cfg.Fed.Cluster = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "federation.redis") {
		t.Fatalf("cluster without redis: %v", err)
	}
}
