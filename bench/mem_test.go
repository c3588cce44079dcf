package bench

import (
	"testing"

	"github.com/pushwire/pushwire/deflate"
	"github.com/pushwire/pushwire/frame"
)

// BenchmarkReadWrite is one server echo in memory: read a masked client
// frame, write the unmasked reply, over a memConn that costs next to nothing.
func BenchmarkReadWrite(b *testing.B) {
	for _, sz := range []size{size16B, size1KiB, size64KiB} {
		p := payload(sz.n)
		in := clientFrame(frame.OpBinary, 0, p)
		for _, l := range libs {
			b.Run(sz.name+"/"+l.name, func(b *testing.B) { benchMem(b, l, plain, in, p) })
		}
	}
}

// BenchmarkCompression is BenchmarkReadWrite with permessage-deflate: inflate
// the client's message, deflate the reply.
func BenchmarkCompression(b *testing.B) {
	for _, m := range []compMode{takeover, noTakeover} {
		for _, sz := range []size{size1KiB, size64KiB} {
			text := jsonText(sz.n)
			in := clientFrame(frame.OpBinary, frame.Rsv1, compressClient(b, m, text))
			for _, l := range libs {
				if !l.supports(m) {
					continue
				}
				b.Run(m.String()+"-"+sz.name+"/"+l.name, func(b *testing.B) { benchMem(b, l, m, in, text) })
			}
		}
	}
}

// compressClient is a client's compressed payload for text. Compressed from
// a fresh state it refers to nothing before it, so it inflates the same
// whatever the server's window holds and can be served again and again.
func compressClient(b *testing.B, m compMode, text []byte) []byte {
	a := deflate.Agreement{ServerNoContextTakeover: m == noTakeover, ClientNoContextTakeover: m == noTakeover,
		ServerMaxWindowBits: 15, ClientMaxWindowBits: 15}
	p, err := deflate.NewCompressor(a, false, 1).Compress(nil, text)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchMem checks once that l's server echoes in intact, then times b.N
// echoes on a second connection.
func benchMem(b *testing.B, l lib, m compMode, in, want []byte) {
	nc, echo, err := l.mem(m)
	if err != nil {
		b.Fatal(err)
	}
	nc.keep = true
	nc.serve(in, 1)
	if err := echo(1); err != nil {
		b.Fatal(err)
	}
	if err := checkReply(nc.out, want, m != plain); err != nil {
		b.Fatal(err)
	}

	nc, echo, err = l.mem(m)
	if err != nil {
		b.Fatal(err)
	}
	nc.serve(in, b.N)
	b.SetBytes(int64(len(want)))
	b.ReportAllocs()
	b.ResetTimer()
	if err := echo(b.N); err != nil {
		b.Fatal(err)
	}
}
