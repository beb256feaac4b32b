package router

// RPC for MQTT clients, end to end with Go clients nobody here wrote: paho
// (MQTT 5 and 3.1.1) and the nexus client. The external clients (MQTT.js,
// autobahn) are in rpc_external_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/junctionmq/junction/bridge"
)

// mqttReply is an RPC result as an MQTT 5 caller sees it.
type mqttReply struct {
	topic       string
	payload     string
	qos         byte
	correlation string
	contentType string
	props       map[string]string // user properties
}

// rpcV5 is an MQTT 5 client that calls and registers procedures.
type rpcV5 struct {
	*v5Client
	msgs chan *paho.Publish
}

// connectRPCV5 connects an MQTT 5 client whose received publishes arrive on
// a channel large enough for the concurrency tests.
func connectRPCV5(t *testing.T, rawURL, clientID string) *rpcV5 {
	t.Helper()
	msgs := make(chan *paho.Publish, 5000)
	c := connectV5(t, rawURL, clientID, func(cfg *autopaho.ClientConfig) {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { msgs <- pr.Packet; return true, nil },
		}
	})
	return &rpcV5{v5Client: c, msgs: msgs}
}

// call publishes a call to procedure and returns the PUBACK reason code.
func (c *rpcV5) call(t *testing.T, procedure, replyTo, correlation string, payload []byte, qos byte, props ...string) byte {
	t.Helper()
	p := &paho.Publish{Topic: bridge.TopicOfProcedure(procedure), QoS: qos, Payload: payload,
		Properties: &paho.PublishProperties{ResponseTopic: replyTo, CorrelationData: []byte(correlation)}}
	for i := 0; i+1 < len(props); i += 2 {
		p.Properties.User.Add(props[i], props[i+1])
	}
	return publishCode(t, c.cm, p)
}

// publishCode publishes and returns the PUBACK or PUBREC reason code (paho
// reports a refusal as an error with the response).
func publishCode(t *testing.T, cm *autopaho.ConnectionManager, p *paho.Publish) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp, err := cm.Publish(ctx, p)
	if resp != nil {
		return resp.ReasonCode
	}
	if err != nil {
		t.Fatalf("publish %s: %v", p.Topic, err)
	}
	return 0
}

// rpcCaller connects an MQTT 5 caller subscribed to replies/+ at QoS 2, so
// that each result arrives at the QoS of its call.
func rpcCaller(t *testing.T, r *Router, id string) *rpcV5 {
	t.Helper()
	c := connectRPCV5(t, "mqtt://"+mqttAddr(r), id)
	c.subscribe(t, "replies/+", 2)
	return c
}

func (c *rpcV5) reply(t *testing.T) mqttReply {
	t.Helper()
	return replyOf(recv(t, c.msgs, wait, "RPC reply"))
}

func replyOf(p *paho.Publish) mqttReply {
	r := mqttReply{topic: p.Topic, payload: string(p.Payload), qos: p.QoS, props: map[string]string{}}
	if p.Properties != nil {
		r.correlation = string(p.Properties.CorrelationData)
		r.contentType = p.Properties.ContentType
		for _, u := range p.Properties.User {
			r.props[u.Key] = u.Value
		}
	}
	return r
}

// noMessage fails if c receives anything within d.
func noMessage(t *testing.T, msgs <-chan *paho.Publish, d time.Duration, what string) {
	t.Helper()
	select {
	case p := <-msgs:
		t.Fatalf("%s: got %s %q", what, p.Topic, p.Payload)
	case <-time.After(d):
	}
}

// TestRPCMQTT5CallsWAMP: an MQTT 5 client calls a procedure a WAMP client
// registered, in every serializer: the result comes to its Response Topic
// with its Correlation Data, the payload mapped as the bridge maps it.
func TestRPCMQTT5CallsWAMP(t *testing.T) {
	r := startRouter(t, nil)
	for _, tr := range wampTransports(r) {
		t.Run(tr.name, func(t *testing.T) {
			callee := connectWAMP(t, tr.url, tr.ser)
			proc := "com.acme." + strings.ReplaceAll(tr.name, "-", "_") + ".toggle"
			if err := callee.Register(proc, func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
				return client.InvokeResult{Args: nxwamp.List{fmt.Sprintf("toggled %v", inv.Arguments[0])}}
			}, nil); err != nil {
				t.Fatal(err)
			}
			dev := rpcCaller(t, r, "caller-"+tr.name)
			if code := dev.call(t, proc, "replies/"+tr.name, "c-1", []byte("on"), 1); code != 0 {
				t.Fatalf("PUBACK %#x", code)
			}
			got := dev.reply(t)
			want := mqttReply{topic: "replies/" + tr.name, payload: "toggled on", qos: 1, correlation: "c-1",
				contentType: bridge.ContentTypeText, props: map[string]string{}}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("reply %+v, want %+v", got, want)
			}
		})
	}
}

