package rtmp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// handshakeSize is the length of C1, C2, S1 and S2 (RTMP specification 5.2).
const handshakeSize = 1536

// version is the only RTMP version spoken: plain, unencrypted RTMP.
const version = 3

// ErrHandshake is wrapped by every handshake failure.
var ErrHandshake = errors.New("rtmp handshake")

// ServerHandshake performs the simple handshake as the server: read C0+C1,
// send S0+S1+S2 (S2 echoes C1), read C2. C2 is not compared with S1: the
// simple handshake carries no authentication, and encoders differ in what
// they echo. Callers bound the time with a deadline on rw.
func ServerHandshake(rw io.ReadWriter) error {
	c0c1 := make([]byte, 1+handshakeSize)
	if _, err := io.ReadFull(rw, c0c1); err != nil {
		return fmt.Errorf("%w: read C0+C1: %w", ErrHandshake, err)
	}
	if c0c1[0] != version {
		return fmt.Errorf("%w: version %d (only %d, unencrypted, is spoken)", ErrHandshake, c0c1[0], version)
	}
	s := make([]byte, 1+2*handshakeSize)
	s[0] = version
	if err := fillS1C1(s[1 : 1+handshakeSize]); err != nil {
		return err
	}
	copy(s[1+handshakeSize:], c0c1[1:])
	if _, err := rw.Write(s); err != nil {
		return fmt.Errorf("%w: write S0+S1+S2: %w", ErrHandshake, err)
	}
	if _, err := io.ReadFull(rw, c0c1[1:]); err != nil {
		return fmt.Errorf("%w: read C2: %w", ErrHandshake, err)
	}
	return nil
}

// ClientHandshake performs the simple handshake as the client: send C0+C1,
// read S0+S1+S2, send C2 (an echo of S1), which is what ffmpeg's listener checks.
func ClientHandshake(rw io.ReadWriter) error {
	c := make([]byte, 1+handshakeSize)
	c[0] = version
	if err := fillS1C1(c[1:]); err != nil {
		return err
	}
	if _, err := rw.Write(c); err != nil {
		return fmt.Errorf("%w: write C0+C1: %w", ErrHandshake, err)
	}
	s := make([]byte, 1+2*handshakeSize)
	if _, err := io.ReadFull(rw, s); err != nil {
		return fmt.Errorf("%w: read S0+S1+S2: %w", ErrHandshake, err)
	}
	if s[0] != version {
		return fmt.Errorf("%w: server answered version %d", ErrHandshake, s[0])
	}
	if _, err := rw.Write(s[1 : 1+handshakeSize]); err != nil {
		return fmt.Errorf("%w: write C2: %w", ErrHandshake, err)
	}
	return nil
}

// fillS1C1 writes time 0, four zero bytes and random bytes, as the simple
// handshake prescribes.
func fillS1C1(p []byte) error {
	clear(p[:8])
	if _, err := rand.Read(p[8:]); err != nil {
		return fmt.Errorf("%w: random bytes: %w", ErrHandshake, err)
	}
	return nil
}
