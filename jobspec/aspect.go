package jobspec

import "math"

// A ladder's renditions are scaled from one picture, so they share its
// display aspect ratio even when a rendition's pixel size does not divide to
// it exactly (426x240 beside 640x360 is 71:40 against 16:9). Such renditions
// get a sample aspect ratio that makes their display aspect the ladder's
// (426x240 at SAR 640:639 is exactly 16:9), as broadcast ladders do; the
// DASH muxer needs one display aspect per adaptation set.

// aspectTolerance is how far a rendition's pixel aspect may be from the
// ladder's and still be shown at the ladder's aspect (2%: rounding to even
// sizes, never a different shape).
const aspectTolerance = 0.02

// LadderAspect is the display aspect ratio of the ladder: that of its largest
// rendition, reduced (16:9 for 1920x1080).
func LadderAspect(videos []VideoOutput) (w, h int) {
	best := 0
	for i, v := range videos {
		if v.Width*v.Height > videos[best].Width*videos[best].Height {
			best = i
		}
	}
	g := gcd(videos[best].Width, videos[best].Height)
	return videos[best].Width / g, videos[best].Height / g
}

// SameShape reports whether a w×h picture is the ladder's shape within the
// tolerance.
func SameShape(w, h, darW, darH int) bool {
	own, want := float64(w)/float64(h), float64(darW)/float64(darH)
	return math.Abs(own-want)/want <= aspectTolerance
}

// SampleAspect is the SAR that shows a w×h rendition at the darW:darH
// display aspect: 1:1 when it already has that shape (or a different shape
// altogether, which validation refuses for DASH).
func SampleAspect(w, h, darW, darH int) (num, den int) {
	if w <= 0 || h <= 0 || !SameShape(w, h, darW, darH) {
		return 1, 1
	}
	num, den = darW*h, darH*w
	g := gcd(num, den)
	return num / g, den / g
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return 1
	}
	return a
}
