package drm

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/ezlivestreaming/ezlive/internal/redistest"
)

// requestDoc reads a CPIX request the way a key server does: by namespace.
type requestDoc struct {
	XMLName     xml.Name `xml:"urn:dashif:org:cpix CPIX"`
	ContentID   string   `xml:"contentId,attr"`
	Version     string   `xml:"version,attr"`
	Certificate string   `xml:"DeliveryDataList>DeliveryData>DeliveryKey>X509Data>X509Certificate"`
	ContentKeys []struct {
		KID    string `xml:"kid,attr"`
		Scheme string `xml:"commonEncryptionScheme,attr"`
	} `xml:"urn:dashif:org:cpix ContentKeyList>ContentKey"`
	DRMSystems []struct {
		KID      string    `xml:"kid,attr"`
		SystemID string    `xml:"systemId,attr"`
		PSSH     *struct{} `xml:"urn:dashif:org:cpix PSSH"`
		CPD      *struct{} `xml:"urn:dashif:org:cpix ContentProtectionData"`
		HLS      []struct {
			Playlist string `xml:"playlist,attr"`
		} `xml:"urn:dashif:org:cpix HLSSignalingData"`
	} `xml:"urn:dashif:org:cpix DRMSystemList>DRMSystem"`
	Rules []struct {
		KID   string    `xml:"kid,attr"`
		Type  string    `xml:"intendedTrackType,attr"`
		Audio *struct{} `xml:"urn:dashif:org:cpix AudioFilter"`
		Video *struct{} `xml:"urn:dashif:org:cpix VideoFilter"`
	} `xml:"urn:dashif:org:cpix ContentKeyUsageRuleList>ContentKeyUsageRule"`
}

func testKID() KID {
	var k KID
	copy(k[:], []byte{0xeb, 0x67, 0x6a, 0xbb, 0xcb, 0x34, 0x5e, 0x96, 0xbb, 0xcf, 0x61, 0x66, 0x30, 0xf1, 0xa3, 0xda})
	return k
}

// TestCPIXRequest checks the request document against CPIX 2.3 as SPEKE v2
// profiles it: version, contentId, one ContentKey with its scheme, one
// DRMSystem per asked system with empty PSSH, ContentProtectionData and
// both HLSSignalingData, and the shared-key rule "ALL" with both filters.
func TestCPIXRequest(t *testing.T) {
	t.Parallel()
	req := KeyRequest{ContentID: "job-1", KID: testKID(), Scheme: SchemeCBCS, Systems: []SystemID{SystemWidevine, SystemFairPlay}}
	body, err := cpixRequestFor(req, []byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	var doc requestDoc
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("request is not namespaced CPIX: %v\n%s", err, body)
	}
	kid := "eb676abb-cb34-5e96-bbcf-616630f1a3da"
	if doc.Version != "2.3" || doc.ContentID != "job-1" || doc.Certificate != "AQID" {
		t.Errorf("CPIX version %q contentId %q certificate %q", doc.Version, doc.ContentID, doc.Certificate)
	}
	if len(doc.ContentKeys) != 1 || doc.ContentKeys[0].KID != kid || doc.ContentKeys[0].Scheme != "cbcs" {
		t.Errorf("ContentKeyList %+v", doc.ContentKeys)
	}
	if len(doc.DRMSystems) != 2 || doc.DRMSystems[1].SystemID != string(SystemFairPlay) {
		t.Fatalf("DRMSystemList %+v", doc.DRMSystems)
	}
	for _, s := range doc.DRMSystems {
		if s.KID != kid || s.PSSH == nil || s.CPD == nil || len(s.HLS) != 2 || s.HLS[0].Playlist != "media" || s.HLS[1].Playlist != "master" {
			t.Errorf("DRMSystem %+v", s)
		}
	}
	if len(doc.Rules) != 1 || doc.Rules[0].KID != kid || doc.Rules[0].Type != "ALL" || doc.Rules[0].Audio == nil || doc.Rules[0].Video == nil {
		t.Errorf("ContentKeyUsageRuleList %+v", doc.Rules)
	}
}

