package router

import (
	"crypto/tls"
	_ "embed"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/federation"
	"github.com/junctionmq/junction/bridge/topic"
)

// DefaultYAML is the documented default configuration.
//
//go:embed default.yaml
var DefaultYAML []byte

// Config is the whole router configuration. Its YAML form is DefaultYAML.
type Config struct {
	Log      LogConfig      `yaml:"log"`
	HTTP     HTTPConfig     `yaml:"http"`
	MQTT     MQTTConfig     `yaml:"mqtt"`
	WAMP     WAMPConfig     `yaml:"wamp"`
	Bridge   BridgeConfig   `yaml:"bridge"`
	RPC      RPCConfig      `yaml:"rpc"`
	Fed      FedConfig      `yaml:"federation"`
	Realms   []RealmConfig  `yaml:"realms"`
	Auth     AuthConfig     `yaml:"auth"`
	Limits   LimitsConfig   `yaml:"limits"`
	Shutdown ShutdownConfig `yaml:"shutdown"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// HTTPConfig is the universal listener.
type HTTPConfig struct {
	Listen         string    `yaml:"listen"`
	WSPath         string    `yaml:"ws_path"`
	Universal      bool      `yaml:"universal"`
	AllowedOrigins []string  `yaml:"allowed_origins"`
	TLS            TLSConfig `yaml:"tls"`
	Static         string    `yaml:"static"` // a directory served at /; "": off
	// Behind a load balancer (see proxyConfig). On this listener trusted
	// proxies may also name the client in X-Forwarded-For or Forwarded.
	ProxyProtocol  bool              `yaml:"proxy_protocol"`
	TrustedProxies []string          `yaml:"trusted_proxies"` // IP addresses or CIDRs
	Compression    CompressionConfig `yaml:"compression"`
	AcceptRate     AcceptRateConfig  `yaml:"accept_rate"`
}

// proxyConfig says which peers of a listener are proxies whose word on the
// client's address is taken: a PROXY protocol (v1 or v2) header when
// proxy_protocol is on, and on the HTTP listener X-Forwarded-For and
// Forwarded. Everyone else is the client itself.
type proxyConfig struct {
	ProxyProtocol  bool
	TrustedProxies []string
}

func (h HTTPConfig) proxy() proxyConfig { return proxyConfig{h.ProxyProtocol, h.TrustedProxies} }
func (m MQTTConfig) proxy() proxyConfig { return proxyConfig{m.ProxyProtocol, m.TrustedProxies} }

// CompressionConfig is permessage-deflate on WebSocket connections.
type CompressionConfig struct {
	Enabled bool `yaml:"enabled"`
	Level   int  `yaml:"level"`    // 1 (fastest) to 9 (smallest)
	MinSize int  `yaml:"min_size"` // messages shorter than this are sent uncompressed
}

// AcceptRateConfig limits how fast a listener accepts connections: a token
// bucket for the listener as a whole and one per source address. A rate of
// 0 turns that bucket off.
type AcceptRateConfig struct {
	Rate           float64 `yaml:"rate"`  // connections per second, all sources together
	Burst          int     `yaml:"burst"` // connections at once beyond the rate
	PerSource      float64 `yaml:"per_source"`
	PerSourceBurst int     `yaml:"per_source_burst"`
}

// MQTTConfig is the MQTT-over-TCP listener and MQTT session limits.
type MQTTConfig struct {
	Listen           string           `yaml:"listen"`
	TLS              TLSConfig        `yaml:"tls"`
	MaxSessionExpiry Duration         `yaml:"max_session_expiry"`
	MaxMessageExpiry Duration         `yaml:"max_message_expiry"`
	MaxTopicAlias    int              `yaml:"max_topic_alias"`
	DefaultRealm     string           `yaml:"default_realm"`
	MaxKeepAlive     Duration         `yaml:"max_keep_alive"`
	ProxyProtocol    bool             `yaml:"proxy_protocol"`
	TrustedProxies   []string         `yaml:"trusted_proxies"`
	AcceptRate       AcceptRateConfig `yaml:"accept_rate"`
}

// WAMPConfig holds WAMP transport settings.
type WAMPConfig struct {
	PingInterval Duration `yaml:"ping_interval"`
}

// BridgeConfig carries publications between MQTT and the MQTT realm.
type BridgeConfig struct {
	Enabled bool               `yaml:"enabled"`
	QoS     int                `yaml:"qos"`
	Rules   []BridgeRuleConfig `yaml:"rules"`
}

// RPCConfig lets MQTT clients call and register WAMP procedures.
type RPCConfig struct {
	Enabled         bool     `yaml:"enabled"`
	CallTimeout     Duration `yaml:"call_timeout"`
	Invoke          string   `yaml:"invoke"`
	MaxPendingCalls int      `yaml:"max_pending_calls"`
}

// FedConfig links this router to others through Redis (see
// bridge/federation); off while Redis is "".
type FedConfig struct {
	Redis          string   `yaml:"redis"`
	Cluster        bool     `yaml:"cluster"`
	Addresses      []string `yaml:"addresses"`
	SentinelMaster string   `yaml:"sentinel_master"`
	KeyPrefix      string   `yaml:"key_prefix"`
	NodeID         string   `yaml:"node_id"`
	Heartbeat      Duration `yaml:"heartbeat"`
	NodeTimeout    Duration `yaml:"node_timeout"`
	SpoolMessages  int      `yaml:"spool_messages"`
	SpoolBytes     int64    `yaml:"spool_bytes"`
	InboxMaxLen    int64    `yaml:"inbox_max_len"`
	ResendAfter    Duration `yaml:"resend_after"`
	MaxCalls       int      `yaml:"max_calls"`
}

// Enabled reports whether federation is on.
func (f FedConfig) Enabled() bool { return f.Redis != "" }

// linkConfig returns the federation package's configuration: the Redis URL
// (redis:// or rediss://, user and password, one host, /db) and the keys
// beside it.
func (f FedConfig) linkConfig() (federation.Config, error) {
	u, err := url.Parse(f.Redis)
	if err != nil {
		return federation.Config{}, fmt.Errorf("want redis://[user:password@]host:port[/db], got %q", f.Redis)
	}
	c := federation.Config{
		Cluster: f.Cluster, SentinelMaster: f.SentinelMaster, KeyPrefix: f.KeyPrefix, NodeID: f.NodeID,
		Heartbeat: f.Heartbeat.D(), NodeTimeout: f.NodeTimeout.D(), SpoolMessages: f.SpoolMessages,
		SpoolBytes: f.SpoolBytes, InboxMaxLen: f.InboxMaxLen, ResendAfter: f.ResendAfter.D(),
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		c.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	default:
		return federation.Config{}, fmt.Errorf("want a redis:// or rediss:// URL, got %q", f.Redis)
	}
	if u.Host == "" || u.Port() == "" {
		return federation.Config{}, fmt.Errorf("want host:port in %q", f.Redis)
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.Password == "" && c.Username != "" && !strings.Contains(u.User.String(), ":") {
			c.Username, c.Password = "", c.Username // redis://secret@host: a password alone
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if c.DB, err = strconv.Atoi(db); err != nil || c.DB < 0 {
			return federation.Config{}, fmt.Errorf("database %q in %q is not a number", db, f.Redis)
		}
	}
	c.Addrs = append([]string{u.Host}, f.Addresses...)
	return c, nil
}

// nopFedHandler lets Validate check a federation configuration.
type nopFedHandler struct{}

func (nopFedHandler) Deliver([]byte)          {}
func (nopFedHandler) Retained(string, []byte) {}

// BridgeRuleConfig maps one subtree (see bridge.Rule).
type BridgeRuleConfig struct {
	MQTT    string `yaml:"mqtt"`
	WAMP    string `yaml:"wamp"`
	Payload string `yaml:"payload"`
	Off     bool   `yaml:"off"`
}

// bridgeRules returns the rules in the bridge package's terms.
func (b BridgeConfig) bridgeRules() []bridge.Rule {
	var rules []bridge.Rule
	for _, r := range b.Rules {
		rules = append(rules, bridge.Rule{MQTT: r.MQTT, WAMP: r.WAMP, Payload: bridge.Mode(r.Payload), Off: r.Off})
	}
	return rules
}

// TLSConfig names a certificate and key; both empty means plain TCP.
// ClientCAFile turns on client certificates, verified against that CA.
type TLSConfig struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
	ClientCerts  string `yaml:"client_certs"` // optional (also "") or required
	CertAuthID   string `yaml:"cert_authid"`  // cn (also "") or san
}

// Enabled reports whether TLS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// RealmConfig is one realm, shared by WAMP and MQTT.
type RealmConfig struct {
	Name          string       `yaml:"name"`
	Anonymous     bool         `yaml:"anonymous"`
	AnonymousRole string       `yaml:"anonymous_role"`
	Roles         []RoleConfig `yaml:"roles"`
}

// RoleConfig is a named set of permissions.
type RoleConfig struct {
	Name        string             `yaml:"name"`
	Permissions []PermissionConfig `yaml:"permissions"`
}

// PermissionConfig allows or denies actions on URIs matching uri; a deny
// wins over every allow of the role.
type PermissionConfig struct {
	URI      string   `yaml:"uri"`
	Match    string   `yaml:"match"`
	Allow    []string `yaml:"allow"`
	Deny     []string `yaml:"deny"`
	Disclose bool     `yaml:"disclose"`
}

// AuthConfig holds identities and how they are checked.
type AuthConfig struct {
	Users    []UserConfig   `yaml:"users"`
	JWT      JWTConfig      `yaml:"jwt"`
	Throttle ThrottleConfig `yaml:"throttle"`
}

// UserConfig is one configured identity.
type UserConfig struct {
	AuthID         string     `yaml:"authid"`
	Realm          string     `yaml:"realm"`
	Role           string     `yaml:"role"`
	Password       string     `yaml:"password"`
	CRA            *CRAConfig `yaml:"cra"`
	CryptosignKeys []string   `yaml:"cryptosign_keys"`
}

// CRAConfig is a salted WAMP-CRA key (`junction passwd --cra`).
type CRAConfig struct {
	Key        string `yaml:"key"`
	Salt       string `yaml:"salt"`
	Iterations int    `yaml:"iterations"`
	KeyLen     int    `yaml:"keylen"`
}

// JWTConfig accepts JSON Web Tokens; on when any key is configured.
type JWTConfig struct {
	KeyFiles        []string `yaml:"key_files"`
	HMACSecretFiles []string `yaml:"hmac_secret_files"`
	JWKSFile        string   `yaml:"jwks_file"`
	Issuer          string   `yaml:"issuer"`
	Audience        string   `yaml:"audience"`
	Leeway          Duration `yaml:"leeway"`
	AuthIDClaim     string   `yaml:"authid_claim"`
	RoleClaim       string   `yaml:"role_claim"`
	RealmClaim      string   `yaml:"realm_claim"`
	Cookie          string   `yaml:"cookie"`
}

// Enabled reports whether any key is configured.
func (j JWTConfig) Enabled() bool {
	return len(j.KeyFiles) > 0 || len(j.HMACSecretFiles) > 0 || j.JWKSFile != ""
}

// ThrottleConfig limits failed logins per remote address.
type ThrottleConfig struct {
	MaxFailures int      `yaml:"max_failures"`
	Window      Duration `yaml:"window"`
	Block       Duration `yaml:"block"`
}

// LimitsConfig bounds what any one client can cost.
type LimitsConfig struct {
	MaxMessageSize  int      `yaml:"max_message_size"`
	MaxConnections  int      `yaml:"max_connections"`
	ConnectTimeout  Duration `yaml:"connect_timeout"`
	WriteTimeout    Duration `yaml:"write_timeout"`
	WAMPQueue       int      `yaml:"wamp_queue"`
	MQTTQueue       int      `yaml:"mqtt_queue"`
	MQTTWriteBuffer int      `yaml:"mqtt_write_buffer"`
	MQTTInflight    int      `yaml:"mqtt_inflight"`
}

// ShutdownConfig controls the drain on SIGTERM.
type ShutdownConfig struct {
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// Duration is a time.Duration written as "10s", "1m30s".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts Go duration strings only: a bare number is ambiguous.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" && n.Tag != "!!int" {
		return fmt.Errorf("want a duration such as \"10s\", got %s", describe(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("want a duration such as \"10s\": %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// DefaultConfig returns the embedded default configuration.
func DefaultConfig() Config {
	var c Config
	if err := decodeStrict(DefaultYAML, &c); err != nil {
		// The default is compiled in and covered by tests.
		panic("embedded default config: " + err.Error())
	}
	return c
}

// Validate is the one check of a configuration: everything that New (and
// so `junction serve`) would refuse because of the configuration is found
// here, before anything is built, and `junction config check` runs it too.
// It reports every problem, by key, in a *ConfigError (which wraps
// ErrConfig); LoadConfig adds the file and line of each.
func (c *Config) Validate() error {
	var ps problems
	bad := ps.add
	if _, err := parseLevel(c.Log.Level); err != nil {
		bad("log.level", "%v", err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "want text or json, got %q", c.Log.Format)
	}
	if err := checkAddr(c.HTTP.Listen); err != nil || c.HTTP.Listen == "" {
		bad("http.listen", "want host:port, got %q", c.HTTP.Listen)
	}
	if !strings.HasPrefix(c.HTTP.WSPath, "/") {
		bad("http.ws_path", "must start with /, got %q", c.HTTP.WSPath)
	} else if p := checkWSPath(c.HTTP.WSPath, c.HTTP.Static != ""); p != "" {
		bad("http.ws_path", "%s", p)
	}
	for i, o := range c.HTTP.AllowedOrigins {
		if o == "" || strings.Count(o, "*") > 1 {
			bad(fmt.Sprintf("http.allowed_origins[%d]", i), "want an origin with at most one *, got %q", o)
		}
	}
	checkTLS := func(path string, t TLSConfig) {
		if t.Enabled() && (t.CertFile == "" || t.KeyFile == "") {
			bad(path, "cert_file and key_file go together")
		}
		if t.ClientCAFile != "" && !t.Enabled() {
			bad(path+".client_ca_file", "needs cert_file and key_file")
		}
		if t.ClientCerts != "" && t.ClientCerts != "optional" && t.ClientCerts != "required" {
			bad(path+".client_certs", "want optional or required, got %q", t.ClientCerts)
		}
		if t.CertAuthID != "" && t.CertAuthID != "cn" && t.CertAuthID != "san" {
			bad(path+".cert_authid", "want cn or san, got %q", t.CertAuthID)
		}
		checkTLSFiles(&ps, path, t) // as the listener loads them
	}
	checkTLS("http.tls", c.HTTP.TLS)
	if d := c.HTTP.Static; d != "" {
		if st, err := os.Stat(d); err != nil {
			bad("http.static", "%v", err)
		} else if !st.IsDir() {
			bad("http.static", "%q is not a directory", d)
		}
	}
	if c.MQTT.Listen != "" {
		if err := checkAddr(c.MQTT.Listen); err != nil {
			bad("mqtt.listen", "want host:port or \"\", got %q", c.MQTT.Listen)
		}
	}
	checkTLS("mqtt.tls", c.MQTT.TLS)
	if sameListener(c.HTTP.Listen, c.MQTT.Listen) {
		bad("mqtt.listen", "%q is http.listen's port too: the two listeners cannot share it", c.MQTT.Listen)
	}
	if c.MQTT.MaxSessionExpiry < 0 {
		bad("mqtt.max_session_expiry", "cannot be negative")
	}
	if c.MQTT.MaxMessageExpiry < 0 {
		bad("mqtt.max_message_expiry", "cannot be negative")
	}
	if c.MQTT.MaxTopicAlias < 0 || c.MQTT.MaxTopicAlias > 65535 {
		bad("mqtt.max_topic_alias", "want 0..65535, got %d", c.MQTT.MaxTopicAlias)
	}
	if k := c.MQTT.MaxKeepAlive; k < 0 || k > Duration(65535*time.Second) || k.D()%time.Second != 0 {
		bad("mqtt.max_keep_alive", "want whole seconds within 0s..65535s (18h12m15s), got %s", k.D())
	}
	checkProxy := func(path string, p proxyConfig) {
		if _, err := parseTrusted(p.TrustedProxies); err != nil {
			bad(path+".trusted_proxies", "%v", err)
		}
		if p.ProxyProtocol && len(p.TrustedProxies) == 0 {
			bad(path+".proxy_protocol", "needs trusted_proxies: the addresses of the proxies that may send a PROXY header (0.0.0.0/0 and ::/0 trust every peer)")
		}
	}
	checkProxy("http", c.HTTP.proxy())
	checkProxy("mqtt", c.MQTT.proxy())
	if z := c.HTTP.Compression; z.Enabled && (z.Level < 1 || z.Level > 9) {
		bad("http.compression.level", "want 1..9, got %d", z.Level)
	}
	if c.HTTP.Compression.MinSize < 0 {
		bad("http.compression.min_size", "cannot be negative")
	}
	checkRate := func(path string, a AcceptRateConfig) {
		if a.Rate < 0 || a.PerSource < 0 || a.Burst < 0 || a.PerSourceBurst < 0 {
			bad(path, "values cannot be negative")
		}
		if a.Rate > 0 && a.Burst < 1 || a.PerSource > 0 && a.PerSourceBurst < 1 {
			bad(path, "a burst of at least 1 goes with each rate")
		}
	}
	checkRate("http.accept_rate", c.HTTP.AcceptRate)
	checkRate("mqtt.accept_rate", c.MQTT.AcceptRate)
	if c.WAMP.PingInterval < 0 {
		bad("wamp.ping_interval", "cannot be negative")
	}
	if len(c.Realms) == 0 {
		bad("realms", "at least one realm is required")
	}
	seen := map[string]bool{}
	for i, r := range c.Realms {
		if !validRealm(r.Name) {
			bad(fmt.Sprintf("realms[%d].name", i), "want a URI such as realm1 or com.example.app, got %q", r.Name)
		}
		if seen[r.Name] {
			bad(fmt.Sprintf("realms[%d].name", i), "realm %q defined twice", r.Name)
		}
		if r.Anonymous && r.AnonymousRole == "" {
			// Without a role, anonymous clients would be refused: not what
			// anonymous: true says.
			bad(fmt.Sprintf("realms[%d].anonymous", i), "true needs anonymous_role, the role anonymous clients get")
		}
		seen[r.Name] = true
	}
	if c.MQTT.DefaultRealm != "" && !seen[c.MQTT.DefaultRealm] {
		bad("mqtt.default_realm", "realm %q is not defined", c.MQTT.DefaultRealm)
	}
	if t := c.Auth.Throttle; t.MaxFailures == 0 { // else checked with the users below
		if t.Window < 0 {
			bad("auth.throttle.window", "cannot be negative")
		}
		if t.Block < 0 {
			bad("auth.throttle.block", "cannot be negative")
		}
	}
	l := c.Limits
	positive := func(path string, v int) {
		if v <= 0 {
			bad(path, "must be positive, got %d", v)
		}
	}
	positive("limits.max_message_size", l.MaxMessageSize)
	if l.MaxMessageSize > 256<<20 {
		bad("limits.max_message_size", "at most 268435456 (256 MiB), got %d", l.MaxMessageSize)
	}
	positive("limits.max_connections", l.MaxConnections)
	positive("limits.wamp_queue", l.WAMPQueue)
	positive("limits.mqtt_queue", l.MQTTQueue)
	if l.MQTTQueue > math.MaxInt32 {
		bad("limits.mqtt_queue", "at most %d, got %d", math.MaxInt32, l.MQTTQueue)
	}
	if l.MQTTInflight < 1 || l.MQTTInflight > math.MaxUint16 {
		bad("limits.mqtt_inflight", "between 1 and %d (MQTT packet ids), got %d", math.MaxUint16, l.MQTTInflight)
	}
	if l.MQTTWriteBuffer < l.MaxMessageSize {
		bad("limits.mqtt_write_buffer", "must hold one message of limits.max_message_size (%d), got %d", l.MaxMessageSize, l.MQTTWriteBuffer)
	}
	if l.ConnectTimeout <= 0 {
		bad("limits.connect_timeout", "must be positive")
	}
	if l.WriteTimeout <= 0 {
		bad("limits.write_timeout", "must be positive")
	}
	if c.Bridge.QoS < 0 || c.Bridge.QoS > 2 {
		bad("bridge.qos", "want 0, 1 or 2, got %d", c.Bridge.QoS)
	}
	checkBridgeRules(&ps, c.Bridge.bridgeRules())
	if c.RPC.CallTimeout <= 0 {
		bad("rpc.call_timeout", "must be positive")
	}
	if !bridge.ValidInvoke(c.RPC.Invoke) {
		bad("rpc.invoke", "want single, roundrobin, random, first or last, got %q", c.RPC.Invoke)
	}
	positive("rpc.max_pending_calls", c.RPC.MaxPendingCalls)
	positive("federation.max_calls", c.Fed.MaxCalls)
	if f := c.Fed; f.Enabled() {
		lc, err := f.linkConfig()
		if err != nil {
			bad("federation.redis", "%v", err)
		} else if _, err := federation.New(lc, nopFedHandler{}); err != nil {
			fedProblems(&ps, err)
		}
	} else if f.Cluster || len(f.Addresses) > 0 || f.SentinelMaster != "" {
		bad("federation.redis", "is empty, so federation is off: set it (or --redis) to use cluster, addresses or sentinel_master")
	}
	if c.Shutdown.DrainTimeout < 0 {
		bad("shutdown.drain_timeout", "cannot be negative")
	}
	// Users, roles and permissions, as New builds them (unknown roles and
	// actions, bad hashes and keys): `config check` and `serve` agree.
	authProblems(&ps, c)
	return ps.err()
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// validRealm accepts loose WAMP URIs: dot-separated non-empty components
// without whitespace or '#'.
func validRealm(name string) bool {
	if name == "" {
		return false
	}
	for _, part := range strings.Split(name, ".") {
		if part == "" || strings.ContainsAny(part, " \t\n#") {
			return false
		}
	}
	return true
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("want debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// mqttRealm is the realm of MQTT clients whose identity names none.
func (c *Config) mqttRealm() string {
	if c.MQTT.DefaultRealm != "" {
		return c.MQTT.DefaultRealm
	}
	return c.Realms[0].Name
}

// authConfig returns the configuration of the auth package.
func (c *Config) authConfig() auth.Config {
	var ac auth.Config
	for _, r := range c.Realms {
		realm := auth.Realm{Name: r.Name}
		if r.Anonymous {
			realm.AnonymousRole = r.AnonymousRole
		}
		for _, role := range r.Roles {
			ar := auth.Role{Name: role.Name}
			for _, p := range role.Permissions {
				perm := auth.Permission{URI: p.URI, Match: topic.Match(p.Match), Disclose: p.Disclose}
				for _, a := range p.Allow {
					perm.Allow = append(perm.Allow, auth.Action(a))
				}
				for _, a := range p.Deny {
					perm.Deny = append(perm.Deny, auth.Action(a))
				}
				ar.Permissions = append(ar.Permissions, perm)
			}
			realm.Roles = append(realm.Roles, ar)
		}
		ac.Realms = append(ac.Realms, realm)
	}
	for _, u := range c.Auth.Users {
		user := auth.User{AuthID: u.AuthID, Realm: u.Realm, Role: u.Role, Password: u.Password, CryptosignKeys: u.CryptosignKeys}
		if u.CRA != nil {
			user.CRA = &auth.CRAKey{Key: u.CRA.Key, Salt: u.CRA.Salt, Iterations: u.CRA.Iterations, KeyLen: u.CRA.KeyLen}
		}
		ac.Users = append(ac.Users, user)
	}
	if j := c.Auth.JWT; j.Enabled() {
		ac.JWT = &auth.JWTConfig{
			KeyFiles: j.KeyFiles, HMACSecretFiles: j.HMACSecretFiles, JWKSFile: j.JWKSFile,
			Issuer: j.Issuer, Audience: j.Audience, Leeway: j.Leeway.D(),
			AuthIDClaim: j.AuthIDClaim, RoleClaim: j.RoleClaim, RealmClaim: j.RealmClaim,
		}
	}
	t := c.Auth.Throttle
	ac.Throttle = auth.ThrottleConfig{MaxFailures: t.MaxFailures, Window: t.Window.D(), Block: t.Block.D()}
	return ac
}
