package pushwire_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/internal/leaktest"
)

// A MemoryBroker's topics do not wait for each other: while a delivery on
// one topic is held up, another topic's publications, subscriptions and
// history go on.
func TestMemoryBrokerTopicsApart(t *testing.T) {
	t.Cleanup(leaktest.Check(t))
	b := pushwire.NewMemoryBroker(pushwire.History{})
	defer b.Close()
	entered, held := make(chan struct{}), make(chan struct{})
	cancel, err := b.Subscribe("held", func(pushwire.Publication) {
		close(entered)
		<-held
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	release := sync.OnceFunc(func() { close(held) })
	defer release() // first, so that a failing test ends
	published := make(chan error, 1)
	go func() {
		_, err := b.Publish(bg, "held", pushwire.Text, []byte("x"))
		published <- err
	}()
	<-entered
	done := make(chan error, 1)
	go func() {
		got := make(chan pushwire.Publication, 1)
		cancel, err := b.Subscribe("free", func(p pushwire.Publication) { got <- p })
		if err != nil {
			done <- err
			return
		}
		defer cancel()
		pos, err := b.Publish(bg, "free", pushwire.Text, []byte("y"))
		if err != nil {
			done <- err
			return
		}
		if p := <-got; p.Position != pos || string(p.Payload) != "y" {
			t.Errorf("free got %+v, want y at %v", p, pos)
		}
		_, _, err = b.History(bg, "free", pushwire.Position{}, 0)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("another topic waited for the held delivery")
	}
	release()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

// A topic subscribed to and left, or asked for its history, with nothing
// published on it costs nothing after: names a client makes up do not
// pile up. One that was published on keeps its offsets.
func TestMemoryBrokerForgetsUnusedTopics(t *testing.T) {
	b := pushwire.NewMemoryBroker(pushwire.History{})
	defer b.Close()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	const n = 100_000
	for i := range n {
		name := fmt.Sprint("made-up-", i)
		cancel, err := b.Subscribe(name, func(pushwire.Publication) {})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, latest, err := b.History(bg, name+"-history", pushwire.Position{}, 0); err != nil || latest.Offset != 0 {
			t.Fatalf("History of an unknown topic: %v, %v", latest, err)
		}
	}
	if grew := int64(heap()) - int64(before); grew > 1<<20 {
		t.Errorf("the heap grew by %d bytes for %d unused topics", grew, n)
	}

	cancel, err := b.Subscribe("kept", func(pushwire.Publication) {})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.Publish(bg, "kept", pushwire.Text, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if pos, err := b.Publish(bg, "kept", pushwire.Text, []byte("x")); err != nil || pos.Offset != 4 {
		t.Fatalf("publication after the last subscriber left: %v, %v; want offset 4", pos, err)
	}
}