// widevinePSSH is a whole 'pssh' box for kid, as a key server returns it.
func widevinePSSH(t *testing.T, kid KID) []byte {
	t.Helper()
	sys, _ := mp4.NewUUIDFromHex(strings.ReplaceAll(string(SystemWidevine), "-", ""))
	k, _ := mp4.NewUUIDFromHex(kid.String())
	box := &mp4.PsshBox{Version: 1, SystemID: sys, KIDs: []mp4.UUID{k}, Data: []byte{0x12, 0x10}}
	var b bytes.Buffer
	if err := box.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// plainResponse is a key server's answer written after the CPIX 2.3 /
// SPEKE v2 examples, with other namespace prefixes than ours.
func plainResponse(kid KID, key []byte, pssh []byte) string {
	e := base64.StdEncoding.EncodeToString
	return `<?xml version="1.0" encoding="UTF-8"?>
<c:CPIX xmlns:c="urn:dashif:org:cpix" xmlns:p="urn:ietf:params:xml:ns:keyprov:pskc" contentId="job-1" version="2.3">
  <c:ContentKeyList>
    <c:ContentKey kid="` + kid.UUID() + `" commonEncryptionScheme="cenc" explicitIV="` + e(bytes.Repeat([]byte{7}, 16)) + `">
      <c:Data><p:Secret><p:PlainValue>` + e(key) + `</p:PlainValue></p:Secret></c:Data>
    </c:ContentKey>
  </c:ContentKeyList>
  <c:DRMSystemList>
    <c:DRMSystem kid="` + kid.UUID() + `" systemId="EDEF8BA9-79D6-4ACE-A3C8-27DCD51D21ED">
      <c:PSSH>` + e(pssh) + `</c:PSSH>
      <c:ContentProtectionData>` + e([]byte(`<cenc:pssh>`+e(pssh)+`</cenc:pssh>`)) + `</c:ContentProtectionData>
      <c:HLSSignalingData playlist="media">` + e([]byte(`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;base64,AAAA",KEYFORMAT="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",KEYFORMATVERSIONS="1"`)) + `</c:HLSSignalingData>
      <c:HLSSignalingData playlist="master">` + e([]byte(`#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES`)) + `</c:HLSSignalingData>
    </c:DRMSystem>
  </c:DRMSystemList>
  <c:ContentKeyUsageRuleList>
    <c:ContentKeyUsageRule kid="` + kid.UUID() + `" intendedTrackType="ALL"><c:AudioFilter/><c:VideoFilter/></c:ContentKeyUsageRule>
  </c:ContentKeyUsageRuleList>
</c:CPIX>`
}

// spekeServer answers every request with answer(request body), after
// checking the SPEKE headers.
func spekeServer(t *testing.T, answer func(req []byte) string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.Header.Get("X-Speke-Version") != "2.0" || r.Header.Get("Content-Type") != "application/xml" || r.Header.Get("X-Api-Key") != "k1" {
			http.Error(w, "bad SPEKE request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Speke-Version", "2.0")
		io.WriteString(w, answer(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSPEKEPlainKey runs a key request through a SPEKE server answering
// with a clear key, then through the key service and packager: the init
// segment gets the system's pssh box and the MPD its ContentProtection.
func TestSPEKEPlainKey(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xab}, 16)
	var pssh []byte
	srv := spekeServer(t, func(req []byte) string {
		var doc requestDoc
		xml.Unmarshal(req, &doc)
		var kid KID
		raw, _ := hexUUID(doc.ContentKeys[0].KID)
		copy(kid[:], raw)
		pssh = widevinePSSH(t, kid)
		return plainResponse(kid, key, pssh)
	})
	c := &SPEKEClient{URL: srv.URL, Header: http.Header{"X-Api-Key": {"k1"}}}
	ck, err := c.ContentKey(context.Background(), KeyRequest{ContentID: "job-1", KID: testKID(), Scheme: SchemeCENC, Systems: []SystemID{SystemWidevine}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ck.Key[:], key) || !bytes.Equal(ck.IV, bytes.Repeat([]byte{7}, 16)) || len(ck.Systems) != 1 {
		t.Fatalf("content key %x iv %x systems %d", ck.Key, ck.IV, len(ck.Systems))
	}
	s := ck.Systems[0]
	if s.SystemID != SystemWidevine || !bytes.Equal(s.PSSH, pssh) || !strings.HasPrefix(s.ContentProtectionData, "<cenc:pssh>") ||
		!strings.Contains(s.HLSMediaKey, `KEYFORMAT="urn:uuid:edef8ba9`) || !strings.HasPrefix(s.HLSMasterKey, "#EXT-X-SESSION-KEY") {
		t.Errorf("system signalling %+v", s)
	}
	if _, err := (&SPEKEClient{URL: srv.URL}).ContentKey(context.Background(), KeyRequest{KID: testKID()}); err == nil {
		t.Error("a refused SPEKE request gave a key")
	}

	// Through the key service and the packager.
	dir := mediaDir(t)
	p := &Packager{Keys: NewKeyService(redistest.Start(t).Client(t), c), LicenseBaseURL: "http://api.test",
		Jobs: jobsMap{"wv": drmSpec("dash", "fmp4")}}
	p.Jobs.(jobsMap)["wv"].Output.Drm.Protection_system = "Widevine"
	stored := encryptTrack(t, p, "wv", dir+"/dash", "init-g1p0-0.mp4", []string{"chunk-g1p0-0-00001.m4s"})
	if !bytes.Contains(stored["init-g1p0-0.mp4"], pssh) {
		t.Error("init segment lacks the Widevine pssh box")
	}
	mpd, err := encryptOne(t, p, "wv", "master.mpd", readFile(t, dir+"/dash/master.mpd"), stored.read)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mpd), `<ContentProtection schemeIdUri="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"><cenc:pssh>`) {
		t.Errorf("MPD lacks the Widevine ContentProtection:\n%s", mpd)
	}
}

func hexUUID(s string) ([]byte, error) {
	u, err := mp4.NewUUIDFromHex(strings.ReplaceAll(s, "-", ""))
	return u, err
}

// TestSPEKEEncryptedKey checks content key encryption: the request carries
// our certificate; the answer's document key is RSA-OAEP-wrapped for it,
// the content key aes256-cbc under the document key with an HMAC-SHA512
// ValueMAC. The client recovers the key, and refuses a tampered MAC.
func TestSPEKEEncryptedKey(t *testing.T) {
	t.Parallel()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cert := selfSigned(t, priv)
	key := bytes.Repeat([]byte{0x5c}, 16)
	tamper := false
	srv := spekeServer(t, func(req []byte) string {
		var doc requestDoc
		xml.Unmarshal(req, &doc)
		der, _ := base64.StdEncoding.DecodeString(doc.Certificate)
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return "no certificate"
		}
		return encryptedResponse(t, c.PublicKey.(*rsa.PublicKey), doc.ContentKeys[0].KID, key, tamper)
	})
	c := &SPEKEClient{URL: srv.URL, Header: http.Header{"X-Api-Key": {"k1"}}, DeliveryCert: cert, DeliveryKey: priv}
	ck, err := c.ContentKey(context.Background(), KeyRequest{ContentID: "j", KID: testKID(), Scheme: SchemeCENC})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ck.Key[:], key) {
		t.Errorf("decrypted key %x, want %x", ck.Key, key)
	}
	tamper = true
	if _, err := c.ContentKey(context.Background(), KeyRequest{ContentID: "j", KID: testKID(), Scheme: SchemeCENC}); err == nil || !strings.Contains(err.Error(), "ValueMAC") {
		t.Errorf("tampered MAC: err %v, want a ValueMAC error", err)
	}
}

