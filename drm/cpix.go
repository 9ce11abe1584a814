package drm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// CPIX 2.3 (DASH-IF Content Protection Information Exchange) as SPEKE v2
// profiles it: the encryptor sends ContentKeyList, DRMSystemList and
// ContentKeyUsageRuleList (and DeliveryDataList when keys are to come
// encrypted); the key server fills in the key values and, per DRM system,
// PSSH, ContentProtectionData and HLSSignalingData.
const (
	nsCPIX = "urn:dashif:org:cpix"
	nsPSKC = "urn:ietf:params:xml:ns:keyprov:pskc"
	nsEnc  = "http://www.w3.org/2001/04/xmlenc#"
	nsDS   = "http://www.w3.org/2000/09/xmldsig#"

	cpixVersion = "2.3"

	algAES256CBC  = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
	algRSAOAEP    = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	algHMACSHA512 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512"
)

// --- request (written with the prefixes the specification's examples use) ---

type cpixRequest struct {
	XMLName      xml.Name             `xml:"cpix:CPIX"`
	NSCPIX       string               `xml:"xmlns:cpix,attr"`
	NSPSKC       string               `xml:"xmlns:pskc,attr"`
	NSDS         string               `xml:"xmlns:ds,attr,omitempty"`
	ContentID    string               `xml:"contentId,attr"`
	Version      string               `xml:"version,attr"`
	DeliveryData []reqDeliveryData    `xml:"cpix:DeliveryDataList>cpix:DeliveryData,omitempty"`
	ContentKeys  []reqContentKey      `xml:"cpix:ContentKeyList>cpix:ContentKey"`
	DRMSystems   []reqDRMSystem       `xml:"cpix:DRMSystemList>cpix:DRMSystem"`
	UsageRules   []reqContentKeyUsage `xml:"cpix:ContentKeyUsageRuleList>cpix:ContentKeyUsageRule"`
}

type reqDeliveryData struct {
	ID          string `xml:"id,attr"`
	Certificate string `xml:"cpix:DeliveryKey>ds:X509Data>ds:X509Certificate"`
}

type reqContentKey struct {
	KID                    string `xml:"kid,attr"`
	CommonEncryptionScheme string `xml:"commonEncryptionScheme,attr"`
}

type reqDRMSystem struct {
	KID                   string       `xml:"kid,attr"`
	SystemID              string       `xml:"systemId,attr"`
	PSSH                  *struct{}    `xml:"cpix:PSSH"`
	ContentProtectionData *struct{}    `xml:"cpix:ContentProtectionData"`
	HLSSignalingData      []reqHLSData `xml:"cpix:HLSSignalingData"`
}

type reqHLSData struct {
	Playlist string `xml:"playlist,attr"`
}

type reqContentKeyUsage struct {
	KID               string    `xml:"kid,attr"`
	IntendedTrackType string    `xml:"intendedTrackType,attr"`
	AudioFilter       *struct{} `xml:"cpix:AudioFilter"`
	VideoFilter       *struct{} `xml:"cpix:VideoFilter"`
}

