package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/ingestdev/ingest/controlplane/client"
)

// DefaultServer is the control plane's default admin address (ingest controlplane
// --admin-listen defaults to :9090).
const DefaultServer = "http://localhost:9090"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line is wrong
)

// app is one invocation: its streams, environment and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	isTTY          func() bool // whether stdin is a terminal a person can answer on
	outTTY         func() bool // whether stdout is a terminal (progress redraws in place); nil: no
	hostname       func() (string, error)

	server, token, output string
	yes                   bool

	stdinBuf *bufio.Reader
}

// usageError is a wrong command line: exit code 2 and a pointer to help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// run is main without the process: it parses args, runs one command and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{
		stdin: stdin, stdout: stdout, stderr: stderr,
		getenv:   os.Getenv,
		isTTY:    func() bool { return isTerminal(stdin) },
		outTTY:   func() bool { return isTerminal(stdout) },
		hostname: os.Hostname,
	}
	return a.run(ctx, args)
}

// isTerminal reports whether stream (stdin or stdout) is a terminal: a character device that
// is not /dev/null (what CI and `</dev/null` give) and, on Linux, answers the terminal ioctl.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(st, null) {
		return false
	}
	return hasTermios(f.Fd())
}

// globalFlags registers the flags every command accepts.
func (a *app) globalFlags(fs *flag.FlagSet) {
	server := a.getenv("INGEST_SERVER")
	if server == "" {
		server = DefaultServer
	}
	fs.StringVar(&a.server, "server", server, "control plane admin API `URL` (env INGEST_SERVER)")
	fs.StringVar(&a.token, "token", a.getenv("INGEST_TOKEN"), "admin `token` (env INGEST_TOKEN)")
	fs.StringVar(&a.output, "o", "table", "output `format`: table or json")
	fs.StringVar(&a.output, "output", "table", "output `format`: table or json")
	fs.BoolVar(&a.yes, "yes", false, "do not ask for confirmation")
	fs.BoolVar(&a.yes, "y", false, "do not ask for confirmation")
}

func (a *app) run(ctx context.Context, args []string) int {
	// Global flags may come before the command too.
	fs := flag.NewFlagSet("ingestctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(a.stdout)
			return exitOK
		}
		fmt.Fprintf(a.stderr, "ingestctl: %v\n\n", err)
		a.usage(a.stderr)
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		w := a.stdout
		if len(rest) == 0 {
			w = a.stderr
		}
		a.usage(w)
		if len(rest) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, args, err := findCommand(rest)
	if err != nil {
		fmt.Fprintf(a.stderr, "ingestctl: %v\n\nRun 'ingestctl help' for the commands.\n", err)
		return exitUsage
	}
	cfs := flag.NewFlagSet("ingestctl "+cmd.path(), flag.ContinueOnError)
	cfs.SetOutput(io.Discard)
	// Re-register the globals with the values parsed so far as defaults.
	a.globalFlagsFrom(cfs)
	runCmd := cmd.setup(cfs)
	pos, err := parseInterspersed(cfs, args)
	if errors.Is(err, flag.ErrHelp) {
		a.commandUsage(a.stdout, cmd, cfs)
		return exitOK
	}
	if err == nil {
		err = checkArgs(cmd, pos)
	}
	if err == nil && a.output != "table" && a.output != "json" {
		err = usagef("-o %q: want table or json", a.output)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "ingestctl %s: %v\n\n", cmd.path(), err)
		a.commandUsage(a.stderr, cmd, cfs)
		return exitUsage
	}
	if err := runCmd(ctx, a, pos); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(a.stderr, "ingestctl %s: %v\n\n", cmd.path(), err)
			a.commandUsage(a.stderr, cmd, cfs)
			return exitUsage
		}
		fmt.Fprintf(a.stderr, "ingestctl: %v\n", err)
		return exitError
	}
	return exitOK
}

