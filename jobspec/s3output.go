package jobspec

import (
	"bytes"
	"encoding/json"
	"regexp"
)

// S3OutputPrefix starts the keys of a job's outputs in its S3_output
// bucket: <S3OutputPrefix>/<job id>/<path>, the path as under the origin's
// /live/<job id>/.
const S3OutputPrefix = "outputs"

// s3Output is the original's S3_output block.
type s3Output struct {
	Bucket string `json:"Bucket"`
}

// S3Bucket is the bucket a job's outputs are stored in (Output.S3_output.
// Bucket), or "" for the origin's own storage. The spec is valid.
func S3Bucket(o Output) string {
	var s s3Output
	_ = json.Unmarshal(o.S3_output, &s)
	return s.Bucket
}

// bucketName follows S3's rules for a bucket name: 3–63 lowercase letters,
// digits, dots and hyphens, starting and ending with a letter or digit.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (c *specCheck) s3Output(o Output) {
	if !rawHasValue(o.S3_output) {
		return
	}
	var s s3Output
	if bytes.TrimSpace(o.S3_output)[0] != '{' || json.Unmarshal(o.S3_output, &s) != nil {
		c.add("Output.S3_output", `must be an object such as {"Bucket": "my-bucket"}`)
		return
	}
	if s.Bucket != "" && !bucketName.MatchString(s.Bucket) {
		c.add("Output.S3_output.Bucket", "must be an S3 bucket name (3–63 lowercase letters, digits, dots and hyphens), got %q", s.Bucket)
	}
}
