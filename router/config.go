package router

import (
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
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

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid configuration")

// DefaultConfig returns the embedded default configuration.
func DefaultConfig() Config {
	var c Config
	if err := decodeStrict(DefaultYAML, &c); err != nil {
		// The default is compiled in and covered by tests.
		panic("embedded default config: " + err.Error())
	}
	return c
}

// LoadConfig reads the YAML file at path over the defaults, applies the
// JUNCTION_* variables of environ and then the overrides (command-line
// flags, which come last), and validates the result. Every error names the
// key's path.
func LoadConfig(path string, environ []string, overrides ...func(*Config)) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if err := decodeStrict(b, &c); err != nil {
			return Config{}, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
		}
	}
	if err := applyEnv(&c, environ); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for _, o := range overrides {
		o(&c)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks values the types alone cannot, naming each bad key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
	}
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
		seen[r.Name] = true
	}
	if c.MQTT.DefaultRealm != "" && !seen[c.MQTT.DefaultRealm] {
		bad("mqtt.default_realm", "realm %q is not defined", c.MQTT.DefaultRealm)
	}
	if c.Auth.Throttle.MaxFailures < 0 || c.Auth.Throttle.Window < 0 || c.Auth.Throttle.Block < 0 {
		bad("auth.throttle", "values cannot be negative")
	}
	// Roles, users, hashes and keys are checked by auth.New, with their paths.
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
	if _, err := bridge.NewMapper(c.Bridge.bridgeRules()); err != nil {
		bad("bridge.rules", "%v", err)
	}
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
			bad("federation", "%v", err)
		}
	} else if f.Cluster || len(f.Addresses) > 0 || f.SentinelMaster != "" {
		bad("federation.redis", "is empty, so federation is off: set it (or --redis) to use cluster, addresses or sentinel_master")
	}
	if c.Shutdown.DrainTimeout < 0 {
		bad("shutdown.drain_timeout", "cannot be negative")
	}
	// Users, roles and permissions, as New builds them (unknown roles and
	// actions, bad hashes and keys): `config check` and `serve` agree.
	if err := auth.Validate(c.authConfig()); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
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

// decodeStrict decodes YAML into the struct at out, refusing unknown keys and
// values of the wrong type with the path of the offending key, e.g.
// "limits.max_message_size: want an integer, got string "big"".
func decodeStrict(b []byte, out any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if doc.Kind == 0 { // empty file
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return errors.New("want one YAML document")
	}
	return decodeNode(doc.Content[0], reflect.ValueOf(out).Elem(), "")
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func decodeNode(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	where := func(err error) error {
		p := path
		if p == "" {
			p = "(top level)"
		}
		return fmt.Errorf("%s (line %d): %w", p, n.Line, err)
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return where(err)
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return where(fmt.Errorf("want a mapping, got %s", describe(n)))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			field, ok := fieldByTag(v, key)
			if !ok {
				return fmt.Errorf("%s (line %d): unknown key", join(path, key), n.Content[i].Line)
			}
			if err := decodeNode(n.Content[i+1], field, join(path, key)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return where(fmt.Errorf("want a list, got %s", describe(n)))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := decodeNode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" && n.Tag != "!!null" {
			return where(fmt.Errorf("want a string, got %s", describe(n)))
		}
		v.SetString(n.Value)
		return nil
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return where(fmt.Errorf("want true or false, got %s", describe(n)))
		}
	case reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return where(fmt.Errorf("want an integer, got %s", describe(n)))
		}
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		return where(err)
	}
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return "something else"
}

func fieldByTag(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// envPrefix starts every configuration variable.
const envPrefix = "JUNCTION_"

// applyEnv overrides single keys from JUNCTION_* variables. Each value is
// parsed as YAML for its key, so types are checked as in the file. A
// JUNCTION_ variable that names no key is left alone: other tools use the
// prefix too (JUNCTION_TEST_LOG, say).
func applyEnv(c *Config, environ []string) error {
	leaves := map[string]leaf{} // JUNCTION_HTTP_LISTEN -> http.listen
	collectLeaves(reflect.TypeFor[Config](), "", leaves)
	var errs []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) {
			continue
		}
		l, ok := leaves[name]
		if !ok {
			continue // other JUNCTION_ variables (e.g. for tools) are not ours
		}
		if l.isString {
			// Quote it, so that "#", ":" or "" mean themselves.
			q, err := yaml.Marshal(value)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			value = strings.TrimSpace(string(q))
		}
		doc := buildDoc(l.path, value)
		if err := decodeStrict([]byte(doc), c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// leaf is one configuration key that a variable can set.
type leaf struct {
	path     string
	isString bool
}

func collectLeaves(t reflect.Type, path string, out map[string]leaf) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		p := join(path, tag)
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(unmarshalerType) {
			collectLeaves(f.Type, p, out)
			continue
		}
		out[envPrefix+strings.ToUpper(strings.ReplaceAll(p, ".", "_"))] = leaf{path: p, isString: f.Type.Kind() == reflect.String}
	}
}

// buildDoc nests value under the dotted path as a YAML document.
func buildDoc(path, value string) string {
	parts := strings.Split(path, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i < len(parts)-1 {
			b.WriteString("\n")
		}
	}
	b.WriteString(" " + value + "\n")
	return b.String()
}
