package cli

import (
	"log/slog"

	"github.com/ezlivestreaming/ezlive/nomad"
	"github.com/ezlivestreaming/ezlive/scheduler"
)

// nomadFlags configure the Nomad driver. The cluster itself is found through
// Nomad's standard environment: NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE,
// NOMAD_REGION and the NOMAD_CACERT/NOMAD_CLIENT_CERT/NOMAD_CLIENT_KEY files.
type nomadFlags struct {
	pool, class, taskDriver, datacenters *string
}

func addNomad(fs *flagSet) nomadFlags {
	return nomadFlags{
		pool:        fs.String("nomad-node-pool", "EZLIVE_NOMAD_NODE_POOL", "ezlive-workers", "Nomad node pool of the worker nodes (empty: any)"),
		class:       fs.String("nomad-node-class", "EZLIVE_NOMAD_NODE_CLASS", "", "Nomad node class of the worker nodes (empty: any)"),
		taskDriver:  fs.String("nomad-task-driver", "EZLIVE_NOMAD_TASK_DRIVER", "raw_exec", "Nomad task driver for transcoders: raw_exec or exec"),
		datacenters: fs.String("nomad-datacenters", "EZLIVE_NOMAD_DATACENTERS", "", "comma-separated datacenters (empty: all)"),
	}
}

func (n nomadFlags) open(redisAddr, originURL, bin string, log *slog.Logger) (scheduler.Driver, func(), error) {
	if bin == "" {
		bin = "ezlive"
	}
	d, err := nomad.New(nomad.Config{
		NodePool: *n.pool, NodeClass: *n.class, Datacenters: splitList(*n.datacenters),
		TaskDriver: *n.taskDriver, Command: bin, RedisAddr: redisAddr, OriginURL: originURL, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	return d, func() {}, nil
}
