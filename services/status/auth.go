package status

// Authentication of the private surface: a bearer token, HTTP Basic
// credentials, or both. There is no built-in default: with nothing
// configured, a random token is generated for the life of the process and
// logged once, so the surface is never open and never guarded by a
// well-known secret.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
)

// realm names the protected space in WWW-Authenticate challenges.
const realm = "flusso"

type authenticator struct {
	// Digests, not the values: comparing fixed-size digests in constant
	// time does not leak the length of the secret either.
	token      *[sha256.Size]byte
	user, pass *[sha256.Size]byte
}

// newAuthenticator takes the resolved credentials. Basic needs both a user
// and a password. With neither a token nor Basic, it generates a token and
// logs it once at WARN with how to configure one.
func newAuthenticator(token, username, password string, log *slog.Logger) *authenticator {
	a := &authenticator{}
	if username != "" && password != "" {
		a.user, a.pass = digest(username), digest(password)
	}
	if token == "" && a.user == nil {
		token = generateToken()
		log.Warn("no credentials are configured for the private surface (/indexes, /reindex): using a token generated for this run only",
			"token", token,
			"configure", "set status.token (--status-token, FLUSSO_STATUS_TOKEN), or status.username and status.password, to choose the credentials")
	}
	if token != "" {
		a.token = digest(token)
	}
	return a
}

// generateToken returns 32 random bytes, base64url-encoded.
func generateToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: crypto/rand aborts the process instead
	return base64.RawURLEncoding.EncodeToString(b)
}

func digest(s string) *[sha256.Size]byte {
	d := sha256.Sum256([]byte(s))
	return &d
}

func equal(given string, want *[sha256.Size]byte) bool {
	d := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(d[:], want[:]) == 1
}

// check reports whether r carries valid credentials.
func (a *authenticator) check(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return a.token != nil && equal(strings.TrimSpace(tok), a.token)
	}
	if user, pass, ok := r.BasicAuth(); ok && a.user != nil {
		// Both compared, whatever the first gives.
		u, p := equal(user, a.user), equal(pass, a.pass)
		return u && p
	}
	return false
}

// challenge sets the WWW-Authenticate headers of a 401: one per accepted
// scheme.
func (a *authenticator) challenge(h http.Header) {
	if a.token != nil {
		h.Add("WWW-Authenticate", `Bearer realm="`+realm+`"`)
	}
	if a.user != nil {
		h.Add("WWW-Authenticate", `Basic realm="`+realm+`", charset="UTF-8"`)
	}
}

// require wraps the private surface: nothing behind it answers, not even
// a 404, without valid credentials.
func (a *authenticator) require(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.check(r) {
			next.ServeHTTP(w, r)
			return
		}
		msg := "authentication required: send Authorization: Bearer <token> or HTTP Basic credentials"
		if r.Header.Get("Authorization") != "" {
			msg = "invalid credentials"
			log.Info("private surface: credentials refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		}
		a.challenge(w.Header())
		writeError(w, http.StatusUnauthorized, msg)
	})
}
