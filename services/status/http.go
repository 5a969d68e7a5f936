package status

// The HTTP surfaces of the status service. The public one (/healthz,
// /readyz, /status, /status/stream, /metrics and the dashboard) reads a
// Source; the private one (/indexes, /reindex) also publishes control
// commands to the capture. This file owns transport only: what the status
// says is the aggregator's business.

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flusso-go/flusso/pkg/changes"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source is what the surfaces read: the folded status and when it changes.
type Source interface {
	Status() statusapi.Status
	Ready() bool
	// Changed returns a channel closed at the next change.
	Changed() <-chan struct{}
	Registry() *prometheus.Registry
}

// Defaults of the ServerOptions durations.
const (
	DefaultStreamInterval  = 250 * time.Millisecond
	DefaultStreamHeartbeat = 15 * time.Second
	// DefaultReindexWindow: repeated reindex requests of one index within
	// the same window of this length are one command.
	DefaultReindexWindow = 10 * time.Second
)

// publishTimeout bounds the wait for JetStream to store a reindex command.
const publishTimeout = 5 * time.Second

// ServerOptions configure NewServer.
type ServerOptions struct {
	Config *config.Config
	// JetStream carries reindex commands to the capture; nil answers 503.
	JetStream jetstream.JetStream
	Logger    *slog.Logger
	// Token, Username and Password are the resolved credentials of the
	// private surface. With no token and no username and password, a token
	// is generated and logged once.
	Token, Username, Password string
	// Instance names this status service in the commands it publishes.
	Instance string
	// StreamInterval is the least time between two messages of
	// /status/stream; StreamHeartbeat the time between keep-alive comments.
	// Zero means the defaults.
	StreamInterval, StreamHeartbeat time.Duration
	// ReindexWindow is the dedupe window of reindex requests; zero means
	// DefaultReindexWindow.
	ReindexWindow time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves both surfaces.
type Server struct {
	src     Source
	cfg     *config.Config
	js      jetstream.JetStream
	log     *slog.Logger
	names   changes.Names
	auth    *authenticator
	source  string // CloudEvents-style source of the commands published
	now     func() time.Time
	every   time.Duration
	beat    time.Duration
	window  time.Duration
	web     fs.FS
	stopped chan struct{} // closed when Serve shuts down: ends the streams
	stop    sync.Once
	// ioTimeout bounds reading a request and writing a plain answer.
	ioTimeout time.Duration
	public    http.Handler
	private   http.Handler
}

//go:embed web
var webFiles embed.FS

// NewServer builds the surfaces over src. It generates the private
// surface's token now when no credentials are given.
func NewServer(src Source, o ServerOptions) *Server {
	s := &Server{
		src: src, cfg: o.Config, js: o.JetStream, log: o.Logger, now: o.Now,
		every: o.StreamInterval, beat: o.StreamHeartbeat, window: o.ReindexWindow,
		stopped: make(chan struct{}), ioTimeout: 30 * time.Second,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "http")
	if s.now == nil {
		s.now = time.Now
	}
	if s.every <= 0 {
		s.every = DefaultStreamInterval
	}
	if s.beat <= 0 {
		s.beat = DefaultStreamHeartbeat
	}
	if s.window <= 0 {
		s.window = DefaultReindexWindow
	}
	if s.cfg != nil {
		s.names = changes.NamesFor(s.cfg.Pipeline())
		s.source = "/flusso/" + s.cfg.Pipeline() + "/status/" + o.Instance
	}
	web, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the folder is embedded at build time
	}
	s.web = web
	s.auth = newAuthenticator(o.Token, o.Username, o.Password, s.log)

	pub := http.NewServeMux()
	pub.Handle("/healthz", only(http.MethodGet, http.HandlerFunc(s.healthz)))
	pub.Handle("/readyz", only(http.MethodGet, http.HandlerFunc(s.readyz)))
	pub.Handle("/status", only(http.MethodGet, http.HandlerFunc(s.status)))
	pub.Handle("/status/stream", only(http.MethodGet, http.HandlerFunc(s.stream)))
	pub.Handle("/metrics", only(http.MethodGet, http.HandlerFunc(s.metrics)))
	pub.Handle("/", only(http.MethodGet, http.HandlerFunc(s.dashboard)))
	s.public = pub

	priv := http.NewServeMux()
	priv.Handle("/indexes", only(http.MethodGet, http.HandlerFunc(s.indexes)))
	priv.Handle("/reindex", only(http.MethodPost, http.HandlerFunc(s.reindex)))
	priv.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (the private surface has GET /indexes and POST /reindex?index=<name>)")
	})
	s.private = s.auth.require(priv, s.log)
	return s
}

