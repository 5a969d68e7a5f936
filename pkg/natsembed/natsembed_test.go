package natsembed

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Data written through one server is there after a restart on the same
// folder; a second server cannot take a folder in use; the URL file tells
// where the running one listens and goes with it.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(dir, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ReadURL(dir); got != s.URL() {
		t.Fatalf("URL file %q, server %q", got, s.URL())
	}
	if _, err := Start(dir, "127.0.0.1:0", nil); err == nil || !strings.Contains(err.Error(), "in use by another flusso run") {
		t.Fatalf("second server on the same folder: %v", err)
	}
	publish(t, s.URL())
	s.Shutdown()
	if got := ReadURL(dir); got != "" {
		t.Fatalf("URL file left behind: %q", got)
	}

	s2, err := Start(dir, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	js := connect(t, s2.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "KEEP")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("%d messages after the restart, want 1", info.State.Msgs)
	}
}

func TestBadListen(t *testing.T) {
	for _, listen := range []string{"nohost", "127.0.0.1:x", "127.0.0.1:70000"} {
		if _, err := Start(t.TempDir(), listen, nil); err == nil || !strings.Contains(err.Error(), "nats.listen") {
			t.Errorf("listen %q: %v, want an error naming nats.listen", listen, err)
		}
	}
}

func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func publish(t *testing.T, url string) {
	t.Helper()
	js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"keep"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "keep", []byte("x")); err != nil {
		t.Fatal(err)
	}
}
