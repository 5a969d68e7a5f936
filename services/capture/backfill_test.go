package capture

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/events"
)

const itemsYAML = `
version: 1
table: items
fields:
  - integer: v
`

// The slot is created before the key scan and the scan uses its snapshot:
// with rows inserted all along, every row is either in a backfill task's
// range (it existed at the snapshot) or streamed by the slot (it did not),
// never neither and never both.
func TestSetupFirstRunConcurrentWrites(t *testing.T) {
	const initial = 20000
	h := newHarness(t, harnessOptions{
		SQL:      `CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO items SELECT g, 0 FROM generate_series(1, 20000) g;`,
		Schemas:  map[string]string{"items": itemsYAML},
		Settings: map[string]string{"capture.backfill_chunk": "997"},
	})
	c := h.NewCapture(t, "c1", nil)

	next, stop := startWriter(t, h, initial)
	waitFor(t, 10*time.Second, "the writer to start", func() bool { return next.Load() > initial+50 })
	s := runSetup(t, c)
	atSetup := next.Load()
	waitFor(t, 10*time.Second, "writes after setup", func() bool { return next.Load() > atSetup+50 })
	stop()
	s.close() // the slot is idle again: peek at what it would stream

	st := h.indexState(t, "items")
	if st == nil || st.State != stateBackfilling || st.SnapshotLSN != s.start || st.Generation != 1 || st.Reason != reasonFirstRun || !slices.Equal(st.KeyColumns, []string{"id"}) {
		t.Fatalf("state %+v; want backfilling generation 1, first run, snapshot at the slot's consistent point %s", st, s.start)
	}
	if want := int((st.Keys + 996) / 997); st.Tasks != want || st.Keys < initial {
		t.Fatalf("state: %d tasks for %d keys, want %d (>= %d keys)", st.Tasks, st.Keys, want, initial)
	}
	ev := h.backfillStarted(t, "items")
	if ev.Reason != reasonFirstRun || ev.Tasks != st.Tasks || ev.Keys != st.Keys || ev.SnapshotLSN != s.start.String() || ev.Hash != st.Hash {
		t.Fatalf("BackfillStarted %+v, state %+v", ev, st)
	}
	tasks := h.tasksOf(t, "items", st.Tasks, st.Keys)
	for i, task := range tasks {
		if task.SnapshotLSN != s.start || task.Hash != st.Hash || !slices.Equal(task.KeyColumns, []string{"id"}) {
			t.Fatalf("task %d: %+v", i+1, task)
		}
		if i > 0 && ints(t, tasks[i-1].To) >= ints(t, task.From) {
			t.Fatalf("tasks %d and %d overlap: %v..%v, %v..%v", i, i+1, tasks[i-1].From, tasks[i-1].To, task.From, task.To)
		}
	}
	inTask := func(id int64) bool {
		for _, task := range tasks {
			if ints(t, task.From) <= id && id <= ints(t, task.To) {
				return true
			}
		}
		return false
	}

	streamed := h.peekInserts(t, "items")
	ids := h.queryStrings(t, `SELECT id::text FROM items ORDER BY id`)
	var fromTasks, fromStream int
	for _, s := range ids {
		id, _ := strconv.ParseInt(s, 10, 64)
		switch a, b := inTask(id), streamed[s]; {
		case a && b:
			t.Fatalf("row %d is both in a backfill task and streamed", id)
		case !a && !b:
			t.Fatalf("row %d is lost: in no backfill task, and not streamed", id)
		case a:
			fromTasks++
		default:
			fromStream++
		}
	}
	if int64(fromTasks) != st.Keys || fromStream == 0 || fromTasks <= initial {
		t.Fatalf("%d rows from tasks (state: %d keys), %d streamed: the writes did not straddle the slot's creation", fromTasks, st.Keys, fromStream)
	}
	t.Logf("%d rows from %d tasks, %d streamed", fromTasks, len(tasks), fromStream)
}

