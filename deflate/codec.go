package deflate

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

var (
	// ErrTooLarge: the message inflates past the limit.
	ErrTooLarge = errors.New("permessage-deflate: message too large")
	// ErrCorrupt: the compressed data is not a valid deflate stream.
	ErrCorrupt = errors.New("permessage-deflate: corrupt data")
)

// tail ends every sync-flushed message; the sender removes it (RFC 7692
// section 7.2.1). The receiver puts it back, followed by an empty final
// block so that the inflater ends the message with io.EOF.
var (
	tail    = []byte{0, 0, 0xff, 0xff}
	closing = []byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}
)

const maxWindow = 1 << 15

// Writers are pooled by level (window 15) or by window bits (smaller
// windows, which klauspost's window writer serves at one level).
var (
	levelPools  [10]sync.Pool
	windowPools [16]sync.Pool
	readerPool  sync.Pool
)

// Compressor compresses the messages one side sends. With context takeover
// it keeps its state between messages until Release; without, it holds
// nothing between them.
type Compressor struct {
	level, bits int
	takeover    bool
	fw          *flate.Writer
	out         sink
	sw          streamWriter
}

// NewCompressor returns the compressor for the messages sent by the server
// (server true) or the client under a.
func NewCompressor(a Agreement, server bool, level int) *Compressor {
	if level < 1 || level > 9 {
		level = flate.BestSpeed
	}
	c := &Compressor{level: level, bits: a.ClientMaxWindowBits, takeover: !a.ClientNoContextTakeover}
	if server {
		c.bits, c.takeover = a.ServerMaxWindowBits, !a.ServerNoContextTakeover
	}
	c.bits = bitsOr15(c.bits)
	c.sw.c = c
	return c
}

// Shared reports whether each message is compressed on its own (no
// context takeover), and under which level and window: two such
// compressors with the same key turn a message into the same bytes, which
// a broadcast can compress once for every connection that shares the key.
func (c *Compressor) Shared() (key [2]int, ok bool) {
	return [2]int{c.level, c.bits}, !c.takeover
}

func (c *Compressor) writer() *flate.Writer {
	if c.fw != nil {
		return c.fw
	}
	pool := &levelPools[c.level]
	if c.bits < 15 {
		pool = &windowPools[c.bits]
	}
	if fw, ok := pool.Get().(*flate.Writer); ok {
		fw.Reset(&c.out)
		c.fw = fw
		return fw
	}
	var err error
	if c.bits < 15 {
		c.fw, err = flate.NewWriterWindow(&c.out, 1<<c.bits)
	} else {
		c.fw, err = flate.NewWriter(&c.out, c.level)
	}
	if err != nil {
		panic("deflate: " + err.Error()) // the level and window are checked above
	}
	return c.fw
}

// done ends a message: without context takeover the writer goes back to
// its pool.
func (c *Compressor) done() {
	if !c.takeover {
		c.Release()
	}
}

// Release gives the compressor's state back to its pool, between messages.
// With context takeover the next message then starts afresh, referring to
// none before it: the window is what the peer keeps, which we may use or
// not (RFC 7692 section 7.1.1). At level 1 that state is about 800 KB, so
// a connection that has gone quiet should not keep it.
func (c *Compressor) Release() {
	if c.fw == nil {
		return
	}
	c.fw.Reset(io.Discard)
	pool := &levelPools[c.level]
	if c.bits < 15 {
		pool = &windowPools[c.bits]
	}
	pool.Put(c.fw)
	c.fw = nil
}

// Compress appends the compressed form of the message src to dst, without
// the trailing 00 00 ff ff.
func (c *Compressor) Compress(dst, src []byte) ([]byte, error) {
	fw := c.writer()
	c.out = sink{b: dst}
	_, err := fw.Write(src)
	if err == nil {
		err = fw.Flush()
	}
	b := c.out.b
	c.out.b = nil
	c.done()
	if err != nil {
		return dst, err
	}
	if !bytes.HasSuffix(b, tail) {
		return dst, errors.New("permessage-deflate: flush did not end with a sync marker")
	}
	return b[:len(b)-len(tail)], nil
}

