package bridge

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// Named types as nexus has them (wamp.List, wamp.Dict, wamp.ID, wamp.URI).
type (
	testList []any
	testDict map[string]any
	testID   uint64
	testURI  string
	testBin  []byte
)

func fmtp(b byte) *byte { return &b }

func args(a ...any) WAMPPayload { return WAMPPayload{Args: a} }

// norm puts a WAMP value in the form FromMQTT produces, so that values are
// compared by meaning: integers as int64 (uint64 above its range), floats as
// float64, binary as non-nil []byte, named types as their kinds. Kinds stay
// apart: int64(2) and float64(2) differ.
func norm(v any) any {
	switch x := v.(type) {
	case nil, bool, string, int64, float64:
		return x
	case []byte:
		return append([]byte{}, x...)
	case float32:
		f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = norm(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = norm(e)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u > math.MaxInt64 {
			return u
		}
		return int64(rv.Uint())
	case reflect.Float32:
		return norm(float32(rv.Float()))
	case reflect.Float64:
		return rv.Float()
	case reflect.String:
		return rv.String()
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return append([]byte{}, rv.Bytes()...)
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = norm(rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			out[it.Key().String()] = norm(it.Value().Interface())
		}
		return out
	}
	panic(fmt.Sprintf("norm: %T", v))
}

func normPayload(p WAMPPayload) WAMPPayload {
	var out WAMPPayload
	for _, a := range p.Args {
		out.Args = append(out.Args, norm(a))
	}
	if len(p.Kwargs) > 0 {
		out.Kwargs = norm(p.Kwargs).(map[string]any)
	}
	return out
}

func samePayload(a, b WAMPPayload) bool {
	return reflect.DeepEqual(normPayload(a), normPayload(b))
}

func sameMQTT(a, b MQTTPayload) bool {
	if !bytes.Equal(a.Payload, b.Payload) || a.ContentType != b.ContentType {
		return false
	}
	if (a.PayloadFormat == nil) != (b.PayloadFormat == nil) {
		return false
	}
	return a.PayloadFormat == nil || *a.PayloadFormat == *b.PayloadFormat
}

func showMQTT(m MQTTPayload) string {
	f := "nil"
	if m.PayloadFormat != nil {
		f = strconv.Itoa(int(*m.PayloadFormat))
	}
	return fmt.Sprintf("{%q ct=%q fmt=%s}", m.Payload, m.ContentType, f)
}

func showWAMP(p WAMPPayload) string {
	return fmt.Sprintf("%#v %#v", normPayload(p).Args, normPayload(p).Kwargs)
}

// nested returns a value of depth lists nested in each other around leaf.
func nested(depth int, leaf any) any {
	v := leaf
	for range depth {
		v = []any{v}
	}
	return v
}

func TestPayloadRoundTripV5(t *testing.T) {
	text, bin, js, env := ContentTypeText, ContentTypeBinary, ContentTypeJSON, ContentTypeEnvelope
	one, zero := fmtp(1), fmtp(0)
	cases := []struct {
		name string
		in   WAMPPayload
		mqtt MQTTPayload
		back *WAMPPayload // nil: in
	}{
		{"string", args("hello"), MQTTPayload{[]byte("hello"), text, one}, nil},
		{"unicode string", args("héllo wörld ✓ 🚀"), MQTTPayload{[]byte("héllo wörld ✓ 🚀"), text, one}, nil},
		{"empty string", args(""), MQTTPayload{[]byte{}, text, one}, nil},
		{"string that is JSON", args(`{"a":1}`), MQTTPayload{[]byte(`{"a":1}`), text, one}, nil},
		{"string with NUL, not base64", args("\x00not base64!"), MQTTPayload{[]byte("\x00not base64!"), text, one}, nil},
		{"named string", args(testURI("com.acme")), MQTTPayload{[]byte("com.acme"), text, one}, nil},
		{"bytes", args([]byte{1, 2, 3}), MQTTPayload{[]byte{1, 2, 3}, bin, zero}, nil},
		{"bytes, invalid UTF-8", args([]byte{0xff, 0xfe, 0}), MQTTPayload{[]byte{0xff, 0xfe, 0}, bin, zero}, nil},
		{"bytes that are JSON", args([]byte(`[1]`)), MQTTPayload{[]byte(`[1]`), bin, zero}, nil},
		{"empty bytes", args([]byte{}), MQTTPayload{[]byte{}, bin, zero}, nil},
		{"named bytes", args(testBin{9}), MQTTPayload{[]byte{9}, bin, zero}, &WAMPPayload{Args: []any{[]byte{9}}}},
		{"JSON-convention binary", args("\x00AQID"), MQTTPayload{[]byte{1, 2, 3}, bin, zero}, &WAMPPayload{Args: []any{[]byte{1, 2, 3}}}},
		{"JSON-convention empty binary", args("\x00"), MQTTPayload{[]byte{}, bin, zero}, &WAMPPayload{Args: []any{[]byte{}}}},
		{"string, invalid UTF-8", args("a\xffb"), MQTTPayload{[]byte("a\xffb"), bin, zero}, &WAMPPayload{Args: []any{[]byte("a\xffb")}}},
		{"int", args(42), MQTTPayload{[]byte("42"), js, one}, nil},
		{"negative int64", args(int64(-7)), MQTTPayload{[]byte("-7"), js, one}, nil},
		{"min int64", args(int64(math.MinInt64)), MQTTPayload{[]byte("-9223372036854775808"), js, one}, nil},
		{"small uint64", args(uint64(5)), MQTTPayload{[]byte("5"), js, one}, nil},
		{"big uint64", args(uint64(math.MaxUint64)), MQTTPayload{[]byte("18446744073709551615"), js, one}, nil},
		{"named uint64", args(testID(12)), MQTTPayload{[]byte("12"), js, one}, nil},
		{"int8", args(int8(-3)), MQTTPayload{[]byte("-3"), js, one}, nil},
		{"float", args(21.5), MQTTPayload{[]byte("21.5"), js, one}, nil},
		{"integral float", args(2.0), MQTTPayload{[]byte("2.0"), js, one}, nil},
		{"negative zero", args(math.Copysign(0, -1)), MQTTPayload{[]byte("-0.0"), js, one}, nil},
		{"large float", args(1e21), MQTTPayload{[]byte("1e+21"), js, one}, nil},
		{"tiny float", args(1e-9), MQTTPayload{[]byte("1e-9"), js, one}, nil},
		{"float beyond int64", args(1e20), MQTTPayload{[]byte("100000000000000000000.0"), js, one}, nil},
		{"max float", args(math.MaxFloat64), MQTTPayload{[]byte("1.7976931348623157e+308"), js, one}, nil},
		{"float32", args(float32(0.1)), MQTTPayload{[]byte("0.1"), js, one}, &WAMPPayload{Args: []any{0.1}}},
		{"bool", args(true), MQTTPayload{[]byte("true"), js, one}, nil},
		{"nil", args(nil), MQTTPayload{[]byte("null"), js, one}, nil},
		{"list", args([]any{1, "a", nil, 1.5}), MQTTPayload{[]byte(`[1,"a",null,1.5]`), js, one}, nil},
		{"empty list", args([]any{}), MQTTPayload{[]byte(`[]`), js, one}, nil},
		{"named list", args(testList{"x", testDict{"y": 1}}), MQTTPayload{[]byte(`["x",{"y":1}]`), js, one}, nil},
		{"map", args(map[string]any{"b": []any{true}, "a": 1}), MQTTPayload{[]byte(`{"a":1,"b":[true]}`), js, one}, nil},
		{"empty map", args(map[string]any{}), MQTTPayload{[]byte(`{}`), js, one}, nil},
		{"map that looks like an envelope", args(map[string]any{"args": []any{1}}), MQTTPayload{[]byte(`{"args":[1]}`), js, one}, nil},
		{"HTML characters", args([]any{"<a&b>"}), MQTTPayload{[]byte(`["<a&b>"]`), js, one}, nil},
		{"nested binary", args([]any{[]byte{0xff}, map[string]any{"k": []byte{}}}),
			MQTTPayload{[]byte(`["\u0000/w==",{"k":"\u0000"}]`), js, one}, nil},
		{"nested JSON-convention binary", args(map[string]any{"k": "\x00AQID"}),
			MQTTPayload{[]byte(`{"k":"\u0000AQID"}`), js, one}, &WAMPPayload{Args: []any{map[string]any{"k": []byte{1, 2, 3}}}}},
		{"nested string, invalid UTF-8", args([]any{"\xff"}),
			MQTTPayload{[]byte(`["\u0000/w=="]`), js, one}, &WAMPPayload{Args: []any{[]any{[]byte{0xff}}}}},
		{"nested string with NUL, not base64", args([]any{"\x00!"}), MQTTPayload{[]byte(`["\u0000!"]`), js, one}, nil},
		{"several args", args("a", 1, []byte{7}), MQTTPayload{[]byte(`{"args":["a",1,"\u0000Bw=="]}`), env, one}, nil},
		{"two strings", args("a", "b"), MQTTPayload{[]byte(`{"args":["a","b"]}`), env, one}, nil},
		{"kwargs only", WAMPPayload{Kwargs: map[string]any{"k": "v", "n": nil}},
			MQTTPayload{[]byte(`{"kwargs":{"k":"v","n":null}}`), env, one}, nil},
		{"one arg and kwargs", WAMPPayload{Args: []any{"x"}, Kwargs: map[string]any{"k": 2.5}},
			MQTTPayload{[]byte(`{"args":["x"],"kwargs":{"k":2.5}}`), env, one}, nil},
		{"args and kwargs", WAMPPayload{Args: []any{1, 2}, Kwargs: map[string]any{"b": []byte{1}}},
			MQTTPayload{[]byte(`{"args":[1,2],"kwargs":{"b":"\u0000AQ=="}}`), env, one}, nil},
		{"empty args, kwargs", WAMPPayload{Args: []any{}, Kwargs: map[string]any{"": true}},
			MQTTPayload{[]byte(`{"kwargs":{"":true}}`), env, one}, nil},
		{"no args", WAMPPayload{}, MQTTPayload{[]byte{}, "", nil}, nil},
		{"empty args and kwargs", WAMPPayload{Args: []any{}, Kwargs: map[string]any{}}, MQTTPayload{[]byte{}, "", nil}, nil},
		{"64 deep", args(nested(64, "x")), MQTTPayload{[]byte(strings.Repeat("[", 64) + `"x"` + strings.Repeat("]", 64)), js, one}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ToMQTT(tc.in, ModeAuto)
			if err != nil {
				t.Fatalf("ToMQTT: %v", err)
			}
			if !sameMQTT(m, tc.mqtt) {
				t.Fatalf("ToMQTT = %s, want %s", showMQTT(m), showMQTT(tc.mqtt))
			}
			if m2, _ := ToMQTT(tc.in, ""); !sameMQTT(m, m2) {
				t.Errorf("mode \"\" gives %s, mode auto %s", showMQTT(m2), showMQTT(m))
			}
			back, err := FromMQTT(m, true, ModeAuto)
			if err != nil {
				t.Fatalf("FromMQTT: %v", err)
			}
			want := tc.in
			if tc.back != nil {
				want = *tc.back
			}
			if !samePayload(back, want) {
				t.Fatalf("FromMQTT = %s, want %s", showWAMP(back), showWAMP(want))
			}
			// FromMQTT gives canonical kinds.
			if got := normPayload(back); !reflect.DeepEqual(back.Args, got.Args) && len(back.Args) > 0 {
				t.Errorf("FromMQTT args %#v are not canonical", back.Args)
			}
		})
	}
}

