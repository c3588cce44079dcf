package natsbroker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pushwire/pushwire"
)

// Options configure a Broker. The zero value of each field selects its
// default. Every node of a cluster should use the same.
type Options struct {
	// Stream is the JetStream stream holding every topic (default
	// "PUSHWIRE"); the Broker creates it, or updates it to these options.
	Stream string
	// Subject is the prefix of the topics' subjects (default "pushwire"):
	// the stream takes Subject + ".>".
	Subject string
	// History bounds each topic's history: Messages publications (the
	// stream keeps one more, the package doc says why) and MaxAge. Its
	// Bytes does not apply: JetStream bounds bytes per stream, not per
	// subject; see MaxBytes.
	History pushwire.History
	// MaxBytes bounds the stream, all topics together, dropping the oldest
	// publications; default none (the account's limits apply).
	MaxBytes int64
	// Replicas is the stream's replication factor: 3 on a cluster of three
	// or more NATS servers. Default 1.
	Replicas int
	// Timeout bounds each call whose context has no deadline (Subscribe,
	// and History as a Server calls it), and the setup; default 10 s.
	// Calls retry what a NATS failover interrupts within it.
	Timeout time.Duration
	// Heartbeat is how often NATS signals an idle live subscription: one
	// that misses two is started again from where it stopped, so it bounds
	// how long the loss of a NATS server stalls delivery. 500 ms to 30 s;
	// default 5 s.
	Heartbeat time.Duration
}

// The defaults of Options.
const (
	DefaultStream    = "PUSHWIRE"
	DefaultSubject   = "pushwire"
	DefaultTimeout   = 10 * time.Second
	DefaultHeartbeat = 5 * time.Second
)

func (o Options) withDefaults() (Options, error) {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if strings.ContainsAny(o.Stream, ". *>\t\r\n") {
		return o, fmt.Errorf("natsbroker: invalid stream name %q", o.Stream)
	}
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	for tok := range strings.SplitSeq(o.Subject, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return o, fmt.Errorf("natsbroker: invalid subject prefix %q", o.Subject)
		}
	}
	if o.History.Messages <= 0 {
		o.History.Messages = pushwire.DefaultHistoryMessages
	}
	if o.History.MaxAge <= 0 {
		o.History.MaxAge = pushwire.DefaultHistoryAge
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = -1
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Heartbeat < 500*time.Millisecond || o.Heartbeat > 30*time.Second {
		return o, fmt.Errorf("natsbroker: heartbeat %v is not within 500ms-30s", o.Heartbeat)
	}
	return o, nil
}

// Broker is a pushwire.Broker on a JetStream stream. Its methods are safe
// for concurrent use.
type Broker struct {
	opts   Options
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	ownNC  bool           // Close closes nc
	server *server.Server // Embedded's, shut down by Close
	epoch  atomic.Pointer[string]

	// ctx ends when the broker closes, and with it every call under way.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	live   map[string]*live // by topic
	bg     sync.WaitGroup   // stopping lives; added to under mu, unless closed
	// deletes are the deletions of replaced consumers.
	deletes sync.WaitGroup
}

// New returns a Broker on nc, which the caller keeps and closes after the
// Broker. It creates the stream, or updates it to opts, within ctx.
func New(ctx context.Context, nc *nats.Conn, opts Options) (*Broker, error) {
	return newBroker(ctx, nc, false, nil, opts)
}

// Connect connects to the NATS servers at url (a comma-separated list: give
// every server of a cluster) with natsOpts (credentials, TLS and the like),
// reconnecting for ever unless they say otherwise, and returns a Broker that
// owns the connection.
func Connect(ctx context.Context, url string, opts Options, natsOpts ...nats.Option) (*Broker, error) {
	all := append([]nats.Option{nats.Name("pushwire"), nats.MaxReconnects(-1)}, natsOpts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: connecting to %s: %w", url, err)
	}
	return newBroker(ctx, nc, true, nil, opts)
}

// Embedded starts a NATS server in the process, with JetStream storing in
// dir and no port open, and returns a Broker on it: a single node whose
// history survives a restart. Close shuts the server down.
func Embedded(ctx context.Context, dir string, opts Options) (*Broker, error) {
	if dir == "" {
		return nil, errors.New("natsbroker: Embedded needs a store directory")
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "pushwire",
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbroker: embedded server: %w", err)
	}
	ns.Start()
	wait := DefaultTimeout
	if opts.Timeout > 0 {
		wait = opts.Timeout
	}
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, errors.New("natsbroker: the embedded server did not start")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name("pushwire"), nats.MaxReconnects(-1))
	if err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natsbroker: connecting to the embedded server: %w", err)
	}
	return newBroker(ctx, nc, true, ns, opts)
}

