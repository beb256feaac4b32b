// Command gen writes everything the secure example needs into one directory
// (default examples/secure/out, which git ignores): a test CA, a server
// certificate for localhost and 127.0.0.1, a client certificate for the
// device sensor-2, an ES256 key pair for JSON Web Tokens, an Ed25519 key for
// WAMP-cryptosign, and junction.yaml, a configuration that uses every
// authentication method Junction has.
//
//	go run ./examples/secure/gen
//	./bin/junction serve --config examples/secure/out/junction.yaml
//
// The secrets the walkthrough (examples/secure/README.md) needs are printed,
// never written to junction.yaml: it holds only password hashes, a salted
// WAMP-CRA key and public keys. Running gen again replaces every file, the CA
// included.
package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"text/template"
	"time"

	"github.com/junctionmq/junction/auth"
)

// secrets are what the walkthrough types; junction.yaml gets only hashes.
type secrets struct {
	sensor1Password, sensor1CRA, alicePassword, backendPassword string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("gen: ")
	out := flag.String("out", filepath.Join("examples", "secure", "out"), "output directory")
	var s secrets
	flag.StringVar(&s.sensor1Password, "sensor-1-password", "sensor-1-pw", "password of sensor-1 (MQTT username/password, WAMP ticket)")
	flag.StringVar(&s.sensor1CRA, "sensor-1-cra", "sensor-1-cra", "WAMP-CRA secret of sensor-1")
	flag.StringVar(&s.alicePassword, "alice-password", "alice-pw", "password of alice (role browser)")
	flag.StringVar(&s.backendPassword, "backend-password", "backend-pw", "password of backend (role service)")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("unexpected arguments %q (the output directory is -out)", flag.Args())
	}
	if err := run(*out, s); err != nil {
		log.Fatal(err)
	}
}

