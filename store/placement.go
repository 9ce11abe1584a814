package store

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/redis/go-redis/v9"
)

// Load is what one node carries: the estimated cores of each job placed on it.
type Load struct {
	Node string             `json:"Node"`
	CPU  float64            `json:"Cpu"`
	Jobs map[string]float64 `json:"Jobs"`
}

// shareLua is the one Lua function that changes a node's load: it sets
// (cpu ≥ 0) or removes (cpu < 0) one job's share and recomputes the total,
// so that repeating it changes nothing. The total is also kept alone in
// worker_cpu (KEYS[2]), which placement reads. When the total drops,
// capacity_changes (KEYS[3]) counts it in the same step: the signal waiting
// jobs are retried on. With a capacity (cap), the share is set only if the
// node's other shares and cpu fit in it; it returns whether it was set.
const shareLua = `
local function share(node, job, cpu, cap)
  local raw = redis.call('HGET', KEYS[1], node)
  local load = {Node = node, Cpu = 0, Jobs = {}}
  if raw then load = cjson.decode(raw) end
  if type(load.Jobs) ~= 'table' then load.Jobs = {} end
  local before = 0
  for _, c in pairs(load.Jobs) do before = before + c end
  if cap and before - (load.Jobs[job] or 0) + cpu > cap + 1e-9 then return false end
  if cpu < 0 then load.Jobs[job] = nil else load.Jobs[job] = cpu end
  local total, n = 0, 0
  for _, c in pairs(load.Jobs) do total = total + c; n = n + 1 end
  if total < before then redis.call('INCR', KEYS[3]) end
  if n == 0 then
    redis.call('HDEL', KEYS[1], node)
    redis.call('HDEL', KEYS[2], node)
    return true
  end
  load.Cpu = total
  redis.call('HSET', KEYS[1], node, cjson.encode(load))
  redis.call('HSET', KEYS[2], node, total)
  return true
end
`

// reserveLoad sets (ARGV[3] ≥ 0) or removes (ARGV[3] < 0) one job's share
// of a node's load (shareLua).
var reserveLoad = redis.NewScript(shareLua + `
share(ARGV[1], ARGV[2], tonumber(ARGV[3]))
return 1`)

// loadKeys are reserveLoad's keys.
var loadKeys = []string{KeyWorkerLoads, KeyWorkerCPU, KeyCapacityChanges}

// Reserve records that job runs on node with the given estimated cores.
func (s *Store) Reserve(ctx context.Context, node, jobID string, cpu float64) error {
	err := reserveLoad.Run(ctx, s.rdb, loadKeys, node, jobID, cpu).Err()
	return wrap(err, fmt.Sprintf("reserve %s on %s", jobID, node))
}

// Release removes job's share from node's load; releasing twice is harmless.
func (s *Store) Release(ctx context.Context, node, jobID string) error {
	err := reserveLoad.Run(ctx, s.rdb, loadKeys, node, jobID, -1).Err()
	return wrap(err, fmt.Sprintf("release %s on %s", jobID, node))
}

// Loads returns every node's load.
func (s *Store) Loads(ctx context.Context) (map[string]Load, error) {
	raws, err := s.rdb.HGetAll(ctx, KeyWorkerLoads).Result()
	if err != nil {
		return nil, wrap(err, "read worker loads")
	}
	loads := make(map[string]Load, len(raws))
	for node, raw := range raws {
		var l Load
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return nil, fmt.Errorf("decode load of %s: %w", node, err)
		}
		if l.Jobs == nil {
			l.Jobs = map[string]float64{}
		}
		loads[node] = l
	}
	return loads, nil
}

// CPULoads returns the cores reserved on each node: the one read a placement
// decision needs, kept small so that it stays fast with many nodes and jobs.
func (s *Store) CPULoads(ctx context.Context) (map[string]float64, error) {
	raws, err := s.rdb.HGetAll(ctx, KeyWorkerCPU).Result()
	if err != nil {
		return nil, wrap(err, "read worker cpu")
	}
	return decodeCPULoads(raws)
}

