// Package fedtest runs real redis-server processes for tests: a single
// server, with or without an append-only file, that a test can stop, kill
// (SIGKILL) and restart on the same port; and a six-node Redis Cluster
// (three primaries, three replicas). Everything lives in t.TempDir() and on
// loopback ports, and is stopped when the test ends.
//
// The tests need redis-server and redis-cli (Debian: the redis-server
// package, which brings redis-tools). A test that cannot find them fails,
// saying to run `make deps`; it never skips.
package fedtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure a server.
type Options struct {
	// AppendOnly turns persistence on: appendonly yes (fsync every second
	// unless Fsync says otherwise), so a restarted server reloads its data.
	// Off, the server keeps nothing: a restart starts it empty.
	AppendOnly bool
	// Fsync is appendfsync with AppendOnly: "everysec" (default), "always"
	// or "no".
	Fsync string
	// Args are more redis-server arguments, e.g. "--maxmemory", "10mb".
	Args []string
}

// Server is a redis-server process on a loopback port.
type Server struct {
	t    testing.TB
	port int
	dir  string
	conf string // a config file to start with (Sentinel needs one it can rewrite)
	args []string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is a running redis-server and the channel its exit comes on.
type process struct {
	cmd    *exec.Cmd
	exited chan error
}

// Require fails the test unless redis-server and redis-cli are installed.
func Require(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("fedtest: %s not found in PATH: run `make deps` (it installs the Debian package redis-server, which brings redis-cli)", bin)
		}
	}
}

// Start starts a redis-server on a free loopback port, in a directory of
// t.TempDir(), and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := newServer(t, opts)
	s.startOnFreePort(false)
	return s
}

// StartOn starts a redis-server on the given loopback port (a test that
// first runs clients against nothing, then brings Redis up where they
// look), and stops it when the test ends.
func StartOn(t testing.TB, port string, opts Options) *Server {
	t.Helper()
	s := newServer(t, opts)
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("fedtest: port %q: %v", port, err)
	}
	s.port = p
	if err := s.start(); err != nil {
		t.Fatalf("fedtest: redis-server did not start on %s: %v", s.Addr(), err)
	}
	return s
}

func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	s := &Server{t: t, dir: t.TempDir()}
	s.args = []string{"--bind", "127.0.0.1", "--dir", s.dir, "--logfile", "redis.log", "--daemonize", "no", "--save", ""}
	if opts.AppendOnly {
		fsync := opts.Fsync
		if fsync == "" {
			fsync = "everysec"
		}
		s.args = append(s.args, "--appendonly", "yes", "--appendfsync", fsync)
	} else {
		s.args = append(s.args, "--appendonly", "no")
	}
	s.args = append(s.args, opts.Args...)
	t.Cleanup(s.Kill)
	return s
}

// startOnFreePort picks a free port (and, for cluster nodes, a free bus port
// 10000 above it) and starts the server there, trying again if another
// process takes the port meanwhile.
func (s *Server) startOnFreePort(cluster bool) {
	s.t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ { // a busy machine may hold many ports (a cluster node needs two)
		s.port, err = freePort(cluster)
		if err != nil {
			continue
		}
		if err = s.start(); err == nil {
			return
		}
	}
	s.t.Fatalf("fedtest: redis-server did not start: %v", err)
}

// freePort returns a loopback port that is free now (with its cluster bus
// port, if asked).
func freePort(cluster bool) (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if cluster {
		if port+10000 > 65535 {
			return 0, errors.New("bus port out of range")
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			return 0, err
		}
		bus.Close()
	}
	return port, nil
}

// start runs redis-server on s.port and waits until it answers PING (an
// AOF being loaded answers LOADING until it is done).
func (s *Server) start() error {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(append(args, "--port", strconv.Itoa(s.port)), s.args...)
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // ends with the process
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := ping(s.Addr()); err == nil {
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server exited (%v): %s", err, s.logTail())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server not ready after 15s: %s", s.logTail())
		}
	}
	s.mu.Lock()
	s.proc = &process{cmd: cmd, exited: exited}
	s.mu.Unlock()
	return nil
}

// ping sends PING and expects PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return errors.New(strings.TrimSpace(line))
	}
	return nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, s.logName()))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func (s *Server) logName() string {
	if s.conf != "" {
		return "sentinel.log"
	}
	return "redis.log"
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Dir is the server's working directory (its log, AOF and cluster config).
func (s *Server) Dir() string { return s.dir }

// Running reports whether the process runs.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Stop shuts the server down cleanly (SIGTERM: an append-only file is
// flushed) and waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill kills the server with SIGKILL, as a crash would: with an append-only
// file on everysec, up to about a second of writes is lost. Killing a stopped
// server does nothing.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Restart starts a stopped or killed server again on the same port and
// directory: with AppendOnly it reloads its data, else it starts empty. It
// fails the test if the server runs.
func (s *Server) Restart() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatalf("fedtest: Restart of a running server %s", s.Addr())
	}
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		if !strings.Contains(err.Error(), "in use") {
			break
		}
		time.Sleep(100 * time.Millisecond) // the port is briefly held by another process
	}
	s.t.Fatalf("fedtest: redis-server did not restart on %s: %v", s.Addr(), err)
}

// Client returns a go-redis client of the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), DisableIdentity: true, MaxRetries: -1})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Do runs one command on the server and returns its reply.
func (s *Server) Do(args ...any) (any, error) {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), DisableIdentity: true, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Do(ctx, args...).Result()
}
