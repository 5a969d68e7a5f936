package main

// flusso status, and what the commands that talk to a running status
// service share: where its surfaces are, following its event stream, and
// errors that say what to do.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flusso-go/flusso/pkg/cli"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/statusapi"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

const (
	// requestTimeout bounds one plain request to either surface.
	requestTimeout = 10 * time.Second
	// streamIdle ends an event stream that sent nothing, not even the
	// heartbeat comment (every 15s by default), for this long: a connection
	// that died silently would otherwise hang the view.
	streamIdle = 45 * time.Second
	// Reconnections wait from minBackoff, doubling up to maxBackoff.
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// isTerminal reports whether w is a terminal, which gets a view redrawn in
// place; anything else gets plain snapshots one after another. A variable
// so that tests can draw the terminal view into a buffer.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newStatus() *cobra.Command {
	var (
		rawURL, format string
		once           bool
		interval       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the status of a running pipeline, refreshed as it changes",
		Long: "Show the status the status service serves on its public surface: the phase,\n" +
			"counters, each index's state with the progress of its backfill, the service\n" +
			"replicas, the last error and the dead letters. It follows /status/stream,\n" +
			"reconnecting when the connection drops (or polls /status where there is no\n" +
			"stream), until interrupted. On a terminal the view is redrawn in place;\n" +
			"otherwise each change prints a new snapshot. --once prints one and exits.",
		Example: "  flusso status\n" +
			"  flusso status --url http://status.internal:9464\n" +
			"  flusso status --once --format json | jq .indexes",
		Args: cobra.NoArgs,
	}
	path := cli.ConfigFlag(cmd.Flags())
	publicURLFlag(cmd, &rawURL)
	cmd.Flags().BoolVar(&once, "once", false, "print one snapshot and exit")
	cmd.Flags().StringVar(&format, "format", "human", "output format: human, or json (with --once: the status JSON as served)")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "how often to poll /status when the service offers no event stream")
	flags := cli.SettingFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if format != "human" && format != "json" {
			return usageError("--format must be human or json, not %q", format)
		}
		if format == "json" && !once {
			return usageError("--format json needs --once (it prints one status; /status/stream serves them all)")
		}
		if interval <= 0 {
			return usageError("--interval must be positive, not %s", interval)
		}
		base, err := publicURL(cmd, rawURL, *path, flags)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if once {
			ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
			defer cancel()
			if format == "json" {
				body, err := rawStatus(ctx, base)
				if err != nil {
					return &exitError{code: 1, err: publicError(base, err)}
				}
				_, err = out.Write(body)
				return err
			}
			st, err := newClient(base, "", nil).Status(ctx)
			if err != nil {
				return &exitError{code: 1, err: publicError(base, err)}
			}
			now := time.Now()
			_, err = io.WriteString(out, renderStatus(*st, base, now, now))
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := watchStatus(ctx, base, interval, out, cmd.ErrOrStderr()); err != nil {
			return &exitError{code: 1, err: err}
		}
		return nil
	}
	return cmd
}

// publicURLFlag registers --url, the public surface.
func publicURLFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "url", "", "URL of the status service's public surface (env FLUSSO_STATUS_URL; default http://<server.public_address>)")
}

// publicURL is --url, else $FLUSSO_STATUS_URL, else the config's
// server.public_address; flusso.toml is read only in that last case, so
// that a remote pipeline can be watched without its files.
func publicURL(cmd *cobra.Command, flag, path string, flags func() map[string]string) (string, error) {
	raw, from := flag, "--url"
	if !cmd.Flags().Changed("url") {
		raw, from = os.Getenv("FLUSSO_STATUS_URL"), "FLUSSO_STATUS_URL"
	}
	if raw != "" {
		return checkBaseURL(from, raw)
	}
	cfg, err := loadConfig(path, flags())
	if err != nil {
		return "", err
	}
	return addressURL(cfg.Server.PublicAddress), nil
}

