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
	workerRedis, workerOrigin            *string
}

// addNomad adds the Nomad driver's flags; pool is the default node pool
// (a cluster's workers are in "ezlive-workers"; a dev agent's node is in
// "default", so ezlive dev takes any).
func addNomad(fs *flagSet, pool string) nomadFlags {
	return nomadFlags{
		pool:        fs.String("nomad-node-pool", "EZLIVE_NOMAD_NODE_POOL", pool, "Nomad node pool of the worker nodes (empty: any)"),
		class:       fs.String("nomad-node-class", "EZLIVE_NOMAD_NODE_CLASS", "", "Nomad node class of the worker nodes (empty: any)"),
		taskDriver:  fs.String("nomad-task-driver", "EZLIVE_NOMAD_TASK_DRIVER", "raw_exec", "Nomad task driver for transcoders: raw_exec or exec"),
		datacenters: fs.String("nomad-datacenters", "EZLIVE_NOMAD_DATACENTERS", "", "comma-separated datacenters (empty: all)"),
		workerRedis: fs.String("worker-redis", "EZLIVE_WORKER_REDIS", "",
			"Nomad driver: Redis address passed to transcoders (empty: the worker node's EZLIVE_REDIS_ADDR; password and TLS always come from the node)"),
		workerOrigin: fs.String("worker-origin", "EZLIVE_WORKER_ORIGIN_URL", "",
			"Nomad driver: origin URL passed to transcoders (empty: the worker node's EZLIVE_ORIGIN_URL)"),
	}
}

// open makes the driver; bin is the ezlive binary on the worker nodes
// ("ezlive" from their PATH when empty).
func (n nomadFlags) open(bin string, log *slog.Logger) (scheduler.Driver, func(), error) {
	if bin == "" {
		bin = "ezlive"
	}
	d, err := nomad.New(nomad.Config{
		NodePool: *n.pool, NodeClass: *n.class, Datacenters: splitList(*n.datacenters),
		TaskDriver: *n.taskDriver, Command: bin, RedisAddr: *n.workerRedis, OriginURL: *n.workerOrigin, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	return d, func() {}, nil
}
