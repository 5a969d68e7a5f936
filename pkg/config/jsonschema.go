package config

import (
	"encoding/json"
	"fmt"
	"strings"
)

// JSON Schemas (draft-07, which yaml-language-server and the Even Better TOML
// extension understand) generated from the declarations the loader checks
// against, so editors and the loader accept the same keys.

// JSONSchema returns the JSON Schema of "config" (flusso.toml) or "index"
// (*.schema.yml), indented.
func JSONSchema(kind string) ([]byte, error) {
	var s map[string]any
	switch kind {
	case "config":
		s = configJSONSchema()
	case "index":
		s = indexJSONSchema()
	default:
		return nil, fmt.Errorf("unknown schema %q: expected config or index", kind)
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

type obj = map[string]any

func refTo(name string) obj { return obj{"$ref": "#/definitions/" + name} }

func withDoc(s obj, doc string) obj {
	out := obj{}
	for k, v := range s {
		out[k] = v
	}
	if doc != "" {
		out["description"] = doc
	}
	return out
}

func kindSchema(k valueKind) obj {
	switch k {
	case vIdent:
		return refTo("identifier")
	case vKey:
		return refTo("key")
	case vFieldName:
		return refTo("field_name")
	case vBool:
		return obj{"type": "boolean"}
	case vPositive:
		return obj{"type": "integer", "minimum": 1}
	case vInt:
		return obj{"type": "integer"}
	case vString:
		return obj{"type": "string"}
	case vStrings:
		return obj{"type": "array", "items": obj{"type": "string"}}
	case vObject:
		return obj{"type": "object"}
	case vScalarValue:
		return obj{"type": []string{"string", "number", "boolean", "null"}}
	case vFields:
		return obj{"type": "array", "minItems": 1, "items": refTo("field")}
	case vFilters:
		return refTo("filters")
	case vOrderBy:
		return refTo("order_by")
	case vThrough:
		return refTo("through")
	case vTransforms:
		return refTo("transforms")
	case vScalarType:
		return refTo("scalar_type")
	case vSoftDelete:
		return refTo("soft_delete")
	}
	return obj{}
}

func properties(keys []keySpec) obj {
	props := obj{}
	for _, k := range keys {
		props[k.name] = withDoc(kindSchema(k.kind), k.doc)
	}
	return props
}

func indexJSONSchema() obj {
	props := properties(schemaKeys)
	props["version"] = obj{"description": "Format version; only 1.", "const": 1}
	props["schema"] = withDoc(refTo("identifier"), "Database schema of the root and every related table.")
	props["schema"].(obj)["default"] = "public"
	// doc_id is recognised only to be refused with a clear message.
	props["doc_id"] = obj{"description": "Not supported: the document _id always derives from primary_key.", "not": obj{}}

	fieldProps := obj{}
	var exactlyOne, perTag []any
	for _, t := range tagSpecs {
		fieldProps[t.tag] = withDoc(refTo("field_name"), t.doc)
		exactlyOne = append(exactlyOne, obj{"required": []string{t.tag}})
		names := append([]string{t.tag}, t.allowed...)
		perTag = append(perTag, obj{
			"if":   obj{"required": []string{t.tag}},
			"then": obj{"propertyNames": obj{"enum": names}, "required": append([]string{t.tag}, t.required...)},
		})
	}
	for _, k := range fieldKeys {
		fieldProps[k.name] = withDoc(kindSchema(k.kind), k.doc)
	}

	ops := func(arity Arity) []string {
		var out []string
		for _, op := range FilterOps {
			if op.Arity() == arity {
				out = append(out, string(op))
			}
		}
		return out
	}
	scalar := obj{"type": []string{"string", "number", "boolean"}}
	column := withDoc(refTo("identifier"), "The column compared.")
	filterForm := func(arity Arity, value obj) obj {
		p := obj{"column": column, "op": obj{"enum": ops(arity)}}
		req := []string{"column", "op"}
		if value != nil {
			p["value"] = value
			req = append(req, "value")
		}
		return obj{"type": "object", "additionalProperties": false, "required": req, "properties": p}
	}
	sdProps := func(marker string) obj {
		p := properties(softDeleteKeys)
		for _, k := range []string{"column", "field"} {
			if k != marker {
				delete(p, k)
			}
		}
		return obj{"type": "object", "additionalProperties": false, "required": []string{marker}, "properties": p}
	}

	return obj{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"title":                "flusso index schema (*.schema.yml)",
		"type":                 "object",
		"additionalProperties": false,
		"required":             schemaRequired,
		"properties":           props,
		"definitions": obj{
			"identifier": obj{"type": "string", "pattern": identPattern.String(), "maxLength": 63},
			"field_name": obj{"type": "string", "pattern": fieldNamePattern.String(), "maxLength": 63},
			"key": obj{"oneOf": []any{
				refTo("identifier"),
				obj{"type": "array", "minItems": 1, "uniqueItems": true, "items": refTo("identifier")},
			}},
			"scalar_type": obj{"enum": ScalarTypes},
			"transforms":  obj{"type": "array", "items": obj{"enum": []Transform{TransformLowercase, TransformTrim}}},
			"filter": obj{"oneOf": []any{
				obj{"type": "object", "additionalProperties": false, "required": []string{"raw"},
					"properties": obj{"raw": obj{"type": "string", "minLength": 1, "description": "An SQL condition inserted verbatim (trusted config)."}}},
				filterForm(ArityScalar, scalar),
				filterForm(ArityList, obj{"type": "array", "minItems": 1, "items": scalar}),
				filterForm(ArityPair, obj{"type": "array", "minItems": 2, "maxItems": 2, "items": scalar}),
				filterForm(ArityNone, nil),
			}},
			"filters": obj{"type": "array", "items": refTo("filter")},
			"order_by": obj{"type": "array", "items": obj{
				"type": "object", "additionalProperties": false, "required": []string{"column"},
				"properties": obj{
					"column":    withDoc(refTo("identifier"), "The column to sort by."),
					"direction": obj{"enum": []string{"asc", "desc"}, "default": "asc"},
				},
			}},
			"through":     obj{"type": "object", "additionalProperties": false, "required": keyNames(throughKeys), "properties": properties(throughKeys)},
			"soft_delete": obj{"oneOf": []any{sdProps("column"), sdProps("field")}},
			"field": obj{
				"type":                 "object",
				"description":          "A field, type first: exactly one type tag whose value is the document key, plus that type's keys.",
				"additionalProperties": false,
				"properties":           fieldProps,
				"oneOf":                exactlyOne,
				"allOf":                perTag,
			},
		},
	}
}

func configJSONSchema() obj {
	settingsOf := func(table string) obj {
		props := obj{}
		for _, s := range Settings() {
			if !strings.HasPrefix(s.Key, table+".") {
				continue
			}
			props[strings.TrimPrefix(s.Key, table+".")] = settingSchema(s)
		}
		return obj{"type": "object", "additionalProperties": false, "properties": props}
	}
	top := obj{}
	for _, s := range Settings() {
		if !strings.Contains(s.Key, ".") {
			top[s.Key] = settingSchema(s)
		}
	}
	top["prefix"].(obj)["maxLength"] = 50
	top["prefix"].(obj)["pattern"] = `^([a-z0-9][^A-Z ,:"*+/\\|?#<>]*)?$`

	sinkSchema := func(keys []keySpec, typ string, extra obj) obj {
		p := properties(keys)
		for k, v := range extra {
			p[k] = v
		}
		p["type"] = obj{"const": typ}
		return obj{"type": "object", "title": typ, "additionalProperties": false, "required": []string{"type"}, "properties": p}
	}
	osSink := sinkSchema(openSearchKeys, "opensearch", obj{
		"url":                envOrDoc(openSearchKeys, "url"),
		"username":           envOrDoc(openSearchKeys, "username"),
		"password":           envOrDoc(openSearchKeys, "password"),
		"text_analysis":      obj{"enum": []TextAnalysis{AnalysisBuiltin, AnalysisICU}, "default": "builtin"},
		"max_retries":        obj{"type": "integer", "minimum": 0, "default": 3},
		"number_of_replicas": obj{"type": "integer", "minimum": 0, "default": 1},
		"refresh_interval":   obj{"type": "string", "pattern": refreshPattern.String(), "default": "10s"},
	})
	osSink["required"] = []string{"type"} // url may come from <SINK>_OPENSEARCH_URL
	tlsFiles := properties(sinkTLSKeys)
	for _, v := range tlsFiles {
		v.(obj)["minLength"] = 1
	}
	parts := properties(connPartsKeys)
	parts["password"] = envOrDoc(connPartsKeys, "password")
	parts["port"] = obj{"type": "integer", "minimum": 1, "maximum": 65535, "default": 5432}

	return obj{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"title":                "flusso configuration (flusso.toml)",
		"type":                 "object",
		"additionalProperties": false,
		"properties": mergeObj(top, obj{
			"source": obj{
				"type": "object", "additionalProperties": false, "required": []string{"type"},
				"properties": mergeObj(properties(sourceKeys), obj{
					"type": obj{"const": "postgres"},
					"connection_url": obj{
						"description": sourceKeys[1].doc,
						"oneOf": []any{
							obj{"type": "string", "pattern": urlPattern.String()},
							refTo("env"),
							obj{"type": "object", "additionalProperties": false, "required": []string{"database"}, "properties": parts},
						},
					},
					"manage_publication": obj{"type": "boolean", "default": true, "description": sourceKeys[2].doc},
				}),
			},
			"sinks": obj{
				"type":                 "object",
				"description":          "Named sinks; none means one stdout sink.",
				"propertyNames":        refTo("identifier"),
				"additionalProperties": obj{"oneOf": []any{osSink, sinkSchema(stdoutKeys, "stdout", nil)}},
			},
			"sink_tls": obj{
				"type":          "object",
				"description":   "TLS files of opensearch sinks, by sink name (a flusso extension).",
				"propertyNames": refTo("identifier"),
				// No "dependencies" between cert_file and key_file: either may
				// come from its reserved variable.
				"additionalProperties": obj{"type": "object", "additionalProperties": false, "properties": tlsFiles},
			},
			"index": obj{"type": "array", "items": obj{
				"type": "object", "additionalProperties": false, "required": []string{"name", "schema"},
				"properties": mergeObj(properties(indexKeys), obj{
					"schema":   obj{"type": "string", "pattern": `\.ya?ml$`, "description": indexKeys[1].doc},
					"on_error": obj{"enum": []string{"stop", "skip"}, "description": indexKeys[3].doc},
				}),
			}},
			"server":  settingsOf("server"),
			"nats":    withDoc(settingsOf("nats"), "The NATS JetStream bus (a flusso extension)."),
			"capture": withDoc(settingsOf("capture"), "The capture service (a flusso extension)."),
			"indexer": withDoc(settingsOf("indexer"), "The indexer service (a flusso extension)."),
			"status":  withDoc(settingsOf("status"), "The status service's private surface credentials (a flusso extension)."),
		}),
		"definitions": obj{
			"identifier":   obj{"type": "string", "pattern": identPattern.String(), "maxLength": 63},
			"env":          obj{"type": "object", "additionalProperties": false, "required": []string{"env"}, "properties": obj{"env": obj{"type": "string", "minLength": 1, "description": "Name of the environment variable read at run time."}}},
			"env_or_value": obj{"oneOf": []any{obj{"type": "string"}, refTo("env")}},
		},
	}
}

func envOrDoc(keys []keySpec, name string) obj {
	for _, k := range keys {
		if k.name == name {
			return withDoc(refTo("env_or_value"), k.doc)
		}
	}
	return refTo("env_or_value")
}

func mergeObj(a, b obj) obj {
	out := obj{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func settingSchema(s Setting) obj {
	doc := fmt.Sprintf("%s Flag --%s, environment %s.", s.Doc, s.Flag, s.Env)
	var out obj
	switch s.kind {
	case kInt:
		out = obj{"type": "integer", "minimum": s.min}
		var n int64
		fmt.Sscan(s.Default, &n)
		out["default"] = n
	case kDuration:
		out = obj{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$`, "default": s.Default}
	case kEnum:
		out = obj{"enum": s.enum, "default": s.Default}
	case kIdent:
		out = obj{"type": "string", "pattern": `^([a-z_][a-z0-9_]*)?$`, "maxLength": 63, "default": s.Default}
	case kSecret:
		out = withDoc(refTo("env_or_value"), "")
	default:
		out = obj{"type": "string", "default": s.Default}
	}
	out["description"] = doc
	return out
}
