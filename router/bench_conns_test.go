//go:build linux

// Idle connections: what one more connected, silent client costs a server in
// resident memory, and how fast a server accepts them.
//
//	go test ./router -run '^$' -bench IdleConnections -benchtime 5000x
//
// One op is one client connection, opened and kept (-benchtime Nx picks the
// number of connections; 5000x is the figure in the README). Every server runs
// in a process of its own, so that its resident memory (VmRSS in
// /proc/<pid>/status) is its own and nothing else's:
//
//	mosquitto/mqtt-tcp   the real mosquitto binary (Debian package), its
//	                       default configuration
//	go/mqtt-tcp          the least a Go server does: a goroutine per
//	                       connection that reads CONNECT, writes CONNACK and
//	                       reads on; the floor under the Go servers' figures
//	mochi/mqtt-tcp       bare mochi: mochi.New with default options, allow-all
//	mochi/mqtt-ws          auth, its own TCP and WebSocket listeners
//	junction/mqtt-tcp    Junction with its default config (limits.max_connections
//	junction/mqtt-ws       raised to fit), MQTT port and /ws
//	nexus/wamp-json      bare nexus: realm1 behind nexus' WebsocketServer, its
//	                       out queue at Junction's limits.wamp_queue
//	junction/wamp-json   Junction's /ws, WAMP JSON, realm1
//
// The Go servers are this test binary started again in a helper mode
// (JUNCTION_CONNS_SERVER); they run nothing of the benchmark's. Clients are
// minimal and in the benchmark's process: MQTT 3.1.1 CONNECT/CONNACK written by
// hand (keepalive 600 s), WebSocket clients from gorilla/websocket that read
// (answering pings), WAMP clients that send HELLO and wait for WELCOME.
//
// Reported per sub-benchmark:
//
//	KiB/conn        (VmRSS with the clients connected - VmRSS before) / N.
//	                For Go servers both readings follow a forced GC and
//	                debug.FreeOSMemory, so the figure is what the connections
//	                hold, not garbage from the connect burst awaiting the
//	                scavenger; mosquitto has no garbage to free.
//	heap-KiB/conn   Go servers only (runtime/metrics): live heap and
//	stack-KiB/conn  goroutine stacks per connection.
//	conns/s         connections opened per second, 64 clients connecting at
//	                a time (ns/op is its inverse).
//	server-us/conn  CPU time (user + system, /proc/<pid>/stat) the server
//	                process spent during the connect burst, per connection.
//	client-us/conn  the same for the benchmark process, whose clients are
//	                alike for every server. Client and server share the
//	                machine's cores: on a small machine the accept rate
//	                follows the sum of the two.
//	faults/conn     the server's minor page faults during the burst, per
//	                connection: memory it touched for the first time (or
//	                again after returning it to the OS), costly in a VM.
//	allocs/conn     Go servers only: heap allocations during the burst, per
//	alloc-B/conn      connection, in objects and bytes.
//	msg/s           MQTT only: after the N clients are connected, one client
//	                publishes 10000 QoS 0 messages of 100 bytes that another
//	                receives, through the loaded server (credit window 256),
//	                after 10000 more unmeasured: the first messages after the
//	                burst find a heap that has yet to grow for them, and in
//	                a VM the page faults of that growth (whatever the burst
//	                left free) were most of their time.
//
// JUNCTION_CONNS_CPUPROFILE=dir writes a CPU profile of each Go server,
// covering its connect burst only, to dir/<benchmark name>.cpu.pprof
// (JUNCTION_CONNS_HEAPPROFILE=dir: heap profiles after the burst). For
// mosquitto too: JUNCTION_CONNS_PERF=dir runs perf record -g on each server
// process (mosquitto included) for its connect burst, to
// dir/<benchmark name>.perf.data, kernel time included.
//
// Beyond about 28000 connections one source address runs out of ports: the
// clients spread over 127.0.0.1, 127.0.0.2, ... (Linux routes all of
// 127.0.0.0/8 to loopback). The open file limit of the process (inherited by
// the servers) is raised to its hard limit.
package router

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	nxrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gorilla/websocket"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// connsServerEnv names the server the test binary runs instead of tests.
const connsServerEnv = "JUNCTION_CONNS_SERVER"

