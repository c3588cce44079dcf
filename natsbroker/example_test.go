package natsbroker_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/natsbroker"
)

// A push server whose broker is a NATS server embedded in the process: the
// topics' history is a JetStream stream on disk, from which a client that
// stopped at a position resumes.
func Example() {
	dir, err := os.MkdirTemp("", "natsbroker-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := natsbroker.Embedded(ctx, dir, natsbroker.Options{History: pushwire.History{Messages: 100}})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := pushwire.NewServer(pushwire.Options{Broker: b})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(ctx) // closes the broker

	c, err := pushwire.Dial(ctx, hs.URL, &pushwire.ClientOptions{Topics: []string{"prices"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if ev, err := c.Next(ctx); err != nil || ev.Kind != pushwire.EventSubscribed {
		fmt.Println(ev, err)
		return
	}
	first, _ := srv.Publish(ctx, "prices", pushwire.Text, []byte("1.0825"))
	srv.Publish(ctx, "prices", pushwire.Text, []byte("1.0831"))
	for range 2 {
		ev, err := c.Next(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("live:", ev.Topic, string(ev.Data))
	}
	// What a client that stopped at the first publication gets back.
	pubs, _, err := b.History(ctx, "prices", first, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pubs {
		fmt.Println("history:", p.Topic, string(p.Payload))
	}
	// Output:
	// live: prices 1.0825
	// live: prices 1.0831
	// history: prices 1.0831
}

// One node of a cluster: each node runs the same, against a NATS cluster
// of three, and a publication on any reaches the clients of every one.
func ExampleConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := natsbroker.Connect(ctx, "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222",
		natsbroker.Options{Replicas: 3, History: pushwire.History{Messages: 1000, MaxAge: time.Hour}},
		nats.UserCredentials("pushwire.creds"))
	if err != nil {
		log.Fatal(err)
	}
	srv := pushwire.NewServer(pushwire.Options{Broker: b}) // Shutdown closes b
	http.Handle("/push/", srv)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
