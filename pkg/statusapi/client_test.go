package statusapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The client against a stand-in of the service; services/status tests it
// against the real one.

func TestClientSendsCredentialsOnlyToThePrivateSurface(t *testing.T) {
	var public, private []string
	pub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		public = append(public, r.Header.Get("Authorization"))
		_ = json.NewEncoder(w).Encode(Status{Phase: PhaseLive})
	}))
	defer pub.Close()
	priv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		private = append(private, r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/indexes":
			_ = json.NewEncoder(w).Encode(map[string]string{"users": IndexSeeded})
		case "/reindex":
			if r.Method != http.MethodPost {
				t.Errorf("reindex sent with %s", r.Method)
			}
			w.WriteHeader(http.StatusAccepted)
			_ = json.NewEncoder(w).Encode(ReindexResponse{Index: r.URL.Query().Get("index"), Status: "queued"})
		}
	}))
	defer priv.Close()

	cases := []struct {
		name   string
		client Client
		want   string
	}{
		{"token", Client{Token: "t0k"}, "Bearer t0k"},
		{"basic", Client{Username: "ops", Password: "pw"}, "Basic b3BzOnB3"},
		{"token wins", Client{Token: "t0k", Username: "ops", Password: "pw"}, "Bearer t0k"},
		{"none", Client{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			public, private = nil, nil
			c := tc.client
			c.BaseURL, c.PrivateURL = pub.URL, priv.URL+"/"
			ctx := context.Background()
			st, err := c.Status(ctx)
			if err != nil || st.Phase != PhaseLive {
				t.Fatalf("Status: %+v, %v", st, err)
			}
			ixs, err := c.Indexes(ctx)
			if err != nil || ixs["users"] != IndexSeeded {
				t.Fatalf("Indexes: %v, %v", ixs, err)
			}
			resp, err := c.Reindex(ctx, "users")
			if err != nil || *resp != (ReindexResponse{Index: "users", Status: "queued"}) {
				t.Fatalf("Reindex: %+v, %v", resp, err)
			}
			if public[0] != "" {
				t.Errorf("the public surface got credentials %q", public[0])
			}
			for _, got := range private {
				if got != tc.want {
					t.Errorf("private surface: Authorization %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestClientErrorsNameTheURLAndTheServerMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("index") {
		case "nope":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"unknown index \"nope\""}`))
		default:
			http.Error(w, "upstream exploded", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	c := Client{PrivateURL: srv.URL, Token: "x"}

	_, err := c.Reindex(context.Background(), "nope")
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusNotFound {
		t.Fatalf("got %v, want an *Error with 404", err)
	}
	want := fmt.Sprintf(`POST %s/reindex?index=nope: 404 Not Found: unknown index "nope"`, srv.URL)
	if err.Error() != want {
		t.Errorf("error %q\nwant    %q", err, want)
	}

	_, err = c.Reindex(context.Background(), "other")
	if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway: upstream exploded") || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("a plain-text error: %v", err)
	}

	if _, err := (&Client{}).Status(context.Background()); err == nil || !strings.Contains(err.Error(), "BaseURL") {
		t.Errorf("no base URL: %v", err)
	}
	srv.Close()
	if _, err := (&Client{BaseURL: srv.URL}).Status(context.Background()); err == nil || !strings.Contains(err.Error(), srv.URL+"/status") {
		t.Errorf("a server that is gone: %v", err)
	}
}

func TestClientStreamReadsEventsAndSkipsTheRest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fmt.Fprint(w, ": heartbeat\n\n")
		fmt.Fprint(w, "event: status\ndata: {\"phase\":\"starting\",\ndata: \"events\":1}\n\n")
		fmt.Fprint(w, "event: other\ndata: {\"phase\":\"ignored\"}\n\n")
		fmt.Fprint(w, "event: status\ndata: {\"phase\":\"live\",\"events\":2}\n\n")
		fl.Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := Client{BaseURL: srv.URL}
	var got []string
	stop := errors.New("enough")
	err := c.Stream(context.Background(), func(st Status) error {
		got = append(got, fmt.Sprintf("%s/%d", st.Phase, st.Events))
		if len(got) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Stream returned %v, want fn's error", err)
	}
	if strings.Join(got, " ") != "starting/1 live/2" {
		t.Errorf("statuses %v", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Stream(ctx, func(Status) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stream after the context ended: %v", err)
	}
}

func TestClientStreamEndedByTheServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: status\ndata: {\"phase\":\"live\"}\n\n")
	}))
	defer srv.Close()
	n := 0
	err := (&Client{BaseURL: srv.URL}).Stream(context.Background(), func(Status) error { n++; return nil })
	if n != 1 || err == nil || !strings.Contains(err.Error(), "ended the stream") {
		t.Errorf("got %d statuses and %v", n, err)
	}
}
