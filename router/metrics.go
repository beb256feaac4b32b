package router

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/mqtt"
)

// metrics are the router's Prometheus metrics, on a registry of its own so
// that several routers can live in one process.
type metrics struct {
	reg *prometheus.Registry

	connections      *prometheus.GaugeVec   // protocol, transport
	connectionsTotal *prometheus.CounterVec // protocol, transport
	evictions        *prometheus.CounterVec // protocol, reason
	rejected         *prometheus.CounterVec // protocol, reason
	refusals         *prometheus.CounterVec // reason
	authFailures     *prometheus.CounterVec // protocol, method
	denied           *prometheus.CounterVec // protocol, action
	bridged          *prometheus.CounterVec // direction
	unbridged        *prometheus.CounterVec // reason
	rpc              *prometheus.CounterVec // kind, outcome
	rateRefusals     *prometheus.CounterVec // listener, reason
	deflate          *prometheus.CounterVec // protocol
	disconnects      *prometheus.CounterVec // protocol, reason
	lifetime         *prometheus.HistogramVec

	// The series every connection counts in, looked up once per label values.
	connSeries     seriesCache[connSeries]          // protocol, transport
	endSeries      seriesCache[prometheus.Counter]  // protocol, reason
	lifetimeSeries seriesCache[prometheus.Observer] // protocol

	fedUp, fedNodes, fedRoutes, fedSpool, fedSpoolBytes prometheus.Gauge
	fedSent, fedReceived, fedDuplicates, fedResent      prometheus.Counter
	fedDropped                                          *prometheus.CounterVec // reason
	fedCalls                                            *prometheus.CounterVec // direction, outcome
	// Resolved once: the hub counts every message it carries.
	mqttToWAMP, wampToMQTT prometheus.Counter

	// WAMP traffic, counted by the WAMP peers; MQTT traffic is read from
	// mochi's own counters at scrape time, so it costs the hot path nothing.
	wampIn, wampOut, wampBytesIn, wampBytesOut, wampDropped atomic.Int64
	mqttInfo                                                func() *mqttCounters
}

