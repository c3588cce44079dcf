package frame_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"os/exec"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pushwire/pushwire/frame"
)

// unhex decodes a hex string, ignoring spaces, so that the tables below can
// group the bytes of a header as the RFC draws them.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

var key = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// headerTests are valid headers and their exact encodings.
var headerTests = []struct {
	name string
	h    frame.Header
	wire string
}{
	// Every defined opcode.
	{"continuation", frame.Header{Op: frame.OpContinuation}, "00 00"},
	{"continuation fin", frame.Header{Fin: true, Op: frame.OpContinuation, Length: 3}, "80 03"},
	{"text", frame.Header{Fin: true, Op: frame.OpText, Length: 5}, "81 05"},
	{"text first fragment", frame.Header{Op: frame.OpText, Length: 3}, "01 03"},
	{"binary", frame.Header{Fin: true, Op: frame.OpBinary, Length: 4}, "82 04"},
	{"binary first fragment", frame.Header{Op: frame.OpBinary}, "02 00"},
	{"close", frame.Header{Fin: true, Op: frame.OpClose, Length: 2}, "88 02"},
	{"ping", frame.Header{Fin: true, Op: frame.OpPing}, "89 00"},
	{"pong", frame.Header{Fin: true, Op: frame.OpPong, Length: 5}, "8a 05"},
	{"close masked", frame.Header{Fin: true, Op: frame.OpClose, Masked: true, Key: key}, "88 80 37fa213d"},
	{"ping 125", frame.Header{Fin: true, Op: frame.OpPing, Length: 125}, "89 7d"},
	{"pong 125 masked", frame.Header{Fin: true, Op: frame.OpPong, Length: 125, Masked: true, Key: key}, "8a fd 37fa213d"},

	// FIN and every RSV combination (Parse leaves RSV policy to Checker).
	{"rsv1", frame.Header{Fin: true, Rsv: frame.Rsv1, Op: frame.OpText}, "c1 00"},
	{"rsv2", frame.Header{Fin: true, Rsv: frame.Rsv2, Op: frame.OpText}, "a1 00"},
	{"rsv3", frame.Header{Fin: true, Rsv: frame.Rsv3, Op: frame.OpText}, "91 00"},
	{"rsv1 rsv2", frame.Header{Fin: true, Rsv: frame.Rsv1 | frame.Rsv2, Op: frame.OpText}, "e1 00"},
	{"rsv1 rsv3", frame.Header{Fin: true, Rsv: frame.Rsv1 | frame.Rsv3, Op: frame.OpText}, "d1 00"},
	{"rsv2 rsv3", frame.Header{Fin: true, Rsv: frame.Rsv2 | frame.Rsv3, Op: frame.OpText}, "b1 00"},
	{"rsv all", frame.Header{Fin: true, Rsv: 7, Op: frame.OpText}, "f1 00"},
	{"rsv all no fin", frame.Header{Rsv: 7, Op: frame.OpBinary}, "72 00"},
	{"rsv1 no fin", frame.Header{Rsv: frame.Rsv1, Op: frame.OpBinary}, "42 00"},
	{"rsv3 continuation", frame.Header{Rsv: frame.Rsv3, Op: frame.OpContinuation}, "10 00"},
	{"rsv1 ping", frame.Header{Fin: true, Rsv: frame.Rsv1, Op: frame.OpPing}, "c9 00"},
	{"all bits set", frame.Header{Fin: true, Rsv: 7, Op: frame.OpPong, Masked: true, Key: [4]byte{0xff, 0xff, 0xff, 0xff}, Length: 125}, "fa fd ffffffff"},

	// Lengths at every encoding boundary, unmasked and masked.
	{"len 0", frame.Header{Fin: true, Op: frame.OpBinary, Length: 0}, "82 00"},
	{"len 1", frame.Header{Fin: true, Op: frame.OpBinary, Length: 1}, "82 01"},
	{"len 125", frame.Header{Fin: true, Op: frame.OpBinary, Length: 125}, "82 7d"},
	{"len 126", frame.Header{Fin: true, Op: frame.OpBinary, Length: 126}, "82 7e 007e"},
	{"len 127", frame.Header{Fin: true, Op: frame.OpBinary, Length: 127}, "82 7e 007f"},
	{"len 256", frame.Header{Fin: true, Op: frame.OpBinary, Length: 256}, "82 7e 0100"},
	{"len 65535", frame.Header{Fin: true, Op: frame.OpBinary, Length: 65535}, "82 7e ffff"},
	{"len 65536", frame.Header{Fin: true, Op: frame.OpBinary, Length: 65536}, "82 7f 0000000000010000"},
	{"len 2^32", frame.Header{Fin: true, Op: frame.OpBinary, Length: 1 << 32}, "82 7f 0000000100000000"},
	{"len 2^63-1", frame.Header{Fin: true, Op: frame.OpBinary, Length: math.MaxInt64}, "82 7f 7fffffffffffffff"},
	{"masked len 0", frame.Header{Fin: true, Op: frame.OpText, Masked: true, Key: key}, "81 80 37fa213d"},
	{"masked zero key", frame.Header{Fin: true, Op: frame.OpText, Masked: true, Length: 1}, "81 81 00000000"},
	{"masked len 125", frame.Header{Fin: true, Op: frame.OpText, Masked: true, Key: key, Length: 125}, "81 fd 37fa213d"},
	{"masked len 126", frame.Header{Fin: true, Op: frame.OpText, Masked: true, Key: key, Length: 126}, "81 fe 007e 37fa213d"},
	{"masked len 127", frame.Header{Fin: true, Op: frame.OpText, Masked: true, Key: key, Length: 127}, "81 fe 007f 37fa213d"},
	{"masked len 65535", frame.Header{Fin: true, Op: frame.OpText, Masked: true, Key: key, Length: 65535}, "81 fe ffff 37fa213d"},
	{"masked len 65536", frame.Header{Fin: true, Op: frame.OpText, Masked: true, Key: key, Length: 65536}, "81 ff 0000000000010000 37fa213d"},
	{"masked len 2^63-1", frame.Header{Fin: true, Op: frame.OpText, Masked: true, Key: [4]byte{1, 2, 3, 4}, Length: math.MaxInt64}, "81 ff 7fffffffffffffff 01020304"},
	{"masked continuation 2^40", frame.Header{Op: frame.OpContinuation, Masked: true, Key: key, Length: 1 << 40}, "00 ff 0000010000000000 37fa213d"},
}

