package federation

import (
	"errors"
	"fmt"
	"strconv"
)

// Parsers of what the link reads back from Redis. Redis is shared with other
// programs and can hold anything under our keys, so none of them trusts its
// input: a bad reply is an error, never a panic (see FuzzDecode).

var errReply = errors.New("unexpected reply from Redis")

type heartbeatReply struct {
	now   int64 // Redis clock, ms
	epoch string
	ver   int64 // this router's route version in Redis (0: none)
	card  int64 // the size of its route set in Redis
	added bool  // it was not in the node set
	nodes []nodeScore
}

type nodeScore struct {
	inc   string
	score int64 // last heartbeat, Redis clock ms
}

func parseHeartbeat(v any) (heartbeatReply, error) {
	var r heartbeatReply
	a, ok := v.([]any)
	if !ok || len(a) != 6 {
		return r, fmt.Errorf("%w: heartbeat %T", errReply, v)
	}
	var err error
	var added int64
	if r.now, err = intOf(a[0]); err != nil {
		return r, err
	}
	if r.epoch, ok = a[1].(string); !ok || r.epoch == "" {
		return r, fmt.Errorf("%w: heartbeat epoch", errReply)
	}
	if s, _ := a[2].(string); s != "" {
		if r.ver, err = intOf(s); err != nil {
			return r, err
		}
	}
	if r.card, err = intOf(a[3]); err != nil {
		return r, err
	}
	if added, err = intOf(a[4]); err != nil {
		return r, err
	}
	r.added = added == 1
	nodes, ok := a[5].([]any)
	if !ok || len(nodes)%2 != 0 {
		return r, fmt.Errorf("%w: heartbeat nodes", errReply)
	}
	r.nodes = make([]nodeScore, 0, len(nodes)/2)
	for i := 0; i < len(nodes); i += 2 {
		inc, ok := nodes[i].(string)
		if !ok {
			return r, fmt.Errorf("%w: heartbeat node", errReply)
		}
		score, err := intOf(nodes[i+1])
		if err != nil {
			return r, err
		}
		r.nodes = append(r.nodes, nodeScore{inc, score})
	}
	return r, nil
}

func parseRoutesReply(a []any) (status string, ver, card int64, err error) {
	if len(a) != 3 {
		return "", 0, 0, fmt.Errorf("%w: routes script", errReply)
	}
	status, _ = a[0].(string)
	if status != "ok" && status != "mismatch" {
		return "", 0, 0, fmt.Errorf("%w: routes script status %v", errReply, a[0])
	}
	if ver, err = intOf(a[1]); err != nil {
		return "", 0, 0, err
	}
	if card, err = intOf(a[2]); err != nil {
		return "", 0, 0, err
	}
	return status, ver, card, nil
}

// parseSnapshot returns a router's route version (0: none) and rows.
func parseSnapshot(v any) (int64, []string, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return 0, nil, fmt.Errorf("%w: snapshot %T", errReply, v)
	}
	var ver int64
	if s, _ := a[0].(string); s != "" {
		var err error
		if ver, err = intOf(s); err != nil {
			return 0, nil, err
		}
	}
	members, ok := a[1].([]any)
	if !ok {
		return 0, nil, fmt.Errorf("%w: snapshot members", errReply)
	}
	rows := make([]string, 0, len(members))
	for _, m := range members {
		s, ok := m.(string)
		if !ok {
			return 0, nil, fmt.Errorf("%w: snapshot member", errReply)
		}
		rows = append(rows, s)
	}
	return ver, rows, nil
}

// routeEntry is an entry of the route log.
type routeEntry struct {
	node string
	ver  int64 // 0 for "bye"
	op   string
	row  string // for "add" and "del"
}

func parseRouteEntry(values map[string]any) (routeEntry, error) {
	var e routeEntry
	e.node, _ = values["n"].(string)
	e.op, _ = values["op"].(string)
	if e.node == "" {
		return e, fmt.Errorf("%w: route entry without node", errReply)
	}
	switch e.op {
	case "bye":
		return e, nil
	case "add", "del":
		var ok bool
		if e.row, ok = values["r"].(string); !ok {
			return e, fmt.Errorf("%w: route entry without row", errReply)
		}
	case "reset":
	default:
		return e, fmt.Errorf("%w: route entry op %q", errReply, e.op)
	}
	var err error
	if e.ver, err = intOf(values["v"]); err != nil || e.ver <= 0 {
		return e, fmt.Errorf("%w: route entry version %v", errReply, values["v"])
	}
	return e, nil
}

// retainedEntry is an entry of the retained log.
type retainedEntry struct {
	n     int64
	topic string
	body  []byte // nil: cleared
}

func parseRetainedEntry(values map[string]any) (retainedEntry, error) {
	var e retainedEntry
	var err error
	if e.n, err = intOf(values["n"]); err != nil || e.n <= 0 {
		return e, fmt.Errorf("%w: retained entry number %v", errReply, values["n"])
	}
	if e.topic, _ = values["t"].(string); e.topic == "" {
		return e, fmt.Errorf("%w: retained entry without topic", errReply)
	}
	if b, ok := values["b"]; ok {
		s, ok := b.(string)
		if !ok {
			return e, fmt.Errorf("%w: retained entry body %T", errReply, b)
		}
		e.body = []byte(s)
	}
	return e, nil
}

// parseRetainedPosition reads scriptRetainedPosition's reply.
func parseRetainedPosition(v any) (id string, n int64, err error) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", 0, fmt.Errorf("%w: retained position %T", errReply, v)
	}
	if id, ok = a[0].(string); !ok || id == "" {
		return "", 0, fmt.Errorf("%w: retained position id", errReply)
	}
	if n, err = intOf(a[1]); err != nil {
		return "", 0, err
	}
	return id, n, nil
}

// intOf reads an integer reply or an integer in a string reply.
func intOf(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q is not an integer", errReply, x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: %T is not an integer", errReply, v)
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
