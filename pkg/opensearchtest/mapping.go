package opensearchtest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// docError is an OpenSearch error about one document.
type docError struct {
	Status int
	Type   string
	Reason string
}

func (e *docError) Error() string { return e.Type + ": " + e.Reason }

// checkDoc applies the index mapping to a source document the way
// OpenSearch's document parser does for the cases flusso can hit: strict
// dynamic mappings and values a mapped type cannot parse.
func checkDoc(mappings map[string]any, id string, source json.RawMessage) *docError {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(source)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return &docError{400, "mapper_parsing_exception", "failed to parse: " + err.Error()}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return &docError{400, "mapper_parsing_exception", "failed to parse, document is empty"}
	}
	dynamic := fmt.Sprint(mappings["dynamic"])
	props, _ := mappings["properties"].(map[string]any)
	return checkObject(props, dynamic, "", "_doc", id, obj)
}

func checkObject(props map[string]any, dynamic, prefix, within, id string, obj map[string]any) *docError {
	for k, val := range obj {
		full := prefix + k
		m, ok := props[k].(map[string]any)
		if !ok {
			if dynamic == "strict" {
				return &docError{400, "strict_dynamic_mapping_exception",
					fmt.Sprintf("mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed", k, within)}
			}
			continue
		}
		if err := checkValue(m, dynamic, full, id, val); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(m map[string]any, dynamic, field, id string, val any) *docError {
	if val == nil {
		return nil
	}
	if arr, ok := val.([]any); ok {
		for _, e := range arr {
			if err := checkValue(m, dynamic, field, id, e); err != nil {
				return err
			}
		}
		return nil
	}
	typ, _ := m["type"].(string)
	if sub, ok := m["properties"].(map[string]any); ok || typ == "object" || typ == "nested" {
		obj, isObj := val.(map[string]any)
		if !isObj {
			return &docError{400, "mapper_parsing_exception", fmt.Sprintf(
				"object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", field, lastPart(field))}
		}
		d := dynamic
		if dd, ok := m["dynamic"]; ok {
			d = fmt.Sprint(dd)
		}
		return checkObject(sub, d, field+".", lastPart(field), id, obj)
	}
	bad := func() *docError {
		preview, _ := json.Marshal(val)
		return &docError{400, "mapper_parsing_exception", fmt.Sprintf(
			"failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'", field, typ, id, strings.Trim(string(preview), `"`))}
	}
	if _, isObj := val.(map[string]any); isObj && typ != "flat_object" && typ != "geo_point" && typ != "geo_shape" && typ != "join" && !strings.HasSuffix(typ, "_range") {
		return bad()
	}
	switch typ {
	case "long", "integer", "short", "byte", "unsigned_long":
		f, ok := number(val)
		if !ok || f != math.Trunc(f) && !isNumericString(val) {
			return bad()
		}
	case "double", "float", "half_float", "scaled_float":
		if _, ok := number(val); !ok {
			return bad()
		}
	case "boolean":
		switch x := val.(type) {
		case bool:
		case string:
			if x != "true" && x != "false" && x != "" {
				return bad()
			}
		default:
			return bad()
		}
	case "date", "date_nanos":
		if !isDate(val) {
			return bad()
		}
	case "keyword", "text", "match_only_text", "wildcard", "constant_keyword", "search_as_you_type":
		// Strings, numbers and booleans are all accepted as text.
	}
	return nil
}

func lastPart(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[i+1:]
	}
	return field
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

func isNumericString(v any) bool {
	_, ok := v.(string)
	return ok
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02",
	"2006-01",
	"2006",
	"2006-01-02T15:04:05.999999999Z0700",
}

func isDate(v any) bool {
	switch x := v.(type) {
	case json.Number:
		_, err := x.Int64()
		return err == nil
	case string:
		for _, l := range dateLayouts {
			if _, err := time.Parse(l, x); err == nil {
				return true
			}
		}
		if _, err := strconv.ParseInt(x, 10, 64); err == nil {
			return true
		}
	}
	return false
}
