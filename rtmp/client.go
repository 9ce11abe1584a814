package rtmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Client is the publishing side of an RTMP connection: what an encoder does,
// and what the gateway does towards a transcoder.
type Client struct {
	*Conn
	StreamID   uint32 // message stream of the publish, from createStream
	streamName string
	txid       float64
}

// ErrRefused is wrapped when the server answers a command with an error.
var ErrRefused = errors.New("rtmp server refused")

// Dial connects to addr and performs the client handshake. The context
// bounds the dial and the handshake.
func Dial(ctx context.Context, addr string, limits Limits) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if err := ClientHandshake(nc); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return &Client{Conn: NewConn(nc, limits)}, nil
}

// DialPublish dials addr and publishes streamName on app in the order OBS and
// ffmpeg use: connect, releaseStream, FCPublish, createStream, publish. It
// returns once the server has answered NetStream.Publish.Start.
func DialPublish(ctx context.Context, addr, app, streamName string, chunkSize uint32) (*Client, error) {
	c, err := Dial(ctx, addr, Limits{})
	if err != nil {
		return nil, err
	}
	if err := c.publishSequence(ctx, addr, app, streamName, chunkSize); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) publishSequence(ctx context.Context, addr, app, streamName string, chunkSize uint32) error {
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
		defer c.nc.SetDeadline(time.Time{})
	}
	if err := c.SetChunkSize(chunkSize); err != nil {
		return err
	}
	if err := c.Connect(app, "rtmp://"+addr+"/"+app); err != nil {
		return err
	}
	for _, name := range []string{"releaseStream", "FCPublish"} {
		if err := c.Call(name, streamName); err != nil {
			return err
		}
	}
	if err := c.CreateStream(); err != nil {
		return err
	}
	return c.Publish(streamName)
}

// Connect sends connect for app and waits for its _result.
func (c *Client) Connect(app, tcURL string) error {
	obj := Object{{"app", app}, {"type", "nonprivate"}, {"flashVer", "FMLE/3.0 (compatible; ezlive)"}, {"tcUrl", tcURL}}
	reply, err := c.roundTrip(&Command{Name: "connect", Object: obj})
	if err != nil {
		return err
	}
	if reply.Name != "_result" {
		s := StatusOf(reply)
		return fmt.Errorf("connect %s: %w: %s %s", app, ErrRefused, s.Code, s.Description)
	}
	return nil
}

// Call sends a command with a null object and the given arguments and does
// not wait for a reply (releaseStream, FCPublish, FCUnpublish).
func (c *Client) Call(name string, args ...any) error {
	c.txid++
	return c.WriteCommand(0, &Command{Name: name, TransactionID: c.txid, Args: args})
}

// CreateStream sends createStream and records the message stream ID it gets.
func (c *Client) CreateStream() error {
	reply, err := c.roundTrip(&Command{Name: "createStream"})
	if err != nil {
		return err
	}
	id, ok := reply.Arg(0).(float64)
	if reply.Name != "_result" || !ok {
		return fmt.Errorf("createStream: %w: %s", ErrRefused, reply.Name)
	}
	c.StreamID = uint32(id)
	return nil
}

// Publish sends publish(streamName, "live") and waits for onStatus.
func (c *Client) Publish(streamName string) error {
	c.txid++
	cmd := &Command{Name: "publish", TransactionID: c.txid, Args: []any{streamName, "live"}}
	if err := c.WriteCommand(c.StreamID, cmd); err != nil {
		return err
	}
	for {
		reply, err := c.readCommand()
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if reply.Name != "onStatus" && reply.Name != "_error" {
			continue
		}
		s := StatusOf(reply)
		if s.Code == CodePublishStart {
			c.streamName = streamName
			return nil
		}
		if s.Level == "error" || reply.Name == "_error" {
			return fmt.Errorf("publish: %w: %s %s", ErrRefused, s.Code, s.Description)
		}
	}
}

// Unpublish tells the server the stream ends (FCUnpublish, deleteStream),
// as encoders do before closing.
func (c *Client) Unpublish() error {
	if err := c.Call("FCUnpublish", c.streamName); err != nil {
		return err
	}
	return c.Call("deleteStream", float64(c.StreamID))
}

// roundTrip sends cmd with a fresh transaction ID and waits for the
// _result or _error with that ID, skipping everything else.
func (c *Client) roundTrip(cmd *Command) (*Command, error) {
	c.txid++
	cmd.TransactionID = c.txid
	if err := c.WriteCommand(0, cmd); err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.Name, err)
	}
	for {
		reply, err := c.readCommand()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cmd.Name, err)
		}
		if (reply.Name == "_result" || reply.Name == "_error") && reply.TransactionID == cmd.TransactionID {
			return reply, nil
		}
		if reply.Name == "onStatus" && StatusOf(reply).Level == "error" {
			s := StatusOf(reply)
			return nil, fmt.Errorf("%s: %w: %s %s", cmd.Name, ErrRefused, s.Code, s.Description)
		}
	}
}

func (c *Client) readCommand() (*Command, error) {
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return nil, err
		}
		if m.Type != TypeCommandAMF0 && m.Type != TypeCommandAMF3 {
			continue
		}
		// Servers send odd notifications (ffmpeg's listener sends a bare
		// name); only the replies waited for need to parse.
		if cmd, err := ParseCommand(m); err == nil {
			return cmd, nil
		}
	}
}

// StripQuery returns a publish name without its query string (encoders
// append "?key=value" parameters the server may ignore).
func StripQuery(name string) string {
	name, _, _ = strings.Cut(name, "?")
	return name
}