// Public is the handler of the public surface.
func (s *Server) Public() http.Handler { return s.public }

// Private is the handler of the private surface.
func (s *Server) Private() http.Handler { return s.private }

// httpServer gives every connection bounded time to send its request and
// to take a plain answer; the event stream lifts the write deadline for
// itself.
func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.ioTimeout,
		WriteTimeout:      s.ioTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Serve serves the public surface on public and the private one on private
// until ctx ends, then shuts both down: open event streams end, other
// requests get up to five seconds to finish.
func (s *Server) Serve(ctx context.Context, public, private net.Listener) error {
	servers := []*http.Server{s.httpServer(s.public), s.httpServer(s.private)}
	listeners := []net.Listener{public, private}
	errs := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			err := srv.Serve(listeners[i])
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errs <- err
		}()
	}
	s.log.Info("serving", "public", public.Addr().String(), "private", private.Addr().String())
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	s.stop.Do(func() { close(s.stopped) })
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shut); err != nil {
			_ = srv.Close()
		}
	}
	if first != nil {
		return fmt.Errorf("http: %w", first)
	}
	return nil
}

// only admits one method (and HEAD along with GET), answering 405
// otherwise.
func only(method string, h http.Handler) http.Handler {
	allow := method
	if method == http.MethodGet {
		allow += ", " + http.MethodHead
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: use %s", r.Method, r.URL.Path, method))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		code, data = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, statusapi.ErrorResponse{Error: msg})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readiness is the body of /readyz; Error (the reason) only when not ready.
type readiness struct {
	Ready bool   `json:"ready"`
	Phase string `json:"phase"`
	Error string `json:"error,omitempty"`
}

// readyz is 200 when the pipeline is backfilling or live (FORMAT.md) as
// told by a source that has caught up with the events: before that, the
// status describes the past.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	caughtUp := s.src.Ready()
	phase := s.src.Status().Phase
	var reason string
	switch {
	case !caughtUp:
		reason = "the status service is still reading the events stream"
	case phase == statusapi.PhaseBackfilling || phase == statusapi.PhaseLive:
		writeJSON(w, http.StatusOK, readiness{Ready: true, Phase: phase})
		return
	case phase == statusapi.PhaseStopped:
		reason = "the pipeline is stopped: the last capture stopped and none has started since"
	default:
		reason = "the pipeline is starting: no capture has streamed yet"
	}
	writeJSON(w, http.StatusServiceUnavailable, readiness{Phase: phase, Error: reason})
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.src.Status())
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	reg := s.src.Registry()
	if reg == nil {
		writeError(w, http.StatusServiceUnavailable, "no metrics yet")
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}).ServeHTTP(w, r)
}

// stream is /status/stream: server-sent events, one "status" message with
// the whole status at connect and after every change, at most one per
// StreamInterval (changes in between fold into the next message), and a
// comment every StreamHeartbeat so proxies keep the connection open.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx would hold the events back
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	// write sends one block, with a deadline that catches a client that
	// stopped reading; the server's WriteTimeout would end the stream.
	write := func(block string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.beat + 10*time.Second))
		if _, err := w.Write([]byte(block)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	beat := time.NewTicker(s.beat)
	defer beat.Stop()
	ctx := r.Context()
	var last time.Time
	for {
		// The channel is taken before the status is read: a change in
		// between closes it, so none is missed.
		changed := s.src.Changed()
		data, err := json.Marshal(s.src.Status())
		if err != nil {
			s.log.Error("status stream: encoding the status", "err", err)
			return
		}
		if !write("event: status\ndata: " + string(data) + "\n\n") {
			return
		}
		last = time.Now()
	wait:
		for {
			select {
			case <-changed:
				break wait
			case <-beat.C:
				if !write(": heartbeat\n\n") {
					return
				}
			case <-ctx.Done():
				return
			case <-s.stopped:
				return
			}
		}
		if d := s.every - time.Since(last); d > 0 {
			pause := time.NewTimer(d)
		coalesce:
			for {
				select {
				case <-pause.C:
					break coalesce
				case <-beat.C:
					if !write(": heartbeat\n\n") {
						pause.Stop()
						return
					}
				case <-ctx.Done():
					pause.Stop()
					return
				case <-s.stopped:
					pause.Stop()
					return
				}
			}
		}
	}
}

