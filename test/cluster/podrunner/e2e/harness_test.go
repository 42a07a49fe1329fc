// Package e2e tests the pod runner against a real kube-apiserver: each test
// reproduces one documented kubelet behaviour (see docs/podrunner.md).
//
// It needs a control plane (scripts/cluster up writes build/cluster/kubeconfig;
// or set KUBECONFIG) and root (network namespaces, mounts). Without them the
// tests skip, unless PODRUNNER_E2E_REQUIRED=1 (set by ctest) makes that a
// failure.
package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/promsidecar/promsidecar/test/cluster/podrunner"
)

type env struct {
	client     kubernetes.Interface
	nodeName   string
	stateDir   string
	testapp    string // binary of image test/app
	testappV2  string // binary of image test/app:v2 (different bytes)
	runnerLog  string
	runnerBin  string
	imageMap   string
	caFile     string
	kubeconfig string
}

// testDirs holds each test's directory for hostPath volumes (see ns).
var testDirs sync.Map

var (
	e        *env
	skipWhy  string
	required = os.Getenv("PODRUNNER_E2E_REQUIRED") == "1"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "../../../.."))
}

func kubeconfigPath() string {
	if k := os.Getenv("KUBECONFIG"); k != "" {
		return k
	}
	k := filepath.Join(repoRoot(), "build/cluster/kubeconfig")
	if _, err := os.Stat(k); err == nil {
		return k
	}
	return ""
}

func TestMain(m *testing.M) {
	code, cleanup := setup()
	if code == 0 {
		code = m.Run()
	}
	cleanup()
	os.Exit(code)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func setup() (int, func()) {
	nothing := func() {}
	kc := kubeconfigPath()
	switch {
	case os.Geteuid() != 0:
		skipWhy = "needs root (network namespaces, bind mounts)"
	case kc == "":
		skipWhy = "no control plane: run scripts/cluster up (writes build/cluster/kubeconfig) or set KUBECONFIG"
	}
	if skipWhy != "" {
		if required {
			fmt.Fprintln(os.Stderr, "podrunner e2e:", skipWhy)
			return 1, nothing
		}
		return 0, nothing
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeconfig:", err)
		return 1, nothing
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, nothing
	}
	tmp, err := os.MkdirTemp("", "podrunner-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, nothing
	}
	keep := false
	rmTmp := func() {
		if !keep {
			os.RemoveAll(tmp)
		}
	}
	bin := filepath.Join(tmp, "bin")
	for pkg, out := range map[string]string{"../../cmd/podrunner": "podrunner", "../testapp": "testapp"} {
		args := []string{"build", "-o", filepath.Join(bin, out)}
		if os.Getenv("PODRUNNER_E2E_RACE") == "1" && out == "podrunner" {
			args = append(args, "-race") // the runner under the race detector
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "go build", pkg, ":", err)
			rmTmp()
			return 1, nothing
		}
	}
	// v2 of the test image: the same program with other bytes, so its
	// imageID differs as a new image's would.
	data, err := os.ReadFile(filepath.Join(bin, "testapp"))
	if err == nil {
		err = os.WriteFile(filepath.Join(bin, "testapp-v2"), append(data, []byte("v2")...), 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		rmTmp()
		return 1, nothing
	}
	imageMap := filepath.Join(tmp, "images.yaml")
	if err := os.WriteFile(imageMap, []byte(fmt.Sprintf("images:\n  - image: test/app\n    path: %s\n  - image: test/app:v2\n    path: %s\n",
		filepath.Join(bin, "testapp"), filepath.Join(bin, "testapp-v2"))), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		rmTmp()
		return 1, nothing
	}
	caFile := filepath.Join(tmp, "ca.crt")
	if err := os.WriteFile(caFile, restCfg.CAData, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		rmTmp()
		return 1, nothing
	}
	suffix := randHex(2)
	octet, _ := strconv.ParseUint(suffix[:2], 16, 8)
	e = &env{
		client:     client,
		nodeName:   "podrunner-e2e-" + suffix,
		stateDir:   filepath.Join(tmp, "state"),
		testapp:    filepath.Join(bin, "testapp"),
		testappV2:  filepath.Join(bin, "testapp-v2"),
		runnerLog:  filepath.Join(tmp, "runner.log"),
		runnerBin:  filepath.Join(bin, "podrunner"),
		imageMap:   imageMap,
		caFile:     caFile,
		kubeconfig: kc,
	}
	logf, err := os.Create(e.runnerLog)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		rmTmp()
		return 1, nothing
	}
	runner := exec.Command(filepath.Join(bin, "podrunner"),
		"--kubeconfig", kc, "--node-name", e.nodeName, "--image-map", imageMap, "--state-dir", e.stateDir,
		"--pod-cidr", freeSubnet(128+int(octet)%120), "--bridge", "psre"+suffix,
		"--restart-backoff", "1s", "--publish-root-ca", caFile, "--log-level", "debug")
	runner.Stdout, runner.Stderr = logf, logf
	runner.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := runner.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		rmTmp()
		return 1, nothing
	}
	stop := func() {
		_ = runner.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = runner.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = runner.Process.Kill()
			<-done
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.CoreV1().Nodes().Delete(ctx, e.nodeName, metav1.DeleteOptions{})
		logf.Close()
		rmTmp()
	}
	// The runner is ready once its node is Ready.
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := client.CoreV1().Nodes().Get(context.Background(), e.nodeName, metav1.GetOptions{})
		if err == nil && nodeReady(n) {
			break
		}
		if time.Now().After(deadline) || runner.ProcessState != nil {
			fmt.Fprintln(os.Stderr, "pod runner did not register a Ready node; its log:")
			b, _ := os.ReadFile(e.runnerLog)
			os.Stderr.Write(b)
			stop()
			return 1, nothing
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, func() {
		if os.Getenv("PODRUNNER_E2E_KEEP") == "1" {
			keep = true
			fmt.Fprintln(os.Stderr, "keeping", tmp)
		}
		stop()
	}
}

