package router

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
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
	"github.com/golang-jwt/jwt/v5"
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
// AUTH, CALL and the rest. The router is the default one: anonymous
// clients may do anything.
//
// Go's fuzzing discards what a worker process prints, so a panic in a
// router goroutine shows only as "fuzzing process hung or terminated
// unexpectedly" with an input that may not crash alone (the router's state
// from earlier inputs can matter). With JUNCTION_FUZZ_CRASH_DIR set, each
// process writes its fatal panic there, stack included:
//
//	JUNCTION_FUZZ_CRASH_DIR=/tmp go test ./router -run '^$' -fuzz '^FuzzStream$' -fuzztime 60s
func FuzzStream(f *testing.F) {
	crashOutput(f)
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
	fuzzConnections(f, r)
}

// FuzzStreamSecure is FuzzStream on a router with users, roles and JWT keys
// (the secure fixture: passwords, WAMP ticket, WAMP-CRA, cryptosign, ES256
// and HS256 tokens), where anonymous clients may only read public.*. Its
// seeds log in with each method, valid and not, then use and overstep
// their role: what the auth and authorization paths make of any input.
//
//	JUNCTION_FUZZ_CRASH_DIR=/tmp go test ./router -run '^$' -fuzz '^FuzzStreamSecure$' -fuzztime 60s
func FuzzStreamSecure(f *testing.F) {
	crashOutput(f)
	fx := newSecureFixture(f, func(c *Config, _ *secureFixture) {
		c.Limits.ConnectTimeout = Duration(2 * time.Second)
		c.Auth.Throttle.MaxFailures = 0
	})
	es256 := fx.token(f, "browser-5", "browser", "realm1", nil)
	hs256 := signToken(f, jwt.SigningMethodHS256, fx.hmacSecret, "sensor-9", "device", "realm1", nil)
	mqttSeeds := secureMQTTSeeds(es256, hs256)
	for _, s := range mqttSeeds {
		f.Add(false, s)
		f.Add(true, s)
	}
	for _, m := range secureWAMPSeeds(fx, es256) {
		f.Add(true, rawSocketSession(f, 1, &serialize.JSONSerializer{}, m))
		f.Add(true, rawSocketSession(f, 2, &serialize.MessagePackSerializer{}, m))
	}
	// The token on the upgrade request, as a browser sends it.
	f.Add(true, append(wsUpgrade("/ws", "wamp.2.json", "Authorization: Bearer "+es256+"\r\n"),
		wsMessages(f, 1, &serialize.JSONSerializer{}, wampSession())...))
	// The token in the URL, with a CONNECT that carries no credentials
	// (the last seed).
	f.Add(true, append(wsUpgrade("/ws?token="+hs256, "mqtt", ""), wsMQTT(mqttSeeds[len(mqttSeeds)-1])...))
	fuzzConnections(f, fx.r)
}

// crashOutput has this process write a fatal panic, stack included, to a
// file in JUNCTION_FUZZ_CRASH_DIR, if set; the file is removed if the
// process ends without one.
func crashOutput(f *testing.F) {
	dir := os.Getenv("JUNCTION_FUZZ_CRASH_DIR")
	if dir == "" {
		return
	}
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

// fuzzConnections is the fuzz function of FuzzStream and FuzzStreamSecure:
// one connection to r's MQTT port (universal false) or universal port.
func fuzzConnections(f *testing.F, r *Router) {
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

// Building blocks of MQTT packets, for seeds.
func mqttStr(v string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(v))), v...)
}
func mqttU16(n uint16) []byte { return binary.BigEndian.AppendUint16(nil, n) }
func concat(ps ...[]byte) []byte {
	var out []byte
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}

// mqttPacket is a packet of the fixed header's first byte and the parts of
// its body.
func mqttPacket(header byte, parts ...[]byte) []byte {
	body := concat(parts...)
	return append(append([]byte{header}, varint(len(body))...), body...)
}

// mqttProps is an MQTT 5 property list: its length, then the properties.
func mqttProps(parts ...[]byte) []byte {
	body := concat(parts...)
	return append(varint(len(body)), body...)
}

