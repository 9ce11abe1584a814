package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"

	"github.com/redis/go-redis/v9"
)

// storedBytes is job_bytes' value for a job: what the origin last measured
// of its storage, spliced into its record by every read.
type storedBytes struct {
	Bytes_stored        int64
	Time_bytes_measured time.Time
}

// saveJobBytes sets a job's stored bytes if it has a record: a job deleted
// while its folder was being measured gets no entry.
var saveJobBytes = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1`)

// SaveJobBytes notes the bytes a job's outputs and recordings take in
// storage, measured at (the origin's sweep calls it). A job without a
// record is left alone.
func (s *Store) SaveJobBytes(ctx context.Context, jobID string, n int64, at time.Time) error {
	b, err := json.Marshal(storedBytes{n, at.UTC()})
	if err != nil {
		return err
	}
	err = saveJobBytes.Run(ctx, s.rdb, []string{KeyJobs, KeyJobBytes}, jobID, b).Err()
	return wrap(err, "save stored bytes of job "+jobID)
}

// sizeOf is job_bytes' value for a job as read ("" when none was measured).
func sizeOf(j *jobspec.LiveJob) string {
	if j.Time_bytes_measured.IsZero() {
		return ""
	}
	b, _ := json.Marshal(storedBytes{j.Bytes_stored, j.Time_bytes_measured})
	return string(b)
}
