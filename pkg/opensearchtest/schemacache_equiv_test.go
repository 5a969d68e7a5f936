//go:build !race

// The reference validation compiles the schemas at every call, which takes
// seconds under the race detector; what this checks does not depend on it.

package opensearchtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// referenceRequest and referenceResponse validate with openapi3filter alone,
// as the stand-in did before the stand-in operations and the schema cache.
func referenceRequest(sp *spec, r *http.Request, body []byte) (*openapi3filter.RequestValidationInput, error) {
	route, params, err := sp.router.FindRoute(r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: no such operation in the spec: %w", r.Method, r.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: validationOptions}
	bulk := strings.HasPrefix(route.Operation.OperationID, "bulk.")
	if bulk {
		opts := *validationOptions
		opts.ExcludeRequestBody = true
		in.Options = &opts
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	err = openapi3filter.ValidateRequest(context.Background(), in)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err == nil && bulk {
		err = sp.validateBulkBody(route, r.Header.Get("Content-Type"), body)
	}
	in.Options = validationOptions
	if err != nil {
		return in, fmt.Errorf("%s %s: request: %w", r.Method, r.URL.RequestURI(), err)
	}
	return in, nil
}

// same reports whether got and want are the same errors. The errors about
// the properties of an object come in map order (the JSON Schema
// validator's), so compare the parts of the messages as sets.
func same(got, want error) bool {
	parts := func(err error) string {
		r := strings.NewReplacer(" | ", "\n", "validation failed due to: ", "\n")
		l := strings.Split(r.Replace(fmt.Sprint(err)), "\n")
		slices.Sort(l)
		return strings.Join(l, "\n")
	}
	return parts(got) == parts(want)
}

// diff shows where got and want part.
func diff(got, want error) string {
	g, w := fmt.Sprint(got), fmt.Sprint(want)
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	from := max(0, i-200)
	return fmt.Sprintf("differ at %d of %d/%d:\n got …%s\nwant …%s", i, len(g), len(w), g[from:min(len(g), i+200)], w[from:min(len(w), i+200)])
}

func referenceResponse(in *openapi3filter.RequestValidationInput, status int, header http.Header, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: validationOptions}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s %s: response %d: %w", in.Request.Method, in.Request.URL.RequestURI(), status, err)
	}
	return nil
}

