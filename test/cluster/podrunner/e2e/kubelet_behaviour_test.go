package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/kubernetes/pkg/fieldpath"
)

func patch(t *testing.T, p *v1.Pod, body string) {
	t.Helper()
	if _, err := e.client.CoreV1().Pods(p.Namespace).Patch(context.Background(), p.Name, types.StrategicMergePatchType, []byte(body), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch %s: %v", body, err)
	}
}

func running(name string) func(*v1.Pod) bool {
	return func(p *v1.Pod) bool {
		s := status(p, name)
		return s != nil && s.State.Running != nil
	}
}

// Kubelet behaviour: downwardAPI volumes are written by the AtomicWriter —
// files are symlinks into `..data`, itself a symlink to a timestamped
// directory swapped by rename — with the FormatMap format, and are rewritten
// when the pod's metadata changes; a reader never sees a partly written file.
func TestDownwardAPIVolumeAtomicUpdates(t *testing.T) {
	n := ns(t)
	pod, shared := basePod(t, n, "downward")
	const blobLen = 128 << 10
	pod.Labels = map[string]string{"app": "downward", "tier": "test"}
	pod.Annotations = map[string]string{"blob": strings.Repeat("a", blobLen), "promsidecar.dev/port": "8080"}
	pod.Spec.Volumes = append(pod.Spec.Volumes, v1.Volume{Name: "podinfo", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{
		Items: []v1.DownwardAPIVolumeFile{
			{Path: "annotations", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
			{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "blob", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.annotations['blob']"}},
		},
	}}})
	c := container("reader", "--read-loop", "/etc/podinfo/blob", "--read-len", strconv.Itoa(blobLen), "--read-stats", "/run/podrunner-test/stats")
	c.VolumeMounts = append(c.VolumeMounts, v1.VolumeMount{Name: "podinfo", MountPath: "/etc/podinfo", ReadOnly: true})
	pod.Spec.Containers = []v1.Container{c}
	created := create(t, pod)
	waitPod(t, n, pod.Name, "reader running", running("reader"))
	dir := volumeDir(created, "podinfo")

	checkLayout := func() string {
		t.Helper()
		data, err := os.Readlink(filepath.Join(dir, "..data"))
		if err != nil {
			t.Fatalf("..data is not a symlink: %v", err)
		}
		if !strings.HasPrefix(data, "..20") {
			t.Fatalf("..data points to %q, want a timestamped directory ..YYYY_MM_DD_...", data)
		}
		for _, f := range []string{"annotations", "labels", "blob"} {
			target, err := os.Readlink(filepath.Join(dir, f))
			if err != nil || target != "..data/"+f {
				t.Fatalf("%s -> %q (%v), want a symlink to ..data/%s", f, target, err, f)
			}
		}
		return data
	}
	waitFile := func(name, want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var got []byte
		for time.Now().Before(deadline) {
			got, _ = os.ReadFile(filepath.Join(dir, name))
			if string(got) == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: got %.200q, want %.200q", name, got, want)
	}
	current := func() *v1.Pod {
		p, err := e.client.CoreV1().Pods(n).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	waitFile("annotations", fieldpath.FormatMap(current().Annotations))
	waitFile("labels", fieldpath.FormatMap(current().Labels))
	first := checkLayout()

	patch(t, created, `{"metadata":{"labels":{"tier":"changed"},"annotations":{"promsidecar.dev/port":"9090"}}}`)
	p := current()
	waitFile("labels", fieldpath.FormatMap(p.Labels))
	waitFile("annotations", fieldpath.FormatMap(p.Annotations))
	if second := checkLayout(); second == first {
		t.Fatalf("..data still points to %s after an update; the writer must swap in a new timestamped directory", first)
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !os.IsNotExist(err) {
		t.Fatalf("old timestamped directory %s still exists (err %v)", first, err)
	}

	// Many swaps while the container reads the file through its mount.
	for i, ch := range "bcdefghijk" {
		blob := strings.Repeat(string(ch), blobLen)
		patch(t, created, fmt.Sprintf(`{"metadata":{"annotations":{"blob":%q}}}`, blob))
		waitFile("blob", blob)
		_ = i
	}
	var reads, torn int
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join(shared, "stats"))
		if _, err := fmt.Sscanf(string(b), "reads=%d torn=%d", &reads, &torn); err == nil && reads > 100 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if reads <= 100 {
		t.Fatalf("the container read the mounted file only %d times", reads)
	}
	if torn != 0 {
		t.Fatalf("the container saw %d torn reads of %d", torn, reads)
	}
}

// Kubelet behaviour: Secret volumes project the Secret's keys through the
// AtomicWriter; an optional Secret that is missing mounts as an empty volume
// and is filled in when it appears; updates reach the running container.
func TestSecretVolumeOptionalAppearsAndUpdates(t *testing.T) {
	n := ns(t)
	pod, _ := basePod(t, n, "secret")
	pod.Spec.Volumes = append(pod.Spec.Volumes, v1.Volume{Name: "creds", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{
		SecretName: "later", Optional: boolPtr(true),
		Items: []v1.KeyToPath{{Key: "token", Path: "dir/token"}},
	}}})
	c := container("app", "--listen", ":8080", "--serve-file", "/etc/creds/dir/token")
	c.VolumeMounts = append(c.VolumeMounts, v1.VolumeMount{Name: "creds", MountPath: "/etc/creds", ReadOnly: true})
	c.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}
	pod.Spec.Containers = []v1.Container{c}
	create(t, pod)
	p := waitPod(t, n, pod.Name, "Ready", podReady)
	url := fmt.Sprintf("http://%s:8080/file", p.Status.PodIP)
	get := func() (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusNotFound {
		t.Fatalf("before the Secret exists the file must be absent; got %d %q", code, body)
	}
	sec := &v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "later", Namespace: n}, Data: map[string][]byte{"token": []byte("one")}}
	if _, err := e.client.CoreV1().Secrets(n).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBody := func(want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		code, body := 0, ""
		for time.Now().Before(deadline) {
			if code, body = get(); code == 200 && body == want {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("container serves %d %q, want %q", code, body, want)
	}
	waitBody("one")
	sec.Data["token"] = []byte("two")
	if _, err := e.client.CoreV1().Secrets(n).Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBody("two")
	if s := status(waitPod(t, n, pod.Name, "status", func(*v1.Pod) bool { return true }), "app"); s.RestartCount != 0 {
		t.Fatalf("the container restarted (%d) for a Secret update", s.RestartCount)
	}
}

// Kubelet behaviour: env from fieldRefs (podFieldSelectorRuntimeValue):
// metadata.* through fieldpath, status.podIP/hostIP and spec.* from the
// kubelet's runtime values; $(VAR) expansion of later variables.
func TestEnvFromFieldRefs(t *testing.T) {
	n := ns(t)
	pod, shared := basePod(t, n, "env")
	pod.Labels = map[string]string{"app": "envtest"}
	pod.Annotations = map[string]string{"team": "observability"}
	c := container("app", "--dump-env", "/run/podrunner-test/env")
	ref := func(name, path string) v1.EnvVar {
		return v1.EnvVar{Name: name, ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: path}}}
	}
	c.Env = []v1.EnvVar{
		ref("POD_NAME", "metadata.name"), ref("POD_NAMESPACE", "metadata.namespace"), ref("POD_UID", "metadata.uid"),
		ref("POD_IP", "status.podIP"), ref("HOST_IP", "status.hostIP"), ref("NODE_NAME", "spec.nodeName"),
		ref("SA", "spec.serviceAccountName"), ref("APP", "metadata.labels['app']"), ref("TEAM", "metadata.annotations['team']"),
		{Name: "COMBINED", Value: "$(POD_NAMESPACE)/$(POD_NAME)"},
	}
	pod.Spec.Containers = []v1.Container{c}
	create(t, pod)
	p := waitPod(t, n, pod.Name, "running", running("app"))
	var envText []byte
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if envText, _ = os.ReadFile(filepath.Join(shared, "env")); len(envText) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := map[string]string{}
	for _, l := range strings.Split(string(envText), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			got[k] = v
		}
	}
	want := map[string]string{
		"POD_NAME": p.Name, "POD_NAMESPACE": n, "POD_UID": string(p.UID), "POD_IP": p.Status.PodIP,
		"HOST_IP": p.Status.HostIP, "NODE_NAME": e.nodeName, "SA": "default", "APP": "envtest",
		"TEAM": "observability", "COMBINED": n + "/" + p.Name, "HOSTNAME": p.Name,
	}
	if p.Status.PodIP == "" || p.Status.HostIP == "" {
		t.Fatalf("status lacks podIP/hostIP: %+v", p.Status)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("env %s = %q, want %q", k, got[k], v)
		}
	}
}

