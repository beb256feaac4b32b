package wamp

import (
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// Procedures is told of every callee joining or leaving a registration, in
// every realm, from inside nexus' dealer (nexus patch 7); *bridge.Hub
// implements it, and federation announces this router's procedures by it.
// disclose: the registration discloses every caller. The methods must not
// block.
type Procedures interface {
	Registered(realm string, session uint64, uri, match, policy string, disclose bool)
	Unregistered(realm string, session uint64, uri, match, policy string, disclose bool)
}

// registrationObserver adapts Procedures to one realm's dealer.
type registrationObserver struct {
	realm string
	p     Procedures
}

func (o registrationObserver) Registered(callee *nxwamp.Session, procedure nxwamp.URI, match, policy string, disclose bool) {
	o.p.Registered(o.realm, uint64(callee.ID), string(procedure), match, policy, disclose)
}

func (o registrationObserver) Unregistered(callee *nxwamp.Session, procedure nxwamp.URI, match, policy string, disclose bool) {
	o.p.Unregistered(o.realm, uint64(callee.ID), string(procedure), match, policy, disclose)
}
