package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flusso-go/flusso/pkg/natstest"
	"github.com/flusso-go/flusso/pkg/statusapi"
)

// syncBuffer is the stderr of a run read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func noEnv(string) (string, bool) { return "", false }

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "Usage: flusso-status"},
		{[]string{"--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"extra"}, 2, `unexpected arguments ["extra"]`},
		{[]string{"--log-level", "loud"}, 2, "--log-level"},
		{[]string{"-c", "/nonexistent/flusso.toml"}, 1, "file not found"},
	} {
		var stderr syncBuffer
		if code := run(context.Background(), tc.args, &stderr, noEnv); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", tc.args, code, tc.code, stderr.String())
		}
	}
}

func writeConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"flusso.toml": "[source]\ntype = \"postgres\"\nconnection_url = \"postgres://127.0.0.1/shop\"\n" +
			"[[index]]\nname = \"users\"\nschema = \"users.schema.yml\"\n" +
			"[server]\npublic_address = \"127.0.0.1:0\"\nprivate_address = \"localhost:0\"\n" + extra,
		"users.schema.yml": "version: 1\ntable: users\nfields:\n  - integer: id\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "flusso.toml")
}

// logLine finds the first JSON log line with msg and decodes it.
func logLine(logs, msg string) map[string]any {
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	return nil
}

func TestServesAndStopsCleanly(t *testing.T) {
	ns := natstest.Embedded(t)
	path := writeConfig(t, "")
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"-c", path, "--nats-url", ns.URL(), "--log-format", "json", "--instance", "s1"}, &stderr, noEnv)
	}()

	var serving map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for serving == nil {
		select {
		case code := <-exit:
			t.Fatalf("exited with %d:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"serving\" log line:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
		serving = logLine(stderr.String(), "serving")
	}
	warn := logLine(stderr.String(), "no credentials are configured for the private surface (/indexes, /reindex): using a token generated for this run only")
	if warn == nil || warn["level"] != "WARN" {
		t.Fatalf("no warning with the generated token:\n%s", stderr.String())
	}
	c := &statusapi.Client{
		BaseURL:    "http://" + serving["public"].(string),
		PrivateURL: "http://" + serving["private"].(string),
		Token:      warn["token"].(string),
	}
	resp, err := http.Get(c.BaseURL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Reindex(ctx, "users"); err != nil || r.Status != "queued" {
		t.Fatalf("reindex: %+v %v", r, err)
	}

	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d after the context ended:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop within 20s of its context's end")
	}
}

func TestCredentialsFromTheEnvironment(t *testing.T) {
	ns := natstest.Embedded(t)
	path := writeConfig(t, "[status]\ntoken = { env = \"OPS_TOKEN\" }\nusername = \"ops\"\npassword = { env = \"OPS_PASSWORD\" }\n")
	env := func(name string) (string, bool) {
		switch name {
		case "OPS_TOKEN":
			return "tok-from-env", true
		case "OPS_PASSWORD":
			return "pw-from-env", true
		}
		return "", false
	}
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"-c", path, "--nats-url", ns.URL(), "--log-format", "json"}, &stderr, env)
	}()
	var serving map[string]any
	for deadline := time.Now().Add(20 * time.Second); serving == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no \"serving\" log line:\n%s", stderr.String())
		}
		serving = logLine(stderr.String(), "serving")
	}
	priv := "http://" + serving["private"].(string)
	for _, c := range []statusapi.Client{{PrivateURL: priv, Token: "tok-from-env"}, {PrivateURL: priv, Username: "ops", Password: "pw-from-env"}} {
		if _, err := c.Indexes(ctx); err != nil {
			t.Errorf("credentials %+v refused: %v", c, err)
		}
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, secret := range []string{"tok-from-env", "pw-from-env"} {
		if strings.Contains(stderr.String(), secret) {
			t.Errorf("the log shows %q:\n%s", secret, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "level\":\"WARN") {
		t.Errorf("a warning with configured credentials:\n%s", stderr.String())
	}

	// An unset variable is an error naming it, not the value.
	var out syncBuffer
	if code := run(context.Background(), []string{"-c", path, "--nats-url", ns.URL()}, &out, noEnv); code != 1 || !strings.Contains(out.String(), "OPS_TOKEN") {
		t.Errorf("unset variable: exit %d:\n%s", code, out.String())
	}
}
