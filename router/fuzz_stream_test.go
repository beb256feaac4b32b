package router

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// FuzzStream sends a router whatever bytes the fuzzer makes, as one client
// on one connection, and then closes its sending side. The router may answer
// what it likes, but it must close the connection within a deadline once
// the client has (no session left hanging, parked or not), and it must not
// panic: the router runs in the fuzzing process, so a panic in any of its
// goroutines is a crash the fuzzer reports with its input. The port is the
// dedicated MQTT one or the universal one (MQTT, RawSocket WAMP, HTTP and
// WebSocket with MQTT or WAMP in every serializer), as the first argument
// says. The seeds are whole sessions, so that mutations reach past CONNECT
// and HELLO into what mochi, nexus, gorilla's WebSocket, the auth hooks,
// RPC, shared subscriptions and the bridge make of PUBLISH, SUBSCRIBE,
// AUTH, CALL and the rest.
//
// Go's fuzzing discards what a worker process prints, so a panic in a
// router goroutine shows only as "fuzzing process hung or terminated
// unexpectedly" with an input that may not crash alone (the router's state
// from earlier inputs can matter). With JUNCTION_FUZZ_CRASH_DIR set, each
// process writes its fatal panic there, stack included:
//
//	JUNCTION_FUZZ_CRASH_DIR=/tmp go test ./router -run '^$' -fuzz FuzzStream -fuzztime 60s
func FuzzStream(f *testing.F) {
	if dir := os.Getenv("JUNCTION_FUZZ_CRASH_DIR"); dir != "" {
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("junction-fuzz-crash-%d.txt", os.Getpid())))
		if err != nil {
			f.Fatal(err)
		}
		if err := debug.SetCrashOutput(out, debug.CrashOptions{}); err != nil {
			f.Fatal(err)
		}
		_ = out.Close() // SetCrashOutput holds its own descriptor
		f.Cleanup(func() {
			if fi, err := os.Stat(out.Name()); err == nil && fi.Size() == 0 {
				_ = os.Remove(out.Name()) // no crash
			}
		})
	}
	for _, s := range mqttSeeds() {
		f.Add(false, s)
		f.Add(true, s)
	}
	for _, s := range rawSocketSeeds(f) {
		f.Add(true, s)
	}
	for _, s := range webSocketSeeds(f) {
		f.Add(true, s)
	}
	f.Add(true, []byte("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))

	r := startRouter(f, func(c *Config) {
		// Short, so that a session the input leaves open ends soon
		// after the client's FIN rather than at a long keep alive.
		c.Limits.ConnectTimeout = Duration(2 * time.Second)
		c.RPC.CallTimeout = Duration(time.Second)
		c.Auth.Throttle.MaxFailures = 0 // wrong passwords are input like any other
	})
	f.Fuzz(func(t *testing.T, universal bool, input []byte) {
		addr := mqttAddr(r)
		if universal {
			addr = httpAddr(r)
		}
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Below the fuzzer's own 10 s, past which it calls a worker hung
		// and reports no more than that.
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		write := func(b []byte) {
			if _, err := conn.Write(b); err != nil && !isClosedErr(err) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("write: %v", err)
			}
		}
		in := bufio.NewReader(conn)
		rest := input
		if head, frames, upgrade := splitUpgrade(universal, input); upgrade {
			// A WebSocket client waits for the upgrade's answer
			// before it sends frames (gorilla refuses a client that
			// does not): the request, its answer, then the rest.
			write(head)
			if !switched(in) {
				rest = nil
			} else {
				rest = frames
			}
		}
		// Read while writing: input that asks for many answers must not
		// stall on a full socket buffer.
		read := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, in)
			read <- err
		}()
		write(rest)
		_ = conn.(*net.TCPConn).CloseWrite()
		if err := <-read; err != nil && !isClosedErr(err) {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				var stacks strings.Builder
				_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
				t.Fatalf("the router kept the connection open 5 s after the client closed its side; its goroutines:\n%s", stacks.String())
			}
			t.Fatalf("read: %v", err)
		}
	})
}

// splitUpgrade splits input for the universal port that starts with an
// HTTP GET into the request's head and what follows it.
func splitUpgrade(universal bool, input []byte) (head, rest []byte, ok bool) {
	if !universal || !bytes.HasPrefix(input, []byte("GET ")) {
		return nil, nil, false
	}
	i := bytes.Index(input, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, nil, false
	}
	return input[:i+4], input[i+4:], true
}

// switched reads an HTTP response's head and reports whether it is 101
// Switching Protocols; false also when the router closed or sent no head.
func switched(in *bufio.Reader) bool {
	status, err := in.ReadString('\n')
	if err != nil {
		return false
	}
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return false
		}
		if line == "\r\n" {
			return strings.HasPrefix(status, "HTTP/1.1 101 ")
		}
	}
}

