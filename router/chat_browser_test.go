package router

// The chat example (examples/chat) in a real browser: headless Chromium
// (Debian's package, `make deps` installs it) driven with chromedp, against
// two routers federated through a real redis-server, each serving the
// example's pages with http.static.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

const (
	chatWebDir  = "../examples/chat/web"
	browserWait = 20 * time.Second // for one condition on a page
)

// TestChatExampleInBrowser: alice (WAMP page) on router A, bob (WAMP page)
// and carol (MQTT.js page) on router B. Each sees both WAMP users present
// (the WAMP registration meta API, across routers), every chat message of
// the others in either protocol, and a device's MQTT reading published on
// A; when bob closes his page alice sees him leave. A console error, an
// uncaught exception or an error shown on a page fails the test. A
// screenshot of each page is written to the test's artifact directory
// (`go test -artifacts -outputdir DIR` keeps it).
func TestChatExampleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and Redis")
	}
	chromium := findChromium(t)
	for _, f := range []string{"index.html", "mqtt.html", "vendor/autobahn.min.js", "vendor/mqtt.min.js"} {
		if _, err := os.Stat(filepath.Join(chatWebDir, f)); err != nil {
			t.Fatalf("examples/chat/web/%s: %v\nrun `make deps`: the vendor/ files link to router/testdata/node/node_modules", f, err)
		}
	}

	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	static := func(c *Config) { c.HTTP.Static = chatWebDir }
	a := startFederated(t, url, "a", static)
	b := startFederated(t, url, "b", static)

	br := startBrowser(t, chromium)
	alice := br.open(t, "alice", "http://"+httpAddr(a)+"/?room=lobby&name=alice")
	bob := br.open(t, "bob", "http://"+httpAddr(b)+"/?room=lobby&name=bob")
	carol := br.open(t, "carol", "http://"+httpAddr(b)+"/mqtt.html?room=lobby&name=carol")
	for _, p := range []*page{alice, bob, carol} {
		p.wait(t, "joined", `document.body.dataset.state === "joined"`)
	}

	// Presence, through the registration meta API: each WAMP page lists
	// both, though alice and bob are on different routers.
	alice.wait(t, "alice and bob present", membersAre("alice", "bob"))
	bob.wait(t, "alice and bob present", membersAre("alice", "bob"))

	// Each router knows the other's subscriptions before anyone speaks
	// (federation announces them asynchronously).
	waitFor(t, 10*time.Second, "A to know B's chat subscribers", func() bool {
		return a.link.Wants("chat/lobby/messages", "chat.lobby.messages")
	})
	waitFor(t, 10*time.Second, "B to know A's chat subscriber", func() bool {
		return b.link.Wants("chat/lobby/messages", "chat.lobby.messages")
	})

	// Messages, each to everyone, the sender included, across routers and
	// protocols.
	for _, m := range []struct {
		from *page
		text string
	}{
		{alice, "hello from alice on A"},
		{bob, "hi alice, bob on B here"},
		{carol, "carol speaking MQTT"},
	} {
		m.from.say(t, m.text)
		want := m.from.name + ": " + m.text
		for _, p := range []*page{alice, bob, carol} {
			p.wait(t, "message "+want, hasMessage(want))
		}
	}

	// A device publishes on A (paho, MQTT 3.1.1 over TCP): every page shows
	// the reading, the WAMP ones through the bridge on B.
	waitFor(t, 10*time.Second, "A to know B's device subscribers", func() bool {
		return a.link.Wants("devices/sensor-7/temp", "devices.sensor-7.temp")
	})
	device := connectV3(t, "tcp://"+mqttAddr(a), "sensor-7", nil)
	waitToken(t, device.Publish("devices/sensor-7/temp", 1, false, "21.5"), "device publish")
	for _, p := range []*page{alice, bob, carol} {
		p.wait(t, "device reading", reading("sensor-7", "21.5"))
	}

	for _, p := range []*page{alice, bob, carol} {
		p.screenshot(t)
		p.checkErrors(t)
	}

	// bob closes his page: alice, on the other router, sees him leave.
	bob.close(t)
	alice.wait(t, "bob gone", membersAre("alice"))
	for _, p := range []*page{alice, carol} {
		p.checkErrors(t)
	}
}

// findChromium returns Debian's chromium, or fails saying how to install it.
func findChromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatalf("chromium is not installed (Debian package chromium)\nrun `make deps` (its deps-browser step installs it)")
	return ""
}

