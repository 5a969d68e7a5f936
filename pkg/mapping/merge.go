package mapping

// mergeOptions merges a field's options over its derived mapping m, in
// place: objects merge key by key at any depth, other values replace the
// derived ones, and an explicit null removes the derived key (fields: null
// drops the subfields). A key the options do not name is kept as derived, so
// a field leaves the index's dynamic: strict only when its options set
// dynamic themselves. The options are copied, never shared with the schema.
func mergeOptions(m, opts map[string]any) {
	for k, v := range opts {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dst, ok := m[k].(map[string]any)
			if !ok {
				// Replacing a non-object, or adding: nulls inside have
				// nothing to remove and are dropped.
				dst = map[string]any{}
			}
			mergeOptions(dst, v)
			m[k] = dst
		default:
			m[k] = clone(v)
		}
	}
}

// clone deep-copies a JSON-like value.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = clone(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = clone(x)
		}
		return out
	}
	return v
}