// Kubelet behaviour (KEP-753 native sidecars): an init container with
// restartPolicy Always is started, and must be started (startup probe
// passed) before the next init container starts; regular init containers
// run to completion in order; on deletion app containers stop first, then
// the sidecars in reverse order.
func TestNativeSidecarStartAndStopOrder(t *testing.T) {
	n := ns(t)
	pod, shared := basePod(t, n, "sidecars")
	pod.Spec.TerminationGracePeriodSeconds = int64Ptr(20)
	startup := func(port int32) *v1.Probe {
		return &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(port)}}, PeriodSeconds: 1, FailureThreshold: 30}
	}
	sc1 := sidecar("sc1", "--listen", ":9001", "--listen-delay", "1500ms")
	sc1.StartupProbe = startup(9001)
	check := container("check", "--dial", "127.0.0.1:9001", "--exit-after", "0s")
	sc2 := sidecar("sc2", "--listen", ":9002", "--listen-delay", "1500ms")
	sc2.StartupProbe = startup(9002)
	app := container("app", "--dial", "127.0.0.1:9001,127.0.0.1:9002", "--term-delay", "1s")
	pod.Spec.InitContainers = []v1.Container{sc1, check, sc2}
	pod.Spec.Containers = []v1.Container{app}
	create(t, pod)
	p := waitPod(t, n, pod.Name, "Ready", podReady)
	if cs := status(p, "check"); cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
		t.Fatalf("init container check: %+v, want terminated with 0", cs.State)
	}
	for _, name := range []string{"sc1", "sc2", "app"} {
		if cs := status(p, name); cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started {
			t.Fatalf("%s: %+v, want running, started and ready", name, cs)
		}
	}
	ev := waitEvents(t, shared, "app dialled", hasEvent("app", "dial-ok"))
	order := []int{indexOf(ev, "sc1", "listen"), indexOf(ev, "check", "start"), indexOf(ev, "sc2", "listen"), indexOf(ev, "app", "start")}
	for i := 1; i < len(order); i++ {
		if order[i-1] < 0 || order[i] < order[i-1] {
			t.Fatalf("start order: want sc1 listening < check start < sc2 listening < app start; events %v", ev)
		}
	}

	if err := e.client.CoreV1().Pods(n).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, n, pod.Name)
	ev = readEvents(t, shared)
	stop := []int{indexOf(ev, "app", "term"), indexOf(ev, "app", "exit"), indexOf(ev, "sc2", "term"), indexOf(ev, "sc2", "exit"), indexOf(ev, "sc1", "term")}
	for i := 1; i < len(stop); i++ {
		if stop[i-1] < 0 || stop[i] < stop[i-1] {
			t.Fatalf("stop order: want app term < app exit < sc2 term < sc2 exit < sc1 term; events %v", ev)
		}
	}
}