func TestFromMQTT311(t *testing.T) {
	cases := []struct {
		payload string
		want    WAMPPayload
	}{
		{"21.5", args(21.5)},
		{"21", args(int64(21))},
		{"-21", args(int64(-21))},
		{"21.0", args(21.0)},
		{"2e3", args(2000.0)},
		{" 7 \n", args(int64(7))},
		{"18446744073709551615", args(uint64(math.MaxUint64))},
		{"18446744073709551616", args(18446744073709551616.0)},
		{"-9223372036854775809", args(-9223372036854775809.0)},
		{"1e-400", args(0.0)},
		{"1e400", args("1e400")},
		{`"x"`, args("x")},
		{`""`, args("")},
		{`"\u0000AQID"`, args([]byte{1, 2, 3})},
		{`{"a":1}`, args(map[string]any{"a": int64(1)})},
		{`{"args":[1,2]}`, args(map[string]any{"args": []any{int64(1), int64(2)}})},
		{`[1,"\u0000/w==",{"b":null}]`, args([]any{int64(1), []byte{0xff}, map[string]any{"b": nil}})},
		{"true", args(true)},
		{"null", args(nil)},
		{"hello", args("hello")},
		{"héllo ✓", args("héllo ✓")},
		{"   ", args("   ")},
		{"21.5abc", args("21.5abc")},
		{"21 22", args("21 22")},
		{"[1,2", args("[1,2")},
		{"\x00AQID", args("\x00AQID")},
		{"\xff\xfe", args([]byte{0xff, 0xfe})},
		{`"a` + "\xff" + `"`, args([]byte(`"a` + "\xff" + `"`))},
		{"", WAMPPayload{}},
		{strings.Repeat("[", 64) + strings.Repeat("]", 64), args(nested(63, []any{}))},
		{strings.Repeat("[", 65) + strings.Repeat("]", 65), args(strings.Repeat("[", 65) + strings.Repeat("]", 65))},
		{strings.Repeat("[", 20000), args(strings.Repeat("[", 20000))},
	}
	for _, tc := range cases {
		for _, m := range []MQTTPayload{
			{Payload: []byte(tc.payload)},
			// MQTT 3.1.1 has no properties: whatever is there is ignored.
			{Payload: []byte(tc.payload), ContentType: ContentTypeBinary, PayloadFormat: fmtp(1)},
		} {
			got, err := FromMQTT(m, false, ModeAuto)
			if err != nil {
				t.Fatalf("FromMQTT(%.50q): %v", tc.payload, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("FromMQTT(%.50q, 3.1.1) = %s, want %s", tc.payload, showWAMP(got), showWAMP(tc.want))
			}
		}
		// MQTT 5 without properties guesses the same way.
		got, _ := FromMQTT(MQTTPayload{Payload: []byte(tc.payload)}, true, ModeAuto)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("FromMQTT(%.50q, 5) = %s, want %s", tc.payload, showWAMP(got), showWAMP(tc.want))
		}
	}
}

