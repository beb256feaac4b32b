package router

import "github.com/gammazero/nexus/v3/wamp"

// Authorizer is the interface implemented by a type that provides the ability
// to authorize sending messages.
type Authorizer interface {
	// Authorize returns true if the sending session is authorized to send the
	// message. Otherwise, it returns or false if not authorized. An error is
	// returned if there is a failure to determine authorization. This error is
	// included in the ERROR response to the client.
	//
	// Since the Authorizer accesses both the sending session and the message
	// through a pointer, the authorizer can alter the content of both the
	// sending session and the message. This allows the authorizer to also work
	// as an interceptor of messages that can change their content and/or
	// change the sending session based on the intercepted message. This
	// functionality may be used to set values in the session upon encountering
	// certain messages sent by that session.
	Authorize(*wamp.Session, wamp.Message) (bool, error)
}

// JUNCTION PATCH: Preauthorizer may be implemented by an Authorizer: it is
// called before Authorize, in the session's goroutine but without the
// session's lock, so it may wait (Junction claims a single registration in
// Redis there). An error refuses the message; an error with an
// ErrorURI() wamp.URI method names the ERROR's URI (else
// wamp.error.authorization_failed). It must not modify the session.
type Preauthorizer interface {
	Preauthorize(sess *wamp.Session, msg wamp.Message) error
}