// cpixRequestFor builds the request document for one content key used by
// every track (intendedTrackType "ALL" with empty Audio and Video filters,
// as SPEKE v2's encryption contract asks for a shared key).
func cpixRequestFor(req KeyRequest, deliveryCert []byte) ([]byte, error) {
	kid := req.KID.UUID()
	doc := cpixRequest{
		NSCPIX: nsCPIX, NSPSKC: nsPSKC, ContentID: req.ContentID, Version: cpixVersion,
		ContentKeys: []reqContentKey{{KID: kid, CommonEncryptionScheme: cpixScheme(req.Scheme)}},
		UsageRules:  []reqContentKeyUsage{{KID: kid, IntendedTrackType: "ALL", AudioFilter: &struct{}{}, VideoFilter: &struct{}{}}},
	}
	for _, sys := range req.Systems {
		doc.DRMSystems = append(doc.DRMSystems, reqDRMSystem{
			KID: kid, SystemID: string(sys), PSSH: &struct{}{}, ContentProtectionData: &struct{}{},
			HLSSignalingData: []reqHLSData{{Playlist: "media"}, {Playlist: "master"}},
		})
	}
	if deliveryCert != nil {
		doc.NSDS = nsDS
		doc.DeliveryData = []reqDeliveryData{{ID: "ezlive", Certificate: base64.StdEncoding.EncodeToString(deliveryCert)}}
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write CPIX request: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}

// cpixScheme maps our schemes to ContentKey@commonEncryptionScheme: the
// 4-character CENC names, or the HLS method for whole-segment AES-128.
func cpixScheme(s string) string {
	if s == SchemeAES128 {
		return "AES-128"
	}
	return s
}

// --- response (read by namespace, whatever prefixes the server uses) ---

type cpixResponse struct {
	XMLName      xml.Name `xml:"urn:dashif:org:cpix CPIX"`
	ContentID    string   `xml:"contentId,attr"`
	DeliveryData []struct {
		DocumentKey struct {
			Algorithm string `xml:"Algorithm,attr"`
			Data      struct {
				Secret pskcSecret `xml:"urn:ietf:params:xml:ns:keyprov:pskc Secret"`
			} `xml:"urn:dashif:org:cpix Data"`
		} `xml:"urn:dashif:org:cpix DocumentKey"`
		MACMethod struct {
			Algorithm string         `xml:"Algorithm,attr"`
			Key       encryptedValue `xml:"Key"`
		} `xml:"urn:dashif:org:cpix MACMethod"`
	} `xml:"urn:dashif:org:cpix DeliveryDataList>DeliveryData"`
	ContentKeys []respContentKey `xml:"urn:dashif:org:cpix ContentKeyList>ContentKey"`
	DRMSystems  []respDRMSystem  `xml:"urn:dashif:org:cpix DRMSystemList>DRMSystem"`
}

type encryptedValue struct {
	Method struct {
		Algorithm string `xml:"Algorithm,attr"`
	} `xml:"EncryptionMethod"`
	Cipher string `xml:"CipherData>CipherValue"`
}

// pskcSecret is a PSKC Secret: a plain or an encrypted value.
type pskcSecret struct {
	PlainValue     string         `xml:"urn:ietf:params:xml:ns:keyprov:pskc PlainValue"`
	EncryptedValue encryptedValue `xml:"urn:ietf:params:xml:ns:keyprov:pskc EncryptedValue"`
	ValueMAC       string         `xml:"urn:ietf:params:xml:ns:keyprov:pskc ValueMAC"`
}

type respContentKey struct {
	KID        string `xml:"kid,attr"`
	ExplicitIV string `xml:"explicitIV,attr"`
	Scheme     string `xml:"commonEncryptionScheme,attr"`
	Data       struct {
		Secret pskcSecret `xml:"urn:ietf:params:xml:ns:keyprov:pskc Secret"`
	} `xml:"urn:dashif:org:cpix Data"`
}

type respDRMSystem struct {
	KID                   string `xml:"kid,attr"`
	SystemID              string `xml:"systemId,attr"`
	PSSH                  string `xml:"urn:dashif:org:cpix PSSH"`
	ContentProtectionData string `xml:"urn:dashif:org:cpix ContentProtectionData"`
	HLSSignalingData      []struct {
		Playlist string `xml:"playlist,attr"`
		Value    string `xml:",chardata"`
	} `xml:"urn:dashif:org:cpix HLSSignalingData"`
}

// parseCPIXResponse reads a key server's answer for req. With a delivery
// key, encrypted content keys are decrypted and their MAC checked.
func parseCPIXResponse(body []byte, req KeyRequest, deliveryKey *rsa.PrivateKey) (*ContentKey, error) {
	var doc cpixResponse
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("read CPIX response: %w", err)
	}
	want := req.KID.UUID()
	var ck *respContentKey
	for i := range doc.ContentKeys {
		if strings.EqualFold(doc.ContentKeys[i].KID, want) {
			ck = &doc.ContentKeys[i]
		}
	}
	if ck == nil {
		return nil, fmt.Errorf("CPIX response has no content key %s", want)
	}
	key, err := contentKeyValue(doc, ck, deliveryKey)
	if err != nil {
		return nil, fmt.Errorf("content key %s: %w", want, err)
	}
	out := &ContentKey{KID: req.KID}
	copy(out.Key[:], key)
	if ck.ExplicitIV != "" {
		if out.IV, err = base64.StdEncoding.DecodeString(ck.ExplicitIV); err != nil || len(out.IV) != 16 {
			return nil, fmt.Errorf("content key %s: explicitIV is not 16 base64 bytes", want)
		}
	}
	for _, s := range doc.DRMSystems {
		if !strings.EqualFold(s.KID, want) {
			continue
		}
		sig, err := systemSignal(s)
		if err != nil {
			return nil, fmt.Errorf("DRM system %s: %w", s.SystemID, err)
		}
		out.Systems = append(out.Systems, sig)
	}
	return out, nil
}