func decodeCPULoads(raws map[string]string) (map[string]float64, error) {
	loads := make(map[string]float64, len(raws))
	for node, raw := range raws {
		cpu, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, fmt.Errorf("decode cpu of %s: %w", node, err)
		}
		loads[node] = cpu
	}
	return loads, nil
}

// ReplaceLoads overwrites worker_loads with loads recomputed from the job
// records (the reconcile loop's repair of anything a crash left behind).
func (s *Store) ReplaceLoads(ctx context.Context, loads map[string]Load) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, KeyWorkerLoads, KeyWorkerCPU)
		p.Incr(ctx, KeyCapacityChanges) // loads may have dropped
		for node, l := range loads {
			raw, _ := json.Marshal(l)
			p.HSet(ctx, KeyWorkerLoads, node, raw)
			p.HSet(ctx, KeyWorkerCPU, node, l.CPU)
		}
		return nil
	})
	return wrap(err, "replace worker loads")
}

// enqueue appends an id to queued_jobs unless it is there already.
var enqueue = redis.NewScript(`
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1`)

// Enqueue puts a job in queued_jobs (once).
func (s *Store) Enqueue(ctx context.Context, jobID string) error {
	return wrap(enqueue.Run(ctx, s.rdb, []string{KeyQueuedJobs}, jobID).Err(), "enqueue "+jobID)
}

// Dequeue removes a job from queued_jobs.
func (s *Store) Dequeue(ctx context.Context, jobID string) error {
	return wrap(s.rdb.LRem(ctx, KeyQueuedJobs, 0, jobID).Err(), "dequeue "+jobID)
}

// QueueLength is how many jobs wait in queued_jobs; it does not read them.
func (s *Store) QueueLength(ctx context.Context) (int64, error) {
	n, err := s.rdb.LLen(ctx, KeyQueuedJobs).Result()
	return n, wrap(err, "read queue length")
}

// QueuedJobs returns the waiting job ids, oldest first.
func (s *Store) QueuedJobs(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.LRange(ctx, KeyQueuedJobs, 0, -1).Result()
	return ids, wrap(err, "read queued jobs")
}

// SetUploadToken makes token the only one the origin accepts for a job.
func (s *Store) SetUploadToken(ctx context.Context, jobID, token string) error {
	return wrap(s.rdb.HSet(ctx, KeyUploadTokens, jobID, token).Err(), "set upload token of "+jobID)
}

// UploadToken returns a job's current upload token ("" when none).
func (s *Store) UploadToken(ctx context.Context, jobID string) (string, error) {
	tok, err := s.rdb.HGet(ctx, KeyUploadTokens, jobID).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return tok, wrap(err, "get upload token of "+jobID)
}

// ErrUploadRefused is returned for a token that is not the job's current one.
var ErrUploadRefused = errors.New("upload token is not the job's current one")

// AuthorizeUpload lets the origin accept a write only with the job's current
// token; a transcoder of an older placement holds an older token (fencing).
func (s *Store) AuthorizeUpload(ctx context.Context, jobID, token string) error {
	cur, err := s.UploadToken(ctx, jobID)
	if err != nil {
		return err
	}
	if cur == "" || subtle.ConstantTimeCompare([]byte(cur), []byte(token)) != 1 {
		return ErrUploadRefused
	}
	return nil
}

// ForgetHeartbeat drops a job's heartbeat (after a stop or a re-placement).
func (s *Store) ForgetHeartbeat(ctx context.Context, jobID string) error {
	return wrap(s.rdb.ZRem(ctx, KeyHeartbeats, jobID).Err(), "forget heartbeat "+jobID)
}

// StaleHeartbeats returns the jobs whose last heartbeat is older than before.
func (s *Store) StaleHeartbeats(ctx context.Context, before time.Time) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, KeyHeartbeats, &redis.ZRangeBy{
		Min: "-inf", Max: fmt.Sprint(before.UnixMilli() - 1),
	}).Result()
	return ids, wrap(err, "read stale heartbeats")
}

