// Package rtmp owns the part of RTMP an ingest gateway needs, written from
// Adobe's RTMP specification: the simple handshake, the chunk stream (message
// headers of types 0-3, extended timestamps, re-chunking), protocol control
// messages, AMF0 and the publish commands. It does no I/O policy (timeouts,
// authentication): callers set deadlines on the net.Conn and decide.
package rtmp

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// User control event types (RTMP specification 7.1.7).
const (
	EventStreamBegin  = 0
	EventStreamEOF    = 1
	EventPingRequest  = 6
	EventPingResponse = 7
)

// Chunk stream IDs this package writes on, one per kind of message so that
// header compression works within a kind.
const (
	csidControl = 2
	csidCommand = 3
	csidAudio   = 4
	csidData    = 5
	csidVideo   = 6
)

// Conn is an RTMP connection after the handshake. It answers protocol
// control messages itself (chunk size, abort, window acknowledgement size,
// peer bandwidth, ping) and sends Acknowledgements when the peer's window
// asks for them. One goroutine may read while others write.
type Conn struct {
	nc net.Conn
	r  *ChunkReader

	wmu sync.Mutex
	w   *ChunkWriter

	peerWindow uint32 // ack window the peer asked for; 0 = none
	lastAcked  uint64
	sentWindow atomic.Uint32
	written    atomic.Uint64
}

// NewConn wraps nc, on which the handshake is done.
func NewConn(nc net.Conn, limits Limits) *Conn {
	c := &Conn{nc: nc}
	c.r = NewChunkReader(nc, limits)
	c.w = NewChunkWriter(&countingWriter{w: nc, n: &c.written})
	return c
}

// NetConn is the underlying connection, for deadlines and addresses.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.nc.Close() }

// BytesRead and BytesWritten count bytes on the wire after the handshake.
func (c *Conn) BytesRead() uint64    { return c.r.BytesRead() }
func (c *Conn) BytesWritten() uint64 { return c.written.Load() }

// ReadMessage returns the next message that is not a protocol control
// message (types 1, 2, 3, 5, 6); those are applied here. User control
// messages are returned after a ping request has been answered.
func (c *Conn) ReadMessage() (*Message, error) {
	for {
		m, err := c.r.ReadMessage()
		if err != nil {
			return nil, err
		}
		if err := c.maybeAck(); err != nil {
			return nil, err
		}
		handled, err := c.control(m)
		if err != nil {
			return nil, err
		}
		if !handled {
			return m, nil
		}
	}
}

func (c *Conn) control(m *Message) (handled bool, err error) {
	if m.Type > TypeSetPeerBandwidth || m.Type == 0 {
		return false, nil
	}
	if m.Type != TypeUserControl && len(m.Payload) < 4 {
		return true, fmt.Errorf("%w: control message type %d of %d bytes", ErrProtocol, m.Type, len(m.Payload))
	}
	switch m.Type {
	case TypeSetChunkSize:
		return true, c.r.SetChunkSize(binary.BigEndian.Uint32(m.Payload) & 0x7FFFFFFF)
	case TypeAbort:
		c.r.Abort(binary.BigEndian.Uint32(m.Payload))
	case TypeAcknowledgement:
		// Nothing waits on the peer's acknowledgements: the relay does not
		// throttle, TCP does.
	case TypeWindowAckSize:
		c.peerWindow = binary.BigEndian.Uint32(m.Payload)
	case TypeSetPeerBandwidth:
		// 5.4.5: answer with a Window Acknowledgement Size when it differs.
		if size := binary.BigEndian.Uint32(m.Payload); size != c.sentWindow.Load() {
			return true, c.WriteWindowAckSize(size)
		}
	case TypeUserControl:
		return false, c.answerPing(m)
	}
	return true, nil
}

func (c *Conn) answerPing(m *Message) error {
	if len(m.Payload) < 6 || binary.BigEndian.Uint16(m.Payload) != EventPingRequest {
		return nil
	}
	return c.WriteUserControl(EventPingResponse, binary.BigEndian.Uint32(m.Payload[2:]))
}

func (c *Conn) maybeAck() error {
	if c.peerWindow == 0 {
		return nil
	}
	n := c.r.BytesRead()
	if n-c.lastAcked < uint64(c.peerWindow) {
		return nil
	}
	c.lastAcked = n
	return c.writeControl(TypeAcknowledgement, binary.BigEndian.AppendUint32(nil, uint32(n)))
}

// WriteMessage writes m, chunked at this side's chunk size. It picks the
// chunk stream by message type.
func (c *Conn) WriteMessage(m *Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.WriteMessage(csidFor(m.Type), m)
}

func csidFor(typ uint8) uint32 {
	switch typ {
	case TypeSetChunkSize, TypeAbort, TypeAcknowledgement, TypeUserControl, TypeWindowAckSize, TypeSetPeerBandwidth:
		return csidControl
	case TypeAudio:
		return csidAudio
	case TypeVideo:
		return csidVideo
	case TypeDataAMF0, TypeDataAMF3:
		return csidData
	}
	return csidCommand
}

// SetChunkSize tells the peer the new chunk size, then writes with it.
func (c *Conn) SetChunkSize(n uint32) error {
	if n < 1 || n > 0x7FFFFFFF {
		return fmt.Errorf("%w: chunk size %d", ErrProtocol, n)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	m := &Message{Type: TypeSetChunkSize, Payload: binary.BigEndian.AppendUint32(nil, n)}
	if err := c.w.WriteMessage(csidControl, m); err != nil {
		return err
	}
	c.w.SetChunkSize(n)
	return nil
}

// WriteWindowAckSize asks the peer to acknowledge every size bytes it receives.
func (c *Conn) WriteWindowAckSize(size uint32) error {
	c.sentWindow.Store(size)
	return c.writeControl(TypeWindowAckSize, binary.BigEndian.AppendUint32(nil, size))
}

// WriteSetPeerBandwidth limits the peer's output window; limitType 2 is dynamic.
func (c *Conn) WriteSetPeerBandwidth(size uint32, limitType byte) error {
	return c.writeControl(TypeSetPeerBandwidth, append(binary.BigEndian.AppendUint32(nil, size), limitType))
}

// WriteUserControl sends a user control event with a 32-bit argument
// (a stream ID for Stream Begin/EOF, a timestamp for pings).
func (c *Conn) WriteUserControl(event uint16, arg uint32) error {
	p := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, event), arg)
	return c.writeControl(TypeUserControl, p)
}

func (c *Conn) writeControl(typ uint8, payload []byte) error {
	return c.WriteMessage(&Message{Type: typ, Payload: payload})
}

type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n *atomic.Uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}