// Kubelet behaviour: deletion sends SIGTERM, then SIGKILL once the grace
// period has passed; the final status (exit 137) is reported before the pod
// object is removed with grace 0.
func TestTerminationGraceSIGTERMThenSIGKILL(t *testing.T) {
	n := ns(t)
	pod, shared := basePod(t, n, "grace")
	const grace = 3
	pod.Spec.TerminationGracePeriodSeconds = int64Ptr(grace)
	pod.Spec.Containers = []v1.Container{container("stubborn", "--on-term", "ignore", "--heartbeat", "/run/podrunner-test/hb", "--pidfile", "/run/podrunner-test/pid")}
	create(t, pod)
	p := waitPod(t, n, pod.Name, "running", running("stubborn"))
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && pid == 0 {
		b, _ := os.ReadFile(filepath.Join(shared, "pid"))
		pid, _ = strconv.Atoi(string(b))
		time.Sleep(50 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("no pid file")
	}
	w, err := e.client.CoreV1().Pods(n).Watch(context.Background(), metav1.ListOptions{FieldSelector: "metadata.name=" + pod.Name, ResourceVersion: p.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := e.client.CoreV1().Pods(n).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var last *v1.Pod
	timeout := time.After(90 * time.Second)
watch:
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch ended before the pod was deleted")
			}
			if pp, ok := ev.Object.(*v1.Pod); ok {
				if ev.Type == watch.Deleted {
					break watch
				}
				last = pp
			}
		case <-timeout:
			t.Fatal("pod not deleted")
		}
	}
	cs := status(last, "stubborn")
	if cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 137 {
		t.Fatalf("last status before removal: %+v, want terminated with 137 (SIGKILL)", cs)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("process %d still exists after the pod was removed", pid)
	}
	ev := readEvents(t, shared)
	term := indexOf(ev, "stubborn", "term")
	if term < 0 {
		t.Fatalf("the container never got SIGTERM; events %v", ev)
	}
	hb, _ := os.ReadFile(filepath.Join(shared, "hb"))
	lines := strings.Fields(string(hb))
	lastBeat, _ := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if alive := time.Duration(lastBeat - ev[term].at); alive < grace*time.Second-500*time.Millisecond {
		t.Fatalf("the container was killed %s after SIGTERM, before the %ds grace period ended", alive, grace)
	}
}

