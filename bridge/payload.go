package bridge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Payload mapping. A WAMP event carries positional arguments and keyword
// arguments; an MQTT message carries bytes and, in MQTT 5, a content type and
// a payload-format indicator (0: unspecified bytes, 1: UTF-8). WAMP values
// here are what nexus' serializers produce: nil, bool, string, []byte, the
// integer and float kinds, []any and map[string]any (named types with those
// kinds, such as wamp.List and wamp.Dict, are accepted too).
//
// WAMP → MQTT, mode auto (the default):
//
//	WAMP                             MQTT payload           content type                        format
//	no args, no kwargs               empty                  (none)                              (none)
//	one string arg                   its UTF-8 bytes        text/plain; charset=utf-8           1
//	one binary arg ([]byte)          the bytes              application/octet-stream            0
//	one "\x00"+base64 string arg     the decoded bytes      application/octet-stream            0
//	one string arg, invalid UTF-8    its bytes              application/octet-stream            0
//	one other arg (number, bool,     its JSON               application/json                    1
//	  nil, list, dict)
//	several args and/or kwargs       {"args":[…],"kwargs":{…}}
//	                                 (empty parts omitted)  application/vnd.junction.wamp+json  1
//
// MQTT → WAMP, mode auto. An MQTT 5 message whose content type is one of the
// following is decoded as its exact inverse (media types are compared without
// case; of the parameters only a text charset counts, which must be absent,
// utf-8 or us-ascii):
//
//	application/vnd.junction.wamp+json  the envelope: args and kwargs; an empty payload is no args
//	application/json, any */*+json      one arg: the JSON value
//	text/* (charset absent or UTF-8)    one arg: the string (an empty payload is "")
//	application/octet-stream            one arg: the bytes (an empty payload is empty bytes)
//
// so WAMP → MQTT 5 → WAMP gives back the args and kwargs that were sent,
// binary included. Any other MQTT message falls to the guess below; so does
// an MQTT 5 message whose body does not fit its content type (invalid JSON,
// an envelope with other members than "args" (an array) and "kwargs" (an
// object), text that is not UTF-8). With no or an unknown content type, an
// MQTT 5 payload-format indicator of 1 makes a non-empty UTF-8 payload one
// string arg. The guess, which is all an MQTT 3.1.1 message gets:
//
//	empty payload                       no args
//	valid UTF-8 that is one JSON value  one arg: the value (an object is a dict, never an envelope)
//	other valid UTF-8                   one arg: the string
//	anything else                       one arg: the bytes
//
// so "21.5" is 21.5, "21" is 21, `"x"` is "x", `{"a":1}` is {"a":1} and
// hello is "hello". Mode auto never fails in this direction.
//
// JSON, in every mode and both directions:
//
//   - Binary values inside JSON, and a binary single value in mode json, are
//     written with the WAMP JSON serializer's convention: a string of U+0000
//     followed by the standard, padded base64 of the bytes. Decoding, a JSON
//     string of that form (canonical base64, no line breaks) is binary again,
//     at any depth, and so is a WAMP string of that form sent as the single
//     arg in mode auto or raw: that is how a WAMP client with the JSON
//     serializer sends binary. Strings that are not valid UTF-8 (msgpack and
//     CBOR can carry them) are treated as binary too, since JSON cannot hold
//     them.
//   - Numbers: integers are written as integers; floats always with a
//     fraction or an exponent (2.0, 1e+21; a float32 with the fewest digits
//     that give it back), so their kind survives. Read back, a number written
//     without fraction or exponent is an int64, or a uint64 above the int64
//     range, or a float64 beyond both; any other number is a float64. Numbers
//     beyond float64 range (1e400), NaN and infinities are refused
//     (ErrUnsupportedValue).
//   - Nesting: an argument or a kwargs value may hold lists and dicts nested
//     at most 64 deep (MaxDepth); deeper is refused (ErrTooDeep).
//   - In mode auto MQTT → WAMP, JSON that would be refused (too deep, a
//     number out of range) is not JSON to the guess: it becomes text.
//   - Object keys are sorted; HTML characters are not escaped.
//
// Mode raw: WAMP → MQTT needs exactly one arg that is a string or binary and
// no kwargs (else ErrNotRaw); the payload is its bytes (a "\x00"+base64
// string decoded, any other string as it is), content type
// application/octet-stream, format 0. MQTT → WAMP is always one binary arg,
// empty bytes for an empty payload, whatever the properties say.
//
// Mode json: WAMP → MQTT writes no args and no kwargs as an empty payload
// with no content type, one arg as its JSON (application/json, format 1,
// strings included), several args or kwargs as the envelope. MQTT → WAMP
// reads an empty payload as no args, an MQTT 5 payload with the envelope
// content type as the envelope, and anything else as one JSON value; what is
// not JSON is refused (ErrNotJSON).
//
// Lossy corners, all deterministic: MQTT 3.1.1 has no properties, so there an
// empty string arg comes back as no args, a string that is JSON ("21") as
// its value, and the envelope of several args or kwargs as one dict arg.
// Integers of any kind come back as int64 (uint64 above its range). A WAMP
// string of the "\x00"+base64 form comes back as binary. An empty MQTT
// payload with retain set clears the retained message: that is MQTT's rule,
// and WAMP events with no args map to it.
//
// The results never share memory with the inputs, and the functions are
// safe for concurrent use. Size is not limited here: the router enforces it.