func TestFromMQTT5(t *testing.T) {
	cases := []struct {
		ct      string
		format  *byte
		payload string
		want    WAMPPayload
	}{
		{"application/json", nil, "21.5", args(21.5)},
		{"Application/JSON; charset=utf-8", nil, `{"a":[1]}`, args(map[string]any{"a": []any{int64(1)}})},
		{"application/ld+json", nil, `{"a":1}`, args(map[string]any{"a": int64(1)})},
		{"application/json", nil, `"\u0000AQID"`, args([]byte{1, 2, 3})},
		{"application/json", nil, `{"args":[1]}`, args(map[string]any{"args": []any{int64(1)}})},
		{"application/json", fmtp(1), "oops", args("oops")},
		{"application/json", nil, "", WAMPPayload{}},
		{"application/json", nil, "\xff", args([]byte{0xff})},
		{"application/json", nil, "1e400", args("1e400")},
		{"text/plain", nil, "21.5", args("21.5")},
		{"text/plain", nil, "", args("")},
		{"TEXT/CSV; charset=UTF-8", nil, "a,b", args("a,b")},
		{"text/plain; charset=utf-8", nil, "\x00AQID", args("\x00AQID")},
		{"text/plain", nil, "\xff", args([]byte{0xff})},
		{"text/plain; charset=iso-8859-1", nil, "21.5", args(21.5)},
		{"application/octet-stream", nil, "21", args([]byte("21"))},
		{"application/octet-stream", fmtp(1), "", args([]byte{})},
		{"application/vnd.junction.wamp+json", nil, `{"args":[1,"a"],"kwargs":{"k":"\u0000AQ=="}}`,
			WAMPPayload{Args: []any{int64(1), "a"}, Kwargs: map[string]any{"k": []byte{1}}}},
		{"application/vnd.junction.wamp+json", nil, `{"args":[1]}`, args(int64(1))},
		{"application/vnd.junction.wamp+json", nil, `{"args":[],"kwargs":{}}`, WAMPPayload{}},
		{"application/vnd.junction.wamp+json", nil, `{}`, WAMPPayload{}},
		{"application/vnd.junction.wamp+json", nil, "", WAMPPayload{}},
		{"application/vnd.junction.wamp+json", nil, `{"args":[1],"x":2}`, args(map[string]any{"args": []any{int64(1)}, "x": int64(2)})},
		{"application/vnd.junction.wamp+json", nil, `{"args":1}`, args(map[string]any{"args": int64(1)})},
		{"application/vnd.junction.wamp+json", nil, `{"kwargs":[]}`, args(map[string]any{"kwargs": []any{}})},
		{"application/vnd.junction.wamp+json", nil, `[1,2]`, args([]any{int64(1), int64(2)})},
		{"application/vnd.junction.wamp+json", nil, `{"args":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`,
			args(nested(63, []any{}))},
		{"application/vnd.junction.wamp+json", nil, `{"args":` + strings.Repeat("[", 66) + strings.Repeat("]", 66) + `}`,
			args(`{"args":` + strings.Repeat("[", 66) + strings.Repeat("]", 66) + `}`)},
		{"", fmtp(1), "21.5", args("21.5")},
		{"", fmtp(1), "", WAMPPayload{}},
		{"", fmtp(1), "\xff", args([]byte{0xff})},
		{"", fmtp(0), "21.5", args(21.5)},
		{"image/png", nil, "\x89PNG", args([]byte("\x89PNG"))},
		{"image/png", fmtp(1), "{}", args("{}")},
		{"not a media type", nil, "{}", args(map[string]any{})},
	}
	for _, tc := range cases {
		m := MQTTPayload{Payload: []byte(tc.payload), ContentType: tc.ct, PayloadFormat: tc.format}
		got, err := FromMQTT(m, true, ModeAuto)
		if err != nil {
			t.Fatalf("FromMQTT(%s): %v", showMQTT(m), err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("FromMQTT(%s) = %s, want %s", showMQTT(m), showWAMP(got), showWAMP(tc.want))
		}
	}
}

func TestModeRaw(t *testing.T) {
	bin := ContentTypeBinary
	to := []struct {
		in   WAMPPayload
		want []byte
		err  error
	}{
		{args("hello"), []byte("hello"), nil},
		{args(""), []byte{}, nil},
		{args("a\xff"), []byte("a\xff"), nil},
		{args([]byte{0, 1}), []byte{0, 1}, nil},
		{args(testBin{5}), []byte{5}, nil},
		{args("\x00AQID"), []byte{1, 2, 3}, nil},
		{args(testURI("u")), []byte("u"), nil},
		{args(42), nil, ErrNotRaw},
		{args(nil), nil, ErrNotRaw},
		{args([]any{"a"}), nil, ErrNotRaw},
		{args("a", "b"), nil, ErrNotRaw},
		{WAMPPayload{}, nil, ErrNotRaw},
		{WAMPPayload{Args: []any{"a"}, Kwargs: map[string]any{"k": 1}}, nil, ErrNotRaw},
	}
	for _, tc := range to {
		m, err := ToMQTT(tc.in, ModeRaw)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("ToMQTT(%s, raw) error %v, want %v", showWAMP(tc.in), err, tc.err)
			}
			continue
		}
		if want := (MQTTPayload{tc.want, bin, fmtp(0)}); err != nil || !sameMQTT(m, want) {
			t.Errorf("ToMQTT(%s, raw) = %s, %v; want %s", showWAMP(tc.in), showMQTT(m), err, showMQTT(want))
		}
	}
	for _, m := range []MQTTPayload{
		{Payload: []byte("21")},
		{Payload: []byte(`{"args":[1]}`), ContentType: ContentTypeEnvelope, PayloadFormat: fmtp(1)},
		{Payload: []byte("hi"), ContentType: ContentTypeText},
		{Payload: []byte{0xff}},
		{Payload: nil},
	} {
		for _, v5 := range []bool{false, true} {
			got, err := FromMQTT(m, v5, ModeRaw)
			want := args(append([]byte{}, m.Payload...))
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("FromMQTT(%s, raw) = %s, %v; want %s", showMQTT(m), showWAMP(got), err, showWAMP(want))
			}
		}
	}
}

