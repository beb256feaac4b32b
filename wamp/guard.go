package wamp

import (
	"errors"
	"fmt"

	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/topic"
)

// ErrInvalidMessage is wrapped by every error the inbound guard returns.
var ErrInvalidMessage = errors.New("invalid WAMP message")

// ErrMalformedMessage is wrapped by errors for messages missing required
// parts. They cannot be answered with ERROR and end the session with ABORT
// wamp.error.protocol_violation.
var ErrMalformedMessage = errors.New("malformed WAMP message")

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
	// nexus' decoder accepts a message cut short (`[16]`) and fills in zero
	// values, which nexus then drops without a word: refuse them here.
	switch m := msg.(type) {
	case *nxwamp.Publish:
		if err := required(m.Request, m.Topic); err != nil {
			return err
		}
		return checkPPT(m.Options)
	case *nxwamp.Call:
		if err := required(m.Request, m.Procedure); err != nil {
			return err
		}
		return checkPPT(m.Options)
	case *nxwamp.Subscribe:
		return requiredPattern(m.Request, m.Topic, m.Options)
	case *nxwamp.Register:
		if err := requiredPattern(m.Request, m.Procedure, m.Options); err != nil {
			return err
		}
		// nexus took any string as the policy: two callees with the same
		// unknown one crashed the dealer at the first CALL (nexus patch 14
		// refuses it too; here it is refused with a reason and counted).
		if v, ok := m.Options[nxwamp.OptInvoke]; ok {
			if s, isString := v.(string); !isString || s != "" && !bridge.ValidInvoke(s) {
				return fmt.Errorf("%w: option invoke must be single, roundrobin, random, first or last, got %v", ErrInvalidMessage, v)
			}
		}
		return nil
	case *nxwamp.Unsubscribe:
		return requiredIDs(m.Request, m.Subscription)
	case *nxwamp.Unregister:
		return requiredIDs(m.Request, m.Registration)
	case *nxwamp.Yield:
		if err := requiredIDs(m.Request, 1); err != nil {
			return err
		}
		return checkPPT(m.Options)
	case *nxwamp.Error:
		if err := requiredIDs(m.Request, 1); err != nil {
			return err
		}
		return checkPPT(m.Details)
	case *nxwamp.Hello:
		if m.Realm == "" {
			return fmt.Errorf("%w: HELLO without a realm", ErrMalformedMessage)
		}
	}
	return nil
}

func required(request nxwamp.ID, uri nxwamp.URI) error {
	if request == 0 || uri == "" {
		return fmt.Errorf("%w: request id and URI are required", ErrMalformedMessage)
	}
	return nil
}

// requiredPattern is required for subscriptions and registrations, where a
// pattern may be empty: prefix "" matches every URI.
func requiredPattern(request nxwamp.ID, uri nxwamp.URI, opts nxwamp.Dict) error {
	if m, _ := nxwamp.AsString(opts["match"]); topic.Match(m) == topic.MatchPrefix || topic.Match(m) == topic.MatchWildcard {
		return requiredIDs(request)
	}
	return required(request, uri)
}

func requiredIDs(ids ...nxwamp.ID) error {
	for _, id := range ids {
		if id == 0 {
			return fmt.Errorf("%w: a required id is missing or zero", ErrMalformedMessage)
		}
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
	if errors.Is(err, ErrMalformedMessage) {
		return nil
	}
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
