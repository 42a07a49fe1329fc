package podrunner

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	podshelper "k8s.io/kubernetes/pkg/apis/core/pods"
	"k8s.io/kubernetes/pkg/fieldpath"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// defaultPath is what container runtimes set when the image sets no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ObjectGetter gives the Secrets and ConfigMaps of the pod's namespace (an
// informer cache in the runner, a map in tests). A missing object is
// (nil, nil).
type ObjectGetter interface {
	Secret(namespace, name string) (*v1.Secret, error)
	ConfigMap(namespace, name string) (*v1.ConfigMap, error)
}

// PodIPs are the runtime values a kubelet substitutes for status.* field refs.
type PodIPs struct {
	PodIP  string
	HostIP string
}

// fieldRefValue mirrors the kubelet's podFieldSelectorRuntimeValue: the
// status and spec fields a kubelet knows at run time, the rest through the
// kubelet's own fieldpath package.
func fieldRefValue(fs *v1.ObjectFieldSelector, pod *v1.Pod, ips PodIPs) (string, error) {
	version := fs.APIVersion
	if version == "" {
		version = "v1" // the API server's default
	}
	path, _, err := podshelper.ConvertDownwardAPIFieldLabel(version, fs.FieldPath, "")
	if err != nil {
		return "", err
	}
	switch path {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return ips.HostIP, nil
	case "status.podIP", "status.podIPs":
		return ips.PodIP, nil
	}
	return fieldpath.ExtractFieldPathAsString(pod, path)
}

// ContainerEnv builds a container's environment as the kubelet's
// makeEnvironmentVariables does: envFrom first, then env in order, each value
// expanded with $(VAR) against the variables defined before it. imageEnv plays
// the image's ENV and is overridden by the container's variables. The result
// is sorted "K=V" strings.
func ContainerEnv(pod *v1.Pod, c *v1.Container, imageEnv map[string]string, ips PodIPs, objs ObjectGetter) ([]string, error) {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			optional := from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional
			cm, err := objs.ConfigMap(pod.Namespace, from.ConfigMapRef.Name)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				if optional {
					continue
				}
				return nil, fmt.Errorf("container %s: envFrom configmap %q not found", c.Name, from.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			optional := from.SecretRef.Optional != nil && *from.SecretRef.Optional
			s, err := objs.Secret(pod.Namespace, from.SecretRef.Name)
			if err != nil {
				return nil, err
			}
			if s == nil {
				if optional {
					continue
				}
				return nil, fmt.Errorf("container %s: envFrom secret %q not found", c.Name, from.SecretRef.Name)
			}
			for k, v := range s.Data {
				env[from.Prefix+k] = string(v)
			}
		}
	}
	mapping := expansion.MappingFuncFor(env)
	for _, ev := range c.Env {
		value := ev.Value
		if value != "" {
			value = expansion.Expand(value, mapping)
		} else if ev.ValueFrom != nil {
			var err error
			var skip bool
			value, skip, err = envValueFrom(pod, c, ev.ValueFrom, ips, objs)
			if err != nil {
				return nil, fmt.Errorf("container %s: env %s: %w", c.Name, ev.Name, err)
			}
			if skip {
				continue
			}
		}
		env[ev.Name] = value
	}
	merged := map[string]string{"PATH": defaultPath, "HOSTNAME": pod.Name}
	for k, v := range imageEnv {
		merged[k] = v
	}
	for k, v := range env {
		merged[k] = v
	}
	out := make([]string, 0, len(merged))
	for k, v := range merged {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out, nil
}

func envValueFrom(pod *v1.Pod, c *v1.Container, src *v1.EnvVarSource, ips PodIPs, objs ObjectGetter) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := fieldRefValue(src.FieldRef, pod, ips)
		return v, false, err
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := objs.Secret(pod.Namespace, ref.Name)
		if err != nil {
			return "", false, err
		}
		if s == nil {
			if optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), false, nil
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := objs.ConfigMap(pod.Namespace, ref.Name)
		if err != nil {
			return "", false, err
		}
		if cm == nil {
			if optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if optional {
				return "", true, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return v, false, nil
	case src.ResourceFieldRef != nil:
		return "", false, fmt.Errorf("resourceFieldRef is not supported by the pod runner (no resource accounting)")
	}
	return "", false, fmt.Errorf("unsupported valueFrom")
}

// ExpandArgv expands $(VAR) in command and args with the container's
// environment, as the kubelet does before handing them to the runtime.
func ExpandArgv(argv []string, env []string) []string {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	mapping := expansion.MappingFuncFor(vars)
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = expansion.Expand(a, mapping)
	}
	return out
}