// loadConfig loads flusso.toml as the other commands do: an invalid one
// is an error (exit 1) listing every diagnostic.
func loadConfig(path string, flags map[string]string) (*config.Config, error) {
	cfg, diags := config.Load(path, config.Options{Flags: flags})
	if err := diags.Err(); err != nil {
		return nil, &exitError{code: 1, err: fmt.Errorf("config:\n%w", err)}
	}
	return cfg, nil
}

// checkBaseURL accepts an http or https URL with a host and nothing after
// the path (a usage error otherwise), without its trailing slash.
func checkBaseURL(from, raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", usageError("%s %q is not a URL: %v", from, raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", usageError("%s %q: want an http:// or https:// URL, such as http://127.0.0.1:9464", from, raw)
	case u.Host == "":
		return "", usageError("%s %q has no host", from, raw)
	case u.RawQuery != "" || u.Fragment != "":
		return "", usageError("%s %q: give the surface's base URL, without a query or fragment", from, raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// addressURL is the URL that reaches a listen address from this host: an
// unspecified host (":9464", "0.0.0.0:9464") is reached on the loopback.
func addressURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// newClient is a client of the public surface at base (and of the private
// one at private, if any) whose requests are bounded.
func newClient(base, private string, creds *credentials) *statusapi.Client {
	c := &statusapi.Client{BaseURL: base, PrivateURL: private, HTTP: &http.Client{Timeout: requestTimeout}}
	if creds != nil {
		c.Token, c.Username, c.Password = creds.token, creds.username, creds.password
	}
	return c
}

// streamClient is a client of /status/stream: no overall timeout, but a
// bounded connection set-up and an idle watchdog on the body.
func streamClient(base string) *statusapi.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = requestTimeout
	return &statusapi.Client{BaseURL: base, HTTP: &http.Client{Transport: idleTransport{tr}}}
}

// idleTransport closes a response body that stays silent for streamIdle.
type idleTransport struct{ next http.RoundTripper }

func (t idleTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = newIdleBody(resp.Body, streamIdle)
	return resp, nil
}

type idleBody struct {
	io.ReadCloser
	idle  time.Duration
	timer *time.Timer
}

func newIdleBody(rc io.ReadCloser, idle time.Duration) *idleBody {
	b := &idleBody{ReadCloser: rc, idle: idle}
	b.timer = time.AfterFunc(idle, func() { _ = rc.Close() })
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}

// rawStatus reads GET /status as served, so that fields this command does
// not know survive; it checks the body is a status.
func rawStatus(ctx context.Context, base string) ([]byte, error) {
	u := base + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: requestTimeout}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &statusapi.Error{Method: http.MethodGet, URL: u, StatusCode: resp.StatusCode}
		var er statusapi.ErrorResponse
		if json.Unmarshal(body, &er) == nil && er.Error != "" {
			e.Message = er.Error
		}
		return nil, e
	}
	var st statusapi.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("GET %s: the answer is not a status: %w", u, err)
	}
	return body, nil
}

// noAnswer reports whether err means that no HTTP answer came at all.
func noAnswer(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

// reachError explains a request that got no answer from the surface at
// base; setting names where that address comes from.
func reachError(surface, base, setting string, err error) error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach the %s at %s: connection refused: the status service must be running and serving there (%s)", surface, base, setting)
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return fmt.Errorf("cannot reach the %s at %s: no answer within %s: is the status service running and serving there (%s)?", surface, base, requestTimeout, setting)
	}
	return fmt.Errorf("cannot reach the %s at %s: %v: the status service must be running and serving there (%s)", surface, base, cause, setting)
}

const publicSetting = "server.public_address, or --url"

// publicError explains a failed request to the public surface.
func publicError(base string, err error) error {
	if noAnswer(err) {
		return reachError("status service", base, publicSetting, err)
	}
	return err
}

// follower delivers the statuses of the public surface at base: from
// /status/stream, reconnecting with backoff, or by polling /status every
// interval where the service has no stream. notice is told of a broken
// connection, and "" once statuses come again.
type follower struct {
	base     string
	interval time.Duration
	notice   func(string)
}

