// Package drm owns content protection: the per-job key service (Redis hash
// drm_keys), the W3C ClearKey license and HLS key endpoints, the encryption
// of a DRM job's segments and manifests as the origin stores them, and the
// KeyProvider interface with a SPEKE v2 (CPIX 2.3) client for commercial DRM.
// It never writes job records and never logs or returns a key except
// through the license and key endpoints, and there only to a viewer token
// of the job (package playback). Keys are wrapped at rest with a
// key-encryption key when one is set (wrap.go).
//
// Where encryption runs: in the origin, once per uploaded file (Packager
// implements origin.Encrypter). ffmpeg uploads clear fMP4/TS; the origin
// stores only ciphertext, so players and caches never see clear media and
// the viewer's path serves files as they are.
//
//	Output                       scheme    manifests
//	dash fmp4|cmaf               cenc      MPD ContentProtection (mp4protection + ClearKey, dashif:Laurl)
//	hls fmp4|cmaf                cbcs      #EXT-X-KEY METHOD=SAMPLE-AES (cmaf dash: SAMPLE-AES-CTR)
//	hls mpegts                   aes-128   #EXT-X-KEY METHOD=AES-128, whole segment AES-CBC
package drm