const (
	connsParallel   = 64
	connsPerSource  = 20000 // client connections per loopback source address
	connsPublishes  = 10000
	connsTimeout    = 2 * time.Minute
	connsKeepalive  = 600 // seconds, MQTT
	connsHelloRealm = "realm1"
)

func BenchmarkIdleConnections(b *testing.B) {
	raiseFileLimit(b)
	b.Run("mosquitto/mqtt-tcp", func(b *testing.B) {
		srv := startMosquitto(b)
		benchIdle(b, srv, dialMQTTTCP(srv.mqtt), true)
	})
	b.Run("go/mqtt-tcp", func(b *testing.B) {
		srv := startConnsHelper(b, "go")
		benchIdle(b, srv, dialMQTTTCP(srv.mqtt), false)
	})
	b.Run("mochi/mqtt-tcp", func(b *testing.B) {
		srv := startConnsHelper(b, "mochi")
		benchIdle(b, srv, dialMQTTTCP(srv.mqtt), true)
	})
	b.Run("junction/mqtt-tcp", func(b *testing.B) {
		srv := startConnsHelper(b, "junction")
		benchIdle(b, srv, dialMQTTTCP(srv.mqtt), true)
	})
	b.Run("mochi/mqtt-ws", func(b *testing.B) {
		srv := startConnsHelper(b, "mochi")
		benchIdle(b, srv, dialMQTTWS(srv.ws), false)
	})
	b.Run("junction/mqtt-ws", func(b *testing.B) {
		srv := startConnsHelper(b, "junction")
		benchIdle(b, srv, dialMQTTWS(srv.ws), false)
	})
	b.Run("nexus/wamp-json", func(b *testing.B) {
		srv := startConnsHelper(b, "nexus")
		benchIdle(b, srv, dialWAMPJSON(srv.ws), false)
	})
	b.Run("junction/wamp-json", func(b *testing.B) {
		srv := startConnsHelper(b, "junction")
		benchIdle(b, srv, dialWAMPJSON(srv.ws), false)
	})
}

// connsServer is a server under measurement in a process of its own.
type connsServer struct {
	pid  int
	mqtt string // host:port of MQTT over TCP
	ws   string // ws:// URL
	// settle makes a Go server collect garbage and return it to the OS, and
	// returns its heap and stack bytes; nil for mosquitto.
	settle func() (heap, stacks uint64)
	// cpuProfile starts (true) or stops (false) the server's CPU profile;
	// nil when none is asked for.
	cpuProfile func(start bool)
	// allocs returns a Go server's heap allocations so far, in objects and
	// bytes; nil for mosquitto.
	allocs func() (objects, bytes uint64)
}

type idleDial func(ctx context.Context, id int, local net.Addr) (io.Closer, error)

