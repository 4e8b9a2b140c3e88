// env-consumer reads an environment file the way its real consumer does, with
// that consumer's own code, and prints the variables it got as JSON:
//
//	env-consumer docker FILE    docker run --env-file FILE (docker/cli opts.ReadKVEnvStrings)
//	env-consumer compose FILE   a Compose service with env_file: FILE (compose-go's project loader)
//
// A file the consumer refuses exits 1 with its error on stderr.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/docker/cli/opts"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: env-consumer docker|compose FILE")
		os.Exit(2)
	}
	var env map[string]string
	var err error
	switch os.Args[1] {
	case "docker":
		env, err = docker(os.Args[2])
	case "compose":
		env, err = compose(os.Args[2])
	default:
		err = fmt.Errorf("unknown consumer %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(env)
	os.Stdout.Write(append(out, '\n'))
}

func docker(file string) (map[string]string, error) {
	pairs, err := opts.ReadKVEnvStrings([]string{file}, nil)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, p := range pairs {
		name, value, _ := strings.Cut(p, "=")
		env[name] = value
	}
	return env, nil
}

func compose(file string) (map[string]string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "env-consumer-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	spec := fmt.Sprintf("services:\n  app:\n    image: scratch\n    env_file: %q\n", abs)
	composeFile := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(composeFile, []byte(spec), 0o600); err != nil {
		return nil, err
	}
	options, err := cli.NewProjectOptions([]string{composeFile}, cli.WithName("kvpn"), cli.WithOsEnv)
	if err != nil {
		return nil, err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for name, value := range project.Services["app"].Environment {
		if value != nil {
			env[name] = *value
		}
	}
	return env, nil
}
