package resolve

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/flusso-go/flusso/pkg/config"
)

// tupleSet is a set of value tuples of one column list.
type tupleSet struct {
	rows map[string][]string
}

func (s *tupleSet) add(vals []string) {
	if s.rows == nil {
		s.rows = map[string][]string{}
	}
	// Postgres text never holds NUL, so it separates values unambiguously.
	s.rows[strings.Join(vals, "\x00")] = vals
}

// sorted returns the tuples in a stable order: queries and results do not
// depend on map iteration.
func (s *tupleSet) sorted() [][]string {
	out := slices.Collect(maps.Values(s.rows))
	slices.SortFunc(out, slices.Compare)
	return out
}

// batch is the state of one Resolve call: the values found so far at each
// occurrence (ready, over its up columns) and those waiting for a lookup.
type batch struct {
	ctx     context.Context
	q       Querier
	ready   map[*occurrence]*tupleSet
	pending map[*lookup]*tupleSet
}

func setOf[K comparable](m map[K]*tupleSet, k K) *tupleSet {
	s := m[k]
	if s == nil {
		s = &tupleSet{}
		m[k] = s
	}
	return s
}

// firstHop finds, for every occurrence of every changed table, the up values
// of the changed rows: from the key when up is part of it, from the old row
// when the change carries it, and from the current row (one query per
// table) for inserts and updates.
func (b *batch) firstHop(r *Resolver, changes []Change) error {
	byTable := map[config.TableRef][]*Change{}
	for i := range changes {
		c := &changes[i]
		if r.tables[c.Table] != nil {
			byTable[c.Table] = append(byTable[c.Table], c)
		}
	}
	for _, ref := range r.refs {
		cs := byTable[ref]
		if len(cs) == 0 {
			continue
		}
		tp := r.tables[ref]
		var current tupleSet
		for _, c := range cs {
			if len(c.Key) != len(tp.key) || (c.OldKey != nil && len(c.OldKey) != len(tp.key)) {
				return fmt.Errorf("%s of %s key %v (old key %v): the key of %s has %d column(s) (%s)",
					c.Op, ref, c.Key, c.OldKey, ref, len(tp.key), strings.Join(tp.key, ", "))
			}
			for _, o := range tp.occurrences {
				ready := setOf(b.ready, o)
				if o.fromKey != nil {
					ready.add(pick(c.Key, o.fromKey))
					if c.OldKey != nil {
						ready.add(pick(c.OldKey, o.fromKey))
					}
				}
				if vals, ok := fromOld(c.Old, o.up); ok {
					ready.add(vals)
				}
			}
			if c.Op != Delete && tp.readSQL != "" {
				current.add(c.Key)
			}
		}
		if len(current.rows) == 0 {
			continue
		}
		rows, err := b.query(tp.readSQL, &current)
		if err != nil {
			return fmt.Errorf("read the changed rows of %s: %w", ref, err)
		}
		for _, row := range rows {
			for _, o := range tp.occurrences {
				if o.fromRead == nil {
					continue
				}
				if vals, ok := pickNotNull(row, o.fromRead); ok {
					setOf(b.ready, o).add(vals)
				}
			}
		}
	}
	return nil
}

// walk carries the values found in an index's occurrences up to its root,
// children before parents, and returns the root keys.
func (b *batch) walk(ip *indexPlan) ([]Key, error) {
	for _, o := range ip.order {
		for _, lk := range o.lookups {
			in := b.pending[lk]
			if in == nil || len(in.rows) == 0 {
				continue
			}
			ready := setOf(b.ready, o)
			if lk.pick != nil {
				for _, t := range in.rows {
					ready.add(pick(t, lk.pick))
				}
				continue
			}
			rows, err := b.query(lk.sql, in)
			if err != nil {
				return nil, fmt.Errorf("%s: find the rows of %s by %s: %w", o.path, o.table.Ref, strings.Join(lk.by, ", "), err)
			}
			for _, row := range rows {
				if vals, ok := pickNotNull(row, nil); ok {
					ready.add(vals)
				}
			}
		}
		ready := b.ready[o]
		if ready == nil || len(ready.rows) == 0 {
			continue
		}
		if o.parent == nil {
			keys := make([]Key, 0, len(ready.rows))
			for _, t := range ready.sorted() {
				keys = append(keys, Key(t))
			}
			return keys, nil
		}
		// up values of this row are the values of the parent's columns
		// toParent.by, position by position.
		pending := setOf(b.pending, o.toParent)
		for _, t := range ready.rows {
			pending.add(t)
		}
	}
	return nil, nil
}

// query runs a planned select with the tuples bound as one text array per
// column, and returns the rows read, NULL as nil.
func (b *batch) query(sql string, in *tupleSet) ([][]*string, error) {
	tuples := in.sorted()
	args := make([]any, len(tuples[0]))
	for i := range args {
		col := make([]string, len(tuples))
		for j, t := range tuples {
			col[j] = t[i]
		}
		args[i] = col
	}
	rows, err := b.q.Query(b.ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]*string
	for rows.Next() {
		n := len(rows.FieldDescriptions())
		vals := make([]*string, n)
		dest := make([]any, n)
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

func pick(vals []string, pos []int) []string {
	out := make([]string, len(pos))
	for i, p := range pos {
		out[i] = vals[p]
	}
	return out
}

// pickNotNull picks the values at pos (all of them when pos is nil); a NULL
// among them means no parent.
func pickNotNull(vals []*string, pos []int) ([]string, bool) {
	if pos == nil {
		pos = make([]int, len(vals))
		for i := range pos {
			pos[i] = i
		}
	}
	out := make([]string, len(pos))
	for i, p := range pos {
		if vals[p] == nil {
			return nil, false
		}
		out[i] = *vals[p]
	}
	return out, true
}

// fromOld returns the old row's values of cols, when it carries them all and
// none is NULL.
func fromOld(old map[string]*string, cols []string) ([]string, bool) {
	if old == nil {
		return nil, false
	}
	out := make([]string, len(cols))
	for i, c := range cols {
		v := old[c]
		if v == nil {
			return nil, false
		}
		out[i] = *v
	}
	return out, true
}
