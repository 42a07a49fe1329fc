// Package podrunner plays the kubelet's part for tests: it runs the pods bound
// to one fake node as local processes. See docs/podrunner.md for what it
// reproduces, with the test that shows each behaviour, and what it does not.
package podrunner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
)

// ImageEntry says how to run one image locally. Path plays the image's
// ENTRYPOINT, Args its CMD and Env its ENV.
type ImageEntry struct {
	// Image is a reference or a prefix of one; the longest matching entry wins.
	Image string `json:"image"`
	// Path is the local binary that plays the image's entrypoint.
	Path string `json:"path"`
	// Args plays the image's CMD: used only when the container sets neither
	// command nor args.
	Args []string `json:"args,omitempty"`
	// Env plays the image's ENV: the container's env overrides it.
	Env map[string]string `json:"env,omitempty"`
	// Commands maps program paths inside the image (as a container's
	// `command[0]` names them) to local binaries.
	Commands map[string]string `json:"commands,omitempty"`
}

// ImageMap resolves container images to local binaries.
type ImageMap struct {
	Images []ImageEntry `json:"images"`
}

// LoadImageMap reads a YAML or JSON image map.
func LoadImageMap(file string) (*ImageMap, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("image map %s: %w (pass --image-map with a readable file)", file, err)
	}
	return ParseImageMap(data, file)
}

// ParseImageMap parses an image map; name is used in error messages only.
func ParseImageMap(data []byte, name string) (*ImageMap, error) {
	var m ImageMap
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return nil, fmt.Errorf("image map %s: %w (expected `images: [{image: REF, path: BINARY}]`)", name, err)
	}
	seen := map[string]bool{}
	for i, e := range m.Images {
		if e.Image == "" || e.Path == "" {
			return nil, fmt.Errorf("image map %s: images[%d] needs both `image` and `path`", name, i)
		}
		if !filepath.IsAbs(e.Path) {
			return nil, fmt.Errorf("image map %s: images[%d].path %q must be absolute", name, i, e.Path)
		}
		if seen[e.Image] {
			return nil, fmt.Errorf("image map %s: images[%d].image %q is listed twice", name, i, e.Image)
		}
		seen[e.Image] = true
	}
	return &m, nil
}

// matches reports whether reference image is entry prefix p: equal, or p
// followed by a tag/digest separator, or p ends with a separator or '*'.
func matches(p, image string) bool {
	if p == image {
		return true
	}
	if strings.HasSuffix(p, "*") {
		return strings.HasPrefix(image, strings.TrimSuffix(p, "*"))
	}
	if !strings.HasPrefix(image, p) {
		return false
	}
	if strings.HasSuffix(p, "/") || strings.HasSuffix(p, ":") || strings.HasSuffix(p, "@") {
		return true
	}
	next := image[len(p)]
	return next == ':' || next == '@'
}

// Resolve returns the entry with the longest image prefix matching image.
func (m *ImageMap) Resolve(image string) (ImageEntry, error) {
	best := -1
	for i, e := range m.Images {
		if matches(e.Image, image) && (best < 0 || len(e.Image) > len(m.Images[best].Image)) {
			best = i
		}
	}
	if best < 0 {
		known := make([]string, 0, len(m.Images))
		for _, e := range m.Images {
			known = append(known, e.Image)
		}
		sort.Strings(known)
		return ImageEntry{}, fmt.Errorf("image %q is not in the image map (known: %s); add an entry `{image: %q, path: /local/binary}`",
			image, strings.Join(known, ", "), image)
	}
	return m.Images[best], nil
}

// ContainerArgv computes the argv a container runtime would run: `command`
// replaces the image entrypoint (and drops the image CMD), `args` replace the
// image CMD. command[0] is translated through entry.Commands; a command naming
// the entrypoint binary by its base name runs entry.Path; anything else must be
// an absolute path that exists on this machine.
func ContainerArgv(entry ImageEntry, command, args []string) ([]string, error) {
	if len(command) == 0 {
		argv := []string{entry.Path}
		if len(args) > 0 {
			return append(argv, args...), nil
		}
		return append(argv, entry.Args...), nil
	}
	prog := command[0]
	switch {
	case entry.Commands[prog] != "":
		prog = entry.Commands[prog]
	case filepath.Base(prog) == filepath.Base(entry.Path):
		prog = entry.Path
	case !filepath.IsAbs(prog):
		return nil, fmt.Errorf("command[0] %q of image %q is neither in the image map's `commands` nor an absolute path", prog, entry.Image)
	}
	argv := append([]string{prog}, command[1:]...)
	return append(argv, args...), nil
}

// imageIDs hashes binaries once per (path, size, mtime).
type imageIDs struct {
	mu    sync.Mutex
	cache map[string]string
}

// ImageID returns "local://<path>@sha256:<hex of the binary>", the runner's
// stand-in for a container image ID.
func (c *imageIDs) ImageID(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	key := fmt.Sprintf("%s|%d|%d", path, st.Size(), st.ModTime().UnixNano())
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[string]string{}
	}
	id, ok := c.cache[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	id = "local://" + path + "@sha256:" + hex.EncodeToString(h.Sum(nil))
	c.mu.Lock()
	c.cache[key] = id
	c.mu.Unlock()
	return id, nil
}