func benchIdle(b *testing.B, srv *connsServer, dial idleDial, publish bool) {
	n := b.N
	var h0, s0 uint64
	if srv.settle != nil {
		h0, s0 = srv.settle()
	}
	rss0 := readRSS(b, srv.pid)

	ctx, cancel := context.WithTimeout(context.Background(), connsTimeout)
	defer cancel()
	conns := make([]io.Closer, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	if srv.cpuProfile != nil {
		srv.cpuProfile(true)
	}
	stopPerf := perfRecord(b, srv.pid)
	var objects0, bytes0 uint64
	if srv.allocs != nil {
		objects0, bytes0 = srv.allocs()
	}
	cpuServer0, faults0 := readCPU(b, srv.pid)
	cpuClient0 := selfCPU()
	b.ResetTimer()
	start := time.Now()
	for range min(connsParallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || firstErr.Load() != nil {
					return
				}
				var local net.Addr // the first connsPerSource: the kernel's choice
				if i >= connsPerSource {
					local = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i/connsPerSource))}
				}
				c, err := dial(ctx, i, local)
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: %w", i, err))
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpuServer, faults := readCPU(b, srv.pid)
	cpuServer, faults = cpuServer-cpuServer0, faults-faults0
	cpuClient := selfCPU() - cpuClient0
	stopPerf()
	var objects, bytes uint64
	if srv.allocs != nil {
		objects, bytes = srv.allocs()
		objects, bytes = objects-objects0, bytes-bytes0
	}
	if srv.cpuProfile != nil {
		srv.cpuProfile(false)
	}
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "conns/s")
	b.ReportMetric(float64(cpuServer.Microseconds())/float64(n), "server-us/conn")
	b.ReportMetric(float64(cpuClient.Microseconds())/float64(n), "client-us/conn")
	b.ReportMetric(float64(faults)/float64(n), "faults/conn")
	if srv.allocs != nil {
		b.ReportMetric(float64(objects)/float64(n), "allocs/conn")
		b.ReportMetric(float64(bytes)/float64(n), "alloc-B/conn")
	}

	if publish {
		_, err := publishThrough(ctx, srv.mqtt, "idle-warm") // warming up
		var rate float64
		if err == nil {
			rate, err = publishThrough(ctx, srv.mqtt, "idle-bench")
		}
		if err != nil {
			b.Fatalf("publishing with %d idle connections: %v", n, err)
		}
		b.ReportMetric(rate, "msg/s")
	}
	var h1, s1 uint64
	if srv.settle != nil {
		h1, s1 = srv.settle()
	}
	rss1 := readRSS(b, srv.pid)
	b.ReportMetric(float64(int64(rss1)-int64(rss0))/1024/float64(n), "KiB/conn")
	if srv.settle != nil {
		b.ReportMetric(float64(int64(h1)-int64(h0))/1024/float64(n), "heap-KiB/conn")
		b.ReportMetric(float64(int64(s1)-int64(s0))/1024/float64(n), "stack-KiB/conn")
	}
	if dir := os.Getenv("JUNCTION_CONNS_HEAPPROFILE"); dir != "" && srv.settle != nil && n >= 1000 {
		b.Logf("heap profile: %s", filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".pprof"))
	}
}

// readRSS returns a process's resident memory in bytes.
func readRSS(b *testing.B, pid int) uint64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("reading the server's memory: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb * 1024
		}
	}
	b.Fatal("no VmRSS in /proc/<pid>/status")
	return 0
}

// perfRecord starts perf record on a server process when JUNCTION_CONNS_PERF
// names a directory, and returns what stops it.
func perfRecord(b *testing.B, pid int) (stop func()) {
	dir := os.Getenv("JUNCTION_CONNS_PERF")
	if dir == "" || b.N < 1000 {
		return func() {}
	}
	path := filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".perf.data")
	cmd := exec.Command("perf", "record", "-g", "-F", "1999", "-p", strconv.Itoa(pid), "-o", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("perf: %v", err)
	}
	// perf attaches within a moment; the burst must not begin before.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		b.Logf("perf data: %s", path)
	}
}

// readCPU returns the CPU time, user and system, a process has used (ticks
// of 10 ms: USER_HZ is 100 on Linux, so a burst of a second or more is
// measured within about 1%) and its minor page faults.
func readCPU(b *testing.B, pid int) (time.Duration, int64) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("reading the server's CPU time: %v", err)
	}
	// The command name, in parentheses, may hold spaces: fields start after it.
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, data)
	}
	minflt, _ := strconv.ParseInt(f[7], 10, 64)
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, minflt
}

