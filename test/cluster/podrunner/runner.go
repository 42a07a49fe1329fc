package podrunner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Config is the runner's command line.
type Config struct {
	Kubeconfig        string
	NodeName          string
	ImageMapFile      string
	StateDir          string
	PodCIDR           string
	Bridge            string
	KubeletVersion    string
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// RootCAFile, when set, is published as ConfigMap kube-root-ca.crt (key
	// ca.crt) in each namespace the runner runs a pod in, as the
	// controller-manager's root-ca-cert-publisher would: the service account
	// token volume the API server adds to pods projects it.
	RootCAFile string
	// Self is the runner binary, re-executed as `exec-container`.
	Self string
}

// Runner watches the pods bound to its node and runs them.
type Runner struct {
	cfg      Config
	client   kubernetes.Interface
	log      *slog.Logger
	net      *Network
	images   *ImageMap
	imageIDs imageIDs
	objects  ObjectGetter
	self     string

	podLister corelisters.PodLister

	rootCA    []byte
	caMu      sync.Mutex
	published map[string]bool

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	// finished pods: late informer events for them must not start a new
	// worker (which would report a fresh status for a pod already torn down).
	finished map[types.UID]time.Time
	wg       sync.WaitGroup
	ctx      context.Context
}

// listerObjects reads Secrets and ConfigMaps from informer caches.
type listerObjects struct {
	secrets    corelisters.SecretLister
	configMaps corelisters.ConfigMapLister
}

func (l listerObjects) Secret(ns, name string) (*v1.Secret, error) {
	s, err := l.secrets.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return s, err
}

func (l listerObjects) ConfigMap(ns, name string) (*v1.ConfigMap, error) {
	c, err := l.configMaps.ConfigMaps(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return c, err
}

// Token implements TokenSource with the TokenRequest API, as the kubelet's
// token manager does.
func (r *Runner) Token(ctx context.Context, pod *v1.Pod, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	return r.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
}

// Run runs until ctx ends, then stops every container and removes the pod
// network namespaces and the bridge it created.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.NodeName == "" || cfg.StateDir == "" || cfg.ImageMapFile == "" {
		return fmt.Errorf("--node-name, --state-dir and --image-map are required")
	}
	if cfg.RestartBackoff <= 0 {
		cfg.RestartBackoff = 10 * time.Second
	}
	if cfg.MaxRestartBackoff <= 0 {
		cfg.MaxRestartBackoff = 300 * time.Second
	}
	images, err := LoadImageMap(cfg.ImageMapFile)
	if err != nil {
		return err
	}
	network, err := NewNetwork(cfg.Bridge, cfg.PodCIDR)
	if err != nil {
		return err
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig %q: %w", cfg.Kubeconfig, err)
	}
	restCfg.QPS, restCfg.Burst = 50, 100
	restCfg.UserAgent = "podrunner/" + cfg.NodeName
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "pods"), 0o755); err != nil {
		return err
	}
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return err
	}
	cfg.StateDir = stateDir
	unlock, err := lockBridge(cfg.Bridge)
	if err != nil {
		return err
	}
	defer unlock()
	cleanStalePods(cfg.StateDir, log)
	if err := network.Setup(); err != nil {
		return err
	}
	defer network.Teardown()

	r := &Runner{cfg: cfg, client: client, log: log, net: network, images: images, self: cfg.Self,
		workers: map[types.UID]*podWorker{}, finished: map[types.UID]time.Time{}, ctx: ctx, published: map[string]bool{}}
	if cfg.RootCAFile != "" {
		if r.rootCA, err = os.ReadFile(cfg.RootCAFile); err != nil {
			return fmt.Errorf("--publish-root-ca %q: %w", cfg.RootCAFile, err)
		}
	}
	if err := r.ensureNode(ctx, true); err != nil {
		return err
	}

	nodeFactory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=" + cfg.NodeName }))
	podInformer := nodeFactory.Core().V1().Pods()
	r.podLister = podInformer.Lister()
	factory := informers.NewSharedInformerFactory(client, 0)
	secrets := factory.Core().V1().Secrets()
	configMaps := factory.Core().V1().ConfigMaps()
	r.objects = listerObjects{secrets: secrets.Lister(), configMaps: configMaps.Lister()}

	wakeNamespace := func(obj interface{}) {
		if m, err := metaOf(obj); err == nil {
			r.wakeNamespace(m.GetNamespace())
		}
	}
	objHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    wakeNamespace,
		UpdateFunc: func(_, n interface{}) { wakeNamespace(n) },
		DeleteFunc: wakeNamespace,
	}
	if _, err := secrets.Informer().AddEventHandler(objHandler); err != nil {
		return err
	}
	if _, err := configMaps.Informer().AddEventHandler(objHandler); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cache for %v did not sync", typ)
		}
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o interface{}) { r.onPod(o) },
		UpdateFunc: func(_, n interface{}) { r.onPod(n) },
		DeleteFunc: func(o interface{}) { r.onPod(o) },
	}); err != nil {
		return err
	}
	nodeFactory.Start(ctx.Done())
	nodeFactory.WaitForCacheSync(ctx.Done())
	log.Info("pod runner ready", "node", cfg.NodeName, "podCIDR", network.CIDR(), "hostIP", network.HostIP(), "bridge", cfg.Bridge)

	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down: stopping all pods")
			r.wg.Wait()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r.setNodeNotReady(sctx)
			return nil
		case <-heartbeat.C:
			if err := r.ensureNode(ctx, false); err != nil {
				log.Warn("node heartbeat", "err", err)
			}
		}
	}
}

func metaOf(obj interface{}) (metav1.Object, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("not an object: %T", obj)
	}
	return m, nil
}

