package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Shell completion is generated from the command table, so it lists exactly the commands and
// flags ingestctl has. Tenant ids are completed by calling `ingestctl tenants list -q`, replay
// ids by `ingestctl replay list -q`.

type boolFlag interface{ IsBoolFlag() bool }

// commandFlags returns the flag names (with dashes) of a command, and those that take a value.
func commandFlags(c *command) (all, withValue []string) {
	fs := flag.NewFlagSet(c.path(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a := &app{getenv: func(string) string { return "" }}
	a.globalFlags(fs)
	c.setup(fs)
	fs.VisitAll(func(f *flag.Flag) {
		name := "--" + f.Name
		if len(f.Name) == 1 {
			name = "-" + f.Name
		}
		all = append(all, name)
		if b, ok := f.Value.(boolFlag); !ok || !b.IsBoolFlag() {
			withValue = append(withValue, name)
		}
	})
	sort.Strings(all)
	sort.Strings(withValue)
	return all, withValue
}

func bashCompletion() string {
	var b strings.Builder
	groups := map[string][]string{}
	var groupOrder []string
	valueFlags := map[string]bool{}
	for _, c := range commands() {
		if _, ok := groups[c.group]; !ok {
			groupOrder = append(groupOrder, c.group)
			groups[c.group] = nil
		}
		if c.name != "" {
			groups[c.group] = append(groups[c.group], c.name)
		}
		_, wv := commandFlags(c)
		for _, f := range wv {
			valueFlags[f] = true
		}
	}
	vf := make([]string, 0, len(valueFlags))
	for f := range valueFlags {
		vf = append(vf, f)
	}
	sort.Strings(vf)
	var noOutput []string
	for _, f := range vf {
		if f != "-o" && f != "--output" {
			noOutput = append(noOutput, f)
		}
	}

	fmt.Fprintf(&b, `# bash completion for ingestctl; load with: source <(ingestctl completion bash)
_ingestctl_tenants() {
    ingestctl tenants list -q 2>/dev/null
}
_ingestctl_replays() {
    ingestctl replay list -q 2>/dev/null
}

_ingestctl() {
    local cur prev
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    case "$prev" in
        -o|--output) COMPREPLY=($(compgen -W "table json" -- "$cur")); return ;;
        %s) COMPREPLY=(); return ;;
    esac
    # The words so far without flags and their values.
    local -a words=()
    local i w skip=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        if ((skip)); then skip=0; continue; fi
        case "$w" in
            %s) skip=1; continue ;;
            -*) continue ;;
        esac
        words+=("$w")
    done
    local n=${#words[@]}
    local cmd="${words[0]} ${words[1]}"
`, strings.Join(noOutput, "|"), strings.Join(vf, "|"))

	fmt.Fprintf(&b, "    if [[ \"$cur\" == -* ]]; then\n        case \"$cmd\" in\n")
	for _, c := range commands() {
		all, _ := commandFlags(c)
		pattern := fmt.Sprintf("%q", c.group+" "+c.name)
		if c.name == "" {
			pattern = fmt.Sprintf("%q*", c.group+" ") // any words after the group
		}
		fmt.Fprintf(&b, "            %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", pattern, strings.Join(all, " "))
	}
	fmt.Fprintf(&b, "        esac\n        COMPREPLY=($(compgen -W \"--server --token -o --output --yes -y\" -- \"$cur\")); return\n    fi\n")

	fmt.Fprintf(&b, "    if ((n == 0)); then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(append(groupOrder, "help"), " "))
	fmt.Fprintf(&b, "    if ((n == 1)); then\n        case \"${words[0]}\" in\n")
	for _, g := range groupOrder {
		if subs := groups[g]; len(subs) > 0 {
			fmt.Fprintf(&b, "            %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", g, strings.Join(subs, " "))
		}
	}
	fmt.Fprintf(&b, "            completion) COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\")); return ;;\n        esac\n        return\n    fi\n")
	// Positional arguments of subcommands: tenant ids and stages.
	fmt.Fprintf(&b, "    local pos=$((n - 2))\n    case \"$cmd\" in\n")
	for _, c := range commands() {
		if c.name == "" || len(c.args) == 0 {
			continue
		}
		var cases []string
		for i, arg := range c.args {
			switch {
			case (arg == "tenant" || arg == "id") && c.path() != "tenants create":
				cases = append(cases, fmt.Sprintf("%d) COMPREPLY=($(compgen -W \"$(_ingestctl_tenants)\" -- \"$cur\")) ;;", i))
			case arg == "replay-id":
				cases = append(cases, fmt.Sprintf("%d) COMPREPLY=($(compgen -W \"$(_ingestctl_replays)\" -- \"$cur\")) ;;", i))
			case arg == "stage":
				cases = append(cases, fmt.Sprintf("%d) COMPREPLY=($(compgen -W \"legacy shadow canary:1 canary:5 canary:10 canary:25 canary:50 v2\" -- \"$cur\")) ;;", i))
			}
		}
		if len(cases) > 0 {
			fmt.Fprintf(&b, "        %q) case $pos in %s esac ;;\n", c.group+" "+c.name, strings.Join(cases, " "))
		}
	}
	fmt.Fprintf(&b, "    esac\n}\n\ncomplete -F _ingestctl ingestctl\n")
	return b.String()
}

func zshCompletion() string {
	return "#compdef ingestctl\n# zsh completion for ingestctl; load with: source <(ingestctl completion zsh)\n" +
		"autoload -U +X bashcompinit && bashcompinit\n" + bashCompletion()
}
