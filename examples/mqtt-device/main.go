// Command mqtt-device is an IoT device in a few lines: it connects to
// Junction over MQTT 5 (TCP or WebSocket), publishes a temperature reading
// every second, and prints the commands it receives.
//
//	go run ./examples/mqtt-device -url mqtt://localhost:1883
//	go run ./examples/mqtt-device -url ws://localhost:8080/ws
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/url"
	"os"
	"os/signal"
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

	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			// (Re)subscribe on every connection.
			if _, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
				{Topic: "devices/" + *id + "/cmd", QoS: 1},
			}}); err != nil {
				log.Printf("subscribe: %v", err)
			}
		},
		ClientConfig: paho.ClientConfig{
			ClientID: *id,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
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
		case <-tick.C:
			temp := fmt.Sprintf("%.1f", 20+rand.Float64()*5)
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
