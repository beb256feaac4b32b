package bench

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/url"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

type wampOptions struct {
	url, realm, serializer string
	timeout                time.Duration
}

var discardLog = log.New(io.Discard, "", 0)

func dialWAMP(ctx context.Context, o wampOptions) (*client.Client, error) {
	ser := map[string]serialize.Serialization{
		"json": serialize.JSON, "msgpack": serialize.MSGPACK, "cbor": serialize.CBOR,
	}[o.serializer]
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, err := client.ConnectNet(ctx, u.String(), client.Config{
		Realm:           o.realm,
		Serialization:   ser,
		ResponseTimeout: o.timeout,
		Logger:          discardLog,
	})
	if err != nil {
		return nil, fmt.Errorf("wamp connect %s (realm %s, %s): %w", o.url, o.realm, o.serializer, err)
	}
	return c, nil
}

// wampPayload returns the bytes of an event's or a result's first argument.
func wampPayload(args nxwamp.List) []byte {
	if len(args) == 0 {
		return nil
	}
	switch v := args[0].(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	}
	return nil
}
