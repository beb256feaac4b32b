package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The MQTT form of RPC messages: calls and results as the package doc of
// rpc.go describes them, in MQTT 5 (properties) or envelope (JSON) form.

// Members of the JSON envelopes.
const (
	envReplyTo         = "reply_to"
	envCorrelation     = "correlation"
	envArgs            = "args"
	envKwargs          = "kwargs"
	envTimeout         = "timeout"
	envReceiveProgress = "receive_progress"
	envError           = "error"
	envProgress        = "progress"
	envProcedure       = "procedure"
	envCallerAuthID    = "caller_authid"
	envCallerAuthRole  = "caller_authrole"
)

// parseCall reads an MQTT publish to "$rpc/...". The request it returns has
// its reply topic set as soon as one was read, even with an error, so that a
// malformed call can still be answered.
func parseCall(m MQTTMessage) (Call, request, error) {
	req := request{qos: m.QoS}
	if m.V5 && m.ResponseTopic != "" {
		req.replyTo, req.v5, req.correlation = m.ResponseTopic, true, clone(m.CorrelationData)
		if err := checkReplyTopic(m.ResponseTopic); err != nil {
			req.replyTo = ""
			return Call{}, req, err
		}
		call := Call{WAMPPayload: fromMQTTAuto(m.MQTTPayload, true)}
		for _, up := range m.UserProperties {
			switch up.Key {
			case PropTimeout:
				ms, err := strconv.ParseUint(up.Value, 10, 32)
				if err != nil {
					return Call{}, req, fmt.Errorf("user property timeout %.40q: want milliseconds", up.Value)
				}
				call.Timeout = time.Duration(ms) * time.Millisecond
			case PropReceiveProgress:
				call.ReceiveProgress = up.Value == "true"
			}
		}
		return call, req, nil
	}
	obj, err := envelopeObject(m.Payload)
	if err != nil {
		return Call{}, req, fmt.Errorf("no Response Topic, and the payload is not a call envelope: %w", err)
	}
	if v, ok := obj[envReplyTo]; ok {
		s, ok := v.(string)
		if !ok || checkReplyTopic(s) != nil {
			return Call{}, req, fmt.Errorf("envelope reply_to: want a topic name")
		}
		req.replyTo = s
	} else {
		return Call{}, req, errors.New("envelope has no reply_to")
	}
	if v, ok := obj[envCorrelation]; ok {
		if req.correlation, err = marshal(v); err != nil {
			return Call{}, req, fmt.Errorf("envelope correlation: %w", err)
		}
	}
	var call Call
	for k, v := range obj {
		switch k {
		case envReplyTo, envCorrelation:
		case envArgs, envKwargs:
		case envTimeout:
			ms, ok := v.(json.Number)
			n, err := strconv.ParseUint(string(ms), 10, 32)
			if !ok || err != nil {
				return Call{}, req, fmt.Errorf("envelope timeout: want milliseconds")
			}
			call.Timeout = time.Duration(n) * time.Millisecond
		case envReceiveProgress:
			b, ok := v.(bool)
			if !ok {
				return Call{}, req, fmt.Errorf("envelope receive_progress: want true or false")
			}
			call.ReceiveProgress = b
		default:
			return Call{}, req, fmt.Errorf("envelope member %.40q is unknown", k)
		}
	}
	if call.WAMPPayload, err = envelopePayload(obj); err != nil {
		return Call{}, req, err
	}
	return call, req, nil
}

// checkReplyTopic accepts topic names a result may be published to.
func checkReplyTopic(t string) error {
	switch {
	case t == "", len(t) > 65535, !utf8.ValidString(t):
		return errors.New("response topic is empty, too long or not UTF-8")
	case strings.ContainsAny(t, "+#"):
		return errors.New("response topic holds a wildcard")
	case strings.HasPrefix(t, "$"):
		return errors.New("response topic starts with $")
	}
	return nil
}

// parseYield reads a callee's answer to an invocation.
func parseYield(m MQTTMessage) (Result, error) {
	if m.V5 {
		r := Result{WAMPPayload: fromMQTTAuto(m.MQTTPayload, true)}
		for _, up := range m.UserProperties {
			switch up.Key {
			case PropError:
				if up.Value == "" {
					return Result{}, errors.New("user property error is empty")
				}
				r.Error = up.Value
			case PropProgress:
				r.Progress = up.Value == "true"
			}
		}
		return r, nil
	}
	obj, err := envelopeObject(m.Payload)
	if err != nil {
		return Result{}, fmt.Errorf("not a result envelope: %w", err)
	}
	var r Result
	for k, v := range obj {
		switch k {
		case envCorrelation, envArgs, envKwargs:
		case envError:
			s, ok := v.(string)
			if !ok || s == "" {
				return Result{}, errors.New("envelope error: want a URI")
			}
			r.Error = s
		case envProgress:
			b, ok := v.(bool)
			if !ok {
				return Result{}, errors.New("envelope progress: want true or false")
			}
			r.Progress = b
		default:
			return Result{}, fmt.Errorf("envelope member %.40q is unknown", k)
		}
	}
	if r.WAMPPayload, err = envelopePayload(obj); err != nil {
		return Result{}, err
	}
	return r, nil
}

func envelopeObject(b []byte) (map[string]any, error) {
	v, err := decodeRaw(b)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrNotJSON)
	}
	return obj, nil
}

