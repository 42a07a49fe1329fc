package podrunner

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/pkg/fieldpath"
)

func TestImageMapResolveLongestPrefix(t *testing.T) {
	m, err := ParseImageMap([]byte(`
images:
  - image: ghcr.io/promsidecar/agent
    path: /opt/agent
  - image: ghcr.io/promsidecar/agent:v2
    path: /opt/agent-v2
  - image: quay.io/prometheus/
    path: /usr/bin/prometheus
  - image: sample*
    path: /opt/sample
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	for image, want := range map[string]string{
		"ghcr.io/promsidecar/agent":            "/opt/agent",
		"ghcr.io/promsidecar/agent:v1":         "/opt/agent",
		"ghcr.io/promsidecar/agent@sha256:abc": "/opt/agent",
		"ghcr.io/promsidecar/agent:v2":         "/opt/agent-v2",
		"quay.io/prometheus/prometheus:v3":     "/usr/bin/prometheus",
		"sampleapp:latest":                     "/opt/sample",
	} {
		e, err := m.Resolve(image)
		if err != nil || e.Path != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", image, e.Path, err, want)
		}
	}
	for _, image := range []string{"ghcr.io/promsidecar/agentx:v1", "other"} {
		if _, err := m.Resolve(image); err == nil || !strings.Contains(err.Error(), "not in the image map") {
			t.Errorf("Resolve(%q) error = %v, want 'not in the image map'", image, err)
		}
	}
}

func TestParseImageMapRejectsBadEntries(t *testing.T) {
	for name, text := range map[string]string{
		"relative path": `{"images":[{"image":"a","path":"bin/a"}]}`,
		"missing path":  `{"images":[{"image":"a"}]}`,
		"unknown key":   `{"images":[{"image":"a","path":"/a","entrypoint":"x"}]}`,
		"duplicate":     `{"images":[{"image":"a","path":"/a"},{"image":"a","path":"/b"}]}`,
	} {
		if _, err := ParseImageMap([]byte(text), name); err == nil {
			t.Errorf("%s: accepted %s", name, text)
		}
	}
}

// The kubelet/runtime rule: command replaces ENTRYPOINT (and drops CMD),
// args replace CMD.
func TestContainerArgv(t *testing.T) {
	entry := ImageEntry{Image: "img", Path: "/opt/agent", Args: []string{"--config", "/etc/default.yaml"},
		Commands: map[string]string{"/bin/prometheus": "/usr/bin/prometheus"}}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/opt/agent", "--config", "/etc/default.yaml"}},
		{"args replace CMD", nil, []string{"--x"}, []string{"/opt/agent", "--x"}},
		{"command drops CMD", []string{"/bin/agent", "-v"}, nil, []string{"/opt/agent", "-v"}},
		{"command and args", []string{"/bin/prometheus"}, []string{"--agent"}, []string{"/usr/bin/prometheus", "--agent"}},
		{"host program", []string{"/bin/sh", "-c"}, []string{"true"}, []string{"/bin/sh", "-c", "true"}},
	} {
		got, err := ContainerArgv(entry, tc.command, tc.args)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := ContainerArgv(entry, []string{"sh"}, nil); err == nil {
		t.Error("a relative command that is not the entrypoint must be rejected")
	}
}

type fakeObjects struct {
	secrets    map[string]*v1.Secret
	configMaps map[string]*v1.ConfigMap
}

func (f fakeObjects) Secret(_, name string) (*v1.Secret, error) { return f.secrets[name], nil }
func (f fakeObjects) ConfigMap(_, name string) (*v1.ConfigMap, error) {
	return f.configMaps[name], nil
}

func TestContainerEnvFieldRefsAndExpansion(t *testing.T) {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u-1", Labels: map[string]string{"app": "x"}},
		Spec:       v1.PodSpec{NodeName: "node-1", ServiceAccountName: "sa"},
	}
	ref := func(name, path string) v1.EnvVar {
		return v1.EnvVar{Name: name, ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: path}}}
	}
	c := &v1.Container{Name: "c",
		EnvFrom: []v1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}}}},
		Env: []v1.EnvVar{
			ref("NAME", "metadata.name"), ref("NS", "metadata.namespace"), ref("UID", "metadata.uid"),
			ref("IP", "status.podIP"), ref("HOST", "status.hostIP"), ref("NODE", "spec.nodeName"),
			ref("APP", "metadata.labels['app']"),
			{Name: "BOTH", Value: "$(NS)/$(NAME) $(MISSING)"},
			{Name: "TOKEN", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "s"}, Key: "k"}}},
			{Name: "OPT", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "none"}, Key: "k", Optional: boolPtr(true)}}},
		}}
	objs := fakeObjects{
		secrets:    map[string]*v1.Secret{"s": {Data: map[string][]byte{"k": []byte("secret")}}},
		configMaps: map[string]*v1.ConfigMap{"cm": {Data: map[string]string{"A": "1"}}},
	}
	env, err := ContainerEnv(pod, c, map[string]string{"IMAGE_ENV": "i", "NAME": "overridden"}, PodIPs{PodIP: "10.0.0.2", HostIP: "10.0.0.1"}, objs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{"NAME": "p", "NS": "ns", "UID": "u-1", "IP": "10.0.0.2", "HOST": "10.0.0.1", "NODE": "node-1",
		"APP": "x", "BOTH": "ns/p $(MISSING)", "TOKEN": "secret", "CM_A": "1", "IMAGE_ENV": "i", "HOSTNAME": "p", "PATH": defaultPath}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("env\n got %v\nwant %v", got, want)
	}
	c.Env = append(c.Env, v1.EnvVar{Name: "REQ", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "none"}, Key: "k"}}})
	if _, err := ContainerEnv(pod, c, nil, PodIPs{}, objs); err == nil {
		t.Fatal("a missing required secret must be an error")
	}
}

func boolPtr(b bool) *bool { return &b }

// The kubelet's AtomicWriter layout and the FormatMap format, exercised
// through podVolumes, and readers that never see a partial file while
// versions are swapped.
func TestDownwardAPIVolumeLayoutAndAtomicSwap(t *testing.T) {
	dir := t.TempDir()
	pv := &podVolumes{dir: dir}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Annotations: map[string]string{"blob": strings.Repeat("a", 1<<16), "x": "1"}},
		Spec: v1.PodSpec{Volumes: []v1.Volume{{Name: "info", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{
			Items: []v1.DownwardAPIVolumeFile{
				{Path: "annotations", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
				{Path: "blob", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations['blob']"}},
			}}}}}},
	}
	ctx := context.Background()
	if err := pv.Sync(ctx, pod, fakeObjects{}, nil); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(dir, "info")
	if target, err := os.Readlink(filepath.Join(vol, "annotations")); err != nil || target != "..data/annotations" {
		t.Fatalf("annotations -> %q, %v", target, err)
	}
	data, err := os.Readlink(filepath.Join(vol, "..data"))
	if err != nil || !strings.HasPrefix(data, "..") {
		t.Fatalf("..data -> %q, %v", data, err)
	}
	got, _ := os.ReadFile(filepath.Join(vol, "annotations"))
	if string(got) != fieldpath.FormatMap(pod.Annotations) {
		t.Fatalf("annotations file %.100q, want FormatMap output", got)
	}

	var stop atomic.Bool
	var reads, torn atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b, err := os.ReadFile(filepath.Join(vol, "blob"))
				if err != nil {
					torn.Add(1)
					continue
				}
				reads.Add(1)
				if len(b) != 1<<16 || strings.Count(string(b), string(b[0])) != len(b) {
					torn.Add(1)
				}
			}
		}()
	}
	for _, ch := range "bcdefghijklmnopqrstuvwxyz" {
		pod.Annotations["blob"] = strings.Repeat(string(ch), 1<<16)
		if err := pv.Sync(ctx, pod, fakeObjects{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if torn.Load() != 0 || reads.Load() == 0 {
		t.Fatalf("reads %d, torn or failed %d", reads.Load(), torn.Load())
	}
	entries, _ := os.ReadDir(vol)
	var tsDirs []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "..") {
			tsDirs = append(tsDirs, e.Name())
		}
	}
	if len(tsDirs) != 1 {
		t.Fatalf("want exactly one timestamped directory after the swaps, have %v", tsDirs)
	}
}

func TestSecretVolumeMissingOptionalAndRequired(t *testing.T) {
	pv := &podVolumes{dir: t.TempDir()}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: v1.PodSpec{Volumes: []v1.Volume{
		{Name: "opt", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "later", Optional: boolPtr(true)}}},
		{Name: "req", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "needed"}}},
	}}}
	objs := fakeObjects{secrets: map[string]*v1.Secret{}}
	if err := pv.Sync(context.Background(), pod, objs, nil); err == nil || !strings.Contains(err.Error(), "needed") {
		t.Fatalf("want an error naming the missing required secret, got %v", err)
	}
	if pv.AllReady(pod) || !pv.ready["opt"] {
		t.Fatalf("ready = %v; the optional volume is ready, the required one not", pv.ready)
	}
	objs.secrets["needed"] = &v1.Secret{Data: map[string][]byte{"k": []byte("v")}}
	objs.secrets["later"] = &v1.Secret{Data: map[string][]byte{"token": []byte("t")}}
	if err := pv.Sync(context.Background(), pod, objs, nil); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"req/k": "v", "opt/token": "t"} {
		if b, _ := os.ReadFile(filepath.Join(pv.dir, file)); string(b) != want {
			t.Errorf("%s = %q, want %q", file, b, want)
		}
	}
}
