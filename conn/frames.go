package conn

import (
	"io"

	"github.com/pushwire/pushwire/frame"
	"github.com/pushwire/pushwire/mask"
)

// The frame level under the read path: headers, the buffered bytes and
// payload, read from the socket as they are needed.

// nextDataFrame reads headers until a data frame's, handling control frames.
func (c *Conn) nextDataFrame() (frame.Header, error) {
	for {
		h, err := c.readHeader()
		if err != nil {
			return h, err
		}
		if !h.Op.IsControl() {
			c.hdr, c.left, c.maskPos = h, h.Length, 0
			return h, nil
		}
		if err := c.control(h, false); err != nil {
			return h, err
		}
	}
}

func (c *Conn) readHeader() (frame.Header, error) {
	for {
		h, n, err := frame.Parse(c.rbuf[c.r:c.w])
		if err == frame.ErrShort {
			if err := c.fill(n); err != nil {
				return h, err
			}
			continue
		}
		if err != nil {
			return h, err
		}
		c.r += n
		c.received()
		return h, c.check.Check(h)
	}
}

// fill reads until at least need bytes are buffered; need is at most
// Options.ReadBufferSize. The bytes kept move to the start of rbuf.
func (c *Conn) fill(need int) error {
	if c.w-c.r >= need {
		return nil
	}
	if c.r > 0 {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	for c.w < need {
		var n int
		var err error
		if c.sock != nil {
			n, err = c.sock.read(false)
		} else {
			c.readBuf()
			n, err = c.netRead(c.rbuf[c.w:])
			c.sizeRead(n)
		}
		c.w += n
		if err != nil {
			if c.w >= need {
				return nil
			}
			if err == io.EOF && c.w > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// netRead reads from nc, first sending the frames CoalesceWrites holds: the
// read may wait for the peer's answer to them.
func (c *Conn) netRead(p []byte) (int, error) {
	if !c.opts.CoalesceWrites {
		return c.nc.Read(p)
	}
	c.beforeWait()
	n, err := c.nc.Read(p)
	c.notWaiting()
	return n, err
}

// readPayload reads at most len(p) payload bytes of the current frame into p
// and unmasks them. It makes at most one read from the network, so that a
// caller can check what arrived before the rest of the frame does.
func (c *Conn) readPayload(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	if c.r < c.w {
		n = copy(p, c.rbuf[c.r:c.w])
		c.r += n
	} else if len(p) >= c.opts.ReadBufferSize {
		// Large payloads go straight into the caller's memory.
		n, err = c.netRead(p)
	} else {
		c.r, c.w = 0, 0
		if err = c.fill(1); err == nil {
			n = copy(p, c.rbuf[c.r:c.w])
			c.r += n
		}
	}
	if c.hdr.Masked {
		c.maskPos = int32(mask.XOR(p[:n], c.hdr.Key, int(c.maskPos)))
	}
	c.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if n > 0 && err != nil && c.left > 0 {
		// Report the bytes now and the error on the next call.
		err = nil
	}
	return n, err
}
