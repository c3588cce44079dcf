package natsbroker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/natsbroker"
)

// connect returns a broker connected to ns, closed when the test ends.
func connect(t testing.TB, ns *server.Server, opts natsbroker.Options) *natsbroker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	b, err := natsbroker.Connect(ctx, ns.ClientURL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// jsOf returns a JetStream client of ns of the test's own, to look at the
// stream behind the broker's back.
func jsOf(t testing.TB, ns *server.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func publish(t testing.TB, b pushwire.Broker, topic, payload string) pushwire.Position {
	t.Helper()
	pos, err := b.Publish(bg, topic, pushwire.Text, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// history returns the payloads History returns, and its error.
func history(t testing.TB, b pushwire.Broker, topic string, since pushwire.Position) ([]string, pushwire.Position, error) {
	t.Helper()
	pubs, latest, err := b.History(bg, topic, since, 0)
	var got []string
	for _, p := range pubs {
		got = append(got, string(p.Payload))
	}
	return got, latest, err
}

// Offsets are the stream's sequences, shared by every topic: a topic's
// grow, with gaps where others published.
func TestOffsetsAreStreamSequences(t *testing.T) {
	b := embedded(t, natsbroker.Options{})
	var a, c []uint64
	for i := range 3 {
		a = append(a, publish(t, b, "a", fmt.Sprint("a", i)).Offset)
		c = append(c, publish(t, b, "c", fmt.Sprint("c", i)).Offset)
	}
	if fmt.Sprint(a, c) != "[1 3 5] [2 4 6]" {
		t.Fatalf("offsets of a %v, of c %v; want the stream's sequences [1 3 5] [2 4 6]", a, c)
	}
	pubs, latest, err := b.History(bg, "a", pushwire.Position{Epoch: latestOf(t, b, "a").Epoch, Offset: 1}, 0)
	if err != nil || latest.Offset != 5 || len(pubs) != 2 || pubs[0].Position.Offset != 3 || pubs[1].Position.Offset != 5 {
		t.Fatalf("History of a after 1: %+v, %v, %v; want offsets 3 and 5", pubs, latest, err)
	}
}

func latestOf(t testing.TB, b pushwire.Broker, topic string) pushwire.Position {
	t.Helper()
	_, pos, err := b.History(bg, topic, pushwire.Position{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// Publications trimmed from the front of the stream (its byte limit, here)
// are a gap even for a topic below its own limit.
func TestTrimmedByStreamBytes(t *testing.T) {
	b := embedded(t, natsbroker.Options{MaxBytes: 8 << 10})
	a1 := publish(t, b, "a", "a1")
	publish(t, b, "a", "a2")
	if got, _, err := history(t, b, "a", a1); err != nil || fmt.Sprint(got) != "[a2]" {
		t.Fatalf("before the flood: %v, %v", got, err)
	}
	big := string(bytes.Repeat([]byte{'x'}, 1000))
	var last pushwire.Position
	for range 30 {
		last = publish(t, b, "flood", big)
	}
	got, lat, err := history(t, b, "a", a1)
	if !errors.Is(err, pushwire.ErrUnrecoverable) {
		t.Fatalf("after a2 was trimmed: %v, %v; want ErrUnrecoverable", got, err)
	}
	// a keeps nothing: its latest position is the stream's last.
	if lat != last {
		t.Errorf("latest of a %v, want the stream's last %v", lat, last)
	}
	// A client at that position resumes: nothing after it is gone.
	a3 := publish(t, b, "a", "a3")
	if pubs, _, err := b.History(bg, "a", lat, 0); err != nil || len(pubs) != 1 || pubs[0].Position != a3 {
		t.Errorf("from the stream's last: %+v, %v; want a3 at %v", pubs, err, a3)
	}
	if got, _, err := history(t, b, "flood", pushwire.Position{Epoch: last.Epoch, Offset: last.Offset - 1}); err != nil || len(got) != 1 {
		t.Errorf("flood after its last but one: %d, %v", len(got), err)
	}
}

// Publications expire after MaxAge: a position whose successors expired is
// a gap; one with no successor is not, even once its own publication is
// gone.
func TestTrimmedByAge(t *testing.T) {
	b := embedded(t, natsbroker.Options{History: pushwire.History{MaxAge: time.Second}})
	a1 := publish(t, b, "a", "a1")
	a2 := publish(t, b, "a", "a2")
	if got, _, err := history(t, b, "a", a1); err != nil || fmt.Sprint(got) != "[a2]" {
		t.Fatalf("before expiry: %v, %v", got, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := history(t, b, "a", a1)
		if errors.Is(err, pushwire.ErrUnrecoverable) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("a1's successor never expired: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, lat, err := history(t, b, "a", a2); err != nil || len(got) != 0 || lat != a2 {
		t.Fatalf("from a2, the last, expired: %v, %v, %v; want nothing to replay and latest %v", got, lat, err, a2)
	}
	publish(t, b, "a", "a3")
	if got, _, err := history(t, b, "a", a2); err != nil || fmt.Sprint(got) != "[a3]" {
		t.Fatalf("from a2 after a3: %v, %v", got, err)
	}
}

// A stream deleted and created again is a new epoch: positions of the old
// one are unrecoverable, on the broker that saw it go and on a new one.
func TestRecreatedStreamIsNewEpoch(t *testing.T) {
	ns := natsServer(t, "solo", server.ClusterOpts{}, nil)
	b1 := connect(t, ns, natsbroker.Options{})
	old := publish(t, b1, "t", "old")
	if err := jsOf(t, ns).DeleteStream(bg, natsbroker.DefaultStream); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // creation times in different nanoseconds
	b2 := connect(t, ns, natsbroker.Options{})
	pos := publish(t, b2, "t", "new")
	if pos.Epoch == old.Epoch || pos.Offset != 1 {
		t.Fatalf("after recreation: %v, before: %v; want a new epoch from offset 1", pos, old)
	}
	for i, b := range []*natsbroker.Broker{b1, b2} {
		_, lat, err := history(t, b, "t", old)
		if !errors.Is(err, pushwire.ErrUnrecoverable) || lat != pos {
			t.Errorf("broker %d: History from the old epoch: %v, %v; want ErrUnrecoverable and %v", i+1, lat, err, pos)
		}
	}
	if again := publish(t, b1, "t", "again"); again.Epoch != pos.Epoch {
		t.Errorf("the first broker publishes at %v, want epoch %q", again, pos.Epoch)
	}
}

// An embedded broker's history survives a restart on the same directory,
// epoch and offsets alike.
func TestEmbeddedRestart(t *testing.T) {
	dir := t.TempDir()
	b, err := natsbroker.Embedded(bg, dir, natsbroker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p1 := publish(t, b, "t", "one")
	publish(t, b, "t", "two")
	b.Close()
	b, err = natsbroker.Embedded(bg, dir, natsbroker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, _, err := history(t, b, "t", p1); err != nil || fmt.Sprint(got) != "[two]" {
		t.Fatalf("after the restart: %v, %v; want [two]", got, err)
	}
	if p3 := publish(t, b, "t", "three"); p3.Epoch != p1.Epoch || p3.Offset != 3 {
		t.Fatalf("after the restart, published at %v; want %q, 3", p3, p1.Epoch)
	}
}

// One consumer per topic per node, whatever the number of subscribers; the
// last cancel deletes it.
func TestOneConsumerPerTopic(t *testing.T) {
	ns := natsServer(t, "solo", server.ClusterOpts{}, nil)
	b := connect(t, ns, natsbroker.Options{})
	js := jsOf(t, ns)
	consumers := func() int { return consumerCount(t, js) }
	var recs []*recorder
	var cancels []func()
	for range 3 {
		r := newRecorder()
		cancel, err := b.Subscribe("t", r.deliver)
		if err != nil {
			t.Fatal(err)
		}
		recs, cancels = append(recs, r), append(cancels, cancel)
	}
	other := newRecorder()
	cancelOther, err := b.Subscribe("u", other.deliver)
	if err != nil {
		t.Fatal(err)
	}
	if n := consumers(); n != 2 {
		t.Fatalf("%d consumers for 3 subscriptions to t and one to u, want 2", n)
	}
	cancels[0]()
	cancels[1]()
	publish(t, b, "t", "x")
	recs[2].wait(t, 1, 10*time.Second)
	if n := consumers(); n != 2 {
		t.Fatalf("%d consumers with one subscription left to t, want 2", n)
	}
	cancels[2]()
	cancelOther()
	deadline := time.Now().Add(10 * time.Second)
	for consumers() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d consumers left after every cancel", consumers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(recs[0].all()) != 0 || len(recs[1].all()) != 0 {
		t.Error("cancelled subscriptions received a publication")
	}
}

// consumerCount returns how many consumers the broker's stream has.
func consumerCount(t testing.TB, js jetstream.JetStream) int {
	t.Helper()
	s, err := js.Stream(bg, natsbroker.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(bg)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Consumers
}

// History reads a gap of several fetches whole and in order, and deletes
// the consumer it read it through before it returns.
func TestHistoryLeavesNoConsumer(t *testing.T) {
	ns := natsServer(t, "solo", server.ClusterOpts{}, nil)
	b := connect(t, ns, natsbroker.Options{})
	since := latestOf(t, b, "t")
	const n = 600 // past a few batches
	for i := range n {
		publish(t, b, "t", fmt.Sprint(i))
	}
	got, _, err := history(t, b, "t", since)
	if err != nil || len(got) != n {
		t.Fatalf("History: %d publications, %v", len(got), err)
	}
	for i, p := range got {
		if p != fmt.Sprint(i) {
			t.Fatalf("publication %d is %q", i, p)
		}
	}
	if n := consumerCount(t, jsOf(t, ns)); n != 0 {
		t.Fatalf("%d consumers after History, want 0", n)
	}
}

// A consumer that disappears (its NATS server gone; here deleted behind
// the broker's back) is replaced from where it stopped: what was published
// meanwhile arrives, once and in order.
func TestConsumerReplaced(t *testing.T) {
	ns := natsServer(t, "solo", server.ClusterOpts{}, nil)
	b := connect(t, ns, natsbroker.Options{Heartbeat: 500 * time.Millisecond})
	js := jsOf(t, ns)
	r := subscribed(t, b, "t")
	for i := range 10 {
		publish(t, b, "t", fmt.Sprint(i))
	}
	r.wait(t, 10, 10*time.Second)
	s, err := js.Stream(bg, natsbroker.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	names := s.ConsumerNames(bg)
	deleted := 0
	for name := range names.Name() {
		if err := s.DeleteConsumer(bg, name); err != nil {
			t.Fatal(err)
		}
		deleted++
	}
	if deleted != 1 {
		t.Fatalf("deleted %d consumers, want the one", deleted)
	}
	for i := 10; i < 20; i++ {
		publish(t, b, "t", fmt.Sprint(i))
	}
	r.wait(t, 20, 10*time.Second)
	time.Sleep(100 * time.Millisecond) // a repeat would be here
	got := r.all()
	for i, p := range got {
		if string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("publication %d is %q", i, p.Payload)
		}
	}
	if len(got) != 20 {
		t.Fatalf("received %d publications, want 20", len(got))
	}
}

// Subscriptions to one topic come and go while it is published: no panic,
// no race, and the subscription that stays receives everything in order.
func TestSubscriptionChurn(t *testing.T) {
	b := embedded(t, natsbroker.Options{})
	stay := subscribed(t, b, "t")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, topic := range []string{"t", "u"} {
					cancel, err := b.Subscribe(topic, func(pushwire.Publication) {})
					if err != nil {
						t.Error(err)
						return
					}
					cancel()
				}
			}
		})
	}
	const n = 200
	for i := range n {
		publish(t, b, "t", fmt.Sprint(i))
	}
	close(stop)
	wg.Wait()
	got := stay.wait(t, n, 10*time.Second)
	for i, p := range got {
		if string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("publication %d is %q", i, p.Payload)
		}
	}
}

// When NATS is gone, every call returns an error within its context or the
// broker's timeout, and Close returns.
func TestBoundedWithoutNATS(t *testing.T) {
	ns := natsServer(t, "solo", server.ClusterOpts{}, nil)
	b := connect(t, ns, natsbroker.Options{Timeout: time.Second})
	cancel, err := b.Subscribe("t", func(pushwire.Publication) {})
	if err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	bounded := func(name string, limit time.Duration, call func() error) {
		t.Helper()
		start := time.Now()
		err := call()
		if err == nil {
			t.Errorf("%s succeeded without NATS", name)
		}
		if d := time.Since(start); d > limit {
			t.Errorf("%s took %v, want at most %v", name, d, limit)
		}
	}
	bounded("Publish", 3*time.Second, func() error {
		ctx, cancel := context.WithTimeout(bg, 500*time.Millisecond)
		defer cancel()
		_, err := b.Publish(ctx, "t", pushwire.Text, []byte("x"))
		return err
	})
	bounded("History", 3*time.Second, func() error {
		_, _, err := b.History(bg, "t", pushwire.Position{}, 0)
		return err
	})
	bounded("Subscribe", 3*time.Second, func() error {
		_, err := b.Subscribe("u", func(pushwire.Publication) {})
		return err
	})
	cancel()
	bounded("Close", 3*time.Second, func() error {
		b.Close()
		return errors.New("closed")
	})
}

// Configuration and arguments that cannot work are errors, not panics.
func TestInvalidUse(t *testing.T) {
	for _, opts := range []natsbroker.Options{
		{Subject: "a.*"},
		{Subject: "a..b"},
		{Subject: "a b"},
		{Stream: "a.b"},
		{Heartbeat: 100 * time.Millisecond},
	} {
		if b, err := natsbroker.Embedded(bg, t.TempDir(), opts); err == nil {
			b.Close()
			t.Errorf("Embedded with %+v: no error", opts)
		}
	}
	if _, err := natsbroker.Embedded(bg, "", natsbroker.Options{}); err == nil {
		t.Error("Embedded without a directory: no error")
	}
	ctx, cancel := context.WithTimeout(bg, time.Second)
	defer cancel()
	if _, err := natsbroker.Connect(ctx, "nats://127.0.0.1:1", natsbroker.Options{}); err == nil {
		t.Error("Connect to no server: no error")
	}
	b := embedded(t, natsbroker.Options{})
	if _, err := b.Publish(bg, "", pushwire.Text, nil); !errors.Is(err, pushwire.ErrTopic) {
		t.Errorf("Publish to the empty topic: %v", err)
	}
	if _, err := b.Subscribe("", func(pushwire.Publication) {}); !errors.Is(err, pushwire.ErrTopic) {
		t.Errorf("Subscribe to the empty topic: %v", err)
	}
	if _, err := b.Publish(bg, "t", pushwire.MessageType(9), nil); err == nil {
		t.Error("Publish of an invalid type: no error")
	}
	big := make([]byte, 2<<20) // past NATS's default max_payload
	if _, err := b.Publish(bg, "t", pushwire.Binary, big); err == nil {
		t.Error("Publish past the maximum payload: no error")
	}
}

// A foreign publisher's message is binary unless it says it is text and
// is UTF-8: a text message that is not would make a WebSocket client fail
// its connection.
func TestForeignPublisherTypes(t *testing.T) {
	ns := natsServer(t, "solo", server.ClusterOpts{}, nil)
	b := connect(t, ns, natsbroker.Options{})
	js := jsOf(t, ns)
	r := subscribed(t, b, "t")
	since := latestOf(t, b, "t")
	subject := natsbroker.DefaultSubject + ".dA" // base64url("t")
	rows := []struct {
		header, data string
		want         pushwire.MessageType
	}{
		{"", "plain bytes", pushwire.Binary},
		{"text", "héllo", pushwire.Text},
		{"text", "h\xffllo", pushwire.Binary},
		{"binary", "\x00\x01", pushwire.Binary},
	}
	for _, row := range rows {
		m := nats.NewMsg(subject)
		m.Data = []byte(row.data)
		if row.header != "" {
			m.Header.Set("Pushwire-Type", row.header)
		}
		if _, err := js.PublishMsg(bg, m); err != nil {
			t.Fatal(err)
		}
	}
	pubs, _, err := b.History(bg, "t", since, 0)
	if err != nil || len(pubs) != len(rows) {
		t.Fatalf("History: %d publications, %v", len(pubs), err)
	}
	live := r.wait(t, len(rows), 10*time.Second)
	for i, row := range rows {
		for _, p := range []pushwire.Publication{pubs[i], live[i]} {
			if p.Type != row.want || string(p.Payload) != row.data {
				t.Errorf("%q with type %q: %v %q, want %v", row.data, row.header, p.Type, p.Payload, row.want)
			}
		}
	}
}
