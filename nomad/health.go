package nomad

import (
	"context"
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// Ping says whether the driver can use Nomad now: the agent answers, the
// cluster has a leader (the query is not stale, so the agent forwards it to
// the leader) and the token may list jobs. It costs one small query: a page
// of at most one ezlive job.
func (d *Driver) Ping(ctx context.Context) error {
	q := &api.QueryOptions{Prefix: JobPrefix, PerPage: 1}
	if _, _, err := d.client.Jobs().List(q.WithContext(ctx)); err != nil {
		return fmt.Errorf("nomad: %w", err)
	}
	return nil
}