// The same through the whole capture: the backfill tasks plus the changes
// it streams once live cover every row exactly once.
func TestBackfillFirstRunStreamed(t *testing.T) {
	const initial = 5000
	h := newHarness(t, harnessOptions{
		SQL:      `CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL); INSERT INTO items SELECT g, 0 FROM generate_series(1, 5000) g;`,
		Schemas:  map[string]string{"items": itemsYAML},
		Settings: map[string]string{"capture.backfill_chunk": "499"},
	})
	next, stop := startWriter(t, h, initial)
	waitFor(t, 10*time.Second, "the writer to start", func() bool { return next.Load() > initial+50 })
	h.StartCapture(t, "c1", nil)
	h.WaitEvent(t, events.LiveStarted, 30*time.Second, nil)
	live := next.Load()
	waitFor(t, 10*time.Second, "writes while live", func() bool { return next.Load() > live+50 })
	stop()

	st := h.indexState(t, "items")
	tasks := h.tasksOf(t, "items", st.Tasks, st.Keys)
	last := ints(t, tasks[len(tasks)-1].To)
	var total int64
	if err := h.Pool.QueryRow(context.Background(), `SELECT count(*) FROM items`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	// Every row is a task's or a change's, never both.
	seen := map[int64]bool{}
	for _, ch := range h.ReadChanges(t, int(total-st.Keys), 30*time.Second) {
		id, err := strconv.ParseInt(ch.Key[0], 10, 64)
		if err != nil || ch.Op != changes.Insert || ch.Table != "items" {
			t.Fatalf("change %+v", ch)
		}
		if id <= last || seen[id] {
			t.Fatalf("row %d is streamed, and in a task or streamed before (tasks end at %d)", id, last)
		}
		seen[id] = true
	}
	h.NoMoreChanges(t, 500*time.Millisecond)
	t.Logf("%d rows from %d tasks, %d streamed", st.Keys, len(tasks), len(seen))
}

const accountsYAML = `
version: 1
table: accounts
primary_key: [region, num]
fields:
  - text: name
`

// A composite key: the tasks' ranges, read the way the indexer reads them,
// hold exactly the keys they count, in order and without overlap.
func TestBackfillCompositeKey(t *testing.T) {
	h := newHarness(t, harnessOptions{
		SQL: `CREATE TABLE accounts (region text, num int, name text, PRIMARY KEY (region, num));
INSERT INTO accounts SELECT r, n, r || n FROM unnest(ARRAY['eu', 'us', 'ap']) r, generate_series(1, 4) n;
INSERT INTO accounts VALUES ('eu', 10, 'x'), ('eu', 9, 'y');`,
		Schemas:  map[string]string{"accounts": accountsYAML},
		Settings: map[string]string{"capture.backfill_chunk": "5"},
	})
	runSetup(t, h.NewCapture(t, "c1", nil))
	st := h.indexState(t, "accounts")
	if st.Keys != 14 || st.Tasks != 3 {
		t.Fatalf("state: %d keys, %d tasks; want 14, 3", st.Keys, st.Tasks)
	}
	tasks := h.tasksOf(t, "accounts", 3, 14)
	wantBounds := [][2][]string{
		{{"ap", "1"}, {"eu", "1"}},
		{{"eu", "2"}, {"eu", "10"}}, // integer order, not text order
		{{"us", "1"}, {"us", "4"}},
	}
	for i, task := range tasks {
		if !slices.Equal(task.KeyColumns, []string{"region", "num"}) || !slices.Equal(task.From, wantBounds[i][0]) || !slices.Equal(task.To, wantBounds[i][1]) {
			t.Fatalf("task %d: columns %v, %v..%v; want %v..%v", i+1, task.KeyColumns, task.From, task.To, wantBounds[i][0], wantBounds[i][1])
		}
		var n int
		err := h.Pool.QueryRow(context.Background(), `SELECT count(*) FROM accounts WHERE (region, num) BETWEEN ($1::text, $2::int) AND ($3::text, $4::int)`,
			task.From[0], task.From[1], task.To[0], task.To[1]).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != task.Keys {
			t.Fatalf("task %d counts %d keys; its range holds %d", i+1, task.Keys, n)
		}
	}
}

// An empty root table is seeded at once, with no task.
func TestBackfillZeroRows(t *testing.T) {
	h := newHarness(t, shop(`INSERT INTO users VALUES (1, 'a@x'), (2, 'b@x');`))
	runSetup(t, h.NewCapture(t, "c1", nil))
	st := h.indexState(t, "products")
	if st == nil || st.State != stateSeeded || st.Tasks != 0 || st.Keys != 0 || st.SeededAt == nil {
		t.Fatalf("products state %+v; want seeded at once", st)
	}
	if ev := h.backfillStarted(t, "products"); ev.Tasks != 0 || ev.Reason != reasonFirstRun {
		t.Fatalf("BackfillStarted %+v", ev)
	}
	h.WaitEvent(t, events.IndexSeeded, 10*time.Second, func(e event) bool {
		return decodeData[events.IndexSeededData](t, e).Index == "products"
	})
	tasks := h.tasksOf(t, "users", 1, 2)
	if !slices.Equal(tasks[0].From, []string{"1"}) || !slices.Equal(tasks[0].To, []string{"2"}) {
		t.Fatalf("task %+v", tasks[0])
	}
	if n := h.StreamCount(t, h.Names.TaskSubject("products")); n != 0 {
		t.Fatalf("%d tasks for the empty products", n)
	}
	if st := h.indexState(t, "users"); st.State != stateBackfilling || st.Tasks != 1 || st.Keys != 2 {
		t.Fatalf("users state %+v", st)
	}
}

// A slot dropped while the capture was stopped loses the changes since its
// confirmed position: the next setup creates it again and reseeds every
// index.
func TestSlotDroppedReseeds(t *testing.T) {
	h := newHarness(t, shop(`INSERT INTO users VALUES (1, 'a@x');`))
	first := runSetup(t, h.NewCapture(t, "c1", nil))
	h.backfillStarted(t, "products")
	h.backfillStarted(t, "users")
	first.close()
	h.Exec(t, `SELECT pg_drop_replication_slot('`+h.Slot+`')`)

	second := runSetup(t, h.NewCapture(t, "c2", nil))
	if !h.slotExists(t) {
		t.Fatal("the slot was not created again")
	}
	for _, ix := range []string{"products", "users"} {
		ev := h.backfillStarted(t, ix)
		st := h.indexState(t, ix)
		if ev.Reason != reasonSlotLost || st.Reason != reasonSlotLost || st.Generation != 2 || st.SnapshotLSN != second.start {
			t.Fatalf("%s: BackfillStarted %+v, state %+v; want slot lost, generation 2 at %s", ix, ev, st, second.start)
		}
	}
	if st := h.indexState(t, "products"); st.Serving == nil || st.Serving.Generation != 1 {
		t.Fatalf("products: serving %+v; want generation 1 until generation 2 is seeded", st.Serving)
	}
	h.WaitEvent(t, events.Error, 10*time.Second, func(e event) bool {
		return decodeData[events.ErrorData](t, e).Component == "slot"
	})

	// A state with no slot and no slot identity is a lost slot too.
	second.close()
	h.Exec(t, `SELECT pg_drop_replication_slot('`+h.Slot+`')`)
	kv, err := h.JS.KeyValue(context.Background(), h.Names.StateBucket())
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(context.Background(), slotKey); err != nil {
		t.Fatal(err)
	}
	runSetup(t, h.NewCapture(t, "c3", nil))
	if ev := h.backfillStarted(t, "users"); ev.Reason != reasonSlotLost {
		t.Fatalf("BackfillStarted %+v; want slot lost", ev)
	}
}

// A new schema hash reseeds that index only; the others keep their
// generation.
func TestReseedNewSchema(t *testing.T) {
	h := newHarness(t, shop(`INSERT INTO products VALUES ('a', 'A');`))
	runSetup(t, h.NewCapture(t, "c1", nil)).close()
	h.backfillStarted(t, "products")
	h.backfillStarted(t, "users")
	before := h.indexState(t, "users")

	h.opts.Schemas["products"] = productsYAML + "  - keyword: sku\n"
	runSetup(t, h.NewCapture(t, "c2", nil))
	ev := h.backfillStarted(t, "products")
	st := h.indexState(t, "products")
	if ev.Reason != reasonNewSchema || st.Generation != 2 || ev.Hash == before.Hash || st.Hash != ev.Hash {
		t.Fatalf("BackfillStarted %+v, state %+v", ev, st)
	}
	h.noBackfillStarted(t, "users")
	if after := h.indexState(t, "users"); after.Generation != before.Generation || after.Hash != before.Hash {
		t.Fatalf("users changed: %+v -> %+v", before, after)
	}
}

// A reindex command reseeds with a new generation: one queued while the
// capture was stopped is taken at setup, one sent while it runs by the
// consumer setup started.
func TestReseedReindexCommand(t *testing.T) {
	h := newHarness(t, shop(`INSERT INTO users VALUES (1, 'a@x'), (2, 'b@x');`))
	runSetup(t, h.NewCapture(t, "c1", nil)).close()
	first := h.backfillStarted(t, "users")
	h.tasksOf(t, "users", 1, 2)

	h.publishReindex(t, "users")
	h.publishReindex(t, "users") // twice: one seeding
	h.publishReindex(t, "nosuch")
	s := runSetup(t, h.NewCapture(t, "c2", nil))
	ev := h.backfillStarted(t, "users")
	if ev.Reason != reasonReindex || ev.SnapshotLSN == first.SnapshotLSN || ev.Hash != first.Hash {
		t.Fatalf("BackfillStarted %+v after %+v", ev, first)
	}
	if st := h.indexState(t, "users"); st.Generation != 2 || st.Reason != reasonReindex {
		t.Fatalf("state %+v; want generation 2 for the reindex", st)
	}
	h.tasksOf(t, "users", 1, 2)
	h.noBackfillStarted(t, "products")
	h.noBackfillStarted(t, "users")

	h.publishReindex(t, "users")
	ev = h.backfillStarted(t, "users")
	if ev.Reason != reasonReindex {
		t.Fatalf("BackfillStarted %+v", ev)
	}
	waitFor(t, 10*time.Second, "generation 3", func() bool { return h.indexState(t, "users").Generation == 3 })
	h.tasksOf(t, "users", 1, 2)
	// Every command is acked (or terminated) once acted on.
	waitFor(t, 10*time.Second, "the control queue to empty", func() bool {
		stream, err := h.JS.Stream(context.Background(), h.Names.ControlStream())
		if err != nil {
			t.Fatal(err)
		}
		info, err := stream.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	})
	s.close()
}

// A TRUNCATE reseeds exactly the indexes that read the table.
func TestReseedTruncate(t *testing.T) {
	h := newHarness(t, shop(`INSERT INTO users VALUES (1, 'a@x'); INSERT INTO products VALUES ('a', 'A');`))
	c := h.NewCapture(t, "c1", nil)
	runSetup(t, c)
	h.backfillStarted(t, "products")
	h.backfillStarted(t, "users")

	orders := config.TableRef{Schema: "public", Name: "orders"}
	if got := c.indexesReading(orders); !slices.Equal(got, []string{"users"}) {
		t.Fatalf("indexes reading orders: %v", got)
	}
	if got := c.indexesReading(config.TableRef{Schema: "public", Name: "products"}); !slices.Equal(got, []string{"products"}) {
		t.Fatalf("indexes reading products: %v", got)
	}
	h.Exec(t, `TRUNCATE orders`)
	if err := c.reseed(context.Background(), c.indexesReading(orders), reasonTruncate); err != nil {
		t.Fatal(err)
	}
	ev := h.backfillStarted(t, "users")
	if st := h.indexState(t, "users"); ev.Reason != reasonTruncate || st.Generation != 2 || st.State != stateBackfilling {
		t.Fatalf("BackfillStarted %+v, state %+v", ev, st)
	}
	h.noBackfillStarted(t, "products")
	if err := c.reseed(context.Background(), []string{"nosuch"}, reasonTruncate); err == nil {
		t.Fatal("reseed of an unknown index succeeded")
	}
}

// A seeding interrupted before its tasks were planned is resumed with its
// generation; one interrupted while publishing them gets a new one.
func TestSetupResumesInterruptedSeeding(t *testing.T) {
	h := newHarness(t, shop(`INSERT INTO users VALUES (1, 'a@x'); INSERT INTO products VALUES ('a', 'A');`))
	c := h.NewCapture(t, "c1", nil)
	runSetup(t, c).close()
	h.backfillStarted(t, "products")
	h.backfillStarted(t, "users")

	ctx := context.Background()
	st, err := c.stateStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	users, rev, err := st.index(ctx, "users")
	if err != nil {
		t.Fatal(err)
	}
	users.Generation, users.State, users.Reason = 7, statePending, reasonReindex
	if _, err := st.put(ctx, indexKey("users"), users, rev); err != nil {
		t.Fatal(err)
	}
	products, rev, err := st.index(ctx, "products")
	if err != nil {
		t.Fatal(err)
	}
	// Two tasks counted; none reached the stream under this snapshot.
	products.Generation, products.State, products.Tasks, products.SnapshotLSN = 4, stateBackfilling, 2, products.SnapshotLSN+1
	if _, err := st.put(ctx, indexKey("products"), products, rev); err != nil {
		t.Fatal(err)
	}

	runSetup(t, h.NewCapture(t, "c2", nil))
	if ev, st := h.backfillStarted(t, "products"), h.indexState(t, "products"); ev.Reason != reasonFirstRun || st.Generation != 5 {
		t.Fatalf("products: BackfillStarted %+v, state %+v; want the first run's reason, generation 5", ev, st)
	}
	if ev, st := h.backfillStarted(t, "users"), h.indexState(t, "users"); ev.Reason != reasonReindex || st.Generation != 7 || st.State != stateBackfilling {
		t.Fatalf("users: BackfillStarted %+v, state %+v; want the reindex resumed as generation 7", ev, st)
	}
}

// Tables missing from the publication of a running pipeline are added back,
// and the indexes reading them reseeded: their changes in between were
// never streamed.
func TestPublicationExtendedReseeds(t *testing.T) {
	h := newHarness(t, shop(`INSERT INTO users VALUES (1, 'a@x');`))
	runSetup(t, h.NewCapture(t, "c1", nil)).close()
	h.backfillStarted(t, "products")
	h.backfillStarted(t, "users")
	h.Exec(t, `ALTER PUBLICATION flusso DROP TABLE orders`)

	runSetup(t, h.NewCapture(t, "c2", nil))
	if ev := h.backfillStarted(t, "users"); ev.Reason != reasonPublication {
		t.Fatalf("BackfillStarted %+v", ev)
	}
	h.noBackfillStarted(t, "products")
	if got := h.publishedTables(t); !slices.Contains(got, "public.orders") {
		t.Fatalf("publication covers %v", got)
	}
}

// Nothing to do: a second setup over a seeded state and a healthy slot
// starts from the slot's confirmed position and seeds nothing.
func TestSetupNothingToSeed(t *testing.T) {
	h := newHarness(t, shop())
	first := runSetup(t, h.NewCapture(t, "c1", nil))
	first.close()
	h.backfillStarted(t, "products")
	h.backfillStarted(t, "users")
	second := runSetup(t, h.NewCapture(t, "c2", nil))
	confirmed, _, _ := h.SlotState(t)
	if second.start != confirmed || second.start != first.start {
		t.Fatalf("start %s; slot confirmed at %s, created at %s", second.start, confirmed, first.start)
	}
	h.noBackfillStarted(t, "products")
	h.noBackfillStarted(t, "users")
}

// Concurrent writers of an index's state: a newer request supersedes a
// seeding being planned; a second request of the same pending generation
// (another capture resuming it) is taken over.
func TestReseedStateRaces(t *testing.T) {
	h := newHarness(t, shop())
	c := h.NewCapture(t, "c1", nil)
	ctx := context.Background()
	st, err := c.stateStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ix := c.cfg.Index("users")
	a, err := c.request(ctx, st, ix, reasonReindex, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.request(ctx, st, ix, reasonTruncate, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.state.Generation != 1 || b.state.Generation != 2 {
		t.Fatalf("generations %d, %d; want 1, 2", a.state.Generation, b.state.Generation)
	}
	a.state.State = stateBackfilling
	if _, err := st.advance(ctx, a.state, a.rev); !errors.Is(err, errSuperseded) {
		t.Fatalf("advance of a superseded seeding: %v", err)
	}
	again, err := c.request(ctx, st, ix, reasonTruncate, true) // resumes generation 2
	if err != nil {
		t.Fatal(err)
	}
	if again.state.Generation != 2 {
		t.Fatalf("resumed generation %d, want 2", again.state.Generation)
	}
	b.state.State = stateBackfilling
	if _, err := st.advance(ctx, b.state, b.rev); err != nil {
		t.Fatalf("advance after a resume of the same generation: %v", err)
	}
	if got := h.indexState(t, "users"); got.State != stateBackfilling || got.Generation != 2 {
		t.Fatalf("state %+v", got)
	}
}

// startWriter inserts items rows with ids after initial until stop, which
// returns once the last insert is done. It stops between inserts, never by
// cancelling one: a cancelled INSERT may still commit after the rows are
// counted.
func startWriter(t *testing.T, h *harness, initial int64) (next *atomic.Int64, stop func()) {
	var done atomic.Bool
	next = new(atomic.Int64)
	next.Store(initial)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			id := next.Add(1)
			if _, err := h.Pool.Exec(context.Background(), `INSERT INTO items VALUES ($1, 1)`, id); err != nil {
				t.Errorf("insert %d: %v", id, err)
				return
			}
		}
	}()
	return next, func() { done.Store(true); wg.Wait() }
}
