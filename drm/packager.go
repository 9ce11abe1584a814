package drm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sync"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/origin"
)

// jobCacheTTL bounds how long a job's protection and key are reused
// without asking Redis; both never change for a job, so this only bounds
// memory for jobs that went away.
const jobCacheTTL = time.Minute

// maxInits bounds the remembered init segments; past it the map is reset
// and entries are rebuilt from the stored (encrypted) init segments.
const maxInits = 4096

// maxHeld bounds the media segments held for one init segment that has not
// arrived; ffmpeg sends one before its init.
const maxHeld = 4

// JobSource reads job records (store.Store does).
type JobSource interface {
	Job(ctx context.Context, id string) (*jobspec.LiveJob, error)
}

// Packager encrypts a DRM job's files as the origin stores them: init
// segments get tenc/pssh, media segments are encrypted sample by sample (or
// whole, for HLS mpegts), manifests get the key signalling. Its method set
// is origin.Encrypter. Jobs without a Drm block pass through untouched.
type Packager struct {
	Keys *KeyService
	Jobs JobSource
	// LicenseBaseURL is the API's public base URL, e.g.
	// http://127.0.0.1:1080; manifests point players at
	// <base>/drm/clearkey/<job id>?token= and <base>/drm/key/<job id>?token=
	// with the viewer token's marker, which the origin replaces.
	LicenseBaseURL string
	Log            *slog.Logger

	mu      sync.Mutex
	jobs    map[string]jobEntry
	inits   map[string]*mp4.InitProtectData // "<job id>/<init file>"
	pending map[string][]origin.Upload      // "<job id>/<init file>" → segments waiting for it
}

type jobEntry struct {
	prot    *Protection // nil: not a DRM job
	key     *JobKey
	expires time.Time
}

// Protected reports whether jobID's outputs are encrypted. An unknown job
// is not protected (the origin's Authorizer refuses its writes anyway).
func (p *Packager) Protected(ctx context.Context, jobID string) (bool, error) {
	e, err := p.job(ctx, jobID)
	if err != nil {
		return false, err
	}
	return e.prot != nil, nil
}

// Encrypt returns the files to store for one clear upload (origin.Upload):
// its ciphertext, or nothing when it is a media segment whose init segment
// has not arrived yet. ffmpeg's dash muxer writes a representation's init
// segment only after its first media segment (the moov waits for the codec
// configuration), and the init's sample descriptions are needed to encrypt
// video; such a segment is held in memory and returned with its init.
func (p *Packager) Encrypt(ctx context.Context, u origin.Upload) ([]origin.File, error) {
	e, err := p.job(ctx, u.JobID)
	if err != nil {
		return nil, err
	}
	if e.prot == nil {
		return []origin.File{{Name: u.File, Data: u.Clear}}, nil
	}
	k := e.key
	var out []byte
	switch path.Ext(u.File) {
	case ".mpd":
		out, err = p.rewriteMPD(u.Clear, u.JobID, k)
	case ".m3u8":
		out = p.rewriteM3U8(u.Clear, u.JobID, k)
	case ".ts":
		if k.Scheme != SchemeAES128 {
			return nil, fmt.Errorf("encrypt %s: mpegts segment in a %s job", u.File, k.Scheme)
		}
		out, err = EncryptSegmentAES128(u.Clear, k.Key[:], k.IV[:])
	case ".mp4":
		return p.encryptInit(u, k)
	case ".m4s", ".cmfv", ".cmfa":
		return p.encryptMedia(u, k)
	default:
		out = u.Clear // not media (e.g. a subtitle): nothing to protect
	}
	if err != nil {
		return nil, fmt.Errorf("encrypt %s of job %s: %w", u.File, u.JobID, err)
	}
	return []origin.File{{Name: u.File, Data: out}}, nil
}

// job returns the cached protection and key of jobID, creating the key on
// the job's first protected upload.
func (p *Packager) job(ctx context.Context, jobID string) (jobEntry, error) {
	now := time.Now()
	p.mu.Lock()
	e, ok := p.jobs[jobID]
	p.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	e, err := p.loadJob(ctx, jobID)
	if err != nil {
		return jobEntry{}, err
	}
	e.expires = now.Add(jobCacheTTL)
	p.mu.Lock()
	if p.jobs == nil || len(p.jobs) > maxInits {
		p.jobs = make(map[string]jobEntry)
	}
	p.jobs[jobID] = e
	p.mu.Unlock()
	return e, nil
}

