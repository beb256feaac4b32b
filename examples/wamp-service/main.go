// Command wamp-service is a backend service on WAMP: it registers the
// procedure com.example.add, subscribes to com.example.news, and publishes a
// heartbeat, over WebSocket or RawSocket. With -call it calls one procedure
// instead (an MQTT device's, say), prints the result and exits.
//
//	go run ./examples/wamp-service -url ws://localhost:8080/ws
//	go run ./examples/wamp-service -url tcp://localhost:8080   # RawSocket on the universal port
//	go run ./examples/wamp-service -call devices.sensor-7.status
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

func main() {
	routerURL := flag.String("url", "ws://localhost:8080/ws", "ws://host:port/ws or tcp://host:port")
	realm := flag.String("realm", "realm1", "WAMP realm")
	call := flag.String("call", "", "call this procedure, print its result and exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	c, err := client.ConnectNet(ctx, *routerURL, client.Config{Realm: *realm, Serialization: serialize.MSGPACK})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if *call != "" {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		res, err := c.Call(cctx, *call, nil, nil, nil, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.Arguments, res.ArgumentsKw)
		return
	}

	if err := c.Register("com.example.add", func(_ context.Context, inv *wamp.Invocation) client.InvokeResult {
		var sum int64
		for _, a := range inv.Arguments {
			n, ok := wamp.AsInt64(a)
			if !ok {
				return client.InvokeResult{Err: wamp.ErrInvalidArgument, Args: wamp.List{"numbers only"}}
			}
			sum += n
		}
		return client.InvokeResult{Args: wamp.List{sum}}
	}, nil); err != nil {
		log.Fatal(err)
	}
	if err := c.Subscribe("com.example.news", func(ev *wamp.Event) {
		fmt.Println("news:", ev.Arguments, ev.ArgumentsKw)
	}, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("serving com.example.add; listening to com.example.news")

	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.Done():
			log.Fatal("router closed the session")
		case t := <-tick.C:
			if err := c.Publish("com.example.heartbeat", nil, wamp.List{t.Format(time.RFC3339)}, nil); err != nil {
				log.Printf("publish: %v", err)
			}
		}
	}
}
