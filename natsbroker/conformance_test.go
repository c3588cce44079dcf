package natsbroker_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/leaktest"
	"github.com/pushwire/pushwire/natsbroker"
)

// maker returns a broker keeping h's history, closed when the test ends.
type maker func(t *testing.T, h pushwire.History) pushwire.Broker

// The Broker contract, as broker.go states it, run against MemoryBroker
// (the suite's oracle: what it asserts, the default broker does) and
// against the NATS broker.
func TestConformance(t *testing.T) {
	makers := []struct {
		name string
		make maker
	}{
		{"memory", func(t *testing.T, h pushwire.History) pushwire.Broker {
			b := pushwire.NewMemoryBroker(h)
			t.Cleanup(func() { b.Close() })
			return b
		}},
		{"nats", func(t *testing.T, h pushwire.History) pushwire.Broker {
			t.Cleanup(leaktest.Check(t)) // after the broker's Close
			return embedded(t, natsbroker.Options{History: h})
		}},
	}
	for _, m := range makers {
		t.Run(m.name, func(t *testing.T) {
			t.Run("PublishSubscribeOrder", func(t *testing.T) { testOrder(t, m.make) })
			t.Run("SubscribeFromNow", func(t *testing.T) { testFromNow(t, m.make) })
			t.Run("Cancel", func(t *testing.T) { testCancel(t, m.make) })
			t.Run("History", func(t *testing.T) { testHistory(t, m.make) })
			t.Run("QuietTopic", func(t *testing.T) { testQuietTopic(t, m.make) })
			t.Run("OddTopicNames", func(t *testing.T) { testOddNames(t, m.make) })
			t.Run("Payloads", func(t *testing.T) { testPayloads(t, m.make) })
			t.Run("Close", func(t *testing.T) { testClose(t, m.make) })
		})
	}
}