func (p *Packager) loadJob(ctx context.Context, jobID string) (jobEntry, error) {
	job, err := p.Jobs.Job(ctx, jobID)
	if jobspec.ErrorCode(err) == jobspec.ENOTFOUND {
		return jobEntry{}, nil
	}
	if err != nil {
		return jobEntry{}, fmt.Errorf("read job %s: %w", jobID, err)
	}
	prot, ok := ProtectionFor(job.Spec.Output)
	if !ok {
		return jobEntry{}, nil
	}
	k, err := p.Keys.Ensure(ctx, jobID, prot)
	if err != nil {
		return jobEntry{}, err
	}
	return jobEntry{prot: &prot, key: k}, nil
}

// ProtectionFor returns what o's Drm block asks for; ok is false without one.
// The spec must be validated (jobspec.Validate refuses what we cannot do).
func ProtectionFor(o jobspec.Output) (Protection, bool) {
	if o.Drm == nil {
		return Protection{}, false
	}
	p := Protection{Scheme: jobspec.DrmScheme(o), NoClearKey: bool(o.Drm.Disable_clear_key)}
	if sys, ok := SystemFor(o.Drm.Protection_system); ok && sys != SystemClearKey {
		p.Systems = []SystemID{sys}
	}
	return p, true
}

// encryptInit protects an init segment and releases the media segments
// that were waiting for it.
func (p *Packager) encryptInit(u origin.Upload, k *JobKey) ([]origin.File, error) {
	out, ipd, err := EncryptInit(u.Clear, k)
	if err != nil {
		return nil, fmt.Errorf("encrypt %s of job %s: %w", u.File, u.JobID, err)
	}
	name := u.JobID + "/" + u.File
	p.mu.Lock()
	if p.inits == nil || len(p.inits) >= maxInits {
		p.inits = make(map[string]*mp4.InitProtectData)
	}
	p.inits[name] = ipd
	waiting := p.pending[name]
	delete(p.pending, name)
	p.mu.Unlock()
	files := []origin.File{{Name: u.File, Data: out}}
	for _, w := range waiting {
		enc, err := EncryptMedia(w.Clear, k, ipd)
		if err != nil {
			p.logger().Error("drm: encrypt held segment failed", "job_id", u.JobID, "path", w.File, "err", err)
			continue
		}
		files = append(files, origin.File{Name: w.File, Data: enc})
	}
	return files, nil
}

// encryptMedia protects a media segment, or holds it until its init
// segment arrives.
func (p *Packager) encryptMedia(u origin.Upload, k *JobKey) ([]origin.File, error) {
	initName, ok := InitSegmentFor(u.File)
	if !ok {
		return nil, fmt.Errorf("encrypt %s of job %s: cannot tell its init segment from the name", u.File, u.JobID)
	}
	ipd, err := p.initData(u, initName)
	if errors.Is(err, fs.ErrNotExist) {
		p.hold(u.JobID+"/"+initName, u)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out, err := EncryptMedia(u.Clear, k, ipd)
	if err != nil {
		return nil, fmt.Errorf("encrypt %s of job %s: %w", u.File, u.JobID, err)
	}
	return []origin.File{{Name: u.File, Data: out}}, nil
}

// initData returns the protection data of the init segment initName: the
// one remembered from its upload, or read back from the stored (encrypted)
// init after the origin restarted.
func (p *Packager) initData(u origin.Upload, initName string) (*mp4.InitProtectData, error) {
	key := u.JobID + "/" + initName
	p.mu.Lock()
	ipd := p.inits[key]
	p.mu.Unlock()
	if ipd != nil {
		return ipd, nil
	}
	raw, err := u.Stored(initName)
	if err != nil {
		return nil, err
	}
	ipd, err = ProtectData(raw)
	if err != nil {
		return nil, fmt.Errorf("encrypt %s of job %s: init %s: %w", u.File, u.JobID, initName, err)
	}
	p.mu.Lock()
	if p.inits == nil || len(p.inits) >= maxInits {
		p.inits = make(map[string]*mp4.InitProtectData)
	}
	p.inits[key] = ipd
	p.mu.Unlock()
	return ipd, nil
}

// hold keeps u until init arrives; past maxHeld per init the oldest is
// dropped (an init that never comes must not grow memory forever).
func (p *Packager) hold(init string, u origin.Upload) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil || len(p.pending) >= maxInits {
		p.pending = make(map[string][]origin.Upload)
	}
	q := append(p.pending[init], origin.Upload{File: u.File, Clear: u.Clear})
	if len(q) > maxHeld {
		q = q[len(q)-maxHeld:]
	}
	p.pending[init] = q
}

func (p *Packager) logger() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// InitSegmentFor names the init segment of a media segment, in its
// directory, as ffmpeg.InitSegmentFor names it.
func InitSegmentFor(file string) (string, bool) {
	dir, base := path.Split(file)
	name, ok := ffmpeg.InitSegmentFor(base)
	if !ok {
		return "", false
	}
	return dir + name, true
}
