package opensearchtest

import (
	"encoding/json"
	"maps"
)

// IndexInfo is what the server holds about an index.
type IndexInfo struct {
	Name     string
	Settings map[string]any // nested, as GET /<index>/_settings shows them
	Mappings map[string]any
	Aliases  []string
	Docs     int
}

// Docs returns the sources of the documents of an index, or of the indices
// an alias points at, by id.
func (s *Server) Docs(name string) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]json.RawMessage{}
	ixs, _ := s.resolve(name)
	for _, ix := range ixs {
		for id, d := range ix.docs {
			out[id] = append(json.RawMessage(nil), d.source...)
		}
	}
	return out
}

// Version returns the version of a document, or 0 when it does not exist.
func (s *Server) Version(name, id string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ixs, _ := s.resolve(name)
	for _, ix := range ixs {
		if d := ix.docs[id]; d != nil {
			return d.version
		}
	}
	return 0
}

// Aliases maps each alias to the indices it points at.
func (s *Server) Aliases() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for _, ix := range s.indices {
		for a := range ix.aliases {
			out[a] = append(out[a], ix.name)
		}
	}
	for _, l := range out {
		sortStrings(l)
	}
	return out
}

// Indices lists the index names.
func (s *Server) Indices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.indices))
	for n := range s.indices {
		out = append(out, n)
	}
	sortStrings(out)
	return out
}

// Index describes an index (not an alias); ok is false when it does not
// exist.
func (s *Server) Index(name string) (info IndexInfo, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix, ok := s.indices[name]
	if !ok {
		return IndexInfo{}, false
	}
	info = IndexInfo{Name: ix.name, Settings: nest(ix.settings), Mappings: maps.Clone(ix.mappings), Docs: len(ix.docs)}
	for a := range ix.aliases {
		info.Aliases = append(info.Aliases, a)
	}
	sortStrings(info.Aliases)
	return info, true
}

// Setting returns a flattened index setting ("refresh_interval",
// "number_of_replicas", …) of an index.
func (s *Server) Setting(name, key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix, ok := s.indices[name]
	if !ok {
		return "", false
	}
	return ix.setting(key)
}