// selfCPU returns the CPU time, user and system, of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func raiseFileLimit(b *testing.B) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatalf("getrlimit: %v", err)
	}
	// Raising the hard limit needs privilege; without it, the hard limit.
	want := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
		return
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatalf("setrlimit: %v", err)
	}
	if int(l.Cur) < b.N*2+1000 {
		b.Logf("open file limit %d: too low for %d connections (client and server in one machine)", l.Cur, b.N)
	}
}

// --- servers ---------------------------------------------------------------

func startMosquitto(b *testing.B) *connsServer {
	b.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
		if _, err := os.Stat(bin); err != nil {
			b.Skip("mosquitto is not installed")
		}
	}
	port := freePort(b)
	conf := filepath.Join(b.TempDir(), "mosquitto.conf")
	// mosquitto's defaults but for what a listener on a port of ours
	// needs: since 2.0 a configured listener refuses anonymous clients
	// unless told otherwise. Its log (defaults: error, warning, notice,
	// information, to stderr: two lines per connect) goes to /dev/null.
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		b.Fatalf("starting mosquitto: %v", err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("mosquitto did not start listening on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port that has no event to wait on
	}
	return &connsServer{pid: cmd.Process.Pid, mqtt: addr}
}

func freePort(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startConnsHelper runs this test binary as a server of the given kind. It
// prints its addresses on one line, then answers "settle" lines on stdin
// with its heap and stack bytes; it exits when stdin closes.
func startConnsHelper(b *testing.B, kind string) *connsServer {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), connsServerEnv+"="+kind)
	if dir := os.Getenv("JUNCTION_CONNS_HEAPPROFILE"); dir != "" && b.N >= 1000 {
		cmd.Env = append(cmd.Env, "JUNCTION_CONNS_PROFILE_TO="+filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".pprof"))
	}
	cpuProfileDir := os.Getenv("JUNCTION_CONNS_CPUPROFILE")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("starting the %s helper: %v", kind, err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("%s helper: %v", kind, err)
		}
	})
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil {
		b.Fatalf("%s helper did not start: %v", kind, err)
	}
	srv := &connsServer{pid: cmd.Process.Pid}
	for f := range strings.FieldsSeq(line) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "mqtt":
			srv.mqtt = v
		case "ws":
			srv.ws = v
		}
	}
	srv.settle = func() (uint64, uint64) {
		if _, err := io.WriteString(stdin, "settle\n"); err != nil {
			b.Fatalf("%s helper: %v", kind, err)
		}
		line, err := out.ReadString('\n')
		if err != nil {
			b.Fatalf("%s helper: %v", kind, err)
		}
		var heap, stacks uint64
		if _, err := fmt.Sscanf(line, "heap=%d stacks=%d", &heap, &stacks); err != nil {
			b.Fatalf("%s helper said %q: %v", kind, line, err)
		}
		return heap, stacks
	}
	srv.allocs = func() (uint64, uint64) {
		if _, err := io.WriteString(stdin, "allocs\n"); err != nil {
			b.Fatalf("%s helper: %v", kind, err)
		}
		line, err := out.ReadString('\n')
		if err != nil {
			b.Fatalf("%s helper: %v", kind, err)
		}
		var objects, bytes uint64
		if _, err := fmt.Sscanf(line, "allocs=%d bytes=%d", &objects, &bytes); err != nil {
			b.Fatalf("%s helper said %q: %v", kind, line, err)
		}
		return objects, bytes
	}
	if cpuProfileDir != "" && b.N >= 1000 {
		path := filepath.Join(cpuProfileDir, strings.ReplaceAll(b.Name(), "/", "_")+".cpu.pprof")
		srv.cpuProfile = func(start bool) {
			cmd := "cpuprofile-stop\n"
			if start {
				cmd = "cpuprofile-start " + path + "\n"
			}
			if _, err := io.WriteString(stdin, cmd); err != nil {
				b.Fatalf("%s helper: %v", kind, err)
			}
			if line, err := out.ReadString('\n'); err != nil || line != "ok\n" {
				b.Fatalf("%s helper: CPU profile: %q %v", kind, line, err)
			}
			if !start {
				b.Logf("CPU profile: %s", path)
			}
		}
	}
	return srv
}