func TestAppendHeader(t *testing.T) {
	for _, tt := range headerTests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.wire)
			if got := frame.AppendHeader(nil, tt.h); !bytes.Equal(got, want) {
				t.Errorf("AppendHeader(nil, %+v) = % x, want % x", tt.h, got, want)
			}
			prefix := []byte("prefix")
			got := frame.AppendHeader(prefix, tt.h)
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("AppendHeader(%q, %+v) = % x, want the prefix then % x", prefix, tt.h, got, want)
			}
			if n := tt.h.Size(); n != len(want) {
				t.Errorf("Size() = %d, want %d = len(AppendHeader)", n, len(want))
			}
			short, ok := frame.AppendShortHeader(prefix[:len(prefix):len(prefix)], &tt.h)
			switch {
			case ok != (tt.h.Fin && !tt.h.Masked && tt.h.Length <= 125):
				t.Errorf("AppendShortHeader(%+v) reports %v", tt.h, ok)
			case ok && !bytes.Equal(short, got):
				t.Errorf("AppendShortHeader(%q, %+v) = % x, AppendHeader's % x", prefix, tt.h, short, got)
			case !ok && string(short) != "prefix":
				t.Errorf("AppendShortHeader(%q, %+v) = % x refusing it, want dst unchanged", prefix, tt.h, short)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tt := range headerTests {
		t.Run(tt.name, func(t *testing.T) {
			wire := unhex(t, tt.wire)
			// Parse must stop at the header, whatever follows it.
			for _, tail := range []string{"", "\x81", "payload bytes that are not part of the header"} {
				h, n, err := frame.Parse(append(wire[:len(wire):len(wire)], tail...))
				if err != nil || h != tt.h || n != len(wire) {
					t.Errorf("Parse(% x + %q) = %+v, %d, %v; want %+v, %d, nil", wire, tail, h, n, err, tt.h, len(wire))
				}
			}
		})
	}
}

