package pushwire_test

import (
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
