package status

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestAggregation folds the events of a capture and three indexer
// replicas, published out of order and some twice, while it follows the
// stream, and polls the indexers' backlog and the dead letters.
func TestAggregation(t *testing.T) {
	js := natstest.Embedded(t).JetStream(t)
	sc := newScenario(t)
	want := normalize(reference(t, sc.events(t), sc.now, "users", "orders"))
	a, _ := run(t, js, testConfig("users", "orders"), "s1", sc.now)
	waitFor(t, a, "ready on an empty stream", func(statusapi.Status) bool { return true })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := changes.NamesFor(pipeline)
	for range 3 {
		if _, err := js.Publish(ctx, names.ChangeSubject("public", "users"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := js.Publish(ctx, names.DLQSubject("users"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, names.ChangesStream(), jetstream.ConsumerConfig{Durable: indexerConsumer, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	// One change delivered and not acked, two pending: three in flight.
	if _, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
		t.Fatal(err)
	}

	publish(t, js, shuffledWithDuplicates(sc.msgs, 1))
	st := waitFor(t, a, "every event folded once", func(st statusapi.Status) bool {
		return jsonOf(t, normalize(st)) == jsonOf(t, want) && st.Events == int64(len(sc.msgs))+ownEvents(t, js) &&
			st.ChangesInFlight == 3 && st.DeadLetters == 2
	})
	checkScenario(t, st)

	var self *statusapi.Replica
	for i, r := range st.Replicas {
		if r.Service == "status" {
			self = &st.Replicas[i]
		}
	}
	if self == nil || self.Instance != "s1" || self.StartedAt == nil || self.Stopped {
		t.Errorf("the status replica's own started event: %s", jsonOf(t, self))
	}

	// The metrics read the same fold.
	expected := `
# HELP flusso_changes_captured_total Row changes the captures published.
# TYPE flusso_changes_captured_total counter
flusso_changes_captured_total 22
# HELP flusso_changes_in_flight Changes and backfill tasks the indexers have not acknowledged yet.
# TYPE flusso_changes_in_flight gauge
flusso_changes_in_flight 3
# HELP flusso_dead_letters Messages in the dead-letter stream.
# TYPE flusso_dead_letters gauge
flusso_dead_letters 2
`
	if err := testutil.GatherAndCompare(a.Registry(), strings.NewReader(expected),
		"flusso_changes_captured_total", "flusso_changes_in_flight", "flusso_dead_letters"); err != nil {
		t.Error(err)
	}
}

// TestShuffledOrders publishes the same events, duplicates included, in
// several orders to several servers: every aggregator folds the same
// status. Each one's own events differ, so those are left out of the
// comparison (normalize).
func TestShuffledOrders(t *testing.T) {
	sc := newScenario(t)
	want := normalize(reference(t, sc.events(t), sc.now, "users", "orders"))
	checkScenario(t, want)
	var first string
	for seed := range uint64(3) {
		js := natstest.Embedded(t).JetStream(t)
		cfg := testConfig("users", "orders")
		// The streams exist before the aggregator: it replays the events.
		if _, err := New(context.Background(), Options{JetStream: js, Config: cfg}); err != nil {
			t.Fatal(err)
		}
		publish(t, js, shuffledWithDuplicates(sc.msgs, seed+10))
		a, stop := run(t, js, cfg, "s", sc.now)
		st := waitFor(t, a, "replay", func(st statusapi.Status) bool { return true })
		// Ready means the replay reached the events published before Run.
		got := jsonOf(t, normalize(st))
		if got != jsonOf(t, want) {
			t.Fatalf("order %d:\n got %s\nwant %s", seed, got, jsonOf(t, want))
		}
		if first == "" {
			first = got
		} else if got != first {
			t.Fatalf("order %d differs from order 0:\n%s\n%s", seed, got, first)
		}
		stop()
	}
}

// TestRestart stops an aggregator in the middle of the events and starts
// two others on the same stream: they rebuild the same status, and agree
// with each other to the last field.
func TestRestart(t *testing.T) {
	js := natstest.Embedded(t).JetStream(t)
	sc := newScenario(t)
	cfg := testConfig("users", "orders")
	half := len(sc.msgs) / 2
	evs := sc.events(t)

	a, stopA := run(t, js, cfg, "s1", sc.now)
	publish(t, js, shuffledWithDuplicates(sc.msgs[:half], 2))
	wantHalf := jsonOf(t, normalize(reference(t, evs[:half], sc.now, "users", "orders")))
	waitFor(t, a, "the first half folded", func(st statusapi.Status) bool { return jsonOf(t, normalize(st)) == wantHalf })
	rest := shuffledWithDuplicates(sc.msgs[half:], 3)
	publish(t, js, rest[:len(rest)/2])
	stopA()
	publish(t, js, rest[len(rest)/2:])

	want := jsonOf(t, normalize(reference(t, evs, sc.now, "users", "orders")))
	b, _ := run(t, js, cfg, "s2", sc.now)
	c, _ := run(t, js, cfg, "s3", sc.now)
	for _, x := range []*Aggregator{b, c} {
		waitFor(t, x, "every event folded", func(st statusapi.Status) bool {
			return jsonOf(t, normalize(st)) == want && st.Events == int64(len(sc.msgs))+ownEvents(t, js)
		})
	}
	// Side by side, whole statuses (their own events included) agree once
	// both have read the same stream.
	deadline := time.After(30 * time.Second)
	for {
		changedB, changedC := b.Changed(), c.Changed()
		sb, sc2 := b.Status(), c.Status()
		sb.UptimeSeconds, sc2.UptimeSeconds = 0, 0
		if jsonOf(t, sb) == jsonOf(t, sc2) {
			var stopped bool
			for _, r := range sb.Replicas {
				stopped = stopped || (r.Instance == "s1" && r.Stopped && !r.Alive)
			}
			if !stopped {
				t.Errorf("the stopped aggregator s1 is not reported stopped: %s", jsonOf(t, sb.Replicas))
			}
			return
		}
		select {
		case <-changedB:
		case <-changedC:
		case <-deadline:
			t.Fatalf("side by side aggregators disagree:\n%s\n%s", jsonOf(t, sb), jsonOf(t, sc2))
		}
	}
}

// TestOwnEvents checks the status replica reports itself: started while it
// runs, stopped after.
func TestOwnEvents(t *testing.T) {
	js := natstest.Embedded(t).JetStream(t)
	cfg := testConfig("users")
	now := time.Now()
	a, stop := run(t, js, cfg, "s1", now)
	waitFor(t, a, "its own started event", func(st statusapi.Status) bool {
		return len(st.Replicas) == 1 && st.Replicas[0].Service == "status" && st.Replicas[0].StartedAt != nil
	})
	if st := a.Status(); st.Phase != statusapi.PhaseStarting || st.Indexes["users"] != statusapi.IndexPending || len(st.Indexes) != 1 {
		t.Errorf("phase %s, indexes %v; want starting, users pending (archive is disabled)", st.Phase, st.Indexes)
	}
	stop()
	b, _ := run(t, js, cfg, "s2", now)
	waitFor(t, b, "s1 reported stopped", func(st statusapi.Status) bool {
		for _, r := range st.Replicas {
			if r.Instance == "s1" && r.Stopped {
				return true
			}
		}
		return false
	})
}
