package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/statusapi"
)

func TestIndexes(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{})
	code, out, errOut := flusso(t, "indexes", "-c", examples, "--private-url", h.private, "--status-token", testToken)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if want := "cities    pending\nhosts     backfilling\nlistings  seeded\n"; out != want {
		t.Errorf("stdout\n%s\nwant\n%s", out, want)
	}
	code, out, errOut = flusso(t, "indexes", "-c", examples, "--private-url", h.private, "--status-token", testToken, "--format", "json")
	if code != 0 {
		t.Fatalf("json: exit %d, stderr:\n%s", code, errOut)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if want := h.src.Status().Indexes; len(got) != len(want) || got["hosts"] != want["hosts"] || got["listings"] != want["listings"] || got["cities"] != want["cities"] {
		t.Errorf("json %v, want %v", got, want)
	}
}

func TestIndexesFromTheConfigAndTheEnvironment(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{})
	t.Setenv("FLUSSO_STATUS_TOKEN", testToken)
	code, out, errOut := flusso(t, "indexes", "-c", examples, "--server-private-address", strings.TrimPrefix(h.private, "http://"))
	if code != 0 || !strings.Contains(out, "listings  seeded") {
		t.Errorf("from server.private_address: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Setenv("FLUSSO_PRIVATE_URL", h.private)
	code, out, errOut = flusso(t, "indexes", "-c", examples)
	if code != 0 || !strings.Contains(out, "listings  seeded") {
		t.Errorf("from FLUSSO_PRIVATE_URL: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestIndexesCredentials(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{})
	for _, tc := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"none", nil, []string{"the private surface at " + h.private + " needs credentials and none are configured", "--status-token or FLUSSO_STATUS_TOKEN", "--status-username and --status-password", "generated a token"}},
		{"a wrong token", []string{"--status-token", "guess"}, []string{"the private surface at " + h.private + " refused the token (status.token)", "--status-token"}},
		{"a user the service does not take", []string{"--status-username", "ops", "--status-password", "pw"}, []string{"refused the user and password (status.username, status.password)"}},
		{"a user without a password", []string{"--status-username", "ops"}, []string{"username and password go together"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := flusso(t, append([]string{"indexes", "-c", examples, "--private-url", h.private}, tc.args...)...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			for _, want := range tc.wants {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
			if strings.Contains(errOut, "guess") || strings.Contains(errOut, testToken) {
				t.Errorf("stderr shows a secret: %s", errOut)
			}
		})
	}
}

func TestIndexesWithBasicCredentials(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{username: "ops", password: "s3cret"})
	t.Setenv("FLUSSO_STATUS_USERNAME", "ops")
	t.Setenv("FLUSSO_STATUS_PASSWORD", "s3cret")
	code, out, errOut := flusso(t, "indexes", "-c", examples, "--private-url", h.private)
	if code != 0 || !strings.Contains(out, "hosts     backfilling") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = flusso(t, "indexes", "-c", examples, "--private-url", h.private, "--status-password", "wrong")
	if code != 1 || !strings.Contains(errOut, "refused the user and password") || strings.Contains(errOut, "wrong") {
		t.Errorf("a wrong password: exit %d, stderr %q", code, errOut)
	}
}

func TestIndexesNamesAnUnreachableURL(t *testing.T) {
	u := closedURL(t)
	for _, cmd := range [][]string{{"indexes"}, {"reindex", "listings"}} {
		code, out, errOut := flusso(t, append(cmd, "-c", examples, "--private-url", u, "--status-token", testToken)...)
		if code != 1 || out != "" || !strings.Contains(errOut, "cannot reach the status service's private surface at "+u) || !strings.Contains(errOut, "the status service must be running") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
	}
}

func TestIndexesUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"indexes", "--format", "yaml"},
		{"indexes", "extra"},
		{"indexes", "--private-url", "127.0.0.1:9465"},
		{"reindex"},
		{"reindex", "listings", "hosts"},
		{"reindex", " "},
		{"reindex", "listings", "--timeout", "5m"},
		{"reindex", "listings", "--url", "http://127.0.0.1:9464"},
		{"reindex", "listings", "--wait", "--timeout", "-1s"},
		{"reindex", "listings", "--wait", "--url", "nowhere"},
		{"reindex", "listings", "--no-such-flag"},
	} {
		code, out, errOut := flusso(t, append(args, "-c", examples)...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "flusso: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2", args, code, out, errOut)
		}
	}
}

// reindexArgs are the arguments of flusso reindex against h.
func reindexArgs(h *statusHarness, args ...string) []string {
	return append([]string{"reindex", "-c", examples, "--private-url", h.private, "--status-token", testToken}, args...)
}

// commands reads the reindex commands on the control stream.
func commands(t *testing.T, h *statusHarness) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, h.names.ControlStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var cmd changes.ReindexCommand
		if err := json.Unmarshal(m.Data, &cmd); err != nil {
			t.Fatal(err)
		}
		out = append(out, cmd.Index)
	}
	return out
}

