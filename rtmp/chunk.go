package rtmp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Message type IDs (RTMP specification 5.4, 6.2, 7.1).
const (
	TypeSetChunkSize     = 1
	TypeAbort            = 2
	TypeAcknowledgement  = 3
	TypeUserControl      = 4
	TypeWindowAckSize    = 5
	TypeSetPeerBandwidth = 6
	TypeAudio            = 8
	TypeVideo            = 9
	TypeDataAMF3         = 15
	TypeCommandAMF3      = 17
	TypeDataAMF0         = 18
	TypeCommandAMF0      = 20
)

// Message is one RTMP message, reassembled from its chunks.
type Message struct {
	Type      uint8
	StreamID  uint32 // message stream ID; 0 is the control stream
	Timestamp uint32 // milliseconds, absolute
	Payload   []byte
}

// IsMedia reports whether m is audio, video or stream data: what a gateway relays.
func (m *Message) IsMedia() bool {
	switch m.Type {
	case TypeAudio, TypeVideo, TypeDataAMF0, TypeDataAMF3:
		return true
	}
	return false
}

// Limits bound what a peer can make a reader hold in memory.
type Limits struct {
	MaxMessageSize  uint32 // largest message accepted; default 16 MiB
	MaxChunkSize    uint32 // largest Set Chunk Size accepted; default 16 MiB
	MaxChunkStreams int    // distinct chunk stream IDs per connection; default 64
	MaxBuffered     int    // bytes of unfinished messages across chunk streams; default 32 MiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessageSize == 0 {
		l.MaxMessageSize = 16 << 20
	}
	if l.MaxChunkSize == 0 {
		l.MaxChunkSize = 16 << 20
	}
	if l.MaxChunkStreams == 0 {
		l.MaxChunkStreams = 64
	}
	if l.MaxBuffered == 0 {
		l.MaxBuffered = 32 << 20
	}
	return l
}

// DefaultChunkSize is the chunk size both directions start with.
const DefaultChunkSize = 128

// extendedTimestamp marks a 24-bit timestamp field whose value follows as 32 bits.
const extendedTimestamp = 0xFFFFFF

// ErrProtocol is wrapped by every violation of the chunk stream format.
var ErrProtocol = errors.New("rtmp protocol")

// inStream is the header state of one incoming chunk stream.
type inStream struct {
	timestamp uint32
	delta     uint32
	length    uint32
	typ       uint8
	streamID  uint32
	extended  bool   // the last header carried an extended timestamp
	payload   []byte // the unfinished message, nil between messages
	inMessage bool
}

// ChunkReader reassembles messages from a chunk stream.
type ChunkReader struct {
	r         *bufio.Reader
	counted   *countingReader
	limits    Limits
	chunkSize uint32
	streams   map[uint32]*inStream
	buffered  int
}

// NewChunkReader returns a reader of the chunk stream r, starting at the
// default chunk size.
func NewChunkReader(r io.Reader, limits Limits) *ChunkReader {
	cr := &countingReader{r: r}
	return &ChunkReader{
		r:         bufio.NewReaderSize(cr, 64<<10),
		counted:   cr,
		limits:    limits.withDefaults(),
		chunkSize: DefaultChunkSize,
		streams:   map[uint32]*inStream{},
	}
}

// BytesRead is the number of bytes taken from the underlying reader.
func (cr *ChunkReader) BytesRead() uint64 { return cr.counted.n }

// SetChunkSize applies a peer's Set Chunk Size.
func (cr *ChunkReader) SetChunkSize(n uint32) error {
	if n < 1 || n > cr.limits.MaxChunkSize {
		return fmt.Errorf("%w: chunk size %d outside 1..%d", ErrProtocol, n, cr.limits.MaxChunkSize)
	}
	cr.chunkSize = n
	return nil
}

// Abort drops the unfinished message of chunk stream csid (Abort Message).
func (cr *ChunkReader) Abort(csid uint32) {
	if s := cr.streams[csid]; s != nil {
		cr.buffered -= len(s.payload)
		s.payload, s.inMessage = nil, false
	}
}

// ReadMessage reads chunks until one message is complete and returns it.
// Protocol control messages are returned like any other; Conn interprets them.
func (cr *ChunkReader) ReadMessage() (*Message, error) {
	for {
		m, err := cr.readChunk()
		if err != nil || m != nil {
			return m, err
		}
	}
}