// mqttSeeds are MQTT sessions, 3.1.1 and 5, each starting with CONNECT.
func mqttSeeds() [][]byte {
	s, u16, packet, props, join := mqttStr, mqttU16, mqttPacket, mqttProps, concat
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

// secureMQTTSeeds log in to the secure fixture each way MQTT can, then
// publish and subscribe inside and outside their role.
func secureMQTTSeeds(es256, hs256 string) [][]byte {
	s, u16, packet, props := mqttStr, mqttU16, mqttPacket, mqttProps
	mqtt := s("MQTT")
	login3 := func(id, user, password string) []byte {
		return packet(0x10, mqtt, []byte{4, 0xC2}, u16(30), s(id), s(user), s(password))
	}
	use := func(v5 bool, topics ...string) []byte { // subscribe and publish each, QoS 1
		var out []byte
		for i, topic := range topics {
			var p []byte
			if v5 {
				p = props()
			}
			out = append(out, packet(0x82, u16(uint16(2*i+1)), p, s(topic+"/#"), []byte{1})...)
			out = append(out, packet(0x32, s(topic+"/x"), u16(uint16(2*i+2)), p, []byte("21.5"))...)
		}
		return out
	}
	return [][]byte{
		concat(login3("alice-1", "alice", "alice-pw"), use(false, "devices/sensor-1", "public", "secret"), packet(0xE0)),
		concat(login3("sensor-1", "sensor-1", "sensor-1-pw"), use(false, "devices/sensor-1", "devices/sensor-2"),
			packet(0x82, u16(9), s("$rpc/com/acme/device/sensor-1/status"), []byte{1})),
		login3("alice-2", "alice", "not her password"),
		login3("nobody", "nobody", "x"),
		// MQTT 5, a token as the password.
		concat(packet(0x10, mqtt, []byte{5, 0xC2}, u16(30), props(), s("browser-5"), s("browser-5"), s(es256)),
			use(true, "devices/sensor-1", "com/acme"), packet(0xE0, []byte{0}, props())),
		concat(packet(0x10, mqtt, []byte{5, 0xC2}, u16(30), props(), s("sensor-9"), s("sensor-9"), s(hs256)),
			use(true, "devices/sensor-9")),
		// MQTT 5 enhanced authentication with method jwt, then
		// re-authentication: the same token, then a broken one.
		concat(packet(0x10, mqtt, []byte{5, 0x02}, u16(30),
			props([]byte{0x15}, s("jwt"), []byte{0x16}, s(es256)), s("browser-5b")),
			use(true, "devices/sensor-1"),
			packet(0xF0, []byte{0x19}, props([]byte{0x15}, s("jwt"), []byte{0x16}, s(es256))),
			packet(0xF0, []byte{0x19}, props([]byte{0x15}, s("jwt"), []byte{0x16}, s(es256[:len(es256)-4])))),
		// No credentials: anonymous (public only), or whoever a token
		// on the WebSocket upgrade names. Last: FuzzStreamSecure sends it
		// after an upgrade with ?token=.
		concat(packet(0x10, mqtt, []byte{5, 0x02}, u16(30), props(), s("guest")), use(true, "public", "devices")),
	}
}

// secureWAMPSeeds are WAMP sessions that join the secure fixture's realm1
// with each authentication method (ticket with a password and with a
// token, WAMP-CRA and cryptosign answered blindly, as the challenge is not
// known when the input is made), then use their role.
func secureWAMPSeeds(fx *secureFixture, token string) [][]nxwamp.Message {
	hello := func(authid string, methods []string, extra nxwamp.Dict) nxwamp.Message {
		return &nxwamp.Hello{Realm: "realm1", Details: nxwamp.Dict{
			"authid": authid, "authmethods": methods, "authextra": extra,
			"roles": nxwamp.Dict{"subscriber": nxwamp.Dict{}, "publisher": nxwamp.Dict{}, "caller": nxwamp.Dict{}, "callee": nxwamp.Dict{}}}}
	}
	session := wampSession()[1:] // all but HELLO
	join := func(first ...nxwamp.Message) []nxwamp.Message { return append(first, session...) }
	pub := hex.EncodeToString(fx.signKey.Public().(ed25519.PublicKey))
	return [][]nxwamp.Message{
		join(hello("alice", []string{"ticket"}, nil), &nxwamp.Authenticate{Signature: "alice-pw", Extra: nxwamp.Dict{}}),
		join(hello("browser-5", []string{"ticket"}, nil), &nxwamp.Authenticate{Signature: token, Extra: nxwamp.Dict{}}),
		join(hello("sensor-1", []string{"wampcra"}, nil), &nxwamp.Authenticate{Signature: "bm90IGl0", Extra: nxwamp.Dict{}}),
		join(hello("sensor-1", []string{"cryptosign"}, nxwamp.Dict{"pubkey": pub, "channel_binding": nil}),
			&nxwamp.Authenticate{Signature: strings.Repeat("ab", 96), Extra: nxwamp.Dict{}}),
		join(hello("", []string{"anonymous"}, nil)),
	}
}

// rawSocketSeeds are WAMP sessions over RawSocket in JSON, MessagePack and
// CBOR: HELLO, SUBSCRIBE, PUBLISH, REGISTER, CALL, GOODBYE.
func rawSocketSeeds(f *testing.F) [][]byte {
	return [][]byte{
		rawSocketSession(f, 1, &serialize.JSONSerializer{}, wampSession()),
		rawSocketSession(f, 2, &serialize.MessagePackSerializer{}, wampSession()),
		rawSocketSession(f, 3, &serialize.CBORSerializer{}, wampSession()),
	}
}

// rawSocketSession is the RawSocket handshake for the serializer numbered
// id (the largest message length), then msgs, one a frame.
func rawSocketSession(f *testing.F, id byte, s serialize.Serializer, msgs []nxwamp.Message) []byte {
	out := []byte{0x7F, 0xF0 | id, 0, 0}
	for _, m := range msgs {
		b, err := s.Serialize(m)
		if err != nil {
			f.Fatalf("serializing %T: %v", m, err)
		}
		out = append(out, 0, byte(len(b)>>16), byte(len(b)>>8), byte(len(b)))
		out = append(out, b...)
	}
	return out
}

// webSocketSeeds are the same sessions over WebSocket: an upgrade request
// for the subprotocol, then client frames masked with the key 0 (which
// leaves the payload as it is, so that mutations of it are mutations of
// MQTT or WAMP), one message a frame. One asks for permessage-deflate.
func webSocketSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for i, s := range mqttSeeds()[:3] {
		extra := ""
		if i == 2 {
			extra = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
		}
		seeds = append(seeds, append(wsUpgrade("/ws", "mqtt", extra), wsMQTT(s)...))
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
		seeds = append(seeds, append(wsUpgrade("/ws", c.protocol, ""), wsMessages(f, c.opcode, c.s, wampSession())...))
	}
	return seeds
}