// envelopePayload reads the args and kwargs members of an envelope.
func envelopePayload(obj map[string]any) (WAMPPayload, error) {
	var p WAMPPayload
	if v, ok := obj[envArgs]; ok {
		list, ok := v.([]any)
		if !ok {
			return p, errors.New("envelope args is not an array")
		}
		for i, a := range list {
			w, err := wampValue(a, 0)
			if err != nil {
				return p, fmt.Errorf("args[%d]: %w", i, err)
			}
			p.Args = append(p.Args, w)
		}
	}
	if v, ok := obj[envKwargs]; ok {
		dict, ok := v.(map[string]any)
		if !ok {
			return p, errors.New("envelope kwargs is not an object")
		}
		for k, e := range dict {
			w, err := wampValue(e, 0)
			if err != nil {
				return p, fmt.Errorf("kwargs[%.40q]: %w", k, err)
			}
			if p.Kwargs == nil {
				p.Kwargs = map[string]any{}
			}
			p.Kwargs[k] = w
		}
	}
	return p, nil
}

// envelopeJSON writes fields and the payload's args and kwargs (when there
// are any) as one JSON object.
func envelopeJSON(fields map[string]any, p WAMPPayload) ([]byte, error) {
	if len(p.Args) > 0 {
		args := make([]any, len(p.Args))
		for i, a := range p.Args {
			v, err := jsonValue(a, 0)
			if err != nil {
				return nil, fmt.Errorf("args[%d]: %w", i, err)
			}
			args[i] = v
		}
		fields[envArgs] = args
	}
	if len(p.Kwargs) > 0 {
		kw := make(map[string]any, len(p.Kwargs))
		for k, a := range p.Kwargs {
			if !utf8.ValidString(k) {
				return nil, fmt.Errorf("%w: kwargs key %q is not UTF-8", ErrUnsupportedValue, k)
			}
			v, err := jsonValue(a, 0)
			if err != nil {
				return nil, fmt.Errorf("kwargs[%q]: %w", k, err)
			}
			kw[k] = v
		}
		fields[envKwargs] = kw
	}
	return marshal(fields)
}

// resultMessage is the MQTT message that carries r to a caller.
func (h *Hub) resultMessage(replyTo string, qos byte, v5 bool, correlation []byte, r Result) (MQTTMessage, error) {
	m := MQTTMessage{Topic: replyTo, QoS: qos, V5: true}
	if v5 {
		p, err := ToMQTT(r.WAMPPayload, ModeAuto)
		if err != nil {
			return m, err
		}
		m.MQTTPayload, m.CorrelationData = p, correlation
		if r.Error != "" {
			m.UserProperties = append(m.UserProperties, UserProperty{PropError, r.Error})
		}
		if r.Progress {
			m.UserProperties = append(m.UserProperties, UserProperty{PropProgress, "true"})
		}
		return m, h.checkSize(m)
	}
	fields := map[string]any{}
	if correlation != nil {
		fields[envCorrelation] = json.RawMessage(correlation)
	}
	if r.Error != "" {
		fields[envError] = r.Error
	}
	if r.Progress {
		fields[envProgress] = true
	}
	b, err := envelopeJSON(fields, r.WAMPPayload)
	if err != nil {
		return m, err
	}
	m.MQTTPayload = MQTTPayload{Payload: b, ContentType: ContentTypeJSON, PayloadFormat: format(PayloadFormatUTF8)}
	return m, h.checkSize(m)
}

// invocationMessage is the MQTT message that hands inv to a callee.
func (h *Hub) invocationMessage(id uint64, v5 bool, inv Invocation, timeout time.Duration) (MQTTMessage, error) {
	replyTo := RPCReplyPrefix + strconv.FormatUint(id, 10)
	// QoS 2 here: the callee's subscription caps it.
	m := MQTTMessage{Topic: TopicOfProcedure(inv.Procedure), QoS: 2, V5: true}
	ms := strconv.FormatInt(timeout.Milliseconds(), 10)
	if v5 {
		p, err := ToMQTT(inv.WAMPPayload, ModeAuto)
		if err != nil {
			return m, err
		}
		m.MQTTPayload = p
		m.ResponseTopic = replyTo
		m.CorrelationData = []byte(strconv.FormatUint(id, 10))
		m.UserProperties = []UserProperty{{PropProcedure, inv.Procedure}, {PropTimeout, ms}}
		if inv.ReceiveProgress {
			m.UserProperties = append(m.UserProperties, UserProperty{PropReceiveProgress, "true"})
		}
		if c := inv.Caller; c != nil {
			m.UserProperties = append(m.UserProperties,
				UserProperty{PropCallerAuthID, c.AuthID}, UserProperty{PropCallerAuthRole, c.AuthRole})
		}
		return m, h.checkSize(m)
	}
	fields := map[string]any{
		envProcedure:   inv.Procedure,
		envReplyTo:     replyTo,
		envCorrelation: id,
		envTimeout:     timeout.Milliseconds(),
	}
	if inv.ReceiveProgress {
		fields[envReceiveProgress] = true
	}
	if c := inv.Caller; c != nil {
		fields[envCallerAuthID], fields[envCallerAuthRole] = c.AuthID, c.AuthRole
	}
	b, err := envelopeJSON(fields, inv.WAMPPayload)
	if err != nil {
		return m, err
	}
	m.MQTTPayload = MQTTPayload{Payload: b, ContentType: ContentTypeJSON, PayloadFormat: format(PayloadFormatUTF8)}
	return m, h.checkSize(m)
}

// checkSize refuses a message larger than MQTT clients were promised.
func (h *Hub) checkSize(m MQTTMessage) error {
	size := len(m.Payload) + len(m.Topic) + len(m.ContentType) + len(m.ResponseTopic) + len(m.CorrelationData) + 16
	for _, up := range m.UserProperties {
		size += len(up.Key) + len(up.Value) + 5
	}
	if h.cfg.MaxPacket > 0 && size > h.cfg.MaxPacket {
		return fmt.Errorf("%w: %d bytes, limit %d", errTooLarge, size, h.cfg.MaxPacket)
	}
	return nil
}