// Concurrent publishers on two topics: every subscription of a topic
// receives each of its publications once, in offset order, with the
// position Publish returned; none of the other topic's.
func testOrder(t *testing.T, newBroker maker) {
	b := newBroker(t, pushwire.History{})
	subs := []*recorder{newRecorder(), newRecorder()}
	for _, r := range subs {
		cancel, err := b.Subscribe("t", r.deliver)
		if err != nil {
			t.Fatal(err)
		}
		defer cancel()
	}
	other := subscribed(t, b, "u")

	const publishers, each = 4, 50
	var mu sync.Mutex
	published := map[uint64]string{} // offset on t: payload
	var wg sync.WaitGroup
	for g := range publishers {
		wg.Go(func() {
			var prev uint64
			for i := range each {
				payload := fmt.Sprintf("%d-%d", g, i)
				pos, err := b.Publish(bg, "t", pushwire.Text, []byte(payload))
				if err != nil {
					t.Error(err)
					return
				}
				if pos.Offset <= prev {
					t.Errorf("publisher %d: offset %d after %d", g, pos.Offset, prev)
				}
				prev = pos.Offset
				mu.Lock()
				published[pos.Offset] = payload
				mu.Unlock()
				if i%10 == 0 {
					if _, err := b.Publish(bg, "u", pushwire.Binary, []byte{byte(i)}); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, r := range subs {
		got := r.wait(t, publishers*each, 10*time.Second)
		var prev uint64
		for _, p := range got {
			if p.Topic != "t" || p.Type != pushwire.Text || p.Position.Offset <= prev {
				t.Fatalf("subscription %d: %+v after offset %d", i, p, prev)
			}
			prev = p.Position.Offset
			if want, ok := published[p.Position.Offset]; !ok || want != string(p.Payload) {
				t.Fatalf("subscription %d: %q at %d, published %q there", i, p.Payload, p.Position.Offset, want)
			}
		}
		if len(got) != publishers*each {
			t.Fatalf("subscription %d: %d publications, want %d", i, len(got), publishers*each)
		}
	}
	got := other.wait(t, publishers*each/10, 10*time.Second)
	for _, p := range got {
		if p.Topic != "u" || p.Type != pushwire.Binary {
			t.Fatalf("subscription to u: %+v", p)
		}
	}
	if len(got) != publishers*each/10 {
		t.Fatalf("subscription to u: %d publications, want %d", len(got), publishers*each/10)
	}
}

// A subscription receives what is published after Subscribe returns, and
// nothing published before.
func testFromNow(t *testing.T, newBroker maker) {
	b := newBroker(t, pushwire.History{})
	if _, err := b.Publish(bg, "t", pushwire.Text, []byte("before")); err != nil {
		t.Fatal(err)
	}
	r := subscribed(t, b, "t")
	pos, err := b.Publish(bg, "t", pushwire.Text, []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	r.wait(t, 1, 10*time.Second)
	time.Sleep(50 * time.Millisecond) // "before", misdelivered, would be here
	if got := r.all(); len(got) != 1 || string(got[0].Payload) != "after" || got[0].Position != pos {
		t.Fatalf("received %+v, want only %q at %v", got, "after", pos)
	}
}

// cancel returns once no deliver call runs or will run, even while
// publications stream in; a second cancel does nothing.
func testCancel(t *testing.T, newBroker maker) {
	b := newBroker(t, pushwire.History{})
	var cancelled, late, calls atomic.Int64
	cancel, err := b.Subscribe("t", func(pushwire.Publication) {
		calls.Add(1)
		time.Sleep(time.Millisecond) // a slow deliver: cancel must wait for it
		if cancelled.Load() == 1 {
			late.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	keep := newRecorder() // another subscriber keeps the topic alive
	cancelKeep, err := b.Subscribe("t", keep.deliver)
	if err != nil {
		t.Fatal(err)
	}
	defer cancelKeep()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if _, err := b.Publish(bg, "t", pushwire.Text, []byte{'a' + byte(i%26)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for calls.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	cancelled.Store(1)
	cancel()
	<-done
	keep.wait(t, 200, 10*time.Second)
	if n := late.Load(); n > 0 {
		t.Fatalf("%d deliver calls after cancel returned", n)
	}
}

// History after a position: what follows, at most limit, the latest
// position; ErrUnrecoverable once a publication after the position was
// trimmed, for another epoch, or for a position not reached yet. Topic a's
// publications interleave with other topics' (each with one, never
// trimmed): offsets need not be contiguous, and the front of a shared
// history stays before a's trimmed publications. Its history holds more
// than a handful, which a broker may read otherwise than a few.
func testHistory(t *testing.T, newBroker maker) {
	const kept, total = 30, 33
	b := newBroker(t, pushwire.History{Messages: kept})
	var a []pushwire.Position // a[i]: the position of "a<i>"
	for i := range total {
		pos, err := b.Publish(bg, "a", pushwire.Text, fmt.Appendf(nil, "a%d", i))
		if err != nil {
			t.Fatal(err)
		}
		a = append(a, pos)
		if _, err := b.Publish(bg, fmt.Sprintf("b%d", i), pushwire.Text, []byte("b")); err != nil {
			t.Fatal(err)
		}
	}
	epoch, last := a[0].Epoch, total-1
	for _, tc := range []struct {
		name     string
		since    pushwire.Position
		limit    int
		from, to int // indices of a, to included; none with err
		err      error
	}{
		{"zero position", pushwire.Position{}, 0, 0, -1, nil},
		{"as many behind as kept", a[total-kept-1], 0, total - kept, last, nil},
		{"two behind", a[last-2], 0, last - 1, last, nil},
		{"with a limit", a[total-kept-1], 2, total - kept, total - kept + 1, nil},
		{"with a limit past a few", a[total-kept-1], 20, total - kept, total - kept + 19, nil},
		{"up to date", a[last], 0, 0, -1, nil},
		{"trimmed after the position", a[total-kept-2], 0, 0, -1, pushwire.ErrUnrecoverable},
		{"trimmed from the start", pushwire.Position{Epoch: epoch}, 0, 0, -1, pushwire.ErrUnrecoverable},
		{"another epoch", pushwire.Position{Epoch: epoch + "x", Offset: a[last-1].Offset}, 0, 0, -1, pushwire.ErrUnrecoverable},
		{"not reached yet", pushwire.Position{Epoch: epoch, Offset: a[last].Offset + 1000}, 0, 0, -1, pushwire.ErrUnrecoverable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pubs, latest, err := b.History(bg, "a", tc.since, tc.limit)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if latest != a[last] {
				t.Errorf("latest %v, want %v", latest, a[last])
			}
			if len(pubs) != tc.to-tc.from+1 {
				t.Fatalf("%d publications %+v, want a%d to a%d", len(pubs), pubs, tc.from, tc.to)
			}
			for i, p := range pubs {
				n := tc.from + i
				if p.Topic != "a" || p.Position != a[n] || p.Type != pushwire.Text || string(p.Payload) != fmt.Sprintf("a%d", n) {
					t.Fatalf("publication %d: %+v, want a%d at %v", i, p, n, a[n])
				}
			}
		})
	}
}

// A topic without publications has a latest position of the current epoch
// from which a client resumes: what is published next follows it.
func testQuietTopic(t *testing.T, newBroker maker) {
	b := newBroker(t, pushwire.History{})
	other, err := b.Publish(bg, "other", pushwire.Text, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	pubs, latest, err := b.History(bg, "quiet", pushwire.Position{}, 0)
	if err != nil || len(pubs) != 0 || latest.Epoch != other.Epoch {
		t.Fatalf("History of a quiet topic: %v, %v, %v; want no publication at epoch %q", pubs, latest, err, other.Epoch)
	}
	pubs, _, err = b.History(bg, "quiet", latest, 0)
	if err != nil || len(pubs) != 0 {
		t.Fatalf("History from its latest position: %v, %v", pubs, err)
	}
	pos, err := b.Publish(bg, "quiet", pushwire.Text, []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	pubs, _, err = b.History(bg, "quiet", latest, 0)
	if err != nil || len(pubs) != 1 || pubs[0].Position != pos || string(pubs[0].Payload) != "first" {
		t.Fatalf("History from the quiet position: %+v, %v; want %q at %v", pubs, err, "first", pos)
	}
}

// Topic names are opaque: dots, wildcards, spaces and the like name
// topics of their own, which see nothing of each other.
func testOddNames(t *testing.T, newBroker maker) {
	b := newBroker(t, pushwire.History{})
	names := []string{"a", "a.b", "a.*", "a.>", "*", ">", "a b", " ", "ü/ñ 东京", "$JS.API.STREAM.INFO.PUSHWIRE", "_INBOX.x", "a\x7fb", strings.Repeat("long.", 51)}
	recs := map[string]*recorder{}
	for _, name := range names {
		r := newRecorder()
		cancel, err := b.Subscribe(name, r.deliver)
		if err != nil {
			t.Fatalf("Subscribe(%q): %v", name, err)
		}
		defer cancel()
		recs[name] = r
	}
	first := map[string]pushwire.Position{}
	second := map[string]pushwire.Position{}
	for _, name := range names {
		var err error
		if first[name], err = b.Publish(bg, name, pushwire.Text, []byte("1 "+name)); err != nil {
			t.Fatalf("Publish(%q): %v", name, err)
		}
		if second[name], err = b.Publish(bg, name, pushwire.Text, []byte("2 "+name)); err != nil {
			t.Fatalf("Publish(%q): %v", name, err)
		}
	}
	for _, name := range names {
		got := recs[name].wait(t, 2, 10*time.Second)
		if len(got) != 2 || string(got[0].Payload) != "1 "+name || string(got[1].Payload) != "2 "+name || got[1].Topic != name {
			t.Errorf("subscription to %q received %+v", name, got)
		}
		pubs, latest, err := b.History(bg, name, first[name], 0)
		if err != nil || latest != second[name] || len(pubs) != 1 || string(pubs[0].Payload) != "2 "+name || pubs[0].Topic != name {
			t.Errorf("History(%q): %+v, %v, %v", name, pubs, latest, err)
		}
	}
	time.Sleep(50 * time.Millisecond) // anything misrouted has arrived
	for _, name := range names {
		if got := recs[name].all(); len(got) != 2 {
			t.Errorf("subscription to %q received %d publications, want 2", name, len(got))
		}
	}
}

// Types and payloads come back as published, whatever the publisher does
// with its slice after.
func testPayloads(t *testing.T, newBroker maker) {
	b := newBroker(t, pushwire.History{})
	r := subscribed(t, b, "t")
	cases := []struct {
		typ     pushwire.MessageType
		payload []byte
	}{
		{pushwire.Text, []byte("héllo")},
		{pushwire.Binary, []byte{0, 0xff, 0xfe, '\n', 0}},
		{pushwire.Text, []byte{}},
		{pushwire.Binary, bytes.Repeat([]byte{7}, 64<<10)},
	}
	first := pushwire.Position{}
	for i, c := range cases {
		buf := bytes.Clone(c.payload)
		pos, err := b.Publish(bg, "t", c.typ, buf)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = pos
		}
		for j := range buf {
			buf[j] = '!'
		}
	}
	live := r.wait(t, len(cases), 10*time.Second)
	hist, _, err := b.History(bg, "t", first, 0)
	if err != nil {
		t.Fatal(err)
	}
	hist = append([]pushwire.Publication{live[0]}, hist...) // History starts after first
	for i, c := range cases {
		for _, got := range []pushwire.Publication{live[i], hist[i]} {
			if got.Type != c.typ || !bytes.Equal(got.Payload, c.payload) {
				t.Errorf("publication %d: type %v, %d bytes; want type %v, %d bytes", i, got.Type, len(got.Payload), c.typ, len(c.payload))
			}
		}
	}
}

// After Close every call fails with ErrBrokerClosed; a cancel from before
// returns; Close again does nothing.
func testClose(t *testing.T, newBroker maker) {
	b := newBroker(t, pushwire.History{})
	r := newRecorder()
	cancel, err := b.Subscribe("t", r.deliver)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(bg, "t", pushwire.Text, []byte("x")); !errors.Is(err, pushwire.ErrBrokerClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if _, err := b.Subscribe("t", r.deliver); !errors.Is(err, pushwire.ErrBrokerClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if _, _, err := b.History(bg, "t", pushwire.Position{}, 0); !errors.Is(err, pushwire.ErrBrokerClosed) {
		t.Errorf("History after Close: %v", err)
	}
	cancel()
	if err := b.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
	if got := r.all(); len(got) != 0 {
		t.Errorf("received %+v", got)
	}
}
