package bridge

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestProcedureTopics(t *testing.T) {
	for _, tc := range []struct {
		topic, proc string
		ok          bool
	}{
		{"$rpc/com/acme/light/toggle", "com.acme.light.toggle", true},
		{"$rpc/a/b.c/x y", "a.b%2Ec.x%20y", true},
		{"$rpc/", "", false},
		{"$rpc/a/+", "", false},
		{"$rpc/a/#", "", false},
		{"com/acme", "", false},
		{"$rpc-reply/7", "", false},
	} {
		proc, ok := ProcedureOfTopic(tc.topic)
		if proc != tc.proc || ok != tc.ok {
			t.Errorf("ProcedureOfTopic(%q) = %q, %v; want %q, %v", tc.topic, proc, ok, tc.proc, tc.ok)
		}
		if ok && TopicOfProcedure(proc) != tc.topic {
			t.Errorf("TopicOfProcedure(%q) = %q, want %q", proc, TopicOfProcedure(proc), tc.topic)
		}
	}
	if got := fmt.Sprint(RegistrationPatterns("$rpc/com/acme/+/reboot")); got != "[{com.acme..reboot wildcard}]" {
		t.Errorf("wildcard registration %s", got)
	}
	if got := fmt.Sprint(RegistrationPatterns("$rpc/com/#")); got != "[{com. prefix} {com exact}]" {
		t.Errorf("prefix registration %s", got)
	}
	if RegistrationPatterns("com/#") != nil || RegistrationPatterns("$rpc/") != nil {
		t.Error("not registrations")
	}
}

