package rtmp

import (
	"fmt"
)

// Command is an AMF0 command message (RTMP specification 7.2): a name, a
// transaction ID, a command object (nil for AMF0 null) and further arguments.
type Command struct {
	Name          string
	TransactionID float64
	Object        any
	Args          []any
}

// ParseCommand decodes a command message (type 20, or 17 whose AMF3 marker
// byte introduces AMF0 values, as Flash encoders send).
func ParseCommand(m *Message) (*Command, error) {
	p := m.Payload
	switch m.Type {
	case TypeCommandAMF0:
	case TypeCommandAMF3:
		if len(p) == 0 {
			return nil, fmt.Errorf("%w: empty AMF3 command", ErrProtocol)
		}
		p = p[1:]
	default:
		return nil, fmt.Errorf("%w: message type %d is not a command", ErrProtocol, m.Type)
	}
	vals, err := DecodeAMF0(p)
	if err != nil {
		return nil, fmt.Errorf("decode command: %w", err)
	}
	if len(vals) < 2 {
		return nil, fmt.Errorf("%w: command of %d values", ErrProtocol, len(vals))
	}
	name, ok := vals[0].(string)
	txid, ok2 := vals[1].(float64)
	if !ok || !ok2 {
		return nil, fmt.Errorf("%w: command without a name and transaction ID", ErrProtocol)
	}
	c := &Command{Name: name, TransactionID: txid}
	if len(vals) > 2 {
		c.Object, c.Args = vals[2], vals[3:]
	}
	return c, nil
}

// Message encodes c as a type 20 message on message stream streamID.
func (c *Command) Message(streamID uint32) (*Message, error) {
	p, err := AppendAMF0(nil, append([]any{c.Name, c.TransactionID, c.Object}, c.Args...)...)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", c.Name, err)
	}
	return &Message{Type: TypeCommandAMF0, StreamID: streamID, Payload: p}, nil
}

// IsUnpublish reports whether c is an encoder saying its stream ends
// (FCUnpublish, deleteStream or closeStream).
func (c *Command) IsUnpublish() bool {
	switch c.Name {
	case "FCUnpublish", "deleteStream", "closeStream":
		return true
	}
	return false
}

// Arg returns argument i, or nil when there are fewer.
func (c *Command) Arg(i int) any {
	if i < len(c.Args) {
		return c.Args[i]
	}
	return nil
}

// Status is the info object of an onStatus or a _result/_error reply.
type Status struct {
	Level       string // "status" or "error"
	Code        string // e.g. NetStream.Publish.Start
	Description string
}

// StatusOf reads the info object of an onStatus (first argument) or of a
// connect _result/_error (first argument too).
func StatusOf(c *Command) Status {
	o, _ := c.Arg(0).(Object)
	return Status{Level: o.String("level"), Code: o.String("code"), Description: o.String("description")}
}

func (s Status) object() Object {
	return Object{{"level", s.Level}, {"code", s.Code}, {"description", s.Description}}
}

// WriteCommand encodes and writes c on message stream streamID.
func (c *Conn) WriteCommand(streamID uint32, cmd *Command) error {
	m, err := cmd.Message(streamID)
	if err != nil {
		return err
	}
	return c.WriteMessage(m)
}

// WriteStatus sends onStatus with s on message stream streamID.
func (c *Conn) WriteStatus(streamID uint32, s Status) error {
	return c.WriteCommand(streamID, &Command{Name: "onStatus", Object: nil, Args: []any{s.object()}})
}

// Status codes the gateway and its clients use.
const (
	CodeConnectSuccess  = "NetConnection.Connect.Success"
	CodeConnectRejected = "NetConnection.Connect.Rejected"
	CodePublishStart    = "NetStream.Publish.Start"
	CodePublishBadName  = "NetStream.Publish.BadName"
	CodePublishFailed   = "NetStream.Publish.Failed"
	CodeUnpublish       = "NetStream.Unpublish.Success"
	CodePlayFailed      = "NetStream.Play.Failed"
)

// AcceptConnect answers a connect command as a media server does: window
// acknowledgement size, peer bandwidth, this side's chunk size, then _result.
func (c *Conn) AcceptConnect(cmd *Command, chunkSize uint32) error {
	const window = 2_500_000
	if err := c.WriteWindowAckSize(window); err != nil {
		return err
	}
	if err := c.WriteSetPeerBandwidth(window, 2); err != nil {
		return err
	}
	if err := c.SetChunkSize(chunkSize); err != nil {
		return err
	}
	props := Object{{"fmsVer", "FMS/3,0,1,123"}, {"capabilities", 31.0}}
	info := Status{"status", CodeConnectSuccess, "Connection succeeded."}.object()
	info = append(info, Property{"objectEncoding", 0.0})
	return c.WriteCommand(0, &Command{Name: "_result", TransactionID: cmd.TransactionID, Object: props, Args: []any{info}})
}

// RejectConnect answers a connect command with _error NetConnection.Connect.Rejected.
func (c *Conn) RejectConnect(cmd *Command, description string) error {
	info := Status{"error", CodeConnectRejected, description}.object()
	return c.WriteCommand(0, &Command{Name: "_error", TransactionID: cmd.TransactionID, Args: []any{info}})
}

// Reply answers cmd with _result and the given arguments (after a null object).
func (c *Conn) Reply(streamID uint32, cmd *Command, args ...any) error {
	return c.WriteCommand(streamID, &Command{Name: "_result", TransactionID: cmd.TransactionID, Args: args})
}
