package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/config"
	"github.com/flusso-go/flusso/pkg/opensearchtest"
	"github.com/flusso-go/flusso/pkg/statusapi"
)

// demoTempDir is the TMPDIR of a demo under test: a folder the postgres
// user can enter when the tests run as root (t.TempDir's parent is private
// to root), removed when the test ends.
func demoTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// demoLine is one line of the stdout sink.
type demoLine struct {
	Op       string          `json:"op"`
	Index    string          `json:"index"`
	ID       string          `json:"id"`
	Document json.RawMessage `json:"document"`
}

var (
	demoDashboard = regexp.MustCompile(`^\s+dashboard\s+(http://\S+)$`)
	demoDatabase  = regexp.MustCompile(`^\s+database\s+psql -h 127\.0\.0\.1 -p (\d+) `)
	demoPrice     = regexp.MustCompile(`msg="demo change" what="listing “(.+)” now costs ([0-9.]+) [A-Z]{3} a night"`)
)

// flusso demo from start to Ctrl-C: the documents of every index stream to
// stdout, the dashboard and /status answer, a demo change re-emits the
// document it touches, and SIGINT ends it with exit 0, no process and no
// file left behind.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildFlusso(t)
	tmp := demoTempDir(t)
	cmd := exec.Command(bin, "demo", "--port", "0", "--changes-every", "200ms", "--log-format", "text")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + tmp}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)

	var (
		mu        sync.Mutex
		ended     bool
		upserts   = map[string]int{}      // index → upserts seen
		docs      = map[string][]string{} // "index/id" → documents seen, in order
		dashboard string
		pgPort    int
		price     []string // title and price of the first price change
	)
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			t.Logf(format, args...)
		}
	}
	t.Cleanup(func() { mu.Lock(); ended = true; mu.Unlock() })
	var readers sync.WaitGroup
	readers.Go(func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l demoLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				logf("stdout, not a JSON document line: %s", sc.Text())
				continue
			}
			mu.Lock()
			if l.Op == "upsert" {
				upserts[l.Index]++
			}
			docs[l.Index+"/"+l.ID] = append(docs[l.Index+"/"+l.ID], string(l.Document))
			mu.Unlock()
		}
	})
	readers.Go(func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			logf("%s", line)
			mu.Lock()
			if m := demoDashboard.FindStringSubmatch(line); m != nil {
				dashboard = m[1]
			}
			if m := demoDatabase.FindStringSubmatch(line); m != nil {
				pgPort, _ = strconv.Atoi(m[1])
			}
			if m := demoPrice.FindStringSubmatch(line); m != nil && price == nil {
				price = m[1:]
			}
			mu.Unlock()
		}
	})
	go func() {
		readers.Wait()
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// waitFor polls cond (called with mu held) until it holds.
	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			select {
			case err := <-exited:
				t.Fatalf("flusso demo exited (%v) while waiting for %s", err, what)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %s", what, timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	indexes := []string{"listings", "hosts", "cities", "bookings", "night_rates"}
	waitFor("upserts of every index on stdout", 120*time.Second, func() bool {
		for _, ix := range indexes {
			if upserts[ix] == 0 {
				return false
			}
		}
		return true
	})
	waitFor("dashboard URL and database port in the banner", 30*time.Second, func() bool { return dashboard != "" && pgPort != 0 })

	resp, err := http.Get(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Errorf("GET %s: %d %s, want 200 and an HTML page:\n%.300s", dashboard, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	st := &statusapi.Client{BaseURL: strings.TrimSuffix(dashboard, "/"), HTTP: &http.Client{Timeout: 5 * time.Second}}
	var phase string
	waitFor("phase live at /status", 60*time.Second, func() bool {
		s, err := st.Status(t.Context())
		if err == nil {
			phase = s.Phase
		}
		return phase == statusapi.PhaseLive
	})

	// The first change raises a listing's price: its document comes again,
	// with the new price.
	waitFor("demo change of a listing's price", 60*time.Second, func() bool { return price != nil })
	want, _ := strconv.ParseFloat(price[1], 64)
	waitFor(fmt.Sprintf("listing “%s” re-emitted at %s", price[0], price[1]), 60*time.Second, func() bool {
		for key, versions := range docs {
			if !strings.HasPrefix(key, "listings/") || len(versions) < 2 {
				continue
			}
			var d struct {
				Title   string `json:"title"`
				Pricing struct {
					NightlyPrice float64 `json:"nightlyPrice"`
				} `json:"pricing"`
			}
			for _, v := range versions[1:] {
				if json.Unmarshal([]byte(v), &d) == nil && d.Title == price[0] && d.Pricing.NightlyPrice == want {
					return true
				}
			}
		}
		return false
	})

	descendants := descendantsOf(cmd.Process.Pid)
	if len(descendants) == 0 {
		t.Error("flusso demo runs no child process (where is its postgres?)")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGINT: %v, want exit status 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("flusso demo did not exit within 60s of SIGINT")
	}
	for _, pid := range descendants {
		if state, _, ok := procStat(pid); ok && state != "Z" {
			t.Errorf("process %d, started by flusso demo, outlived it", pid)
		}
	}
	if pids := processesMentioning(tmp); len(pids) > 0 {
		t.Errorf("processes still name the demo's folder in their command line: %v", pids)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(pgPort), time.Second); err == nil {
		c.Close()
		t.Errorf("the demo's postgres port %d still accepts connections", pgPort)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
}

// With --opensearch-url the documents go to that OpenSearch, behind the
// examples' aliases, and stdout stays empty.
func TestDemoOpenSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildFlusso(t)
	srv := opensearchtest.New(t)
	tmp := demoTempDir(t)
	cmd := exec.Command(bin, "demo", "--port", "0", "--changes-every", "0",
		"--opensearch-url", srv.URL(), "--opensearch-username", "flusso", "--opensearch-password", "s3cret")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + tmp,
		"DATABASE_URL=postgres://nobody@127.0.0.1:1/none", "SEARCH_OPENSEARCH_URL=http://127.0.0.1:1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ended := false
	t.Cleanup(func() { mu.Lock(); ended = true; mu.Unlock() })
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			mu.Lock()
			if !ended {
				t.Log(sc.Text())
			}
			mu.Unlock()
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	deadline := time.Now().Add(120 * time.Second)
	for _, alias := range []string{"stays_listings", "stays_hosts", "stays_cities", "stays_bookings", "stays_night_rates"} {
		for len(srv.Docs(alias)) == 0 {
			select {
			case err := <-exited:
				t.Fatalf("flusso demo exited (%v) before %s had documents", err, alias)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no documents behind %s within 2m", alias)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGINT: %v, want exit status 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("flusso demo did not exit within 60s of SIGINT")
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout = %.200q, want nothing: the documents go to OpenSearch", stdout.String())
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("OpenAPI violations: %v", v)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
}

// Without the server binaries, flusso demo says how to install them and
// makes nothing; FLUSSO_PG_BIN, when set, is the only place searched.
func TestDemoWithoutPostgres(t *testing.T) {
	empty := t.TempDir()
	tmp := demoTempDir(t)
	t.Setenv("TMPDIR", tmp)
	t.Setenv("FLUSSO_PG_BIN", empty)
	code, out, errOut := flusso(t, "demo", "--port", "0")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"initdb", "FLUSSO_PG_BIN", "sudo apt-get install postgresql", "brew install postgresql@16"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
}

func TestDemoUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--port", "65536"},
		{"--changes-every", "-1s"},
		{"--opensearch-url", "localhost:9200"},
		{"--opensearch-username", "admin", "--opensearch-password", "x"},
		{"--opensearch-url", "http://127.0.0.1:9200", "--opensearch-username", "admin"},
	} {
		if code, _, errOut := flusso(t, append([]string{"demo"}, args...)...); code != 2 {
			t.Errorf("demo %v: exit %d, want 2\n%s", args, code, errOut)
		}
	}
}

// With --opensearch-url the demo's config has one opensearch sink at that
// URL, with the examples' settings, the password from the demo alone.
func TestDemoConfigOpenSearch(t *testing.T) {
	dir := t.TempDir()
	o := demoOptions{osURL: "https://search.example:9200", osUsername: "admin", osPassword: "pa\"ss", osTLSVerify: false, every: time.Second}
	path, err := writeDemoConfig(dir, "postgres://postgres@127.0.0.1:5999/stays?sslmode=disable", "127.0.0.1:9464", "127.0.0.1:9465", "t0ken", o)
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path, config.Options{Env: noEnv})
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sinks) != 1 || cfg.Sinks[0].OpenSearch == nil {
		t.Fatalf("sinks = %+v, want one opensearch sink", cfg.Sinks)
	}
	s := cfg.Sinks[0].OpenSearch
	env := func(name string) (string, bool) {
		if name == demoPasswordEnv {
			return o.osPassword, true
		}
		return "", false
	}
	u, _ := s.URL.Resolve(env)
	user, _ := s.Username.Resolve(env)
	pass, _ := s.Password.Resolve(env)
	if u != o.osURL || user != "admin" || pass != o.osPassword || s.TLSVerify || s.NumberOfReplicas != 0 || s.RefreshInterval != "1s" {
		t.Errorf("sink = %s %s %s tls_verify=%t replicas=%d refresh=%s", u, user, pass, s.TLSVerify, s.NumberOfReplicas, s.RefreshInterval)
	}
	if data, _ := os.ReadFile(path); strings.Contains(string(data), "pa\\\"ss") || strings.Contains(string(data), `pa"ss`) {
		t.Error("the password is written in the demo's flusso.toml")
	}
	if cfg.Prefix != "stays_" || len(cfg.Indexes) != 5 || cfg.NATS.DataDir != filepath.Join(dir, "nats") {
		t.Errorf("prefix %q, %d indexes, nats.data_dir %s", cfg.Prefix, len(cfg.Indexes), cfg.NATS.DataDir)
	}
	var skip []string
	for _, ix := range cfg.Indexes {
		if ix.OnError == config.OnErrorSkip {
			skip = append(skip, ix.Name)
		}
	}
	if strings.Join(skip, ",") != "night_rates" {
		t.Errorf("indexes with on_error = skip: %v, want night_rates as in the examples", skip)
	}
}

// descendantsOf lists the processes below pid.
func descendantsOf(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	parent := map[int]int{}
	for _, p := range stats {
		child, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if _, ppid, ok := procStat(child); ok {
			parent[child] = ppid
		}
	}
	for child := range parent {
		for p := parent[child]; p > 1; p = parent[p] {
			if p == pid {
				out = append(out, child)
				break
			}
		}
	}
	return out
}

// procStat reads the state and parent of a process from /proc.
func procStat(pid int) (state string, ppid int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid, true
}

// processesMentioning lists the live processes whose command line holds s.
func processesMentioning(s string) []int {
	var out []int
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		data, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(data), s) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if state, _, ok := procStat(pid); ok && state != "Z" {
			out = append(out, pid)
		}
	}
	return out
}