// Mode selects the payload mapping of a bridge rule.
type Mode string

// Payload modes. The zero Mode is ModeAuto.
const (
	ModeAuto Mode = "auto"
	ModeRaw  Mode = "raw"
	ModeJSON Mode = "json"
)

// MQTT 5 content types that ToMQTT writes and FromMQTT reads back.
const (
	ContentTypeText     = "text/plain; charset=utf-8"
	ContentTypeBinary   = "application/octet-stream"
	ContentTypeJSON     = "application/json"
	ContentTypeEnvelope = "application/vnd.junction.wamp+json"
)

// MQTT 5 payload-format indicator values.
const (
	PayloadFormatBytes byte = 0
	PayloadFormatUTF8  byte = 1
)

// MaxDepth is how deep lists and dicts may nest in one argument or kwargs
// value.
const MaxDepth = 64

// Errors of ToMQTT and FromMQTT; the returned errors wrap them.
var (
	ErrMode             = errors.New("unknown payload mode")
	ErrNotRaw           = errors.New("raw payload mode needs exactly one string or binary argument and no kwargs")
	ErrNotJSON          = errors.New("payload is not JSON")
	ErrTooDeep          = errors.New("payload nests lists and dicts deeper than 64")
	ErrUnsupportedValue = errors.New("value cannot be mapped")
)

// MQTTPayload is the payload of an MQTT message with the MQTT 5 properties
// that describe it. PayloadFormat nil means the property is absent.
type MQTTPayload struct {
	Payload       []byte
	ContentType   string
	PayloadFormat *byte
}

// WAMPPayload is the payload of a WAMP event, call or result.
type WAMPPayload struct {
	Args   []any
	Kwargs map[string]any
}

// ToMQTT maps a WAMP payload to an MQTT payload with its MQTT 5 properties,
// as the rules above say. Errors wrap ErrMode, ErrNotRaw, ErrTooDeep or
// ErrUnsupportedValue.
func ToMQTT(p WAMPPayload, mode Mode) (MQTTPayload, error) {
	switch mode {
	case ModeAuto, "":
		return toMQTTAuto(p)
	case ModeRaw:
		return toMQTTRaw(p)
	case ModeJSON:
		return toMQTTJSON(p)
	}
	return MQTTPayload{}, fmt.Errorf("%w %q", ErrMode, string(mode))
}

// FromMQTT maps an MQTT payload to a WAMP payload, as the rules above say.
// v5 says whether the message came over MQTT 5; if not, its ContentType and
// PayloadFormat are ignored. Errors wrap ErrMode, or in mode json ErrNotJSON,
// ErrTooDeep or ErrUnsupportedValue; mode auto and mode raw never fail.
func FromMQTT(m MQTTPayload, v5 bool, mode Mode) (WAMPPayload, error) {
	switch mode {
	case ModeAuto, "":
		return fromMQTTAuto(m, v5), nil
	case ModeRaw:
		return single(clone(m.Payload)), nil
	case ModeJSON:
		return fromMQTTJSON(m, v5)
	}
	return WAMPPayload{}, fmt.Errorf("%w %q", ErrMode, string(mode))
}

func toMQTTAuto(p WAMPPayload) (MQTTPayload, error) {
	if len(p.Args) == 0 && len(p.Kwargs) == 0 {
		return MQTTPayload{Payload: []byte{}}, nil
	}
	if len(p.Args) == 1 && len(p.Kwargs) == 0 {
		v := p.Args[0]
		if b, ok := asBytes(v); ok {
			return binaryPayload(clone(b)), nil
		}
		if s, ok := asString(v); ok {
			if b, ok := binaryFromString(s); ok {
				return binaryPayload(b), nil
			}
			if !utf8.ValidString(s) {
				return binaryPayload([]byte(s)), nil
			}
			return MQTTPayload{Payload: []byte(s), ContentType: ContentTypeText, PayloadFormat: format(PayloadFormatUTF8)}, nil
		}
		return jsonSingle(v)
	}
	return jsonEnvelope(p)
}

