package podrunner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/kubernetes/pkg/volume"
	"k8s.io/kubernetes/pkg/volume/configmap"
	"k8s.io/kubernetes/pkg/volume/downwardapi"
	"k8s.io/kubernetes/pkg/volume/secret"
	volumeutil "k8s.io/kubernetes/pkg/volume/util"
)

// TokenSource issues service account tokens (the TokenRequest API in the
// runner).
type TokenSource interface {
	Token(ctx context.Context, pod *v1.Pod, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

// noAllocatableHost satisfies the kubelet's volume.VolumeHost for
// downwardapi.CollectData, which only asks it for node allocatable resources
// (resourceFieldRef items, which the runner does not support).
type noAllocatableHost struct{ volume.VolumeHost }

func (noAllocatableHost) GetNodeAllocatable() (v1.ResourceList, error) {
	return nil, fmt.Errorf("resourceFieldRef is not supported by the pod runner (no resource accounting)")
}

func modeOrDefault(m *int32) *int32 {
	if m != nil {
		return m
	}
	d := int32(0o644)
	return &d
}

// SecretPayload is what the kubelet's secret volume plugin writes: an absent
// optional Secret projects as empty.
func SecretPayload(src *v1.SecretVolumeSource, s *v1.Secret, namespace string) (map[string]volumeutil.FileProjection, error) {
	optional := src.Optional != nil && *src.Optional
	if s == nil {
		if !optional {
			return nil, fmt.Errorf("secret %s/%s not found", namespace, src.SecretName)
		}
		s = &v1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: src.SecretName}}
	}
	return secret.MakePayload(src.Items, s, modeOrDefault(src.DefaultMode), optional)
}

// ConfigMapPayload is what the kubelet's configMap volume plugin writes.
func ConfigMapPayload(src *v1.ConfigMapVolumeSource, cm *v1.ConfigMap, namespace string) (map[string]volumeutil.FileProjection, error) {
	optional := src.Optional != nil && *src.Optional
	if cm == nil {
		if !optional {
			return nil, fmt.Errorf("configmap %s/%s not found", namespace, src.Name)
		}
		cm = &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: src.Name}}
	}
	return configmap.MakePayload(src.Items, cm, modeOrDefault(src.DefaultMode), optional)
}

// DownwardAPIPayload is the kubelet's downwardapi.CollectData.
func DownwardAPIPayload(items []v1.DownwardAPIVolumeFile, pod *v1.Pod, defaultMode *int32) (map[string]volumeutil.FileProjection, error) {
	return downwardapi.CollectData(items, pod, noAllocatableHost{}, modeOrDefault(defaultMode))
}

// tokenCache keeps one projected token per (volume, path) and renews it at
// 80% of its lifetime, as the kubelet's token manager does.
type tokenCache struct {
	tokens map[string]*authenticationv1.TokenRequest
	got    map[string]time.Time
}

func (tc *tokenCache) get(ctx context.Context, ts TokenSource, key string, pod *v1.Pod, tp *v1.ServiceAccountTokenProjection) ([]byte, error) {
	if tc.tokens == nil {
		tc.tokens, tc.got = map[string]*authenticationv1.TokenRequest{}, map[string]time.Time{}
	}
	if tr, ok := tc.tokens[key]; ok {
		life := tr.Status.ExpirationTimestamp.Sub(tc.got[key])
		if time.Since(tc.got[key]) < life*8/10 {
			return []byte(tr.Status.Token), nil
		}
	}
	if ts == nil {
		return nil, fmt.Errorf("serviceAccountToken projection needs a token source")
	}
	var auds []string
	if tp.Audience != "" {
		auds = []string{tp.Audience}
	}
	tr, err := ts.Token(ctx, pod, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         auds,
		ExpirationSeconds: tp.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}})
	if err != nil {
		return nil, fmt.Errorf("token for service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err)
	}
	tc.tokens[key], tc.got[key] = tr, time.Now()
	return []byte(tr.Status.Token), nil
}

