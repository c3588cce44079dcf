package longpoll

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pushwire/pushwire/conn"
)

// A session upgraded to a WebSocket carries the same numbered records as
// polls and sends do. Each WebSocket message is binary: the uvarint ack of
// its sender (the last sequence it received in order), then a batch, empty
// for an ack alone. Each side first sends its ack alone and sends records
// only once the peer's first message has said where to start; records
// already received are skipped, so what crossed on polls, on an earlier
// WebSocket or on this one arrives once, in order. A side that has been
// silent for a keepalive period sends its ack alone; one that hears nothing
// for three periods takes the WebSocket as dead and the session goes back
// to polling.

var (
	errStreamType = errors.New("longpoll: a text message on an upgraded session")
	errStreamAck  = errors.New("longpoll: malformed ack on an upgraded session")
	errStreamGap  = errors.New("longpoll: a gap in the records of an upgraded session")
)

// streamEnd says why stream returned.
type streamEnd int

const (
	streamBroken   streamEnd = iota // the WebSocket failed or went silent
	streamStopped                   // ctx ended: the caller moved on
	streamFinished                  // a close record crossed and was acknowledged
	streamEnded                     // the session ended here
)

// stream carries the session over ws until it ends, ws fails, or ctx is
// done. maxBatch bounds the records of one message.
func (e *endpoint) stream(ctx context.Context, ws *conn.Conn, keepalive time.Duration, maxBatch int) (streamEnd, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make(chan struct{}) // the peer's first message came
	read := make(chan error, 1)
	go func() {
		read <- e.streamRead(sctx, ws, keepalive, started)
		cancel() // the writer stops too
	}()
	how, err := e.streamWrite(sctx, ws, keepalive, maxBatch, started)
	cancel()
	rerr := <-read
	switch {
	case how == streamStopped && ctx.Err() == nil:
		return streamBroken, rerr // the reader stopped the writer
	case how == streamBroken && err == nil:
		return how, rerr
	}
	return how, err
}

// streamWrite sends our ack, then the records the peer lacks and our acks
// as they change, until the session or the stream ends.
func (e *endpoint) streamWrite(ctx context.Context, ws *conn.Conn, keepalive time.Duration, maxBatch int, started <-chan struct{}) (streamEnd, error) {
	var sent uint64  // the last record sent on this stream
	var acked uint64 // the last ack sent
	var msg []byte
	send := func(recs []record) error {
		acked = e.received()
		msg = appendBatch(binary.AppendUvarint(msg[:0], acked), recs)
		wctx, cancel := context.WithTimeout(ctx, 3*keepalive)
		defer cancel()
		if err := ws.WriteMessage(wctx, conn.Binary, msg); err != nil {
			return err
		}
		if len(recs) > 0 {
			sent = recs[len(recs)-1].seq
		}
		return nil
	}
	if err := send(nil); err != nil {
		return streamBroken, err
	}
	select {
	case <-started:
	case <-e.ended:
		return streamEnded, nil
	case <-ctx.Done():
		return streamStopped, nil
	}
	quiet := time.NewTimer(keepalive)
	defer quiet.Stop()
	for {
		e.mu.Lock()
		changed := e.wait()
		closeAcked := e.closeSeq != 0 && (len(e.out) == 0 || e.out[0].seq > e.closeSeq)
		peerClosed := e.final != nil
		e.mu.Unlock()
		recs := e.pendingAfter(sent, maxBatch)
		if len(recs) > 0 || e.received() != acked {
			if err := send(recs); err != nil {
				return streamBroken, err
			}
			quiet.Reset(keepalive)
			continue
		}
		select {
		case <-e.ended:
			return streamEnded, nil
		default:
		}
		if closeAcked || peerClosed {
			return streamFinished, nil
		}
		select {
		case <-changed:
		case <-quiet.C:
			if err := send(nil); err != nil {
				return streamBroken, err
			}
			quiet.Reset(keepalive)
		case <-e.ended:
			return streamEnded, nil
		case <-ctx.Done():
			return streamStopped, nil
		}
	}
}

// streamRead takes the peer's acks and records, waiting for room in the
// queue as the application reads: meanwhile the WebSocket holds the rest.
func (e *endpoint) streamRead(ctx context.Context, ws *conn.Conn, keepalive time.Duration, started chan<- struct{}) error {
	var buf []byte
	first := true
	for {
		rctx, cancel := context.WithTimeout(ctx, 3*keepalive)
		typ, msg, err := ws.ReadMessage(rctx, buf)
		cancel()
		if err != nil {
			return err
		}
		buf = msg
		if typ != conn.Binary {
			return errStreamType
		}
		ack, n := uvarint(msg)
		if n <= 0 {
			return errStreamAck
		}
		if _, err := e.ack(ack); err != nil {
			return err
		}
		if first {
			first = false
			close(started)
		}
		var werr error
		if err := walkBatch(msg[n:], func(r record) bool {
			werr = e.receiveWait(ctx, r)
			return werr == nil
		}); err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
	}
}

// receiveWait takes r, waiting for room in the incoming queue.
func (e *endpoint) receiveWait(ctx context.Context, r record) error {
	for {
		e.mu.Lock()
		changed := e.wait()
		e.mu.Unlock()
		if e.receive(r) {
			return nil
		}
		e.mu.Lock()
		final, in := e.final, e.inSeq
		e.mu.Unlock()
		switch {
		case final != nil:
			return final
		case r.seq > in+1:
			return fmt.Errorf("%w: %d after %d", errStreamGap, r.seq, in)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// isProtocolError reports whether err is the peer breaking the protocol of
// an upgraded session, rather than the network failing.
func isProtocolError(err error) bool {
	for _, e := range []error{errBatch, errAck, errStreamType, errStreamAck, errStreamGap} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
