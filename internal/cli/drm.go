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
// uploads (keys in Redis, or from a SPEKE v2 key server for commercial
// systems); the API serves ClearKey licenses and HLS keys.
type drmFlags struct {
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
		licenseBase: fs.String("drm-license-base-url", "EZLIVE_DRM_LICENSE_BASE_URL", "",
			"public base URL of the API that manifests point players at for DRM licenses and keys (default: the API's own address)"),
		spekeURL:    fs.String("speke-url", "EZLIVE_SPEKE_URL", "", "SPEKE v2 key server for Widevine/PlayReady/FairPlay jobs (empty: keys are made locally, ClearKey only)"),
		spekeHeader: fs.String("speke-header", "EZLIVE_SPEKE_HEADER", "", `header sent to the SPEKE server, "Name: value" (its authentication)`),
		spekeCert:   fs.String("speke-cert", "EZLIVE_SPEKE_CERT", "", "PEM certificate sent in CPIX DeliveryData to receive encrypted content keys"),
		spekeKey:    fs.String("speke-key", "EZLIVE_SPEKE_KEY", "", "PEM RSA private key of -speke-cert"),
	}
}

// keyService returns the key service, asking the SPEKE server for keys when
// one is configured.
func (d drmFlags) keyService(rdb redis.UniversalClient) (*drm.KeyService, error) {
	if *d.spekeURL == "" {
		return drm.NewKeyService(rdb, nil), nil
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
	return drm.NewKeyService(rdb, c), nil
}

// encrypter returns the origin's Encrypter (origin.Config.Encrypter).
// apiURL is the API's public base URL, used for license URLs when
// -drm-license-base-url is not set.
func (d drmFlags) encrypter(rdb redis.UniversalClient, st *store.Store, apiURL string, log *slog.Logger) (*drm.Packager, error) {
	ks, err := d.keyService(rdb)
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

// apiDRM returns the API's license endpoints (apiserver.Config.DRM).
func apiDRM(b *backend) *drm.License {
	return &drm.License{Keys: drm.NewKeyService(b.rdb, nil)}
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