// TestRPCErrorsReachMQTTCallers: a callee's error URI and args, no callee,
// a timeout the caller asked for, a call with none (rpc.call_timeout), and
// an invalid procedure, each as an MQTT 5 reply.
func TestRPCErrorsReachMQTTCallers(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.RPC.CallTimeout = Duration(300 * time.Millisecond) })
	callee := connectWAMP(t, wsURL(r), serialize.JSON)
	if err := callee.Register("com.acme.broken", func(context.Context, *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Err: "com.acme.error.broken", Args: nxwamp.List{"fuse blown", int64(7)}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	if err := callee.Register("com.acme.slow", func(ctx context.Context, _ *nxwamp.Invocation) client.InvokeResult {
		<-ctx.Done()
		return client.InvokeResult{Err: nxwamp.ErrCanceled}
	}, nil); err != nil {
		t.Fatal(err)
	}
	dev := rpcCaller(t, r, "caller")
	cases := []struct {
		name, proc string
		props      []string
		error      string
		payload    string
	}{
		{"callee error", "com.acme.broken", nil, "com.acme.error.broken", `{"args":["fuse blown",7]}`},
		{"no callee", "com.acme.nobody", nil, "wamp.error.no_such_procedure", ""},
		{"caller timeout", "com.acme.slow", []string{"timeout", "100"}, "wamp.error.timeout", ""},
		{"default timeout", "com.acme.slow", nil, "wamp.error.timeout", ""},
	}
	for i, tc := range cases {
		corr := strconv.Itoa(i)
		start := time.Now()
		dev.call(t, tc.proc, "replies/caller", corr, nil, 1, tc.props...)
		got := dev.reply(t)
		if got.correlation != corr || got.props["error"] != tc.error {
			t.Errorf("%s: reply %+v, want error %s", tc.name, got, tc.error)
		}
		if tc.payload != "" && got.payload != tc.payload {
			t.Errorf("%s: payload %s, want %s", tc.name, got.payload, tc.payload)
		}
		if d := time.Since(start); tc.error == "wamp.error.timeout" && d > 3*time.Second {
			t.Errorf("%s: took %v", tc.name, d)
		}
	}
	// Not a procedure: PUBACK 0x90 and an invalid_uri reply.
	p := &paho.Publish{Topic: "$rpc/", QoS: 1, Properties: &paho.PublishProperties{ResponseTopic: "replies/caller", CorrelationData: []byte("x")}}
	if code := publishCode(t, dev.cm, p); code != 0x90 {
		t.Fatalf("call to $rpc/: reason %#x, want 0x90", code)
	}
	if got := dev.reply(t); got.props["error"] != "wamp.error.invalid_uri" {
		t.Fatalf("call to $rpc/: reply %+v", got)
	}
}

// TestRPCMalformedCalls: what cannot be a call gets PUBACK 0x99 (payload
// format invalid) and, where it names a reply topic, a
// wamp.error.invalid_argument reply; the client stays connected.
func TestRPCMalformedCalls(t *testing.T) {
	r := startRouter(t, nil)
	dev := rpcCaller(t, r, "caller")
	publish := func(p *paho.Publish) byte { return publishCode(t, dev.cm, p) }
	for _, tc := range []struct {
		name       string
		p          *paho.Publish
		replyError string
	}{
		{"no response topic, not an envelope", &paho.Publish{Topic: "$rpc/a/b", QoS: 1, Payload: []byte("on")}, ""},
		{"envelope without reply_to", &paho.Publish{Topic: "$rpc/a/b", QoS: 1, Payload: []byte(`{"args":[1]}`)}, ""},
		{"envelope with an unknown member", &paho.Publish{Topic: "$rpc/a/b", QoS: 2, Payload: []byte(`{"reply_to":"replies/x","argz":[1]}`)}, "wamp.error.invalid_argument"},
		{"wildcard response topic", &paho.Publish{Topic: "$rpc/a/b", QoS: 1, Properties: &paho.PublishProperties{ResponseTopic: "replies/+"}}, ""},
		{"bad timeout", &paho.Publish{Topic: "$rpc/a/b", QoS: 1, Properties: &paho.PublishProperties{ResponseTopic: "replies/y",
			User: paho.UserProperties{{Key: "timeout", Value: "soon"}}}}, "wamp.error.invalid_argument"},
	} {
		if code := publish(tc.p); code != 0x99 {
			t.Errorf("%s: reason %#x, want 0x99", tc.name, code)
		}
		if tc.replyError != "" {
			// MQTT 5 form (a user property) or, for an envelope call, the envelope.
			if got := dev.reply(t); got.props["error"] != tc.replyError && !strings.Contains(got.payload, `"error":"`+tc.replyError+`"`) {
				t.Errorf("%s: reply %+v, want %s", tc.name, got, tc.replyError)
			}
		}
	}
	noMessage(t, dev.msgs, 200*time.Millisecond, "after malformed calls")
	// Still connected and served.
	callee := connectWAMP(t, wsURL(r), serialize.JSON)
	if err := callee.Register("a.b", func(context.Context, *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: nxwamp.List{"ok"}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	dev.call(t, "a.b", "replies/z", "1", nil, 1)
	if got := dev.reply(t); got.payload != "ok" {
		t.Fatalf("after bad input: %+v", got)
	}
}

// mqtt3Device is an MQTT 3.1.1 callee (paho.mqtt.golang) that serves
// procedures with the JSON envelope.
type mqtt3Device struct {
	c     mqtt3.Client
	invs  chan map[string]any
	mu    sync.Mutex
	serve func(inv map[string]any) (answers []map[string]any)
}

// startV3Device registers filter and answers each invocation with what serve
// returns (several answers: progress first), published to its reply_to.
func startV3Device(t *testing.T, addr, id, filter string, serve func(map[string]any) []map[string]any) *mqtt3Device {
	t.Helper()
	d := &mqtt3Device{c: connectV3(t, "tcp://"+addr, id, nil), invs: make(chan map[string]any, 1000), serve: serve}
	tok := d.c.Subscribe(filter, 1, func(c mqtt3.Client, m mqtt3.Message) {
		var inv map[string]any
		if err := json.Unmarshal(m.Payload(), &inv); err != nil {
			inv = map[string]any{"unparsable": string(m.Payload())}
		}
		inv["_topic"] = m.Topic()
		d.invs <- inv
		if d.serve == nil {
			return
		}
		for _, a := range d.serve(inv) {
			b, _ := json.Marshal(a)
			reply, _ := inv["reply_to"].(string)
			c.Publish(reply, 1, false, b) // the callback must not wait on the token
		}
	})
	waitToken(t, tok, "register "+filter)
	if got := tok.(*mqtt3.SubscribeToken).Result()[filter]; got != 1 {
		t.Fatalf("subscribe %s: granted %#x", filter, got)
	}
	return d
}

// TestRPCNexusCallsMQTT311Device: the nexus client calls a procedure that a
// paho MQTT 3.1.1 device registered with a wildcard filter; the device gets
// the JSON envelope and answers with one.
func TestRPCNexusCallsMQTT311Device(t *testing.T) {
	r := startRouter(t, nil)
	dev := startV3Device(t, mqttAddr(r), "lamp-7", "$rpc/com/acme/+/reboot", func(inv map[string]any) []map[string]any {
		return []map[string]any{{"correlation": inv["correlation"], "args": []any{"rebooting", inv["args"].([]any)[0]}, "kwargs": map[string]any{"in": 3}}}
	})
	for _, tr := range wampTransports(r) {
		t.Run(tr.name, func(t *testing.T) {
			caller := connectWAMP(t, tr.url, tr.ser)
			res, err := caller.Call(callCtx(t), "com.acme.lamp7.reboot", nil, nxwamp.List{"now"}, nxwamp.Dict{"force": true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(normalizeWAMP(res.Arguments), normalizeWAMP(res.ArgumentsKw)) != "[rebooting now] map[in:3]" {
				t.Fatalf("result %v %v", res.Arguments, res.ArgumentsKw)
			}
			inv := recv(t, dev.invs, wait, "invocation")
			if inv["_topic"] != "$rpc/com/acme/lamp7/reboot" || inv["procedure"] != "com.acme.lamp7.reboot" ||
				!strings.HasPrefix(fmt.Sprint(inv["reply_to"]), "$rpc-reply/") ||
				fmt.Sprint(inv["args"], inv["kwargs"]) != "[now] map[force:true]" {
				t.Fatalf("invocation %v", inv)
			}
		})
	}
}

// v5Device is an MQTT 5 callee that answers with user properties.
func startV5Device(t *testing.T, r *Router, id, filter string, answer func(p *paho.Publish) []*paho.Publish) *rpcV5 {
	t.Helper()
	d := connectRPCV5(t, "mqtt://"+mqttAddr(r), id)
	d.subscribe(t, filter, 1)
	if answer == nil {
		return d
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		for {
			select {
			case p := <-d.msgs:
				for _, out := range answer(p) {
					out.Topic = p.Properties.ResponseTopic
					if out.Properties == nil {
						out.Properties = &paho.PublishProperties{}
					}
					out.Properties.CorrelationData = p.Properties.CorrelationData
					out.QoS = 1
					_, _ = d.cm.Publish(ctx, out)
				}
			case <-ctx.Done():
				return
			}
		}
	})
	return d
}

// TestRPCMQTTToMQTT: an MQTT 5 caller calls an MQTT 5 callee through the
// dealer; the callee sees the procedure, timeout and caller properties and
// answers with an error URI on demand.
func TestRPCMQTTToMQTT(t *testing.T) {
	r := startRouter(t, nil)
	startV5Device(t, r, "thermostat", "$rpc/com/acme/thermostat/set", func(p *paho.Publish) []*paho.Publish {
		if string(p.Payload) == "99" {
			out := &paho.Publish{Payload: []byte(`"too hot"`), Properties: &paho.PublishProperties{ContentType: "application/json"}}
			out.Properties.User.Add("error", "com.acme.error.range")
			return []*paho.Publish{out}
		}
		user := map[string]string{}
		for _, u := range p.Properties.User {
			user[u.Key] = u.Value
		}
		return []*paho.Publish{{Payload: []byte(fmt.Sprintf("set %s (%s, %s)", p.Payload, user["procedure"], user["timeout"]))}}
	})
	caller := rpcCaller(t, r, "phone")
	caller.call(t, "com.acme.thermostat.set", "replies/phone", "a", []byte("21"), 1, "timeout", "2000")
	// "timeout": how long the router waits for the answer (rpc.call_timeout); the
	// dealer ends the call sooner if its caller asked for less.
	if got := caller.reply(t); got.payload != "set 21 (com.acme.thermostat.set, 30000)" || got.correlation != "a" || len(got.props) != 0 {
		t.Fatalf("reply %+v", got)
	}
	// QoS 0: the call and its result.
	caller.call(t, "com.acme.thermostat.set", "replies/phone", "q0", []byte("18"), 0)
	if got := caller.reply(t); got.payload != "set 18 (com.acme.thermostat.set, 30000)" || got.qos != 0 {
		t.Fatalf("QoS 0 reply %+v", got)
	}
	caller.call(t, "com.acme.thermostat.set", "replies/phone", "b", []byte("99"), 1)
	// The callee's JSON string is the error's one arg: the caller gets it as text.
	if got := caller.reply(t); got.props["error"] != "com.acme.error.range" || got.payload != "too hot" || got.correlation != "b" {
		t.Fatalf("error reply %+v", got)
	}
}

// TestRPCCalleeLostMidCall: a device that disconnects while it holds a call
// fails its caller at once with wamp.error.canceled, long before any
// timeout; its procedure is then gone (no_such_procedure). Unsubscribing
// unregisters too.
func TestRPCCalleeLostMidCall(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.RPC.CallTimeout = Duration(time.Minute) })
	dev := startV3Device(t, mqttAddr(r), "flaky", "$rpc/com/acme/flaky", nil)
	caller := connectWAMP(t, wsURL(r), serialize.MSGPACK)
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := caller.Call(context.Background(), "com.acme.flaky", nil, nil, nil, nil)
		errc <- err
	}()
	recv(t, dev.invs, wait, "invocation")
	dev.c.Disconnect(0)
	err := recv(t, errc, wait, "the call's end")
	if uri := rpcErrorURI(err); uri != nxwamp.ErrCanceled || time.Since(start) > 10*time.Second {
		t.Fatalf("call to a lost callee: %v (URI %q) after %v; want wamp.error.canceled at once", err, uri, time.Since(start))
	}
	_, err = caller.Call(callCtx(t), "com.acme.flaky", nil, nil, nil, nil)
	if uri := rpcErrorURI(err); uri != nxwamp.ErrNoSuchProcedure {
		t.Fatalf("after the callee left: %v, want no_such_procedure", err)
	}

	// Unsubscribe unregisters.
	dev2 := startV3Device(t, mqttAddr(r), "quitter", "$rpc/com/acme/quitter", func(inv map[string]any) []map[string]any {
		return []map[string]any{{"args": []any{"here"}}}
	})
	if _, err := caller.Call(callCtx(t), "com.acme.quitter", nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	waitToken(t, dev2.c.Unsubscribe("$rpc/com/acme/quitter"), "unsubscribe")
	if _, err := caller.Call(callCtx(t), "com.acme.quitter", nil, nil, nil, nil); rpcErrorURI(err) != nxwamp.ErrNoSuchProcedure {
		t.Fatalf("after unsubscribe: %v, want no_such_procedure", err)
	}
}

// TestRPCSharedRegistrationOfDevices: two devices register one procedure;
// each call invokes exactly one of them, round robin (the default policy).
func TestRPCSharedRegistrationOfDevices(t *testing.T) {
	r := startRouter(t, nil)
	var devs []*mqtt3Device
	for _, name := range []string{"a", "b"} {
		devs = append(devs, startV3Device(t, mqttAddr(r), "shared-"+name, "$rpc/com/acme/pool", func(map[string]any) []map[string]any {
			return []map[string]any{{"args": []any{name}}}
		}))
	}
	caller := connectWAMP(t, wsURL(r), serialize.JSON)
	count := map[string]int{}
	for range 10 {
		res, err := caller.Call(callCtx(t), "com.acme.pool", nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		count[res.Arguments[0].(string)]++
	}
	if count["a"] != 5 || count["b"] != 5 {
		t.Fatalf("calls per device: %v, want 5 each", count)
	}
	for i, d := range devs {
		if n := len(d.invs); n != 5 {
			t.Fatalf("device %d got %d invocations, want 5 (never all of them)", i, n)
		}
	}
	// A WAMP registration with another policy is refused while they hold it.
	w := connectWAMP(t, wsURL(r), serialize.JSON)
	if err := w.Register("com.acme.pool", func(context.Context, *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{}
	}, nil); err == nil || !strings.Contains(err.Error(), "procedure_already_exists") {
		t.Fatalf("single registration over a shared one: %v", err)
	}
	// An MQTT registration over a WAMP single one gets SUBACK 0x80 (3.1.1).
	if err := w.Register("com.acme.solo", func(context.Context, *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{}
	}, nil); err != nil {
		t.Fatal(err)
	}
	c := connectV3(t, "tcp://"+mqttAddr(r), "late", nil)
	tok := c.Subscribe("$rpc/com/acme/solo", 1, func(mqtt3.Client, mqtt3.Message) {})
	waitToken(t, tok, "subscribe")
	if got := tok.(*mqtt3.SubscribeToken).Result()["$rpc/com/acme/solo"]; got != 0x80 {
		t.Fatalf("registration over a single one: SUBACK %#x, want 0x80", got)
	}
}

// TestRPCThousandConcurrentCalls: one MQTT 5 client has 1000 calls in
// flight at once (the callee answers none until all have arrived); every
// result comes back to its own correlation.
func TestRPCThousandConcurrentCalls(t *testing.T) {
	r := startRouter(t, nil)
	const n = 1000
	callee := connectWAMP(t, wsURL(r), serialize.MSGPACK)
	var arrived atomic.Int64
	all := make(chan struct{})
	if err := callee.Register("com.acme.echo", func(ctx context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-ctx.Done():
			return client.InvokeResult{Err: nxwamp.ErrCanceled}
		}
		return client.InvokeResult{Args: nxwamp.List{inv.Arguments[0]}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	dev := rpcCaller(t, r, "busy")
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := strconv.Itoa(i)
			if code := dev.call(t, "com.acme.echo", "replies/busy", "corr-"+s, []byte("payload-"+s), 1); code != 0 {
				t.Errorf("call %d: PUBACK %#x", i, code)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for range n {
		got := dev.reply(t)
		i := strings.TrimPrefix(got.correlation, "corr-")
		if got.payload != "payload-"+i || got.props["error"] != "" || seen[i] {
			t.Fatalf("reply %+v (seen before: %v)", got, seen[i])
		}
		seen[i] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct replies, want %d", len(seen), n)
	}
}

// TestRPCProgressToMQTTCaller: a WAMP callee's progressive results reach an
// MQTT 5 caller that asked for them, each as its own reply marked progress,
// then the final result; an MQTT 3.1.1 caller gets them as envelopes.
func TestRPCProgressToMQTTCaller(t *testing.T) {
	r := startRouter(t, nil)
	callee := connectWAMP(t, wsURL(r), serialize.CBOR)
	if err := callee.Register("com.acme.download", func(ctx context.Context, _ *nxwamp.Invocation) client.InvokeResult {
		for i := 1; i <= 3; i++ {
			if err := callee.SendProgress(ctx, nxwamp.List{i * 25}, nil); err != nil {
				return client.InvokeResult{Err: "com.acme.error.progress"}
			}
		}
		return client.InvokeResult{Args: nxwamp.List{"done"}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	dev := rpcCaller(t, r, "v5")
	dev.call(t, "com.acme.download", "replies/v5", "d", nil, 1, "receive_progress", "true")
	var got []string
	for range 4 {
		m := dev.reply(t)
		got = append(got, m.payload+"/"+m.props["progress"])
	}
	if fmt.Sprint(got) != "[25/true 50/true 75/true done/]" {
		t.Fatalf("v5 replies %v", got)
	}

	v3 := connectV3(t, "tcp://"+mqttAddr(r), "v3", nil)
	replies := subscribeV3(t, v3, "replies/v3", 1)
	waitToken(t, v3.Publish("$rpc/com/acme/download", 1, false,
		`{"reply_to":"replies/v3","correlation":{"n":1},"receive_progress":true}`), "call")
	got = nil
	for range 4 {
		got = append(got, recv(t, replies, wait, "v3 reply").payload)
	}
	want := []string{`{"args":[25],"correlation":{"n":1},"progress":true}`, `{"args":[50],"correlation":{"n":1},"progress":true}`,
		`{"args":[75],"correlation":{"n":1},"progress":true}`, `{"args":["done"],"correlation":{"n":1}}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("v3 replies %v\nwant %v", got, want)
	}
}

// TestRPCPublishesAreNotPublications: calls and callees' answers are never
// delivered as messages, to "#", to "$rpc/#" registrations or to anyone
// subscribed to "$rpc-reply/#", nor bridged to WAMP, and retained calls are
// not stored. Only the result is a publication, on the caller's reply topic.
func TestRPCPublishesAreNotPublications(t *testing.T) {
	r := startRouter(t, nil)
	watcher := connectRPCV5(t, "mqtt://"+mqttAddr(r), "watcher")
	watcher.subscribe(t, "#", 1)
	watcher.subscribe(t, "$rpc-reply/#", 1)
	wampWatch := connectWAMP(t, wsURL(r), serialize.JSON)
	var wampSeen atomic.Value
	if err := wampWatch.Subscribe("", func(ev *nxwamp.Event) {
		if topic, _ := ev.Details["topic"].(string); !strings.HasPrefix(topic, "wamp.") {
			wampSeen.Store(topic) // anything but the meta events
		}
	}, nxwamp.Dict{"match": "prefix"}); err != nil {
		t.Fatal(err)
	}
	dev := startV3Device(t, mqttAddr(r), "echo", "$rpc/com/acme/echo", func(inv map[string]any) []map[string]any {
		return []map[string]any{{"args": inv["args"]}}
	})
	caller := rpcCaller(t, r, "caller")
	p := &paho.Publish{Topic: "$rpc/com/acme/echo", QoS: 1, Retain: true, Payload: []byte("x"),
		Properties: &paho.PublishProperties{ResponseTopic: "replies/caller", CorrelationData: []byte("1")}}
	ctx, cancel := callCtxFor(wait)
	defer cancel()
	if _, err := caller.cm.Publish(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := caller.reply(t); got.payload != "x" {
		t.Fatalf("reply %+v", got)
	}
	recv(t, dev.invs, wait, "invocation")
	if got := replyOf(recv(t, watcher.msgs, wait, "the result, on #")); got.topic != "replies/caller" || got.payload != "x" {
		t.Fatalf("a # subscriber got %+v, want the result on replies/caller", got)
	}
	noMessage(t, watcher.msgs, 300*time.Millisecond, "a # and $rpc-reply/# subscriber")
	if topic := wampSeen.Load(); topic != nil {
		t.Fatalf("a WAMP prefix \"\" subscriber got an event on %v", topic)
	}
	// Not retained: a new registration gets no retained invocation.
	late := connectRPCV5(t, "mqtt://"+mqttAddr(r), "late")
	late.subscribe(t, "$rpc/com/acme/#", 1)
	noMessage(t, late.msgs, 200*time.Millisecond, "a new $rpc/ subscriber")
}

// TestRPCAuthorization: call and register permissions hold in both
// protocols: an MQTT 5 call gets PUBACK 0x87 and a not_authorized reply, a
// 3.1.1 one the reply; an MQTT registration SUBACK 0x87 (3.1.1: 0x80); WAMP
// gets wamp.error.not_authorized for both.
func TestRPCAuthorization(t *testing.T) {
	r := startRouter(t, func(c *Config) {
		c.Realms[0].Roles[0].Permissions = []PermissionConfig{
			{URI: "replies.", Match: "prefix", Allow: []string{"publish", "subscribe"}},
			{URI: "com.acme.open.", Match: "prefix", Allow: []string{"call", "register"}},
		}
	})
	callee := startV3Device(t, mqttAddr(r), "open-callee", "$rpc/com/acme/open/x", func(map[string]any) []map[string]any {
		return []map[string]any{{"args": []any{"fine"}}}
	})
	_ = callee
	// MQTT 5 caller.
	dev := rpcCaller(t, r, "v5")
	if code := dev.call(t, "com.acme.closed.x", "replies/v5", "1", nil, 1); code != 0x87 {
		t.Fatalf("refused call: PUBACK %#x, want 0x87", code)
	}
	if got := dev.reply(t); got.props["error"] != "wamp.error.not_authorized" || got.correlation != "1" {
		t.Fatalf("refused call reply %+v", got)
	}
	if code := dev.call(t, "com.acme.open.x", "replies/v5", "2", nil, 2); code != 0 {
		t.Fatalf("allowed call: PUBREC %#x", code)
	}
	if got := dev.reply(t); got.payload != "fine" {
		t.Fatalf("allowed call reply %+v", got)
	}
	// A response topic the caller may not subscribe to: refused, no reply.
	if code := dev.call(t, "com.acme.open.x", "elsewhere/v5", "3", nil, 1); code != 0x87 {
		t.Fatalf("call with a forbidden response topic: PUBACK %#x, want 0x87", code)
	}
	// MQTT 5 registration.
	ctx, cancel := callCtxFor(wait)
	defer cancel()
	ack, err := dev.cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "$rpc/com/acme/closed/y", QoS: 1}, {Topic: "$rpc/com/acme/#", QoS: 1}, {Topic: "$rpc/com/acme/open/+", QoS: 1}}})
	if ack == nil || fmt.Sprint(ack.Reasons) != "[135 135 1]" { // paho adds an error for the refusals
		t.Fatalf("registrations: %v %v, want [135 135 1]", err, ack)
	}
	// MQTT 3.1.1 caller and callee.
	v3 := connectV3(t, "tcp://"+mqttAddr(r), "v3", nil)
	replies := subscribeV3(t, v3, "replies/v3", 1)
	waitToken(t, v3.Publish("$rpc/com/acme/closed/x", 1, false, `{"reply_to":"replies/v3","correlation":7}`), "call")
	if got := recv(t, replies, wait, "v3 reply").payload; got != `{"args":["not authorized to call com.acme.closed.x"],"correlation":7,"error":"wamp.error.not_authorized"}` {
		t.Fatalf("v3 refused call reply %s", got)
	}
	tok := v3.Subscribe("$rpc/com/acme/closed/z", 1, func(mqtt3.Client, mqtt3.Message) {})
	waitToken(t, tok, "subscribe")
	if got := tok.(*mqtt3.SubscribeToken).Result()["$rpc/com/acme/closed/z"]; got != 0x80 {
		t.Fatalf("v3 refused registration: SUBACK %#x, want 0x80", got)
	}
	// WAMP.
	w := connectWAMP(t, wsURL(r), serialize.JSON)
	if _, err := w.Call(callCtx(t), "com.acme.closed.x", nil, nil, nil, nil); rpcErrorURI(err) != nxwamp.ErrNotAuthorized {
		t.Fatalf("WAMP refused call: %v", err)
	}
	if err := w.Register("com.acme.closed.y", func(context.Context, *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{}
	}, nil); err == nil || !strings.Contains(err.Error(), "not_authorized") {
		t.Fatalf("WAMP refused register: %v", err)
	}
	if res, err := w.Call(callCtx(t), "com.acme.open.x", nil, nil, nil, nil); err != nil || res.Arguments[0] != "fine" {
		t.Fatalf("WAMP allowed call: %v", err)
	}
}

// TestRPCDisclosesMQTTCaller: when the caller's rule discloses it, an MQTT 5
// callee sees its authid and role, and a WAMP callee its caller_authid.
func TestRPCDisclosesMQTTCaller(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.Realms[0].Roles[0].Permissions[0].Disclose = true })
	dev := startV5Device(t, r, "callee", "$rpc/com/acme/who", func(p *paho.Publish) []*paho.Publish {
		user := map[string]string{}
		for _, u := range p.Properties.User {
			user[u.Key] = u.Value
		}
		return []*paho.Publish{{Payload: []byte(user["caller_authid"] + "/" + user["caller_authrole"])}}
	})
	_ = dev
	caller := rpcCaller(t, r, "phone-1")
	caller.call(t, "com.acme.who", "replies/phone-1", "1", nil, 1)
	if got := caller.reply(t); got.payload != "phone-1/anonymous" {
		t.Fatalf("MQTT callee saw caller %q", got.payload)
	}
	w := connectWAMP(t, wsURL(r), serialize.JSON)
	if err := w.Register("com.acme.who2", func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: nxwamp.List{inv.Details["caller_authid"]}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	caller.call(t, "com.acme.who2", "replies/phone-1", "2", nil, 1)
	if got := caller.reply(t); got.payload != "phone-1" {
		t.Fatalf("WAMP callee saw caller %q", got.payload)
	}
}

// TestRPCTooManyCalls: beyond rpc.max_pending_calls a call is refused with
// PUBACK 0x97 and junction.error.too_many_calls.
func TestRPCTooManyCalls(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.RPC.MaxPendingCalls = 2 })
	callee := connectWAMP(t, wsURL(r), serialize.JSON)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	if err := callee.Register("com.acme.hold", func(ctx context.Context, _ *nxwamp.Invocation) client.InvokeResult {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return client.InvokeResult{}
	}, nil); err != nil {
		t.Fatal(err)
	}
	dev := rpcCaller(t, r, "greedy")
	dev.call(t, "com.acme.hold", "replies/g", "1", nil, 1)
	dev.call(t, "com.acme.hold", "replies/g", "2", nil, 1)
	if code := dev.call(t, "com.acme.hold", "replies/g", "3", nil, 1); code != 0x97 {
		t.Fatalf("third call: PUBACK %#x, want 0x97", code)
	}
	if got := dev.reply(t); got.correlation != "3" || got.props["error"] != "junction.error.too_many_calls" {
		t.Fatalf("reply %+v", got)
	}
}

// TestRPCPersistentSessionRegistersAgain: a device with a persistent
// session is unregistered while away and registered again when it returns.
func TestRPCPersistentSessionRegistersAgain(t *testing.T) {
	r := startRouter(t, nil)
	persistent := func(o *mqtt3.ClientOptions) { o.SetCleanSession(false) }
	c := connectV3(t, "tcp://"+mqttAddr(r), "sleepy", persistent)
	waitToken(t, c.Subscribe("$rpc/com/acme/sleepy", 1, nil), "register")
	caller := connectWAMP(t, wsURL(r), serialize.JSON)
	c.Disconnect(0)
	waitFor(t, wait, "the registration to go", func() bool {
		_, err := caller.Call(callCtx(t), "com.acme.sleepy", nil, nil, nil, nil)
		return rpcErrorURI(err) == nxwamp.ErrNoSuchProcedure
	})
	invs := make(chan mqtt3.Message, 1)
	c2 := connectV3(t, "tcp://"+mqttAddr(r), "sleepy", func(o *mqtt3.ClientOptions) {
		o.SetCleanSession(false)
		o.SetDefaultPublishHandler(func(c mqtt3.Client, m mqtt3.Message) {
			var inv map[string]any
			_ = json.Unmarshal(m.Payload(), &inv)
			c.Publish(inv["reply_to"].(string), 1, false, `{"args":["awake"]}`)
			select {
			case invs <- m:
			default:
			}
		})
	})
	_ = c2
	res, err := caller.Call(callCtx(t), "com.acme.sleepy", nil, nil, nil, nil)
	if err != nil || res.Arguments[0] != "awake" {
		t.Fatalf("call after the session resumed: %v %v", res, err)
	}
}

// TestRPCMQTTCalleeFailures: what an MQTT callee does wrong reaches its WAMP
// caller as a WAMP error: its error envelope, no answer within
// rpc.call_timeout (wamp.error.timeout) or within the caller's own timeout,
// and a malformed answer (wamp.error.invalid_argument; an MQTT 5 callee's
// PUBACK says 0x99). A late answer gets PUBACK 0x10 (no one awaits it).
func TestRPCMQTTCalleeFailures(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.RPC.CallTimeout = Duration(300 * time.Millisecond) })
	startV3Device(t, mqttAddr(r), "v3", "$rpc/com/acme/v3/+", func(inv map[string]any) []map[string]any {
		switch inv["procedure"] {
		case "com.acme.v3.fail":
			return []map[string]any{{"error": "com.acme.error.jammed", "args": []any{"door"}, "kwargs": map[string]any{"code": 3}}}
		case "com.acme.v3.garble":
			return []map[string]any{{"result": "not a member"}}
		}
		return nil // silent
	})
	late := make(chan *paho.Publish, 1)
	v5 := startV5Device(t, r, "v5", "$rpc/com/acme/v5/+", func(p *paho.Publish) []*paho.Publish {
		if strings.HasSuffix(p.Topic, "/garble") {
			out := &paho.Publish{Payload: []byte("x")}
			out.Properties = &paho.PublishProperties{}
			out.Properties.User.Add("error", "")
			return []*paho.Publish{out}
		}
		select {
		case late <- p:
		default:
		}
		return nil // answers later, by hand
	})
	caller := connectWAMP(t, wsURL(r), serialize.JSON)
	call := func(proc string, opts nxwamp.Dict) (*nxwamp.Result, error, time.Duration) {
		start := time.Now()
		res, err := caller.Call(callCtx(t), proc, opts, nil, nil, nil)
		return res, err, time.Since(start)
	}
	_, err, _ := call("com.acme.v3.fail", nil)
	var rpcErr client.RPCError
	if !errorsAs(err, &rpcErr) || rpcErr.Err.Error != "com.acme.error.jammed" ||
		fmt.Sprint(rpcErr.Err.Arguments, rpcErr.Err.ArgumentsKw) != "[door] map[code:3]" {
		t.Fatalf("callee error: %v", err)
	}
	if _, err, d := call("com.acme.v3.silent", nil); rpcErrorURI(err) != nxwamp.ErrTimeout || d > 3*time.Second {
		t.Fatalf("silent callee, rpc.call_timeout: %v after %v", err, d)
	}
	if _, err, d := call("com.acme.v3.silent", nxwamp.Dict{"timeout": 100}); rpcErrorURI(err) != nxwamp.ErrTimeout || d > 3*time.Second {
		t.Fatalf("silent callee, caller's timeout: %v after %v", err, d)
	}
	if _, err, _ := call("com.acme.v3.garble", nil); rpcErrorURI(err) != nxwamp.ErrInvalidArgument {
		t.Fatalf("garbled envelope: %v", err)
	}
	if _, err, _ := call("com.acme.v5.garble", nil); rpcErrorURI(err) != nxwamp.ErrInvalidArgument {
		t.Fatalf("garbled MQTT 5 answer: %v", err)
	}
	if _, err, _ := call("com.acme.v5.slow", nil); rpcErrorURI(err) != nxwamp.ErrTimeout {
		t.Fatalf("slow MQTT 5 callee: %v", err)
	}
	inv := recv(t, late, wait, "the slow invocation")
	p := &paho.Publish{Topic: inv.Properties.ResponseTopic, QoS: 1, Payload: []byte("too late"),
		Properties: &paho.PublishProperties{CorrelationData: inv.Properties.CorrelationData}}
	if code := publishCode(t, v5.cm, p); code != 0x10 {
		t.Fatalf("late answer: PUBACK %#x, want 0x10", code)
	}
	p.Topic = "$rpc-reply/not-a-number"
	if code := publishCode(t, v5.cm, p); code != 0x10 {
		t.Fatalf("answer to nothing: PUBACK %#x, want 0x10", code)
	}
}

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }

// TestRPCWithoutTheBridge: with bridge.enabled false publications stay in
// their protocol, and RPC still works.
func TestRPCWithoutTheBridge(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.Bridge.Enabled = false })
	startV3Device(t, mqttAddr(r), "dev", "$rpc/com/acme/ping", func(map[string]any) []map[string]any {
		return []map[string]any{{"args": []any{"pong"}}}
	})
	w := connectWAMP(t, wsURL(r), serialize.JSON)
	events := make(chan *nxwamp.Event, 1)
	if err := w.SubscribeChan("com.acme.temp", events, nil); err != nil {
		t.Fatal(err)
	}
	res, err := w.Call(callCtx(t), "com.acme.ping", nil, nil, nil, nil)
	if err != nil || res.Arguments[0] != "pong" {
		t.Fatalf("call: %v %v", res, err)
	}
	v3 := connectV3(t, "tcp://"+mqttAddr(r), "pub", nil)
	waitToken(t, v3.Publish("com/acme/temp", 1, false, "21"), "publish")
	select {
	case ev := <-events:
		t.Fatalf("a publication crossed with the bridge off: %v", ev.Arguments)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestRPCInvokePolicyAndCalleeProgress: a SUBSCRIBE's user property invoke
// chooses the registration's policy (first: every call to the first
// callee), and an MQTT 5 callee's progressive results reach a WAMP caller
// that asked for them, then the final result.
func TestRPCInvokePolicyAndCalleeProgress(t *testing.T) {
	r := startRouter(t, nil)
	var firstCalls atomic.Int64
	for _, name := range []string{"first", "second"} {
		d := connectRPCV5(t, "mqtt://"+mqttAddr(r), "policy-"+name)
		sub := &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$rpc/com/acme/policy", QoS: 1}},
			Properties: &paho.SubscribeProperties{User: paho.UserProperties{{Key: "invoke", Value: "first"}}}}
		ctx, cancel := callCtxFor(wait)
		ack, err := d.cm.Subscribe(ctx, sub)
		cancel()
		if err != nil || ack.Reasons[0] != 1 {
			t.Fatalf("%s: register with invoke first: %v %v", name, err, ack)
		}
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		t.Cleanup(func() { stop(); wg.Wait() })
		wg.Go(func() {
			for {
				select {
				case p := <-d.msgs:
					if name == "first" {
						firstCalls.Add(1)
					}
					for i, payload := range []string{"10%", "90%", name} {
						out := &paho.Publish{Topic: p.Properties.ResponseTopic, QoS: 1, Payload: []byte(payload),
							Properties: &paho.PublishProperties{CorrelationData: p.Properties.CorrelationData}}
						if i < 2 {
							out.Properties.User.Add("progress", "true")
						}
						_, _ = d.cm.Publish(ctx, out)
					}
				case <-ctx.Done():
					return
				}
			}
		})
	}
	caller := connectWAMP(t, wsURL(r), serialize.MSGPACK)
	for range 3 {
		var progress []string
		res, err := caller.Call(callCtx(t), "com.acme.policy", nil, nil, nil, func(r *nxwamp.Result) {
			progress = append(progress, fmt.Sprint(r.Arguments...))
		})
		if err != nil || res.Arguments[0] != "first" || fmt.Sprint(progress) != "[10% 90%]" {
			t.Fatalf("call: %v %v, progress %v; want first after [10%% 90%%]", res, err, progress)
		}
	}
	if n := firstCalls.Load(); n != 3 {
		t.Fatalf("first callee got %d calls, want 3", n)
	}
}
