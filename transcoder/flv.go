package transcoder

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// FLV (Adobe Flash Video File Format Specification v10.1, annex E) is how
// the transcoder hands media to ffmpeg: an RTMP audio or video message is
// an FLV tag's body, so the publisher's media passes through unchanged
// with its timestamps rewritten onto the job's one timeline.

// FLV tag types (annex E.4.1), the same numbers as RTMP message types.
const (
	tagAudio = 8
	tagVideo = 9
)

// tag is one FLV tag: its type, its timestamp in milliseconds (the
// decoding time for video) and its body.
type tag struct {
	typ  uint8
	ts   int64
	body []byte
	// arrived is when a live tag arrived from the publisher (the latency
	// trace, trace.go); zero for the slate's.
	arrived time.Time
}

// isVideoKeyframe: an AVC key frame (frame type 1, AVCPacketType 1 NALUs).
func (t tag) isVideoKeyframe() bool {
	return t.typ == tagVideo && len(t.body) >= 2 && t.body[0]>>4 == 1 && t.body[1] == 1
}

// isVideoConfig: an AVC sequence header (AVCDecoderConfigurationRecord).
func (t tag) isVideoConfig() bool {
	return t.typ == tagVideo && len(t.body) >= 2 && t.body[0]&0x0f == 7 && t.body[1] == 0
}

// isAudioConfig: an AAC sequence header (AudioSpecificConfig).
func (t tag) isAudioConfig() bool {
	return t.typ == tagAudio && len(t.body) >= 2 && t.body[0]>>4 == 10 && t.body[1] == 0
}

// isAVC and isAAC: the codecs the transcoder passes through. Tags of
// other codecs (enhanced RTMP's HEVC, MP3) are left out, so such a
// publisher never reaches a first key frame.
func (t tag) isAVC() bool { return len(t.body) >= 1 && t.body[0]&0x0f == 7 }
func (t tag) isAAC() bool { return len(t.body) >= 1 && t.body[0]>>4 == 10 }

// compositionOffset is an AVC frame's presentation minus decoding time, in
// milliseconds (annex E.4.3.1, a signed 24-bit field).
func (t tag) compositionOffset() int64 {
	if t.typ != tagVideo || len(t.body) < 5 {
		return 0
	}
	v := int32(uint32(t.body[2])<<16|uint32(t.body[3])<<8|uint32(t.body[4])) << 8 >> 8
	return int64(v)
}

// flvWriter writes an FLV stream: the header, then tags.
type flvWriter struct {
	w   *bufio.Writer
	buf [15]byte
}

// newFLVWriter writes the FLV header announcing audio, and video unless
// the stream has none (ffmpeg would wait its probe for a video stream).
func newFLVWriter(w io.Writer, video bool) (*flvWriter, error) {
	fw := &flvWriter{w: bufio.NewWriterSize(w, 64<<10)}
	flags := byte(0x04)
	if video {
		flags |= 0x01
	}
	hdr := []byte{'F', 'L', 'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0}
	if _, err := fw.w.Write(hdr); err != nil {
		return nil, err
	}
	return fw, nil
}

// write writes one tag and flushes it: ffmpeg gets media as it comes.
func (fw *flvWriter) write(t tag) error {
	if t.ts < 0 || t.ts > 0x7fffffff {
		return fmt.Errorf("flv: timestamp %d ms out of range", t.ts)
	}
	n := len(t.body)
	ts := uint32(t.ts)
	b := fw.buf[:11]
	b[0] = t.typ
	b[1], b[2], b[3] = byte(n>>16), byte(n>>8), byte(n)
	b[4], b[5], b[6], b[7] = byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24)
	b[8], b[9], b[10] = 0, 0, 0
	if _, err := fw.w.Write(b); err != nil {
		return err
	}
	if _, err := fw.w.Write(t.body); err != nil {
		return err
	}
	binary.BigEndian.PutUint32(fw.buf[11:15], uint32(11+n))
	if _, err := fw.w.Write(fw.buf[11:15]); err != nil {
		return err
	}
	return fw.w.Flush()
}

// readFLV reads every tag of an FLV stream.
func readFLV(r io.Reader) ([]tag, error) {
	br := bufio.NewReader(r)
	hdr := make([]byte, 9)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("flv header: %w", err)
	}
	if string(hdr[:3]) != "FLV" {
		return nil, errors.New("flv: not an FLV stream")
	}
	if _, err := br.Discard(int(binary.BigEndian.Uint32(hdr[5:9])) - 9 + 4); err != nil {
		return nil, fmt.Errorf("flv header: %w", err)
	}
	var tags []tag
	h := make([]byte, 11)
	for {
		if _, err := io.ReadFull(br, h); err != nil {
			if errors.Is(err, io.EOF) {
				return tags, nil
			}
			return nil, fmt.Errorf("flv tag: %w", err)
		}
		n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
		ts := int64(uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]))
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, fmt.Errorf("flv tag body: %w", err)
		}
		if _, err := br.Discard(4); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		tags = append(tags, tag{typ: h[0] & 0x1f, ts: ts, body: body})
	}
}