func newBroker(ctx context.Context, nc *nats.Conn, ownNC bool, ns *server.Server, opts Options) (*Broker, error) {
	b := &Broker{nc: nc, ownNC: ownNC, server: ns, live: make(map[string]*live)}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	err := b.setup(ctx, opts)
	if err != nil {
		b.cancel()
		b.release()
		return nil, err
	}
	return b, nil
}

func (b *Broker) setup(ctx context.Context, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	b.opts = opts
	b.js, err = jetstream.New(b.nc)
	if err != nil {
		return fmt.Errorf("natsbroker: %w", err)
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	cfg := jetstream.StreamConfig{
		Name:        opts.Stream,
		Description: "pushwire topics",
		Subjects:    []string{opts.Subject + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		// One more than the history: the publication at the position of a
		// client History.Messages behind (see covered).
		MaxMsgsPerSubject: int64(opts.History.Messages) + 1,
		MaxAge:            opts.History.MaxAge,
		MaxBytes:          opts.MaxBytes,
		MaxMsgs:           -1,
		Storage:           jetstream.FileStorage,
		Replicas:          opts.Replicas,
		// Reads go to the stream's leader, which has every acknowledged
		// publication: a replica answering direct gets may lag.
		AllowDirect: false,
	}
	err = retry(ctx, func(ctx context.Context) error {
		s, err := b.js.CreateOrUpdateStream(ctx, cfg)
		if err == nil {
			b.stream = s
		}
		return err
	}, jetstream.ErrStreamNameAlreadyInUse) // several nodes creating it at once
	if err != nil {
		return b.fail("setting up the stream", ctx, err)
	}
	_, err = b.info(ctx, "")
	return err
}

// Close stops every subscription (no deliver call runs after it returns),
// releases the broker's consumers, and closes its connection and embedded
// server if it has them. Publish, Subscribe and History return
// pushwire.ErrBrokerClosed after; Close again does nothing.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	lives := b.live
	b.live = nil
	b.mu.Unlock()
	b.cancel() // ends the calls under way, and subscriptions starting
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
	defer cancel()
	for _, l := range lives {
		<-l.ready
		l.retire()
		l.stop(ctx)
	}
	b.bg.Wait()
	b.deletes.Wait()
	b.release()
	return nil
}

// release closes what the broker owns.
func (b *Broker) release() {
	if b.ownNC {
		b.nc.Close()
	}
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
}

// bound returns ctx with the broker's timeout if it has no deadline, ended
// when the broker closes.
func (b *Broker) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	cancelTimeout := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancelTimeout = context.WithTimeout(ctx, b.opts.Timeout)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(b.ctx, func() { cancel(pushwire.ErrBrokerClosed) })
	return ctx, func() {
		stop()
		cancel(nil)
		cancelTimeout()
	}
}

// fail is the error of a call that failed doing what: ErrBrokerClosed if
// the broker closed meanwhile.
func (b *Broker) fail(what string, ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), pushwire.ErrBrokerClosed) || b.ctx.Err() != nil {
		return pushwire.ErrBrokerClosed
	}
	return fmt.Errorf("natsbroker: %s: %w", what, err)
}

// open returns ErrBrokerClosed after Close, and the subject of topic.
func (b *Broker) open(topic string) (string, error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return "", pushwire.ErrBrokerClosed
	}
	if topic == "" {
		return "", pushwire.ErrTopic
	}
	return b.opts.Subject + "." + base64.RawURLEncoding.EncodeToString([]byte(topic)), nil
}

// info reads the stream's state from its leader, with the message count of
// subject if it is not empty, and notes the stream's epoch.
func (b *Broker) info(ctx context.Context, subject string) (*jetstream.StreamInfo, error) {
	var opts []jetstream.StreamInfoOpt
	if subject != "" {
		opts = append(opts, jetstream.WithSubjectFilter(subject))
	}
	var info *jetstream.StreamInfo
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		info, err = b.stream.Info(ctx, opts...)
		return err
	})
	if err != nil {
		return nil, b.fail("reading the stream's state", ctx, err)
	}
	e := epochOf(info)
	if cur := b.epoch.Load(); cur == nil || *cur != e {
		b.epoch.Store(&e)
	}
	return info, nil
}

// epochOf is the epoch of a stream: its creation time, which every node of
// a cluster reads the same and a stream created again changes.
func epochOf(info *jetstream.StreamInfo) string {
	return strconv.FormatInt(info.Created.UnixNano(), 36)
}

// currentEpoch is the epoch last read from the stream.
func (b *Broker) currentEpoch() string { return *b.epoch.Load() }

// The header carrying a publication's message type.
const (
	typeHeader = "Pushwire-Type"
	typeText   = "text"
	typeBinary = "binary"
)

// typeOf is the type of a publication of data: text if it says so and is
// UTF-8, as a foreign publisher's may not be; otherwise its bytes as they
// are.
func typeOf(h nats.Header, data []byte) pushwire.MessageType {
	if h.Get(typeHeader) == typeText && utf8.Valid(data) {
		return pushwire.Text
	}
	return pushwire.Binary
}
