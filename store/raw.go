package store

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/redis/go-redis/v9"
)

// The read path of the API serves the stored JSON of jobs as it is: a
// record is json.Marshal of a jobspec.LiveJob, which is what decoding and
// encoding it again would give. records fetches the stored records,
// appendServed builds what a client is shown of one: every answer goes
// through the two. Records stay the strings Redis answered, copied once,
// into the answer.

// JobJSON returns the JSON of one job as the API serves it; ENOTFOUND when
// there is none.
func (s *Store) JobJSON(ctx context.Context, id string) ([]byte, error) {
	recs, lives, sizes, err := s.records(ctx, []string{id})
	if err != nil {
		return nil, wrap(err, "get job "+id)
	}
	if recs[0] == "" {
		return nil, notFound(id)
	}
	return appendServed(make([]byte, 0, len(recs[0])+len(lives[0])+len(sizes[0])+2), recs[0], lives[0], sizes[0]), nil
}

// ListJobsJSON is ListJobs as a JSON array of the jobs as the API serves
// them ("[]" when there is none). The state filter reads each record's
// State without decoding the record (stateOf).
// Pages are served from memory while no record has changed (listcache.go).
// The answer is shared: the caller must not modify it.
func (s *Store) ListJobsJSON(ctx context.Context, opt ListOptions) ([]byte, string, error) {
	if s.lists == nil {
		return s.listJobsJSON(ctx, opt)
	}
	return s.cachedList(ctx, opt, func() ([]byte, string, error) { return s.listJobsJSON(ctx, opt) })
}

func (s *Store) listJobsJSON(ctx context.Context, opt ListOptions) ([]byte, string, error) {
	limit := opt.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	var out []byte
	n, after := 0, opt.Cursor
	for {
		// One id more than needed: if all are wanted, it shows whether
		// there is a next page without another round trip.
		batch := limit - n + 1
		ids, recs, lives, sizes, err := s.page(ctx, after, batch)
		if err != nil {
			return nil, "", err
		}
		if out == nil {
			out = append(make([]byte, 0, arraySize(recs, lives, sizes)), '[')
		}
		for i, rec := range recs {
			if rec == "" || !wanted(rec, opt.States) {
				continue // deleted since the index read, or filtered out
			}
			if n > 0 {
				out = append(out, ',')
			}
			out = appendServed(out, rec, lives[i], sizes[i])
			if n++; n == limit {
				next, err := s.nextCursor(ctx, ids, i)
				return append(out, ']'), next, err
			}
		}
		if len(ids) < batch {
			return append(out, ']'), "", nil
		}
		after = ids[len(ids)-1]
	}
}

// appendServed appends to dst what the API shows of one stored record: the
// record with its live fields (job_live) and stored bytes (job_bytes)
// spliced in. Any field added to or masked in answers is added or masked
// here, once.
func appendServed(dst []byte, record, live, size string) []byte {
	return appendSpliced(dst, record, live, size)
}

// records reads the records of ids, their live fields and their stored
// bytes in one round trip, "" for an id that has none.
func (s *Store) records(ctx context.Context, ids []string) (recs, lives, sizes []string, err error) {
	var rc, lc, bc *redis.SliceCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		rc = p.HMGet(ctx, KeyJobs, ids...)
		lc = p.HMGet(ctx, KeyJobLive, ids...)
		bc = p.HMGet(ctx, KeyJobBytes, ids...)
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return hmgetStrings(rc.Val()), hmgetStrings(lc.Val()), hmgetStrings(bc.Val()), nil
}

// hmgetStrings is HMGET's answer as strings, "" for a field that has none.
func hmgetStrings(vals []any) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i], _ = v.(string)
	}
	return out
}

// page reads up to n ids after the cursor and their records: two round
// trips. (One script doing both costs Redis, the bottleneck under load,
// twice the CPU: it copies every record into Lua and out again.)
func (s *Store) page(ctx context.Context, after string, n int) (ids, recs, lives, sizes []string, err error) {
	ids, err = s.idsAfter(ctx, after, int64(n))
	if err != nil || len(ids) == 0 {
		return ids, nil, nil, nil, err
	}
	recs, lives, sizes, err = s.records(ctx, ids)
	return ids, recs, lives, sizes, wrap(err, "list jobs")
}

// arraySize is the size of a JSON array of recs, their live fields and
// stored bytes as stored: the first batch's records size the answer's
// buffer once.
func arraySize(recs, lives, sizes []string) int {
	n := len(recs) + 2
	for i, r := range recs {
		n += len(r) + len(lives[i]) + len(sizes[i]) + 2
	}
	return n
}

// nextCursor is the cursor after ids[i], the last job of a full page: "" if
// no id follows it.
func (s *Store) nextCursor(ctx context.Context, ids []string, i int) (string, error) {
	if i+1 < len(ids) {
		return ids[i], nil
	}
	more, err := s.idsAfter(ctx, ids[i], 1)
	if err != nil || len(more) == 0 {
		return "", err
	}
	return ids[i], nil
}

func wanted(record string, states []jobspec.State) bool {
	return len(states) == 0 || slices.Contains(states, stateOf(record))
}

// stateOf reads a record's State. A record written by json.Marshal of a
// LiveJob starts {"Id":"<id>","State":"<state>"; that is read as text, and
// anything else is decoded (only its State).
func stateOf(record string) jobspec.State {
	if rest, ok := strings.CutPrefix(record, `{"Id":"`); ok {
		if end := strings.IndexAny(rest, `"\`); end >= 0 && rest[end] == '"' {
			if rest, ok := strings.CutPrefix(rest[end+1:], `,"State":"`); ok {
				if end := strings.IndexAny(rest, `"\`); end >= 0 && rest[end] == '"' {
					return jobspec.State(rest[:end])
				}
			}
		}
	}
	var j struct{ State jobspec.State }
	json.Unmarshal([]byte(record), &j)
	return j.State
}
