package mqtt

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// net.Pipe is unbuffered: a write blocks until the other end reads, which
// makes "a client that stops reading" exact.
func TestQueuedConnNeverBlocksAndEvictsWhenFull(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	var evictions atomic.Int32
	var reason atomic.Value
	q := newQueuedConn(server, 1024, time.Minute, func(r string) { evictions.Add(1); reason.Store(r) })

	start := time.Now()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = q.Write(bytes.Repeat([]byte{'x'}, 100))
	}
	if time.Since(start) > time.Second {
		t.Fatal("Write blocked on a client that does not read")
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("writes past the limit: %v, want ErrSlowConsumer", err)
	}
	if evictions.Load() != 1 || reason.Load() != "write_buffer_full" {
		t.Fatalf("evictions %d (%v), want one for write_buffer_full", evictions.Load(), reason.Load())
	}
	if _, err := q.Write([]byte("more")); err == nil {
		t.Fatal("write after eviction succeeded")
	}
	q.finish()
	select {
	case <-q.done:
	case <-time.After(5 * time.Second):
		t.Fatal("writer goroutine did not end")
	}
	if !q.closedByServer() {
		t.Fatal("an evicted connection must count as closed by the server")
	}
}

func TestQueuedConnFlushesQueuedAndFinalBytesOnFinish(t *testing.T) {
	server, client := net.Pipe()
	q := newQueuedConn(server, 1<<20, time.Minute, func(string) { t.Error("evicted") })
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(client); got <- b }()

	if _, err := q.Write([]byte("one,")); err != nil {
		t.Fatal(err)
	}
	// mochi's Close: reads end at once, writes already queued still go out.
	_ = q.Close()
	if _, err := q.Write([]byte("late,")); err == nil {
		t.Fatal("ordinary write after Close accepted")
	}
	q.final([]byte("last"))
	q.finish()
	select {
	case b := <-got:
		if string(b) != "one,last" {
			t.Fatalf("client read %q, want %q", b, "one,last")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection not flushed and closed")
	}
	<-q.done
}

func TestQueuedConnWriteTimeoutEvicts(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	evicted := make(chan string, 1)
	q := newQueuedConn(server, 1<<20, 50*time.Millisecond, func(r string) { evicted <- r })
	if _, err := q.Write([]byte("nobody reads this")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-evicted:
		if r != "write_timeout" {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write that never completes was not timed out")
	}
	<-q.done
}

func TestQueuedConnCloseCutsReads(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	q := newQueuedConn(server, 1024, time.Minute, func(string) {})
	readErr := make(chan error, 1)
	go func() { _, err := q.Read(make([]byte, 1)); readErr <- err }()
	_ = q.Close()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("read returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a blocked read: mochi's read loop would hang")
	}
	if !q.closedByServer() {
		t.Fatal("a read ended by Close must count as closed by the server")
	}
	// mochi's keepalive refresh after Close must not reopen reads.
	_ = q.SetDeadline(time.Now().Add(time.Hour))
	if _, err := q.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after Close succeeded")
	}
	q.finish()
	<-q.done
}