// rejectTests are complete headers that break a rule of RFC 6455 section 5
// which Parse enforces; every one is answered with a protocol error.
var rejectTests = []struct {
	name string
	wire string
	err  error
}{
	{"opcode 3", "83 00", frame.ErrReservedOpcode},
	{"opcode 4", "84 00", frame.ErrReservedOpcode},
	{"opcode 5", "85 00", frame.ErrReservedOpcode},
	{"opcode 6", "86 00", frame.ErrReservedOpcode},
	{"opcode 7", "87 00", frame.ErrReservedOpcode},
	{"opcode 0xB", "8b 00", frame.ErrReservedOpcode},
	{"opcode 0xC", "8c 00", frame.ErrReservedOpcode},
	{"opcode 0xD", "8d 00", frame.ErrReservedOpcode},
	{"opcode 0xE", "8e 00", frame.ErrReservedOpcode},
	{"opcode 0xF", "8f 00", frame.ErrReservedOpcode},
	{"opcode 3 no fin masked", "03 85 37fa213d", frame.ErrReservedOpcode},
	{"opcode 0xB no fin", "0b 00", frame.ErrReservedOpcode},
	{"opcode 0xF long", "8f 7e 0100", frame.ErrReservedOpcode},

	{"fragmented close", "08 00", frame.ErrControlFragmented},
	{"fragmented ping", "09 00", frame.ErrControlFragmented},
	{"fragmented pong masked", "0a 83 37fa213d", frame.ErrControlFragmented},

	{"close 126", "88 7e 007e", frame.ErrControlTooLong},
	{"ping 126", "89 7e 007e", frame.ErrControlTooLong},
	{"pong 126 masked", "8a fe 007e 37fa213d", frame.ErrControlTooLong},
	{"ping 65535", "89 7e ffff", frame.ErrControlTooLong},
	{"ping 65536", "89 7f 0000000000010000", frame.ErrControlTooLong},

	{"length top bit", "82 7f 8000000000000000", frame.ErrLengthOverflow},
	{"length all ones", "82 7f ffffffffffffffff", frame.ErrLengthOverflow},
	{"length top bit masked", "82 ff 8000000000000001 37fa213d", frame.ErrLengthOverflow},

	{"16-bit 0", "82 7e 0000", frame.ErrNonMinimalLength},
	{"16-bit 125", "82 7e 007d", frame.ErrNonMinimalLength},
	{"16-bit 125 masked", "81 fe 007d 37fa213d", frame.ErrNonMinimalLength},
	{"64-bit 0", "82 7f 0000000000000000", frame.ErrNonMinimalLength},
	{"64-bit 125", "82 7f 000000000000007d", frame.ErrNonMinimalLength},
	{"64-bit 126", "82 7f 000000000000007e", frame.ErrNonMinimalLength},
	{"64-bit 65535", "82 7f 000000000000ffff", frame.ErrNonMinimalLength},
	{"64-bit 65535 masked", "82 ff 000000000000ffff 37fa213d", frame.ErrNonMinimalLength},
}

func TestParseReject(t *testing.T) {
	for _, tt := range rejectTests {
		t.Run(tt.name, func(t *testing.T) {
			wire := unhex(t, tt.wire)
			_, n, err := frame.Parse(append(wire[:len(wire):len(wire)], "tail"...))
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(% x) error = %v, want %v", wire, err, tt.err)
			}
			if n != len(wire) {
				t.Errorf("Parse(% x) n = %d, want the header size %d", wire, n, len(wire))
			}
			var fe *frame.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(% x) error %T is not a *frame.Error", wire, err)
			}
			if fe.Code != frame.CloseProtocolError {
				t.Errorf("Parse(% x) close code = %d, want %d", wire, fe.Code, frame.CloseProtocolError)
			}
			if fe.Error() == "" || fe.Rule == "" {
				t.Errorf("Parse(% x) error has no text", wire)
			}
		})
	}
}