func TestReindexQueued(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{nats: true})
	code, out, errOut := flusso(t, reindexArgs(h, " Listings ")...)
	if code != 0 || out != "reindex of listings queued\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := commands(t, h); len(got) != 1 || got[0] != "listings" {
		t.Errorf("control stream %v, want one reindex of listings", got)
	}
}

func TestReindexRefused(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{}) // no NATS: a command cannot be queued
	for _, tc := range []struct {
		name, index string
		wants       []string
	}{
		{"an unknown index", "nope", []string{`cannot reindex "nope": unknown index "nope" (enabled: listings, hosts, cities, bookings, night_rates)`, "flusso indexes lists the indexes"}},
		{"a bad name", "no-such!", []string{`cannot reindex "no-such!": "no-such!" is not a valid index name`}},
		{"an index being seeded", "hosts", []string{`reindex of "hosts" not queued: index "hosts" is being seeded (first run, 1 of 4 tasks done)`, "retry once it is seeded"}},
		{"NATS down", "listings", []string{`reindex of "listings" not queued: NATS is unavailable`, "retry later"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := flusso(t, reindexArgs(h, tc.index)...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			for _, want := range tc.wants {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
		})
	}
	code, _, errOut := flusso(t, "reindex", "listings", "-c", examples, "--private-url", h.private, "--status-token", "guess")
	if code != 1 || !strings.Contains(errOut, "refused the token") {
		t.Errorf("a wrong token: exit %d, stderr %q", code, errOut)
	}
}

func TestReindexWaitsForTheNewGeneration(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{nats: true})
	b := startFlusso(reindexArgs(h, "listings", "--wait", "--url", h.public)...)
	waitOutput(t, &b.out, "reindex of listings queued\n", 1)
	waitOutput(t, &b.out, "waiting for listings generation 2 or later to be seeded", 1)
	if got := commands(t, h); len(got) != 1 || got[0] != "listings" {
		t.Errorf("control stream %v, want one reindex of listings", got)
	}
	// Unrelated changes, and generation 1 still seeded, do not end the wait.
	h.src.set(func(st *statusapi.Status) { st.Events++ })
	started := time.Now().UTC().Round(0)
	h.src.set(func(st *statusapi.Status) {
		st.Indexes["listings"] = statusapi.IndexBackfilling
		st.Backfill["listings"] = &statusapi.Backfill{Generation: 2, Reason: "reindex", State: statusapi.IndexBackfilling, TasksDone: 1, TasksTotal: 4, Documents: 400, StartedAt: &started}
	})
	waitOutput(t, &b.out, " 1/4 tasks  400 docs  (generation 2, reindex)", 1)
	h.src.set(func(st *statusapi.Status) {
		st.Backfill["listings"].TasksDone, st.Backfill["listings"].Documents = 3, 1200
	})
	waitOutput(t, &b.out, " 3/4 tasks  1,200 docs", 1)
	seeded := started.Add(90 * time.Second)
	h.src.set(func(st *statusapi.Status) {
		st.Indexes["listings"] = statusapi.IndexSeeded
		bf := st.Backfill["listings"]
		bf.State, bf.TasksDone, bf.Documents, bf.SeededAt = statusapi.IndexSeeded, 4, 1500, &seeded
	})
	if code := b.wait(t); code != 0 {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, b.out.String(), b.errOut.String())
	}
	out := b.out.String()
	if !strings.HasSuffix(out, "listings seeded: generation 2, 1,500 docs in 1m30s\n") {
		t.Errorf("stdout:\n%s", out)
	}
	if strings.Contains(out, "seeded: generation 1") {
		t.Errorf("the wait ended on the old generation:\n%s", out)
	}
}

func TestReindexWaitTimesOut(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{nats: true})
	code, out, errOut := flusso(t, reindexArgs(h, "listings", "--wait", "--url", h.public, "--timeout", "300ms")...)
	if code != 1 || !strings.HasPrefix(out, "reindex of listings queued\n") {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	if want := "listings was not seeded within 300ms (the capture had not started it yet); the reindex goes on: follow it with flusso status"; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q lacks %q", errOut, want)
	}
}

func TestReindexWaitNeedsThePublicSurface(t *testing.T) {
	h := newStatusHarness(t, harnessOptions{nats: true})
	u := closedURL(t)
	code, out, errOut := flusso(t, reindexArgs(h, "listings", "--wait", "--url", u)...)
	if code != 1 || out != "" || !strings.Contains(errOut, "--wait follows the public surface: cannot reach the status service at "+u) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Nothing was asked of a pipeline that could not be followed.
	if got := commands(t, h); len(got) != 0 {
		t.Errorf("control stream %v, want nothing", got)
	}
}
