package wamp

import (
	"errors"

	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
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
	if procedure == ReauthenticateProcedure {
		return // every router has its own
	}
	o.p.Registered(o.realm, uint64(callee.ID), string(procedure), match, policy, disclose)
}

func (o registrationObserver) Unregistered(callee *nxwamp.Session, procedure nxwamp.URI, match, policy string, disclose bool) {
	if procedure == ReauthenticateProcedure {
		return
	}
	o.p.Unregistered(o.realm, uint64(callee.ID), string(procedure), match, policy, disclose)
}

// Claims decides whether this router may accept a single registration:
// with federation, another router may hold the procedure. *bridge.Hub
// implements it; ClaimProcedure may wait for Redis, and returns an error
// wrapping bridge.ErrProcedureTaken to refuse.
type Claims interface {
	ClaimProcedure(realm, uri, match string) error
}

// alreadyExists refuses a REGISTER with wamp.error.procedure_already_exists
// (nexus patch 9).
type alreadyExists struct{ error }

func (alreadyExists) ErrorURI() nxwamp.URI { return nxwamp.ErrProcedureAlreadyExists }

// Preauthorize claims a single registration cluster-wide before nexus'
// dealer sees the REGISTER, outside the session's lock (nexus patch 9):
// the claim may wait for Redis. A REGISTER the session may not make is
// left to Authorize to refuse, and claims nothing.
func (z authorizer) Preauthorize(sess *nxwamp.Session, msg nxwamp.Message) error {
	m, ok := msg.(*nxwamp.Register)
	if !ok || z.claims == nil {
		return nil
	}
	if invoke, _ := nxwamp.AsString(m.Options[nxwamp.OptInvoke]); invoke != "" && invoke != nxwamp.InvokeSingle {
		return nil
	}
	sess.Lock()
	authid, _ := nxwamp.AsString(sess.Details["authid"])
	role, _ := nxwamp.AsString(sess.Details["authrole"])
	sess.Unlock()
	match := matchOption(m.Options)
	if mayMatchReauthenticate(string(m.Procedure), match) {
		return nil // Authorize refuses it
	}
	if !z.authority.Allowed(auth.Identity{AuthID: authid, Role: role, Realm: z.realm}, auth.ActionRegister, string(m.Procedure), match) {
		return nil
	}
	if err := z.claims.ClaimProcedure(z.realm, string(m.Procedure), string(match)); err != nil {
		if errors.Is(err, bridge.ErrProcedureTaken) {
			return alreadyExists{err}
		}
		return err
	}
	return nil
}
