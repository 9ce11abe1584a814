package llhls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// Track is what a media segment's chunks need from the initialisation
// segment: the media timescale and the sample defaults of its trex box.
type Track struct {
	Timescale uint32
	Video     bool // the track's handler is "vide"
	// Delay is the media time at which the edit list starts the
	// presentation, in Timescale: a sample presented at DecodeTime +
	// Composition is at that minus Delay on the presentation timeline.
	// ffmpeg writes one for a track with B-frames, whose decoding starts
	// before its first picture.
	Delay int64
	trex  *mp4.TrexBox
}

// ParseInit reads the first track of a CMAF initialisation segment.
func ParseInit(b []byte) (Track, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(b))
	if err != nil {
		return Track{}, fmt.Errorf("decode init segment: %w", err)
	}
	if f.Init == nil || f.Init.Moov == nil || f.Init.Moov.Trak == nil ||
		f.Init.Moov.Trak.Mdia == nil || f.Init.Moov.Trak.Mdia.Mdhd == nil {
		return Track{}, errors.New("init segment has no track")
	}
	mdia := f.Init.Moov.Trak.Mdia
	t := Track{Timescale: mdia.Mdhd.Timescale, Video: mdia.Hdlr != nil && mdia.Hdlr.HandlerType == "vide",
		Delay: editDelay(f.Init.Moov.Trak)}
	if t.Timescale == 0 {
		return Track{}, errors.New("init segment track has timescale 0")
	}
	if mvex := f.Init.Moov.Mvex; mvex != nil {
		t.trex = mvex.Trex
	}
	return t, nil
}

// editDelay is the media time of the first edit that is not empty.
func editDelay(trak *mp4.TrakBox) int64 {
	if trak.Edts == nil {
		return 0
	}
	for _, elst := range trak.Edts.Elst {
		for _, e := range elst.Entries {
			if e.MediaTime >= 0 {
				return e.MediaTime
			}
		}
	}
	return 0
}

// Chunk is one CMAF chunk of a media segment: the boxes from the end of the
// previous chunk (or the segment's start, so styp and prft belong to the
// chunk they precede) to the end of one moof's mdat. In LL-HLS it is a
// partial segment, addressed as a byte range of its segment.
type Chunk struct {
	Offset, Length int64
	// DecodeTime and Duration are in the track's timescale: tfdt, and the
	// sum of the trun's sample durations.
	DecodeTime, Duration uint64
	// FirstPresented is when the first of the chunk's samples to be
	// presented is, relative to DecodeTime: the least of the samples'
	// decode offsets plus their composition offsets. With B-frames the
	// first sample decoded is not the first presented.
	FirstPresented int64
	Samples        int // how many samples the chunk has
	// Independent: the chunk starts with a sync sample, so a player can
	// start decoding there.
	Independent bool
	// Produced is the producer reference time of the chunk's prft box, if
	// it has one: the encoder's wall clock at media time ProducedAt (in the
	// track's timescale).
	Produced   time.Time
	ProducedAt uint64
}

// maxPrftSize bounds a prft box: 32 bytes in version 1.
const maxPrftSize = 64

// maxMoofSize bounds the moof box a Scanner holds to decode; a 0.5 s
// chunk's moof is a few hundred bytes.
const maxMoofSize = 1 << 20

// Scanner finds the chunks of one fMP4 media segment as its bytes arrive,
// holding no more than one box header and one moof in memory. The
// segment's bytes are passed to Write in order, in pieces of any size.
type Scanner struct {
	trex *mp4.TrexBox

	off        int64 // bytes consumed
	chunkStart int64

	hdr  [16]byte // the box header being read
	hdrN int
	// the box being read: its type, and what is left of its payload
	boxType string
	left    int64
	moof    []byte // the whole moof box, while boxType is "moof" (or the prft box)
	prft    *Chunk // Produced and ProducedAt of the prft box before the moof

	pending *Chunk // from the last moof, completed by its mdat
	chunks  []Chunk
	err     error
}

// NewScanner returns a Scanner for a media segment of track t.
func NewScanner(t Track) *Scanner { return &Scanner{trex: t.trex} }

// Write consumes the next bytes of the segment. After an error (a box the
// Scanner cannot read) it consumes and ignores everything.
func (s *Scanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && s.err == nil {
		if s.boxType == "" {
			p = s.readHeader(p)
			continue
		}
		p = s.readPayload(p)
	}
	return n, nil
}

// Chunks returns the chunks completed since the last call.
func (s *Scanner) Chunks() []Chunk {
	c := s.chunks
	s.chunks = nil
	return c
}

// Err is the reason the Scanner stopped finding chunks, if it did.
func (s *Scanner) Err() error { return s.err }