func nodeReady(n *v1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue {
			return true
		}
	}
	return false
}

// ns creates a namespace with its default ServiceAccount (no
// controller-manager creates it) and removes its pods at the end; on failure
// it prints the runner's log and the pods' container logs.
func ns(t *testing.T) string {
	t.Helper()
	if e == nil {
		t.Skip("podrunner e2e: " + skipWhy)
	}
	// Registered before the pod cleanup below, so removed after it (cleanups
	// run last-in first-out): containers write here until they are stopped.
	testDirs.Store(t, t.TempDir())
	ctx := context.Background()
	name := "podrunner-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.TrimRight(name, "-") + "-" + randHex(3)
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CoreV1().ServiceAccounts(name).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, name)
		}
		pods, _ := e.client.CoreV1().Pods(name).List(ctx, metav1.ListOptions{})
		for _, p := range pods.Items {
			_ = e.client.CoreV1().Pods(name).Delete(ctx, p.Name, metav1.DeleteOptions{})
		}
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			pods, err := e.client.CoreV1().Pods(name).List(ctx, metav1.ListOptions{})
			if err != nil || len(pods.Items) == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		_ = e.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

func dumpLogs(t *testing.T, namespace string) {
	b, _ := os.ReadFile(e.runnerLog)
	t.Logf("pod runner log:\n%s", b)
	logs, _ := filepath.Glob(filepath.Join(e.stateDir, "logs", namespace+"_*", "*", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		t.Logf("%s:\n%s", strings.TrimPrefix(l, e.stateDir+"/"), b)
	}
}

func boolPtr(b bool) *bool    { return &b }
func int64Ptr(i int64) *int64 { return &i }

var always = v1.ContainerRestartPolicyAlways

// basePod is a pod on the runner's node with volume "shared" mounted at
// /run/podrunner-test in every container: a hostPath to a test directory (returned), so
// the events the containers write there outlive the pod.
func basePod(t *testing.T, namespace, name string) (*v1.Pod, string) {
	base, ok := testDirs.Load(t)
	if !ok {
		t.Fatal("basePod needs ns(t) first")
	}
	dir, err := os.MkdirTemp(base.(string), name+"-")
	if err != nil {
		t.Fatal(err)
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1.PodSpec{
			NodeName:                      e.nodeName,
			TerminationGracePeriodSeconds: int64Ptr(5),
			Volumes:                       []v1.Volume{{Name: "shared", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: dir}}}},
		},
	}, dir
}

