package router

import "github.com/gammazero/nexus/v3/wamp"

func pptOptionsToDetails(options wamp.Dict, details wamp.Dict) {
	// JUNCTION PATCH: upstream asserts .(string) unchecked and panics on a
	// non-string option sent by any client. Junction's inbound guard refuses
	// such messages first; this keeps the broker safe regardless.
	for _, key := range []string{wamp.OptPPTScheme, wamp.OptPPTSerializer, wamp.OptPPTCipher, wamp.OptPPTKeyId} {
		if val, ok := options[key].(string); ok {
			details[key] = val
		}
	}
}
