package natsbroker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/pushwire/pushwire"
)

// History returns the publications on topic after since, at most limit of
// them (0: no limit), and the topic's latest position: that of its last
// publication, or the stream's last sequence if it keeps none. It returns
// pushwire.ErrUnrecoverable if since is of another epoch or publications
// after it may have been trimmed (the package doc gives the rule).
func (b *Broker) History(ctx context.Context, topic string, since pushwire.Position, limit int) ([]pushwire.Publication, pushwire.Position, error) {
	subject, err := b.open(topic)
	if err != nil {
		return nil, pushwire.Position{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	// The stream's last sequence is read before the topic's: a publication
	// on the topic that the first counts is found by the second.
	info, err := b.info(ctx, "")
	if err != nil {
		return nil, pushwire.Position{}, err
	}
	epoch := epochOf(info)
	last, err := b.lastOf(ctx, subject)
	if err != nil {
		return nil, pushwire.Position{}, err
	}
	latest := pushwire.Position{Epoch: epoch, Offset: last}
	if last == 0 {
		latest.Offset = info.State.LastSeq
	}
	if since == (pushwire.Position{}) {
		return nil, latest, nil
	}
	if since.Epoch != epoch || since.Offset > latest.Offset {
		return nil, latest, pushwire.ErrUnrecoverable
	}
	var pubs []pushwire.Publication
	fetched := false
	for seq := since.Offset + 1; seq <= last && (limit <= 0 || len(pubs) < limit); {
		if len(pubs) == directReads && !fetched {
			fetched = true
			n := 0
			if limit > 0 {
				n = limit - len(pubs)
			}
			pubs = b.fetch(ctx, pubs, topic, subject, epoch, seq, last, n)
			seq = pubs[len(pubs)-1].Position.Offset + 1
			continue
		}
		m, err := b.getMsg(ctx, seq, subject)
		if err != nil {
			return nil, pushwire.Position{}, err
		}
		if m == nil || m.Sequence > last {
			break
		}
		pubs = append(pubs, pushwire.Publication{
			Topic:    topic,
			Position: pushwire.Position{Epoch: epoch, Offset: m.Sequence},
			Type:     typeOf(m.Header, m.Data),
			Payload:  m.Data,
		})
		seq = m.Sequence + 1
	}
	// Checked after the reading: a trim during it is seen.
	ok, err := b.covered(ctx, subject, since)
	if err != nil {
		return nil, pushwire.Position{}, err
	}
	if !ok {
		return nil, latest, pushwire.ErrUnrecoverable
	}
	return pubs, latest, nil
}

// directReads is how many publications History reads a request each
// before it reads the rest through a consumer, which takes three requests
// (create, fetch, delete) for up to fetchBatch: a resume after a short
// break lacks a few.
const (
	directReads = 8
	fetchBatch  = 256 // a replay's chunk: one fetch
)

// fetch appends to pubs the publications on subject from seq to last, at
// most n of them (0: no limit), read through an ephemeral consumer,
// fetchBatch a request. It may stop short of last, on a failure or on a
// replica behind the stream's leader, whose reads History's are: the
// caller reads the rest a message at a time, which works while a cluster
// is between leaders, so each request here has one attempt, not History's
// whole time.
func (b *Broker) fetch(ctx context.Context, pubs []pushwire.Publication, topic, subject, epoch string, seq, last uint64, n int) []pushwire.Publication {
	cfg := jetstream.ConsumerConfig{
		Name:              nuid.Next(),
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       seq,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     subject,
		InactiveThreshold: time.Minute, // if the deletion below fails
		Replicas:          1,
		MemoryStorage:     true,
	}
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	cons, err := b.js.CreateOrUpdateConsumer(actx, b.opts.Stream, cfg)
	cancel()
	if err != nil {
		return pubs
	}
	defer b.deleteConsumer(b.ctx, cfg.Name)
	// What it holds from seq on: fetches of that many end without waiting.
	pending := int(min(cons.CachedInfo().NumPending, uint64(last-seq+1)))
	if n <= 0 || n > pending {
		n = pending
	}
	for n > 0 {
		k := min(n, fetchBatch)
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		batch, err := cons.Fetch(k, jetstream.FetchContext(actx))
		if err != nil {
			cancel()
			break
		}
		got := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil || md.Sequence.Stream < seq || md.Sequence.Stream > last {
				break
			}
			pubs = append(pubs, pushwire.Publication{
				Topic:    topic,
				Position: pushwire.Position{Epoch: epoch, Offset: md.Sequence.Stream},
				Type:     typeOf(m.Headers(), m.Data()),
				Payload:  m.Data(),
			})
			seq = md.Sequence.Stream + 1
			got++
		}
		cancel()
		if got < k {
			break
		}
		n -= k
	}
	return pubs
}

// lastOf returns the sequence of the last message on subject, 0 if none.
func (b *Broker) lastOf(ctx context.Context, subject string) (uint64, error) {
	var m *jetstream.RawStreamMsg
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = b.stream.GetLastMsgForSubject(ctx, subject)
		return err
	})
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, nil
	case err != nil:
		return 0, b.fail("reading the topic's last publication", ctx, err)
	}
	return m.Sequence, nil
}

// getMsg returns the first message at or after seq, on subject if it is not
// empty; nil if there is none.
func (b *Broker) getMsg(ctx context.Context, seq uint64, subject string) (*jetstream.RawStreamMsg, error) {
	var opts []jetstream.GetMsgOpt
	if subject != "" {
		opts = append(opts, jetstream.WithGetMsgSubject(subject))
	}
	var m *jetstream.RawStreamMsg
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = b.stream.GetMsg(ctx, seq, opts...)
		return err
	})
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, nil
	case err != nil:
		return nil, b.fail("reading history", ctx, err)
	}
	return m, nil
}

// covered reports whether the stream still holds every message on subject
// after since, of the current epoch. Limits remove a subject's oldest
// messages (MaxMsgsPerSubject) and the stream's oldest (MaxAge, MaxBytes),
// never others: so if the message at since is still there on subject, so
// is every later one; and if nothing after since left the front of the
// stream and the subject is below its limit, no later one on the subject
// was ever trimmed, since a trim by the limit leaves the subject full.
func (b *Broker) covered(ctx context.Context, subject string, since pushwire.Position) (bool, error) {
	if since.Offset > 0 {
		m, err := b.getMsg(ctx, since.Offset, "")
		if err != nil {
			return false, err
		}
		if m != nil && m.Sequence == since.Offset && m.Subject == subject {
			return true, nil
		}
	}
	info, err := b.info(ctx, subject)
	if err != nil {
		return false, err
	}
	if epochOf(info) != since.Epoch {
		return false, nil
	}
	limit := info.Config.MaxMsgsPerSubject
	held := info.State.Subjects[subject]
	return since.Offset+1 >= info.State.FirstSeq && (limit <= 0 || int64(held) < limit), nil
}