func TestModeJSON(t *testing.T) {
	js, env := ContentTypeJSON, ContentTypeEnvelope
	to := []struct {
		in   WAMPPayload
		mqtt MQTTPayload
		back *WAMPPayload
	}{
		{args("x"), MQTTPayload{[]byte(`"x"`), js, fmtp(1)}, nil},
		{args(""), MQTTPayload{[]byte(`""`), js, fmtp(1)}, nil},
		{args([]byte{1}), MQTTPayload{[]byte(`"\u0000AQ=="`), js, fmtp(1)}, nil},
		{args("\x00AQ=="), MQTTPayload{[]byte(`"\u0000AQ=="`), js, fmtp(1)}, &WAMPPayload{Args: []any{[]byte{1}}}},
		{args("a\xff"), MQTTPayload{[]byte(`"\u0000Yf8="`), js, fmtp(1)}, &WAMPPayload{Args: []any{[]byte("a\xff")}}},
		{args(5), MQTTPayload{[]byte(`5`), js, fmtp(1)}, nil},
		{args(0.5), MQTTPayload{[]byte(`0.5`), js, fmtp(1)}, nil},
		{args(nil), MQTTPayload{[]byte(`null`), js, fmtp(1)}, nil},
		{args(map[string]any{"a": "<>"}), MQTTPayload{[]byte(`{"a":"<>"}`), js, fmtp(1)}, nil},
		{args("a", 1), MQTTPayload{[]byte(`{"args":["a",1]}`), env, fmtp(1)}, nil},
		{WAMPPayload{Kwargs: map[string]any{"a": 1}}, MQTTPayload{[]byte(`{"kwargs":{"a":1}}`), env, fmtp(1)}, nil},
		{WAMPPayload{}, MQTTPayload{[]byte{}, "", nil}, nil},
	}
	for _, tc := range to {
		m, err := ToMQTT(tc.in, ModeJSON)
		if err != nil || !sameMQTT(m, tc.mqtt) {
			t.Errorf("ToMQTT(%s, json) = %s, %v; want %s", showWAMP(tc.in), showMQTT(m), err, showMQTT(tc.mqtt))
			continue
		}
		want := tc.in
		if tc.back != nil {
			want = *tc.back
		}
		for _, mode := range []Mode{ModeJSON, ModeAuto} {
			back, err := FromMQTT(m, true, mode)
			if err != nil || !samePayload(back, want) {
				t.Errorf("FromMQTT(%s, %s) = %s, %v; want %s", showMQTT(m), mode, showWAMP(back), err, showWAMP(want))
			}
		}
	}

	from := []struct {
		m    MQTTPayload
		v5   bool
		want WAMPPayload
		err  error
	}{
		{MQTTPayload{Payload: []byte(`"x"`)}, false, args("x"), nil},
		{MQTTPayload{Payload: []byte(`21.5`), ContentType: ContentTypeText}, true, args(21.5), nil},
		{MQTTPayload{Payload: []byte(`{"args":[1]}`)}, true, args(map[string]any{"args": []any{int64(1)}}), nil},
		{MQTTPayload{Payload: []byte(`{"args":[1]}`), ContentType: env}, true, args(int64(1)), nil},
		{MQTTPayload{Payload: []byte(`{"args":[1]}`), ContentType: env}, false, args(map[string]any{"args": []any{int64(1)}}), nil},
		{MQTTPayload{Payload: nil}, true, WAMPPayload{}, nil},
		{MQTTPayload{Payload: []byte("hello")}, false, WAMPPayload{}, ErrNotJSON},
		{MQTTPayload{Payload: []byte("1 2")}, false, WAMPPayload{}, ErrNotJSON},
		{MQTTPayload{Payload: []byte("\"\xff\"")}, false, WAMPPayload{}, ErrNotJSON},
		{MQTTPayload{Payload: []byte(`[1]`), ContentType: env}, true, WAMPPayload{}, ErrNotJSON},
		{MQTTPayload{Payload: []byte(`{"args":[],"x":1}`), ContentType: env}, true, WAMPPayload{}, ErrNotJSON},
		{MQTTPayload{Payload: []byte(`{"kwargs":1}`), ContentType: env}, true, WAMPPayload{}, ErrNotJSON},
		{MQTTPayload{Payload: []byte(strings.Repeat("[", 65) + strings.Repeat("]", 65))}, false, WAMPPayload{}, ErrTooDeep},
		{MQTTPayload{Payload: []byte(`{"kwargs":{"k":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}}`), ContentType: env}, true, WAMPPayload{}, ErrTooDeep},
		{MQTTPayload{Payload: []byte(`[1e400]`)}, false, WAMPPayload{}, ErrUnsupportedValue},
	}
	for _, tc := range from {
		got, err := FromMQTT(tc.m, tc.v5, ModeJSON)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("FromMQTT(%s, json) error %v, want %v", showMQTT(tc.m), err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("FromMQTT(%s, json) = %s, %v; want %s", showMQTT(tc.m), showWAMP(got), err, showWAMP(tc.want))
		}
	}
}

