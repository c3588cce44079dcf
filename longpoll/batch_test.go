package longpoll

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestBatchEncoding(t *testing.T) {
	for _, row := range []struct {
		name string
		recs []record
		want string
	}{
		{"empty", nil, ""},
		{"one text", []record{{kindText, 1, []byte("hi")}}, "\x01\x01\x02hi"},
		{"empty binary", []record{{kindBinary, 7, []byte{}}}, "\x07\x02\x00"},
		{"many", []record{{kindText, 300, []byte("a")}, {kindBinary, 301, []byte{0, 0xff}}}, "\xac\x02\x01\x01a\x02\x02\x00\xff"},
		{"long", []record{{kindBinary, 1, bytes.Repeat([]byte{9}, 200)}}, "\x01\x02\xc8\x01" + strings.Repeat("\x09", 200)},
		{"close", []record{{kindText, 5, []byte("x")}, closeRecord(6, 4000, "bye")}, "\x05\x01\x01x\x08\x05\x0f\xa0bye"},
		{"close without code", []record{{kindClose, 2, []byte{}}}, "\x02\x08\x00"},
	} {
		t.Run(row.name, func(t *testing.T) {
			got := appendBatch(nil, row.recs)
			if string(got) != row.want {
				t.Fatalf("encoded %q, want %q", got, row.want)
			}
			recs, err := decodeBatch(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(row.recs, recs, cmp.AllowUnexported(record{}), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBatchMalformed(t *testing.T) {
	for _, row := range []struct{ name, in string }{
		{"header alone", "\x01"},
		{"sequence zero", "\x00\x01\x00"},
		{"unknown kind", "\x01\x03\x00"},
		{"kind zero", "\x01\x00\x00"},
		{"truncated length", "\x01\x01"},
		{"length past end", "\x01\x01\x05ab"},
		{"non-minimal sequence", "\x81\x00\x01\x00"},
		{"non-minimal length", "\x01\x01\x80\x00"},
		{"sequence overflow", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01\x00\x01\x00"},
		{"varint too long", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01\x00"},
		{"text not UTF-8", "\x01\x01\x01\xff"},
		{"close of one byte", "\x01\x08\x01\x03"},
		{"close code 1005", "\x01\x08\x02\x03\xed"},
		{"close code 999", "\x01\x08\x02\x03\xe7"},
		{"close reason not UTF-8", "\x01\x08\x03\x03\xe8\xff"},
		{"close reason too long", "\x01\x08\x7e\x03\xe8" + strings.Repeat("r", 124)},
		{"record after close", "\x01\x08\x00\x01\x00"},
	} {
		t.Run(row.name, func(t *testing.T) {
			if recs, err := decodeBatch([]byte(row.in)); !errors.Is(err, errBatch) {
				t.Fatalf("got %v, %v; want errBatch", recs, err)
			}
		})
	}
}

// FuzzDecodeBatch checks that the decoder never panics, that what it returns
// is bounded by its input, and that a batch it accepts is the one encoding
// of its records.
func FuzzDecodeBatch(f *testing.F) {
	// after close
	f.Add([]byte("\x01\x08\x00\x01\x00"))
	// bad utf8
	f.Add([]byte("\x01\x01\x01\xff"))
	// close
	f.Add([]byte("\x05\x01\x01x\x08\x05\x0f\xa0bye"))
	// close no status
	f.Add([]byte("\x02\x08\x00"))
	// empty
	f.Add([]byte(""))
	// huge length
	f.Add([]byte("\x01\x02\xff\xff\xff\xff\xff\xff\xff\xff\x7f"))
	// long payload
	f.Add(append([]byte("\x01\x02\xc8\x01"), bytes.Repeat([]byte{9}, 200)...))
	// mixed
	f.Add([]byte("\xac\x02\x01\x01a\x02\x02\x00\xff"))
	// non minimal
	f.Add([]byte("\x81\x00\x01\x00"))
	// seq overflow
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01\x00\x01\x00"))
	// text
	f.Add([]byte("\x01\x01\x02hi"))
	f.Add([]byte("\x01\x01\x02hi\x02\x00\x08\x05\x0f\xa0bye"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeBatch(b)
		if err != nil {
			return
		}
		if len(recs) > len(b)/2 {
			t.Fatalf("%d records from %d bytes", len(recs), len(b))
		}
		size := 0
		for i, r := range recs {
			size += len(r.data)
			if i > 0 && r.seq != recs[i-1].seq+1 {
				t.Fatalf("record %d: sequence %d after %d", i, r.seq, recs[i-1].seq)
			}
		}
		if size > len(b) {
			t.Fatalf("%d bytes of data from %d", size, len(b))
		}
		if again := appendBatch(nil, recs); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %q, decoded from %q", again, b)
		}
	})
}

// decodeBatch collects the records of a whole batch.
func decodeBatch(b []byte) ([]record, error) {
	var recs []record
	err := walkBatch(b, func(r record) bool {
		recs = append(recs, r)
		return true
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}
