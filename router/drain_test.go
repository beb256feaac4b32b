package router

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

func TestGracefulDrain(t *testing.T) {
	r := startRouter(t, nil)
	resp, err := http.Get("http://" + httpAddr(r) + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz before drain: %v %v", resp, err)
	}
	resp.Body.Close()

	var v5 []*v5Client
	for _, tr := range mqttTransports(r) {
		v5 = append(v5, connectV5(t, tr.v5URL, "drain-"+tr.name, nil))
	}
	v3 := connectV3(t, "tcp://"+mqttAddr(r), "drain-v3", nil)
	raw3 := rawMQTTConnect(t, mqttAddr(r), "drain-raw-v3") // to see the bytes the drain sends
	var wampClients []interface {
		Done() <-chan struct{}
		RouterGoodbye() *nxwamp.Goodbye
	}
	for _, tr := range wampTransports(r) {
		wampClients = append(wampClients, connectWAMP(t, tr.url, tr.ser))
	}
	_ = serialize.JSON

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("drain took %v with every client cooperating", d)
	}
	for i, c := range v5 {
		d := recv(t, c.disconnects, 5*time.Second, "DISCONNECT")
		if d.ReasonCode != 0x8B {
			t.Fatalf("MQTT 5 client %d: DISCONNECT reason %#x, want 0x8B (server shutting down)", i, d.ReasonCode)
		}
	}
	waitFor(t, 5*time.Second, "MQTT 3.1.1 client to see the connection close", func() bool { return !v3.IsConnectionOpen() })
	// MQTT 3.1.1 has no server DISCONNECT: the connection just closes (a
	// DISCONNECT made mosquitto clients give up instead of reconnecting).
	_ = raw3.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(raw3); len(b) > 0 || err != nil {
		t.Fatalf("MQTT 3.1.1 connection got %x (%v) at the drain, want a plain close", b, err)
	}
	for i, c := range wampClients {
		recv(t, c.Done(), 5*time.Second, "WAMP session end")
		if g := c.RouterGoodbye(); g == nil || g.Reason != nxwamp.CloseSystemShutdown {
			t.Fatalf("WAMP client %d: GOODBYE %+v, want wamp.close.system_shutdown", i, g)
		}
	}
}