func (cr *ChunkReader) readChunk() (*Message, error) {
	fmtType, csid, err := cr.basicHeader()
	if err != nil {
		return nil, err
	}
	s, err := cr.stream(csid, fmtType)
	if err != nil {
		return nil, err
	}
	if err := cr.messageHeader(s, fmtType); err != nil {
		return nil, err
	}
	n := min(cr.chunkSize, s.length-uint32(len(s.payload)))
	if cr.buffered+int(n) > cr.limits.MaxBuffered {
		return nil, fmt.Errorf("%w: more than %d bytes of unfinished messages", ErrProtocol, cr.limits.MaxBuffered)
	}
	if err := cr.readPayload(s, int(n)); err != nil {
		return nil, err
	}
	if uint32(len(s.payload)) < s.length {
		return nil, nil
	}
	m := &Message{Type: s.typ, StreamID: s.streamID, Timestamp: s.timestamp, Payload: s.payload}
	cr.buffered -= len(s.payload)
	s.payload, s.inMessage = nil, false
	return m, nil
}

// readPayload appends n bytes to the unfinished message in steps of at most
// 64 KiB, so memory grows only with bytes that really arrived, not with the
// length a header claims.
func (cr *ChunkReader) readPayload(s *inStream, n int) error {
	if s.payload == nil {
		s.payload = []byte{} // non-nil: a zero-length message is still a message
	}
	for n > 0 {
		step := min(n, 64<<10)
		start := len(s.payload)
		s.payload = slices.Grow(s.payload, step)[:start+step]
		if _, err := io.ReadFull(cr.r, s.payload[start:]); err != nil {
			return fmt.Errorf("read chunk payload: %w", unexpected(err))
		}
		cr.buffered += step
		n -= step
	}
	return nil
}

func (cr *ChunkReader) basicHeader() (fmtType byte, csid uint32, err error) {
	b, err := cr.r.ReadByte()
	if err != nil {
		return 0, 0, err // a clean EOF between chunks is io.EOF
	}
	fmtType, csid = b>>6, uint32(b&0x3F)
	switch csid {
	case 0:
		b1, err := cr.r.ReadByte()
		if err != nil {
			return 0, 0, fmt.Errorf("read basic header: %w", unexpected(err))
		}
		csid = 64 + uint32(b1)
	case 1:
		var p [2]byte
		if _, err := io.ReadFull(cr.r, p[:]); err != nil {
			return 0, 0, fmt.Errorf("read basic header: %w", unexpected(err))
		}
		csid = 64 + uint32(p[0]) + 256*uint32(p[1])
	}
	return fmtType, csid, nil
}

func (cr *ChunkReader) stream(csid uint32, fmtType byte) (*inStream, error) {
	if s := cr.streams[csid]; s != nil {
		return s, nil
	}
	if fmtType != 0 {
		return nil, fmt.Errorf("%w: chunk stream %d starts with a type %d header", ErrProtocol, csid, fmtType)
	}
	if len(cr.streams) >= cr.limits.MaxChunkStreams {
		return nil, fmt.Errorf("%w: more than %d chunk streams", ErrProtocol, cr.limits.MaxChunkStreams)
	}
	s := &inStream{}
	cr.streams[csid] = s
	return s, nil
}