// fnError carries an error of the caller's fn through the stream.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// run calls fn with every status until ctx ends (it returns nil) or fn
// fails (it returns that error). The first contact must succeed: a service
// not there at all is an error naming the URL, not an endless wait.
func (f *follower) run(ctx context.Context, fn func(statusapi.Status) error) error {
	poller, streamer := newClient(f.base, "", nil), streamClient(f.base)
	contacted, polling, backoff := false, false, minBackoff
	deliver := func(st statusapi.Status) error {
		f.notice("")
		contacted, backoff = true, minBackoff
		if err := fn(st); err != nil {
			return fnError{err}
		}
		return nil
	}
	// poll reads /status once; keep leaves the backoff as it is, so that a
	// stream that keeps breaking is retried less and less often.
	poll := func(keep bool) error {
		pctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		st, err := poller.Status(pctx)
		if err != nil {
			return err
		}
		was := backoff
		err = deliver(*st)
		if keep {
			backoff = was
		}
		return err
	}
	for {
		var err error
		if polling {
			if err = poll(false); err == nil {
				if !sleep(ctx, f.interval) {
					return nil
				}
				continue
			}
		} else {
			err = streamer.Stream(ctx, deliver)
			var e *statusapi.Error
			if errors.As(err, &e) && slices.Contains([]int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotAcceptable, http.StatusNotImplemented}, e.StatusCode) {
				polling = true // a service without the stream
				continue
			}
			if ctx.Err() == nil && !isFnError(err) {
				// A poll keeps the view current while the stream is down,
				// and tells whether the service is there at all.
				if perr := poll(true); perr != nil {
					err = perr
				} else {
					err = fmt.Errorf("the event stream broke: %v", err)
				}
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		var fe fnError
		if errors.As(err, &fe) {
			return fe.err
		}
		err = publicError(f.base, err)
		if !contacted {
			return err
		}
		f.notice(fmt.Sprintf("%v; retrying in %s", err, backoff.Round(time.Millisecond)))
		if !sleep(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func isFnError(err error) bool {
	var fe fnError
	return errors.As(err, &fe)
}

// sleep waits d, or less when ctx ends (then it returns false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Terminal control: the view takes the alternate screen, as top and watch
// do, and redraws it from the top; the last frame is printed again on the
// main screen at the end, so that it stays in the scrollback.
const (
	enterScreen = "\x1b[?1049h\x1b[?25l" // alternate screen, cursor hidden
	leaveScreen = "\x1b[?25h\x1b[?1049l"
	cursorHome  = "\x1b[H"
	clearEOL    = "\x1b[K"
	clearBelow  = "\x1b[J"
)

// statusView shows the statuses delivered: redrawn in place on a terminal
// (and every second, so that ages and the uptime tick), or as plain
// snapshots one after another, only when something changed.
type statusView struct {
	mu      sync.Mutex
	out     io.Writer
	errOut  io.Writer
	tty     bool
	base    string
	st      *statusapi.Status
	at      time.Time // when st came
	note    string
	last    []byte // the status of the last plain snapshot, uptime aside
	entered bool
}

func (v *statusView) update(st statusapi.Status) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.st, v.at = &st, time.Now()
	if v.tty {
		v.draw()
		return
	}
	key := st
	key.UptimeSeconds = 0 // polling would print the same status again otherwise
	b, _ := json.Marshal(key)
	if bytes.Equal(b, v.last) {
		return
	}
	if v.last != nil {
		fmt.Fprintln(v.out)
	}
	v.last = b
	_, _ = io.WriteString(v.out, renderStatus(st, v.base, v.at, v.at))
}

func (v *statusView) notice(msg string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if msg == v.note {
		return
	}
	v.note = msg
	if v.tty {
		v.draw()
	} else if msg != "" {
		fmt.Fprintf(v.errOut, "flusso: %s\n", msg)
	}
}

func (v *statusView) tick() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tty && v.st != nil {
		v.draw()
	}
}

// frame is the current view, with the notice below it.
func (v *statusView) frame(now time.Time) string {
	if v.st == nil {
		return fmt.Sprintf("flusso status  %s\nconnecting…\n", v.base)
	}
	s := renderStatus(*v.st, v.base, v.at, now)
	if v.note != "" {
		s += "\n! " + v.note + "\n"
	}
	return s
}

func (v *statusView) draw() {
	var b strings.Builder
	if !v.entered {
		b.WriteString(enterScreen)
		v.entered = true
	}
	b.WriteString(cursorHome)
	for line := range strings.Lines(v.frame(time.Now())) {
		b.WriteString(strings.TrimSuffix(line, "\n") + clearEOL + "\n")
	}
	b.WriteString(clearBelow)
	_, _ = io.WriteString(v.out, b.String())
}

// close leaves the alternate screen, printing the last frame on the main
// one.
func (v *statusView) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.entered {
		_, _ = io.WriteString(v.out, leaveScreen+v.frame(time.Now()))
		v.entered = false
	}
}

// watchStatus follows the status at base until ctx ends.
func watchStatus(ctx context.Context, base string, interval time.Duration, out, errOut io.Writer) error {
	v := &statusView{out: out, errOut: errOut, tty: isTerminal(out), base: base}
	f := &follower{base: base, interval: interval, notice: v.notice}
	if v.tty {
		tick := time.NewTicker(time.Second)
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			for {
				select {
				case <-tick.C:
					v.tick()
				case <-stop:
					return
				}
			}
		}()
		defer func() {
			tick.Stop()
			close(stop)
			<-stopped // no redraw after the last frame
			v.close()
		}()
	}
	return f.run(ctx, func(st statusapi.Status) error {
		v.update(st)
		return nil
	})
}