// browser is one headless Chromium; each page is a tab of it.
type browser struct {
	ctx    context.Context
	output *syncBuffer // Chromium's stderr and stdout, shown if the test fails
}

func startBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	out := &syncBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these Chromium dials out at start, and on a machine with
		// no route out its own connections are refused.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WindowSize(1000, 700),
		chromedp.CombinedOutput(out),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx,
		chromedp.WithErrorf(func(f string, a ...any) { fmt.Fprintf(out, "chromedp error: "+f+"\n", a...) }))
	// The first Run starts the browser; it lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v\n%s", chromium, err, out.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Chromium's output:\n%s", out.String())
		}
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_ = chromedp.Cancel(cctx) // closes the browser
		cancel()
		cancelAlloc()
	})
	return &browser{ctx: ctx, output: out}
}

// page is one tab; it records every console error and exception.
type page struct {
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	errs   []string
	done   chan struct{} // the console reader ended
}

func (br *browser) open(t *testing.T, name, url string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(br.ctx)
	p := &page{name: name, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		cancel()
		t.Fatalf("%s: new tab: %v", name, err)
	}
	console := chromedp.Console(ctx)
	go func() {
		defer close(p.done)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				p.mu.Lock()
				p.errs = append(p.errs, m.String())
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("%s: open %s: %v", name, url, err)
	}
	return p
}

// wait polls the page until the JavaScript expression cond is true, and
// fails the test if the page shows an error or logged one first, or after
// browserWait.
func (p *page) wait(t *testing.T, what, cond string) {
	t.Helper()
	expr := `(() => {
		const e = document.getElementById("error");
		if (e && e.textContent) return "page error: " + e.textContent;
		return (` + cond + `) ? "ok" : false;
	})()`
	ctx, cancel := context.WithTimeout(p.ctx, browserWait+5*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.Poll[string](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
	p.checkErrors(t)
	if err != nil {
		body, _ := chromedp.Run(p.runCtx(), chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: waiting for %s: %v\npage text:\n%s", p.name, what, err, body)
	}
	if res != "ok" {
		t.Fatalf("%s: waiting for %s: %s", p.name, what, res)
	}
}

// runCtx bounds a quick action on the page.
func (p *page) runCtx() context.Context {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	context.AfterFunc(ctx, cancel)
	return ctx
}

// say types text into the page's message box and presses Send.
func (p *page) say(t *testing.T, text string) {
	t.Helper()
	if err := chromedp.Do(p.runCtx(),
		chromedp.SendKeys(chromedp.CSS("#text"), text),
		chromedp.Click(chromedp.CSS("#send-button")),
	); err != nil {
		t.Fatalf("%s: sending %q: %v", p.name, text, err)
	}
}

func (p *page) screenshot(t *testing.T) {
	t.Helper()
	png, err := chromedp.Run(p.runCtx(), chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	path := filepath.Join(t.ArtifactDir(), "chat-"+p.name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: screenshot %s", p.name, path)
}

// checkErrors fails the test if the page logged an error or threw.
func (p *page) checkErrors(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 {
		t.Fatalf("%s: the page logged errors:\n%s", p.name, strings.Join(p.errs, "\n"))
	}
}

// close closes the tab (the page leaves as when a user closes it).
func (p *page) close(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("%s: closing the tab: %v", p.name, err)
	}
	<-p.done
}

// membersAre is true when the page's presence list is exactly names.
func membersAre(names ...string) string {
	want, _ := json.Marshal(names)
	return `JSON.stringify([...document.querySelectorAll("#members li")].map((li) => li.firstChild.textContent).sort()) === ` +
		"JSON.stringify(" + string(want) + ".sort())"
}

// hasMessage is true when a message line on the page contains text.
func hasMessage(text string) string {
	q, _ := json.Marshal(text)
	return `[...document.querySelectorAll("#messages li")].some((li) => li.textContent.includes(` + string(q) + `))`
}

// reading is true when the device table shows value for device.
func reading(device, value string) string {
	d, _ := json.Marshal(device)
	v, _ := json.Marshal(value)
	return `[...document.querySelectorAll("#devices tr")].some((tr) => tr.dataset.device === ` + string(d) +
		` && tr.cells[1].textContent === ` + string(v) + `)`
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