// globalFlagsFrom registers the global flags on fs with the current values as defaults.
func (a *app) globalFlagsFrom(fs *flag.FlagSet) {
	server, token, output, yes := a.server, a.token, a.output, a.yes
	fs.StringVar(&a.server, "server", server, "control plane admin API `URL` (env INGEST_SERVER)")
	fs.StringVar(&a.token, "token", token, "admin `token` (env INGEST_TOKEN)")
	fs.StringVar(&a.output, "o", output, "output `format`: table or json")
	fs.StringVar(&a.output, "output", output, "output `format`: table or json")
	fs.BoolVar(&a.yes, "yes", yes, "do not ask for confirmation")
	fs.BoolVar(&a.yes, "y", yes, "do not ask for confirmation")
}

// isGlobalFlag reports whether name is one of the flags every command accepts.
func isGlobalFlag(name string) bool {
	switch name {
	case "server", "token", "o", "output", "yes", "y":
		return true
	}
	return false
}

// parseInterspersed parses flags anywhere among the positional arguments ("tenants get acme
// -o json"). "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func checkArgs(cmd *command, pos []string) error {
	if len(pos) < len(cmd.args) || len(pos) > len(cmd.args)+len(cmd.optArgs) {
		return usagef("want %s, got %d argument(s)", cmd.argsUsage(), len(pos))
	}
	return nil
}

// client returns the API client for the global flags (opts: more options, e.g. a longer
// timeout).
func (a *app) client(opts ...client.Option) (*client.Client, error) {
	if a.token == "" {
		return nil, errors.New("no admin token: pass --token or set INGEST_TOKEN to the token the control plane was started with (its --admin-token-file or INGEST_ADMIN_TOKEN)")
	}
	return client.New(a.server, a.token, append([]client.Option{client.WithActor(a.actor())}, opts...)...)
}

// actor is who the audit log records: $USER@hostname.
func (a *app) actor() string {
	user := a.getenv("USER")
	if user == "" {
		user = "unknown"
	}
	host, err := a.hostname()
	if err != nil || host == "" {
		return user
	}
	return user + "@" + host
}

// confirm asks a yes/no question on stdin, unless --yes. When stdin is not a terminal and
// --yes is not given it refuses, saying to pass --yes.
func (a *app) confirm(question string) error {
	if a.yes {
		return nil
	}
	if !a.isTTY() {
		return fmt.Errorf("%s: this needs confirmation, and stdin is not a terminal; pass --yes to confirm", question)
	}
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	if a.stdinBuf == nil {
		a.stdinBuf = bufio.NewReader(a.stdin)
	}
	line, err := a.stdinBuf.ReadString('\n')
	if err != nil && line == "" {
		return errors.New("no answer: aborted (pass --yes to skip the question)")
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("aborted: nothing changed")
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ingestctl [--server URL] [--token TOKEN] [-o table|json] [--yes] <command> [args] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		if c.hidden {
			continue
		}
		fmt.Fprintf(w, "  %-44s %s\n", c.path()+" "+c.argsUsage(), c.summary)
	}
	fmt.Fprintf(w, `
global flags (before or after the command):
  --server URL     control plane admin API (env INGEST_SERVER, default %s)
  --token TOKEN    admin token (env INGEST_TOKEN)
  -o table|json    output format (default table)
  --yes, -y        do not ask for confirmation

Run 'ingestctl <command> -h' for a command's flags.
`, DefaultServer)
}

func (a *app) commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: ingestctl %s %s [flags]\n\n%s\n", c.path(), c.argsUsage(), c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", c.help)
	}
	var own []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !isGlobalFlag(f.Name) {
			own = append(own, f)
		}
	})
	sort.Slice(own, func(i, j int) bool { return own[i].Name < own[j].Name })
	if len(own) > 0 {
		fmt.Fprintln(w, "\nflags:")
		for _, f := range own {
			name, usage := flag.UnquoteUsage(f)
			line := "  --" + f.Name
			if name != "" {
				line += " " + name
			}
			fmt.Fprintf(w, "%-30s %s", line, usage)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, "\nglobal flags: --server, --token, -o table|json, --yes (see 'ingestctl help')")
}
