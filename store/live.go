package store

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// live is the part of a job that its transcoder's heartbeats change every
// second: kept in job_live, not in the record in jobs, so that a heartbeat
// writes a few hundred bytes instead of the whole record.
type live struct {
	Stats               *jobspec.Stats `json:"Stats,omitempty"`
	Time_last_heartbeat time.Time      `json:"Time_last_heartbeat,omitzero"`
}

// noLive is job_live's value for a job with no live fields: it is deleted.
const noLive = "{}"

// splitJob encodes a job as the record kept in jobs (without the live
// fields) and its live fields (noLive when there are none).
func splitJob(j *jobspec.LiveJob) (record, liveJSON string, err error) {
	rec := *j
	rec.Stats, rec.Time_last_heartbeat = nil, time.Time{}
	rec.Bytes_stored, rec.Time_bytes_measured = 0, time.Time{} // job_bytes'
	r, err := json.Marshal(&rec)
	if err != nil {
		return "", "", fmt.Errorf("encode job %s: %w", j.Id, err)
	}
	l, err := json.Marshal(live{Stats: j.Stats, Time_last_heartbeat: j.Time_last_heartbeat})
	if err != nil {
		return "", "", fmt.Errorf("encode job %s: %w", j.Id, err)
	}
	return string(r), string(l), nil
}

// decodeStored decodes a record read from jobs with the objects kept
// beside it merged in: its live fields from job_live and its stored bytes
// from job_bytes ("" when there are none).
func decodeStored(record string, objs ...string) (*jobspec.LiveJob, error) {
	b := make([][]byte, len(objs))
	for i, o := range objs {
		b[i] = []byte(o)
	}
	return decodeJob(spliceLive([]byte(record), b...))
}

// spliceLive merges the objects kept beside a job's record (JSON objects,
// from job_live and job_bytes) into its record (a JSON object, from jobs)
// without decoding any: the objects' members go before the record's
// closing brace, where they win over any of the same name (a record stored
// before job_live existed). Empty values or objects leave the record as it
// is; so does a record that is not an object.
func spliceLive(record []byte, objs ...[]byte) []byte {
	n := len(record)
	for _, o := range objs {
		n += len(o)
	}
	if n == len(record) {
		return record
	}
	return appendSpliced(make([]byte, 0, n+len(objs)), record, objs...)
}

// appendSpliced appends spliceLive(record, objs...) to dst: the one splice,
// for records as bytes and as the strings Redis answered.
func appendSpliced[T ~string | ~[]byte](dst []byte, record T, objs ...T) []byte {
	end := lastNonSpace(record, len(record))
	if end < 0 || record[end] != '}' {
		return append(dst, record...)
	}
	prev := lastNonSpace(record, end)
	if prev < 0 {
		return append(dst, record...)
	}
	dst = append(dst, record[:end]...)
	first := record[prev] == '{'
	for _, o := range objs {
		members := innerObject(o)
		if len(members) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		dst, first = append(dst, members...), false
	}
	return append(dst, record[end:]...)
}

// innerObject is what lies between a JSON object's braces, trimmed; empty
// when obj is not an object or has no member.
func innerObject[T ~string | ~[]byte](obj T) T {
	start := 0
	for start < len(obj) && isSpace(obj[start]) {
		start++
	}
	end := lastNonSpace(obj, len(obj))
	if start >= end || obj[start] != '{' || obj[end] != '}' {
		return obj[:0]
	}
	first, last := start+1, lastNonSpace(obj, end)
	for first <= last && isSpace(obj[first]) {
		first++
	}
	if first > last {
		return obj[:0]
	}
	return obj[first : last+1]
}

// lastNonSpace is the index of the last byte of b[:before] that is not
// JSON whitespace, -1 when there is none.
func lastNonSpace[T ~string | ~[]byte](b T, before int) int {
	i := before - 1
	for i >= 0 && isSpace(b[i]) {
		i--
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// fence is job_fence's value for a job: what a heartbeat is checked
// against without reading the record. "<generation> <active 0|1>
// <heartbeat digest> <stream key>", written with every write of the record.
func fence(j *jobspec.LiveJob) string {
	active := "0"
	if j.State.Active() {
		active = "1"
	}
	d := heartbeatDigest(j.State, j.Ingest_addr, j.Input_lost_since, j.Output_failing_since, j.Output_error)
	return strconv.FormatInt(j.Placement_generation, 10) + " " + active + " " + d + " " + j.StreamKey
}

// heartbeatDigest is a short digest of the record's fields a heartbeat may
// change (its state, ingest address, input loss and output failure): a
// heartbeat whose digest is the record's changes none of them, and only
// its live fields are written.
func heartbeatDigest(state jobspec.State, ingestAddr string, inputLost, outputFailing time.Time, outputError string) string {
	if outputFailing.IsZero() {
		outputError = ""
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s", state, ingestAddr, unixNano(inputLost), unixNano(outputFailing), outputError)
	return strconv.FormatUint(h.Sum64(), 16)
}

func unixNano(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}