// wantNeed is the count Parse must ask for when given the first k bytes of
// a header of size full: 2 until the length byte is known, the whole header
// after.
func wantNeed(k, full int) int {
	if k < 2 {
		return 2
	}
	return full
}

func TestParseShort(t *testing.T) {
	var wires [][]byte
	for _, tt := range headerTests {
		wires = append(wires, unhex(t, tt.wire))
	}
	for _, tt := range rejectTests {
		// A rule is only judged once the whole header is there.
		wires = append(wires, unhex(t, tt.wire))
	}
	for _, wire := range wires {
		for k := range len(wire) {
			_, n, err := frame.Parse(wire[:k])
			if err != frame.ErrShort {
				t.Errorf("Parse(% x) error = %v, want ErrShort", wire[:k], err)
				continue
			}
			if want := wantNeed(k, len(wire)); n != want {
				t.Errorf("Parse(% x) n = %d, want %d", wire[:k], n, want)
			}
		}
	}
	if _, n, err := frame.Parse(nil); err != frame.ErrShort || n != 2 {
		t.Errorf("Parse(nil) = _, %d, %v; want 2, ErrShort", n, err)
	}
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadHeader(t *testing.T) {
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"bytes.Reader", func(r io.Reader) io.Reader { return r }},
		{"OneByteReader", iotest.OneByteReader},
		{"HalfReader", iotest.HalfReader},
		{"DataErrReader", iotest.DataErrReader},
	}
	const tail = "payload"
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			for _, tt := range headerTests {
				wire := unhex(t, tt.wire)
				cr := &countReader{r: rd.wrap(bytes.NewReader(append(wire, tail...)))}
				h, err := frame.ReadHeader(cr, make([]byte, frame.MaxHeaderSize))
				if err != nil || h != tt.h {
					t.Errorf("%s: ReadHeader = %+v, %v; want %+v, nil", tt.name, h, err, tt.h)
				}
				if cr.n != len(wire) {
					t.Errorf("%s: ReadHeader read %d bytes, want exactly the %d of the header", tt.name, cr.n, len(wire))
				}
			}
			for _, tt := range rejectTests {
				wire := unhex(t, tt.wire)
				cr := &countReader{r: rd.wrap(bytes.NewReader(append(wire, tail...)))}
				_, err := frame.ReadHeader(cr, make([]byte, frame.MaxHeaderSize))
				if !errors.Is(err, tt.err) {
					t.Errorf("%s: ReadHeader error = %v, want %v", tt.name, err, tt.err)
				}
				if cr.n != len(wire) {
					t.Errorf("%s: ReadHeader read %d bytes, want the %d of the header", tt.name, cr.n, len(wire))
				}
			}
		})
	}
}

func TestReadHeaderTruncated(t *testing.T) {
	for _, tt := range headerTests {
		wire := unhex(t, tt.wire)
		for k := range len(wire) {
			want := io.ErrUnexpectedEOF
			if k == 0 {
				want = io.EOF
			}
			for _, r := range []io.Reader{
				bytes.NewReader(wire[:k]),
				iotest.OneByteReader(bytes.NewReader(wire[:k])),
			} {
				_, err := frame.ReadHeader(r, make([]byte, frame.MaxHeaderSize))
				if err != want {
					t.Errorf("%s: ReadHeader(% x) error = %v, want %v", tt.name, wire[:k], err, want)
				}
			}
		}
	}
}

func TestReadHeaderError(t *testing.T) {
	boom := errors.New("boom")
	wire := unhex(t, "81 fe 007e 37fa213d")
	for k := range len(wire) {
		r := io.MultiReader(bytes.NewReader(wire[:k]), iotest.ErrReader(boom))
		if _, err := frame.ReadHeader(r, make([]byte, frame.MaxHeaderSize)); err != boom {
			t.Errorf("ReadHeader after %d bytes then an error = %v, want %v", k, err, boom)
		}
	}
}

func TestReadHeaderBufferCapacity(t *testing.T) {
	// Only the capacity of buf matters: a zero-length slice of a big enough
	// array is scratch space too.
	wire := unhex(t, "81 ff 7fffffffffffffff 01020304")
	var arr [frame.MaxHeaderSize]byte
	h, err := frame.ReadHeader(bytes.NewReader(wire), arr[:0])
	want := frame.Header{Fin: true, Op: frame.OpText, Masked: true, Key: [4]byte{1, 2, 3, 4}, Length: math.MaxInt64}
	if err != nil || h != want {
		t.Errorf("ReadHeader = %+v, %v; want %+v, nil", h, err, want)
	}
}

