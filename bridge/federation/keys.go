package federation

// keys names the link's Redis keys. Every key carries a hash tag, so that on
// Redis Cluster the keys one script touches share a slot:
//
//	P:{routes}:nodes      ZSET   incarnation → last heartbeat (Redis clock, ms)
//	P:{routes}:epoch      STRING a random value set when missing: it changes when Redis lost its data
//	P:{routes}:ver        HASH   incarnation → version of its route set
//	P:{routes}:node:<inc> SET    the incarnation's route rows
//	P:{routes}:log        STREAM route changes {n, v, op, r}, MAXLEN ~ routeLogMaxLen
//	P:{retained}          HASH   topic → retained body
//	P:{retained}:seq      STRING number of the last retained change
//	P:{retained}:log      STREAM retained changes {n, t, b}, MAXLEN ~ retainedLogMaxLen
//	P:{in:<inc>}          STREAM the incarnation's inbox: one frame per entry {f}
//	P:{in:<inc>}:acks     HASH   receiver incarnation → the last reliable seq it has from <inc>
type keys struct {
	prefix      string
	nodes       string
	epoch       string
	ver         string
	routeLog    string
	retained    string
	retainedSeq string
	retainedLog string
}

func newKeys(prefix string) keys {
	r := prefix + ":{routes}:"
	return keys{
		prefix:      prefix,
		nodes:       r + "nodes",
		epoch:       r + "epoch",
		ver:         r + "ver",
		routeLog:    r + "log",
		retained:    prefix + ":{retained}",
		retainedSeq: prefix + ":{retained}:seq",
		retainedLog: prefix + ":{retained}:log",
	}
}

func (k keys) routeSet(inc string) string { return k.prefix + ":{routes}:node:" + inc }
func (k keys) inbox(inc string) string    { return k.prefix + ":{in:" + inc + "}" }
func (k keys) acks(inc string) string     { return k.prefix + ":{in:" + inc + "}:acks" }

const (
	routeLogMaxLen    = 10000
	retainedLogMaxLen = 10000
	inboxGroup        = "junction" // a consumer group nobody reads: creating it creates the inbox (see ensureInbox)
)
