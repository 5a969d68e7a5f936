package opensearchtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The go:linkname signatures of schemacache.go were checked against
// kinVersion only.
func TestSchemaCacheVersion(t *testing.T) {
	if v := kinBuildVersion(); v != kinVersion {
		t.Fatalf("kin-openapi is %q: check the go:linkname'd functions of schemacache.go against it (and the parts of "+
			"openapi3filter's ValidateRequestBody and ValidateResponse spec.go repeats), then set kinVersion; until then "+
			"validation bypasses the cache (correct, slow)", v)
	}
}

// Servers share the cache: concurrent first uses of a schema compile it once
// and validate alike.
func TestSchemaCacheConcurrent(t *testing.T) {
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]string, 8)
	for i := range errs {
		wg.Go(func() {
			body := `{"query":3}`
			r := httptest.NewRequest("POST", "/a/_count", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			x, err := sp.validateRequest(r, []byte(body))
			if err == nil {
				t.Error("no violation")
				return
			}
			errs[i] = err.Error()
			if err := sp.validateResponse(x, 200, http.Header{"Content-Type": {jsonCT}}, []byte(`{"count":1,"_shards":{"total":1,"successful":1,"failed":0}}`)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, e := range errs[1:] {
		if len(e) != len(errs[0]) {
			t.Errorf("violations differ:\n%s\n%s", e, errs[0])
		}
	}
}

const jsonCT = "application/json; charset=UTF-8"
