package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire form of a publication that crosses to other routers: the body
// the federation link carries, opaque to it. A message travels in the form
// its publisher gave it (MQTT bytes and properties, or WAMP args and
// kwargs), so that each router delivers it natively and bridges it to its
// other protocol exactly as a local publication, and the only conversion
// is the one a local bridge would make.
//
//	byte    version (1)
//	byte    kind: 1 MQTT, 2 WAMP
//	MQTT:   byte flags (bits 0-1 QoS, 2 retain, 3 MQTT 5, 4 payload format present), byte payload format,
//	        strings (uvarint length, bytes): topic, content type, response topic, correlation data,
//	        publisher authid, role, client id; uvarint count and that many user property key/value
//	        strings; then the payload to the end
//	WAMP:   byte flags (bit 0 retain, 1 publisher disclosed, 2 realm), strings: URI, publisher authid, role,
//	        client id, and the realm if flagged (a realm not bridged to MQTT); then the args and kwargs
//	        as the bridge's JSON envelope to the end
//
// Decoding refuses anything else with an error; it never panics (see
// FuzzWire).

const wireVersion = 1

// Kinds of wire messages. Publications (MQTT, WAMP) are routed by
// interest; the others are sent to one router (federation.Link.SendTo) and
// each has its own form, in its own file.
const (
	wireMQTT    = 1
	wireWAMP    = 2
	wireRPC     = 3 // fedrpc.go: calls, results and cancels between routers
	wireShare   = 4 // fedshare.go: shared subscription deliveries
	wireSession = 5 // fedsession.go: MQTT persistent session hand-over
)

// wireKind is the kind of a wire message, 0 if it has none.
func wireKind(body []byte) byte {
	if len(body) < 2 || body[0] != wireVersion {
		return 0
	}
	return body[1]
}

// ErrWire is wrapped by DecodeRemote's errors.
var ErrWire = errors.New("malformed federated message")

// Remote is a publication from another router: exactly one of MQTT and WAMP
// is set.
type Remote struct {
	MQTT *MQTTMessage
	WAMP *WAMPMessage
}

// EncodeMQTT is the wire form of an MQTT publication.
func EncodeMQTT(m MQTTMessage) []byte {
	flags := m.QoS & 3
	if m.Retain {
		flags |= 1 << 2
	}
	if m.V5 {
		flags |= 1 << 3
	}
	var pf byte
	if m.PayloadFormat != nil {
		flags |= 1 << 4
		pf = *m.PayloadFormat
	}
	size := 3 + len(m.Payload) + 8*binary.MaxVarintLen32 + len(m.Topic) + len(m.ContentType) + len(m.ResponseTopic) +
		len(m.CorrelationData) + len(m.Publisher.AuthID) + len(m.Publisher.Role) + len(m.Publisher.ClientID)
	for _, u := range m.UserProperties {
		size += 2*binary.MaxVarintLen32 + len(u.Key) + len(u.Value)
	}
	b := make([]byte, 0, size)
	b = append(b, wireVersion, wireMQTT, flags, pf)
	for _, s := range []string{m.Topic, m.ContentType, m.ResponseTopic, string(m.CorrelationData),
		m.Publisher.AuthID, m.Publisher.Role, m.Publisher.ClientID} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(m.UserProperties)))
	for _, u := range m.UserProperties {
		b = appendString(appendString(b, u.Key), u.Value)
	}
	return append(b, m.Payload...)
}

// EncodeWAMP is the wire form of a WAMP publication. It fails only for
// values the bridge's JSON cannot hold (see ToMQTT).
func EncodeWAMP(m WAMPMessage) ([]byte, error) {
	var flags byte
	if m.Retain {
		flags |= 1
	}
	var d Disclosed
	if m.Disclose != nil {
		flags |= 2
		d = *m.Disclose
	}
	if m.Realm != "" {
		flags |= 4
	}
	env := MQTTPayload{}
	if len(m.Args) > 0 || len(m.Kwargs) > 0 {
		var err error
		if env, err = jsonEnvelope(m.WAMPPayload); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 3+5*binary.MaxVarintLen32+len(m.URI)+len(d.AuthID)+len(d.AuthRole)+len(d.ClientID)+len(m.Realm)+len(env.Payload))
	b = append(b, wireVersion, wireWAMP, flags)
	for _, s := range []string{m.URI, d.AuthID, d.AuthRole, d.ClientID} {
		b = appendString(b, s)
	}
	if m.Realm != "" {
		b = appendString(b, m.Realm)
	}
	return append(b, env.Payload...), nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// DecodeRemote reads a wire message. The result shares no memory with b.
func DecodeRemote(b []byte) (Remote, error) {
	r := wireReader{b: b}
	version, kind := r.byte(), r.byte()
	if r.err == nil && version != wireVersion {
		return Remote{}, fmt.Errorf("%w: version %d", ErrWire, version)
	}
	switch kind {
	case wireMQTT:
		flags, pf := r.byte(), r.byte()
		m := MQTTMessage{QoS: flags & 3, Retain: flags&(1<<2) != 0, V5: flags&(1<<3) != 0}
		if m.QoS > 2 || flags>>5 != 0 {
			return Remote{}, fmt.Errorf("%w: MQTT flags %#x", ErrWire, flags)
		}
		if flags&(1<<4) != 0 {
			m.PayloadFormat = &pf
		}
		m.Topic, m.ContentType, m.ResponseTopic = r.string(), r.string(), r.string()
		if c := r.string(); c != "" {
			m.CorrelationData = []byte(c)
		}
		m.Publisher.AuthID, m.Publisher.Role, m.Publisher.ClientID = r.string(), r.string(), r.string()
		n := r.uvarint()
		if n > uint64(len(r.b)) { // each property takes two bytes at least
			return Remote{}, fmt.Errorf("%w: %d user properties", ErrWire, n)
		}
		for range n {
			m.UserProperties = append(m.UserProperties, UserProperty{Key: r.string(), Value: r.string()})
		}
		if r.err != nil {
			return Remote{}, r.err
		}
		m.Payload = clone(r.b)
		return Remote{MQTT: &m}, nil
	case wireWAMP:
		flags := r.byte()
		if flags>>3 != 0 {
			return Remote{}, fmt.Errorf("%w: WAMP flags %#x", ErrWire, flags)
		}
		m := WAMPMessage{Retain: flags&1 != 0}
		m.URI = r.string()
		d := Disclosed{AuthID: r.string(), AuthRole: r.string(), ClientID: r.string()}
		if flags&4 != 0 {
			if m.Realm = r.string(); r.err == nil && m.Realm == "" {
				return Remote{}, fmt.Errorf("%w: empty realm", ErrWire)
			}
		}
		if r.err != nil {
			return Remote{}, r.err
		}
		if flags&2 != 0 {
			m.Disclose = &d
		}
		if len(r.b) > 0 {
			p, err := decodeEnvelope(r.b)
			if err != nil {
				return Remote{}, fmt.Errorf("%w: %w", ErrWire, err)
			}
			m.WAMPPayload = p
		}
		return Remote{WAMP: &m}, nil
	}
	if r.err != nil {
		return Remote{}, r.err
	}
	return Remote{}, fmt.Errorf("%w: kind %d", ErrWire, kind)
}

// wireReader reads b front to back; the first error sticks.
type wireReader struct {
	b   []byte
	err error
}

func (r *wireReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wireReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail("bad length")
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *wireReader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail("truncated string")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *wireReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrWire, what)
	}
}