// dashboard serves the page and its assets from web/; any other path is a
// JSON 404 like the rest of the surface.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	data, err := fs.ReadFile(s.web, name)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func (s *Server) indexes(w http.ResponseWriter, _ *http.Request) {
	out := s.src.Status().Indexes
	if out == nil {
		out = map[string]string{}
	}
	writeJSON(w, http.StatusOK, out)
}

var identPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// reindex is POST /reindex?index=<name>: it queues a reindex command for
// the capture. A request while a seeding of that index is in progress, for
// whatever reason, is refused with 503: that seeding already builds every
// document from the current database and schema, so another generation
// would only repeat it. Requests of one index within the same
// ReindexWindow are one command (JetStream drops the copies by message id),
// so a double click or a retried request does not seed twice.
func (s *Server) reindex(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad query string: "+err.Error())
		return
	}
	raw := q.Get("index")
	name := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case name == "":
		writeError(w, http.StatusBadRequest, "missing the index: POST /reindex?index=<name>")
		return
	case len(name) > 63 || !identPattern.MatchString(name):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a valid index name (letters, digits and _, not starting with a digit, at most 63 bytes)", raw))
		return
	}
	if s.cfg == nil {
		writeError(w, http.StatusServiceUnavailable, "no configuration loaded")
		return
	}
	if ix := s.cfg.Index(name); ix == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown index %q (enabled: %s)", name, strings.Join(s.indexNames(), ", ")))
		return
	} else if !ix.Enabled {
		writeError(w, http.StatusNotFound, fmt.Sprintf("index %q is disabled", name))
		return
	}
	if busy := s.seeding(name); busy != "" {
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, busy)
		return
	}
	if s.js == nil || !s.js.Conn().IsConnected() {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "NATS is unavailable: the reindex command cannot be queued; retry later")
		return
	}
	data, err := json.Marshal(changes.ReindexCommand{Index: name})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	msg := &nats.Msg{Subject: s.names.ControlSubject("reindex"), Data: data, Header: nats.Header{}}
	msg.Header.Set("Flusso-Source", s.source)
	id := "reindex." + name + "." + strconv.FormatInt(s.now().UnixNano()/int64(s.window), 10)
	ctx, cancel := context.WithTimeout(r.Context(), publishTimeout)
	defer cancel()
	ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(s.names.ControlStream()))
	if err != nil {
		s.log.Warn("reindex command not queued", "index", name, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("NATS is unavailable: the reindex command could not be queued on %s: %v", s.names.ControlStream(), err))
		return
	}
	s.log.Info("reindex queued", "index", name, "remote", r.RemoteAddr, "duplicate", ack.Duplicate)
	writeJSON(w, http.StatusAccepted, statusapi.ReindexResponse{Index: name, Status: "queued"})
}

// seeding describes the seeding of index in progress, or is empty.
func (s *Server) seeding(index string) string {
	st := s.src.Status()
	b := st.Backfill[index]
	if (b == nil || b.State != statusapi.IndexBackfilling) && st.Indexes[index] != statusapi.IndexBackfilling {
		return ""
	}
	msg := fmt.Sprintf("index %q is being seeded", index)
	if b != nil && b.State == statusapi.IndexBackfilling {
		if b.Reason != "" {
			msg += " (" + b.Reason
			if b.TasksTotal > 0 {
				msg += fmt.Sprintf(", %d of %d tasks done", b.TasksDone, b.TasksTotal)
			}
			msg += ")"
		}
	}
	return msg + ": a reindex would repeat it; retry once it is seeded"
}

func (s *Server) indexNames() []string {
	var out []string
	for _, ix := range s.cfg.Indexes {
		if ix.Enabled {
			out = append(out, ix.Name)
		}
	}
	if len(out) == 0 {
		return []string{"none enabled"}
	}
	return out
}