func selfSigned(t *testing.T, priv *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ezlive encryptor"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// xmlencAES encrypts with aes256-cbc as XML Encryption writes it: IV first.
func xmlencAES(key, plain []byte) []byte {
	block, _ := aes.NewCipher(key)
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	out := make([]byte, aes.BlockSize+len(buf))
	rand.Read(out[:aes.BlockSize])
	cipher.NewCBCEncrypter(block, out[:aes.BlockSize]).CryptBlocks(out[aes.BlockSize:], buf)
	return out
}

func encryptedResponse(t *testing.T, pub *rsa.PublicKey, kid string, key []byte, tamper bool) string {
	docKey, macKey := make([]byte, 32), make([]byte, 64)
	rand.Read(docKey)
	rand.Read(macKey)
	wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, docKey, nil)
	if err != nil {
		t.Error(err)
	}
	ct := xmlencAES(docKey, key)
	mac := hmacSHA512(macKey, ct)
	if tamper {
		mac[0] ^= 1
	}
	e := base64.StdEncoding.EncodeToString
	ev := func(alg string, v []byte) string {
		return `<enc:EncryptionMethod Algorithm="` + alg + `"/><enc:CipherData><enc:CipherValue>` + e(v) + `</enc:CipherValue></enc:CipherData>`
	}
	return fmt.Sprintf(`<?xml version="1.0"?>
<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:enc="http://www.w3.org/2001/04/xmlenc#" contentId="j" version="2.3">
  <cpix:DeliveryDataList><cpix:DeliveryData id="ezlive">
    <cpix:DocumentKey Algorithm="%s"><cpix:Data><pskc:Secret><pskc:EncryptedValue>%s</pskc:EncryptedValue></pskc:Secret></cpix:Data></cpix:DocumentKey>
    <cpix:MACMethod Algorithm="%s"><cpix:Key>%s</cpix:Key></cpix:MACMethod>
  </cpix:DeliveryData></cpix:DeliveryDataList>
  <cpix:ContentKeyList><cpix:ContentKey kid="%s" commonEncryptionScheme="cenc"><cpix:Data><pskc:Secret>
    <pskc:EncryptedValue>%s</pskc:EncryptedValue><pskc:ValueMAC>%s</pskc:ValueMAC>
  </pskc:Secret></cpix:Data></cpix:ContentKey></cpix:ContentKeyList>
</cpix:CPIX>`, algAES256CBC, ev(algRSAOAEP, wrapped), algHMACSHA512, ev(algAES256CBC, xmlencAES(docKey, macKey)), kid, ev(algAES256CBC, ct), e(mac))
}