func TestToMQTTErrors(t *testing.T) {
	cyclic := make([]any, 1)
	cyclic[0] = cyclic
	type point struct{ X int }
	cases := []struct {
		name string
		in   WAMPPayload
		err  error
	}{
		{"NaN", args(math.NaN()), ErrUnsupportedValue},
		{"+Inf nested", args([]any{math.Inf(1)}), ErrUnsupportedValue},
		{"-Inf float32 in kwargs", WAMPPayload{Kwargs: map[string]any{"k": float32(math.Inf(-1))}}, ErrUnsupportedValue},
		{"channel", args(make(chan int)), ErrUnsupportedValue},
		{"struct", args(point{1}), ErrUnsupportedValue},
		{"pointer", args(new(int)), ErrUnsupportedValue},
		{"int keys", args(map[int]any{1: 2}), ErrUnsupportedValue},
		{"any keys, not strings", args(map[any]any{1: 2}), ErrUnsupportedValue},
		{"invalid UTF-8 key", args(map[string]any{"\xff": 1}), ErrUnsupportedValue},
		{"invalid UTF-8 kwargs key", WAMPPayload{Kwargs: map[string]any{"\xff": 1}}, ErrUnsupportedValue},
		{"invalid json.Number", args([]any{json.Number("12abc")}), ErrUnsupportedValue},
		{"65 deep", args(nested(65, 1)), ErrTooDeep},
		{"65 deep in envelope", args(1, nested(65, 1)), ErrTooDeep},
		{"65 deep maps", args(func() any {
			var v any = 1
			for range 65 {
				v = map[string]any{"k": v}
			}
			return v
		}()), ErrTooDeep},
		{"cyclic", args(cyclic), ErrTooDeep},
	}
	for _, tc := range cases {
		for _, mode := range []Mode{ModeAuto, ModeJSON} {
			if _, err := ToMQTT(tc.in, mode); !errors.Is(err, tc.err) {
				t.Errorf("%s: ToMQTT(%s) error %v, want %v", tc.name, mode, err, tc.err)
			}
		}
	}
	// Accepted oddities: map[any]any with string keys, arrays, named kinds.
	m, err := ToMQTT(args(map[any]any{"b": [2]int{1, 2}, "a": testID(1)}), ModeAuto)
	if err != nil || string(m.Payload) != `{"a":1,"b":[1,2]}` {
		t.Errorf("ToMQTT(map[any]any) = %s, %v", showMQTT(m), err)
	}
	type myByte uint8
	m, err = ToMQTT(args([]myByte{1, 2}), ModeAuto)
	if err != nil || !sameMQTT(m, MQTTPayload{[]byte{1, 2}, ContentTypeBinary, fmtp(0)}) {
		t.Errorf("ToMQTT([]myByte) = %s, %v", showMQTT(m), err)
	}
	if _, err := ToMQTT(WAMPPayload{}, "xml"); !errors.Is(err, ErrMode) {
		t.Errorf("ToMQTT mode xml: %v", err)
	}
	if _, err := FromMQTT(MQTTPayload{}, true, "xml"); !errors.Is(err, ErrMode) {
		t.Errorf("FromMQTT mode xml: %v", err)
	}
}