// mqttCounters is what the traffic collector reads from the MQTT side.
type mqttCounters struct {
	received, sent, bytesIn, bytesOut, dropped, retained, subscriptions, inflight int64
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "junction_connections",
			Help: "Open client connections.",
		}, []string{"protocol", "transport"}),
		connectionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "junction_connections_total",
			Help: "Client connections accepted.",
		}, []string{"protocol", "transport"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "junction_slow_consumer_evictions_total",
			Help: "Clients cut off because they did not read what they were sent.",
		}, []string{"protocol", "reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "junction_rejected_input_total",
			Help: "Malformed, invalid or oversized input refused.",
		}, []string{"protocol", "reason"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "junction_handshake_refusals_total",
			Help: "Connections refused before a session began.",
		}, []string{"reason"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "junction_auth_failures_total",
			Help: "Logins refused: bad credentials, anonymous access off, throttled.",
		}, []string{"protocol", "method"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "junction_authz_denied_total",
			Help: "Actions refused by permissions.",
		}, []string{"protocol", "action"}),
	}
	m.bridged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "junction_bridged_messages_total",
		Help: "Publications the bridge carried to the other protocol.",
	}, []string{"direction"})
	m.unbridged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "junction_bridge_failures_total",
		Help: "Publications that could not cross: the payload did not fit the rule's mode, or the other engine refused it.",
	}, []string{"reason"})
	m.rpc = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "junction_mqtt_rpc_total",
		Help: "Calls made by MQTT clients (kind call) and invocations of MQTT callees (kind invocation), by outcome: ok, error, timeout, canceled, too_many.",
	}, []string{"kind", "outcome"})
	m.rateRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "junction_connections_refused_total",
		Help: "Connections refused by an accept rate limit (http.accept_rate, mqtt.accept_rate), by listener and reason: rate (the listener's bucket; the TCP connection is closed) or source_rate (the client address's bucket; HTTP 503, CONNACK server busy, RawSocket error 4).",
	}, []string{"listener", "reason"})
	m.deflate = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "junction_websocket_deflate_total",
		Help: "WebSocket connections that negotiated permessage-deflate (http.compression).",
	}, []string{"protocol"})
	m.disconnects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "junction_disconnects_total",
		Help: "Client connections ended, by protocol and reason: " + strings.Join(DisconnectReasons, ", ") + ".",
	}, []string{"protocol", "reason"})
	m.lifetime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "junction_connection_duration_seconds",
		Help:    "How long client connections lasted, from accept to close.",
		Buckets: []float64{0.01, 0.1, 1, 10, 60, 600, 3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600},
	}, []string{"protocol"})
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m.fedUp = gauge("junction_federation_up", "1 while the federation link to Redis works (its heartbeat succeeds and its route table is loaded), else 0; absent without federation.")
	m.fedNodes = gauge("junction_federation_remote_routers", "Live routers this one federates with.")
	m.fedRoutes = gauge("junction_federation_remote_routes", "Routes (MQTT filters, WAMP patterns) of the other routers.")
	m.fedSpool = gauge("junction_federation_spool_messages", "Messages queued for other routers: unsent, or reliable and not yet acknowledged.")
	m.fedSpoolBytes = gauge("junction_federation_spool_bytes", "Bytes of the messages queued for other routers.")
	m.fedSent = counter("junction_federation_sent_total", "Messages written to other routers' inboxes (one per destination; resends count again).")
	m.fedReceived = counter("junction_federation_received_total", "Messages from other routers delivered here.")
	m.fedDuplicates = counter("junction_federation_duplicates_total", "Reliable messages from other routers received again and dropped.")
	m.fedResent = counter("junction_federation_resent_total", "Reliable messages written again, unacknowledged after federation.resend_after or after a failed write.")
	m.fedDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "junction_federation_dropped_total",
		Help: "Messages to or from other routers given up, by reason: spool_full, link_down, send_failed, dead_node, lost, gap (sent again), bad_entry.",
	}, []string{"reason"})
	m.fedCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "junction_federation_calls_total",
		Help: "Calls forwarded to callees on other routers (direction forwarded) and served here for callers on other routers (served), by outcome: ok, error, canceled, gone (the callee's router died or left), unreachable, too_many (federation.max_calls).",
	}, []string{"direction", "outcome"})
	m.mqttToWAMP = m.bridged.WithLabelValues(bridge.MQTTToWAMP)
	m.wampToMQTT = m.bridged.WithLabelValues(bridge.WAMPToMQTT)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.connections, m.connectionsTotal, m.evictions, m.rejected, m.refusals, m.authFailures, m.denied,
		m.bridged, m.unbridged, m.rpc, m.rateRefusals, m.deflate, m.disconnects, m.lifetime,
		trafficCollector{m},
	)
	return m
}

// registerFederation adds the federation metrics; only routers that
// federate report them.
func (m *metrics) registerFederation() {
	m.reg.MustRegister(m.fedUp, m.fedNodes, m.fedRoutes, m.fedSpool, m.fedSpoolBytes,
		m.fedSent, m.fedReceived, m.fedDuplicates, m.fedResent, m.fedDropped, m.fedCalls)
}

// fedMetrics is the federation link's view of the metrics.
type fedMetrics struct{ m *metrics }

func (f fedMetrics) Sent(n int)       { f.m.fedSent.Add(float64(n)) }
func (f fedMetrics) Received(n int)   { f.m.fedReceived.Add(float64(n)) }
func (f fedMetrics) Duplicates(n int) { f.m.fedDuplicates.Add(float64(n)) }
func (f fedMetrics) Dropped(reason string, n int) {
	f.m.fedDropped.WithLabelValues(reason).Add(float64(n))
}
func (f fedMetrics) Resent(n int) { f.m.fedResent.Add(float64(n)) }
func (f fedMetrics) LinkUp(up bool) {
	if up {
		f.m.fedUp.Set(1)
	} else {
		f.m.fedUp.Set(0)
	}
}
func (f fedMetrics) RemoteNodes(n int)  { f.m.fedNodes.Set(float64(n)) }
func (f fedMetrics) RemoteRoutes(n int) { f.m.fedRoutes.Set(float64(n)) }
func (f fedMetrics) SpoolDepth(messages int, bytes int64) {
	f.m.fedSpool.Set(float64(messages))
	f.m.fedSpoolBytes.Set(float64(bytes))
}

