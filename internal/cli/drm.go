package cli

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/drm"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/store"
)

// drmFlags configure content protection: the origin encrypts DRM jobs'
// uploads (keys in Redis, wrapped with -drm-kek, or from a SPEKE v2 key
// server for commercial systems); the API serves ClearKey licenses and HLS
// keys to viewer tokens.
type drmFlags struct {
	kek         *string
	licenseBase *string
	spekeURL    *string
	spekeHeader *string
	spekeCert   *string
	spekeKey    *string
}

var (
	_ origin.Encrypter     = (*drm.Packager)(nil)
	_ apiserver.DRMLicense = (*drm.License)(nil)
)

func addDRM(fs *flagSet) drmFlags {
	return drmFlags{
		kek: addKEK(fs),
		licenseBase: fs.String("drm-license-base-url", "EZLIVE_DRM_LICENSE_BASE_URL", "",
			"public base URL of the API that manifests point players at for DRM licenses and keys (default: the API's own address)"),
		spekeURL:    fs.String("speke-url", "EZLIVE_SPEKE_URL", "", "SPEKE v2 key server for Widevine/PlayReady/FairPlay jobs (empty: keys are made locally, ClearKey only)"),
		spekeHeader: fs.String("speke-header", "EZLIVE_SPEKE_HEADER", "", `header sent to the SPEKE server, "Name: value" (its authentication)`),
		spekeCert:   fs.String("speke-cert", "EZLIVE_SPEKE_CERT", "", "PEM certificate sent in CPIX DeliveryData to receive encrypted content keys"),
		spekeKey:    fs.String("speke-key", "EZLIVE_SPEKE_KEY", "", "PEM RSA private key of -speke-cert"),
	}
}

// addKEK adds -drm-kek, which the origin and the API both need.
func addKEK(fs *flagSet) *string {
	return fs.String("drm-kek", "EZLIVE_DRM_KEK", "",
		"key-encryption key of the DRM content keys in Redis: 32 bytes in base64 (openssl rand -base64 32); "+
			"prefer the environment variable, a flag shows in ps (empty: keys are stored unwrapped, with a warning)")
}

// wrapKeys wraps the content keys ks stores with the KEK when one is set.
// Without one it only warns, when warn: the origin stores keys, the API
// only reads them.
func wrapKeys(ks *drm.KeyService, kek string, warn bool, log *slog.Logger) (*drm.KeyService, error) {
	if kek == "" {
		if warn {
			log.Warn("DRM content keys are stored in Redis unwrapped: set EZLIVE_DRM_KEK (32 bytes in base64) to wrap them")
		}
		return ks, nil
	}
	b, err := drm.ParseKEK(kek)
	if err != nil {
		return nil, usagef("-drm-kek (EZLIVE_DRM_KEK): %v", err)
	}
	return ks.WithKEK(b)
}

// keyService returns the key service, asking the SPEKE server for keys when
// one is configured.
func (d drmFlags) keyService(rdb redis.UniversalClient, log *slog.Logger) (*drm.KeyService, error) {
	if *d.spekeURL == "" {
		return wrapKeys(drm.NewKeyService(rdb, nil), *d.kek, true, log)
	}
	c := &drm.SPEKEClient{URL: *d.spekeURL, Header: http.Header{}}
	if h := *d.spekeHeader; h != "" {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, usagef("-speke-header: %q is not \"Name: value\"", h)
		}
		c.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if *d.spekeCert != "" {
		cert, key, err := loadDeliveryKey(*d.spekeCert, *d.spekeKey)
		if err != nil {
			return nil, err
		}
		c.DeliveryCert, c.DeliveryKey = cert, key
	}
	return wrapKeys(drm.NewKeyService(rdb, c), *d.kek, true, log)
}

// encrypter returns the origin's Encrypter (origin.Config.Encrypter).
// apiURL is the API's public base URL, used for license URLs when
// -drm-license-base-url is not set.
func (d drmFlags) encrypter(rdb redis.UniversalClient, st *store.Store, apiURL string, log *slog.Logger) (*drm.Packager, error) {
	ks, err := d.keyService(rdb, log)
	if err != nil {
		return nil, err
	}
	base := *d.licenseBase
	if base == "" {
		base = apiURL
	}
	if base == "" {
		base = "http://" + defaultAPIListen
	}
	return &drm.Packager{Keys: ks, Jobs: st, LicenseBaseURL: base, Log: log}, nil
}

// apiDRM returns the API's license endpoints (apiserver.Config.DRM): keys
// unwrapped with kek, to viewer tokens.
func apiDRM(b *backend, kek string, viewers drm.ViewerTokens) (*drm.License, error) {
	ks, err := wrapKeys(drm.NewKeyService(b.rdb, nil), kek, false, b.log)
	if err != nil {
		return nil, err
	}
	return &drm.License{Keys: ks, Viewers: viewers}, nil
}

func loadDeliveryKey(certPath, keyPath string) ([]byte, *rsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("-speke-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("-speke-key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, usagef("-speke-cert and -speke-key must be PEM files")
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		if k1, err1 := x509.ParsePKCS1PrivateKey(kb.Bytes); err1 == nil {
			return cb.Bytes, k1, nil
		}
		return nil, nil, fmt.Errorf("-speke-key: %w", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, usagef("-speke-key: not an RSA key")
	}
	return cb.Bytes, rk, nil
}
