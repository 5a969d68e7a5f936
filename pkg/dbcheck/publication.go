package dbcheck

import (
	"context"

	"github.com/flusso-go/flusso/pkg/catalog"
	"github.com/flusso-go/flusso/pkg/config"
)

// PublicationFor reports the coverage of the deployment's publication for
// the tables refs, as Check does in Report.Publication, with the findings
// about the publication alone (what is missing, the SQL that fixes it,
// whether flusso may run it, publish settings that lose changes), without
// checking the rest of the deployment. The capture calls it at start. The
// error is only for a failure to read the database.
func PublicationFor(ctx context.Context, cfg *config.Config, db catalog.Querier, refs []config.TableRef) (Publication, config.Diagnostics, error) {
	c := &checker{
		cfg:    cfg,
		db:     db,
		uses:   map[config.TableRef]*usage{},
		quoted: map[config.TableRef]string{},
	}
	var err error
	if c.tables, err = catalog.New(db).Tables(ctx, refs...); err != nil {
		return Publication{}, nil, err
	}
	if err := c.quote(ctx, refs); err != nil {
		return Publication{}, nil, err
	}
	s, err := readServer(ctx, db)
	if err != nil {
		return Publication{}, nil, err
	}
	for _, r := range refs {
		if t := c.tables[r]; t != nil && c.uses[r] == nil {
			c.uses[r] = &usage{table: t}
			c.order = append(c.order, r)
		}
	}
	pub, err := c.publication(ctx, s)
	return pub, c.diags, err
}
