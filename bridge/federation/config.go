package federation

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"
)

// Config is everything a Link needs. Zero values take the defaults named on
// each field; New rejects what is impossible and names the field.
type Config struct {
	// Addrs is where Redis is: one address for a single Redis; seed nodes
	// for Redis Cluster (Cluster set); sentinel addresses with SentinelMaster.
	Addrs []string
	// Cluster selects Redis Cluster; it may be given a single seed address.
	Cluster bool
	// SentinelMaster is the master name Redis Sentinel is asked for.
	SentinelMaster string
	// Username and Password authenticate to Redis (ACL user, or only the
	// password for requirepass). With Sentinel they are the data nodes'
	// credentials.
	Username, Password string
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// themselves, if they require it.
	SentinelUsername, SentinelPassword string
	// DB selects a database on a single Redis or under Sentinel; Cluster has
	// only database 0.
	DB int
	// TLS, if not nil, is used for every connection to Redis.
	TLS *tls.Config

	// KeyPrefix starts every key the link uses; routers that should
	// federate share it. Default "junction".
	KeyPrefix string
	// NodeID is a human label for this router, e.g. its hostname (the
	// default). Each Link adds a random suffix to it: the incarnation, which
	// names this process in Redis and to the other routers.
	NodeID string

	// Heartbeat is how often the router tells Redis it lives. Default 1s.
	Heartbeat time.Duration
	// NodeTimeout is how long a router may stay silent before the others
	// consider it dead: they stop routing to it, discard what they queued
	// for it, and one of them removes its keys. Default 5s; at least twice
	// Heartbeat.
	NodeTimeout time.Duration

	// SpoolMessages bounds, per destination router, the messages waiting to
	// be written plus the reliable ones written but not yet acknowledged.
	// A Publish that would exceed it is not queued for that destination
	// (the new message is dropped, counted dropped{reason="spool_full"}).
	// Reliable messages stay about 100ms (the acknowledgement round trip),
	// so it must exceed a destination's reliable rate times that, plus what
	// an outage should absorb. Default 100000.
	SpoolMessages int
	// SpoolBytes bounds the bodies held by all destinations' spools and the
	// retained changes not yet written, together (a body queued for k
	// destinations counts k times, though it is held once). Default 128 MiB.
	SpoolBytes int64
	// InboxMaxLen is the approximate length (XADD MAXLEN ~) each router's
	// inbox stream is trimmed to. An entry is a frame of up to 64 KiB of
	// messages (or one larger message), so an inbox holds at most about
	// InboxMaxLen × 64 KiB when its reader stalls. A reader that falls
	// further behind loses the oldest frames: reliable messages in them are
	// sent again, unreliable ones are lost. Default 10000.
	InboxMaxLen int64
	// ResendAfter is how long a reliable message may stay unacknowledged
	// before it (and every later one to the same destination) is written
	// again. Acknowledgements take about 100ms (written and read every
	// 50ms) plus Redis latency, so a shorter ResendAfter resends every
	// message at least once. Default 3s.
	ResendAfter time.Duration

	// Logger receives the link's logs; nil is slog.Default().
	Logger *slog.Logger
	// Metrics receives what the link counts; nil counts nothing.
	Metrics Metrics
}

// Metrics receives what a Link counts. The router implements it (with
// Prometheus); NopMetrics discards everything. Its methods are called from
// the link's goroutines and from Publish, so they must be cheap and safe for
// concurrent use.
type Metrics interface {
	// Sent counts messages written to Redis for a destination (a message
	// published to k routers counts k; resends count again).
	Sent(n int)
	// Received counts messages handed to Handler.Deliver.
	Received(n int)
	// Duplicates counts reliable messages received again and dropped.
	Duplicates(n int)
	// Dropped counts messages given up, by reason:
	//   spool_full  the destination's spool (or SpoolBytes) was full: the new message is dropped
	//   link_down   an unreliable message published while Redis is unreachable
	//   send_failed unreliable messages in a write that failed
	//   dead_node   messages queued for a router that died or left
	//   lost        reliable messages the receiver skipped because their sender no longer had them
	//   gap         reliable messages the receiver dropped because an earlier one is missing (they are sent again)
	//   bad_entry   entries read from Redis that could not be decoded
	Dropped(reason string, n int)
	// Resent counts reliable messages written again after ResendAfter or a
	// failed write.
	Resent(n int)
	// LinkUp reports changes of Up.
	LinkUp(up bool)
	// RemoteNodes is the number of live remote routers.
	RemoteNodes(n int)
	// RemoteRoutes is the number of route rows of remote routers in the table.
	RemoteRoutes(n int)
	// SpoolDepth is the number of messages queued for all destinations
	// (unsent, and reliable unacknowledged) and the bytes of their bodies.
	SpoolDepth(messages int, bytes int64)
}

// NopMetrics counts nothing.
type NopMetrics struct{}

