package drm

import (
	"context"
	"crypto/rand"
)

// SystemID is a DRM system id (a UUID string, lower case, dashed).
type SystemID string

// DRM system ids (DASH-IF registry).
const (
	SystemClearKey  SystemID = "e2719d58-a985-b3c9-781a-b030af78d30e"
	SystemWidevine  SystemID = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
	SystemPlayReady SystemID = "9a04f079-9840-4286-ab92-e65be0885f95"
	SystemFairPlay  SystemID = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2"
)

// SystemFor maps the spec's Protection_system to a system id; ok is false
// for names we do not know. "" and "ClearKey" are ClearKey.
func SystemFor(name string) (SystemID, bool) {
	switch name {
	case "", "ClearKey", "clearkey":
		return SystemClearKey, true
	case "Widevine", "widevine":
		return SystemWidevine, true
	case "PlayReady", "playready":
		return SystemPlayReady, true
	case "FairPlay", "fairplay":
		return SystemFairPlay, true
	}
	return "", false
}

// KeyRequest asks a KeyProvider for one content key.
type KeyRequest struct {
	ContentID string     // the job id
	KID       KID        // proposed key id; a provider may keep or replace it
	Scheme    string     // SchemeCENC, SchemeCBCS or SchemeAES128
	Systems   []SystemID // commercial systems whose signalling is wanted
}

// ContentKey is a KeyProvider's answer.
type ContentKey struct {
	KID     KID
	Key     [16]byte
	IV      []byte // explicit IV when the provider sets one (cbcs, aes-128)
	Systems []SystemSignal
}

// SystemSignal is what one DRM system needs in the init segment and the
// manifests, as a CPIX DRMSystem element carries it.
type SystemSignal struct {
	SystemID              SystemID `json:"system_id"`
	PSSH                  []byte   `json:"pssh,omitempty"`                    // a whole 'pssh' box
	ContentProtectionData string   `json:"content_protection_data,omitempty"` // DASH: children of ContentProtection (XML)
	HLSMediaKey           string   `json:"hls_media_key,omitempty"`           // HLS: the #EXT-X-KEY line for media playlists
	HLSMasterKey          string   `json:"hls_master_key,omitempty"`          // HLS: the #EXT-X-SESSION-KEY line
}

// KeyProvider hands out content keys. LocalKeys makes them here (ClearKey,
// AES-128); SPEKEClient asks a commercial key server (Widevine, PlayReady,
// FairPlay) over SPEKE v2.
type KeyProvider interface {
	ContentKey(ctx context.Context, req KeyRequest) (*ContentKey, error)
}

// LocalKeys generates random keys locally; it knows no commercial system.
type LocalKeys struct{}

var _ KeyProvider = LocalKeys{}

// ContentKey returns a random key for req.KID.
func (LocalKeys) ContentKey(_ context.Context, req KeyRequest) (*ContentKey, error) {
	ck := &ContentKey{KID: req.KID}
	rand.Read(ck.Key[:])
	return ck, nil
}
