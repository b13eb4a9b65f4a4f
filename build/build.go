// Package build makes an image from a Dockerfile, rootless: each RUN
// executes in a jail sandbox whose lower layers are the image's layers so
// far and whose writable layer becomes the next layer; COPY and ADD write
// a layer from the build context; the other instructions change the
// config. A cache keyed by the parent step and what a step does (with the
// content of what it copies) makes a rebuild with nothing changed run
// nothing.
//
// Dockerfiles are parsed by BuildKit's own parser and instructions
// package, so that jail reads them exactly as docker build does.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"jail/image"
	"jail/sandbox"
)

// Options are what jail build was asked.
type Options struct {
	Store *image.Store
	// Context is the directory COPY and ADD read from; Dockerfile the
	// file (default Context/Dockerfile).
	Context, Dockerfile string
	Tag                 string
	BuildArgs           map[string]string
	// Network is RUN's: none unless asked.
	Network sandbox.Net
	NoCache bool
	// Out gets each step's line and RUN's output; nil discards them.
	Out    *os.File
	Runner *sandbox.Runner
}

// Result is what a build did.
type Result struct {
	Image *image.Imported
	// Steps counts the instructions; Cached the RUN, COPY and ADD steps
	// the cache answered, Ran the RUN steps executed.
	Steps, Cached, Ran int
}

// maxDockerfile caps the Dockerfile read.
const maxDockerfile = 1 << 20

// Build builds the Dockerfile's last stage and names it o.Tag.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Dockerfile == "" {
		o.Dockerfile = filepath.Join(o.Context, "Dockerfile")
	}
	if o.Network == "" {
		o.Network = sandbox.NetNone
	}
	if o.Runner == nil {
		o.Runner = sandbox.NewRunner()
	}
	if o.Out == nil {
		devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		defer devNull.Close()
		o.Out = devNull
	}
	tag, err := image.NormalizeName(o.Tag)
	if err != nil {
		return nil, fmt.Errorf("-t: %w", err)
	}
	df, err := readDockerfile(o.Dockerfile)
	if err != nil {
		return nil, err
	}
	ast, err := parser.Parse(strings.NewReader(string(df)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Dockerfile, err)
	}
	stages, metaArgs, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Dockerfile, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s has no FROM", o.Dockerfile)
	}
	ctxRoot, err := os.OpenRoot(o.Context)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	defer ctxRoot.Close()
	ignore, err := readIgnore(ctxRoot)
	if err != nil {
		return nil, err
	}
	raw := shell.NewLex(ast.EscapeToken)
	raw.SkipProcessQuotes = true
	b := &builder{o: o, file: o.Dockerfile, ctxRoot: ctxRoot, ignore: ignore, lex: shell.NewLex(ast.EscapeToken), rawLex: raw,
		done: map[string]*state{}, res: &Result{}}
	defer b.release()
	for _, c := range stages {
		b.res.Steps += 1 + len(c.Commands)
	}
	meta := map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			v := ""
			if kv.Value != nil {
				if v, err = b.expand(*kv.Value, envOf(meta)); err != nil {
					return nil, err
				}
			}
			if given, ok := o.BuildArgs[kv.Key]; ok {
				v = given
			}
			meta[kv.Key] = v
		}
	}
	b.meta = meta
	var last *state
	for i := range stages {
		if last, err = b.stage(ctx, &stages[i]); err != nil {
			return nil, err
		}
	}
	im, err := o.Store.AddBuilt(image.Built{Base: last.base, Layers: last.layers, Config: last.cfg}, tag)
	if err != nil {
		return nil, err
	}
	b.res.Image = im
	return b.res, nil
}

func readDockerfile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("the Dockerfile: %w (give -f FILE)", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDockerfile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDockerfile {
		return nil, fmt.Errorf("%s is over %d bytes", p, maxDockerfile)
	}
	return b, nil
}

// builder is one build under way.
type builder struct {
	o       Options
	file    string
	ctxRoot *os.Root
	ignore  *ignorer
	lex     *shell.Lex
	// rawLex expands heredocs' documents: variables, not quotes.
	rawLex *shell.Lex
	meta   map[string]string
	// done are the stages built, by name, for FROM to start from; built
	// all of them, in order, for COPY --from=INDEX.
	done  map[string]*state
	built []*state
	held  []*image.Held
	step  int
	res   *Result
}