// The stand-in operations and the schema cache give the errors openapi3filter
// alone gives, valid or not, requests and responses.
func TestSchemaCacheMatchesOpenAPIFilter(t *testing.T) {
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.standIns) == 0 {
		t.Fatal("no stand-in operations")
	}
	mapping := `{"settings":{"index":{"number_of_shards":1,"gc_deletes":"1h"}},"mappings":{"dynamic":"strict","properties":{
"n":{"type":"long"},"o":{"type":"nested","properties":{"x":{"type":"double"},"k":{"type":"keyword","fields":{"s":{"type":"keyword"}}}}}}}}`
	hits := `{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},
"hits":{"total":{"value":1,"relation":"eq"},"max_score":1,"hits":[{"_index":"a","_id":"1","_score":1,"_source":{"n":1}}]}}`
	type response struct {
		status int
		ct     string
		body   string
	}
	cases := []struct {
		method, target, ct, body string
		responses                []response
	}{
		{"PUT", "/a", "application/json", mapping, []response{
			{200, jsonCT, `{"acknowledged":true,"shards_acknowledged":true,"index":"a"}`},
			{200, jsonCT, `{"acknowledged":"yes","index":3}`},
			{200, "application/json", `not json`},
			{200, "text/plain", `{"acknowledged":true}`},
			{200, "", ``},
			{400, jsonCT, `{"error":{"root_cause":[],"type":"x","reason":"y"},"status":400}`},
			{400, jsonCT, `{"error":5}`},
			{304, jsonCT, `{"x":1}`},
			{299, jsonCT, `{"x":1}`},
		}},
		{"PUT", "/a", "application/json", `{"mappings":{"properties":{"n":{"type":"no_such_type"}}}}`, nil},
		{"PUT", "/a", "application/json", `{"settings":3,"aliases":[]}`, nil},
		{"PUT", "/a", "Application/JSON;charset=utf-8", mapping, nil},
		{"PUT", "/a", "application/json", `{"mappings":`, nil},
		{"PUT", "/a", "text/plain", mapping, nil},
		{"PUT", "/a", "", ``, nil},
		{"PUT", "/a?timeout=soon&wait_for_active_shards=x", "application/json", `{"settings":[]}`, nil},
		{"POST", "/a/_search", "application/json", `{"query":{"bool":{"filter":[{"term":{"k":"v"}}]}},"sort":[{"n":{"order":"desc"}}],"size":10}`, []response{
			{200, jsonCT, hits},
			{200, jsonCT, `{"took":"1","hits":{"hits":3}}`},
			{404, jsonCT, `{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [a]"}],"type":"index_not_found_exception","reason":"no such index [a]"},"status":404}`},
		}},
		{"POST", "/a/_search?size=abc", "application/json", `{"size":"x","query":3}`, nil},
		{"POST", "/a/_search", "application/json", `{"query":{"no_such_query":{}}}`, nil},
		{"GET", "/a/_search", "", ``, []response{{200, jsonCT, hits}}},
		{"POST", "/_aliases", "application/json", `{"actions":[{"add":{"index":"a","alias":"b"}},{"remove_index":{"index":"c"}}]}`, []response{
			{200, jsonCT, `{"acknowledged":true}`},
			{200, jsonCT, `{"acknowledged":1}`},
		}},
		{"POST", "/_aliases", "application/json", `{"actions":{"add":1}}`, nil},
		{"PUT", "/a/_doc/1?version=3&version_type=external", "application/json", `{"n":1}`, []response{
			{201, jsonCT, `{"_index":"a","_id":"1","_version":3,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1}`},
			{201, jsonCT, `{"_index":"a","result":"made"}`},
		}},
		{"PUT", "/a/_doc/1?version_type=sometimes", "application/json", `[1]`, nil},
		{"GET", "/a/_doc/1", "", ``, []response{
			{200, jsonCT, `{"_index":"a","_id":"1","_version":1,"_seq_no":0,"_primary_term":1,"found":true,"_source":{"n":1}}`},
			{404, jsonCT, `{"_index":"a","_id":"1","found":false}`},
			{404, jsonCT, `{"found":"no"}`},
		}},
		{"POST", "/a/_bulk", "application/json", "{\"index\":{\"_id\":\"1\"}}\n{\"n\":1}\n", []response{
			{200, jsonCT, `{"took":1,"errors":false,"items":[{"index":{"_index":"a","_id":"1","_version":1,"result":"created","status":201,"_seq_no":0,"_primary_term":1,"_shards":{"total":1,"successful":1,"failed":0}}}]}`},
			{200, jsonCT, `{"took":1,"errors":"no","items":{}}`},
		}},
		{"GET", "/a/_settings", "", ``, []response{
			{200, jsonCT, `{"a":{"settings":{"index":{"number_of_shards":"1","gc_deletes":"1h"}}}}`},
			{200, jsonCT, `{"a":{"settings":7}}`},
		}},
		{"PUT", "/a/_settings", "application/json", `{"index":{"refresh_interval":"1s"}}`, []response{{200, jsonCT, `{"acknowledged":true}`}}},
		{"HEAD", "/a", "", ``, []response{{200, "", ``}, {404, "", ``}}},
		{"GET", "/_cat/indices/a?format=json&h=index", "", ``, []response{
			{200, jsonCT, `[{"index":"a"}]`},
			{200, jsonCT, `{"index":"a"}`},
		}},
		{"GET", "/no/such/path/here", "", ``, nil},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.target, func(t *testing.T) {
			t.Parallel()
			newReq := func() *http.Request {
				r := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
				if c.ct != "" {
					r.Header.Set("Content-Type", c.ct)
				}
				return r
			}
			x, got := sp.validateRequest(newReq(), []byte(c.body))
			in, want := referenceRequest(sp, newReq(), []byte(c.body))
			if !same(got, want) {
				t.Errorf("request error %s", diff(got, want))
			}
			if x == nil || in == nil {
				return
			}
			for _, resp := range c.responses {
				h := http.Header{}
				if resp.ct != "" {
					h.Set("Content-Type", resp.ct)
				}
				got := sp.validateResponse(x, resp.status, h, []byte(resp.body))
				want := referenceResponse(in, resp.status, h, []byte(resp.body))
				if !same(got, want) {
					t.Errorf("response %d %s: %s", resp.status, resp.body, diff(got, want))
				}
			}
		})
	}
}
