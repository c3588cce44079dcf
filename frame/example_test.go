package frame_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pushwire/pushwire/frame"
)

func ExampleParse() {
	// A masked text frame "Hello" from a client (RFC 6455 section 5.7),
	// arriving in two pieces.
	in := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}

	_, n, err := frame.Parse(in[:3])
	fmt.Println(n, err)

	h, n, err := frame.Parse(in)
	fmt.Println(n, err)
	fmt.Printf("fin=%v op=%v masked=%v key=%x length=%d\n", h.Fin, h.Op, h.Masked, h.Key, h.Length)

	// A ping that claims 126 bytes of payload breaks a rule.
	_, _, err = frame.Parse([]byte{0x89, 0x7e, 0x00, 0x7e})
	var fe *frame.Error
	if errors.As(err, &fe) {
		fmt.Println(fe.Code, err)
	}
	// Output:
	// 6 frame: header incomplete
	// 6 <nil>
	// fin=true op=text masked=true key=37fa213d length=5
	// 1002 (protocol error) websocket: control frame payload over 125 bytes
}

func ExampleAppendHeader() {
	payload := bytes.Repeat([]byte("x"), 256)
	h := frame.Header{Fin: true, Op: frame.OpBinary, Length: int64(len(payload))}

	buf := make([]byte, 0, frame.MaxHeaderSize+len(payload))
	buf = frame.AppendHeader(buf, h)
	fmt.Printf("% x (Size %d)\n", buf, h.Size())
	buf = append(buf, payload...)
	fmt.Println(len(buf))
	// Output:
	// 82 7e 01 00 (Size 4)
	// 260
}

func ExampleReadHeader() {
	r := bytes.NewReader([]byte{0x89, 0x04, 'p', 'i', 'n', 'g'})
	var buf [frame.MaxHeaderSize]byte
	h, err := frame.ReadHeader(r, buf[:])
	fmt.Println(h.Op, h.Length, err, r.Len())
	// Output:
	// ping 4 <nil> 4
}

func ExampleParseClose() {
	for _, p := range [][]byte{
		{0x03, 0xe8, 'b', 'y', 'e'},
		{},
		{0x03, 0xed},
		{0x03, 0xe8, 0xff},
	} {
		code, reason, err := frame.ParseClose(p)
		fmt.Printf("%d %q %v\n", code, reason, err)
	}
	// Output:
	// 1000 "bye" <nil>
	// 1005 "" <nil>
	// 1005 "" websocket: invalid close code
	// 1000 "" websocket: close reason is not valid UTF-8
}

func ExampleAppendClose() {
	fmt.Printf("% x\n", frame.AppendClose(nil, frame.CloseGoingAway, "bye"))
	fmt.Printf("%d\n", len(frame.AppendClose(nil, frame.CloseNoStatus, "bye")))
	// Output:
	// 03 e9 62 79 65
	// 0
}

func ExampleChecker() {
	c := frame.Checker{Server: true, Rsv: frame.Rsv1} // permessage-deflate negotiated
	for _, h := range []frame.Header{
		{Rsv: frame.Rsv1, Op: frame.OpText, Masked: true},
		{Fin: true, Op: frame.OpPing, Masked: true},
		{Fin: true, Op: frame.OpText, Masked: true},
		{Fin: true, Op: frame.OpContinuation, Masked: true},
		{Fin: true, Op: frame.OpContinuation, Masked: true},
	} {
		fmt.Println(h.Op, c.Check(h), c.InMessage())
	}
	// Output:
	// text <nil> true
	// ping <nil> true
	// text websocket: new data frame inside a fragmented message true
	// continuation <nil> false
	// continuation websocket: continuation frame without a message to continue false
}