func toMQTTRaw(p WAMPPayload) (MQTTPayload, error) {
	if len(p.Args) != 1 || len(p.Kwargs) != 0 {
		return MQTTPayload{}, fmt.Errorf("%w: got %d args and %d kwargs", ErrNotRaw, len(p.Args), len(p.Kwargs))
	}
	v := p.Args[0]
	if b, ok := asBytes(v); ok {
		return binaryPayload(clone(b)), nil
	}
	if s, ok := asString(v); ok {
		if b, ok := binaryFromString(s); ok {
			return binaryPayload(b), nil
		}
		return binaryPayload([]byte(s)), nil
	}
	return MQTTPayload{}, fmt.Errorf("%w: got %T", ErrNotRaw, v)
}

func toMQTTJSON(p WAMPPayload) (MQTTPayload, error) {
	if len(p.Args) == 0 && len(p.Kwargs) == 0 {
		return MQTTPayload{Payload: []byte{}}, nil
	}
	if len(p.Args) == 1 && len(p.Kwargs) == 0 {
		return jsonSingle(p.Args[0])
	}
	return jsonEnvelope(p)
}

func binaryPayload(b []byte) MQTTPayload {
	return MQTTPayload{Payload: b, ContentType: ContentTypeBinary, PayloadFormat: format(PayloadFormatBytes)}
}

func jsonSingle(v any) (MQTTPayload, error) {
	t, err := jsonValue(v, 0)
	if err != nil {
		return MQTTPayload{}, fmt.Errorf("argument: %w", err)
	}
	b, err := marshal(t)
	if err != nil {
		return MQTTPayload{}, err
	}
	return MQTTPayload{Payload: b, ContentType: ContentTypeJSON, PayloadFormat: format(PayloadFormatUTF8)}, nil
}

// envelope is the JSON form of several args and/or kwargs.
type envelope struct {
	Args   []any          `json:"args,omitempty"`
	Kwargs map[string]any `json:"kwargs,omitempty"`
}

func jsonEnvelope(p WAMPPayload) (MQTTPayload, error) {
	var env envelope
	if len(p.Args) > 0 {
		env.Args = make([]any, len(p.Args))
		for i, a := range p.Args {
			t, err := jsonValue(a, 0)
			if err != nil {
				return MQTTPayload{}, fmt.Errorf("args[%d]: %w", i, err)
			}
			env.Args[i] = t
		}
	}
	if len(p.Kwargs) > 0 {
		env.Kwargs = make(map[string]any, len(p.Kwargs))
		for k, v := range p.Kwargs {
			if !utf8.ValidString(k) {
				return MQTTPayload{}, fmt.Errorf("%w: kwargs key %q is not UTF-8", ErrUnsupportedValue, k)
			}
			t, err := jsonValue(v, 0)
			if err != nil {
				return MQTTPayload{}, fmt.Errorf("kwargs[%q]: %w", k, err)
			}
			env.Kwargs[k] = t
		}
	}
	b, err := marshal(env)
	if err != nil {
		return MQTTPayload{}, err
	}
	return MQTTPayload{Payload: b, ContentType: ContentTypeEnvelope, PayloadFormat: format(PayloadFormatUTF8)}, nil
}

func fromMQTTAuto(m MQTTPayload, v5 bool) WAMPPayload {
	if v5 {
		switch contentKind(m.ContentType) {
		case kindEnvelope:
			if len(m.Payload) == 0 {
				return WAMPPayload{}
			}
			if p, err := decodeEnvelope(m.Payload); err == nil {
				return p
			}
		case kindJSON:
			if v, err := decodeJSON(m.Payload); err == nil {
				return single(v)
			}
		case kindText:
			if utf8.Valid(m.Payload) {
				return single(string(m.Payload))
			}
		case kindBinary:
			return single(clone(m.Payload))
		default:
			if len(m.Payload) > 0 && m.PayloadFormat != nil && *m.PayloadFormat == PayloadFormatUTF8 && utf8.Valid(m.Payload) {
				return single(string(m.Payload))
			}
		}
	}
	return guess(m.Payload)
}

// guess decodes a payload that says nothing about itself.
func guess(b []byte) WAMPPayload {
	switch {
	case len(b) == 0:
		return WAMPPayload{}
	case !utf8.Valid(b):
		return single(clone(b))
	}
	if v, err := decodeJSON(b); err == nil {
		return single(v)
	}
	return single(string(b))
}

