package drm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"
)

// EncryptInit adds the protection boxes (encv/enca, sinf, tenc, and the
// commercial systems' pssh) to a clear fMP4 init segment with one track.
func EncryptInit(clear []byte, k *JobKey) ([]byte, *mp4.InitProtectData, error) {
	if k.Scheme != SchemeCENC && k.Scheme != SchemeCBCS {
		return nil, nil, fmt.Errorf("fmp4 init segment in a %s job", k.Scheme)
	}
	f, err := mp4.DecodeFile(bytes.NewReader(clear))
	if err != nil {
		return nil, nil, fmt.Errorf("decode init: %w", err)
	}
	if f.Init == nil {
		return nil, nil, errors.New("not an init segment (no moov)")
	}
	var psshs []*mp4.PsshBox
	for _, s := range k.Systems {
		if len(s.PSSH) == 0 {
			continue
		}
		boxes, err := mp4.PsshBoxesFromBytes(s.PSSH)
		if err != nil {
			return nil, nil, fmt.Errorf("pssh of system %s: %w", s.SystemID, err)
		}
		psshs = append(psshs, boxes...)
	}
	kid, err := mp4.NewUUIDFromHex(k.KID.String())
	if err != nil {
		return nil, nil, err
	}
	ipd, err := mp4.InitProtect(f.Init, k.Key[:], k.IV[:], k.Scheme, kid, psshs)
	if err != nil {
		return nil, nil, fmt.Errorf("protect init: %w", err)
	}
	var out bytes.Buffer
	if err := f.Encode(&out); err != nil {
		return nil, nil, fmt.Errorf("encode init: %w", err)
	}
	return out.Bytes(), ipd, nil
}

// ProtectData reads back the protection data of an encrypted init segment.
func ProtectData(encryptedInit []byte) (*mp4.InitProtectData, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(encryptedInit))
	if err != nil {
		return nil, fmt.Errorf("decode init: %w", err)
	}
	if f.Init == nil {
		return nil, errors.New("not an init segment (no moov)")
	}
	ipd, err := mp4.ExtractInitProtectData(f.Init)
	if err != nil {
		return nil, err
	}
	if ipd.Tenc == nil || ipd.ProtFunc == nil {
		return nil, errors.New("init segment is not protected")
	}
	return ipd, nil
}

// EncryptMedia encrypts every fragment of a clear fMP4 media segment and
// adds senc/saiz/saio. cenc gets a random 8-byte IV per fragment (the low
// 8 bytes count blocks); cbcs uses the job's constant IV, as its tenc says.
func EncryptMedia(clear []byte, k *JobKey, ipd *mp4.InitProtectData) ([]byte, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(clear))
	if err != nil {
		return nil, fmt.Errorf("decode media segment: %w", err)
	}
	if len(f.Segments) == 0 {
		return nil, errors.New("no media fragments")
	}
	for _, s := range f.Segments {
		for _, frag := range s.Fragments {
			iv := k.IV[:]
			if ipd.Scheme == SchemeCENC {
				iv = make([]byte, 8)
				rand.Read(iv)
			}
			if err := mp4.EncryptFragment(frag, k.Key[:], iv, ipd); err != nil {
				return nil, fmt.Errorf("encrypt fragment: %w", err)
			}
		}
	}
	var out bytes.Buffer
	out.Grow(len(clear) + len(clear)/16)
	if err := f.Encode(&out); err != nil {
		return nil, fmt.Errorf("encode media segment: %w", err)
	}
	return out.Bytes(), nil
}

// EncryptSegmentAES128 encrypts a whole segment with AES-128-CBC and PKCS#7
// padding, as HLS METHOD=AES-128 asks.
func EncryptSegmentAES128(clear, key, iv []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(clear)%aes.BlockSize
	out := make([]byte, len(clear)+pad)
	copy(out, clear)
	for i := len(clear); i < len(out); i++ {
		out[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, out)
	return out, nil
}

// DecryptSegmentAES128 reverses EncryptSegmentAES128.
func DecryptSegmentAES128(enc, key, iv []byte) ([]byte, error) {
	if len(enc) == 0 || len(enc)%aes.BlockSize != 0 {
		return nil, errors.New("aes-128 segment: length is not a multiple of the block size")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(enc))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, enc)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, errors.New("aes-128 segment: bad padding")
	}
	return out[:len(out)-pad], nil
}