// wsUpgrade is a WebSocket upgrade request for target and protocol, with
// extra header lines.
func wsUpgrade(target, protocol, extra string) []byte {
	return []byte("GET " + target + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol + "\r\n" + extra + "\r\n")
}

// wsFrame is a client frame, final, masked with the key 0.
func wsFrame(opcode byte, payload []byte) []byte {
	out := []byte{0x80 | opcode}
	if n := len(payload); n < 126 {
		out = append(out, 0x80|byte(n))
	} else {
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	}
	out = append(out, 0, 0, 0, 0) // the mask key
	return append(out, payload...)
}

// wsMQTT is an MQTT session's packets, one a binary frame.
func wsMQTT(session []byte) []byte {
	var out []byte
	for len(session) > 0 {
		n, used := 0, 1 // the remaining length, and the bytes of the fixed header
		for shift := 0; used < len(session); shift += 7 {
			b := session[used]
			used++
			n |= int(b&0x7f) << shift
			if b&0x80 == 0 {
				break
			}
		}
		end := min(used+n, len(session))
		out = append(out, wsFrame(2, session[:end])...)
		session = session[end:]
	}
	return out
}

// wsMessages is msgs serialized, one a frame of opcode (1 text, 2 binary),
// then a close frame (1000).
func wsMessages(f *testing.F, opcode byte, s serialize.Serializer, msgs []nxwamp.Message) []byte {
	var out []byte
	for _, m := range msgs {
		b, err := s.Serialize(m)
		if err != nil {
			f.Fatalf("serializing %T: %v", m, err)
		}
		out = append(out, wsFrame(opcode, b)...)
	}
	return append(out, wsFrame(8, []byte{0x03, 0xe8})...)
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