// Kubelet behaviour: a pod with restartPolicy Never (a Job's pod) completes
// when its app container exits: the native sidecar is stopped and the phase
// is Succeeded (or Failed by the app's exit code, not the sidecar's).
func TestJobLikePodCompletes(t *testing.T) {
	for _, tc := range []struct {
		code  int
		phase v1.PodPhase
	}{{0, v1.PodSucceeded}, {3, v1.PodFailed}} {
		t.Run(string(tc.phase), func(t *testing.T) {
			n := ns(t)
			pod, shared := basePod(t, n, "job")
			pod.Spec.RestartPolicy = v1.RestartPolicyNever
			pod.Spec.InitContainers = []v1.Container{sidecar("agent", "--exit-code", "143")}
			pod.Spec.Containers = []v1.Container{container("work", "--exit-after", "1s", "--exit-code", strconv.Itoa(tc.code))}
			create(t, pod)
			p := waitPod(t, n, pod.Name, "terminal phase", func(p *v1.Pod) bool {
				return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
			})
			if p.Status.Phase != tc.phase {
				t.Fatalf("phase %s, want %s", p.Status.Phase, tc.phase)
			}
			if cs := status(p, "agent"); cs.State.Terminated == nil {
				t.Fatalf("sidecar not terminated: %+v", cs.State)
			}
			if cs := status(p, "work"); cs.State.Terminated == nil || cs.State.Terminated.ExitCode != int32(tc.code) {
				t.Fatalf("work: %+v, want terminated with %d", cs.State, tc.code)
			}
			ev := readEvents(t, shared)
			if !(indexOf(ev, "work", "exit") >= 0 && indexOf(ev, "agent", "term") > indexOf(ev, "work", "exit")) {
				t.Fatalf("want the sidecar stopped after the app exited; events %v", ev)
			}
		})
	}
}

