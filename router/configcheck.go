package router

// The parts of Validate that ask the packages New builds with (auth,
// bridge, federation, crypto/tls) and turn their answers into problems
// by configuration key.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/federation"
	"github.com/junctionmq/junction/bridge/topic"
)

// checkTLSFiles loads a listener's certificate, key and client CA as the
// listener will.
func checkTLSFiles(ps *problems, path string, t TLSConfig) {
	if t.CertFile != "" && t.KeyFile != "" {
		certOK, keyOK := readable(ps, path+".cert_file", t.CertFile), readable(ps, path+".key_file", t.KeyFile)
		if certOK && keyOK {
			if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
				ps.add(path, "loading TLS certificate: %v", err)
			}
		}
	}
	if t.ClientCAFile != "" && readable(ps, path+".client_ca_file", t.ClientCAFile) {
		pem, _ := os.ReadFile(t.ClientCAFile)
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			ps.add(path+".client_ca_file", "%s holds no PEM certificates", t.ClientCAFile)
		}
	}
}

// readable reports whether file can be read, adding a problem if not.
func readable(ps *problems, path, file string) bool {
	f, err := os.Open(file)
	if err != nil {
		ps.add(path, "%v", err)
		return false
	}
	_ = f.Close()
	return true
}

// sameListener reports whether two listen addresses would take the same
// port (a wildcard host takes it on every address). Hosts are compared as
// the listener binds them, without a DNS lookup: IP literals by value
// (127.0.0.1 and ::ffff:127.0.0.1 are one), and localhost as 127.0.0.1,
// the address Go's net.Listen picks for it.
func sameListener(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || a == "" || b == "" || pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	if wild(ha) || wild(hb) || strings.EqualFold(ha, hb) {
		return true
	}
	ip := func(h string) (netip.Addr, bool) {
		if strings.EqualFold(h, "localhost") {
			h = "127.0.0.1"
		}
		x, err := netip.ParseAddr(h)
		return x.Unmap(), err == nil
	}
	ia, okA := ip(ha)
	ib, okB := ip(hb)
	return okA && okB && ia == ib
}

var ruleError = regexp.MustCompile(`^` + regexp.QuoteMeta(bridge.ErrRule.Error()) + ` (\d+): (.*)$`)

// checkBridgeRules checks each rule alone, then (if each is fine) all of
// them together, as the hub builds its mapper.
func checkBridgeRules(ps *problems, rules []bridge.Rule) {
	n := len(*ps)
	for i, r := range rules {
		if _, err := bridge.NewMapper([]bridge.Rule{r}); err != nil {
			addRuleProblem(ps, i, err)
		}
	}
	if len(*ps) == n {
		if _, err := bridge.NewMapper(rules); err != nil {
			addRuleProblem(ps, -1, err)
		}
	}
}

func addRuleProblem(ps *problems, i int, err error) {
	msg := err.Error()
	if m := ruleError.FindStringSubmatch(msg); m != nil {
		if i < 0 {
			i, _ = strconv.Atoi(m[1])
		}
		msg = m[2]
	}
	if i < 0 {
		ps.add("bridge.rules", "%s", msg)
		return
	}
	path := fmt.Sprintf("bridge.rules[%d]", i)
	for _, key := range []string{"payload", "mqtt", "wamp"} {
		if strings.HasPrefix(msg, key+" ") {
			path += "." + key
			break
		}
	}
	if strings.HasPrefix(msg, "the wamp.* meta namespace") {
		path += ".wamp"
	}
	ps.add(path, "%s", msg)
}

// fedKeys maps federation.Config's fields, as its errors name them, to keys.
var fedKeys = map[string]string{
	"Addrs": "federation.addresses", "Cluster and SentinelMaster": "federation.sentinel_master",
	"DB": "federation.redis", "KeyPrefix": "federation.key_prefix", "NodeID": "federation.node_id",
	"Heartbeat": "federation.heartbeat", "NodeTimeout": "federation.node_timeout",
	"SpoolMessages": "federation.spool_messages", "SpoolBytes": "federation.spool_bytes",
	"InboxMaxLen": "federation.inbox_max_len", "ResendAfter": "federation.resend_after",
}

var fedWords = strings.NewReplacer("SentinelMaster", "sentinel_master", "Cluster", "cluster",
	"Heartbeat", "heartbeat", "Addrs", "addresses")

var fedAddr = regexp.MustCompile(`^Addrs\[(\d+)\]$`)

// fedProblems splits an error of federation.New into problems by key.
func fedProblems(ps *problems, err error) {
	text := strings.TrimPrefix(err.Error(), federation.ErrConfig.Error()+": ")
	for _, line := range strings.Split(text, "\n") {
		field, msg, ok := strings.Cut(line, ": ")
		if !ok {
			ps.add("federation", "%s", line)
			continue
		}
		key, known := fedKeys[field]
		if m := fedAddr.FindStringSubmatch(field); m != nil {
			i, _ := strconv.Atoi(m[1])
			key, known = "federation.redis", true
			if i > 0 {
				key = fmt.Sprintf("federation.addresses[%d]", i-1)
			}
		}
		if !known {
			ps.add("federation", "%s", line)
			continue
		}
		if strings.Contains(field, " and ") { // a problem of two keys
			msg = field + ": " + msg
		}
		ps.add(key, "%s", fedWords.Replace(msg))
	}
}