// connsServerMain is the helper process: it serves until stdin closes.
func connsServerMain(kind string) int {
	var mqttAddr, wsURL string
	var stop func()
	switch kind {
	case "junction":
		cfg := DefaultConfig()
		cfg.HTTP.Listen = "127.0.0.1:0"
		cfg.MQTT.Listen = "127.0.0.1:0"
		cfg.Limits.MaxConnections = 1 << 30
		r, err := New(cfg, slog.New(slog.DiscardHandler))
		if err == nil {
			err = r.Start()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "junction:", err)
			return 1
		}
		mqttAddr, wsURL = r.MQTTAddr().String(), "ws://"+r.HTTPAddr().String()+cfg.HTTP.WSPath
		stop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = r.Shutdown(ctx)
		}
	case "mochi":
		s := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
		_ = s.AddHook(new(auth.AllowHook), nil)
		tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "mochi:", err)
			return 1
		}
		wsAddr := ln.Addr().String()
		_ = ln.Close()
		ws := listeners.NewWebsocket(listeners.Config{ID: "ws", Address: wsAddr})
		for _, l := range []listeners.Listener{tcp, ws} {
			if err := s.AddListener(l); err != nil {
				fmt.Fprintln(os.Stderr, "mochi:", err)
				return 1
			}
		}
		if err := s.Serve(); err != nil {
			fmt.Fprintln(os.Stderr, "mochi:", err)
			return 1
		}
		mqttAddr, wsURL = tcp.Address(), "ws://"+wsAddr+"/"
		stop = func() { _ = s.Close() }
	case "go":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "go:", err)
			return 1
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go serveMinimalMQTT(c)
			}
		}()
		mqttAddr = ln.Addr().String()
		stop = func() { _ = ln.Close() }
	case "nexus":
		nr, err := nxrouter.NewRouter(&nxrouter.Config{
			RealmConfigs: []*nxrouter.RealmConfig{{URI: connsHelloRealm, AnonymousAuth: true, AllowDisclose: true}},
		}, benchDiscardLog{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "nexus:", err)
			return 1
		}
		wss := nxrouter.NewWebsocketServer(nr)
		wss.OutQueueSize = DefaultConfig().Limits.WAMPQueue
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "nexus:", err)
			return 1
		}
		srv := &http.Server{Handler: wss, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		wsURL = "ws://" + ln.Addr().String() + "/"
		stop = func() { _ = srv.Close(); nr.Close() }
	default:
		fmt.Fprintln(os.Stderr, "unknown server", kind)
		return 2
	}
	fmt.Printf("mqtt=%s ws=%s\n", mqttAddr, wsURL)
	in := bufio.NewScanner(os.Stdin)
	settled := 0
	var cpuProfile *os.File
	for in.Scan() {
		if path, ok := strings.CutPrefix(in.Text(), "cpuprofile-start "); ok {
			f, err := os.Create(path)
			if err == nil {
				if err = pprof.StartCPUProfile(f); err != nil {
					_ = f.Close()
				}
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "CPU profile:", err)
				return 1
			}
			cpuProfile = f
			fmt.Println("ok")
			continue
		}
		if in.Text() == "cpuprofile-stop" {
			if cpuProfile != nil {
				pprof.StopCPUProfile()
				_ = cpuProfile.Close()
				cpuProfile = nil
			}
			fmt.Println("ok")
			continue
		}
		if in.Text() == "allocs" {
			s := []rtmetrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
			rtmetrics.Read(s)
			fmt.Printf("allocs=%d bytes=%d\n", s[0].Value.Uint64(), s[1].Value.Uint64())
			continue
		}
		if in.Text() != "settle" {
			continue
		}
		runtime.GC()
		debug.FreeOSMemory()
		s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
		rtmetrics.Read(s)
		fmt.Printf("heap=%d stacks=%d\n", s[0].Value.Uint64(), s[1].Value.Uint64())
		if settled++; settled == 2 {
			if path := os.Getenv("JUNCTION_CONNS_PROFILE_TO"); path != "" {
				if f, err := os.Create(path); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					_ = f.Close()
				}
			}
		}
	}
	stop()
	return 0
}

