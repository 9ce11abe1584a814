package jobspec

import (
	"testing"
)

func TestS3Output(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, bucket, badField string
	}{
		{"absent", ``, "", ""},
		{"null", `null`, "", ""},
		{"no bucket", `{}`, "", ""},
		{"bucket", `{"Bucket": "my.bucket-1"}`, "my.bucket-1", ""},
		{"not an object", `"my-bucket"`, "", "Output.S3_output"},
		{"bucket not a string", `{"Bucket": 5}`, "", "Output.S3_output"},
		{"too short", `{"Bucket": "b"}`, "", "Output.S3_output.Bucket"},
		{"upper case", `{"Bucket": "My-Bucket"}`, "", "Output.S3_output.Bucket"},
		{"a path", `{"Bucket": "bucket/prefix"}`, "", "Output.S3_output.Bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := Output{S3_output: []byte(tt.raw)}
			c := &specCheck{}
			c.s3Output(o)
			switch {
			case tt.badField == "" && len(c.fields) > 0:
				t.Errorf("refused: %v", c.fields)
			case tt.badField != "" && (len(c.fields) != 1 || c.fields[0].Field != tt.badField):
				t.Errorf("errors %v, want one naming %s", c.fields, tt.badField)
			case tt.badField == "" && S3Bucket(o) != tt.bucket:
				t.Errorf("S3Bucket = %q, want %q", S3Bucket(o), tt.bucket)
			}
		})
	}
}