func systemSignal(s respDRMSystem) (SystemSignal, error) {
	sig := SystemSignal{SystemID: SystemID(strings.ToLower(s.SystemID))}
	var err error
	if sig.PSSH, err = b64(s.PSSH); err != nil {
		return sig, fmt.Errorf("PSSH: %w", err)
	}
	cpd, err := b64(s.ContentProtectionData)
	if err != nil {
		return sig, fmt.Errorf("ContentProtectionData: %w", err)
	}
	sig.ContentProtectionData = string(cpd)
	for _, h := range s.HLSSignalingData {
		v, err := b64(h.Value)
		if err != nil {
			return sig, fmt.Errorf("HLSSignalingData: %w", err)
		}
		if h.Playlist == "master" {
			sig.HLSMasterKey = string(v)
		} else {
			sig.HLSMediaKey = string(v)
		}
	}
	return sig, nil
}

func b64(s string) ([]byte, error) {
	s = strings.Join(strings.Fields(s), "")
	if s == "" {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// contentKeyValue returns the 16-byte key, plain or decrypted.
func contentKeyValue(doc cpixResponse, ck *respContentKey, deliveryKey *rsa.PrivateKey) ([]byte, error) {
	sec := ck.Data.Secret
	if sec.PlainValue != "" {
		k, err := b64(sec.PlainValue)
		if err != nil || len(k) != 16 {
			return nil, errors.New("PlainValue is not 16 base64 bytes")
		}
		return k, nil
	}
	if sec.EncryptedValue.Cipher == "" {
		return nil, errors.New("neither PlainValue nor EncryptedValue")
	}
	if deliveryKey == nil {
		return nil, errors.New("key came encrypted but no delivery key is configured")
	}
	if len(doc.DeliveryData) == 0 {
		return nil, errors.New("key came encrypted without DeliveryData")
	}
	dd := doc.DeliveryData[0]
	docKey, err := rsaDecrypt(dd.DocumentKey.Data.Secret.EncryptedValue, deliveryKey)
	if err != nil {
		return nil, fmt.Errorf("document key: %w", err)
	}
	macKey, err := aesDecrypt(dd.MACMethod.Key, docKey)
	if err != nil {
		return nil, fmt.Errorf("MAC key: %w", err)
	}
	ct, err := b64(sec.EncryptedValue.Cipher)
	if err != nil {
		return nil, err
	}
	if dd.MACMethod.Algorithm != algHMACSHA512 {
		return nil, fmt.Errorf("MAC algorithm %q, want %s", dd.MACMethod.Algorithm, algHMACSHA512)
	}
	mac, err := b64(sec.ValueMAC)
	if err != nil || !hmac.Equal(mac, hmacSHA512(macKey, ct)) {
		return nil, errors.New("ValueMAC does not match the encrypted key")
	}
	k, err := aesDecrypt(sec.EncryptedValue, docKey)
	if err != nil {
		return nil, err
	}
	if len(k) != 16 {
		return nil, fmt.Errorf("decrypted key has %d bytes, want 16", len(k))
	}
	return k, nil
}

func hmacSHA512(key, data []byte) []byte {
	m := hmac.New(sha512.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// rsaDecrypt opens the document key (RSA-OAEP with MGF1/SHA-1).
func rsaDecrypt(v encryptedValue, priv *rsa.PrivateKey) ([]byte, error) {
	if v.Method.Algorithm != algRSAOAEP {
		return nil, fmt.Errorf("algorithm %q, want %s", v.Method.Algorithm, algRSAOAEP)
	}
	ct, err := b64(v.Cipher)
	if err != nil {
		return nil, err
	}
	return rsa.DecryptOAEP(sha1.New(), nil, priv, ct, nil)
}

// aesDecrypt opens an XML-Encryption aes256-cbc value: the IV, then the
// ciphertext; the last plaintext byte counts the padding bytes.
func aesDecrypt(v encryptedValue, key []byte) ([]byte, error) {
	if v.Method.Algorithm != algAES256CBC {
		return nil, fmt.Errorf("algorithm %q, want %s", v.Method.Algorithm, algAES256CBC)
	}
	raw, err := b64(v.Cipher)
	if err != nil {
		return nil, err
	}
	if len(raw) < 2*aes.BlockSize || len(raw)%aes.BlockSize != 0 {
		return nil, errors.New("aes256-cbc value has a bad length")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(raw)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, raw[:aes.BlockSize]).CryptBlocks(out, raw[aes.BlockSize:])
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, errors.New("aes256-cbc value has bad padding")
	}
	return out[:len(out)-pad], nil
}
