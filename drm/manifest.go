package drm

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/url"
	"strings"

	"github.com/ezlivestreaming/ezlive/origin"
)

// Namespaces the MPD's ContentProtection elements use.
const (
	nsCENC   = "urn:mpeg:cenc:2013"
	nsDASHIF = "https://dashif.org/CPS"
)

// ClearKeyURL is where a job's ClearKey license is served. Its token is
// origin.ViewerTokenMarker: the origin puts the viewer's own token there.
func (p *Packager) ClearKeyURL(jobID string) string {
	return p.licenseURL("clearkey", jobID)
}

// KeyURL is a job's HLS key URI, with the viewer token as in ClearKeyURL.
func (p *Packager) KeyURL(jobID string) string {
	return p.licenseURL("key", jobID)
}

func (p *Packager) licenseURL(endpoint, jobID string) string {
	return strings.TrimRight(p.LicenseBaseURL, "/") + "/drm/" + endpoint + "/" + url.PathEscape(jobID) + "?token=" + origin.ViewerTokenMarker
}

// rewriteMPD adds the cenc namespaces to the MPD element and, first in
// every AdaptationSet (where the schema puts it), ContentProtection for the
// scheme with cenc:default_KID, for ClearKey with its license URL, and for
// each commercial system with its PSSH.
func (p *Packager) rewriteMPD(mpd []byte, jobID string, k *JobKey) ([]byte, error) {
	s := string(mpd)
	root := strings.Index(s, "<MPD")
	if root < 0 {
		return nil, errors.New("manifest has no MPD element")
	}
	var ns string
	if !strings.Contains(s, `xmlns:cenc=`) {
		ns += ` xmlns:cenc="` + nsCENC + `"`
	}
	if !strings.Contains(s, `xmlns:dashif=`) {
		ns += ` xmlns:dashif="` + nsDASHIF + `"`
	}
	s = s[:root+len("<MPD")] + ns + s[root+len("<MPD"):]
	cp := p.contentProtection(jobID, k)
	var out strings.Builder
	out.Grow(len(s) + 4*len(cp))
	for {
		i := strings.Index(s, "<AdaptationSet")
		if i < 0 {
			break
		}
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			return nil, errors.New("manifest has an unterminated AdaptationSet")
		}
		end += i + 1
		out.WriteString(s[:end])
		if s[end-2] != '/' {
			out.WriteString(cp)
		}
		s = s[end:]
	}
	out.WriteString(s)
	return []byte(out.String()), nil
}

func (p *Packager) contentProtection(jobID string, k *JobKey) string {
	scheme := k.Scheme
	var b strings.Builder
	fmt.Fprintf(&b, "\n\t\t\t<ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"%s\" cenc:default_KID=\"%s\"/>", scheme, k.KID.UUID())
	if !k.NoClearKey {
		fmt.Fprintf(&b, "\n\t\t\t<ContentProtection schemeIdUri=\"urn:uuid:%s\" value=\"ClearKey1.0\"><dashif:Laurl>%s</dashif:Laurl></ContentProtection>",
			SystemClearKey, html.EscapeString(p.ClearKeyURL(jobID)))
	}
	for _, sys := range k.Systems {
		fmt.Fprintf(&b, "\n\t\t\t<ContentProtection schemeIdUri=\"urn:uuid:%s\">", sys.SystemID)
		switch {
		case sys.ContentProtectionData != "":
			b.WriteString(sys.ContentProtectionData)
		case len(sys.PSSH) > 0:
			b.WriteString("<cenc:pssh>" + base64.StdEncoding.EncodeToString(sys.PSSH) + "</cenc:pssh>")
		}
		b.WriteString("</ContentProtection>")
	}
	return b.String()
}

// segmentTags start a media segment's tags in an HLS media playlist; the
// key goes before the first of them, so it covers every segment and map.
var segmentTags = []string{"#EXTINF", "#EXT-X-MAP", "#EXT-X-DISCONTINUITY", "#EXT-X-PROGRAM-DATE-TIME",
	"#EXT-X-BYTERANGE", "#EXT-X-DATERANGE", "#EXT-X-GAP", "#EXT-X-BITRATE", "#EXT-X-PART"}

// rewriteM3U8 adds #EXT-X-KEY lines to a media playlist; a master playlist
// is returned unchanged.
func (p *Packager) rewriteM3U8(pl []byte, jobID string, k *JobKey) []byte {
	if !bytes.Contains(pl, []byte("#EXT-X-TARGETDURATION")) {
		return pl // master playlist
	}
	keyLines := p.hlsKeyLines(jobID, k)
	lines := strings.SplitAfter(string(pl), "\n")
	var out strings.Builder
	out.Grow(len(pl) + len(keyLines))
	inserted := false
	for _, line := range lines {
		if !inserted && startsSegment(line) {
			out.WriteString(keyLines)
			inserted = true
		}
		out.WriteString(line)
	}
	return []byte(out.String())
}

func startsSegment(line string) bool {
	for _, t := range segmentTags {
		if strings.HasPrefix(line, t) {
			return true
		}
	}
	return false
}

func (p *Packager) hlsKeyLines(jobID string, k *JobKey) string {
	var b strings.Builder
	uri := p.KeyURL(jobID)
	switch {
	case k.NoClearKey:
	case k.Scheme == SchemeAES128:
		fmt.Fprintf(&b, "#EXT-X-KEY:METHOD=AES-128,URI=\"%s\",IV=0x%s\n", uri, hex.EncodeToString(k.IV[:]))
	case k.Scheme == SchemeCBCS:
		fmt.Fprintf(&b, "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"%s\",KEYFORMAT=\"identity\",KEYFORMATVERSIONS=\"1\"\n", uri)
	default: // cenc: a CMAF job's HLS playlists over DASH-encrypted segments
		fmt.Fprintf(&b, "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"%s\",KEYFORMAT=\"identity\",KEYFORMATVERSIONS=\"1\"\n", uri)
	}
	for _, sys := range k.Systems {
		if sys.HLSMediaKey != "" {
			b.WriteString(strings.TrimRight(sys.HLSMediaKey, "\n") + "\n")
		}
	}
	return b.String()
}