func fromMQTTJSON(m MQTTPayload, v5 bool) (WAMPPayload, error) {
	if len(m.Payload) == 0 {
		return WAMPPayload{}, nil
	}
	if v5 && contentKind(m.ContentType) == kindEnvelope {
		return decodeEnvelope(m.Payload)
	}
	v, err := decodeJSON(m.Payload)
	if err != nil {
		return WAMPPayload{}, err
	}
	return single(v), nil
}

func single(v any) WAMPPayload { return WAMPPayload{Args: []any{v}} }

// clone copies b; the copy is never nil.
func clone(b []byte) []byte { return append([]byte{}, b...) }

func format(f byte) *byte { return &f }

type contentKindT int

const (
	kindOther contentKindT = iota
	kindEnvelope
	kindJSON
	kindText
	kindBinary
)

func contentKind(ct string) contentKindT {
	if ct == "" {
		return kindOther
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return kindOther
	}
	switch {
	case mt == ContentTypeEnvelope:
		return kindEnvelope
	case mt == ContentTypeJSON || strings.HasSuffix(mt, "+json"):
		return kindJSON
	case mt == ContentTypeBinary:
		return kindBinary
	case strings.HasPrefix(mt, "text/"):
		switch strings.ToLower(params["charset"]) {
		case "", "utf-8", "utf8", "us-ascii":
			return kindText
		}
	}
	return kindOther
}

// binaryFromString decodes the WAMP JSON serializer's binary convention:
// U+0000 then the canonical standard base64 of the bytes.
func binaryFromString(s string) ([]byte, bool) {
	if s == "" || s[0] != 0 || strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s[1:])
	if err != nil {
		return nil, false
	}
	return b, true
}

func binaryToString(b []byte) string {
	return "\x00" + base64.StdEncoding.EncodeToString(b)
}

func asString(v any) (string, bool) {
	if s, ok := v.(string); ok {
		return s, true
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.String {
		return rv.String(), true
	}
	return "", false
}

func asBytes(v any) ([]byte, bool) {
	if b, ok := v.([]byte); ok {
		return b, true
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
		return rv.Bytes(), true
	}
	return nil, false
}

// jsonValue turns a WAMP value at nesting level into a tree that
// encoding/json writes as the rules say: only nil, bool, string, json.Number,
// []any and map[string]any.
func jsonValue(v any, level int) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return x, nil
	case string:
		if !utf8.ValidString(x) {
			return binaryToString([]byte(x)), nil
		}
		return x, nil
	case []byte:
		return binaryToString(x), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(x, 10)), nil
	case int:
		return json.Number(strconv.FormatInt(int64(x), 10)), nil
	case float64:
		return floatNumber(x, 64)
	case float32:
		return floatNumber(float64(x), 32)
	case json.Number:
		n, err := parseNumber(string(x))
		if err != nil {
			return nil, err
		}
		return jsonValue(n, level)
	case []any:
		if level >= MaxDepth {
			return nil, ErrTooDeep
		}
		out := make([]any, len(x))
		for i, e := range x {
			t, err := jsonValue(e, level+1)
			if err != nil {
				return nil, err
			}
			out[i] = t
		}
		return out, nil
	case map[string]any:
		if level >= MaxDepth {
			return nil, ErrTooDeep
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			if !utf8.ValidString(k) {
				return nil, fmt.Errorf("%w: key %q is not UTF-8", ErrUnsupportedValue, k)
			}
			t, err := jsonValue(e, level+1)
			if err != nil {
				return nil, err
			}
			out[k] = t
		}
		return out, nil
	}
	return reflectJSONValue(reflect.ValueOf(v), level)
}

// reflectJSONValue handles named types (wamp.List, wamp.Dict, wamp.ID, …)
// and the numeric kinds the type switch of jsonValue leaves out.
func reflectJSONValue(rv reflect.Value, level int) (any, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.String:
		return jsonValue(rv.String(), level)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return jsonValue(rv.Int(), level)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return jsonValue(rv.Uint(), level)
	case reflect.Float32:
		return floatNumber(rv.Float(), 32)
	case reflect.Float64:
		return floatNumber(rv.Float(), 64)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return binaryToString(rv.Bytes()), nil
		}
		if level >= MaxDepth {
			return nil, ErrTooDeep
		}
		out := make([]any, rv.Len())
		for i := range out {
			t, err := jsonValue(rv.Index(i).Interface(), level+1)
			if err != nil {
				return nil, err
			}
			out[i] = t
		}
		return out, nil
	case reflect.Map:
		if level >= MaxDepth {
			return nil, ErrTooDeep
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := it.Key()
			if k.Kind() == reflect.Interface && !k.IsNil() {
				k = k.Elem()
			}
			if k.Kind() != reflect.String {
				return nil, fmt.Errorf("%w: map key of type %s", ErrUnsupportedValue, k.Type())
			}
			key := k.String()
			if !utf8.ValidString(key) {
				return nil, fmt.Errorf("%w: key %q is not UTF-8", ErrUnsupportedValue, key)
			}
			if _, dup := out[key]; dup {
				return nil, fmt.Errorf("%w: key %q twice", ErrUnsupportedValue, key)
			}
			t, err := jsonValue(it.Value().Interface(), level+1)
			if err != nil {
				return nil, err
			}
			out[key] = t
		}
		return out, nil
	}
	if !rv.IsValid() {
		return nil, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedValue, rv.Type())
}

