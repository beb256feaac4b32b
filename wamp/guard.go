package wamp

import (
	"errors"
	"fmt"

	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// ErrInvalidMessage is wrapped by every error the inbound guard returns.
var ErrInvalidMessage = errors.New("invalid WAMP message")

// pptOptions are the payload-passthru options that nexus v3.3.0 reads with
// unchecked type assertions: a non-string value panics inside the broker or
// dealer goroutine and kills the whole process.
var pptOptions = [...]string{
	nxwamp.OptPPTScheme,
	nxwamp.OptPPTSerializer,
	nxwamp.OptPPTCipher,
	nxwamp.OptPPTKeyId,
}

// checkMessage is the inbound guard: it refuses, before nexus sees it, any
// message that nexus would mishandle. It must stay cheap: it runs for every
// message a client sends.
func checkMessage(msg nxwamp.Message) error {
	switch m := msg.(type) {
	case *nxwamp.Publish:
		return checkPPT(m.Options)
	case *nxwamp.Call:
		return checkPPT(m.Options)
	case *nxwamp.Yield:
		return checkPPT(m.Options)
	case *nxwamp.Error:
		return checkPPT(m.Details)
	}
	return nil
}

func checkPPT(opts nxwamp.Dict) error {
	if len(opts) == 0 {
		return nil
	}
	for _, key := range pptOptions {
		v, ok := opts[key]
		if !ok {
			continue
		}
		if _, isString := v.(string); !isString {
			return fmt.Errorf("%w: option %q must be a string, got %T", ErrInvalidMessage, key, v)
		}
	}
	return nil
}

// errorReply returns the ERROR a client gets for a request refused by the
// guard, or nil when the message is not a request that can be answered.
func errorReply(msg nxwamp.Message, err error) nxwamp.Message {
	reply := &nxwamp.Error{
		Type:      msg.MessageType(),
		Details:   nxwamp.Dict{},
		Error:     nxwamp.ErrInvalidArgument,
		Arguments: nxwamp.List{err.Error()},
	}
	switch m := msg.(type) {
	case *nxwamp.Publish:
		reply.Request = m.Request
	case *nxwamp.Call:
		reply.Request = m.Request
	case *nxwamp.Subscribe:
		reply.Request = m.Request
	case *nxwamp.Register:
		reply.Request = m.Request
	case *nxwamp.Unsubscribe:
		reply.Request = m.Request
	case *nxwamp.Unregister:
		reply.Request = m.Request
	default:
		return nil
	}
	return reply
}
