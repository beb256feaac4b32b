package mqtt

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
)

// poller tells parked connections that they have bytes to read. It is an
// epoll instance of its own beside Go's netpoller (which cannot be asked to
// call back, only to wake a goroutine blocked in a read): each parked socket
// is in it level-triggered and one-shot, so one readiness wakes the
// connection once, and the connection arms it again when it parks again.
// The epoll instance is itself a non-blocking file in Go's netpoller: the
// goroutine that collects its events waits as a read on a socket does, with
// no thread blocked in epoll_wait, and the runtime runs it when an event is
// ready. A connection that wakes reads on a goroutine of its own
// (queuedConn.wake).
type poller struct {
	epfd int
	file *os.File        // epfd, in Go's netpoller; closing it stops run
	raw  syscall.RawConn // file's
	log  *slog.Logger

	mu     sync.Mutex
	conns  map[uint64]*queuedConn // by the key in their epoll event
	nextID uint64
	done   chan struct{} // run has returned
}

// newPoller makes the epoll instance and starts the goroutine that waits on
// it; close stops it.
func newPoller(log *slog.Logger) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	// Non-blocking: os.NewFile puts it in the netpoller.
	file := os.NewFile(uintptr(epfd), "mqtt-park-epoll")
	raw, err := file.SyscallConn()
	if err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{epfd: epfd, file: file, raw: raw, log: log, conns: make(map[uint64]*queuedConn), done: make(chan struct{})}
	go p.run()
	return p, nil
}

func setKey(ev *syscall.EpollEvent, key uint64) {
	ev.Fd, ev.Pad = int32(uint32(key)), int32(uint32(key>>32))
}

func eventKey(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// close stops the poller. Connections still parked are woken only by their
// deadline or close from then on; Server.Close closes them first.
func (p *poller) close() {
	_ = p.file.Close()
	<-p.done
}

func (p *poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	var n int
	var werr error
	// collect takes what events are ready without waiting; false makes
	// the RawConn wait until the epoll instance is readable.
	collect := func(fd uintptr) bool {
		n, werr = syscall.EpollWait(int(fd), events, 0)
		return n > 0 || werr != nil && !errors.Is(werr, syscall.EINTR)
	}
	for {
		if err := p.raw.Read(collect); err != nil {
			return // closed
		}
		if werr != nil {
			p.log.Error("epoll_wait failed: idle connections no longer wake on input", "error", werr)
			return
		}
		for i := range events[:n] {
			p.mu.Lock()
			q := p.conns[eventKey(&events[i])]
			p.mu.Unlock()
			if q != nil {
				q.wake()
			}
		}
	}
}

// arm puts the connection's socket in the epoll set, or arms it again, for
// one wake when it is readable. q.pk is held.
func (p *poller) arm(q *queuedConn) error {
	op := syscall.EPOLL_CTL_MOD
	if q.pollKey == 0 {
		p.mu.Lock()
		p.nextID++
		q.pollKey = p.nextID
		p.conns[q.pollKey] = q
		p.mu.Unlock()
		op = syscall.EPOLL_CTL_ADD
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	setKey(&ev, q.pollKey)
	var err error
	cerr := q.raw.Control(func(fd uintptr) {
		err = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if cerr != nil {
		err = cerr
	}
	if err != nil && op == syscall.EPOLL_CTL_ADD {
		p.forget(q)
	}
	return err
}

// forget takes the connection out of the epoll set; q.pk is held.
func (p *poller) forget(q *queuedConn) {
	if q.pollKey == 0 {
		return
	}
	p.mu.Lock()
	delete(p.conns, q.pollKey)
	p.mu.Unlock()
	q.pollKey = 0
	// Closing the socket would take it out too, but the socket may
	// outlive the session (a final packet still to flush).
	_ = q.raw.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
}

// parkable reports whether connections can park on this system.
const parkable = true