func TestParseCall(t *testing.T) {
	u := func(kv ...string) []UserProperty {
		var out []UserProperty
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, UserProperty{kv[i], kv[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		m       MQTTMessage
		call    Call
		req     request
		wantErr string
	}{{
		name: "MQTT 5, text",
		m: MQTTMessage{V5: true, QoS: 1, ResponseTopic: "r/1", CorrelationData: []byte{1, 2},
			MQTTPayload: MQTTPayload{Payload: []byte("on")}, UserProperties: u("timeout", "1500", "receive_progress", "true", "other", "x")},
		call: Call{WAMPPayload: WAMPPayload{Args: []any{"on"}}, Timeout: 1500 * time.Millisecond, ReceiveProgress: true},
		req:  request{replyTo: "r/1", qos: 1, v5: true, correlation: []byte{1, 2}},
	}, {
		name: "MQTT 5, envelope content type",
		m: MQTTMessage{V5: true, ResponseTopic: "r/1",
			MQTTPayload: MQTTPayload{Payload: []byte(`{"args":[1,"a"],"kwargs":{"k":true}}`), ContentType: ContentTypeEnvelope}},
		call: Call{WAMPPayload: WAMPPayload{Args: []any{int64(1), "a"}, Kwargs: map[string]any{"k": true}}},
		req:  request{replyTo: "r/1", v5: true, correlation: []byte{}},
	}, {
		name: "MQTT 5, bad timeout",
		m:    MQTTMessage{V5: true, ResponseTopic: "r/1", UserProperties: u("timeout", "-1")},
		req:  request{replyTo: "r/1", v5: true, correlation: []byte{}}, wantErr: "timeout",
	}, {
		name: "MQTT 5, response topic with a wildcard",
		m:    MQTTMessage{V5: true, ResponseTopic: "r/#"},
		req:  request{v5: true, correlation: []byte{}}, wantErr: "wildcard",
	}, {
		name: "envelope",
		m: MQTTMessage{QoS: 2, MQTTPayload: MQTTPayload{Payload: []byte(
			`{"reply_to":"r/2","correlation":{"id":[1,2.5]},"args":["\u0000AAE="],"kwargs":{"n":3},"timeout":250,"receive_progress":true}`)}},
		call: Call{WAMPPayload: WAMPPayload{Args: []any{[]byte{0, 1}}, Kwargs: map[string]any{"n": int64(3)}},
			Timeout: 250 * time.Millisecond, ReceiveProgress: true},
		req: request{replyTo: "r/2", qos: 2, correlation: []byte(`{"id":[1,2.5]}`)},
	}, {
		name: "envelope from MQTT 5 without a response topic",
		m:    MQTTMessage{V5: true, MQTTPayload: MQTTPayload{Payload: []byte(`{"reply_to":"r/3"}`)}},
		req:  request{replyTo: "r/3"},
	}, {
		name: "envelope, unknown member", m: MQTTMessage{MQTTPayload: MQTTPayload{Payload: []byte(`{"reply_to":"r/4","arg":[]}`)}},
		req: request{replyTo: "r/4"}, wantErr: "unknown",
	}, {
		name: "envelope, no reply_to", m: MQTTMessage{MQTTPayload: MQTTPayload{Payload: []byte(`{"args":[]}`)}},
		wantErr: "no reply_to",
	}, {
		name: "envelope, reply_to not a string", m: MQTTMessage{MQTTPayload: MQTTPayload{Payload: []byte(`{"reply_to":7}`)}},
		wantErr: "reply_to",
	}, {
		name: "envelope, args not a list", m: MQTTMessage{MQTTPayload: MQTTPayload{Payload: []byte(`{"reply_to":"r","args":{}}`)}},
		req: request{replyTo: "r"}, wantErr: "args",
	}, {
		name: "not JSON", m: MQTTMessage{MQTTPayload: MQTTPayload{Payload: []byte("on")}},
		wantErr: "not a call envelope",
	}, {
		name: "a JSON list", m: MQTTMessage{MQTTPayload: MQTTPayload{Payload: []byte("[1]")}},
		wantErr: "not a JSON object",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			call, req, err := parseCall(tc.m)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one about %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if !reflect.DeepEqual(call, tc.call) {
				t.Errorf("call %#v\nwant %#v", call, tc.call)
			}
			if req.replyTo != tc.req.replyTo || req.qos != tc.req.qos || req.v5 != tc.req.v5 ||
				tc.wantErr == "" && string(req.correlation) != string(tc.req.correlation) {
				t.Errorf("request %+v, want %+v", req, tc.req)
			}
		})
	}
}

func TestParseYield(t *testing.T) {
	for _, tc := range []struct {
		name    string
		m       MQTTMessage
		want    Result
		wantErr bool
	}{
		{"MQTT 5 result", MQTTMessage{V5: true, MQTTPayload: MQTTPayload{Payload: []byte("21.5")}},
			Result{WAMPPayload: WAMPPayload{Args: []any{21.5}}}, false},
		{"MQTT 5 error", MQTTMessage{V5: true, MQTTPayload: MQTTPayload{Payload: []byte("x")},
			UserProperties: []UserProperty{{PropError, "com.x.failed"}}}, Result{Error: "com.x.failed", WAMPPayload: WAMPPayload{Args: []any{"x"}}}, false},
		{"MQTT 5 progress", MQTTMessage{V5: true, UserProperties: []UserProperty{{PropProgress, "true"}}}, Result{Progress: true}, false},
		{"MQTT 5 empty error", MQTTMessage{V5: true, UserProperties: []UserProperty{{PropError, ""}}}, Result{}, true},
		{"envelope", MQTTMessage{MQTTPayload: MQTTPayload{Payload: []byte(`{"correlation":3,"args":[1],"error":"com.x.e","progress":false}`)}},
			Result{Error: "com.x.e", WAMPPayload: WAMPPayload{Args: []any{int64(1)}}}, false},
		{"envelope, bad error", MQTTMessage{MQTTPayload: MQTTPayload{Payload: []byte(`{"error":3}`)}}, Result{}, true},
		{"envelope, unknown member", MQTTMessage{MQTTPayload: MQTTPayload{Payload: []byte(`{"result":3}`)}}, Result{}, true},
		{"not an envelope", MQTTMessage{MQTTPayload: MQTTPayload{Payload: []byte(`ok`)}}, Result{}, true},
	} {
		got, err := parseYield(tc.m)
		if (err != nil) != tc.wantErr || err == nil && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %#v, %v; want %#v (error %v)", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func testHub(t testing.TB, maxPacket int) *Hub {
	h, err := New(Config{Realm: "realm1", Authority: discloseAll(false), Logger: slog.New(slog.DiscardHandler),
		Metrics: &countMetrics{map[string]int{}, map[string]int{}}, MaxPacket: maxPacket,
		RPC: RPCConfig{Enabled: true, CallTimeout: time.Second, Invoke: "roundrobin", MaxPendingCalls: 10}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestRPCMessages: the results and invocations the hub writes read back as
// what they carry.
func TestRPCMessages(t *testing.T) {
	h := testHub(t, 0)
	res := Result{WAMPPayload: WAMPPayload{Args: []any{"a", []byte{1}}, Kwargs: map[string]any{"k": 1.5}}, Error: "com.x.e", Progress: true}
	m, err := h.resultMessage("r/1", 1, true, []byte("c"), res)
	if err != nil {
		t.Fatal(err)
	}
	if m.Topic != "r/1" || string(m.CorrelationData) != "c" || m.ContentType != ContentTypeEnvelope ||
		fmt.Sprint(m.UserProperties) != "[{error com.x.e} {progress true}]" {
		t.Fatalf("MQTT 5 result %+v", m)
	}
	if got, err := parseYield(m); err != nil || !reflect.DeepEqual(got, Result{WAMPPayload: WAMPPayload{
		Args: []any{"a", []byte{1}}, Kwargs: map[string]any{"k": 1.5}}, Error: "com.x.e", Progress: true}) {
		t.Fatalf("MQTT 5 result reads back as %#v, %v", got, err)
	}
	m, err = h.resultMessage("r/1", 0, false, []byte(`"c"`), res)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"args":["a","\u0000AQ=="],"correlation":"c","error":"com.x.e","kwargs":{"k":1.5},"progress":true}`; string(m.Payload) != want {
		t.Fatalf("envelope result %s\nwant %s", m.Payload, want)
	}
	m.V5 = false
	if got, err := parseYield(m); err != nil || got.Error != "com.x.e" || !got.Progress || len(got.Args) != 2 {
		t.Fatalf("envelope result reads back as %#v, %v", got, err)
	}

	inv := Invocation{Procedure: "com.acme.x", WAMPPayload: WAMPPayload{Args: []any{1}}, Caller: &Disclosed{AuthID: "bob", AuthRole: "user"}, ReceiveProgress: true}
	m, err = h.invocationMessage(42, true, inv, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Topic != "$rpc/com/acme/x" || m.ResponseTopic != "$rpc-reply/42" || string(m.CorrelationData) != "42" ||
		fmt.Sprint(m.UserProperties) != "[{procedure com.acme.x} {timeout 3000} {receive_progress true} {caller_authid bob} {caller_authrole user}]" {
		t.Fatalf("MQTT 5 invocation %+v", m)
	}
	m, err = h.invocationMessage(42, false, inv, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"args":[1],"caller_authid":"bob","caller_authrole":"user","correlation":42,"procedure":"com.acme.x","receive_progress":true,"reply_to":"$rpc-reply/42","timeout":3000}`; string(m.Payload) != want {
		t.Fatalf("envelope invocation %s\nwant %s", m.Payload, want)
	}

	// Larger than MQTT clients were promised.
	small := testHub(t, 64)
	if _, err := small.resultMessage("r/1", 0, true, nil, Result{WAMPPayload: WAMPPayload{Args: []any{strings.Repeat("x", 100)}}}); err == nil ||
		errorURIOf(err) != ErrorPayloadSize {
		t.Fatalf("oversized result: %v", err)
	}
}

// FuzzRPCMessages: nothing an MQTT client publishes to $rpc/ or
// $rpc-reply/ makes parsing panic, and what parses as a call or a result
// maps back to an MQTT message.
func FuzzRPCMessages(f *testing.F) {
	for _, s := range []string{
		`{"reply_to":"r/1","correlation":1,"args":[1,"a",{"b":[null,true]}],"kwargs":{"x":1e3},"timeout":5,"receive_progress":true}`,
		`{"correlation":"x","args":["\u0000AAE="],"error":"com.e","progress":true}`,
		`{"reply_to":"r/1","args":{}}`, `[1]`, `21.5`, "", "\xff", `{"timeout":1e400}`,
	} {
		f.Add([]byte(s), false, "", "")
		f.Add([]byte(s), true, "r/1", "timeout")
	}
	h := testHub(f, 1<<20)
	f.Fuzz(func(t *testing.T, payload []byte, v5 bool, responseTopic, prop string) {
		m := MQTTMessage{Topic: "$rpc/a", MQTTPayload: MQTTPayload{Payload: payload}, V5: v5, ResponseTopic: responseTopic,
			UserProperties: []UserProperty{{prop, string(payload)}, {PropError, "com.x"}}}
		if call, req, err := parseCall(m); err == nil {
			if _, err := h.resultMessage(req.replyTo, req.qos, req.v5, req.correlation, Result{WAMPPayload: call.WAMPPayload}); err != nil {
				t.Fatalf("a call's payload %q does not map back: %v", payload, err)
			}
		}
		if r, err := parseYield(m); err == nil {
			if _, err := h.invocationMessage(1, v5, Invocation{Procedure: "a", WAMPPayload: r.WAMPPayload}, time.Second); err != nil {
				t.Fatalf("a result's payload %q does not map back: %v", payload, err)
			}
		}
	})
}