func sha256File(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Kubelet behaviour: changing a container's image in place restarts that
// container only (for native sidecars as kubelets 1.32+ do); the others
// keep running with the same PID. imageID names the binary that runs.
func TestInPlaceImageChangeRestartsOnlyThatContainer(t *testing.T) {
	n := ns(t)
	pod, shared := basePod(t, n, "inplace")
	pod.Spec.InitContainers = []v1.Container{sidecar("agent", "--pidfile", "/run/podrunner-test/agent.pid")}
	pod.Spec.Containers = []v1.Container{container("app", "--pidfile", "/run/podrunner-test/app.pid")}
	create(t, pod)
	p := waitPod(t, n, pod.Name, "running", func(p *v1.Pod) bool { return running("agent")(p) && running("app")(p) })
	if want := "local://" + e.testapp + "@sha256:" + sha256File(t, e.testapp); status(p, "agent").ImageID != want {
		t.Fatalf("imageID %q, want %q", status(p, "agent").ImageID, want)
	}
	readPid := func(name string) int {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(filepath.Join(shared, name+".pid"))
			if pid, err := strconv.Atoi(string(b)); err == nil {
				return pid
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no pid for %s", name)
		return 0
	}
	agentPid, appPid := readPid("agent"), readPid("app")

	patch(t, p, `{"spec":{"initContainers":[{"name":"agent","image":"test/app:v2"}]}}`)
	p = waitPod(t, n, pod.Name, "agent restarted with v2", func(p *v1.Pod) bool {
		s := status(p, "agent")
		return s.RestartCount == 1 && s.State.Running != nil && s.Image == "test/app:v2"
	})
	if want := "local://" + e.testappV2 + "@sha256:" + sha256File(t, e.testappV2); status(p, "agent").ImageID != want {
		t.Fatalf("imageID after the change %q, want %q", status(p, "agent").ImageID, want)
	}
	if got := readPid("agent"); got == agentPid {
		// The pid file is rewritten by the new instance; wait for it.
		deadline := time.Now().Add(30 * time.Second)
		for got == agentPid && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			got = readPid("agent")
		}
		if got == agentPid {
			t.Fatalf("agent still runs as pid %d", got)
		}
	}
	if s := status(p, "app"); s.RestartCount != 0 || s.State.Running == nil {
		t.Fatalf("app was touched: %+v", s)
	}
	if got := readPid("app"); got != appPid || syscall.Kill(appPid, 0) != nil {
		t.Fatalf("app pid %d -> %d (alive: %v), want unchanged", appPid, got, syscall.Kill(appPid, 0) == nil)
	}

	patch(t, p, `{"spec":{"containers":[{"name":"app","image":"test/app:v2"}]}}`)
	p = waitPod(t, n, pod.Name, "app restarted with v2", func(p *v1.Pod) bool {
		s := status(p, "app")
		return s.RestartCount == 1 && s.State.Running != nil
	})
	if s := status(p, "agent"); s.RestartCount != 1 {
		t.Fatalf("agent restarted again for the app's image change: %+v", s)
	}
}

// Kubelet behaviour: each pod has its own network namespace (the sandbox):
// containers of a pod share localhost, two pods can bind the same ports,
// exec probes run inside the pod, and the readiness probe (httpGet on the pod
// IP) gates Ready.
func TestPodsHaveSeparateNetworkNamespaces(t *testing.T) {
	n := ns(t)
	var ips []string
	for _, name := range []string{"a", "b"} {
		pod, shared := basePod(t, n, "net-"+name)
		// A loopback-only listener, started (exec startup probe dialling it
		// from inside the pod) before the server starts.
		local := sidecar("local", "--listen", "127.0.0.1:8081")
		local.StartupProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{
			Command: []string{e.testapp, "--dial", "127.0.0.1:8081", "--exit-after", "0s"},
		}}, PeriodSeconds: 1, FailureThreshold: 30}
		srv := container("server-"+name, "--listen", ":8080", "--listen-after-file", "/run/podrunner-test/go", "--dial", "127.0.0.1:8081")
		srv.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}
		pod.Spec.InitContainers = []v1.Container{local}
		pod.Spec.Containers = []v1.Container{srv}
		create(t, pod)
		p := waitPod(t, n, pod.Name, "running", running("server-"+name))
		waitEvents(t, shared, "server dialled its sibling", hasEvent("server-"+name, "dial-ok"))
		if p = waitPod(t, n, pod.Name, "status", func(*v1.Pod) bool { return true }); podReady(p) || status(p, "server-"+name).Ready {
			t.Fatalf("pod %s is Ready before its server listens", pod.Name)
		}
		if err := os.WriteFile(filepath.Join(shared, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		p = waitPod(t, n, pod.Name, "Ready", podReady)
		ips = append(ips, p.Status.PodIP)
		if ev := readEvents(t, shared); indexOf(ev, "local", "listen-failed") >= 0 || indexOf(ev, "server-"+name, "listen-failed") >= 0 {
			t.Fatalf("a listener failed: %v", ev)
		}
	}
	if ips[0] == ips[1] {
		t.Fatalf("both pods have IP %s", ips[0])
	}
	for i, name := range []string{"server-a", "server-b"} {
		resp, err := http.Get("http://" + ips[i] + ":8080/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != name {
			t.Fatalf("%s:8080 answered %q, want %q", ips[i], b, name)
		}
	}
}

