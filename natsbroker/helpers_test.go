package natsbroker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/natsbroker"
)

var bg = context.Background()

// embedded returns an Embedded broker on a fresh directory, closed when the
// test ends.
func embedded(t testing.TB, opts natsbroker.Options) *natsbroker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	b, err := natsbroker.Embedded(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// subscribed returns a recorder subscribed to topic on b until the test
// ends.
func subscribed(t testing.TB, b pushwire.Broker, topic string) *recorder {
	t.Helper()
	r := newRecorder()
	cancel, err := b.Subscribe(topic, r.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return r
}

// recorder collects what a subscription receives; its deliver never blocks.
type recorder struct {
	mu   sync.Mutex
	pubs []pushwire.Publication
	more chan struct{}
}

func newRecorder() *recorder { return &recorder{more: make(chan struct{}, 1)} }

func (r *recorder) deliver(p pushwire.Publication) {
	r.mu.Lock()
	r.pubs = append(r.pubs, p)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

// wait returns what the recorder holds once it holds n publications, or
// fails the test after d.
func (r *recorder) wait(t testing.TB, n int, d time.Duration) []pushwire.Publication {
	t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		got := append([]pushwire.Publication(nil), r.pubs...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.more:
		case <-deadline:
			t.Fatalf("received %d publications of %d", len(got), n)
		}
	}
}

func (r *recorder) all() []pushwire.Publication {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pushwire.Publication(nil), r.pubs...)
}