func (b *builder) release() {
	for _, h := range b.held {
		h.Release()
	}
}

// state is a stage as built so far.
type state struct {
	name string
	// base is the image FROM named (nil: scratch); layers are the ones
	// this build added on top of it.
	base       *image.Image
	baseLayers []image.Layer
	layers     []image.Layer
	cfg        *v1.ConfigFile
	shell      []string
	// args are the ARGs the stage declared, with their values.
	args map[string]string
	// key is the cache key of the last step: every later step's hangs
	// off it.
	key string
	// made is when the last step that wrote a layer first ran (the
	// base's creation before any): the time of every later step that
	// writes none, and the image's, so that a rebuild the cache answers
	// whole is the same image, with the same ID, and leaves none behind.
	made time.Time
}

func (s *state) clone() *state {
	c := *s
	c.layers = slices.Clone(s.layers)
	c.cfg = s.cfg.DeepCopy()
	c.args = map[string]string{}
	for k, v := range s.args {
		c.args[k] = v
	}
	return &c
}

func (b *builder) stepLine(format string, args ...any) {
	b.step++
	fmt.Fprintf(b.o.Out, "step %d/%d: %s\n", b.step, b.res.Steps, fmt.Sprintf(format, args...))
}

// fail names the step and its Dockerfile line.
func (b *builder) fail(c instructions.Command, err error) error {
	line := 0
	if l := c.Location(); len(l) > 0 {
		line = l[0].Start.Line
	}
	return fmt.Errorf("%s:%d: %s: %w", b.file, line, c.Name(), err)
}

func (b *builder) stage(ctx context.Context, st *instructions.Stage) (*state, error) {
	base, err := b.expand(st.BaseName, envOf(b.meta))
	if err != nil {
		return nil, err
	}
	b.stepLine("FROM %s", base)
	s, err := b.from(base)
	if err != nil {
		return nil, fmt.Errorf("%s: FROM %s: %w", b.file, base, err)
	}
	s.name = st.Name
	triggers, err := s.onBuild()
	if err != nil {
		return nil, fmt.Errorf("%s: FROM %s: %w", b.file, base, err)
	}
	b.res.Steps += len(triggers)
	for _, c := range append(triggers, st.Commands...) {
		if err := b.command(ctx, s, c); err != nil {
			return nil, b.fail(c, err)
		}
	}
	if st.Name != "" {
		b.done[strings.ToLower(st.Name)] = s
	}
	b.built = append(b.built, s)
	return s, nil
}

func (b *builder) from(base string) (*state, error) {
	if s, ok := b.done[strings.ToLower(base)]; ok {
		return s.clone(), nil
	}
	s := &state{shell: []string{"/bin/sh", "-c"}, args: map[string]string{}}
	if base == "scratch" {
		s.cfg = &v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH}
		s.key = "scratch"
		return s, nil
	}
	h, err := b.o.Store.Hold(base)
	if err != nil {
		return nil, err
	}
	b.held = append(b.held, h)
	cf, err := b.o.Store.ConfigFile(h.Image)
	if err != nil {
		return nil, err
	}
	s.base, s.baseLayers, s.cfg, s.key = h.Image, h.Image.Layers, cf.DeepCopy(), h.ID
	s.made = cf.Created.Time
	return s, nil
}

// onBuild takes the base image's ONBUILD triggers, which run first, as
// docker build runs them; the stage's own image does not keep them.
func (s *state) onBuild() ([]instructions.Command, error) {
	var out []instructions.Command
	for _, t := range s.cfg.Config.OnBuild {
		res, err := parser.Parse(strings.NewReader(t))
		if err != nil || len(res.AST.Children) != 1 {
			return nil, fmt.Errorf("the base image's ONBUILD %q is not one instruction: %v", t, err)
		}
		c, err := instructions.ParseCommand(res.AST.Children[0])
		if err != nil {
			return nil, fmt.Errorf("the base image's ONBUILD %q: %w", t, err)
		}
		out = append(out, c)
	}
	s.cfg.Config.OnBuild = nil
	return out, nil
}