// Kubelet behaviour: a native sidecar that exits is restarted (with the
// crash-loop back-off) while the app containers keep running.
func TestSidecarRestartedWhenItExits(t *testing.T) {
	n := ns(t)
	pod, _ := basePod(t, n, "flaky")
	pod.Spec.InitContainers = []v1.Container{sidecar("flaky", "--exit-after", "300ms", "--exit-code", "1")}
	pod.Spec.Containers = []v1.Container{container("app")}
	create(t, pod)
	p := waitPod(t, n, pod.Name, "sidecar restarted twice", func(p *v1.Pod) bool {
		s := status(p, "flaky")
		return s != nil && s.RestartCount >= 2 && running("app")(p)
	})
	if s := status(p, "app"); s.RestartCount != 0 {
		t.Fatalf("app restarted %d times", s.RestartCount)
	}
	if p.Status.Phase != v1.PodRunning {
		t.Fatalf("phase %s, want Running", p.Status.Phase)
	}
	if s := status(p, "flaky"); s.LastTerminationState.Terminated == nil || s.LastTerminationState.Terminated.ExitCode != 1 {
		t.Fatalf("sidecar lastState %+v, want terminated with 1", s.LastTerminationState)
	}
}

// The runner itself: on SIGTERM it stops every container, removes the pod
// network namespaces and its bridge, and reports its node NotReady.
func TestRunnerShutdownCleansUp(t *testing.T) {
	n := ns(t)
	suffix := randHex(2)
	node := e.nodeName + "-b"
	bridge := "psrf" + suffix
	octet, _ := strconv.ParseUint(suffix[:2], 16, 8)
	logFile := filepath.Join(t.TempDir(), "runner-b.log")
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	r := exec.Command(e.runnerBin, "--kubeconfig", e.kubeconfig, "--node-name", node, "--image-map", e.imageMap,
		"--state-dir", t.TempDir(), "--pod-cidr", freeSubnet(8+int(octet)%100), "--bridge", bridge,
		"--publish-root-ca", e.caFile)
	r.Stdout, r.Stderr = logf, logf
	r.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = r.Wait(); close(exited) }()
	defer func() {
		_ = r.Process.Kill()
		<-exited
		_ = e.client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{})
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("runner log:\n%s", b)
		}
	}()
	pod, shared := basePod(t, n, "victim")
	pod.Spec.NodeName = node
	pod.Spec.InitContainers = []v1.Container{sidecar("side", "--pidfile", "/run/podrunner-test/side.pid")}
	pod.Spec.Containers = []v1.Container{container("app", "--pidfile", "/run/podrunner-test/app.pid", "--on-term", "ignore")}
	p := create(t, pod)
	waitPod(t, n, pod.Name, "running", func(p *v1.Pod) bool { return running("side")(p) && running("app")(p) })
	var pids []int
	for _, f := range []string{"side.pid", "app.pid"} {
		deadline := time.Now().Add(30 * time.Second)
		pid := 0
		for pid == 0 && time.Now().Before(deadline) {
			b, _ := os.ReadFile(filepath.Join(shared, f))
			pid, _ = strconv.Atoi(string(b))
			time.Sleep(50 * time.Millisecond)
		}
		if pid == 0 {
			t.Fatalf("no %s", f)
		}
		pids = append(pids, pid)
	}
	netns := "/run/netns/psr-" + strings.ReplaceAll(string(p.UID), "-", "")[:8]
	if _, err := os.Stat(netns); err != nil {
		t.Fatalf("pod network namespace %s: %v", netns, err)
	}
	if err := r.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("runner did not exit on SIGTERM")
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("container process %d survived the runner", pid)
		}
	}
	if _, err := os.Stat(netns); !os.IsNotExist(err) {
		t.Errorf("network namespace %s left behind (%v)", netns, err)
	}
	if _, err := os.Stat("/sys/class/net/" + bridge); !os.IsNotExist(err) {
		t.Errorf("bridge %s left behind (%v)", bridge, err)
	}
	nd, err := e.client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nodeReady(nd) {
		t.Errorf("node %s still Ready after the runner stopped", node)
	}
	// The pod stays (as with a stopped kubelet); remove it without a runner.
	_ = e.client.CoreV1().Pods(n).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: int64Ptr(0)})
}
