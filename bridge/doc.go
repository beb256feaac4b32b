// Package bridge is the hub of Junction: the canonical message model and the
// only code that decides where a message goes next.
//
// Every routing decision is made in route.go: the engines hand Hub.Publish
// each publication they accepted, with the facts they know about it, and
// policy.classify, built once from the configuration, says what it is; Publish
// then sends it to the RPC translator (rpc.go), to the other routers
// (federate.go, fedrealm.go, through bridge/federation) and to the other
// protocol on this router (hub.go), mapping its topic once for all of them.
// What arrives from other routers (FederationHandler) goes to the local
// engines only.
//
// Calls are routed by registration: an MQTT call is a publication to
// "$rpc/..." and goes through Publish; a WAMP CALL goes to its realm's
// dealer, which picks among the registrations the hub placed there (MQTT
// callees through rpc.go, other routers' callees through fedrpc.go's
// proxies where clusterRPC.wanted says, single registrations claimed once
// cluster-wide by ClaimProcedure). Shared subscriptions across routers
// (fedshare.go) and MQTT sessions that move between routers (fedsession.go)
// are the hub's too.
//
// Payload, rule and RPC mapping (payload.go, rules.go, rpcmsg.go) define how
// a message looks on the other side. The hub's vocabulary is package
// bridge/topic: the MQTT and WAMP forms of a name, the match policies, and
// the one matcher that the hub's interest, auth's permissions and
// federation's route index all follow.
package bridge
