package router

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "junction test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile, pool
}

func TestTLSOnEveryListener(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	r := startRouter(t, func(c *Config) {
		c.HTTP.TLS = TLSConfig{CertFile: certFile, KeyFile: keyFile}
		c.MQTT.TLS = TLSConfig{CertFile: certFile, KeyFile: keyFile}
	})
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	// WAMP over wss:// and over TLS RawSocket on the universal port.
	var sessions []*client.Client
	for _, u := range []string{"wss://" + httpAddr(r) + "/ws", "tcps://" + httpAddr(r)} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := client.ConnectNet(ctx, u, client.Config{Realm: "realm1", Serialization: serialize.CBOR, TlsCfg: tlsCfg, Logger: discardStdLog{}})
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		sessions = append(sessions, c)
	}
	events := make(chan *nxwamp.Event, 1)
	if err := sessions[0].SubscribeChan("com.tls", events, nil); err != nil {
		t.Fatal(err)
	}
	if err := sessions[1].Publish("com.tls", nxwamp.Dict{"acknowledge": true}, nxwamp.List{"secure"}, nil); err != nil {
		t.Fatal(err)
	}
	recv(t, events, 5*time.Second, "event over TLS")

	// MQTT over mqtts:// (dedicated port), TLS on the universal port, and wss://.
	sub := connectV3(t, "ssl://"+mqttAddr(r), "tls-sub", func(o *mqtt3.ClientOptions) { o.SetTLSConfig(tlsCfg) })
	msgs := subscribeV3(t, sub, "tls/#", 1)
	for i, raw := range []string{"mqtts://" + httpAddr(r), "wss://" + httpAddr(r) + "/ws"} {
		u, _ := url.Parse(raw)
		pub := connectV5(t, raw, "tls-pub-"+u.Scheme, func(c *autopaho.ClientConfig) { c.TlsCfg = tlsCfg })
		pub.publish(t, &paho.Publish{Topic: "tls/" + u.Scheme, QoS: 1, Payload: []byte{byte(i)}})
		if m := recv(t, msgs, 5*time.Second, "message over "+raw); m.topic != "tls/"+u.Scheme {
			t.Fatalf("got %+v", m)
		}
	}

	// A plain-text client on a TLS listener gets nowhere and harms nobody.
	conn, err := net.Dial("tcp", mqttAddr(r))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'x'})
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if n, _ := conn.Read(buf); n >= 2 && buf[0] == 0x20 {
		t.Fatal("plain-text CONNECT accepted on a TLS listener")
	}
	conn.Close()
}
