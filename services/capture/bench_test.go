package capture

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkCapture measures the capture against the WAL it reads, once per
// run (use -benchtime=1x):
//
//   - capture-changes/s: 100k single-row updates, committed before the
//     capture starts, from the slot to stored in JetStream (a nats-server
//     process, file storage, message ids);
//
//   - bare-decode-changes/s: a bare pglogrepl loop that only receives and
//     decodes the same WAL from a second slot, and capture/bare their ratio;
//
//   - peak-heap-MB-100k / -1M: the Go heap's peak while the capture streams
//     one transaction of 100k, then of 1M inserted rows: flat, not
//     proportional to the transaction.
//
//     go test ./services/capture -run '^$' -bench BenchmarkCapture -benchtime=1x
func BenchmarkCapture(b *testing.B) {
	if testing.Short() {
		b.Skip("long: 1.2M changes through Postgres and NATS")
	}
	const updates = 100_000
	srv := natstest.Process(b) // out of process: its memory is not the capture's
	h := newHarness(b, harnessOptions{
		SQL: fmt.Sprintf(`CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
			INSERT INTO items SELECT g, 0 FROM generate_series(1, %d) g;
			CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL);`, updates),
		Schemas: map[string]string{
			"items": "version: 1\ntable: items\nprimary_key: id\nfields:\n  - integer: v\n",
			"big":   "version: 1\ntable: big\nprimary_key: id\nfields:\n  - integer: v\n",
		},
		NATSURL: srv.URL(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := h.NewCapture(b, "bench", nil)
	conn, start, err := c.setup(ctx) // publication, slot, (empty) seeding
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	bare := "bare_" + h.Slot
	if _, err := h.Pool.Exec(ctx, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, bare); err != nil {
		b.Fatal(err)
	}
	defer h.Pool.Exec(context.Background(), `SELECT pg_drop_replication_slot($1)`, bare)

	h.Exec(b, fmt.Sprintf(`DO $$ BEGIN FOR i IN 1..%d LOOP UPDATE items SET v = v + 1 WHERE id = i; COMMIT; END LOOP; END $$`, updates))

	// The bare loop runs before and after the capture (nothing confirms on
	// its slot, so it reads the same WAL twice); the faster run counts.
	bareTime, err := bareDecode(h.DB.URL, bare, h.Publication, updates)
	if err != nil {
		b.Fatal(err)
	}

	streamed := make(chan error, 1)
	// Stored changes: the stream's message count (no backfill task is
	// published meanwhile), polled without a subject filter to stay cheap.
	stored := func() uint64 {
		for {
			qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
			s, err := h.JS.Stream(qctx, h.Names.ChangesStream())
			if err == nil {
				var info *jetstream.StreamInfo
				if info, err = s.Info(qctx); err == nil {
					qcancel()
					return info.State.Msgs
				}
			}
			qcancel()
			b.Logf("stream info: %v", err)
		}
	}
	waitStored := func(n uint64, what string) {
		b.Helper()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		deadline := time.Now().Add(5 * time.Minute)
		for stored() < n {
			select {
			case err := <-streamed:
				b.Fatalf("stream ended: %v", err)
			case <-tick.C:
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s: not stored within 5 minutes", what)
			}
		}
	}
	b.ResetTimer()
	base := stored()
	began := time.Now()
	go func() { streamed <- c.stream(ctx, conn, start) }()
	waitStored(base+updates, "the updates")
	captureTime := time.Since(began)
	b.StopTimer()
	again, err := bareDecode(h.DB.URL, bare, h.Publication, updates)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("bare decode: %s then %s; capture: %s", bareTime, again, captureTime)
	bareTime = min(bareTime, again)

	captureRate := updates / captureTime.Seconds()
	bareRate := updates / bareTime.Seconds()
	b.ReportMetric(captureRate, "capture-changes/s")
	b.ReportMetric(bareRate, "bare-decode-changes/s")
	b.ReportMetric(captureRate/bareRate, "capture/bare")

	// Peak heap while one large transaction streams.
	peak := func(rows int, from int) (heapMB, liveMB, rate float64) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		var (
			mu   sync.Mutex
			max  uint64
			live uint64
			stop = make(chan struct{})
			done = make(chan struct{})
		)
		go func() {
			defer close(done)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
				metrics.Read(sample)
				mu.Lock()
				max = maxU(max, ms.HeapAlloc)
				live = maxU(live, sample[0].Value.Uint64())
				mu.Unlock()
			}
		}()
		n := stored()
		committed := time.Now()
		h.Exec(b, fmt.Sprintf(`INSERT INTO big SELECT g, 0 FROM generate_series(%d, %d) g`, from, from+rows-1))
		waitStored(n+uint64(rows), fmt.Sprintf("a %d-row transaction", rows))
		rate = float64(rows) / time.Since(committed).Seconds()
		close(stop)
		<-done
		b.Logf("%d-row transaction: heap %.1f MB before, %.1f MB at the peak (live heap after a GC: %.1f MB at the peak)",
			rows, float64(before)/(1<<20), float64(max)/(1<<20), float64(live)/(1<<20))
		return float64(max) / (1 << 20), float64(live) / (1 << 20), rate
	}
	heap, live, _ := peak(100_000, 1)
	b.ReportMetric(heap, "peak-heap-MB-100k")
	b.ReportMetric(live, "peak-live-heap-MB-100k")
	heap, live, rate := peak(1_000_000, 1_000_001)
	b.ReportMetric(heap, "peak-heap-MB-1M")
	b.ReportMetric(live, "peak-live-heap-MB-1M")
	b.ReportMetric(rate, "1M-tx-changes/s")
	cancel()
	<-streamed
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// bareDecode streams a slot with nothing but pglogrepl: receive, parse,
// count updates, until want of them; it returns the time taken.
func bareDecode(url, slot, publication string, want int) (time.Duration, error) {
	ctx := context.Background()
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return 0, err
	}
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	began := time.Now()
	err = pglogrepl.StartReplication(ctx, conn, slot, 0, pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '1'", "publication_names '" + publication + "'"},
	})
	if err != nil {
		return 0, err
	}
	_ = conn.Conn().SetReadDeadline(time.Now().Add(5 * time.Minute))
	var pos pglogrepl.LSN
	for n := 0; n < want; {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			return 0, err
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 {
			continue
		}
		switch cd.Data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			pkm, err := pglogrepl.ParsePrimaryKeepaliveMessage(cd.Data[1:])
			if err != nil {
				return 0, err
			}
			if pkm.ReplyRequested {
				if err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: pos}); err != nil {
					return 0, err
				}
			}
		case pglogrepl.XLogDataByteID:
			xld, err := pglogrepl.ParseXLogData(cd.Data[1:])
			if err != nil {
				return 0, err
			}
			m, err := pglogrepl.Parse(xld.WALData)
			if err != nil {
				return 0, err
			}
			if _, ok := m.(*pglogrepl.UpdateMessage); ok {
				n++
			}
		}
	}
	return time.Since(began), nil
}
