package dbcheck

import (
	"context"
	"fmt"
	"strings"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
	"github.com/jackc/pgx/v5"
)

// The rules about the database as a whole: the server settings and role
// logical replication needs, the publication and the slot.

const tablesSQL = `
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1, 2`

// listTables reads the name of every table of the database, for
// suggestions.
func listTables(ctx context.Context, db catalog.Querier) ([]config.TableRef, error) {
	rows, err := db.Query(ctx, tablesSQL)
	if err != nil {
		return nil, fmt.Errorf("list the tables: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (config.TableRef, error) {
		var t config.TableRef
		err := r.Scan(&t.Schema, &t.Name)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list the tables: %w", err)
	}
	return out, nil
}

// quote renders the qualified names of the tables for SQL, quoted where
// Postgres needs it (a table named order).
func (c *checker) quote(ctx context.Context, refs []config.TableRef) error {
	schemas, names := make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		schemas[i], names[i] = r.Schema, r.Name
	}
	rows, err := c.db.Query(ctx, `SELECT s, t, quote_ident(s) || '.' || quote_ident(t) FROM unnest($1::text[], $2::text[]) AS x(s, t)`, schemas, names)
	if err != nil {
		return fmt.Errorf("quote the table names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r config.TableRef
		var q string
		if err := rows.Scan(&r.Schema, &r.Name, &q); err != nil {
			return fmt.Errorf("quote the table names: %w", err)
		}
		c.quoted[r] = q
	}
	return rows.Err()
}

const serverSQL = `
SELECT current_setting('server_version'), current_database(), current_user, quote_ident(current_user),
       r.rolsuper, r.rolreplication, has_database_privilege(current_database(), 'CREATE'),
       current_setting('wal_level'), current_setting('max_replication_slots')::int,
       current_setting('max_wal_senders')::int
FROM pg_roles r WHERE r.rolname = current_user`

func readServer(ctx context.Context, db catalog.Querier) (Server, error) {
	var s Server
	rows, err := db.Query(ctx, serverSQL)
	if err == nil {
		s, err = pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (Server, error) {
			var s Server
			err := r.Scan(&s.Version, &s.Database, &s.Role, &s.quotedRole, &s.Superuser, &s.Replication, &s.canCreate,
				&s.WALLevel, &s.MaxReplicationSlots, &s.MaxWALSenders)
			return s, err
		})
	}
	if err != nil {
		return s, fmt.Errorf("read the server settings: %w", err)
	}
	return s, nil
}

// settings checks what logical replication needs of the server and role.
func (c *checker) settings(s Server) {
	at := place{config.Position{File: c.cfg.File}, "source"}
	restart := "; then restart PostgreSQL"
	if s.WALLevel != "logical" {
		c.errorf(at, "ALTER SYSTEM SET wal_level = logical"+restart, "wal_level is %s: flusso reads changes through logical replication, which needs wal_level = logical", s.WALLevel)
	}
	if s.MaxReplicationSlots <= 0 {
		c.errorf(at, "ALTER SYSTEM SET max_replication_slots = 10"+restart, "max_replication_slots is %d: flusso needs a replication slot", s.MaxReplicationSlots)
	}
	if s.MaxWALSenders <= 0 {
		c.errorf(at, "ALTER SYSTEM SET max_wal_senders = 10"+restart, "max_wal_senders is %d: flusso needs a WAL sender to stream changes", s.MaxWALSenders)
	}
	if !s.Superuser && !s.Replication {
		c.errorf(at, fmt.Sprintf("ALTER ROLE %s WITH REPLICATION;", s.quotedRole), "role %s may not stream changes: it has neither REPLICATION nor SUPERUSER", s.Role)
	}
}

