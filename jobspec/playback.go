package jobspec

// Playback policies: who may watch a job's outputs. Public serves them to
// anyone with the URL; signed only with a short-lived viewer token (package
// playback). A DRM job's content key needs a viewer token under either.
const (
	PlaybackPublic = "public"
	PlaybackSigned = "signed"
)

// PlaybackSignedOf reports whether the spec's outputs are served only with
// a viewer token.
func PlaybackSignedOf(s Spec) bool { return s.Playback_policy == PlaybackSigned }

func (c *specCheck) playbackPolicy(p string) {
	if p != "" && p != PlaybackPublic && p != PlaybackSigned {
		c.add("Playback_policy", `must be "public" (anyone with the URL plays) or "signed" (only with a viewer token), got %q`, p)
	}
}
