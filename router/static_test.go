package router

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStaticFiles: http.static serves a directory at / without shadowing
// the WebSocket path, /healthz, /readyz or /metrics, lists no directory,
// serves no dot file and nothing outside the directory.
func TestStaticFiles(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "web")
	files := map[string]string{
		"web/index.html":         "<h1>home</h1>",
		"web/app.js":             "console.log(1)",
		"web/room/index.html":    "<h1>room</h1>",
		"web/assets/logo.txt":    "logo",
		"web/.env":               "SECRET=1",
		"web/.git/config":        "[core]",
		"web/healthz.html":       "not health",
		"outside.txt":            "OUTSIDE-SECRET",
		"web/assets/sub/x.txt":   "x",
		"web/assets/sub/y/z.txt": "z",
	}
	for name, body := range files {
		p := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := startRouter(t, func(c *Config) { c.HTTP.Static = dir })
	base := "http://" + httpAddr(r)
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}

	cases := []struct {
		method, path string
		status       int
		body         string // substring of the body
		ctype        string // prefix of Content-Type
	}{
		{"GET", "/", 200, "<h1>home</h1>", "text/html"},
		{"HEAD", "/", 200, "", "text/html"},
		{"GET", "/app.js", 200, "console.log(1)", "text/javascript"},
		{"GET", "/room/", 200, "<h1>room</h1>", "text/html"},
		{"GET", "/room", 301, "", ""},                   // to /room/, as http.FileServer does
		{"GET", "/healthz.html", 200, "not health", ""}, // a file next to a route
		{"GET", "/healthz", 200, "ok", ""},
		{"GET", "/readyz", 200, "ready", ""},
		{"GET", "/metrics", 200, "junction_", ""},
		{"GET", "/ws", 400, "WebSocket", ""}, // the WebSocket endpoint, not a file
		{"GET", "/assets/", 404, "", ""},     // no index.html: not listed
		{"GET", "/assets/sub/", 404, "", ""},
		{"GET", "/assets/logo.txt", 200, "logo", "text/plain"},
		{"GET", "/.env", 404, "", ""},
		{"GET", "/.git/config", 404, "", ""},
		{"GET", "/missing.js", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"PUT", "/app.js", 405, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Fatalf("body %q does not contain %q", body, tc.body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Fatalf("Content-Type %q, want %q…", ct, tc.ctype)
			}
			if tc.status == 200 && !isRoute(tc.path) && resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("no X-Content-Type-Options: nosniff")
			}
		})
	}

	// Paths that climb out of the directory, sent as they are (a Go client
	// would clean them): nothing outside it is served.
	for _, p := range []string{"/../outside.txt", "/..%2foutside.txt", "/%2e%2e/outside.txt", "/room/../../outside.txt"} {
		t.Run("raw "+p, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", httpAddr(r), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 || strings.Contains(string(body), "OUTSIDE-SECRET") {
				t.Fatalf("%s: status %d, body %q", p, resp.StatusCode, body)
			}
		})
	}
}

func isRoute(p string) bool { return p == "/healthz" || p == "/readyz" || p == "/metrics" }

// TestStaticOffByDefault: without http.static, / is not found.
func TestStaticOffByDefault(t *testing.T) {
	r := startRouter(t, nil)
	resp, err := http.Get("http://" + httpAddr(r) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET / without http.static: %d, want 404", resp.StatusCode)
	}
}

func TestStaticConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, static, want string // want: "" for valid, else a substring of the error
	}{
		{"off", "", ""},
		{"a directory", dir, ""},
		{"missing", filepath.Join(dir, "nope"), "http.static: stat "},
		{"a file", file, "is not a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, "http:\n  static: '"+tc.static+"'\n"), nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
