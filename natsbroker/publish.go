package natsbroker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/pushwire/pushwire"
)

// Publish stores a publication in topic's history and returns its
// position; every node's subscriptions receive it from the stream. A
// publish interrupted by a failover is sent again with the same message id,
// within ctx (or Options.Timeout), and stored once. payload is not retained.
func (b *Broker) Publish(ctx context.Context, topic string, typ pushwire.MessageType, payload []byte) (pushwire.Position, error) {
	subject, err := b.open(topic)
	if err != nil {
		return pushwire.Position{}, err
	}
	name := typeText
	switch typ {
	case pushwire.Text:
	case pushwire.Binary:
		name = typeBinary
	default:
		return pushwire.Position{}, errors.New("natsbroker: invalid message type")
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	msg := &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{typeHeader: {name}}}
	id := nuid.Next()
	var ack *jetstream.PubAck
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		ack, err = b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(b.opts.Stream))
		return err
	})
	if err != nil {
		return pushwire.Position{}, b.fail("publishing", ctx, err)
	}
	return pushwire.Position{Epoch: b.currentEpoch(), Offset: ack.Sequence}, nil
}

// attemptTimeout bounds one attempt of a call that retry repeats: a request
// or its answer lost with a NATS server is sent again after it.
const attemptTimeout = 2 * time.Second

// retry runs op until it succeeds, fails with an error that waiting does
// not cure, or ctx ends. Each attempt has attemptTimeout at most. Timeouts,
// the errors of a cluster between two leaders, and the errors in also are
// retried.
func retry(ctx context.Context, op func(context.Context) error, also ...error) error {
	wait := 20 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := op(actx)
		timedOut := actx.Err() == context.DeadlineExceeded
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		if !timedOut && !transient(err, also) {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// transient reports whether err may go away on its own: no responder, a
// timeout, a cluster electing a leader, a publish still in flight.
func transient(err error, also []error) bool {
	for _, e := range also {
		if errors.Is(err, e) {
			return true
		}
	}
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrConnectionReconnecting) {
		return true
	}
	var je jetstream.JetStreamError
	if errors.As(err, &je) && je.APIError() != nil {
		switch ae := je.APIError(); {
		case ae.Code == 503: // JetStream temporarily unavailable, no leader
			return true
		case ae.ErrorCode == 10009: // not the leader
			return true
		case ae.ErrorCode == 10158: // this message id's publish is in process
			return true
		}
	}
	return false
}