// projectedPayload follows the kubelet's projected plugin (collectData) source
// by source, using the same per-source helpers.
func projectedPayload(ctx context.Context, volName string, src *v1.ProjectedVolumeSource, pod *v1.Pod, objs ObjectGetter, ts TokenSource, tc *tokenCache) (map[string]volumeutil.FileProjection, error) {
	mode := modeOrDefault(src.DefaultMode)
	var errs []error
	payload := map[string]volumeutil.FileProjection{}
	merge := func(p map[string]volumeutil.FileProjection) {
		for k, v := range p {
			payload[k] = v
		}
	}
	for i, s := range src.Sources {
		switch {
		case s.Secret != nil:
			sec, err := objs.Secret(pod.Namespace, s.Secret.Name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p, err := SecretPayload(&v1.SecretVolumeSource{SecretName: s.Secret.Name, Items: s.Secret.Items, Optional: s.Secret.Optional, DefaultMode: mode}, sec, pod.Namespace)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			merge(p)
		case s.ConfigMap != nil:
			cm, err := objs.ConfigMap(pod.Namespace, s.ConfigMap.Name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p, err := ConfigMapPayload(&v1.ConfigMapVolumeSource{LocalObjectReference: s.ConfigMap.LocalObjectReference, Items: s.ConfigMap.Items, Optional: s.ConfigMap.Optional, DefaultMode: mode}, cm, pod.Namespace)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			merge(p)
		case s.DownwardAPI != nil:
			p, err := DownwardAPIPayload(s.DownwardAPI.Items, pod, mode)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			merge(p)
		case s.ServiceAccountToken != nil:
			tok, err := tc.get(ctx, ts, fmt.Sprintf("%s/%d", volName, i), pod, s.ServiceAccountToken)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			payload[s.ServiceAccountToken.Path] = volumeutil.FileProjection{Data: tok, Mode: *mode}
		default:
			errs = append(errs, fmt.Errorf("projected source %d of volume %s (clusterTrustBundle/podCertificate) is not supported by the pod runner", i, volName))
		}
	}
	return payload, utilerrors.NewAggregate(errs)
}

// podVolumes materialises one pod's volumes under dir/<volume name>.
type podVolumes struct {
	dir    string
	tokens tokenCache
	ready  map[string]bool // volume set up at least once
}

// VolumePath is where volume name lives on the host.
func (pv *podVolumes) VolumePath(name string) string { return filepath.Join(pv.dir, name) }

// Sync (re)writes every volume from the current pod, Secrets and ConfigMaps.
// AtomicWriter leaves a volume untouched when its payload did not change. It
// returns the names of volumes that could not be set up yet (with errors);
// a volume set up once keeps its last content when an update fails, as with
// the kubelet.
func (pv *podVolumes) Sync(ctx context.Context, pod *v1.Pod, objs ObjectGetter, ts TokenSource) error {
	if pv.ready == nil {
		pv.ready = map[string]bool{}
	}
	var errs []error
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		if err := pv.syncOne(ctx, pod, vol, objs, ts); err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", vol.Name, err))
			continue
		}
		pv.ready[vol.Name] = true
	}
	return utilerrors.NewAggregate(errs)
}

// AllReady reports whether every volume of pod was set up at least once.
func (pv *podVolumes) AllReady(pod *v1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if !pv.ready[v.Name] {
			return false
		}
	}
	return true
}

func (pv *podVolumes) syncOne(ctx context.Context, pod *v1.Pod, vol *v1.Volume, objs ObjectGetter, ts TokenSource) error {
	dir := pv.VolumePath(vol.Name)
	var payload map[string]volumeutil.FileProjection
	var err error
	switch {
	case vol.EmptyDir != nil:
		return os.MkdirAll(dir, 0o777)
	case vol.HostPath != nil:
		return nil // mounted straight from the host path
	case vol.Secret != nil:
		var s *v1.Secret
		if s, err = objs.Secret(pod.Namespace, vol.Secret.SecretName); err == nil {
			payload, err = SecretPayload(vol.Secret, s, pod.Namespace)
		}
	case vol.ConfigMap != nil:
		var cm *v1.ConfigMap
		if cm, err = objs.ConfigMap(pod.Namespace, vol.ConfigMap.Name); err == nil {
			payload, err = ConfigMapPayload(vol.ConfigMap, cm, pod.Namespace)
		}
	case vol.DownwardAPI != nil:
		payload, err = DownwardAPIPayload(vol.DownwardAPI.Items, pod, vol.DownwardAPI.DefaultMode)
	case vol.Projected != nil:
		payload, err = projectedPayload(ctx, vol.Name, vol.Projected, pod, objs, ts, &pv.tokens)
	default:
		return fmt.Errorf("volume type is not supported by the pod runner (supported: emptyDir, hostPath, secret, configMap, downwardAPI, projected)")
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	w, err := volumeutil.NewAtomicWriter(dir, fmt.Sprintf("pod %s/%s volume %s", pod.Namespace, pod.Name, vol.Name))
	if err != nil {
		return err
	}
	return w.Write(payload, nil)
}

// MountSource is the host path a volumeMount binds: the volume (or the host
// path) plus the mount's subPath.
func (pv *podVolumes) MountSource(pod *v1.Pod, m *v1.VolumeMount) (string, error) {
	for _, v := range pod.Spec.Volumes {
		if v.Name != m.Name {
			continue
		}
		base := pv.VolumePath(v.Name)
		if v.HostPath != nil {
			base = v.HostPath.Path
		}
		if m.SubPathExpr != "" {
			return "", fmt.Errorf("volumeMount %s: subPathExpr is not supported by the pod runner", m.Name)
		}
		if m.SubPath == "" {
			return base, nil
		}
		p := filepath.Join(base, m.SubPath)
		if rel, err := filepath.Rel(base, p); err != nil || rel == ".." || filepath.IsAbs(rel) || len(rel) > 2 && rel[:3] == "../" {
			return "", fmt.Errorf("volumeMount %s: subPath %q leaves the volume", m.Name, m.SubPath)
		}
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			// The kubelet creates a missing subPath as a directory.
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", err
			}
		}
		// Bind the resolved file, as the kubelet does: a subPath mount of an
		// atomically written volume does not see later updates.
		resolved, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", err
		}
		return resolved, nil
	}
	return "", fmt.Errorf("volumeMount %s names no volume of the pod", m.Name)
}