func TestNoAliasing(t *testing.T) {
	in := []byte{0xff, 2, 3} // not UTF-8: binary in every mode
	for _, mode := range []Mode{ModeAuto, ModeRaw} {
		m, err := ToMQTT(args(in), mode)
		if err != nil {
			t.Fatal(err)
		}
		m.Payload[0] = 9
		if in[0] != 0xff {
			t.Fatalf("ToMQTT(%s) payload aliases the argument", mode)
		}
	}
	for _, m := range []MQTTPayload{
		{Payload: in},
		{Payload: in, ContentType: ContentTypeBinary},
	} {
		for _, mode := range []Mode{ModeAuto, ModeRaw} {
			p, err := FromMQTT(m, true, mode)
			if err != nil {
				t.Fatal(err)
			}
			p.Args[0].([]byte)[0] = 9
			if in[0] != 0xff {
				t.Fatalf("FromMQTT(%s, %s) argument aliases the payload", showMQTT(m), mode)
			}
		}
	}
}

// FuzzFromMQTT: FromMQTT never panics; mode auto and raw never fail; what
// mode auto and json decode maps back to MQTT, and that mapping is stable:
// ToMQTT(FromMQTT(y)) == y for y = ToMQTT(FromMQTT(x)).
func FuzzFromMQTT(f *testing.F) {
	seeds := []struct {
		payload string
		ct      string
		format  int
	}{
		{"21.5", "", -1},
		{"hello", ContentTypeText, 1},
		{"\xff\x00", ContentTypeBinary, 0},
		{`{"args":[1,"\u0000AQ=="],"kwargs":{"k":[{}]}}`, ContentTypeEnvelope, 1},
		{`{"args":[1]}`, ContentTypeEnvelope, 1},
		{`{"a":"\u0000AQID"}`, ContentTypeJSON, 1},
		{`"\u0000AQID"`, "", -1},
		{"\x00AQID", ContentTypeText, 1},
		{"1e400", ContentTypeJSON, 1},
		{"18446744073709551615", "", -1},
		{"[[[[[[[[[[]]]]]]]]]]", "", 1},
		{"", ContentTypeEnvelope, 1},
		{"{}", "application/ld+json", 0},
		{"\"\\ud800\"", "", -1},
	}
	for _, s := range seeds {
		for _, mode := range []byte{0, 1, 2} {
			f.Add([]byte(s.payload), s.ct, s.format, true, mode)
		}
		f.Add([]byte(s.payload), s.ct, s.format, false, byte(0))
	}
	f.Fuzz(func(t *testing.T, payload []byte, ct string, format int, v5 bool, modeSel byte) {
		mode := []Mode{ModeAuto, ModeJSON, ModeRaw}[int(modeSel)%3]
		m := MQTTPayload{Payload: payload, ContentType: ct}
		if format >= 0 {
			m.PayloadFormat = fmtp(byte(format))
		}
		p, err := FromMQTT(m, v5, mode)
		if err != nil {
			if mode != ModeJSON {
				t.Fatalf("FromMQTT(%s, %s) failed: %v", showMQTT(m), mode, err)
			}
			if !errors.Is(err, ErrNotJSON) && !errors.Is(err, ErrTooDeep) && !errors.Is(err, ErrUnsupportedValue) {
				t.Fatalf("FromMQTT(%s, json): unexpected error %v", showMQTT(m), err)
			}
			return
		}
		if mode == ModeRaw {
			if len(p.Args) != 1 || !bytes.Equal(p.Args[0].([]byte), payload) || p.Kwargs != nil {
				t.Fatalf("FromMQTT(%s, raw) = %s", showMQTT(m), showWAMP(p))
			}
			return
		}
		y, err := ToMQTT(p, mode)
		if err != nil {
			t.Fatalf("ToMQTT(FromMQTT(%s, %s)) failed: %v", showMQTT(m), mode, err)
		}
		p2, err := FromMQTT(y, true, mode)
		if err != nil {
			t.Fatalf("FromMQTT(%s, %s) failed: %v", showMQTT(y), mode, err)
		}
		y2, err := ToMQTT(p2, mode)
		if err != nil || !sameMQTT(y, y2) {
			t.Fatalf("not stable: %s -> %s -> %s (%v)", showMQTT(m), showMQTT(y), showMQTT(y2), err)
		}
		if !utf8.Valid(y.Payload) && (y.ContentType != ContentTypeBinary) {
			t.Fatalf("%s is not UTF-8 but not binary", showMQTT(y))
		}
	})
}

