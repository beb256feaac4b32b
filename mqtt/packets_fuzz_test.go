package mqtt

import (
	"bytes"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// FuzzPacketDecode decodes any bytes as any packet type, MQTT 3.1.1 and 5,
// as mochi's Client.ReadPacket does with what a client sends, and then
// validates it as the server would: decoding may refuse, never panic (a
// panic in a connection's goroutine ends the router). Each seed is a valid
// body of its type.
//
//	go test ./mqtt -run '^$' -fuzz FuzzPacketDecode -fuzztime 60s
func FuzzPacketDecode(f *testing.F) {
	for _, s := range []struct {
		header byte
		body   []byte
	}{
		{0x10, []byte("\x00\x04MQTT\x05\xce\x00\x3c\x05\x11\x00\x00\x00\x10\x00\x02id\x03\x18\x00\x00\x00\x00\x01t\x00\x01m\x00\x01u\x00\x01p")},
		{0x10, []byte("\x00\x04MQTT\x04\x02\x00\x3c\x00\x02id")},
		{0x32, []byte("\x00\x03a/b\x00\x07\x0d\x23\x00\x01\x08\x00\x01r\x09\x00\x01c\x03\x00\x01jpayload")},
		{0x30, []byte("\x00\x03a/bpayload")},
		{0x82, []byte("\x00\x01\x02\x0b\x07\x00\x03a/#\x2d\x00\x01b\x01")},
		{0xa2, []byte("\x00\x01\x00\x00\x03a/#")},
		{0x40, []byte("\x00\x01\x10\x03\x1f\x00\x00")},
		{0x50, []byte("\x00\x01")},
		{0x62, []byte("\x00\x01\x92\x00")},
		{0x70, []byte("\x00\x01")},
		{0xe0, []byte("\x04\x05\x11\x00\x00\x00\x00")},
		{0xf0, []byte("\x19\x07\x15\x00\x01m\x16\x00\x00")},
		{0x20, []byte("\x00\x00")},
		{0x90, []byte("\x00\x01\x00\x01")},
		{0xb0, []byte("\x00\x01\x00\x11")},
	} {
		f.Add(s.header, true, s.body)
		f.Add(s.header, false, s.body)
	}
	f.Fuzz(func(t *testing.T, header byte, v5 bool, body []byte) {
		var pk packets.Packet
		if err := pk.FixedHeader.Decode(header); err != nil {
			return
		}
		pk.FixedHeader.Remaining = len(body)
		pk.ProtocolVersion = 4
		if v5 {
			pk.ProtocolVersion = 5
		}
		var err error
		switch pk.FixedHeader.Type {
		case packets.Connect:
			if err = pk.ConnectDecode(body); err == nil {
				_ = pk.ConnectValidate()
			}
		case packets.Disconnect:
			err = pk.DisconnectDecode(body)
		case packets.Connack:
			err = pk.ConnackDecode(body)
		case packets.Publish:
			if err = pk.PublishDecode(body); err == nil {
				_ = pk.PublishValidate(0)
				_ = pk.PublishValidate(8)
			}
		case packets.Puback:
			err = pk.PubackDecode(body)
		case packets.Pubrec:
			err = pk.PubrecDecode(body)
		case packets.Pubrel:
			err = pk.PubrelDecode(body)
		case packets.Pubcomp:
			err = pk.PubcompDecode(body)
		case packets.Subscribe:
			if err = pk.SubscribeDecode(body); err == nil {
				_ = pk.SubscribeValidate()
			}
		case packets.Suback:
			err = pk.SubackDecode(body)
		case packets.Unsubscribe:
			if err = pk.UnsubscribeDecode(body); err == nil {
				_ = pk.UnsubscribeValidate()
			}
		case packets.Unsuback:
			err = pk.UnsubackDecode(body)
		case packets.Auth:
			if err = pk.AuthDecode(body); err == nil {
				_ = pk.AuthValidate()
			}
		}
		if err != nil {
			return
		}
		// What decoded must encode again (the server re-encodes what
		// it forwards), also without a panic.
		var buf bytes.Buffer
		switch pk.FixedHeader.Type {
		case packets.Publish:
			_ = pk.PublishEncode(&buf)
		case packets.Subscribe:
			_ = pk.SubscribeEncode(&buf)
		case packets.Connect:
			_ = pk.ConnectEncode(&buf)
		}
	})
}