func run(outDir string, s secrets) error {
	dir, err := filepath.Abs(outDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := func(name string) string { return filepath.Join(dir, name) }

	// The CA signs the server's certificate and the clients'.
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Junction example CA"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caCert, err := sign(caTmpl, &caKey.PublicKey, nil, caKey)
	if err != nil {
		return err
	}
	if err := writeCert(path("ca.pem"), caCert); err != nil {
		return err
	}
	if err := writeKey(path("ca-key.pem"), caKey); err != nil {
		return err
	}

	// The server's certificate: both listeners present it.
	if err := leaf(path("server.pem"), path("server-key.pem"), &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, caCert, caKey); err != nil {
		return err
	}

	// sensor-2's client certificate: its subject's CN is its authid
	// (cert_authid: cn).
	if err := leaf(path("sensor-2.pem"), path("sensor-2-key.pem"), &x509.Certificate{
		Subject:     pkix.Name{CommonName: "sensor-2"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, caKey); err != nil {
		return err
	}

	// The JWT issuer's key pair: `junction token` signs with the private
	// key, the router verifies with the public one.
	jwtKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(path("jwt-key.pem"), jwtKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&jwtKey.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(path("jwt-pub.pem"), "PUBLIC KEY", pub, 0o644); err != nil {
		return err
	}

	// sensor-1's WAMP-cryptosign key: the client keeps the seed, the router
	// knows the public key.
	csPub, csPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path("sensor-1.ed25519"), []byte(hex.EncodeToString(csPriv.Seed())+"\n"), 0o600); err != nil {
		return err
	}

	// Hashes and the salted WAMP-CRA key, as `junction passwd` makes them.
	v := configValues{Dir: dir, CryptosignKey: hex.EncodeToString(csPub)}
	for _, h := range []struct {
		dst      *string
		password string
	}{
		{&v.Sensor1Password, s.sensor1Password},
		{&v.AlicePassword, s.alicePassword},
		{&v.BackendPassword, s.backendPassword},
	} {
		if *h.dst, err = auth.HashPassword(h.password); err != nil {
			return err
		}
	}
	if v.CRA, err = auth.NewCRAKey(s.sensor1CRA, 1000, 32); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, v); err != nil {
		return err
	}
	if err := os.WriteFile(path("junction.yaml"), buf.Bytes(), 0o600); err != nil {
		return err
	}

	rel := outDir
	fmt.Printf(`Wrote %s:
  ca.pem, ca-key.pem              test CA (clients trust ca.pem)
  server.pem, server-key.pem      server certificate for localhost, 127.0.0.1, ::1
  sensor-2.pem, sensor-2-key.pem  client certificate, CN=sensor-2
  jwt-key.pem, jwt-pub.pem        ES256 key pair for JSON Web Tokens
  sensor-1.ed25519                sensor-1's WAMP-cryptosign seed (hex)
  junction.yaml                   the configuration (hashes and public keys only)

Secrets for the walkthrough (not stored in junction.yaml):
  sensor-1  password %s   wampcra secret %s
            cryptosign public key %s
  alice     password %s
  backend   password %s
  sensor-2  TLS client certificate only

Run:   ./bin/junction serve --config %s
Check: ./bin/junction config check %s
`, dir, strconv.Quote(s.sensor1Password), strconv.Quote(s.sensor1CRA), v.CryptosignKey,
		strconv.Quote(s.alicePassword), strconv.Quote(s.backendPassword),
		filepath.Join(rel, "junction.yaml"), filepath.Join(rel, "junction.yaml"))
	return nil
}

// leaf makes a key and a certificate from tmpl signed by the CA, and writes
// both.
func leaf(certFile, keyFile string, tmpl, ca *x509.Certificate, caKey crypto.Signer) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	cert, err := sign(tmpl, &key.PublicKey, ca, caKey)
	if err != nil {
		return err
	}
	if err := writeCert(certFile, cert); err != nil {
		return err
	}
	return writeKey(keyFile, key)
}

// sign issues tmpl for pub, valid for a year, signed by parent (tmpl itself
// when parent is nil).
func sign(tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, key crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().AddDate(1, 0, 0)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func writeCert(file string, cert *x509.Certificate) error {
	return writePEM(file, "CERTIFICATE", cert.Raw, 0o644)
}

func writeKey(file string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(file, "PRIVATE KEY", der, 0o600)
}

func writePEM(file, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

type configValues struct {
	Dir                                             string
	Sensor1Password, AlicePassword, BackendPassword string
	CRA                                             auth.CRAKey
	CryptosignKey                                   string
}

// configTemplate is junction.yaml. Keys it leaves out keep their defaults
// (`junction config default`). auth.users comes last so that a user can be
// appended to the file (see "Adding a user" in the README).
var configTemplate = template.Must(template.New("junction.yaml").Funcs(template.FuncMap{
	"file": func(dir, name string) string { return strconv.Quote(filepath.Join(dir, name)) },
}).Parse(`# Junction: the secure example, written by ` + "`go run ./examples/secure/gen`" + `.
# Every authentication method: anonymous, passwords (MQTT username/password,
# WAMP ticket), WAMP-CRA, WAMP-cryptosign, JSON Web Tokens and TLS client
# certificates. Walkthrough: examples/secure/README.md.

http:
  listen: "127.0.0.1:8443"     # https, wss, and TLS raw MQTT / RawSocket
  tls:
    cert_file: {{file .Dir "server.pem"}}
    key_file: {{file .Dir "server-key.pem"}}
    client_ca_file: {{file .Dir "ca.pem"}}   # client certificates signed by this CA are identities...
    client_certs: optional     # ...but a client may also come without one
    cert_authid: cn            # the certificate's subject CN is the authid

mqtt:
  listen: "127.0.0.1:8883"     # mqtts
  tls:
    cert_file: {{file .Dir "server.pem"}}
    key_file: {{file .Dir "server-key.pem"}}
    client_ca_file: {{file .Dir "ca.pem"}}
    client_certs: optional
    cert_authid: cn

# Rules are on canonical URIs: MQTT devices/sensor-1/temp is
# devices.sensor-1.temp. {authid} is the client's own authid.
realms:
  - name: realm1
    anonymous: true
    anonymous_role: guest
    roles:
      - name: guest            # anyone, without credentials
        permissions:
          - uri: public.
            match: prefix
            allow: [subscribe]
      - name: device           # its own subtree, and its own procedures
        permissions:
          - uri: devices.{authid}.
            match: prefix
            allow: [publish, subscribe]
          - uri: com.acme.device.{authid}.
            match: prefix
            allow: [register]
      - name: browser          # watches every device, commands any of them
        permissions:
          - uri: devices.
            match: prefix
            allow: [subscribe]
          - uri: public.
            match: prefix
            allow: [publish, subscribe]
          - uri: devices..cmd
            match: wildcard
            allow: [publish]
          - uri: com.acme.
            match: prefix
            allow: [call]
      - name: service          # trusted backend: everything
        permissions:
          - uri: ""
            match: prefix
            allow: [publish, subscribe, call, register]
            disclose: true     # subscribers and callees learn who published or called

auth:
  jwt:
    key_files: [{{file .Dir "jwt-pub.pem"}}]   # ES256 public key
    issuer: junction-example
    audience: junction
  throttle:
    max_failures: 10           # failed logins from one address within window...
    window: 1m
    block: 1m                  # ...block it for this long
  users:
    - authid: sensor-1
      realm: realm1
      role: device
      password: "{{.Sensor1Password}}"
      cra:
        key: "{{.CRA.Key}}"
        salt: "{{.CRA.Salt}}"
        iterations: {{.CRA.Iterations}}
        keylen: {{.CRA.KeyLen}}
      cryptosign_keys:
        - "{{.CryptosignKey}}"
    - authid: alice
      realm: realm1
      role: browser
      password: "{{.AlicePassword}}"
    - authid: backend
      realm: realm1
      role: service
      password: "{{.BackendPassword}}"
    - authid: sensor-2         # TLS client certificate only: no password
      realm: realm1
      role: device
`))
