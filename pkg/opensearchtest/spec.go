package opensearchtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// SpecEnv names a file that replaces the OpenAPI specification shipped in
// the opensearch-go module.
const SpecEnv = "FLUSSO_OPENSEARCH_SPEC"

const specModule = "github.com/opensearch-project/opensearch-go/v4"

// spec is the loaded OpenAPI specification; loading takes about a second, so
// every server of a test binary shares one read-only copy.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

var loadSpec = sync.OnceValues(func() (*spec, error) {
	path, err := specPath()
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI spec %s: %w", path, err)
	}
	// The spec's paths are relative to the cluster root.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	relaxOneOf(doc)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route OpenAPI spec %s: %w", path, err)
	}
	return &spec{doc: doc, router: router}, nil
})

// specPath finds opensearch-openapi.yaml at the root of the opensearch-go
// module the build uses.
func specPath() (string, error) {
	if p := os.Getenv(SpecEnv); p != "" {
		return p, nil
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", specModule).Output()
	if err != nil {
		return "", fmt.Errorf("locate %s (set %s to the spec file): %w", specModule, SpecEnv, err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "opensearch-openapi.yaml")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("OpenAPI spec: %w", err)
	}
	return p, nil
}

// relaxOneOf turns every oneOf into anyOf: several of the spec's oneOfs
// overlap, so valid requests match more than one branch.
func relaxOneOf(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(r *openapi3.SchemaRef) {
		if r == nil || r.Value == nil || seen[r.Value] {
			return
		}
		s := r.Value
		seen[s] = true
		if len(s.OneOf) > 0 {
			s.AnyOf = append(s.AnyOf, s.OneOf...)
			s.OneOf = nil
		}
		for _, l := range []openapi3.SchemaRefs{s.AnyOf, s.AllOf, s.PrefixItems} {
			for _, c := range l {
				walk(c)
			}
		}
		for _, c := range []*openapi3.SchemaRef{s.Not, s.Items, s.AdditionalProperties.Schema, s.Contains, s.PropertyNames, s.If, s.Then, s.Else} {
			walk(c)
		}
		for _, m := range []openapi3.Schemas{s.Properties, s.PatternProperties, s.Defs, s.DependentSchemas} {
			for _, c := range m {
				walk(c)
			}
		}
	}
	content := func(c openapi3.Content) {
		for _, mt := range c {
			walk(mt.Schema)
		}
	}
	for _, s := range doc.Components.Schemas {
		walk(s)
	}
	for _, p := range doc.Components.Parameters {
		if p.Value != nil {
			walk(p.Value.Schema)
		}
	}
	for _, rb := range doc.Components.RequestBodies {
		if rb.Value != nil {
			content(rb.Value.Content)
		}
	}
	for _, r := range doc.Components.Responses {
		if r.Value != nil {
			content(r.Value.Content)
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Value != nil {
					walk(p.Value.Schema)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				content(op.RequestBody.Value.Content)
			}
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					content(r.Value.Content)
				}
			}
		}
	}
}

var validationOptions = &openapi3filter.Options{MultiError: true}

// validateRequest checks r (whose body is body) against the spec and returns
// the validation input for the response, or the violation.
func (sp *spec) validateRequest(r *http.Request, body []byte) (*openapi3filter.RequestValidationInput, error) {
	route, params, err := sp.router.FindRoute(r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: no such operation in the spec: %w", r.Method, r.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: validationOptions}
	bulk := strings.HasPrefix(route.Operation.OperationID, "bulk.")
	if bulk {
		// The spec knows _bulk only as application/x-ndjson, which kin-openapi
		// cannot decode; opensearch-go sends application/json. Check the
		// lines against the body schema here.
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

func (sp *spec) validateBulkBody(route *routers.Route, contentType string, body []byte) error {
	ct := strings.TrimSpace(strings.Split(contentType, ";")[0])
	if ct != "application/json" && ct != "application/x-ndjson" {
		return fmt.Errorf("_bulk: content type %q is neither application/x-ndjson nor application/json", contentType)
	}
	rb := route.Operation.RequestBody
	if rb == nil || rb.Value == nil {
		return nil
	}
	mt := rb.Value.Content.Get("application/x-ndjson")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	lines, err := ndjson(body)
	if err != nil {
		return fmt.Errorf("_bulk body: %w", err)
	}
	if len(lines) == 0 {
		return errors.New("_bulk body: empty")
	}
	var items []any
	for _, l := range lines {
		var v any
		if err := json.Unmarshal(l, &v); err != nil {
			return fmt.Errorf("_bulk body line: %w", err)
		}
		items = append(items, v)
	}
	if err := mt.Schema.Value.VisitJSON(items, openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("_bulk body: %w", err)
	}
	return nil
}

func (sp *spec) validateResponse(in *openapi3filter.RequestValidationInput, status int, header http.Header, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: validationOptions}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s %s: response %d: %w", in.Request.Method, in.Request.URL.RequestURI(), status, err)
	}
	return nil
}

// ndjson splits a newline-delimited JSON body into its non-empty lines.
func ndjson(body []byte) ([][]byte, error) {
	var out [][]byte
	for l := range bytes.SplitSeq(body, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if !json.Valid(l) {
			return nil, fmt.Errorf("line %d is not JSON", len(out)+1)
		}
		out = append(out, l)
	}
	return out, nil
}
