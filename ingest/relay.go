package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/ezlivestreaming/ezlive/rtmp"
)

// relay tells the encoder it is publishing, then copies its media to the
// transcoder and drains the transcoder's side, until either ends; then both
// are closed.
//
// release frees the stream key. It runs before the encoder's connection is
// closed and before the publisher stops counting in Stats.ActivePublishers,
// so an encoder that reconnects at once, or a client that sees no
// publisher, finds the key free.
func (g *Gateway) relay(c *rtmp.Conn, up *rtmp.Client, req publishRequest, target Target, release func(), log *slog.Logger) {
	defer up.Close()
	c.WriteUserControl(rtmp.EventStreamBegin, req.streamID)
	if err := c.WriteStatus(req.streamID, rtmp.Status{Level: "status", Code: rtmp.CodePublishStart, Description: "Publishing."}); err != nil {
		log.Info("encoder gone before relay", "err", err)
		return
	}
	g.accepted.Add(1)
	g.active.Add(1)
	defer g.active.Add(-1)
	start := time.Now()
	log.Info("ingest relaying", "transcoder", target.Addr)

	upDone := make(chan error, 1)
	go func() {
		err := drainTranscoder(up)
		release()
		c.Close() // the transcoder side ended: end the encoder's too
		upDone <- err
	}()
	err := g.copyMedia(c, up, log)
	release()
	c.Close()
	up.Close()
	upErr := <-upDone
	log.Info("ingest relay ended", "encoder_err", quiet(err), "transcoder_err", quiet(upErr),
		"seconds", int(time.Since(start).Seconds()), "bytes", c.BytesRead())
}

// copyMedia forwards audio, video and data messages with their timestamps on
// the transcoder's message stream, re-chunked at our chunk size. It returns
// nil when the encoder unpublishes. With log at debug level it traces each
// video frame (traceFrame).
func (g *Gateway) copyMedia(c *rtmp.Conn, up *rtmp.Client, log *slog.Logger) error {
	nc := c.NetConn()
	nc.SetDeadline(time.Time{})
	trace := log.Enabled(context.Background(), slog.LevelDebug)
	for {
		nc.SetReadDeadline(time.Now().Add(g.cfg.IdleTimeout))
		m, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if m.IsMedia() {
			in := time.Now()
			m.StreamID = up.StreamID
			if err := up.WriteMessage(m); err != nil {
				return err
			}
			if trace {
				traceFrame(log, m, in)
			}
			g.bytes.Add(uint64(len(m.Payload)))
			continue
		}
		if m.Type != rtmp.TypeCommandAMF0 && m.Type != rtmp.TypeCommandAMF3 {
			continue
		}
		cmd, err := rtmp.ParseCommand(m)
		if err != nil {
			return err
		}
		if cmd.IsUnpublish() {
			up.Unpublish()
			return nil
		}
	}
}

// traceFrame logs, for the latency trace (bench/latency), when a video
// frame (not a sequence header) arrived from the encoder and when it was
// passed on, on the wall clock, with its timestamp.
func traceFrame(log *slog.Logger, m *rtmp.Message, in time.Time) {
	if m.Type != rtmp.TypeVideo || len(m.Payload) < 2 || m.Payload[1] != 1 {
		return
	}
	log.Debug("trace: video frame relayed", "ts", m.Timestamp, "in_ms", in.UnixMilli(), "out_ms", time.Now().UnixMilli())
}

// drainTranscoder reads what the transcoder sends (acknowledgements, pings,
// status) so its window never stalls; an error status ends the relay.
func drainTranscoder(up *rtmp.Client) error {
	for {
		m, err := up.ReadMessage()
		if err != nil {
			return err
		}
		if m.Type != rtmp.TypeCommandAMF0 {
			continue
		}
		cmd, err := rtmp.ParseCommand(m)
		if err != nil {
			continue // a notification we do not need
		}
		if s := rtmp.StatusOf(cmd); cmd.Name == "onStatus" && s.Level == "error" {
			return errors.New("transcoder: " + s.Code + " " + s.Description)
		}
	}
}

// quiet drops the errors every ending produces, so logs show only real causes.
func quiet(err error) any {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err.Error()
}
