package natstest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/internal/childproc"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestEmbeddedPublishAndConsume(t *testing.T) {
	start := time.Now()
	s := Embedded(t)
	t.Logf("embedded server in %s", time.Since(start))
	js := s.JetStream(t)
	ctx := context.Background()
	stream := createStream(t, js)
	for i := range 3 {
		if _, err := js.Publish(ctx, "orders.created", fmt.Appendf(nil, "order %d", i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "indexer", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	batch, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	var got []string
	for msg := range batch.Messages() {
		got = append(got, string(msg.Data()))
		if err := msg.Ack(); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	if want := "order 0|order 1|order 2"; strings.Join(got, "|") != want {
		t.Fatalf("consumed %q, want %q", strings.Join(got, "|"), want)
	}
}

// What JetStream acknowledged survives a crash of the server, and a client
// that reconnects forever finds the server again on the same URL.
func TestProcessKeepsMessagesAcrossKill(t *testing.T) {
	start := time.Now()
	s := Process(t)
	t.Logf("nats-server process in %s", time.Since(start))
	ctx := context.Background()

	reconnected := make(chan struct{}, 1)
	nc := s.Connect(t, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream := createStream(t, js)
	ack, err := js.Publish(ctx, "orders.created", []byte("kept"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}

	s.Kill()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatalf("the client did not reconnect within 10s (status %v)", nc.Status())
	}

	stream, err = js.Stream(ctx, stream.CachedInfo().Config.Name)
	if err != nil {
		t.Fatalf("the stream is gone after the restart: %v", err)
	}
	msg, err := stream.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatalf("message %d is gone after the restart: %v", ack.Sequence, err)
	}
	if string(msg.Data) != "kept" {
		t.Fatalf("message %d = %q, want %q", ack.Sequence, msg.Data, "kept")
	}
	// The old connection publishes again.
	if ack, err := js.Publish(ctx, "orders.created", []byte("after")); err != nil || ack.Sequence != 2 {
		t.Fatalf("publish after the restart: %+v, %v", ack, err)
	}
}

func TestProcessStopAndStart(t *testing.T) {
	s := Process(t)
	ctx := context.Background()
	createStream(t, s.JetStream(t))
	s.Stop()
	if nc, err := nats.Connect(s.URL(), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("connected to a stopped server")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start on a running server: %v", err)
	}
	info, err := s.JetStream(t).AccountInfo(ctx)
	if err != nil || info.Streams != 1 {
		t.Fatalf("after a stop and start: %+v, %v; want one stream", info, err)
	}
}

func TestMissingBinarySaysHowToInstall(t *testing.T) {
	t.Setenv("FLUSSO_NATS_SERVER", "/nonexistent/nats-server")
	_, err := Binary()
	if err == nil || !strings.Contains(err.Error(), "apt-get install nats-server") {
		t.Fatalf("Binary() error = %v, want one saying how to install the server", err)
	}
}

// Without an installed server, one is built from the module.
func TestBuildFromModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server (20 s the first time)")
	}
	path, err := build()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "v2.") {
		t.Fatalf("%s --version: %s, %v", path, out, err)
	}
	t.Setenv("FLUSSO_NATS_SERVER", path)
	s := Process(t)
	if _, err := s.JetStream(t).AccountInfo(context.Background()); err != nil {
		t.Fatalf("the built server: %v", err)
	}
}

// A test binary that dies without cleaning up takes its server with it.
func TestServerDiesWithACrashedTestProcess(t *testing.T) {
	childproc.CheckDiesWithCrashedTest(t, func() *childproc.Process { return Process(t).proc })
}

func createStream(t *testing.T, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	stream, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return stream
}
