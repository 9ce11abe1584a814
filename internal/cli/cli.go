// Package cli wires the ezlive subcommands: it reads flags (with EZLIVE_*
// environment fallbacks), builds the components and runs them. It is the
// only place that knows how the parts fit together; it holds no logic of its own.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// command is one subcommand; flags, when set, builds its flag set (for
// FlagNames and EnvNames: the servers' flags are checked against files).
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
	flags   func() *flagSet
}

func commands() map[string]command {
	return map[string]command{
		"dev":        {"run the whole platform on this machine (API, scheduler, local transcoders, origin)", runDev, flagsOnly(devFlags)},
		"api":        {"run the HTTP API server", runAPI, flagsOnly(apiFlags)},
		"scheduler":  {"run a scheduler (local or Nomad driver)", runScheduler, flagsOnly(schedulerFlags)},
		"transcoder": {"run one job's transcoder (started by a driver)", runTranscoder, flagsOnly(transcoderFlags)},
		"origin":     {"run the origin that receives and serves segments", runOrigin, flagsOnly(originFlags)},
		"ingest":     {"run the RTMP ingest gateway: one stable, authenticated URL per stream key", runIngest, flagsOnly(ingestFlags)},
		"jobs":       {"manage live jobs: create -f FILE | list | get ID | stop ID | resume ID | delete ID | rotate-key ID", runJobs, nil},
		"push":       {"push a test pattern into a job's ingest: push ID", runPush, nil},
	}
}

// flagsOnly adapts a subcommand's flag constructor to command.flags.
func flagsOnly[T any](build func() (*flagSet, T)) func() *flagSet {
	return func() *flagSet {
		fs, _ := build()
		return fs
	}
}

func flagsOf(name string) *flagSet {
	if c, ok := commands()[name]; ok && c.flags != nil {
		return c.flags()
	}
	return nil
}

// Main runs the subcommand named by args[0] and returns the exit status.
func Main(args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(os.Stdout, cmds)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "ezlive: unknown command %q\n\n", args[0])
		usage(os.Stderr, cmds)
		return 2
	}
	if err := loadEnvFile(); err != nil {
		fmt.Fprintf(os.Stderr, "ezlive: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, args[1:])
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		return int(exit)
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "ezlive %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(os.Stderr, "ezlive %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: ezlive COMMAND [flags]   (ezlive COMMAND -h for its flags)")
	fmt.Fprintln(w)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
}

// exitError ends the process with a given status and no message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a bad command line: it names the flag or argument.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// flagSet is a subcommand's flags. Every flag may also come from an
// environment variable, named in its help text; the command line wins.
type flagSet struct {
	*flag.FlagSet
	env map[string]string // flag name → environment variable
}

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet("ezlive "+name, flag.ContinueOnError)
	return &flagSet{FlagSet: fs, env: map[string]string{}}
}

func (fs *flagSet) String(name, env, def, help string) *string {
	fs.env[name] = env
	return fs.FlagSet.String(name, def, withEnv(help, env))
}

func (fs *flagSet) Bool(name, env string, def bool, help string) *bool {
	fs.env[name] = env
	return fs.FlagSet.Bool(name, def, withEnv(help, env))
}

func withEnv(help, env string) string {
	if env == "" {
		return help
	}
	return help + " (env " + env + ")"
}

// parse applies environment fallbacks, then the command line. A bad value in
// either names the flag (and the variable).
func (fs *flagSet) parse(args []string) error {
	for name, env := range fs.env {
		v, ok := os.LookupEnv(env)
		if env == "" || !ok {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return usagef("invalid value %q for -%s from %s: %v", v, name, env, err)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// isSet reports whether flag name was given, on the command line or
// through its environment variable.
func (fs *flagSet) isSet(name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// FlagNames lists every flag of every subcommand, for checks of operator
// files that must use only real flags (nomad/*.nomad.hcl).
func FlagNames() map[string][]string {
	out := map[string][]string{}
	for name := range commands() {
		fs := flagsOf(name)
		if fs == nil {
			continue
		}
		fs.VisitAll(func(f *flag.Flag) { out[name] = append(out[name], f.Name) })
		sort.Strings(out[name])
	}
	return out
}

// EnvNames lists every environment variable the subcommands read, for checks
// of files that set them (terraform's node settings file).
func EnvNames() map[string]bool {
	out := map[string]bool{"EZLIVE_ENV_FILE": true}
	for name := range commands() {
		if fs := flagsOf(name); fs != nil {
			for _, env := range fs.env {
				if env != "" {
					out[env] = true
				}
			}
		}
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (fs *flagSet) Duration(name, env string, def time.Duration, help string) *time.Duration {
	fs.env[name] = env
	return fs.FlagSet.Duration(name, def, withEnv(help, env))
}

func (fs *flagSet) Int(name, env string, def int, help string) *int {
	fs.env[name] = env
	return fs.FlagSet.Int(name, def, withEnv(help, env))
}

func (fs *flagSet) Float64(name, env string, def float64, help string) *float64 {
	fs.env[name] = env
	return fs.FlagSet.Float64(name, def, withEnv(help, env))
}

// defaultEnvFile is where a node's settings live on machines provisioned by
// terraform/ (Redis address and password, queue URL, origin URL), so that
// secrets stay out of Nomad job specifications.
const defaultEnvFile = "/etc/ezlive/ezlive.env"

// loadEnvFile sets KEY=VALUE lines from EZLIVE_ENV_FILE (default
// /etc/ezlive/ezlive.env, when it exists) as environment variables, without
// overriding variables already set.
func loadEnvFile() error {
	path, explicit := os.LookupEnv("EZLIVE_ENV_FILE")
	if !explicit {
		path = defaultEnvFile
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("EZLIVE_ENV_FILE: %w", err)
	}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return fmt.Errorf("%s:%d: not KEY=VALUE", path, n+1)
		}
		if _, set := os.LookupEnv(key); !set {
			os.Setenv(strings.TrimSpace(key), strings.Trim(strings.TrimSpace(value), `"'`))
		}
	}
	return nil
}