// Writer returns a writer that compresses one message into w, in as many
// writes as it takes; Close ends the message. It is valid until Close.
func (c *Compressor) Writer(w io.Writer) io.WriteCloser {
	c.writer()
	c.out = sink{w: w}
	return &c.sw
}

type streamWriter struct{ c *Compressor }

func (s *streamWriter) Write(p []byte) (int, error) { return s.c.fw.Write(p) }

func (s *streamWriter) Close() error {
	c := s.c
	err := c.fw.Flush()
	if err == nil && !bytes.Equal(c.out.hold[:c.out.n], tail) {
		err = errors.New("permessage-deflate: flush did not end with a sync marker")
	}
	c.out = sink{}
	c.done()
	return err
}

// sink takes the compressor's output: appended to b, or written to w less
// the last four bytes, which may turn out to be the tail to drop.
type sink struct {
	b    []byte
	w    io.Writer
	hold [4]byte
	n    int
}

func (s *sink) Write(p []byte) (int, error) {
	if s.w == nil {
		s.b = append(s.b, p...)
		return len(p), nil
	}
	total := len(p)
	if s.n+len(p) <= 4 {
		s.n += copy(s.hold[s.n:], p)
		return total, nil
	}
	// Send what can no longer be part of the last four bytes.
	if over := s.n + len(p) - 4; over > 0 {
		k := min(over, s.n)
		if _, err := s.w.Write(s.hold[:k]); err != nil {
			return 0, err
		}
		s.n = copy(s.hold[:], s.hold[k:s.n])
		over -= k
		if over > 0 {
			if _, err := s.w.Write(p[:over]); err != nil {
				return 0, err
			}
			p = p[over:]
		}
	}
	s.n += copy(s.hold[s.n:], p)
	return total, nil
}

// Decompressor inflates the messages one side receives, within a limit.
type Decompressor struct {
	takeover bool
	fr       io.ReadCloser
	dict     []byte // the last 32 KiB of output, with context takeover
	msg      msgSource
	stream   streamSource
	sr       streamReader
}

// NewDecompressor returns the decompressor for the messages received by the
// server (server true) or the client under a.
func NewDecompressor(a Agreement, server bool) *Decompressor {
	d := &Decompressor{takeover: !a.ServerNoContextTakeover}
	if server {
		d.takeover = !a.ClientNoContextTakeover
	}
	d.sr.d = d
	return d
}

func (d *Decompressor) reader(src io.Reader) io.ReadCloser {
	if fr, ok := readerPool.Get().(io.ReadCloser); ok {
		d.fr = fr
		d.fr.(flate.Resetter).Reset(src, d.dict)
	} else {
		d.fr = flate.NewReaderDict(src, d.dict)
	}
	return d.fr
}

// done ends a message. The inflater goes back to its pool even with
// context takeover: the window it needs next is in dict, which reader
// gives it back, so that a connection between messages holds at most the
// 32 KiB window.
func (d *Decompressor) done(out []byte) {
	if d.takeover {
		d.remember(out)
	}
	if d.fr != nil {
		readerPool.Put(d.fr)
		d.fr = nil
	}
}

// remember keeps the last 32 KiB of output as the next message's dictionary.
func (d *Decompressor) remember(out []byte) {
	if len(out) >= maxWindow {
		d.dict = append(d.dict[:0], out[len(out)-maxWindow:]...)
		return
	}
	if len(d.dict)+len(out) > maxWindow {
		d.dict = d.dict[:copy(d.dict, d.dict[len(d.dict)+len(out)-maxWindow:])]
	}
	d.dict = append(d.dict, out...)
}

