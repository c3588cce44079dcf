package conn

import "context"

// CoalesceWrites: frames held in the write buffer until the reader would
// wait for the network, or Flush.

// beforeWait marks the reader as waiting for the network and sends the
// frames writers hold, before a read from the network: like a reader's
// flush-on-drain, it sends the answers to all the buffered requests at once.
func (c *Conn) beforeWait() {
	if !c.waiting.Load() {
		c.waiting.Store(true)
	}
	if c.held.Load() {
		c.sendHeldNow()
	}
}

// sendHeldNow sends the held frames unless a writer is at work: that writer
// sends them when it unlocks (see unlockFrame). The reader never waits behind
// a write, so it keeps reading from a peer that is blocked writing to us.
// Not inlined, to keep the frames an idle reader parks below small.
//
//go:noinline
func (c *Conn) sendHeldNow() {
	if c.frameMu.TryLock() {
		c.flushLocked(context.Background())
		c.unlockFrame()
	}
}

// notWaiting clears waiting once the reader has bytes, or gave up.
func (c *Conn) notWaiting() {
	if c.waiting.Load() {
		c.waiting.Store(false)
	}
}

// sendHeld sends the frames CoalesceWrites holds. The caller holds frameMu.
func (c *Conn) sendHeld() error {
	if c.writeErr != nil || len(c.wbuf) == 0 {
		c.held.Store(false)
		return c.writeErr
	}
	if len(c.wbuf) <= DefaultWriteBufferSize {
		c.largeWrite = false // what was held would have fit the default buffer
	}
	n, err := c.netWrite(c.wbuf)
	return c.wrote(n, err, true)
}

// Flush sends the messages that CoalesceWrites holds, if any. A cancelled
// ctx abandons the wait for other writers; once the write is under way, it
// fails the connection.
func (c *Conn) Flush(ctx context.Context) error {
	if err := c.lockFrame(ctx); err != nil {
		return err
	}
	defer c.unlockFrame()
	return c.flushLocked(ctx)
}

// flushLocked is sendHeld with ctx able to cut it short. The caller holds
// frameMu.
func (c *Conn) flushLocked(ctx context.Context) error {
	if err := c.wctx.arm(ctx); err != nil {
		return err
	}
	return c.wctx.result(c.sendHeld())
}