// renderStatus is the human view of st, which came at received; now ages
// it. The bars are drawn here rather than with a progress-bar library:
// those own the bottom of the terminal and animate each bar on a timer of
// their own, while this view redraws one whole multi-section frame per
// status, on a terminal or as plain text.
func renderStatus(st statusapi.Status, base string, received, now time.Time) string {
	var b strings.Builder
	head := "flusso status  " + base
	if st.Pipeline != "" {
		head += "  pipeline " + st.Pipeline
	}
	fmt.Fprintf(&b, "%s  at %s\n", head, received.Local().Format("15:04:05"))
	uptime := time.Duration(st.UptimeSeconds)*time.Second + now.Sub(received)
	fmt.Fprintf(&b, "phase      %s  uptime %s", st.Phase, age(uptime))
	if st.UpdatedAt != nil {
		fmt.Fprintf(&b, "  last event %s ago", age(now.Sub(*st.UpdatedAt)))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "changes    %s captured  %s committed  %s in flight  slot lag %s\n",
		count(st.ChangesCaptured), count(st.ChangesCommitted), count(st.ChangesInFlight), byteSize(st.SlotLagBytes))
	fmt.Fprintf(&b, "documents  %s built  %s quarantined  %s batches  last flush %s\n",
		count(st.DocumentsBuilt), count(st.DocumentsQuarantined), count(st.Batches), (time.Duration(st.LastFlushMicros) * time.Microsecond).String())
	fmt.Fprintf(&b, "errors     %s  dead letters %s\n", count(st.Errors), count(st.DeadLetters))

	b.WriteString("\nindexes\n")
	names := make([]string, 0, len(st.Indexes))
	for name := range st.Indexes {
		names = append(names, name)
	}
	for name := range st.Backfill {
		if _, ok := st.Indexes[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		b.WriteString("  none yet\n")
	}
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, name := range names {
		state := st.Indexes[name]
		bf := st.Backfill[name]
		if state == "" && bf != nil {
			state = bf.State
		}
		fmt.Fprintf(&b, "  %-*s  %-11s", width, name, state)
		if bf != nil && bf.State == statusapi.IndexBackfilling {
			b.WriteString("  " + progress(bf))
		} else {
			var parts []string
			if bf != nil {
				parts = append(parts, fmt.Sprintf("generation %d", bf.Generation))
			}
			if n, ok := st.DocumentsByIndex[name]; ok {
				parts = append(parts, count(n)+" docs written")
			}
			if n := st.QuarantinedByIndex[name]; n > 0 {
				parts = append(parts, count(n)+" quarantined")
			}
			if len(parts) > 0 {
				b.WriteString("  " + strings.Join(parts, ", "))
			}
		}
		b.WriteString("\n")
	}

	b.WriteString("\nreplicas\n")
	rs := slices.Clone(st.Replicas)
	slices.SortFunc(rs, func(a, c statusapi.Replica) int {
		return strings.Compare(a.Service+"\x00"+a.Instance, c.Service+"\x00"+c.Instance)
	})
	if len(rs) == 0 {
		b.WriteString("  none seen\n")
	}
	sw, iw := 0, 0
	for _, r := range rs {
		sw, iw = max(sw, len(r.Service)), max(iw, len(r.Instance))
	}
	for _, r := range rs {
		state := "alive"
		switch {
		case r.Stopped:
			state = "stopped"
		case !r.Alive:
			state = "silent"
		}
		fmt.Fprintf(&b, "  %-*s  %-*s  %-7s  %-7s", sw, r.Service, iw, r.Instance, r.Role, state)
		if r.LastHeartbeat != nil {
			fmt.Fprintf(&b, "  heartbeat %s ago", age(now.Sub(*r.LastHeartbeat)))
		} else {
			b.WriteString("  no heartbeat yet")
		}
		if !r.Alive {
			fmt.Fprintf(&b, ", last seen %s ago", age(now.Sub(r.LastSeen)))
		}
		if r.Batches > 0 {
			fmt.Fprintf(&b, ", %s batches", count(r.Batches))
		}
		b.WriteString("\n")
	}

	if e := st.LastError; e != nil {
		fatal := ""
		if e.Fatal {
			fatal = " (fatal)"
		}
		fmt.Fprintf(&b, "\nlast error  %s ago  %s  %s: %s%s\n", age(now.Sub(e.Time)), sourceName(e.Source), e.Component, e.Message, fatal)
	}
	var trimmed strings.Builder // of the padding of the last columns
	for line := range strings.Lines(b.String()) {
		trimmed.WriteString(strings.TrimRight(line, " \n") + "\n")
	}
	return trimmed.String()
}

// progress is a backfill's bar and figures.
func progress(bf *statusapi.Backfill) string {
	frac := 0.0
	if bf.TasksTotal > 0 {
		frac = float64(bf.TasksDone) / float64(bf.TasksTotal)
	}
	s := fmt.Sprintf("%s %3.0f%%  %d/%d tasks  %s docs", bar(frac, 24), 100*frac, bf.TasksDone, bf.TasksTotal, count(bf.Documents))
	if bf.DocsPerSecond > 0 {
		s += fmt.Sprintf("  %s docs/s", rate(bf.DocsPerSecond))
	}
	if bf.ETASeconds != nil {
		s += "  ETA " + age(time.Duration(*bf.ETASeconds*float64(time.Second)))
	}
	s += fmt.Sprintf("  (generation %d", bf.Generation)
	if bf.Reason != "" {
		s += ", " + bf.Reason
	}
	return s + ")"
}

// bar draws frac (0 to 1) in width cells, in eighths of a cell.
func bar(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	eighths := int(frac*float64(width*8) + 0.5)
	full, part := eighths/8, eighths%8
	var b strings.Builder
	b.WriteString("▕")
	b.WriteString(strings.Repeat("█", full))
	rest := width - full
	if part > 0 {
		b.WriteString(string([]rune("▏▎▍▌▋▊▉")[part-1]))
		rest--
	}
	b.WriteString(strings.Repeat("·", rest))
	b.WriteString("▏")
	return b.String()
}

// age renders a duration to the second, coarser as it grows.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// count renders n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func rate(r float64) string {
	if r >= 100 {
		return count(int64(r + 0.5))
	}
	return fmt.Sprintf("%.1f", r)
}

func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v, i = v/unit, i+1
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

// sourceName shortens a CloudEvents source /flusso/<p>/<service>/<instance>
// to service/instance.
func sourceName(source string) string {
	parts := strings.Split(strings.TrimPrefix(source, "/"), "/")
	if len(parts) == 4 && parts[0] == "flusso" {
		return parts[2] + "/" + parts[3]
	}
	return source
}