// mqttSeeds are MQTT sessions, 3.1.1 and 5, each starting with CONNECT.
func mqttSeeds() [][]byte {
	s := func(v string) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(v))), v...) }
	u16 := func(n uint16) []byte { return binary.BigEndian.AppendUint16(nil, n) }
	packet := func(header byte, parts ...[]byte) []byte {
		var body []byte
		for _, p := range parts {
			body = append(body, p...)
		}
		return append(append([]byte{header}, varint(len(body))...), body...)
	}
	props := func(parts ...[]byte) []byte {
		var body []byte
		for _, p := range parts {
			body = append(body, p...)
		}
		return append(varint(len(body)), body...)
	}
	join := func(ps ...[]byte) []byte {
		var out []byte
		for _, p := range ps {
			out = append(out, p...)
		}
		return out
	}
	mqtt := s("MQTT")

	v3 := join(
		packet(0x10, mqtt, []byte{4, 0x02}, u16(30), s("fuzz-3")),
		packet(0x82, u16(1), s("sensors/#"), []byte{1}, s("$share/g/jobs/+"), []byte{2}),
		packet(0x30, s("sensors/a"), []byte("21.5")),
		packet(0x33, s("sensors/b"), u16(2), []byte(`{"t":1}`)), // QoS 1, retained
		packet(0x34, s("jobs/1"), u16(3), []byte("x")),          // QoS 2
		packet(0x62, u16(3)), // PUBREL
		packet(0x32, s("$rpc/com/example/add"), u16(4), []byte(`{"reply_to":"replies/fuzz-3","correlation":1,"args":[1,2],"timeout":500}`)),
		packet(0x40, u16(9)), // PUBACK for nothing
		packet(0xA2, u16(5), s("sensors/#")),
		packet(0xC0),
		packet(0xE0),
	)
	will := join(
		// Clean session 0, a will on QoS 1 retained, username and password.
		packet(0x10, mqtt, []byte{4, 0xC0 | 0x20 | 0x08 | 0x04}, u16(0), s("fuzz-will"),
			s("wills/fuzz"), s("gone"), s("user"), s("wrong password")),
		packet(0x82, u16(1), s("$rpc/devices/+/status"), []byte{1}),
		packet(0x31, s("a/b"), []byte("retained")),
	)
	v5 := join(
		packet(0x10, mqtt, []byte{5, 0x02}, u16(60),
			props(
				[]byte{0x11}, binary.BigEndian.AppendUint32(nil, 3600), // session expiry
				[]byte{0x21}, u16(10), // receive maximum
				[]byte{0x22}, u16(4), // topic alias maximum
				[]byte{0x26}, s("k"), s("v"), // user property
			),
			s("fuzz-5")),
		packet(0x82, u16(1), props([]byte{0x0B, 7}), s("sensors/+"), []byte{0x01 | 0x04 | 0x08 | 0x10}),
		packet(0x32, s("sensors/c"), u16(2), props(
			[]byte{0x23}, u16(1), // topic alias
			[]byte{0x01, 1},                                      // payload format: UTF-8
			[]byte{0x02}, binary.BigEndian.AppendUint32(nil, 60), // message expiry
			[]byte{0x03}, s("application/json"),
			[]byte{0x08}, s("replies/fuzz-5"),
			[]byte{0x09}, s("corr"),
		), []byte(`{"v":1}`)),
		packet(0x30, s(""), props([]byte{0x23}, u16(1)), []byte("by alias")),
		packet(0x32, s("$rpc/com/example/add"), u16(3), props([]byte{0x08}, s("replies/fuzz-5"), []byte{0x09}, s("c1")), []byte(`[1,2]`)),
		packet(0xA2, u16(4), props(), s("sensors/+")),
		packet(0xF0, []byte{0x19}, props([]byte{0x15}, s("jwt"), []byte{0x16}, s("not.a.token"))), // re-authentication
		packet(0xE0, []byte{0x04}, props([]byte{0x11}, binary.BigEndian.AppendUint32(nil, 0))),
	)
	return [][]byte{
		v3, will, v5,
		packet(0x10, mqtt, []byte{3, 0x02}, u16(10), s("old")),        // 3.1's level with MQTT's name
		packet(0x10, s("MQIsdp"), []byte{3, 0x02}, u16(10), s("3.1")), // 3.1
		packet(0x10, mqtt, []byte{5, 0x02}, u16(10), props([]byte{0x15}, s("SCRAM-SHA-1")), s("auth")),
		{0x10, 0xff, 0xff, 0xff, 0x7f}, // the largest remaining length
	}
}