// publication checks that the publication covers every table the enabled
// indexes read, and says who will make it so.
func (c *checker) publication(ctx context.Context, s Server) (Publication, error) {
	name := c.cfg.Capture.Publication
	out := Publication{Name: name, Missing: []string{}}
	pub, err := catalog.ReadPublication(ctx, c.db, name)
	if err != nil {
		return out, err
	}
	out.Exists, out.AllTables = pub.Exists, pub.AllTables
	at := place{config.Position{File: c.cfg.File}, "capture.publication"}

	var quotedName string
	var ownsPub, pubInsert, pubUpdate, pubDelete, pubTruncate bool
	rows, err := c.db.Query(ctx, `SELECT quote_ident($1::text),
  COALESCE((SELECT pg_has_role(pubowner, 'USAGE') FROM pg_publication WHERE pubname = $1), false),
  COALESCE((SELECT ARRAY[pubinsert, pubupdate, pubdelete, pubtruncate] FROM pg_publication WHERE pubname = $1), ARRAY[true, true, true, true])`, name)
	if err == nil {
		var flags []bool
		_, err = pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (struct{}, error) {
			return struct{}{}, r.Scan(&quotedName, &ownsPub, &flags)
		})
		if err == nil {
			pubInsert, pubUpdate, pubDelete, pubTruncate = flags[0], flags[1], flags[2], flags[3]
		}
	}
	if err != nil {
		return out, fmt.Errorf("read publication %s: %w", name, err)
	}

	// Only tables can be published: views were warned about where named.
	var missing []config.TableRef
	for _, ref := range c.order {
		if k := c.uses[ref].table.Kind; (k == 'r' || k == 'p') && !pub.Covers(ref) {
			missing = append(missing, ref)
		}
	}
	if out.Exists && (!pubInsert || !pubUpdate || !pubDelete) {
		c.errorf(at, fmt.Sprintf("ALTER PUBLICATION %s SET (publish = 'insert, update, delete, truncate');", quotedName), "publication %s does not publish every insert, update and delete: flusso would miss changes", name)
	} else if out.Exists && !pubTruncate {
		c.warnf(at, fmt.Sprintf("ALTER PUBLICATION %s SET (publish = 'insert, update, delete, truncate');", quotedName), "publication %s does not publish TRUNCATE: a truncated table leaves stale documents until a reindex", name)
	}
	if len(missing) == 0 {
		return out, nil
	}

	for _, ref := range missing {
		out.Missing = append(out.Missing, c.quoted[ref])
	}
	list := strings.Join(out.Missing, ", ")
	if out.Exists {
		out.SQL = fmt.Sprintf("ALTER PUBLICATION %s ADD TABLE %s;", quotedName, list)
	} else {
		out.SQL = fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s;", quotedName, list)
	}

	notOwned, err := c.notOwned(ctx, missing)
	if err != nil {
		return out, err
	}
	var why string
	switch {
	case !c.cfg.Source.ManagePublication:
		why = "manage_publication is false"
	case s.Superuser:
	case out.Exists && !ownsPub:
		why = fmt.Sprintf("role %s does not own the publication", s.Role)
	case !out.Exists && !s.canCreate:
		why = fmt.Sprintf("role %s may not create one (no CREATE on database %s)", s.Role, s.Database)
	case len(notOwned) > 0:
		why = fmt.Sprintf("role %s does not own %s", s.Role, strings.Join(notOwned, ", "))
	}
	out.Managed = why == ""

	what := fmt.Sprintf("publication %s does not cover %s", name, list)
	if !out.Exists {
		what = fmt.Sprintf("publication %s does not exist", name)
	}
	if out.Managed {
		verb := "add them to it"
		if !out.Exists {
			verb = "create it"
		}
		c.warnf(at, out.SQL, "%s: flusso will %s when it starts (manage_publication = true)", what, verb)
	} else {
		c.errorf(at, out.SQL, "%s, and flusso will not fix it: %s; run this SQL as a role that may", what, why)
	}
	return out, nil
}

// notOwned lists the tables the connected role does not own, quoted.
func (c *checker) notOwned(ctx context.Context, refs []config.TableRef) ([]string, error) {
	var oids []uint32
	for _, r := range refs {
		oids = append(oids, c.tables[r].OID)
	}
	rows, err := c.db.Query(ctx, `SELECT oid FROM pg_class WHERE oid = ANY($1) AND NOT pg_has_role(relowner, 'USAGE')`, oids)
	if err != nil {
		return nil, fmt.Errorf("read the table owners: %w", err)
	}
	others, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return nil, fmt.Errorf("read the table owners: %w", err)
	}
	var out []string
	for _, r := range refs {
		for _, o := range others {
			if c.tables[r].OID == o {
				out = append(out, c.quoted[r])
			}
		}
	}
	return out, nil
}

// slot reports the replication slot and whether flusso can use or create it.
func (c *checker) slot(ctx context.Context, s Server) (Slot, error) {
	out := Slot{Name: c.cfg.Capture.Slot}
	var plugin, database *string
	var used int
	rows, err := c.db.Query(ctx, `SELECT s.slot_name IS NOT NULL, s.plugin, s.database, COALESCE(s.active, false), (SELECT count(*) FROM pg_replication_slots)::int
FROM (SELECT 1) AS one LEFT JOIN pg_replication_slots s ON s.slot_name = $1`, out.Name)
	if err == nil {
		_, err = pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (struct{}, error) {
			return struct{}{}, r.Scan(&out.Exists, &plugin, &database, &out.Active, &used)
		})
	}
	if err != nil {
		return out, fmt.Errorf("read replication slot %s: %w", out.Name, err)
	}
	at := place{config.Position{File: c.cfg.File}, "capture.slot"}
	if !out.Exists {
		if s.MaxReplicationSlots > 0 && used >= s.MaxReplicationSlots {
			c.errorf(at, "drop an unused slot, or raise max_replication_slots and restart PostgreSQL", "every replication slot is taken (%d of max_replication_slots %d): flusso cannot create slot %s", used, s.MaxReplicationSlots, out.Name)
		}
		return out, nil
	}
	if plugin != nil {
		out.Plugin = *plugin
	}
	if database != nil {
		out.Database = *database
	}
	switch {
	case out.Plugin != "pgoutput":
		what := "a physical slot"
		if out.Plugin != "" {
			what = "a logical slot of plugin " + out.Plugin
		}
		c.errorf(at, "choose another slot name (capture.slot), or drop this slot", "replication slot %s exists and is %s: flusso needs a pgoutput slot", out.Name, what)
	case out.Database != s.Database:
		c.errorf(at, "choose another slot name (capture.slot)", "replication slot %s belongs to database %s, not %s", out.Name, out.Database, s.Database)
	}
	return out, nil
}
