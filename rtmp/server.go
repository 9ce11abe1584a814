package rtmp

import (
	"errors"
	"fmt"
)

// PublishRequest is what an encoder asked for by the time it sends publish.
type PublishRequest struct {
	StreamID uint32 // the message stream its media comes on
	Key      string // the publish name without its query: the stream key
}

// Refusal kinds: why AwaitPublish turned an encoder away.
const (
	RefusedBadApp   = "bad_app"   // connect to another application than the one served
	RefusedEmptyKey = "empty_key" // publish with no name
	RefusedBadKey   = "bad_key"   // a name that is not the stream key asked for
	RefusedPlay     = "play"      // a player, not an encoder
)

// Refusal is an encoder turned away during negotiation: the answer to send
// (a connect _error when Connect is set, else an onStatus with Code) and
// why.
type Refusal struct {
	Kind    string
	Code    string
	Desc    string
	Connect *Command
	App     string // the application asked for, when Kind is RefusedBadApp
	Err     error
}

func (r *Refusal) Error() string { return r.Kind + ": " + r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

// Answer tells the encoder why it is turned away, on message stream
// streamID; errors are the connection's (the encoder may be gone).
func (r *Refusal) Answer(c *Conn, streamID uint32) error {
	if r.Connect != nil {
		return c.RejectConnect(r.Connect, r.Desc)
	}
	return c.WriteStatus(streamID, Status{Level: "error", Code: r.Code, Description: r.Desc})
}

// AwaitPublish answers an encoder's commands up to publish, after the
// handshake: connect (to application app), releaseStream, FCPublish and
// createStream, in any order OBS or ffmpeg send them. The key is not
// checked: the caller decides. A *Refusal is returned for an encoder that
// must be told why it is turned away.
func AwaitPublish(c *Conn, app string, chunkSize uint32) (PublishRequest, error) {
	connected := false
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return PublishRequest{}, fmt.Errorf("before publish: %w", err)
		}
		if m.IsMedia() {
			return PublishRequest{}, fmt.Errorf("%w: media before publish", ErrProtocol)
		}
		if m.Type != TypeCommandAMF0 && m.Type != TypeCommandAMF3 {
			continue
		}
		cmd, err := ParseCommand(m)
		if err != nil {
			return PublishRequest{}, err
		}
		if !connected && cmd.Name != "connect" {
			return PublishRequest{}, fmt.Errorf("%w: %s before connect", ErrProtocol, cmd.Name)
		}
		done, req, err := answerBeforePublish(c, m, cmd, app, chunkSize)
		if err != nil || done {
			return req, err
		}
		connected = true
	}
}

func answerBeforePublish(c *Conn, m *Message, cmd *Command, app string, chunkSize uint32) (bool, PublishRequest, error) {
	switch cmd.Name {
	case "connect":
		return false, PublishRequest{}, acceptApp(c, cmd, app, chunkSize)
	case "releaseStream", "FCPublish", "_checkbw":
		if cmd.TransactionID != 0 {
			return false, PublishRequest{}, c.Reply(0, cmd, nil)
		}
	case "createStream":
		return false, PublishRequest{}, c.Reply(0, cmd, 1.0)
	case "publish":
		name, _ := cmd.Arg(0).(string)
		key := StripQuery(name)
		if key == "" {
			return true, PublishRequest{}, KeyRefusal(RefusedEmptyKey, errors.New("empty stream key"))
		}
		return true, PublishRequest{StreamID: m.StreamID, Key: key}, nil
	case "play":
		return true, PublishRequest{}, &Refusal{Kind: RefusedPlay, Code: CodePlayFailed, Desc: "this is an ingest endpoint: publish only", Err: errors.New("play requested")}
	}
	if cmd.IsUnpublish() {
		return true, PublishRequest{}, errors.New("encoder left before publishing")
	}
	return false, PublishRequest{}, nil
}

// KeyRefusal turns away a publish whose stream key is empty or not known
// (kind RefusedEmptyKey or RefusedBadKey), telling the encoder
// NetStream.Publish.BadName.
func KeyRefusal(kind string, err error) *Refusal {
	return &Refusal{Kind: kind, Code: CodePublishBadName, Desc: "stream key not recognised", Err: err}
}

func acceptApp(c *Conn, cmd *Command, app string, chunkSize uint32) error {
	obj, _ := cmd.Object.(Object)
	got := StripQuery(obj.String("app"))
	if got != app && got != app+"/" {
		desc := fmt.Sprintf("unknown application %q: publish to rtmp://<host>/%s/<stream key>", got, app)
		// The encoder is told its app; the error (for logs) does not carry
		// it, as an app is often a stream key in the wrong place: a caller
		// that logs it masks Refusal.App.
		return &Refusal{Kind: RefusedBadApp, Desc: desc, Connect: cmd, App: got, Err: errors.New("connect to an unknown application")}
	}
	return c.AcceptConnect(cmd, chunkSize)
}