// LastHeartbeat returns when a job last heartbeated (zero if never).
func (s *Store) LastHeartbeat(ctx context.Context, jobID string) (time.Time, error) {
	ms, err := s.rdb.ZScore(ctx, KeyHeartbeats, jobID).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, wrap(err, "read heartbeat of "+jobID)
	}
	return time.UnixMilli(int64(ms)), nil
}

// ErrFenced is returned to a transcoder whose placement generation is no
// longer the job's current one: it must stop.
var ErrFenced = errors.New("placement generation is no longer current")

// placementCurrent reports whether generation is the job's current
// placement and the job should still run: what a transcoder must be to
// start or to heartbeat (else it is fenced).
func placementCurrent(j *jobspec.LiveJob, generation int64) bool {
	return j.Placement_generation == generation && j.State.Active()
}

// PlacedJob returns job id for the transcoder of placement generation: the
// job, if that generation is still its current one and the job is active;
// ErrFenced if not, and the transcoder must not start.
func (s *Store) PlacedJob(ctx context.Context, id string, generation int64) (*jobspec.LiveJob, error) {
	job, err := s.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if !placementCurrent(job, generation) {
		return nil, ErrFenced
	}
	return job, nil
}

// releaseLock deletes a lock only if the caller still owns it.
var releaseLock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// extendLock renews a lock only if the caller still owns it.
var extendLock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

// JobLock is the name of the lock a scheduler holds while it handles job id.
func JobLock(id string) string { return "job:" + id }

// PublishLock is the name of the lock an ingest gateway holds while a
// publisher sends on stream key key.
func PublishLock(key string) string { return "publish:" + key }

// TryLock takes the named lock for owner for ttl; false when someone else
// holds it. Locks expire, so a dead holder never blocks others for long.
func (s *Store) TryLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, keyLockPrefix+name, owner, ttl).Result()
	return ok, wrap(err, "lock "+name)
}

// takeOverLock gives a lock to ARGV[3] when its holder's name starts with
// ARGV[1] (an earlier life of the same holder) but not with ARGV[2] (this
// life).
var takeOverLock = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #ARGV[1]) == ARGV[1] and string.sub(cur, 1, #ARGV[2]) ~= ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0`)

// TakeOverLock gives lock name to owner if it is held under an earlier life
// of the same holder: its owner starts with identity but not with life.
func (s *Store) TakeOverLock(ctx context.Context, name, identity, life, owner string, ttl time.Duration) (bool, error) {
	n, err := takeOverLock.Run(ctx, s.rdb, []string{keyLockPrefix + name}, identity, life, owner, ttl.Milliseconds()).Int()
	return n == 1, wrap(err, "take over lock "+name)
}

// ExtendLock renews a held lock; false when it was lost.
func (s *Store) ExtendLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	n, err := extendLock.Run(ctx, s.rdb, []string{keyLockPrefix + name}, owner, ttl.Milliseconds()).Int()
	return n == 1, wrap(err, "extend lock "+name)
}

// Unlock releases a held lock.
func (s *Store) Unlock(ctx context.Context, name, owner string) error {
	return wrap(releaseLock.Run(ctx, s.rdb, []string{keyLockPrefix + name}, owner).Err(), "unlock "+name)
}

// PublishLocks allow one publisher per stream key across every ingest
// gateway (ingest.PublishLocker), with the store's expiring locks.
type PublishLocks struct{ st *Store }

// PublishLocks returns the stream keys' publish locks.
func (s *Store) PublishLocks() PublishLocks { return PublishLocks{s} }

func (l PublishLocks) TryAcquire(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	return l.st.TryLock(ctx, PublishLock(key), owner, ttl)
}

func (l PublishLocks) Renew(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	return l.st.ExtendLock(ctx, PublishLock(key), owner, ttl)
}

func (l PublishLocks) TakeOver(ctx context.Context, key, identity, life, owner string, ttl time.Duration) (bool, error) {
	return l.st.TakeOverLock(ctx, PublishLock(key), identity, life, owner, ttl)
}

func (l PublishLocks) Release(ctx context.Context, key, owner string) error {
	return l.st.Unlock(ctx, PublishLock(key), owner)
}