// authPrefixes start the problems auth.Validate reports, by its paths.
var authPrefixes = []string{"realms[", "users[", "throttle."}

// splitAuth returns the problems of an auth configuration error as path and
// message.
func splitAuth(err error) (paths, msgs []string) {
	text := strings.TrimPrefix(err.Error(), auth.ErrInvalidConfig.Error()+": ")
	var segs []string
	for _, s := range strings.Split(text, "; ") {
		known := false
		for _, p := range authPrefixes {
			known = known || strings.HasPrefix(s, p)
		}
		if known || len(segs) == 0 {
			segs = append(segs, s)
		} else {
			segs[len(segs)-1] += "; " + s // a "; " inside a message
		}
	}
	for _, s := range segs {
		path, msg, ok := strings.Cut(s, ": ")
		if !ok || strings.ContainsAny(path, " \"") {
			path, msg = "", s
		}
		paths, msgs = append(paths, path), append(msgs, msg)
	}
	return paths, msgs
}

// authProblems checks realms, roles, permissions, users and JWT keys as
// auth.New does (so that New cannot refuse what passed), reporting each
// problem at its key.
func authProblems(ps *problems, c *Config) {
	have := map[string]bool{}
	for _, p := range *ps {
		have[p.Path] = true
	}
	ac := c.authConfig()
	jwt := ac.JWT
	ac.JWT = nil
	bad := map[string]bool{} // permissions whose uri or match is refused
	if err := auth.Validate(ac); err != nil {
		paths, msgs := splitAuth(err)
		for i, path := range paths {
			switch {
			case strings.HasPrefix(path, "users[") || strings.HasPrefix(path, "throttle."):
				path = "auth." + path
			case strings.HasPrefix(path, "realms["):
				realm, rest, _ := strings.Cut(path, "]")
				if (rest == "" || rest == ".name") && have[realm+"].name"] {
					continue // reported above: a bad or duplicate name
				}
				if j := strings.Index(path, ".permissions["); j >= 0 {
					end := j + strings.Index(path[j:], "]") + 1
					if strings.HasPrefix(path[end:], ".match") || strings.HasPrefix(path[end:], ".uri") {
						bad[path[:end]] = true
					}
				}
			case path == "":
				path = "auth"
			}
			ps.add(path, "%s", msgs[i])
		}
	}
	// A permission whose uri or match is bad has its actions unchecked by
	// auth: check them on their own.
	for i, r := range c.Realms {
		for j, role := range r.Roles {
			for k, p := range role.Permissions {
				path := fmt.Sprintf("realms[%d].roles[%d].permissions[%d]", i, j, k)
				if !bad[path] {
					continue
				}
				alone := auth.Permission{URI: "", Match: topic.MatchPrefix}
				for _, a := range p.Allow {
					alone.Allow = append(alone.Allow, auth.Action(a))
				}
				err := auth.Validate(auth.Config{Realms: []auth.Realm{{Name: "r", Roles: []auth.Role{{Name: "x", Permissions: []auth.Permission{alone}}}}}})
				if err == nil {
					continue
				}
				paths, msgs := splitAuth(err)
				for n, ap := range paths {
					if rest, ok := strings.CutPrefix(ap, "realms[0].roles[0].permissions[0].allow"); ok {
						ps.add(path+".allow"+rest, "%s", msgs[n])
					}
				}
			}
		}
	}
	if jwt != nil {
		jwtProblems(ps, *jwt)
	}
}

// jwtProblems loads each JWT key file alone, naming the bad ones, then all
// of them together as auth.New does.
func jwtProblems(ps *problems, j auth.JWTConfig) {
	n := len(*ps)
	if j.Leeway < 0 {
		ps.add("auth.jwt.leeway", "cannot be negative, got %v", j.Leeway)
	}
	try := func(path string, one auth.JWTConfig) {
		// A JWKS file alone may hold no signing keys; beside other files
		// that is fine, so "no keys" waits for the check of them all.
		if _, err := auth.NewJWTVerifier(one); err != nil && !strings.Contains(err.Error(), "jwt: no keys") {
			ps.add(path, "%s", jwtReason(err))
		}
	}
	for i, f := range j.KeyFiles {
		try(fmt.Sprintf("auth.jwt.key_files[%d]", i), auth.JWTConfig{KeyFiles: []string{f}})
	}
	for i, f := range j.HMACSecretFiles {
		try(fmt.Sprintf("auth.jwt.hmac_secret_files[%d]", i), auth.JWTConfig{HMACSecretFiles: []string{f}})
	}
	if j.JWKSFile != "" {
		try("auth.jwt.jwks_file", auth.JWTConfig{JWKSFile: j.JWKSFile})
	}
	if len(*ps) == n {
		if _, err := auth.NewJWTVerifier(j); err != nil {
			ps.add("auth.jwt", "%s", jwtReason(err))
		}
	}
}

// jwtReason is an auth.NewJWTVerifier error without what the key's path
// already says.
func jwtReason(err error) string {
	msg := strings.TrimPrefix(err.Error(), auth.ErrInvalidConfig.Error()+": ")
	for _, p := range []string{"jwt key file ", "jwt HMAC secret file ", "jwt JWKS file ", "jwt: "} {
		if rest, ok := strings.CutPrefix(msg, p); ok {
			return rest
		}
	}
	return msg
}
