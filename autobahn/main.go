// Command autobahn is pushwire's testee for the Autobahn testsuite.
//
//	autobahn server -addr 127.0.0.1:9001     echo server for wstest -m fuzzingclient
//	autobahn client -url ws://127.0.0.1:9001 client for wstest -m fuzzingserver
//	autobahn verdict reports/server/index.json  fails unless every case is OK
//
// Both offer or accept permessage-deflate unless -deflate=false.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/pushwire/pushwire/conn"
	"github.com/pushwire/pushwire/deflate"
)

// Autobahn's largest messages are 16 MiB (case 9.1.6, 9.2.6).
const readLimit = 64 << 20

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = server(os.Args[2:])
	case "client":
		err = client(os.Args[2:])
	case "verdict":
		err = verdict(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		log.Fatal(err)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: autobahn server [-addr host:port] [-deflate=false] [-raw] [-stream]\n       autobahn client [-url ws://host:port] [-agent name] [-deflate=false] [-stream]\n       autobahn verdict index.json")
	os.Exit(2)
}

func compression(on bool) *deflate.Config {
	if !on {
		return nil
	}
	return &deflate.Config{}
}

func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9001", "listen address")
	zip := fs.Bool("deflate", true, "accept permessage-deflate")
	raw := fs.Bool("raw", false, "upgrade raw TCP connections instead of going through net/http")
	coalesce := fs.Bool("coalesce", false, "hold echoes with Options.CoalesceWrites")
	stream := fs.Bool("stream", false, "echo through NextReader and NextWriter")
	fs.Parse(args)
	echo := echoFunc(*stream)
	opts := &conn.AcceptOptions{
		Options:     conn.Options{ReadLimit: readLimit, CoalesceWrites: *coalesce},
		Compression: compression(*zip),
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log.Printf("autobahn testee listening on ws://%s (deflate %v, raw %v, coalesce %v, stream %v)", ln.Addr(), *zip, *raw, *coalesce, *stream)
	if *raw {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return err
			}
			go func() {
				c, err := conn.AcceptConn(nc, opts)
				if err != nil {
					nc.Close()
					return
				}
				echo(c)
			}()
		}
	}
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := conn.Accept(w, r, opts)
		if err != nil {
			return
		}
		echo(c)
	}))
}

func echoFunc(stream bool) func(*conn.Conn) {
	if stream {
		return echoStream
	}
	return echoWhole
}

// echoWhole sends every message back until the connection ends.
func echoWhole(c *conn.Conn) {
	ctx := context.Background()
	var buf []byte
	for {
		typ, msg, err := c.ReadMessage(ctx, buf)
		if err != nil {
			c.Close(conn.CloseNormal, "")
			return
		}
		if err := c.WriteMessage(ctx, typ, msg); err != nil {
			c.Close(conn.CloseNormal, "")
			return
		}
		buf = msg
	}
}

// echoStream sends every message back as it arrives, through the streaming
// reader and writer, until the connection ends.
func echoStream(c *conn.Conn) {
	ctx := context.Background()
	buf := make([]byte, 32<<10)
	for {
		typ, r, err := c.NextReader(ctx)
		if err != nil {
			c.Close(conn.CloseNormal, "")
			return
		}
		w, err := c.NextWriter(ctx, typ)
		if err == nil {
			_, err = io.CopyBuffer(w, r, buf)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			c.Close(conn.CloseNormal, "")
			return
		}
	}
}

func client(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	base := fs.String("url", "ws://127.0.0.1:9001", "fuzzingserver URL")
	agent := fs.String("agent", "pushwire", "agent name in the reports")
	zip := fs.Bool("deflate", true, "offer permessage-deflate")
	coalesce := fs.Bool("coalesce", false, "hold echoes with Options.CoalesceWrites")
	stream := fs.Bool("stream", false, "echo through NextReader and NextWriter")
	fs.Parse(args)
	echo := echoFunc(*stream)
	ctx := context.Background()
	opts := &conn.DialOptions{
		Options:     conn.Options{ReadLimit: readLimit, CoalesceWrites: *coalesce},
		Compression: compression(*zip),
	}

	c, err := conn.Dial(ctx, *base+"/getCaseCount", nil)
	if err != nil {
		return err
	}
	_, msg, err := c.ReadMessage(ctx, nil)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(string(msg))
	if err != nil {
		return fmt.Errorf("case count %q: %v", msg, err)
	}
	c.Close(conn.CloseNormal, "")

	for i := 1; i <= n; i++ {
		u := fmt.Sprintf("%s/runCase?case=%d&agent=%s", *base, i, url.QueryEscape(*agent))
		c, err := conn.Dial(ctx, u, opts)
		if err != nil {
			log.Printf("case %d: %v", i, err)
			continue
		}
		echo(c)
	}

	c, err = conn.Dial(ctx, *base+"/updateReports?agent="+url.QueryEscape(*agent), nil)
	if err != nil {
		return err
	}
	_, _, err = c.ReadMessage(ctx, nil)
	if ce, ok := errors.AsType[*conn.CloseError](err); !ok || ce.Local {
		return fmt.Errorf("updateReports: %v", err)
	}
	return nil
}
