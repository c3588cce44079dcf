package longpoll

import (
	"bytes"
	"testing"
)

func TestBatchRoundTrip(t *testing.T) {
	in := []record{{kindText, 1, []byte("hi")}, {kindBinary, 2, nil}, {kindBinary, 300, bytes.Repeat([]byte{0xff}, 200)}, closeRecord(301, 4000, "bye")}
	var b []byte
	for _, r := range in {
		b = appendRecord(b, r)
	}
	var out []record
	if err := decodeBatch(b, func(r record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d records, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i].kind != in[i].kind || out[i].seq != in[i].seq || !bytes.Equal(out[i].data, in[i].data) {
			t.Fatalf("record %d: %+v, want %+v", i, out[i], in[i])
		}
	}
}

func TestBatchMalformed(t *testing.T) {
	for _, b := range []string{"\x00\x01\x00", "\x01", "\x01\x01", "\x01\x01\x05ab", "\x08\x01\x01x", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00"} {
		if err := decodeBatch([]byte(b), func(record) error { return nil }); err != errBatch {
			t.Errorf("%q: %v, want errBatch", b, err)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(appendRecord(appendRecord(nil, record{kindText, 1, []byte("a")}), closeRecord(2, 1000, "")))
	f.Add([]byte("\x02\x05\x03abc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var again []byte
		err := decodeBatch(b, func(r record) error {
			if len(r.data) > len(b) {
				t.Fatalf("record of %d bytes from %d", len(r.data), len(b))
			}
			again = appendRecord(again, r)
			return nil
		})
		if err != nil {
			return
		}
		// A batch that decodes re-encodes to records that decode the same.
		var n1, n2 int
		decodeBatch(b, func(record) error { n1++; return nil })
		if decodeBatch(again, func(record) error { n2++; return nil }) != nil || n1 != n2 {
			t.Fatalf("re-encoded batch differs")
		}
	})
}