// FuzzRoundTrip builds WAMP payloads from the fuzzer's bytes and checks that
// WAMP → MQTT 5 → WAMP gives them back in modes auto and json, or that
// ToMQTT refuses exactly what the rules refuse.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 8, 2, 5, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{1, 9, 3, 1, 'k', 6, 2, 0xff, 0xfe, 1, 'j', 7, 3, 1, 2, 3})
	f.Add([]byte{2, 4, 0x40, 0x35, 0x80, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(append([]byte{0}, bytes.Repeat([]byte{8, 1}, 70)...))
	f.Add([]byte{0, 4, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{data: data}
		var p WAMPPayload
		switch g.byte() % 4 {
		case 0: // one arg
			p.Args = []any{g.value(0)}
		case 1: // args
			for range int(g.byte() % 4) {
				p.Args = append(p.Args, g.value(0))
			}
		case 2: // kwargs
			p.Kwargs = g.dict(0)
		case 3: // both
			for range int(g.byte() % 4) {
				p.Args = append(p.Args, g.value(0))
			}
			p.Kwargs = g.dict(0)
		}
		var refusals []error
		want := expect(p, &refusals)
		for _, mode := range []Mode{ModeAuto, ModeJSON} {
			m, err := ToMQTT(p, mode)
			if len(refusals) > 0 {
				if !slices.ContainsFunc(refusals, func(r error) bool { return errors.Is(err, r) }) {
					t.Fatalf("ToMQTT(%s, %s) error %v, want one of %v", showWAMP(p), mode, err, refusals)
				}
				continue
			}
			if err != nil {
				t.Fatalf("ToMQTT(%s, %s): %v", showWAMP(p), mode, err)
			}
			back, err := FromMQTT(m, true, mode)
			if err != nil {
				t.Fatalf("FromMQTT(%s, %s): %v", showMQTT(m), mode, err)
			}
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("%s -> %s -> %s, want %s", showWAMP(p), showMQTT(m), showWAMP(back), showWAMP(want))
			}
			// MQTT 3.1.1 loses the properties but must not fail or panic.
			if _, err := FromMQTT(m, false, mode); err != nil && mode == ModeAuto {
				t.Fatalf("FromMQTT(%s, 3.1.1): %v", showMQTT(m), err)
			}
		}
	})
}