// rawSocketSeeds are WAMP sessions over RawSocket in JSON, MessagePack and
// CBOR: HELLO, SUBSCRIBE, PUBLISH, REGISTER, CALL, GOODBYE.
func rawSocketSeeds(f *testing.F) [][]byte {
	msgs := wampSession()
	var seeds [][]byte
	for _, c := range []struct {
		id byte
		s  serialize.Serializer
	}{{1, &serialize.JSONSerializer{}}, {2, &serialize.MessagePackSerializer{}}, {3, &serialize.CBORSerializer{}}} {
		out := []byte{0x7F, 0xF0 | c.id, 0, 0} // handshake: the largest message length, this serializer
		for _, m := range msgs {
			b, err := c.s.Serialize(m)
			if err != nil {
				f.Fatalf("serializing %T: %v", m, err)
			}
			out = append(out, 0, byte(len(b)>>16), byte(len(b)>>8), byte(len(b)))
			out = append(out, b...)
		}
		seeds = append(seeds, out)
	}
	return seeds
}

// webSocketSeeds are the same sessions over WebSocket: an upgrade request
// for the subprotocol, then client frames masked with the key 0 (which
// leaves the payload as it is, so that mutations of it are mutations of
// MQTT or WAMP), one message a frame. One asks for permessage-deflate.
func webSocketSeeds(f *testing.F) [][]byte {
	upgrade := func(protocol, extra string) []byte {
		return []byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Protocol: " + protocol + "\r\n" + extra + "\r\n")
	}
	frame := func(opcode byte, payload []byte) []byte {
		out := []byte{0x80 | opcode}
		switch n := len(payload); {
		case n < 126:
			out = append(out, 0x80|byte(n))
		default:
			out = append(out, 0x80|126)
			out = binary.BigEndian.AppendUint16(out, uint16(n))
		}
		out = append(out, 0, 0, 0, 0) // the mask key
		return append(out, payload...)
	}
	mqttSession := func(session []byte) []byte {
		// The session's packets, one a frame: split at each fixed header.
		var out []byte
		for len(session) > 0 {
			n, used := 0, 1
			for shift := 0; used < len(session); shift += 7 {
				b := session[used]
				used++
				n |= int(b&0x7f) << shift
				if b&0x80 == 0 {
					break
				}
			}
			end := min(used+n, len(session))
			out = append(out, frame(2, session[:end])...)
			session = session[end:]
		}
		return out
	}
	var seeds [][]byte
	for i, s := range mqttSeeds()[:3] {
		extra := ""
		if i == 2 {
			extra = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
		}
		seeds = append(seeds, append(upgrade("mqtt", extra), mqttSession(s)...))
	}
	for _, c := range []struct {
		protocol string
		opcode   byte
		s        serialize.Serializer
	}{
		{"wamp.2.json", 1, &serialize.JSONSerializer{}},
		{"wamp.2.msgpack", 2, &serialize.MessagePackSerializer{}},
		{"wamp.2.cbor", 2, &serialize.CBORSerializer{}},
	} {
		out := upgrade(c.protocol, "")
		for _, m := range wampSession() {
			b, err := c.s.Serialize(m)
			if err != nil {
				f.Fatalf("serializing %T: %v", m, err)
			}
			out = append(out, frame(c.opcode, b)...)
		}
		out = append(out, frame(8, []byte{0x03, 0xe8})...) // close, 1000
		seeds = append(seeds, out)
	}
	return seeds
}

// wampSession is a WAMP session's messages: HELLO, SUBSCRIBE, PUBLISH,
// REGISTER, CALL (to its own registration and to an MQTT-style procedure),
// GOODBYE.
func wampSession() []nxwamp.Message {
	return []nxwamp.Message{
		&nxwamp.Hello{Realm: "realm1", Details: nxwamp.Dict{"roles": nxwamp.Dict{
			"subscriber": nxwamp.Dict{}, "publisher": nxwamp.Dict{}, "caller": nxwamp.Dict{}, "callee": nxwamp.Dict{}}}},
		&nxwamp.Subscribe{Request: 1, Options: nxwamp.Dict{"match": "wildcard", "get_retained": true}, Topic: "sensors..temp"},
		&nxwamp.Publish{Request: 2, Options: nxwamp.Dict{"acknowledge": true, "retain": true}, Topic: "sensors.x.temp",
			Arguments: nxwamp.List{21.5}, ArgumentsKw: nxwamp.Dict{"unit": "C"}},
		&nxwamp.Register{Request: 3, Options: nxwamp.Dict{"invoke": "roundrobin"}, Procedure: "com.fuzz.echo"},
		&nxwamp.Call{Request: 4, Options: nxwamp.Dict{"timeout": 500}, Procedure: "com.fuzz.echo", Arguments: nxwamp.List{"hi"}},
		&nxwamp.Call{Request: 5, Procedure: "devices.sensor-7.status"},
		&nxwamp.Goodbye{Details: nxwamp.Dict{}, Reason: nxwamp.CloseNormal},
	}
}