// readHeader fills the box header and starts the box once it is whole.
func (s *Scanner) readHeader(p []byte) []byte {
	need := 8
	if s.hdrN >= 8 && binary.BigEndian.Uint32(s.hdr[:4]) == 1 {
		need = 16 // 64-bit largesize follows the type
	}
	n := copy(s.hdr[s.hdrN:need], p)
	s.hdrN += n
	s.off += int64(n)
	p = p[n:]
	if s.hdrN < need {
		return p
	}
	if need == 8 && binary.BigEndian.Uint32(s.hdr[:4]) == 1 {
		return p // read the largesize next
	}
	size := int64(binary.BigEndian.Uint32(s.hdr[:4]))
	if size == 1 {
		size = int64(binary.BigEndian.Uint64(s.hdr[8:16]))
	}
	if size < int64(need) {
		s.err = fmt.Errorf("box at %d has size %d", s.off-int64(need), size)
		return nil
	}
	s.boxType = string(s.hdr[4:8])
	s.left = size - int64(need)
	if s.boxType == "prft" && size <= maxPrftSize {
		s.moof = append(s.moof[:0], s.hdr[:need]...)
	}
	if s.boxType == "moof" {
		if size > maxMoofSize {
			s.err = fmt.Errorf("moof at %d is %d bytes", s.off-int64(need), size)
			return nil
		}
		s.moof = append(s.moof[:0], s.hdr[:need]...)
	}
	s.hdrN = 0
	return p
}

// readPayload consumes the current box's payload and acts at its end.
func (s *Scanner) readPayload(p []byte) []byte {
	n := int64(len(p))
	if n > s.left {
		n = s.left
	}
	if s.boxType == "moof" || (s.boxType == "prft" && len(s.moof) > 0) {
		s.moof = append(s.moof, p[:n]...)
	}
	s.left -= n
	s.off += n
	p = p[n:]
	if s.left == 0 {
		s.endBox()
	}
	return p
}

func (s *Scanner) endBox() {
	switch s.boxType {
	case "prft":
		s.prft = decodePrft(s.moof)
		s.moof = s.moof[:0]
	case "moof":
		c, err := s.decodeMoof()
		if err != nil {
			s.err = err
			return
		}
		if s.prft != nil {
			c.Produced, c.ProducedAt = s.prft.Produced, s.prft.ProducedAt
			s.prft = nil
		}
		s.pending = &c
	case "mdat":
		if s.pending != nil {
			c := *s.pending
			c.Offset, c.Length = s.chunkStart, s.off-s.chunkStart
			s.chunks = append(s.chunks, c)
			s.pending = nil
			s.chunkStart = s.off
		}
	}
	s.boxType = ""
}

// decodePrft reads a prft box (ISO/IEC 14496-12 8.16.5): its NTP timestamp
// and media time. A box it cannot read gives nil: the chunk just has no
// producer time.
func decodePrft(b []byte) *Chunk {
	const header = 8 + 4 + 4 // box header, version and flags, reference_track_ID
	if len(b) < header+8+4 {
		return nil
	}
	ntp := binary.BigEndian.Uint64(b[header:])
	var media uint64
	switch b[8] {
	case 0:
		media = uint64(binary.BigEndian.Uint32(b[header+8:]))
	case 1:
		if len(b) < header+8+8 {
			return nil
		}
		media = binary.BigEndian.Uint64(b[header+8:])
	default:
		return nil
	}
	return &Chunk{Produced: ntpTime(ntp), ProducedAt: media}
}

// ntpTime converts a 64-bit NTP timestamp (seconds since 1900 and a binary
// fraction) to a time.
func ntpTime(ntp uint64) time.Time {
	const unixToNTP = 2208988800 // seconds from 1900 to 1970
	sec := int64(ntp>>32) - unixToNTP
	frac := int64((ntp & 0xffffffff) * uint64(time.Second) >> 32)
	return time.Unix(sec, frac)
}

// firstPresented is the least decode offset plus composition offset of
// the samples of truns, whose defaults are filled in.
func firstPresented(truns []*mp4.TrunBox) int64 {
	var dts int64
	least, any := int64(0), false
	for _, trun := range truns {
		for _, s := range trun.Samples {
			if pts := dts + int64(s.CompositionTimeOffset); !any || pts < least {
				least, any = pts, true
			}
			dts += int64(s.Dur)
		}
	}
	return least
}

// decodeMoof reads the timing of the moof held in s.moof.
func (s *Scanner) decodeMoof() (Chunk, error) {
	box, err := mp4.DecodeBox(0, bytes.NewReader(s.moof))
	if err != nil {
		return Chunk{}, fmt.Errorf("decode moof: %w", err)
	}
	moof, ok := box.(*mp4.MoofBox)
	if !ok || moof.Traf == nil || moof.Traf.Tfhd == nil || moof.Traf.Tfdt == nil || len(moof.Traf.Truns) == 0 {
		return Chunk{}, errors.New("moof has no tfhd, tfdt or trun")
	}
	traf := moof.Traf
	c := Chunk{DecodeTime: traf.Tfdt.BaseMediaDecodeTime()}
	for _, trun := range traf.Truns {
		c.Duration += trun.AddSampleDefaultValues(traf.Tfhd, s.trex)
	}
	first := traf.Truns[0]
	if len(first.Samples) > 0 {
		flags := first.Samples[0].Flags
		if f, ok := first.FirstSampleFlags(); ok {
			flags = f
		}
		c.Independent = mp4.IsSyncSampleFlags(flags)
	}
	c.FirstPresented = firstPresented(traf.Truns)
	for _, trun := range traf.Truns {
		c.Samples += len(trun.Samples)
	}
	return c, nil
}
