package status

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func basicHeader(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

func TestPrivateSurfaceAuth(t *testing.T) {
	none := map[string]string{}
	cases := []struct {
		name      string
		opts      ServerOptions
		challenge []string // WWW-Authenticate schemes of a 401
		ok, bad   []map[string]string
	}{
		{
			name:      "token",
			opts:      ServerOptions{Token: "secret-token"},
			challenge: []string{"Bearer"},
			ok:        []map[string]string{bearer, {"Authorization": "bearer secret-token"}},
			bad: []map[string]string{none, {"Authorization": "Bearer secret-tokeN"}, {"Authorization": "Bearer secret-token-and-more"},
				{"Authorization": "Bearer "}, {"Authorization": "secret-token"}, basicHeader("secret-token", "secret-token")},
		},
		{
			name:      "basic",
			opts:      ServerOptions{Username: "ops", Password: "pa:ss"},
			challenge: []string{"Basic"},
			ok:        []map[string]string{basicHeader("ops", "pa:ss")},
			bad:       []map[string]string{none, basicHeader("ops", "pa:sS"), basicHeader("Ops", "pa:ss"), basicHeader("", ""), {"Authorization": "Bearer pa:ss"}},
		},
		{
			name:      "both",
			opts:      ServerOptions{Token: "secret-token", Username: "ops", Password: "pw"},
			challenge: []string{"Bearer", "Basic"},
			ok:        []map[string]string{bearer, basicHeader("ops", "pw")},
			bad:       []map[string]string{none, basicHeader("ops", "secret-token"), {"Authorization": "Bearer pw"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHTTPHarness(t, tc.opts)
			for _, path := range []string{"/indexes", "/nope"} {
				for _, hdr := range tc.ok {
					if a := httpDo(t, "GET", h.private.URL+path, hdr); a.code == http.StatusUnauthorized {
						t.Errorf("GET %s with %v: refused", path, hdr)
					}
				}
				for _, hdr := range tc.bad {
					a := httpDo(t, "GET", h.private.URL+path, hdr)
					if a.code != http.StatusUnauthorized {
						t.Errorf("GET %s with %v: %d, want 401", path, hdr, a.code)
						continue
					}
					var schemes []string
					for _, c := range a.header.Values("WWW-Authenticate") {
						schemes = append(schemes, strings.Fields(c)[0])
					}
					if strings.Join(schemes, " ") != strings.Join(tc.challenge, " ") {
						t.Errorf("WWW-Authenticate %q, want schemes %v", a.header.Values("WWW-Authenticate"), tc.challenge)
					}
					msg := errorOf(t, a)
					for _, secret := range []string{"secret-token", "pa:ss", "pw"} {
						if strings.Contains(msg, secret) {
							t.Errorf("401 message %q shows a credential", msg)
						}
					}
				}
			}
			// Refusals are logged without what was sent.
			for _, secret := range []string{"secret-token", "pa:ss", "tokeN"} {
				if strings.Contains(h.logs.String(), secret) {
					t.Errorf("the log shows a credential:\n%s", h.logs)
				}
			}
			// The public surface needs nothing.
			if a := httpDo(t, "GET", h.public.URL+"/status", nil); a.code != 200 {
				t.Errorf("public /status: %d", a.code)
			}
		})
	}
}

var tokenInLog = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

func TestGeneratedTokenIsLoggedOnceAndAccepted(t *testing.T) {
	// newHTTPHarness sets a token when none is given: build the server here.
	src := newFakeSource()
	h2 := &httpHarness{src: src, logs: &logBuffer{}}
	h2.srv = NewServer(src, ServerOptions{Config: httpConfig(t), Logger: newTestLogger(h2.logs)})
	h2.private = httptest.NewServer(h2.srv.Private())
	t.Cleanup(h2.private.Close)

	logs := h2.logs.String()
	if n := strings.Count(logs, "level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want one:\n%s", n, logs)
	}
	if !strings.Contains(logs, "status.token") || !strings.Contains(logs, "FLUSSO_STATUS_TOKEN") {
		t.Errorf("the warning does not say how to configure a token:\n%s", logs)
	}
	m := tokenInLog.FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no token in the log:\n%s", logs)
	}
	raw, err := base64.RawURLEncoding.DecodeString(m[1])
	if err != nil || len(raw) != 32 {
		t.Errorf("token %q is not 32 bytes base64url (%v)", m[1], err)
	}
	if a := httpDo(t, "GET", h2.private.URL+"/indexes", map[string]string{"Authorization": "Bearer " + m[1]}); a.code != 200 {
		t.Errorf("the generated token is refused: %d %s", a.code, a.body)
	}
	if a := httpDo(t, "GET", h2.private.URL+"/indexes", nil); a.code != 401 {
		t.Errorf("without credentials: %d", a.code)
	}
	// Requests do not log it again.
	if strings.Count(h2.logs.String(), m[1]) != 1 {
		t.Errorf("the token shows more than once:\n%s", h2.logs)
	}

	// Another server generates another token.
	other := NewServer(src, ServerOptions{Config: httpConfig(t), Logger: newTestLogger(&logBuffer{})})
	if other.auth.check(&http.Request{Header: http.Header{"Authorization": {"Bearer " + m[1]}}}) {
		t.Error("two servers generated the same token")
	}
}

func TestConfiguredCredentialsAreNotLogged(t *testing.T) {
	h := newHTTPHarness(t, ServerOptions{Token: "secret-token", Username: "ops", Password: "pw-123"})
	httpDo(t, "GET", h.private.URL+"/indexes", bearer)
	httpDo(t, "GET", h.private.URL+"/indexes", basicHeader("ops", "wrong"))
	for _, s := range []string{"secret-token", "pw-123", "level=WARN"} {
		if strings.Contains(h.logs.String(), s) {
			t.Errorf("the log shows %q:\n%s", s, h.logs)
		}
	}
}

func TestBasicNeedsAPassword(t *testing.T) {
	// A user without a password is no credential: a token is generated.
	logs := &logBuffer{}
	srv := NewServer(newFakeSource(), ServerOptions{Config: httpConfig(t), Username: "ops", Logger: newTestLogger(logs)})
	if srv.auth.user != nil || srv.auth.token == nil || !strings.Contains(logs.String(), "token=") {
		t.Errorf("user without password: basic %v, token %v, log %s", srv.auth.user != nil, srv.auth.token != nil, logs)
	}
	if srv.auth.check(&http.Request{Header: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"))}}}) {
		t.Error("a user with an empty password is accepted")
	}
}
