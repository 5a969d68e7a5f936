package changes

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/nats-io/nats.go"
)

// Every service ensures the streams at start: once they exist as asked, no
// stream or bucket is updated again (an update rewrites the stream's
// configuration under consumers being created).
func TestEnsureStreamsUpdatesNothingTwice(t *testing.T) {
	srv := natstest.Embedded(t)
	js := srv.JetStream(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var updates atomic.Int32
	sub, err := nc.Subscribe("$JS.API.STREAM.UPDATE.>", func(m *nats.Msg) { updates.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	names := NamesFor("twice")
	o := StreamOptions{MaxAge: 168 * time.Hour, MaxBytes: -1, DuplicateWindow: 2 * time.Minute}
	if err := EnsureStreams(ctx, js, names, o); err != nil {
		t.Fatal(err)
	}
	if err := EnsureStreams(ctx, js, names, o); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := updates.Load(); n != 0 {
		t.Fatalf("%d stream updates when the streams already were as asked", n)
	}
	// A changed limit is applied.
	o.MaxAge = time.Hour
	if err := EnsureStreams(ctx, js, names, o); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, names.ChangesStream())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != time.Hour {
		t.Fatalf("max age %s after the change, want 1h", got)
	}
}