func (m *metrics) refused(reason string) { m.refusals.WithLabelValues(reason).Inc() }

var (
	descReceived = prometheus.NewDesc("junction_messages_received_total",
		"Protocol messages received from clients.", []string{"protocol"}, nil)
	descSent = prometheus.NewDesc("junction_messages_sent_total",
		"Protocol messages sent to clients.", []string{"protocol"}, nil)
	descBytesIn = prometheus.NewDesc("junction_received_bytes_total",
		"Bytes received from clients.", []string{"protocol"}, nil)
	descBytesOut = prometheus.NewDesc("junction_sent_bytes_total",
		"Bytes sent to clients.", []string{"protocol"}, nil)
	descDropped = prometheus.NewDesc("junction_messages_dropped_total",
		"Messages not delivered because a client's queue was full (or, MQTT, it had the most QoS 1/2 messages unacknowledged that it may have).", []string{"protocol"}, nil)
	descRetained = prometheus.NewDesc("junction_mqtt_retained_messages",
		"Retained MQTT messages held.", nil, nil)
	descSubs = prometheus.NewDesc("junction_mqtt_subscriptions",
		"MQTT subscriptions.", nil, nil)
	descInflight = prometheus.NewDesc("junction_mqtt_inflight_messages",
		"QoS 1 and 2 messages awaiting acknowledgement.", nil, nil)
)

// trafficCollector reports message and byte counts of both protocols.
type trafficCollector struct{ m *metrics }

func (c trafficCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReceived, descSent, descBytesIn, descBytesOut, descDropped, descRetained, descSubs, descInflight} {
		ch <- d
	}
}

func (c trafficCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, proto string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), proto)
	}
	m := c.m
	counter(descReceived, m.wampIn.Load(), "wamp")
	counter(descSent, m.wampOut.Load(), "wamp")
	counter(descBytesIn, m.wampBytesIn.Load(), "wamp")
	counter(descBytesOut, m.wampBytesOut.Load(), "wamp")
	counter(descDropped, m.wampDropped.Load(), "wamp")
	if m.mqttInfo == nil {
		return
	}
	q := m.mqttInfo()
	counter(descReceived, q.received, "mqtt")
	counter(descSent, q.sent, "mqtt")
	counter(descBytesIn, q.bytesIn, "mqtt")
	counter(descBytesOut, q.bytesOut, "mqtt")
	counter(descDropped, q.dropped, "mqtt")
	ch <- prometheus.MustNewConstMetric(descRetained, prometheus.GaugeValue, float64(q.retained))
	ch <- prometheus.MustNewConstMetric(descSubs, prometheus.GaugeValue, float64(q.subscriptions))
	ch <- prometheus.MustNewConstMetric(descInflight, prometheus.GaugeValue, float64(q.inflight))
}

// DisconnectReasons are the reason labels of junction_disconnects_total,
// the same for both protocols (mqtt.Reason*, wamp's end reasons).
var DisconnectReasons = []string{
	"client_disconnect", "connection_lost", "keepalive_timeout", "connect_timeout", "auth_failed",
	"not_authorized", "takeover", "slow_consumer", "too_large", "protocol_error", "server_shutdown",
	"server_busy", "token_expired", "error",
}

// ended counts a connection's end.
func (m *metrics) ended(protocol, reason string, d time.Duration) {
	m.endSeries.get(protocol, reason, func() prometheus.Counter {
		return m.disconnects.WithLabelValues(protocol, reason)
	}).Inc()
	m.lifetimeSeries.get(protocol, "", func() prometheus.Observer {
		return m.lifetime.WithLabelValues(protocol)
	}).Observe(d.Seconds())
}

// connSeries are a protocol and transport's connection metrics.
type connSeries struct {
	total prometheus.Counter
	open  prometheus.Gauge
	dec   func() // open.Dec, made once
}

