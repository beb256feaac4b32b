// Package federation links Junction routers to one another through Redis:
// routers never talk directly. A Link moves opaque message bodies from this
// router to the routers that have a matching local interest (a Route), and
// keeps a cluster-wide retained store. It knows nothing of WAMP or MQTT
// sessions: the router tells it when a route gains its first local subscriber
// (AddRoute) or loses its last (RemoveRoute), hands it local publications
// (Publish) and retained changes (Retain), and gets other routers' messages
// and the retained log back through a Handler.
//
// One code path serves a single Redis, Redis Sentinel and Redis Cluster: the
// link uses go-redis' UniversalClient, touches only one hash slot per command
// or script, and uses no pub/sub, no KEYS and no keyspace notifications.
//
// # Identity
//
// Each Link is an incarnation: Config.NodeID plus a random suffix
// ("web-3-5f0c1a9e22b4"). A restarted process is a new incarnation; what the
// others knew of the old one is dropped when its heartbeat stops.
//
// # Keys
//
// P is Config.KeyPrefix. Braces are Cluster hash tags.
//
//	P:{routes}:nodes      ZSET   incarnation → last heartbeat, Redis clock in ms
//	P:{routes}:epoch      STRING random, set when missing: it changes when Redis lost its data
//	P:{routes}:ver        HASH   incarnation → version of its route set
//	P:{routes}:node:<inc> SET    its route rows: "mqtt|<filter>", "wamp|<match>|<uri>", "rpc|<text>"
//	P:{routes}:claims     HASH   name → "incarnation ms" holding it (claims.go: single registrations)
//	P:{routes}:log        STREAM route changes {n, v, op: add|del|reset|bye, r}, MAXLEN ~10000
//	P:{retained}          HASH   topic → retained body
//	P:{retained}:seq      STRING number of the last retained change
//	P:{retained}:log      STREAM retained changes {n, t, b (absent: cleared)}, MAXLEN ~10000
//	P:{in:<inc>}          STREAM the incarnation's inbox, one frame per entry {f}, MAXLEN ~InboxMaxLen
//	P:{in:<inc>}:acks     HASH   receiver incarnation → last reliable seq it has from <inc>
//	P:{sess:<client id>}  STRING the incarnation owning an MQTT persistent session, "\n" and the one it came from after a hand-over (session.go)
//
// The route table lives in one slot so that each change is one Lua script
// (SADD/SREM + HINCRBY version + XADD log) and each snapshot is atomic; it is
// small and changes rarely. Inboxes and their acks hashes are spread over the
// slots by incarnation. The retained store is one slot too: its log is the
// single order every router applies.
//
// # Routes
//
// Every router keeps the whole route table in memory and matches each local
// publish against it, in a trie that follows package topic's matchers
// (topic.FilterMatches, topic.Pattern.Matches): MQTT filters by MQTT rules ('+', '#', "a/#" matches
// "a", no leading wildcard matches a topic starting with '$', a
// $share/<group>/<filter> row is kept apart, see share.go), WAMP patterns as nexus
// does (exact; prefix is a plain string prefix; wildcard has as many '.'
// components, an empty one matching any). A publish that matches no other
// router costs one read-locked lookup and sends nothing to Redis.
//
// RPC rows ("rpc|<text>", Route.Proto "rpc") are replicated like the others
// but never matched: they tell every other router's RowWatcher which
// procedures a router serves (the hub makes them callable there and sends
// the calls with SendTo, which reaches one router by incarnation whatever
// its routes). A NodeWatcher is told when a router dies or leaves, after its
// rows are reported removed. A claim (Claim, Release) is a name at most one
// live router holds, decided by one script: the hub claims a single WAMP
// registration before it accepts one.
//
// A router writes its route changes with one script per batch, logging each
// with its next version. Every router tails the route log with a blocking
// XREAD, applies a router's change when its version is the next expected,
// and reloads that router's set (one atomic snapshot script) when it is not:
// a gap, a "reset", a router first seen past its first change. It loads the whole table at
// start and after every read error (so after every reconnect), and checks
// all versions every 30 heartbeats as a backstop. A router's own writes are
// compare-and-set on its version: if Redis does not hold what it last wrote
// (Redis restarted empty, or lost its last second of AOF, or another router
// removed it as dead), its next heartbeat or write notices and it rewrites
// its whole set ("reset").
//
// # Liveness
//
// Every router runs a heartbeat script every Config.Heartbeat: it sets its
// score in the nodes ZSET to the Redis clock and reads everybody's. A router
// whose score is older than Config.NodeTimeout is dead: every router drops
// its routes from memory at once (Publish stops targeting it) and discards
// what it had queued for it (dropped{reason="dead_node"}), and each tries a
// removal script that deletes its route set, version and node entry only if
// its score is still old (so removing is idempotent and spares a router that
// came back); the router whose script removed something also deletes the
// dead router's inbox and acks hash. A router that left with Close removes
// itself and logs "bye", so the others drop it at once. A router that is
// itself just (re)connected judges nobody for NodeTimeout: after a Redis
// outage every heartbeat is old, and the live routers need a moment to
// renew theirs. A heartbeat that finds the epoch changed means Redis lost
// its data: every router re-announces its routes, reloads the table,
// resends what is unacknowledged and checks its retained store.
//
// # Messages
//
// Publish queues a message for each destination router, in that router's
// spool, and wakes the writer; it never waits for Redis. The writer (one
// goroutine) empties the spools in rounds: each round is one pipeline with,
// per destination, frames of up to 64 KiB of messages (see frame.go), each
// written with XADD NOMKSTREAM MAXLEN ~ InboxMaxLen to the destination's
// inbox. Under load a frame carries hundreds of messages, so Redis sees a
// few commands per thousand messages. Each router reads its own inbox with
// a blocking XREAD from its last position and calls Handler.Deliver from
// that one goroutine.
//
// Unreliable messages are sent once: a failed write drops them
// (dropped{reason="send_failed"}), and while writes fail Publish drops them
// at once (dropped{reason="link_down"}).
//
// Reliable messages carry a sequence number per (origin, destination)
// incarnation pair and stay in the spool until acknowledged. The receiver
// delivers seq == next and advances; drops seq < next (a duplicate, counted);
// and drops seq > next (counted dropped{reason="gap"}), waiting for the sender
// to go back (go-back-N), unless the frame's floor — the lowest seq the
// sender still holds — is above next: then the sender no longer has the
// missing ones (it discarded its spool when it judged this router dead),
// and the receiver skips to the floor, counting dropped{reason="lost"}.
// Every 50ms the receiver writes its contiguous acknowledgement per origin
// (HSET P:{in:<origin>}:acks <receiver> <seq>, in the origin's slot), when it
// advanced or when duplicates show the sender does not know it. The sender
// reads its acks hash every 50ms while it awaits some, trims its spools, and
// goes back to the first unacknowledged message of a destination when that
// one has waited Config.ResendAfter — or at once for every destination after
// a failed write or when Redis lost its data. Sequence numbers of a dead
// destination continue if it comes back (within 10 minutes), so its receiver
// never mistakes new messages for duplicates. Result: reliable messages are
// delivered at least once between routers, exactly once to the Handler, in
// order per origin; unreliable ones at most once. The order between a
// reliable and an unreliable message is not kept.
//
// # Retained messages
//
// Retain queues a change; the writer applies it with one script (HSET or
// HDEL, INCR the change number, XADD to the retained log) in the order of
// Retain calls. Every router loads the whole hash at start (HSCAN, after
// taking the log position) and then tails the log, calling Handler.Retained
// for each change in log order, its own included. A break in the change
// numbers (the reader fell behind the log's trimming, or Redis lost data)
// makes it load the hash again, and report cleared the topics that vanished.
// When Redis lost its data (the change number went back, or the epoch
// changed: it restarted without persistence), a Handler that is a
// RetainedSource is first asked for the retained messages it holds, and
// each router writes back those the store no longer has (HEXISTS, then the
// change as above; the first router to write a topic wins, and they all
// held the same): the cluster's retained messages survive an empty restart.
// A Handler that is not a RetainedSource sees them cleared.
//
// # When Redis is unreachable
//
// Local callers never wait: Publish and Retain queue within the spool
// bounds (SpoolMessages per destination, SpoolBytes in all; beyond them the
// new message is dropped, dropped{reason="spool_full"}, logged at most every
// 10s), and every loop retries with backoff, logging at most once per 10s
// per kind of failure (go-redis also logs each failed dial through its
// process-wide logger: install RedisLogger). Up reports false. The route table stays as it was.
// When Redis is back, the writer resends everything unacknowledged, then
// writes the rest in order; readers resume from their positions (a new
// inbox stream after an empty restart gets IDs above the old position, as
// XADD IDs follow the Redis clock); routers re-announce their routes if
// Redis lost them. An outage of any length makes no router judge another
// dead (nobody judges for NodeTimeout after reconnecting), so nothing
// reliable is lost as long as the spool held it. What is lost is what a
// router queued for a router that really died, and what was queued for a
// router cut off from Redis (alone) for longer than NodeTimeout: the others
// judged it dead; when it comes back it re-announces its routes and counts
// the skipped messages as lost.
//
// # Redis Cluster
//
// Every script's keys share a hash tag; pipelines are split per node by
// go-redis. The three blocking reads (route log, retained log, inbox) use a
// client of their own, one connection each. A primary that dies refuses
// connections rather than answering MOVED, so after any error the link has
// go-redis reload the slot map (at most every 250ms), and a replica's
// takeover is followed within a retry or two. Replication is asynchronous:
// writes the old primary acknowledged but did not replicate are lost, and
// the reliable ones among them are resent like any other.
//
// # Costs
//
// Per publish with no remote interest: a read lock and a trie walk (about
// 100ns with 10000 routes), no allocation, no Redis command. Per message
// with k interested routers: k spool appends; on the wire, k frames per
// writer round, so under load far less than one command per message
// (BenchmarkLink: about 0.001 commands per 64-byte message, several million
// messages per second through one local Redis). In the background, per
// router: a heartbeat pipeline (two scripts) every Heartbeat; three blocking
// XREADs renewed every 2×Heartbeat (at most 500ms) when idle; an HGETALL of
// its acks every 50ms while it awaits acknowledgements, and an HSET per
// origin every 50ms while it receives reliable messages; a version check
// every 30 heartbeats. A route change is one script for its writer and one
// log entry read by every other router.
//
// # Limits
//
//   - A $share/<group>/<filter> row is not a route: Publish and Wants ignore
//     it, and SharedGroups tells the Handler which routers have members of
//     each group matching a topic (linear in the number of groups). Which
//     router serves a publication, and sending it there (SendTo), is the
//     Handler's (see share.go); a dead router's unacknowledged reliable
//     messages come back to a Returner.
//   - The route table and the retained store each live in one hash slot (one
//     Cluster shard).
//   - Redis must not evict the link's keys (maxmemory-policy noeviction, or
//     a volatile-* policy): an evicted route set is repaired (its router
//     re-announces it), an evicted inbox or retained entry is not.
//   - Replication is asynchronous: a failover (Cluster or Sentinel) may lose
//     writes the old primary acknowledged. Reliable messages are resent and
//     route sets repaired, but a retained change lost that way stays lost
//     (the routers converge on what the new primary holds).
//   - Inbox positions are stream IDs, which follow the Redis clock: after a
//     failover to a replica whose clock lags, entries written during the lag
//     sort before the reader's position; reliable ones are resent once the
//     clock passes it, unreliable ones are lost.
//   - The order between a reliable and an unreliable message is not kept,
//     and Deliver and Retained are called from two goroutines.
//   - MQTT session ownership keys (ClaimSession) live only in Redis; the
//     sessions themselves live in their owner's memory: an owner that
//     crashes loses them, and its keys stay until the ids are claimed again.
//     A key moved by a draining router (MoveSession) also names the router
//     it came from, until it is claimed again. Nodes and IsLive answer as of
//     the last heartbeat; NodeAlive asks Redis (one EVAL), so that a drain
//     never moves a session to a router that has just left.
//   - RoutesWritten and RouteVersion order a router's route changes against
//     other routers' tables (the session barrier, bridge/fedsession.go);
//     Publish queues a message under the table's read lock, so a message
//     routed by a table that did not have a change yet is queued before
//     anything queued after that change is seen.
package federation
