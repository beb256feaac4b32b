package auth_test

import (
	"fmt"
	"log"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge/topic"
)

// A device may publish only under its own devices.<authid>. subtree; anyone
// may subscribe to the public topics.
func Example() {
	hash, err := auth.HashPassword("s3cret")
	if err != nil {
		log.Fatal(err)
	}
	a, err := auth.New(auth.Config{
		Realms: []auth.Realm{{
			Name:          "realm1",
			AnonymousRole: "guest",
			Roles: []auth.Role{
				{Name: "guest", Permissions: []auth.Permission{
					{URI: "public.", Match: topic.MatchPrefix, Allow: []auth.Action{auth.ActionSubscribe}},
				}},
				{Name: "device", Permissions: []auth.Permission{
					{URI: "devices.{authid}.", Match: topic.MatchPrefix, Allow: []auth.Action{auth.ActionPublish}},
					{URI: "public.", Match: topic.MatchPrefix, Allow: []auth.Action{auth.ActionSubscribe}},
				}},
			},
		}},
		Users: []auth.User{{AuthID: "dev1", Realm: "realm1", Role: "device", Password: hash}},
	})
	if err != nil {
		log.Fatal(err)
	}

	// MQTT CONNECT with username dev1, or a WAMP ticket; "" is the user's
	// own realm.
	id, err := a.Password("", "dev1", "s3cret")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.AuthID, id.Role, id.Realm, id.Method)

	_, err = a.Password("realm1", "dev1", "guess")
	fmt.Println(err)

	// MQTT PUBLISH devices/dev1/temp, in canonical form.
	fmt.Println(a.Allowed(id, auth.ActionPublish, "devices.dev1.temp", topic.MatchExact))
	// Another device's topic.
	fmt.Println(a.Allowed(id, auth.ActionPublish, "devices.dev2.temp", topic.MatchExact))
	// MQTT SUBSCRIBE public/+/news is the WAMP wildcard public..news.
	fmt.Println(a.Allowed(id, auth.ActionSubscribe, "public..news", topic.MatchWildcard))
	// MQTT SUBSCRIBE # would be every topic: not covered by public.
	fmt.Println(a.Allowed(id, auth.ActionSubscribe, "", topic.MatchPrefix))

	// Output:
	// dev1 device realm1 password
	// bad credentials
	// true
	// false
	// true
	// false
}