func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	wire := unhex(t, "81 ff 0000000000010000 37fa213d")
	h := frame.Header{Fin: true, Op: frame.OpText, Masked: true, Key: key, Length: 65536}
	buf := make([]byte, 0, frame.MaxHeaderSize)
	scratch := make([]byte, frame.MaxHeaderSize)
	br := bytes.NewReader(wire)
	bad := unhex(t, "89 7e 007e")

	tests := []struct {
		name string
		f    func()
	}{
		{"Parse", func() { _, _, _ = frame.Parse(wire) }},
		{"Parse short", func() { _, _, _ = frame.Parse(wire[:5]) }},
		{"Parse rule error", func() { _, _, _ = frame.Parse(bad) }},
		{"AppendHeader", func() { buf = frame.AppendHeader(buf[:0], h) }},
		{"ReadHeader", func() {
			br.Reset(wire)
			_, _ = frame.ReadHeader(br, scratch)
		}},
		{"Checker.Check", func() {
			c := frame.Checker{Server: true}
			_ = c.Check(h)
		}},
		{"ParseClose", func() { _, _, _ = frame.ParseClose([]byte{0x03, 0xe8, 'o', 'k'}) }},
		{"AppendClose", func() { buf = frame.AppendClose(buf[:0], frame.CloseNormal, "bye") }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tt.name, n)
		}
	}
}

// TestAllocsReadHeaderStackBuffer records what a caller pays when it passes
// a fresh array as ReadHeader's buffer: the buffer goes to r.Read through an
// interface, so it escapes and is moved to the heap on every call. Callers
// must keep a buffer (as conn/ does); this test keeps the figure visible.
func TestAllocsReadHeaderStackBuffer(t *testing.T) {
	wire := unhex(t, "81 85 37fa213d")
	br := bytes.NewReader(wire)
	n := testing.AllocsPerRun(100, func() {
		br.Reset(wire)
		var buf [frame.MaxHeaderSize]byte
		_, _ = frame.ReadHeader(br, buf[:])
	})
	t.Logf("ReadHeader with a per-call array: %v allocations per run", n)
	if n > 1 {
		t.Errorf("ReadHeader with a per-call array: %v allocations per run, want at most 1 (the array)", n)
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, wire string }{
		{"short", "81 85 37fa213d"},
		{"16bit", "82 7e 0100"},
		{"64bit", "82 ff 0000000000010000 37fa213d"},
	} {
		wire := unhex(b, bc.wire)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := frame.Parse(wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendHeader(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    frame.Header
	}{
		{"short", frame.Header{Fin: true, Op: frame.OpText, Masked: true, Key: key, Length: 5}},
		{"16bit", frame.Header{Fin: true, Op: frame.OpBinary, Length: 256}},
		{"64bit", frame.Header{Fin: true, Op: frame.OpBinary, Masked: true, Key: key, Length: 65536}},
	} {
		buf := make([]byte, 0, frame.MaxHeaderSize)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(bc.h.Size()))
			b.ReportAllocs()
			for b.Loop() {
				buf = frame.AppendHeader(buf[:0], bc.h)
			}
		})
	}
}

func BenchmarkReadHeader(b *testing.B) {
	wire := unhex(b, "81 fe 0100 37fa213d")
	br := bytes.NewReader(wire)
	buf := make([]byte, frame.MaxHeaderSize)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(wire)
		if _, err := frame.ReadHeader(br, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFastPathsInline checks that the fast paths stay within the compiler's
// inlining budget: the read and write loops depend on it.
func TestFastPathsInline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, fn := range []string{"ParseData", "MaskKey", "AppendShortHeader"} {
		if !strings.Contains(string(out), "can inline "+fn+"\n") {
			t.Errorf("%s no longer inlines; go build -gcflags=-m=2 says why", fn)
		}
	}
}