// container runs the test app with args, named name, with "shared" mounted.
func container(name string, args ...string) v1.Container {
	return v1.Container{
		Name:         name,
		Image:        "test/app:v1",
		Args:         append([]string{"--name", name, "--events", "/run/podrunner-test/events"}, args...),
		VolumeMounts: []v1.VolumeMount{{Name: "shared", MountPath: "/run/podrunner-test"}},
	}
}

func sidecar(name string, args ...string) v1.Container {
	c := container(name, args...)
	c.RestartPolicy = &always
	return c
}

func create(t *testing.T, pod *v1.Pod) *v1.Pod {
	t.Helper()
	p, err := e.client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitPod polls the pod until cond holds (generous deadline) and returns it.
func waitPod(t *testing.T, namespace, name, what string, cond func(*v1.Pod) bool) *v1.Pod {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last *v1.Pod
	for time.Now().Before(deadline) {
		p, err := e.client.CoreV1().Pods(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("pod %s/%s: timed out waiting for %s; phase %s, status %+v", namespace, name, what, last.Status.Phase, last.Status)
	}
	t.Fatalf("pod %s/%s: timed out waiting for %s", namespace, name, what)
	return nil
}

func waitGone(t *testing.T, namespace, name string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		_, err := e.client.CoreV1().Pods(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("pod %s/%s was not removed", namespace, name)
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func status(p *v1.Pod, name string) *v1.ContainerStatus {
	for _, l := range [][]v1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range l {
			if l[i].Name == name {
				return &l[i]
			}
		}
	}
	return nil
}

// volumeDir is where the runner materialises a pod's volume on the host.
func volumeDir(p *v1.Pod, volume string) string {
	return filepath.Join(e.stateDir, "pods", string(p.UID), "volumes", volume)
}

type event struct {
	who, what string
	at        int64
}

// readEvents parses the events file the test app instances append to.
func readEvents(t *testing.T, shared string) []event {
	t.Helper()
	f, err := os.Open(filepath.Join(shared, "events"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	defer f.Close()
	return parseEvents(t, f)
}

func parseEvents(t *testing.T, r io.Reader) []event {
	var out []event
	s := bufio.NewScanner(r)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) != 3 {
			t.Fatalf("bad event line %q", s.Text())
		}
		at, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, event{f[0], f[1], at})
	}
	return out
}

// indexOf is the position of the first event (who, what), or -1.
func indexOf(ev []event, who, what string) int {
	for i, x := range ev {
		if x.who == who && x.what == what {
			return i
		}
	}
	return -1
}

func hasEvent(who, what string) func([]event) bool {
	return func(ev []event) bool { return indexOf(ev, who, what) >= 0 }
}

// waitEvents waits until cond holds on the pod's events.
func waitEvents(t *testing.T, shared string, what string, cond func([]event) bool) []event {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		ev := readEvents(t, shared)
		if cond(ev) {
			return ev
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for events: %s; have %v", what, readEvents(t, shared))
	return nil
}

// freeSubnet is the first 10.213.X.0/24 from X=start on (wrapping within
// 8..247) that no interface of this machine uses, so concurrent runners (other
// test runs, the demo) do not collide.
func freeSubnet(start int) string {
	for i := 0; i < 240; i++ {
		x := 8 + (start-8+i)%240
		cidr := fmt.Sprintf("10.213.%d.0/24", x)
		if podrunner.SubnetUser(netip.MustParsePrefix(cidr)) == "" {
			return cidr
		}
	}
	return fmt.Sprintf("10.213.%d.0/24", start)
}