// connected counts a connection and returns what counts its end.
func (m *metrics) connected(protocol, transport string) func() {
	s := m.connSeries.get(protocol, transport, func() connSeries {
		g := m.connections.WithLabelValues(protocol, transport)
		return connSeries{total: m.connectionsTotal.WithLabelValues(protocol, transport), open: g, dec: g.Dec}
	})
	s.total.Inc()
	s.open.Inc()
	return s.dec
}

// seriesCache keeps the series of a metric vector by their label values
// (one or two) once looked up, so that what every connection counts costs a
// map lookup, not the vector's validation and hashing of its labels, nor an
// allocation. A series still appears on its first use, as with
// WithLabelValues. The label values come from small fixed sets.
type seriesCache[T any] struct {
	m  atomic.Pointer[map[[2]string]T] // copied on write
	mu sync.Mutex                      // writers
}

// get returns the series for labels a and b, made by lookup the first time.
func (c *seriesCache[T]) get(a, b string, lookup func() T) T {
	key := [2]string{a, b}
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[key]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[key]; ok {
			return v
		}
	}
	v := lookup()
	m := make(map[[2]string]T, 1)
	if old != nil {
		maps.Copy(m, *old)
	}
	m[key] = v
	c.m.Store(&m)
	return v
}

// bridgeMetrics is the hub's view of the metrics.
type bridgeMetrics struct{ m *metrics }

func (b bridgeMetrics) Bridged(direction string) {
	if direction == bridge.MQTTToWAMP {
		b.m.mqttToWAMP.Inc()
	} else {
		b.m.wampToMQTT.Inc()
	}
}
func (b bridgeMetrics) Unmapped(reason string)   { b.m.unbridged.WithLabelValues(reason).Inc() }
func (b bridgeMetrics) RPC(kind, outcome string) { b.m.rpc.WithLabelValues(kind, outcome).Inc() }

// ClusterRPC implements bridge.ClusterRPCMetrics.
func (b bridgeMetrics) ClusterRPC(direction, outcome string) {
	b.m.fedCalls.WithLabelValues(direction, outcome).Inc()
}

// wampMetrics is the WAMP side's view of the metrics.
type wampMetrics struct{ m *metrics }

func (w wampMetrics) Connected(transport string) func() { return w.m.connected("wamp", transport) }
func (w wampMetrics) Received(n int)                    { w.m.wampIn.Add(1); w.m.wampBytesIn.Add(int64(n)) }
func (w wampMetrics) Sent(n int)                        { w.m.wampOut.Add(1); w.m.wampBytesOut.Add(int64(n)) }
func (w wampMetrics) Dropped()                          { w.m.wampDropped.Add(1) }
func (w wampMetrics) Evicted() {
	w.m.evictions.WithLabelValues("wamp", "queue_full_or_write_timeout").Inc()
}
func (w wampMetrics) Rejected(reason string) { w.m.rejected.WithLabelValues("wamp", reason).Inc() }
func (w wampMetrics) AuthFailed(method string) {
	w.m.authFailures.WithLabelValues("wamp", method).Inc()
}
func (w wampMetrics) Denied(action string)                 { w.m.denied.WithLabelValues("wamp", action).Inc() }
func (w wampMetrics) Ended(reason string, d time.Duration) { w.m.ended("wamp", reason, d) }

// mqttMetrics is the MQTT side's view of the metrics.
type mqttMetrics struct{ m *metrics }

func (q mqttMetrics) Connected(transport string) func() { return q.m.connected("mqtt", transport) }
func (q mqttMetrics) Evicted(reason string)             { q.m.evictions.WithLabelValues("mqtt", reason).Inc() }
func (q mqttMetrics) Rejected(reason string)            { q.m.rejected.WithLabelValues("mqtt", reason).Inc() }
func (q mqttMetrics) AuthFailed(method string) {
	q.m.authFailures.WithLabelValues("mqtt", method).Inc()
}
func (q mqttMetrics) Denied(action string)                 { q.m.denied.WithLabelValues("mqtt", action).Inc() }
func (q mqttMetrics) Ended(reason string, d time.Duration) { q.m.ended("mqtt", reason, d) }

var _ mqtt.Metrics = mqttMetrics{}
