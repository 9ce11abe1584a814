package store

import (
	"context"
	"encoding/json"
	"errors"
	"sort"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/recording"
	"github.com/redis/go-redis/v9"
)

// keyRecordingsPrefix + job id is a hash: run → recording.Info JSON, or
// recordingDeleted once the recording is deleted and until the origin has
// removed its files (ForgetRecording).
const keyRecordingsPrefix = "recordings:"

// recordingDeleted marks a deleted recording whose files may remain.
const recordingDeleted = "deleted"

func recordingsKey(jobID string) string { return keyRecordingsPrefix + jobID }

// saveRecording sets a recording's info unless it is deleted: the origin
// may index one more manifest of it after the deletion.
var saveRecording = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`)

// Recorded reports whether a job keeps its segments as recordings
// (jobspec.Records); a job without a record does not.
func (s *Store) Recorded(ctx context.Context, jobID string) (bool, error) {
	job, err := s.Job(ctx, jobID)
	if jobspec.ErrorCode(err) == jobspec.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return jobspec.Records(job.Spec), nil
}

// SaveRecording notes the latest info of a recording (the origin calls it).
func (s *Store) SaveRecording(ctx context.Context, jobID string, info recording.Info) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	err = saveRecording.Run(ctx, s.rdb, []string{recordingsKey(jobID)}, info.Run, b, recordingDeleted).Err()
	return wrap(err, "save recording "+info.Run+" of job "+jobID)
}

// Recordings lists a job's recordings, oldest first.
func (s *Store) Recordings(ctx context.Context, jobID string) ([]recording.Info, error) {
	all, err := s.rdb.HGetAll(ctx, recordingsKey(jobID)).Result()
	if err != nil {
		return nil, wrap(err, "list recordings of job "+jobID)
	}
	out := make([]recording.Info, 0, len(all))
	for _, v := range all {
		var info recording.Info
		if v == recordingDeleted || json.Unmarshal([]byte(v), &info) != nil {
			continue
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// Recording returns one recording of a job; ENOTFOUND when it has none of
// that run (or it is deleted).
func (s *Store) Recording(ctx context.Context, jobID, run string) (recording.Info, error) {
	var info recording.Info
	v, err := s.rdb.HGet(ctx, recordingsKey(jobID), run).Result()
	switch {
	case errors.Is(err, redis.Nil) || v == recordingDeleted:
		return info, jobspec.Errorf(jobspec.ENOTFOUND, "job %s has no recording %q", jobID, run)
	case err != nil:
		return info, wrap(err, "look up recording "+run+" of job "+jobID)
	}
	return info, json.Unmarshal([]byte(v), &info)
}

// DeleteRecording marks a recording deleted; the origin's sweep removes
// its files, then forgets it. ENOTFOUND when there is no such recording.
func (s *Store) DeleteRecording(ctx context.Context, jobID, run string) error {
	if _, err := s.Recording(ctx, jobID, run); err != nil {
		return err
	}
	return wrap(s.rdb.HSet(ctx, recordingsKey(jobID), run, recordingDeleted).Err(), "delete recording "+run+" of job "+jobID)
}

// KeepRecording reports whether the origin must keep a recording's files:
// false once it is deleted. An error means Redis could not answer.
func (s *Store) KeepRecording(ctx context.Context, jobID, run string) (bool, error) {
	v, err := s.rdb.HGet(ctx, recordingsKey(jobID), run).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, wrap(err, "look up recording "+run+" of job "+jobID)
	}
	return v != recordingDeleted, nil
}

// ForgetRecording drops a recording whose files the origin has removed.
func (s *Store) ForgetRecording(ctx context.Context, jobID, run string) error {
	return wrap(s.rdb.HDel(ctx, recordingsKey(jobID), run).Err(), "forget recording "+run+" of job "+jobID)
}

// keepRecordings, in DeleteJob, makes the job ARGV[1] a kept job with the
// playback policy ARGV[2] if it has recordings; otherwise it forgets them.
// Checked in the same step as the delete: the origin may have removed the
// job's last recording already (ForgetKeptJob).
var keepRecordings = redis.NewScript(`
if redis.call('HLEN', KEYS[1]) > 0 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 0`)

// KeptJob stands in for a deleted job whose recordings are kept: its id and
// its playback policy are all that is left of it. ENOTFOUND for any other
// id, as for a job without a record.
func (s *Store) KeptJob(ctx context.Context, id string) (*jobspec.LiveJob, error) {
	policy, err := s.rdb.HGet(ctx, KeyKeptRecordings, id).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, notFound(id)
	case err != nil:
		return nil, wrap(err, "look up kept job "+id)
	}
	return &jobspec.LiveJob{Id: id, Spec: jobspec.Spec{Playback_policy: policy}}, nil
}

// RecordingsKept reports whether the origin must keep the recordings of a
// job whose outputs go (KeepOutputs false): its deletion was asked with
// Keep_recordings, or it is a kept job. An error means Redis could not
// answer.
func (s *Store) RecordingsKept(ctx context.Context, id string) (bool, error) {
	job, err := s.Job(ctx, id)
	switch {
	case err == nil:
		return job.State == jobspec.StateDeleting && job.Keep_recordings, nil
	case jobspec.ErrorCode(err) != jobspec.ENOTFOUND:
		return false, err
	}
	kept, err := s.rdb.HExists(ctx, KeyKeptRecordings, id).Result()
	return kept, wrap(err, "look up kept job "+id)
}

// ForgetKeptJob drops a kept job once the origin has removed its last
// recording and the rest of its folder.
func (s *Store) ForgetKeptJob(ctx context.Context, id string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, KeyKeptRecordings, id)
		p.Del(ctx, recordingsKey(id))
		return nil
	})
	return wrap(err, "forget kept job "+id)
}