func (NopMetrics) Sent(int)              {}
func (NopMetrics) Received(int)          {}
func (NopMetrics) Duplicates(int)        {}
func (NopMetrics) Dropped(string, int)   {}
func (NopMetrics) Resent(int)            {}
func (NopMetrics) LinkUp(bool)           {}
func (NopMetrics) RemoteNodes(int)       {}
func (NopMetrics) RemoteRoutes(int)      {}
func (NopMetrics) SpoolDepth(int, int64) {}

// Reasons of Metrics.Dropped.
const (
	DropSpoolFull  = "spool_full"
	DropLinkDown   = "link_down"
	DropSendFailed = "send_failed"
	DropDeadNode   = "dead_node"
	DropLost       = "lost"
	DropGap        = "gap"
	DropBadEntry   = "bad_entry"
)

// Defaults of Config.
const (
	DefaultKeyPrefix     = "junction"
	DefaultHeartbeat     = time.Second
	DefaultNodeTimeout   = 5 * time.Second
	DefaultSpoolMessages = 100000
	DefaultSpoolBytes    = 128 << 20
	DefaultInboxMaxLen   = 10000
	DefaultResendAfter   = 3 * time.Second
)

// ErrConfig is wrapped by New's errors.
var ErrConfig = errors.New("invalid federation config")

// withDefaults returns cfg with its zero fields set, or an error naming
// every bad field.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch {
	case len(cfg.Addrs) == 0:
		bad("Addrs: at least one Redis address is required")
	case cfg.Cluster && cfg.SentinelMaster != "":
		bad("Cluster and SentinelMaster: choose one")
	case !cfg.Cluster && cfg.SentinelMaster == "" && len(cfg.Addrs) > 1:
		bad("Addrs: %d addresses for a single Redis (set Cluster or SentinelMaster)", len(cfg.Addrs))
	}
	for i, a := range cfg.Addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			bad("Addrs[%d]: %q is not host:port", i, a)
		}
	}
	if cfg.SentinelMaster == "" && (cfg.SentinelUsername != "" || cfg.SentinelPassword != "") {
		bad("SentinelUsername, SentinelPassword: only with SentinelMaster")
	}
	if cfg.DB < 0 {
		bad("DB: %d is negative", cfg.DB)
	}
	if cfg.Cluster && cfg.DB != 0 {
		bad("DB: Redis Cluster has only database 0")
	}

	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(cfg.KeyPrefix, "{} \t\r\n") {
		bad("KeyPrefix: %q holds braces or spaces (they would break Cluster hash tags)", cfg.KeyPrefix)
	}
	if cfg.NodeID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "node"
		}
		cfg.NodeID = sanitizeNodeID(h)
	}
	if err := checkNodeID(cfg.NodeID); err != nil {
		bad("NodeID: %w", err)
	}

	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.NodeTimeout == 0 {
		cfg.NodeTimeout = DefaultNodeTimeout
	}
	switch {
	case cfg.Heartbeat < time.Millisecond:
		bad("Heartbeat: %v is below 1ms", cfg.Heartbeat)
	case cfg.NodeTimeout < 2*cfg.Heartbeat:
		bad("NodeTimeout: %v is less than twice Heartbeat (%v)", cfg.NodeTimeout, cfg.Heartbeat)
	}

	if cfg.SpoolMessages == 0 {
		cfg.SpoolMessages = DefaultSpoolMessages
	}
	if cfg.SpoolMessages < 0 {
		bad("SpoolMessages: %d is negative", cfg.SpoolMessages)
	}
	if cfg.SpoolBytes == 0 {
		cfg.SpoolBytes = DefaultSpoolBytes
	}
	if cfg.SpoolBytes < 0 {
		bad("SpoolBytes: %d is negative", cfg.SpoolBytes)
	}
	if cfg.InboxMaxLen == 0 {
		cfg.InboxMaxLen = DefaultInboxMaxLen
	}
	if cfg.InboxMaxLen < 0 {
		bad("InboxMaxLen: %d is negative", cfg.InboxMaxLen)
	}
	if cfg.ResendAfter == 0 {
		cfg.ResendAfter = DefaultResendAfter
	}
	if cfg.ResendAfter < 0 {
		bad("ResendAfter: %v is negative", cfg.ResendAfter)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics{}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return cfg, nil
}

// checkNodeID accepts 1 to 64 letters, digits, '.', '_' and '-': a node ID
// becomes part of key names and hash tags.
func checkNodeID(id string) error {
	if len(id) > 64 {
		return fmt.Errorf("%q is longer than 64 bytes", id)
	}
	for i := 0; i < len(id); i++ {
		if !nodeIDByte(id[i]) {
			return fmt.Errorf("%q: only letters, digits, '.', '_' and '-' are allowed", id)
		}
	}
	return nil
}

func nodeIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// sanitizeNodeID turns a hostname into a valid node ID.
func sanitizeNodeID(h string) string {
	b := []byte(h)
	for i, c := range b {
		if !nodeIDByte(c) {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}