// serveMinimalMQTT is the least a Go server does for an MQTT client: one
// goroutine that reads a CONNECT, answers CONNACK and reads until the
// connection ends.
func serveMinimalMQTT(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 16)
	h, _, err := readMQTTPacket(r)
	if err != nil || h != 0x10 {
		return
	}
	if _, err := c.Write([]byte{0x20, 2, 0, 0}); err != nil {
		return
	}
	for {
		if _, _, err := readMQTTPacket(r); err != nil {
			return
		}
	}
}

// --- clients ---------------------------------------------------------------

// mqttConnect is an MQTT 3.1.1 CONNECT with a clean session.
func mqttConnect(id string) []byte {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, byte(connsKeepalive >> 8), byte(connsKeepalive & 0xff)}
	body = mqttString(body, id)
	return mqttPacket(0x10, body)
}

func mqttString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// readMQTTPacket reads one packet: its first byte and its body.
func readMQTTPacket(r *bufio.Reader) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for {
		d, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(d&0x7f) << shift
		if d&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return h, body, err
}

func checkConnack(h byte, body []byte) error {
	if h != 0x20 || len(body) != 2 || body[1] != 0 {
		return fmt.Errorf("no successful CONNACK: % x % x", h, body)
	}
	return nil
}

func dialMQTTTCP(addr string) idleDial {
	return func(ctx context.Context, id int, local net.Addr) (io.Closer, error) {
		c, err := mqttTCPClient(ctx, addr, fmt.Sprintf("idle-%d", id), local)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// mqttTCPClient connects over TCP and returns the connection after CONNACK.
func mqttTCPClient(ctx context.Context, addr, id string, local net.Addr) (net.Conn, error) {
	d := net.Dialer{LocalAddr: local}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(mqttConnect(id)); err != nil {
		c.Close()
		return nil, err
	}
	h, body, err := readMQTTPacket(bufio.NewReaderSize(c, 16))
	if err == nil {
		err = checkConnack(h, body)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// wsIdle is a WebSocket client that reads, and so answers pings, until closed.
type wsIdle struct {
	ws   *websocket.Conn
	done chan struct{}
}

func (w *wsIdle) Close() error {
	err := w.ws.Close()
	<-w.done
	return err
}

func dialWS(ctx context.Context, url, subprotocol string, local net.Addr) (*websocket.Conn, error) {
	d := websocket.Dialer{
		Subprotocols:     []string{subprotocol},
		HandshakeTimeout: 30 * time.Second,
		ReadBufferSize:   512,
		WriteBufferSize:  512,
		NetDialContext:   (&net.Dialer{LocalAddr: local}).DialContext,
	}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	if ws.Subprotocol() != subprotocol {
		ws.Close()
		return nil, fmt.Errorf("subprotocol %q, want %q", ws.Subprotocol(), subprotocol)
	}
	return ws, nil
}

func idleReader(ws *websocket.Conn) *wsIdle {
	w := &wsIdle{ws: ws, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			if _, _, err := ws.NextReader(); err != nil {
				return
			}
		}
	}()
	return w
}

func dialMQTTWS(url string) idleDial {
	return func(ctx context.Context, id int, local net.Addr) (io.Closer, error) {
		ws, err := dialWS(ctx, url, "mqtt", local)
		if err != nil {
			return nil, err
		}
		_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		err = ws.WriteMessage(websocket.BinaryMessage, mqttConnect(fmt.Sprintf("idle-ws-%d", id)))
		if err == nil {
			// Packets may span messages (mochi writes a header and a body apart).
			var h byte
			var body []byte
			h, body, err = readMQTTPacket(bufio.NewReader(&wsStream{ws: ws}))
			if err == nil {
				err = checkConnack(h, body)
			}
		}
		if err != nil {
			ws.Close()
			return nil, err
		}
		_ = ws.SetReadDeadline(time.Time{})
		return idleReader(ws), nil
	}
}

// wsStream reads a WebSocket as a byte stream across messages.
type wsStream struct {
	ws *websocket.Conn
	r  io.Reader
}

func (s *wsStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			_, r, err := s.ws.NextReader()
			if err != nil {
				return 0, err
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if errors.Is(err, io.EOF) {
			s.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func dialWAMPJSON(url string) idleDial {
	hello := []byte(`[1,"` + connsHelloRealm + `",{"roles":{"subscriber":{},"publisher":{},"caller":{},"callee":{}}}]`)
	return func(ctx context.Context, _ int, local net.Addr) (io.Closer, error) {
		ws, err := dialWS(ctx, url, "wamp.2.json", local)
		if err != nil {
			return nil, err
		}
		_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		err = ws.WriteMessage(websocket.TextMessage, hello)
		var msg []byte
		if err == nil {
			_, msg, err = ws.ReadMessage()
		}
		if err == nil && !strings.HasPrefix(string(msg), "[2,") {
			err = fmt.Errorf("no WELCOME: %s", msg)
		}
		if err != nil {
			ws.Close()
			return nil, err
		}
		_ = ws.SetReadDeadline(time.Time{})
		return idleReader(ws), nil
	}
}

// publishThrough publishes connsPublishes QoS 0 messages from one client to
// another through the server at addr and returns the rate of delivery. The
// clients' ids start with prefix (a round's clients do not take over the
// sessions of the round before, which may still be ending).
func publishThrough(ctx context.Context, addr, prefix string) (float64, error) {
	sub, err := mqttTCPClient(ctx, addr, prefix+"-sub", nil)
	if err != nil {
		return 0, err
	}
	defer sub.Close()
	pub, err := mqttTCPClient(ctx, addr, prefix+"-pub", nil)
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	const topic = "bench/idle"
	_ = sub.SetDeadline(time.Now().Add(connsTimeout))
	subscribe := mqttPacket(0x82, append(mqttString([]byte{0, 1}, topic), 0))
	if _, err := sub.Write(subscribe); err != nil {
		return 0, err
	}
	r := bufio.NewReader(sub)
	if h, body, err := readMQTTPacket(r); err != nil || h != 0x90 || len(body) != 3 || body[2] != 0 {
		return 0, fmt.Errorf("no SUBACK: % x % x %v", h, body, err)
	}
	received := make(chan int64, 1)
	var got atomic.Int64
	go func() {
		defer close(received)
		for {
			h, _, err := readMQTTPacket(r)
			if err != nil {
				return
			}
			if h>>4 == 3 {
				n := got.Add(1)
				if n%128 == 0 || n == connsPublishes {
					select {
					case received <- n:
					default:
					}
				}
				if n == connsPublishes {
					return
				}
			}
		}
	}()
	msg := mqttPacket(0x30, append(mqttString(nil, topic), benchPayload...))
	w := bufio.NewWriter(pub)
	start := time.Now()
	for sent := 1; sent <= connsPublishes; sent++ {
		for int64(sent)-got.Load() > benchWindow {
			if err := w.Flush(); err != nil {
				return 0, err
			}
			if _, ok := <-received; !ok {
				return 0, fmt.Errorf("subscriber lost after %d messages", got.Load())
			}
		}
		if _, err := w.Write(msg); err != nil {
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	for got.Load() < connsPublishes {
		if _, ok := <-received; !ok && got.Load() < connsPublishes {
			return 0, errors.New("subscriber lost after " + strconv.FormatInt(got.Load(), 10) + " messages")
		}
	}
	return connsPublishes / time.Since(start).Seconds(), nil
}
