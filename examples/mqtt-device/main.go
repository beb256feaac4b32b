// Command mqtt-device is an IoT device in a few lines: it connects to
// Junction over MQTT 5 (TCP or WebSocket), publishes a temperature reading
// every second, prints the commands it receives, and serves the WAMP
// procedure devices.<id>.status (it subscribes to $rpc/devices/<id>/status
// and answers each invocation on its Response Topic).
//
//	go run ./examples/mqtt-device -url mqtt://localhost:1883
//	go run ./examples/mqtt-device -url ws://localhost:8080/ws
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

func main() {
	rawURL := flag.String("url", "mqtt://localhost:1883", "broker URL: mqtt://host:port or ws://host:port/ws")
	id := flag.String("id", "sensor-7", "device id; it publishes on devices/<id>/temp")
	flag.Parse()
	u, err := url.Parse(*rawURL)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	invocations := make(chan *paho.Publish, 16)
	var last atomic.Value // the last reading
	last.Store("none yet")

	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			// (Re)subscribe on every connection.
			if _, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
				{Topic: "devices/" + *id + "/cmd", QoS: 1},
				{Topic: "$rpc/devices/" + *id + "/status", QoS: 1}, // registers devices.<id>.status
			}}); err != nil {
				log.Printf("subscribe: %v", err)
			}
		},
		ClientConfig: paho.ClientConfig{
			ClientID: *id,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				if p := pr.Packet.Properties; strings.HasPrefix(pr.Packet.Topic, "$rpc/") && p != nil && p.ResponseTopic != "" {
					invocations <- pr.Packet // answered below: not on paho's reading goroutine
					return true, nil
				}
				fmt.Printf("command on %s: %s\n", pr.Packet.Topic, pr.Packet.Payload)
				return true, nil
			}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := cm.AwaitConnection(ctx); err != nil {
		log.Fatal(err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = cm.Disconnect(dctx)
			cancel()
			return
		case inv := <-invocations:
			// The result: a JSON object is one WAMP argument (a dict).
			status, _ := json.Marshal(map[string]any{"temp": last.Load(), "device": *id})
			if _, err := cm.Publish(ctx, &paho.Publish{
				Topic: inv.Properties.ResponseTopic, QoS: 1, Payload: status,
				Properties: &paho.PublishProperties{CorrelationData: inv.Properties.CorrelationData, ContentType: "application/json"},
			}); err != nil {
				log.Printf("answering %s: %v", inv.Topic, err)
				continue
			}
			fmt.Println("answered", inv.Topic)
		case <-tick.C:
			temp := fmt.Sprintf("%.1f", 20+rand.Float64()*5)
			last.Store(temp)
			if _, err := cm.Publish(ctx, &paho.Publish{
				Topic: "devices/" + *id + "/temp", QoS: 1, Payload: []byte(temp),
				Properties: &paho.PublishProperties{ContentType: "text/plain"},
			}); err != nil {
				log.Printf("publish: %v", err)
				continue
			}
			fmt.Println("published", temp)
		}
	}
}
