package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"

	"github.com/junctionmq/junction/router"
)

func run(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(&out, &errOut, env)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestConfigDefaultPrintsTheEmbeddedConfig(t *testing.T) {
	out, _, err := run(t, nil, "config", "default")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(router.DefaultYAML) {
		t.Fatal("config default differs from the embedded default")
	}
	var anything map[string]any
	if err := yaml.Unmarshal([]byte(out), &anything); err != nil {
		t.Fatalf("config default is not YAML: %v", err)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(good, []byte("http:\n  listen: 127.0.0.1:9000\n"), 0o600)
	_ = os.WriteFile(bad, []byte("http:\n  listne: 127.0.0.1:9000\n"), 0o600)
	if out, _, err := run(t, nil, "config", "check", good); err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("good config: %q %v", out, err)
	}
	_, stderr, err := run(t, nil, "config", "check", bad)
	if want := bad + ":2: http.listne: unknown key (did you mean listen?)\n"; err == nil || stderr != want {
		t.Fatalf("bad config: err %v, stderr %q, want %q", err, stderr, want)
	}
	_, stderr, err = run(t, []string{"JUNCTION_LIMITS_WRITE_TIMEOUT=forever", "JUNCTION_HTTP_LISTN=:1"}, "config", "check", good)
	want := `JUNCTION_LIMITS_WRITE_TIMEOUT: limits.write_timeout: want a duration such as "10s": time: invalid duration "forever"` + "\n" +
		"JUNCTION_HTTP_LISTN: unknown configuration variable (did you mean JUNCTION_HTTP_LISTEN?)\n"
	if err == nil || stderr != want {
		t.Fatalf("bad environment: err %v, stderr %q, want %q", err, stderr, want)
	}
}

// TestCheckAndServeRefuseAlike: `config check` and `serve` run the same
// validation, so they refuse the same files with the same lines, one per
// problem, FILE:LINE: path: message, and serve listens on nothing.
func TestCheckAndServeRefuseAlike(t *testing.T) {
	dir := t.TempDir()
	realm := "realms:\n  - name: realm1\n    roles:\n      - name: user\n        permissions:\n"
	cases := []struct {
		name, yaml string
		want       []string // lines, after "FILE:"
	}{
		{"unknown role", realm + "          - {uri: a., match: prefix, allow: [publish]}\nauth:\n  users:\n    - {authid: a, realm: realm1, role: admin}\n",
			[]string{`9: auth.users[0].role: role "admin" not in realm "realm1"`}},
		{"bad action", realm + "          - {uri: a., match: prefix, allow: [publish, shout]}\n",
			[]string{`6: realms[0].roles[0].permissions[0].allow[1]: unknown action "shout" (want publish, subscribe, call or register)`}},
		{"bad match", realm + "          - {uri: a., match: regex, allow: [publish]}\n",
			[]string{`6: realms[0].roles[0].permissions[0].match: "regex" is not exact, prefix or wildcard`}},
		{"missing certificate", "http:\n  tls:\n    cert_file: " + dir + "/none.pem\n    key_file: " + dir + "/none.key\n",
			[]string{"3: http.tls.cert_file: open " + dir + "/none.pem: no such file or directory", "4: http.tls.key_file: open " + dir + "/none.key: no such file or directory"}},
		{"typos and types", "htp:\n  listen: :1\nlimits:\n  max_conections: 5\n  wamp_queue: many\nrpc:\n  invoke: any\n",
			[]string{"1: htp: unknown key (did you mean http?)", "4: limits.max_conections: unknown key (did you mean max_connections?)",
				`5: limits.wamp_queue: want an integer, got str "many"`, `7: rpc.invoke: want single, roundrobin, random, first or last, got "any"`}},
		{"queue beyond 32 bits", "limits:\n  mqtt_queue: 4294967296\n", []string{"2: limits.mqtt_queue: at most 2147483647, got 4294967296"}},
		{"bridge rule", "bridge:\n  rules:\n    - {wamp: wamp.meta.}\n", []string{"3: bridge.rules[0].wamp: the wamp.* meta namespace is never bridged"}},
		// serve panicked on these (net/http's mux refused the pattern) after check passed them.
		{"ws_path where static is", "http:\n  ws_path: /\n  static: " + dir + "\n",
			[]string{`2: http.ws_path: "/" is where http.static is served: give the WebSocket a path of its own, e.g. /ws`}},
		{"ws_path of the health check", "http:\n  ws_path: /healthz\n",
			[]string{`2: http.ws_path: "/healthz" is served by the router itself (/healthz, /readyz, /metrics): WebSocket upgrades there would never reach the WebSocket handler`}},
		{"anonymous without a role", "realms:\n  - name: realm1\n    anonymous: true\n",
			[]string{"3: realms[0].anonymous: true needs anonymous_role, the role anonymous clients get"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, fmt.Sprintf("bad%d.yaml", i))
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var want string
			for _, l := range tc.want {
				want += file + ":" + l + "\n"
			}
			out, check, err := run(t, nil, "config", "check", file)
			if err == nil || out != "" || check != want {
				t.Fatalf("config check: err %v, stdout %q, stderr\n%s\nwant\n%s", err, out, check, want)
			}
			_, serve, err := run(t, nil, "serve", "--config", file, "--http", "127.0.0.1:0", "--mqtt", "")
			if err == nil || serve != check {
				t.Fatalf("serve: err %v, stderr\n%s\nconfig check said\n%s", err, serve, check)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, err := run(t, nil, args...)
		if err != nil || out != "junction "+version+"\n" {
			t.Fatalf("%v: %q %v", args, out, err)
		}
	}
}

func TestServeRefusesBadConfigBeforeListening(t *testing.T) {
	_, stderr, err := run(t, nil, "serve", "--http", "nonsense", "--mqtt", "")
	if err == nil || !strings.Contains(stderr, "http.listen") {
		t.Fatalf("err %v, stderr %q", err, stderr)
	}
}

// buildBinary compiles junction once for the process tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "junction")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServeProcessStartsAndDrainsOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--http", httpAddr, "--mqtt", mqttAddr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var first []string
	for len(first) < 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("junction exited early; log so far:\n%s", strings.Join(first, "\n"))
			}
			first = append(first, l)
		case <-ctx.Done():
			t.Fatal("no log lines")
		}
	}
	log := strings.Join(first, "\n")
	for _, want := range []string{"embedded default configuration", "listener=http address=" + httpAddr, "listener=mqtt address=" + mqttAddr} {
		if !strings.Contains(log, want) {
			t.Errorf("first log lines lack %q:\n%s", want, log)
		}
	}
	// It serves: an MQTT client connects.
	conn, err := net.Dial("tcp", mqttAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'x'})
	ack := make([]byte, 4)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(ack); err != nil || !bytes.Equal(ack, []byte{0x20, 2, 0, 0}) {
		t.Fatalf("CONNACK %x %v", ack, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(rest, "\n"))
	}
	if !regexp.MustCompile(`msg=stopped`).MatchString(strings.Join(rest, "\n")) {
		t.Fatalf("no clean stop in the log:\n%s", strings.Join(rest, "\n"))
	}
}

