package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	nxrouter "github.com/gammazero/nexus/v3/router"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// server is a target under measurement, in a process of its own.
type server struct {
	name    string
	mqtt    string // tcp://host:port, "" if none
	ws      string // ws://host:port/path, "" if none
	procs   []*exec.Cmd
	cleanup []func()
}

func (s *server) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	for _, f := range s.cleanup {
		f()
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// waitListening polls a port until it accepts (a port has no event to wait on).
func waitListening(a string, p *exec.Cmd) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", a)
		if err == nil {
			return c.Close()
		}
		if p != nil && p.ProcessState != nil {
			return fmt.Errorf("exited before listening on %s", a)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after 15s: %w", a, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func start(s *server, logs io.Writer, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s.procs = append(s.procs, cmd)
	return cmd, nil
}

// junctionConfig is the configuration of a measured Junction: the default,
// quieter, with room for every connection of the scenarios.
func junctionConfig(dir string, httpPort, mqttPort int) (string, error) {
	body := fmt.Sprintf(`log:
  level: warn
http:
  listen: "127.0.0.1:%d"
mqtt:
  listen: "127.0.0.1:%d"
limits:
  max_connections: 100000
`, httpPort, mqttPort)
	f := filepath.Join(dir, fmt.Sprintf("junction-%d.yaml", httpPort))
	return f, os.WriteFile(f, []byte(body), 0o600)
}

func startJunction(bin, dir string, logs io.Writer, extra ...string) (*server, error) {
	s := &server{name: "junction"}
	hp, err1 := freePort()
	mp, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	conf, err := junctionConfig(dir, hp, mp)
	if err != nil {
		return nil, err
	}
	p, err := start(s, logs, bin, append([]string{"serve", "--config", conf}, extra...)...)
	if err == nil {
		err = errors.Join(waitListening(addr(hp), p), waitListening(addr(mp), p))
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("junction: %w", err)
	}
	s.mqtt, s.ws = "tcp://"+addr(mp), "ws://"+addr(hp)+"/ws"
	return s, nil
}

// startFederated runs redis-server and two Junction routers federated
// through it; mqtt/ws are the first router's, mqtt2/ws2 the second's.
func startFederated(bin, dir string, logs io.Writer) (a, b *server, err error) {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, nil, fmt.Errorf("redis-server is not installed (make deps): %w", err)
	}
	rp, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	r := &server{name: "redis"}
	p, err := start(r, logs, redisBin, "--port", strconv.Itoa(rp), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err == nil {
		err = waitListening(addr(rp), p)
	}
	if err != nil {
		r.stop()
		return nil, nil, fmt.Errorf("redis: %w", err)
	}
	url := "redis://" + addr(rp)
	a, err = startJunction(bin, dir, logs, "--redis", url, "--node-id", "bench-a")
	if err != nil {
		r.stop()
		return nil, nil, err
	}
	b, err = startJunction(bin, dir, logs, "--redis", url, "--node-id", "bench-b")
	if err != nil {
		a.stop()
		r.stop()
		return nil, nil, err
	}
	b.cleanup = append(b.cleanup, a.stop, r.stop)
	return a, b, nil
}

func startMosquitto(dir string, logs io.Writer) (*server, error) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
		if _, err := os.Stat(bin); err != nil {
			return nil, errors.New("mosquitto is not installed (make deps)")
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nmax_connections -1\npersistence false\nlog_type none\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, err
	}
	s := &server{name: "mosquitto"}
	p, err := start(s, logs, bin, "-c", conf)
	if err == nil {
		err = waitListening(addr(port), p)
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("mosquitto: %w", err)
	}
	s.mqtt = "tcp://" + addr(port)
	return s, nil
}

// startBare runs this program as a bare mochi or nexus server.
func startBare(kind string, logs io.Writer) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	mp, err1 := freePort()
	wp, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	s := &server{name: kind}
	args := []string{"-serve", kind, "-ws-addr", addr(wp)}
	if kind == "mochi" {
		args = append(args, "-mqtt-addr", addr(mp))
	}
	p, err := start(s, logs, self, args...)
	if err == nil {
		err = waitListening(addr(wp), p)
	}
	if err == nil && kind == "mochi" {
		err = waitListening(addr(mp), p)
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("bare %s: %w", kind, err)
	}
	if kind == "mochi" {
		s.mqtt, s.ws = "tcp://"+addr(mp), "ws://"+addr(wp)+"/"
	} else {
		s.ws = "ws://" + addr(wp) + "/"
	}
	return s, nil
}

// serveBare is the helper process: a bare engine, configured as plainly as
// router/bench_test.go's (mochi: default options, allow-all; nexus: realm1
// anonymous behind its WebsocketServer, out queue at Junction's
// limits.wamp_queue), until SIGINT.
func serveBare(ctx context.Context, kind, mqttAddr, wsAddr string) error {
	switch kind {
	case "mochi":
		s := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
		if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
			return err
		}
		for _, l := range []listeners.Listener{
			listeners.NewTCP(listeners.Config{ID: "tcp", Address: mqttAddr}),
			listeners.NewWebsocket(listeners.Config{ID: "ws", Address: wsAddr}),
		} {
			if err := s.AddListener(l); err != nil {
				return err
			}
		}
		if err := s.Serve(); err != nil {
			return err
		}
		<-ctx.Done()
		return s.Close()
	case "nexus":
		nr, err := nxrouter.NewRouter(&nxrouter.Config{
			RealmConfigs: []*nxrouter.RealmConfig{{URI: "realm1", AnonymousAuth: true, AllowDisclose: true}},
		}, log.New(io.Discard, "", 0))
		if err != nil {
			return err
		}
		defer nr.Close()
		wss := nxrouter.NewWebsocketServer(nr)
		wss.OutQueueSize = 1024
		srv := &http.Server{Addr: wsAddr, Handler: wss, ReadHeaderTimeout: 10 * time.Second}
		errc := make(chan error, 1)
		go func() { errc <- srv.ListenAndServe() }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			_ = srv.Close()
			if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
	return fmt.Errorf("-serve %q: want mochi or nexus", kind)
}
