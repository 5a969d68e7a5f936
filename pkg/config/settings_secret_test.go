package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// The [status] credentials are secret settings: a literal or { env } in the
// file, a flag or its FLUSSO_* twin, resolved at run time and never shown.

func TestStatusCredentialSources(t *testing.T) {
	cases := []struct {
		name        string
		table       string
		env, flags  map[string]string
		wantToken   string // resolved
		wantShown   string // String()
		wantUser    string
		wantPass    string
		runtimeVars map[string]string
	}{
		{name: "unset", wantShown: "<unset>"},
		{name: "literal", table: "token = \"t-file\"", wantToken: "t-file", wantShown: "<redacted>"},
		{name: "empty literal is unset", table: "token = \"\"", wantShown: "<unset>"},
		{name: "env reference", table: "token = { env = \"OPS_TOKEN\" }", runtimeVars: map[string]string{"OPS_TOKEN": "t-var"}, wantToken: "t-var", wantShown: "env:OPS_TOKEN"},
		{name: "environment twin beats the file", table: "token = \"t-file\"", env: map[string]string{"FLUSSO_STATUS_TOKEN": "t-env"}, wantToken: "t-env", wantShown: "<redacted>"},
		{name: "flag beats the environment", table: "token = \"t-file\"", env: map[string]string{"FLUSSO_STATUS_TOKEN": "t-env"}, flags: map[string]string{"status.token": "t-flag"}, wantToken: "t-flag", wantShown: "<redacted>"},
		{name: "basic", table: "username = \"ops\"\npassword = { env = \"OPS_PW\" }", runtimeVars: map[string]string{"OPS_PW": "pw"}, wantShown: "<unset>", wantUser: "ops", wantPass: "pw"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rest := ""
			if tc.table != "" {
				rest = "[status]\n" + tc.table + "\n"
			}
			cfg := validateLoadOK(t, validateConfig("", rest), tc.env, tc.flags)
			lookup := envOf(tc.runtimeVars)
			got := map[string]string{}
			for name, s := range map[string]Secret{"token": cfg.Status.Token, "username": cfg.Status.Username, "password": cfg.Status.Password} {
				v, _, err := s.ResolveOptional(lookup)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got[name] = v
			}
			if got["token"] != tc.wantToken || got["username"] != tc.wantUser || got["password"] != tc.wantPass {
				t.Errorf("resolved %v, want token %q username %q password %q", got, tc.wantToken, tc.wantUser, tc.wantPass)
			}
			if s := cfg.Status.Token.String(); s != tc.wantShown {
				t.Errorf("token shows as %q, want %q", s, tc.wantShown)
			}
		})
	}
}

func TestStatusCredentialsNeverShow(t *testing.T) {
	const token, pass = "tok-SECRET-1", "pw-SECRET-2"
	cfg := validateLoadOK(t, validateConfig("", fmt.Sprintf("[status]\ntoken = %q\nusername = \"ops\"\npassword = %q\n", token, pass)), nil, nil)
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "status", cfg.Status, "token", cfg.Status.Token)
	for what, out := range map[string]string{
		"JSON": string(data), "fmt %v": fmt.Sprintf("%v", cfg.Status), "fmt %+v": fmt.Sprintf("%+v", cfg.Status),
		"fmt %#v": fmt.Sprintf("%#v", cfg.Status), "slog": logs.String(),
	} {
		if strings.Contains(out, token) || strings.Contains(out, pass) {
			t.Errorf("%s shows a credential: %s", what, out)
		}
	}
	if !strings.Contains(string(data), `"status":{"token":"\u003credacted\u003e"`) {
		t.Errorf("config JSON: %s", data)
	}
}

func TestStatusCredentialErrors(t *testing.T) {
	cases := []struct {
		name, rest string
		flags      map[string]string
		want       validateWant
	}{
		{name: "a number", rest: "[status]\ntoken = 987654\n",
			want: validateWant{path: "status.token", msg: `expected a string or { env = "VAR" }, found a number`}},
		{name: "a table without env", rest: "[status]\ntoken = { file = \"x\" }\n",
			want: validateWant{path: "status.token", msg: `unknown key "file" in an environment reference`}},
		{name: "an empty env", rest: "[status]\npassword = { env = \"\" }\nusername = \"u\"\n",
			want: validateWant{path: "status.password", msg: "with the name of an environment variable"}},
		{name: "user without password", rest: "[status]\nusername = \"ops\"\n",
			want: validateWant{path: "status", msg: "username and password go together"}},
		{name: "password from a flag only", rest: "", flags: map[string]string{"status.password": "pw"},
			want: validateWant{path: "status", msg: "username and password go together"}},
		{name: "unknown key", rest: "[status]\ntokn = \"x\"\n",
			want: validateWant{path: "status.tokn", msg: `unknown key "tokn" in [status]`, hint: `did you mean "token"?`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, diags := validateLoad(validateConfig("", tc.rest), nil, tc.flags)
			validateExpect(t, diags, tc.want, 0)
			if strings.Contains(diags.Err().Error(), "987654") {
				t.Errorf("the error shows the value: %v", diags.Err())
			}
		})
	}
}