func TestPasswdCRAPrintsAUsableKey(t *testing.T) {
	var out bytes.Buffer
	cmd := newPasswdCmd(&out, strings.NewReader("s3cret\n"))
	cmd.SetArgs([]string{"--cra", "--password-stdin"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var got struct {
		CRA router.CRAConfig `yaml:"cra"`
	}
	if err := yaml.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not a YAML cra: block: %v\n%s", err, out.String())
	}
	// The key is what a WAMP-CRA client derives from the secret and salt.
	dk := pbkdf2.Key([]byte("s3cret"), []byte(got.CRA.Salt), got.CRA.Iterations, got.CRA.KeyLen, sha256.New)
	if base64.StdEncoding.EncodeToString(dk) != got.CRA.Key {
		t.Fatalf("key %q does not derive from the secret", got.CRA.Key)
	}
}

func TestSIGHUPReloadsUsers(t *testing.T) {
	bin := buildBinary(t)
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "junction.yaml")
	hash, err := bcrypt.GenerateFromPassword([]byte("carol-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	base := "realms:\n  - name: realm1\n    roles:\n      - name: user\n        permissions:\n          - {uri: \"\", match: prefix, allow: [publish, subscribe]}\n"
	if err := os.WriteFile(cfgFile, []byte(base+"auth:\n  users: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfgFile, "--http", httpAddr, "--mqtt", mqttAddr)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waitLine := func(substr string) {
		t.Helper()
		for {
			select {
			case l := <-lines:
				if strings.Contains(l, substr) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no log line with %q", substr)
			}
		}
	}
	waitLine("listener=mqtt")
	connect := func() byte {
		conn, err := net.Dial("tcp", mqttAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// MQTT 3.1.1 CONNECT, client id "c", username carol, password carol-pw.
		pkt := []byte{0x10, 0x1e, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xC2, 0, 60, 0, 1, 'c', 0, 5, 'c', 'a', 'r', 'o', 'l', 0, 8, 'c', 'a', 'r', 'o', 'l', '-', 'p', 'w'}
		_, _ = conn.Write(pkt)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		ack := make([]byte, 4)
		if _, err := io.ReadFull(conn, ack); err != nil {
			t.Fatalf("CONNACK: %v", err)
		}
		return ack[3]
	}
	if code := connect(); code != 0x04 {
		t.Fatalf("carol before the reload: CONNACK %#x, want 0x04", code)
	}
	user := fmt.Sprintf("auth:\n  users:\n    - {authid: carol, realm: realm1, role: user, password: %q}\n", hash)
	if err := os.WriteFile(cfgFile, []byte(base+user), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLine("reloaded users, roles and permissions")
	if code := connect(); code != 0 {
		t.Fatalf("carol after SIGHUP: CONNACK %#x", code)
	}
}