// Decompress appends the message inflated from src (without its trailing
// 00 00 ff ff) to dst. It fails with ErrTooLarge as soon as the output
// passes limit bytes, having allocated no more than that.
func (d *Decompressor) Decompress(dst, src []byte, limit int64) ([]byte, error) {
	if len(src) == 0 {
		// Not even the empty block a compressor emits; some peers send an
		// empty payload for an empty message.
		return dst, nil
	}
	d.msg = msgSource{src: src}
	fr := d.reader(&d.msg)
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			grow := max(cap(dst)-start, 512)
			if room := limit + 1 - int64(len(dst)-start); int64(grow) > room {
				grow = int(max(room, 1))
			}
			dst = append(dst, make([]byte, grow)...)[:len(dst)]
		}
		n, err := fr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)-start) > limit {
			d.fail()
			return dst[:start], ErrTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			d.fail()
			return dst[:start], errors.Join(ErrCorrupt, err)
		}
	}
	d.done(dst[start:])
	return dst, nil
}

// fail drops the state of a broken stream.
func (d *Decompressor) fail() {
	d.dict = d.dict[:0]
	if d.fr != nil {
		readerPool.Put(d.fr)
		d.fr = nil
	}
}

// Reader returns a reader of the message inflated from src, the message's
// compressed payload. It fails with ErrTooLarge past limit bytes, with
// ErrCorrupt if the data is no deflate stream, and with src's own error if
// src fails; after any of these the Decompressor starts afresh.
func (d *Decompressor) Reader(src io.Reader, limit int64) io.Reader {
	d.stream = streamSource{r: src}
	d.sr.fr = d.reader(&d.stream)
	d.sr.left, d.sr.err = limit, nil
	return &d.sr
}

type streamReader struct {
	d    *Decompressor
	fr   io.Reader
	left int64
	err  error
}

func (s *streamReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.fr.Read(p)
	s.left -= int64(n)
	switch {
	case s.left < 0:
		s.d.fail()
		s.err = ErrTooLarge
		return 0, s.err
	case err == io.EOF:
		s.d.done(p[:n])
		s.err = io.EOF
	case err != nil:
		s.d.fail()
		if src := s.d.stream.err; src != nil {
			err = src
		} else if !errors.Is(err, ErrCorrupt) {
			err = errors.Join(ErrCorrupt, err)
		}
		s.err = err
	default:
		if s.d.takeover {
			s.d.remember(p[:n])
		}
	}
	return n, s.err
}

// msgSource yields a message's bytes and then the closing bytes. It is an
// io.ByteReader so that the inflater reads it without a buffer of its own.
type msgSource struct {
	src []byte
	pos int
}

func (m *msgSource) Read(p []byte) (int, error) {
	if m.pos >= len(m.src)+len(closing) {
		return 0, io.EOF
	}
	var n int
	if m.pos < len(m.src) {
		n = copy(p, m.src[m.pos:])
	} else {
		n = copy(p, closing[m.pos-len(m.src):])
	}
	m.pos += n
	return n, nil
}

func (m *msgSource) ReadByte() (byte, error) {
	switch {
	case m.pos < len(m.src):
		m.pos++
		return m.src[m.pos-1], nil
	case m.pos < len(m.src)+len(closing):
		m.pos++
		return closing[m.pos-1-len(m.src)], nil
	}
	return 0, io.EOF
}

// streamSource is msgSource over a reader, buffered in place.
type streamSource struct {
	r      io.Reader
	buf    [512]byte
	i, n   int
	closed int  // how many closing bytes were given after r ended
	data   bool // r gave a byte
	eof    bool
	err    error // r's, which is no fault of the data
}

func (s *streamSource) fill() error {
	if s.eof {
		if s.closed >= len(closing) {
			return io.EOF
		}
		s.n = copy(s.buf[:], closing[s.closed:])
		s.closed += s.n
		s.i = 0
		return nil
	}
	n, err := s.r.Read(s.buf[:])
	s.i, s.n = 0, n
	s.data = s.data || n > 0
	if err == io.EOF {
		s.eof = true
		if !s.data {
			// An empty payload, an empty message as for Decompress: the
			// tail would end a block that is not there.
			s.closed = len(tail)
		}
		if n == 0 {
			return s.fill()
		}
		return nil
	}
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	s.err = err
	return err
}

func (s *streamSource) ReadByte() (byte, error) {
	if s.i == s.n {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	s.i++
	return s.buf[s.i-1], nil
}

func (s *streamSource) Read(p []byte) (int, error) {
	if s.i == s.n {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.i:s.n])
	s.i += n
	return n, nil
}