// env is the environment a step's words expand in, and RUN runs with:
// the config's, then the stage's ARGs, which ENV overrides.
func (s *state) env() []string {
	env := slices.Clone(s.cfg.Config.Env)
	for k, v := range s.args {
		if !hasKey(env, k) {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func hasKey(env []string, k string) bool {
	for _, kv := range env {
		if key, _, _ := strings.Cut(kv, "="); key == k {
			return true
		}
	}
	return false
}

func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if key, _, _ := strings.Cut(kv, "="); key == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

func envOf(m map[string]string) shell.EnvGetter {
	var env []string
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	return shell.EnvsFromSlice(env)
}

func (b *builder) expand(word string, env shell.EnvGetter) (string, error) {
	out, _, err := b.lex.ProcessWord(word, env)
	return out, err
}

func (b *builder) command(ctx context.Context, s *state, c instructions.Command) error {
	env := shell.EnvsFromSlice(s.env())
	if e, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if err := e.Expand(func(w string) (string, error) { return b.expand(w, env) }); err != nil {
			return err
		}
	}
	// A heredoc's document expands as BuildKit expands it: variables, not
	// quotes.
	if e, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := e.ExpandRaw(func(w string) (string, error) {
			out, _, err := b.rawLex.ProcessWord(w, env)
			return out, err
		}); err != nil {
			return err
		}
	}
	b.stepLine("%s", fmt.Sprint(c))
	cfg := &s.cfg.Config
	switch c := c.(type) {
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			v, given := b.o.BuildArgs[kv.Key]
			if !given {
				if mv, ok := b.meta[kv.Key]; ok && kv.Value == nil {
					v = mv
				} else if kv.Value != nil {
					v = *kv.Value
				}
			}
			s.args[kv.Key] = v
		}
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.MaintainerCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		cfg.Labels["maintainer"] = c.Maintainer
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
		}
	case *instructions.WorkdirCommand:
		p := c.Path
		if !path.IsAbs(p) {
			p = path.Join("/", cfg.WorkingDir, p)
		}
		cfg.WorkingDir = path.Clean(p)
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.CmdCommand:
		cfg.Cmd = s.cmdline(c.ShellDependantCmdLine)
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = s.cmdline(c.ShellDependantCmdLine)
		// As docker build: a new entrypoint drops the base's Cmd.
		cfg.Cmd = nil
	case *instructions.ShellCommand:
		s.shell = slices.Clone(c.Shell)
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &v1.HealthConfig{Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries}
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
	case *instructions.RunCommand:
		return b.run(ctx, s, c)
	case *instructions.CopyCommand:
		if c.From != "" {
			return b.copyFrom(s, c)
		}
		return b.copy(s, c.String(), c.SourcesAndDest, c.Chown, c.Chmod, false)
	case *instructions.AddCommand:
		return b.copy(s, c.String(), c.SourcesAndDest, c.Chown, c.Chmod, true)
	default:
		return fmt.Errorf("%s is not supported by jail build", strings.ToUpper(c.Name()))
	}
	s.history(fmt.Sprint(c), true)
	return nil
}

func (s *state) cmdline(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append(slices.Clone(s.shell), strings.Join(c.CmdLine, " "))
	}
	return slices.Clone(c.CmdLine)
}

func (s *state) history(createdBy string, empty bool) {
	s.cfg.History = append(s.cfg.History, v1.History{Created: v1.Time{Time: s.made},
		CreatedBy: createdBy, Comment: "jail build", EmptyLayer: empty})
	s.cfg.Created = v1.Time{Time: s.made}
}

// next is the cache key of a step that does what after s.
func (s *state) next(what any) string {
	b, _ := json.Marshal(what)
	sum := sha256.Sum256(append([]byte(s.key+"\n"), b...))
	return hex.EncodeToString(sum[:])
}

// allLayers are the base's layers and this build's, lowest first.
func (s *state) allLayers() []image.Layer {
	return append(slices.Clone(s.baseLayers), s.layers...)
}

// addLayer makes e's layer, if any, the stage's next, with its history.
func (s *state) addLayer(key, createdBy string, e *image.CacheEntry) {
	s.key = key
	if e.Layer != nil {
		s.layers = append(s.layers, *e.Layer)
	}
	s.made = e.Made
	s.history(createdBy, e.Layer == nil)
}

// cached answers a step from the cache, unless --no-cache.
func (b *builder) cached(s *state, key, createdBy string) bool {
	if b.o.NoCache {
		return false
	}
	e, ok := b.o.Store.CacheGet(key)
	if !ok {
		return false
	}
	fmt.Fprintln(b.o.Out, " (cached)")
	b.res.Cached++
	s.addLayer(key, createdBy, e)
	return true
}