// gen makes WAMP values from bytes.
type gen struct{ data []byte }

func (g *gen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *gen) bytes(n int) []byte {
	n = min(n, len(g.data))
	b := append([]byte{}, g.data[:n]...)
	g.data = g.data[n:]
	return b
}

func (g *gen) u64() uint64 {
	var b [8]byte
	copy(b[:], g.bytes(8))
	return binary.BigEndian.Uint64(b[:])
}

func (g *gen) value(depth int) any {
	if len(g.data) == 0 {
		return nil
	}
	switch g.byte() % 13 {
	case 0:
		return nil
	case 1:
		return g.byte()%2 == 1
	case 2:
		return int64(g.u64())
	case 3:
		return g.u64()
	case 4:
		return math.Float64frombits(g.u64())
	case 5:
		return string(g.bytes(int(g.byte() % 16)))
	case 6:
		return g.bytes(int(g.byte() % 16))
	case 7:
		return "\x00" + base64.StdEncoding.EncodeToString(g.bytes(int(g.byte()%16)))
	case 8:
		var l []any
		for range int(g.byte() % 4) {
			l = append(l, g.value(depth+1))
		}
		if l == nil {
			l = []any{}
		}
		return l
	case 9:
		return g.dict(depth + 1)
	case 10:
		return math.Float32frombits(uint32(g.u64()))
	case 11:
		return int(int32(g.u64()))
	default:
		return testList{g.value(depth + 1)}
	}
}

func (g *gen) dict(depth int) map[string]any {
	d := map[string]any{}
	for range int(g.byte() % 4) {
		d[string(g.bytes(int(g.byte()%4)))] = g.value(depth + 1)
	}
	return d
}

// expect is what WAMP → MQTT 5 → WAMP should give for p; it adds the errors
// ToMQTT may refuse p with to refusals (maps make the first one found random).
func expect(p WAMPPayload, refusals *[]error) WAMPPayload {
	var out WAMPPayload
	for _, a := range p.Args {
		out.Args = append(out.Args, expectValue(a, 0, refusals))
	}
	if len(p.Kwargs) > 0 {
		out.Kwargs = map[string]any{}
		for k, e := range p.Kwargs {
			if !utf8.ValidString(k) {
				*refusals = append(*refusals, ErrUnsupportedValue)
			}
			out.Kwargs[k] = expectValue(e, 0, refusals)
		}
	}
	return out
}

func expectValue(v any, level int, refusals *[]error) any {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return []byte(x)
		}
		if rest, ok := strings.CutPrefix(x, "\x00"); ok {
			// Canonical base64 only.
			if b, err := base64.StdEncoding.DecodeString(rest); err == nil && base64.StdEncoding.EncodeToString(b) == rest {
				return b
			}
		}
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			*refusals = append(*refusals, ErrUnsupportedValue)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			*refusals = append(*refusals, ErrUnsupportedValue)
		}
	case []any, testList:
		if level >= MaxDepth {
			*refusals = append(*refusals, ErrTooDeep)
		}
		l := reflect.ValueOf(x)
		out := make([]any, l.Len())
		for i := range out {
			out[i] = expectValue(l.Index(i).Interface(), level+1, refusals)
		}
		return out
	case map[string]any:
		if level >= MaxDepth {
			*refusals = append(*refusals, ErrTooDeep)
		}
		out := map[string]any{}
		for k, e := range x {
			if !utf8.ValidString(k) {
				*refusals = append(*refusals, ErrUnsupportedValue)
			}
			out[k] = expectValue(e, level+1, refusals)
		}
		return out
	}
	if len(*refusals) > 0 {
		return nil // not compared
	}
	return norm(v)
}
