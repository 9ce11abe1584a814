package testfeed

import (
	"fmt"
	"strings"
)

// The time code: a strip of black and white blocks in the picture's top left
// corner carrying the wall-clock time, in milliseconds, at which ffmpeg let
// the frame through (after -re pacing, before encoding): the moment a camera
// would have captured it. A reader on the same machine subtracts it from its
// own clock at display to get the latency glass to glass (bench/latency,
// web/glass.mjs).
//
// Layout, in a 1280x720 frame (scale for other sizes, by width: a pattern of
// another Size draws it so):
// TimecodeBlocks blocks of TimecodeBlock pixels in rows of TimecodeRow,
// starting at (TimecodeX, TimecodeY), read left to right, top to bottom.
// Block 0 is always white and block 1 always black: a reader thresholds
// between the two. Blocks 2.. carry timecodeBits bits of the time modulo
// 2^timecodeBits, most significant first, then timecodeCheckBits bits of that
// value modulo timecodeCheck, so that a misread block is seen, not believed.
// Blocks of 48 pixels are 24 at 360p: wide enough to keep their centres
// through a 365 kbit/s encode.
const (
	TimecodeX      = 32
	TimecodeY      = 32
	TimecodeBlock  = 48
	TimecodeRow    = 16
	TimecodeBlocks = 2 + timecodeBits + timecodeCheckBits

	timecodeBits      = 24 // 4.6 hours of milliseconds
	timecodeCheckBits = 6
	timecodeCheck     = 61 // a prime below 2^6
)

// timecode is the -vf chain drawing the time code. ffmpeg's filters have no
// wall clock but setpts's RTCTIME, so the frame's timestamp becomes the wall
// clock in milliseconds while the blocks are drawn (drawbox's enable sees it
// as t), and the frame's own timestamp is given back after. With trace set
// the metadata filter prints each frame's number and that timestamp to
// file descriptor 3 (traceCaptures reads them).
func timecode(z Size, trace bool) string {
	const ms = "mod(floor(t*1000+0.5),16777216)" // 2^timecodeBits
	on := func(value string, bit int) string {
		return fmt.Sprintf("mod(floor(%s/%d),2)", value, 1<<bit)
	}
	block := z.scaled(TimecodeBlock)
	box := func(i int, enable string) string {
		x := z.scaled(TimecodeX + (i%TimecodeRow)*TimecodeBlock)
		y := z.scaled(TimecodeY + (i/TimecodeRow)*TimecodeBlock)
		s := fmt.Sprintf("drawbox=x=%d:y=%d:w=%d:h=%d:color=white:t=fill", x, y, block, block)
		if enable != "" {
			s += ":enable='" + enable + "'"
		}
		return s
	}
	rows := (TimecodeBlocks + TimecodeRow - 1) / TimecodeRow
	chain := []string{
		"settb=1/1000", "setpts=RTCTIME/1000",
		fmt.Sprintf("drawbox=x=%d:y=%d:w=%d:h=%d:color=black:t=fill", z.scaled(TimecodeX), z.scaled(TimecodeY), TimecodeRow*block, rows*block),
		box(0, ""),
	}
	if trace {
		// print mode prints only frames that carry the key
		chain = append(chain, "metadata=mode=add:key=capture:value=1", `metadata=mode=print:key=capture:file=pipe\\:3:direct=1`)
	}
	for b := range timecodeBits {
		chain = append(chain, box(2+b, on(ms, timecodeBits-1-b)))
	}
	check := fmt.Sprintf("mod(%s,%d)", ms, timecodeCheck)
	for b := range timecodeCheckBits {
		chain = append(chain, box(2+timecodeBits+b, on(check, timecodeCheckBits-1-b)))
	}
	chain = append(chain, fmt.Sprintf("settb=1/%d", framerate), "setpts=N")
	return strings.Join(chain, ",")
}

// DecodeTimecode reads the time code from a frame's luma plane (w x h,
// stride bytes a row): the wall clock in milliseconds modulo
// 2^24, and false if the blocks do not read as a code (the check fails, or
// the reference blocks are not apart). Package web's page does the same in
// JavaScript (web/glass.mjs); this one is for tests and tools.
func DecodeTimecode(luma []byte, w, h, stride int) (uint32, bool) {
	scale := float64(w) / width
	mean := func(i int) float64 {
		cx := (float64(TimecodeX) + (float64(i%TimecodeRow)+0.5)*TimecodeBlock) * scale
		cy := (float64(TimecodeY) + (float64(i/TimecodeRow)+0.5)*TimecodeBlock) * scale
		r := int(TimecodeBlock * scale / 4) // the centre half of the block
		sum, n := 0, 0
		for y := int(cy) - r; y < int(cy)+r; y++ {
			for x := int(cx) - r; x < int(cx)+r; x++ {
				if y >= 0 && y < h && x >= 0 && x < w {
					sum += int(luma[y*stride+x])
					n++
				}
			}
		}
		if n == 0 {
			return 0
		}
		return float64(sum) / float64(n)
	}
	white, black := mean(0), mean(1)
	if white-black < 64 {
		return 0, false
	}
	mid := (white + black) / 2
	var v, c uint32
	for b := range timecodeBits {
		v <<= 1
		if mean(2+b) > mid {
			v |= 1
		}
	}
	for b := range timecodeCheckBits {
		c <<= 1
		if mean(2+timecodeBits+b) > mid {
			c |= 1
		}
	}
	return v, c == v%timecodeCheck
}

// TimecodeLayout is the layout a reader in another language needs, as JSON.
type TimecodeLayout struct {
	Width     int `json:"width"` // of the frame the other figures are in
	X         int `json:"x"`
	Y         int `json:"y"`
	Block     int `json:"block"`
	Row       int `json:"row"`
	Blocks    int `json:"blocks"`
	Bits      int `json:"bits"`
	CheckBits int `json:"checkBits"`
	Check     int `json:"check"`
}

// Layout is the time code's layout.
func Layout() TimecodeLayout {
	return TimecodeLayout{Width: width, X: TimecodeX, Y: TimecodeY, Block: TimecodeBlock, Row: TimecodeRow,
		Blocks: TimecodeBlocks, Bits: timecodeBits, CheckBits: timecodeCheckBits, Check: timecodeCheck}
}