// messageHeader reads a type 0-3 message header (5.3.1.2) and the extended
// timestamp, and updates s. A header of type 0-2 starts a new message.
func (cr *ChunkReader) messageHeader(s *inStream, fmtType byte) error {
	var h [11]byte
	size := [4]int{11, 7, 3, 0}[fmtType]
	if _, err := io.ReadFull(cr.r, h[:size]); err != nil {
		return fmt.Errorf("read message header: %w", unexpected(err))
	}
	if fmtType < 3 && s.inMessage {
		return fmt.Errorf("%w: new message header inside an unfinished message", ErrProtocol)
	}
	var field uint32
	if fmtType < 3 {
		field = uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
		s.extended = field == extendedTimestamp
	}
	if s.extended {
		var p [4]byte
		if _, err := io.ReadFull(cr.r, p[:]); err != nil {
			return fmt.Errorf("read extended timestamp: %w", unexpected(err))
		}
		if fmtType < 3 {
			field = binary.BigEndian.Uint32(p[:])
		} else {
			field = s.delta // a repeat of the value the earlier header carried
		}
	}
	if s.inMessage { // type 3 continuation of the current message
		return nil
	}
	switch fmtType {
	case 0:
		s.timestamp, s.delta = field, field
		s.streamID = binary.LittleEndian.Uint32(h[7:11])
	case 1, 2:
		s.delta = field
		s.timestamp += field
	case 3:
		s.timestamp += s.delta
	}
	if fmtType <= 1 {
		s.length = uint32(h[3])<<16 | uint32(h[4])<<8 | uint32(h[5])
		s.typ = h[6]
	}
	if s.length > cr.limits.MaxMessageSize {
		return fmt.Errorf("%w: message of %d bytes exceeds %d", ErrProtocol, s.length, cr.limits.MaxMessageSize)
	}
	s.inMessage = true
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// outStream is the header state of one outgoing chunk stream.
type outStream struct {
	timestamp uint32
	length    uint32
	typ       uint8
	streamID  uint32
}

// ChunkWriter splits messages into chunks of its own chunk size. It is not
// safe for concurrent use; Conn serialises writers.
type ChunkWriter struct {
	w         *bufio.Writer
	chunkSize uint32
	streams   map[uint32]*outStream
	hdr       []byte
}

// NewChunkWriter returns a writer of a chunk stream to w at the default chunk size.
func NewChunkWriter(w io.Writer) *ChunkWriter {
	return &ChunkWriter{w: bufio.NewWriterSize(w, 64<<10), chunkSize: DefaultChunkSize, streams: map[uint32]*outStream{}}
}

// SetChunkSize changes the size of the chunks written from now on. The peer
// must have been told first (see Conn.SetChunkSize).
func (cw *ChunkWriter) SetChunkSize(n uint32) { cw.chunkSize = n }

// WriteMessage writes m on chunk stream csid (2..65599) and flushes. It uses a
// type 0 header for a stream's first message or when the timestamp goes back,
// type 2 when length and type repeat, type 1 otherwise.
func (cw *ChunkWriter) WriteMessage(csid uint32, m *Message) error {
	if csid < 2 || csid > 65599 {
		return fmt.Errorf("%w: chunk stream id %d", ErrProtocol, csid)
	}
	if len(m.Payload) > 0xFFFFFF {
		return fmt.Errorf("%w: message of %d bytes is too large", ErrProtocol, len(m.Payload))
	}
	length := uint32(len(m.Payload))
	prev := cw.streams[csid]
	fmtType, field := byte(0), m.Timestamp
	if prev != nil && prev.streamID == m.StreamID && m.Timestamp >= prev.timestamp {
		fmtType, field = 1, m.Timestamp-prev.timestamp
		if prev.length == length && prev.typ == m.Type {
			fmtType = 2
		}
	}
	cw.streams[csid] = &outStream{timestamp: m.Timestamp, length: length, typ: m.Type, streamID: m.StreamID}

	ext := field >= extendedTimestamp
	cw.hdr = appendBasicHeader(cw.hdr[:0], fmtType, csid)
	tsField := min(field, extendedTimestamp)
	cw.hdr = append(cw.hdr, byte(tsField>>16), byte(tsField>>8), byte(tsField))
	if fmtType <= 1 {
		cw.hdr = append(cw.hdr, byte(length>>16), byte(length>>8), byte(length), m.Type)
	}
	if fmtType == 0 {
		cw.hdr = binary.LittleEndian.AppendUint32(cw.hdr, m.StreamID)
	}
	if ext {
		cw.hdr = binary.BigEndian.AppendUint32(cw.hdr, field)
	}
	if err := cw.writeChunks(csid, m.Payload, ext, field); err != nil {
		return err
	}
	return cw.w.Flush()
}

func (cw *ChunkWriter) writeChunks(csid uint32, payload []byte, ext bool, field uint32) error {
	first := true
	for first || len(payload) > 0 {
		if !first {
			cw.hdr = appendBasicHeader(cw.hdr[:0], 3, csid)
			if ext {
				cw.hdr = binary.BigEndian.AppendUint32(cw.hdr, field)
			}
		}
		first = false
		n := min(int(cw.chunkSize), len(payload))
		if _, err := cw.w.Write(cw.hdr); err != nil {
			return err
		}
		if _, err := cw.w.Write(payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
	}
	return nil
}

func appendBasicHeader(b []byte, fmtType byte, csid uint32) []byte {
	switch {
	case csid < 64:
		return append(b, fmtType<<6|byte(csid))
	case csid < 320:
		return append(b, fmtType<<6, byte(csid-64))
	default:
		return append(b, fmtType<<6|1, byte((csid-64)&0xFF), byte((csid-64)>>8))
	}
}
