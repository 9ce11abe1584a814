package playback

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// BenchmarkValidToken is what the origin and the key endpoints pay per
// request for a token: a parse and an HMAC-SHA256.
func BenchmarkValidToken(b *testing.B) {
	s, err := NewSigner(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tok, _, _ := s.Issue(ctx, "01a234e4-78ce-7c14-bf01-c3428669e7db", time.Hour)
	for b.Loop() {
		if !s.ValidToken(ctx, tok, "01a234e4-78ce-7c14-bf01-c3428669e7db") {
			b.Fatal("refused")
		}
	}
}