func (r *Runner) onPod(obj interface{}) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if w, ok := r.workers[pod.UID]; ok {
		w.notify()
		return
	}
	if r.ctx.Err() != nil {
		return
	}
	if _, done := r.finished[pod.UID]; done {
		return
	}
	if _, err := r.podLister.Pods(pod.Namespace).Get(pod.Name); err != nil {
		return // a delete event for a pod no worker ran
	}
	terminal := pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
	if terminal && pod.DeletionTimestamp == nil {
		return // finished before this runner started; nothing to run
	}
	w := newPodWorker(r, pod)
	if terminal {
		w.terminal = pod.Status.Phase
	}
	r.workers[pod.UID] = w
	r.wg.Add(1)
	go w.run(r.ctx)
	w.notify()
}

func (r *Runner) wakeNamespace(ns string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.workers {
		if w.namespace == ns {
			w.notify()
		}
	}
}

func (r *Runner) workerDone(w *podWorker) {
	r.mu.Lock()
	delete(r.workers, w.uid)
	now := time.Now()
	r.finished[w.uid] = now
	for uid, at := range r.finished {
		if now.Sub(at) > 10*time.Minute {
			delete(r.finished, uid)
		}
	}
	r.mu.Unlock()
	r.wg.Done()
}

// currentPod is the cached pod with this UID, or nil when it is gone.
func (r *Runner) currentPod(ns, name string, uid types.UID) *v1.Pod {
	p, err := r.podLister.Pods(ns).Get(name)
	if err != nil || p.UID != uid {
		return nil
	}
	return p
}

// ensureNode registers the fake node (create) and refreshes its Ready
// condition (heartbeat).
func (r *Runner) ensureNode(ctx context.Context, register bool) error {
	nodes := r.client.CoreV1().Nodes()
	now := metav1.Now()
	status := v1.NodeStatus{
		Capacity: v1.ResourceList{
			v1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
			v1.ResourceMemory: resource.MustParse("8Gi"),
			v1.ResourcePods:   resource.MustParse("110"),
		},
		Conditions: []v1.NodeCondition{{
			Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady",
			Message: "podrunner is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
		}},
		Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: r.net.HostIP()}, {Type: v1.NodeHostName, Address: r.cfg.NodeName}},
		NodeInfo: v1.NodeSystemInfo{
			KubeletVersion: r.cfg.KubeletVersion, KubeProxyVersion: r.cfg.KubeletVersion,
			OperatingSystem: "linux", Architecture: runtime.GOARCH, ContainerRuntimeVersion: "podrunner://1",
		},
	}
	status.Allocatable = status.Capacity
	node, err := nodes.Get(ctx, r.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node = &v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: r.cfg.NodeName, Labels: map[string]string{
				"kubernetes.io/hostname": r.cfg.NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": runtime.GOARCH,
				"promsidecar.dev/podrunner": "true",
			}},
			Spec:   v1.NodeSpec{PodCIDR: r.net.CIDR(), PodCIDRs: []string{r.net.CIDR()}},
			Status: status,
		}
		if node, err = nodes.Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", r.cfg.NodeName, err)
		}
	} else if err != nil {
		return fmt.Errorf("get node %s: %w", r.cfg.NodeName, err)
	}
	for _, c := range node.Status.Conditions {
		if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue && !register {
			status.Conditions[0].LastTransitionTime = c.LastTransitionTime
		}
	}
	node.Status = status
	if _, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update node %s status: %w", r.cfg.NodeName, err)
	}
	return nil
}

func (r *Runner) setNodeNotReady(ctx context.Context) {
	nodes := r.client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, r.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return
	}
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == v1.NodeReady {
			node.Status.Conditions[i].Status = v1.ConditionFalse
			node.Status.Conditions[i].Reason = "KubeletNotReady"
			node.Status.Conditions[i].Message = "podrunner stopped"
			node.Status.Conditions[i].LastTransitionTime = metav1.Now()
		}
	}
	_, _ = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
}

// lockBridge makes sure one runner at a time uses a bridge (and its subnet).
func lockBridge(bridge string) (func(), error) {
	if err := os.MkdirAll("/run/podrunner", 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile("/run/podrunner/"+bridge+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another pod runner uses bridge %s; give this one its own --bridge and --pod-cidr", bridge)
	}
	return func() {
		os.Remove(f.Name())
		f.Close()
	}, nil
}

// cleanStalePods removes what a crashed runner left: network namespaces and
// pod state directories (its container processes died with it).
func cleanStalePods(stateDir string, log *slog.Logger) {
	entries, _ := os.ReadDir(filepath.Join(stateDir, "pods"))
	for _, e := range entries {
		RemoveNetns(NetnsName(e.Name()))
		if err := os.RemoveAll(filepath.Join(stateDir, "pods", e.Name())); err != nil {
			log.Warn("remove stale pod state", "dir", e.Name(), "err", err)
		}
	}
}

// publishRootCA creates ConfigMap kube-root-ca.crt in ns when the runner was
// given a CA file and the namespace lacks it (no controller-manager runs).
func (r *Runner) publishRootCA(ctx context.Context, ns string) {
	if r.rootCA == nil {
		return
	}
	r.caMu.Lock()
	defer r.caMu.Unlock()
	if r.published[ns] {
		return
	}
	if cm, _ := r.objects.ConfigMap(ns, "kube-root-ca.crt"); cm != nil {
		r.published[ns] = true
		return
	}
	_, err := r.client.CoreV1().ConfigMaps(ns).Create(ctx, &v1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: ns},
		Data:       map[string]string{"ca.crt": string(r.rootCA)},
	}, metav1.CreateOptions{})
	if err == nil || apierrors.IsAlreadyExists(err) {
		r.published[ns] = true
		return
	}
	r.log.Warn("publish kube-root-ca.crt", "namespace", ns, "err", err)
}
