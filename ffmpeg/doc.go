// Package ffmpeg owns what we know of the ffmpeg we run (5.1): the
// argument vector of a job's one ffmpeg and its encoder settings, the file
// names its muxers write (the one place drm and the transcoder ask), and
// the fix-ups its manifests need before players see them, and the
// arguments of the origin's storyboard ffmpeg. It is pure (no I/O, no
// processes) and imports only jobspec; running ffmpeg is the transcoder's
// job, and the origin's for a recording's storyboard.
package ffmpeg