// floatNumber writes f as encoding/json does, but always with a fraction or
// an exponent, so that it reads back as a float.
func floatNumber(f float64, bits int) (json.Number, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%w: %v has no JSON form", ErrUnsupportedValue, f)
	}
	fmtc := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) ||
			bits == 64 && (abs < 1e-6 || abs >= 1e21) {
			fmtc = 'e'
		}
	}
	b := strconv.AppendFloat(nil, f, fmtc, -1, bits)
	if fmtc == 'e' {
		// e-09 to e-9, as encoding/json.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	} else if !bytes.ContainsRune(b, '.') {
		b = append(b, ".0"...)
	}
	return json.Number(b), nil
}

// parseNumber reads a JSON number as the rules say.
func parseNumber(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if !strings.HasPrefix(s, "-") {
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, nil
			}
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if math.IsInf(f, 0) || err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("%w: number %.40q out of range", ErrUnsupportedValue, s)
	}
	return f, nil
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupportedValue, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// decodeRaw reads b as exactly one JSON value, numbers as json.Number.
func decodeRaw(b []byte) (any, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrNotJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: more after the value", ErrNotJSON)
	}
	return v, nil
}

func decodeJSON(b []byte) (any, error) {
	v, err := decodeRaw(b)
	if err != nil {
		return nil, err
	}
	return wampValue(v, 0)
}

func decodeEnvelope(b []byte) (WAMPPayload, error) {
	v, err := decodeRaw(b)
	if err != nil {
		return WAMPPayload{}, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return WAMPPayload{}, fmt.Errorf("%w: envelope is not an object", ErrNotJSON)
	}
	for k := range obj {
		if k != "args" && k != "kwargs" {
			return WAMPPayload{}, fmt.Errorf("%w: envelope member %.40q", ErrNotJSON, k)
		}
	}
	var p WAMPPayload
	if e, ok := obj["args"]; ok {
		list, ok := e.([]any)
		if !ok {
			return WAMPPayload{}, fmt.Errorf("%w: envelope args is not an array", ErrNotJSON)
		}
		if len(list) > 0 {
			p.Args = make([]any, len(list))
		}
		for i, a := range list {
			if p.Args[i], err = wampValue(a, 0); err != nil {
				return WAMPPayload{}, fmt.Errorf("args[%d]: %w", i, err)
			}
		}
	}
	if e, ok := obj["kwargs"]; ok {
		dict, ok := e.(map[string]any)
		if !ok {
			return WAMPPayload{}, fmt.Errorf("%w: envelope kwargs is not an object", ErrNotJSON)
		}
		if len(dict) > 0 {
			p.Kwargs = make(map[string]any, len(dict))
		}
		for k, v := range dict {
			if p.Kwargs[k], err = wampValue(v, 0); err != nil {
				return WAMPPayload{}, fmt.Errorf("kwargs[%.40q]: %w", k, err)
			}
		}
	}
	return p, nil
}

// wampValue turns decoded JSON at nesting level into WAMP values as the rules
// say.
func wampValue(v any, level int) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return parseNumber(string(x))
	case string:
		if b, ok := binaryFromString(x); ok {
			return b, nil
		}
		return x, nil
	case []any:
		if level >= MaxDepth {
			return nil, ErrTooDeep
		}
		for i, e := range x {
			t, err := wampValue(e, level+1)
			if err != nil {
				return nil, err
			}
			x[i] = t
		}
		return x, nil
	case map[string]any:
		if level >= MaxDepth {
			return nil, ErrTooDeep
		}
		for k, e := range x {
			t, err := wampValue(e, level+1)
			if err != nil {
				return nil, err
			}
			x[k] = t
		}
		return x, nil
	}
	return v, nil // nil, bool
}
