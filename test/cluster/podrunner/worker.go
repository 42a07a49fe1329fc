package podrunner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kubestatus "k8s.io/kubernetes/pkg/kubelet/status"
)

// minimumGrace is the kubelet's minimumGracePeriodInSeconds: every container
// gets at least this long between SIGTERM and SIGKILL.
const minimumGrace = 2 * time.Second

// podWorker runs one pod (one UID) from first sight to deletion, like the
// kubelet's pod worker: every change (pod update, Secret/ConfigMap change,
// container exit, probe result) wakes it and it re-syncs the whole pod.
type podWorker struct {
	r         *Runner
	uid       types.UID
	namespace string
	name      string
	dir       string // state-dir/pods/<uid>
	logDir    string // state-dir/logs/<ns>_<name>_<uid>
	wake      chan struct{}
	log       *slog.Logger

	podIP      string
	sandboxErr string
	vols       podVolumes
	volErr     string
	lastVolLog string
	init       []*containerState
	main       []*containerState
	initDone   bool
	terminal   v1.PodPhase
	startTime  metav1.Time
	lastStatus *v1.PodStatus
	lastPod    *v1.Pod
}

func newPodWorker(r *Runner, pod *v1.Pod) *podWorker {
	w := &podWorker{
		r: r, uid: pod.UID, namespace: pod.Namespace, name: pod.Name,
		dir:    filepath.Join(r.cfg.StateDir, "pods", string(pod.UID)),
		logDir: filepath.Join(r.cfg.StateDir, "logs", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		wake:   make(chan struct{}, 1),
		log:    r.log.With("pod", pod.Namespace+"/"+pod.Name),
	}
	w.vols.dir = filepath.Join(w.dir, "volumes")
	for _, c := range pod.Spec.InitContainers {
		w.init = append(w.init, &containerState{name: c.Name, isInit: true, sidecar: isSidecar(&c), spec: c})
	}
	for _, c := range pod.Spec.Containers {
		w.main = append(w.main, &containerState{name: c.Name, spec: c})
	}
	return w
}

func isSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

func (w *podWorker) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run is the worker loop; it returns when the pod is gone or ctx ends.
func (w *podWorker) run(ctx context.Context) {
	defer w.cleanup()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.killAll(minimumGrace)
			return
		case <-w.wake:
		case <-tick.C:
		}
		pod := w.r.currentPod(w.namespace, w.name, w.uid)
		if pod == nil {
			// Force-deleted (or deleted by someone else): stop everything.
			grace := int64(2)
			if w.lastPod != nil && w.lastPod.DeletionGracePeriodSeconds != nil {
				grace = *w.lastPod.DeletionGracePeriodSeconds
			}
			w.terminate(w.lastPod, grace)
			return
		}
		w.lastPod = pod
		if pod.DeletionTimestamp != nil {
			grace := int64(30)
			if pod.DeletionGracePeriodSeconds != nil {
				grace = *pod.DeletionGracePeriodSeconds
			} else if pod.Spec.TerminationGracePeriodSeconds != nil {
				grace = *pod.Spec.TerminationGracePeriodSeconds
			}
			w.terminate(pod, grace)
			w.finishDeletion(ctx, pod)
			return
		}
		w.sync(ctx, pod)
		w.writeStatus(ctx, pod)
	}
}

func (w *podWorker) all() []*containerState {
	return append(append([]*containerState(nil), w.init...), w.main...)
}

// sync moves the pod one step towards its spec.
func (w *podWorker) sync(ctx context.Context, pod *v1.Pod) {
	if w.startTime.IsZero() {
		w.startTime = secondsTime(time.Now())
	}
	for _, cs := range w.all() {
		if cs.collectExit() {
			cs.stopping = false
		}
	}
	if w.terminal != "" {
		return
	}
	w.r.publishRootCA(ctx, pod.Namespace)
	if w.podIP == "" {
		ip, err := w.r.net.AddPod(string(w.uid))
		if err != nil {
			w.sandboxErr = err.Error()
			w.log.Error("pod network", "err", err)
			return
		}
		w.podIP, w.sandboxErr = ip, ""
		if err := w.writeHosts(pod); err != nil {
			w.log.Error("hosts file", "err", err)
		}
	}
	if err := w.vols.Sync(ctx, pod, w.r.objects, w.r); err != nil {
		w.volErr = err.Error()
		if !w.vols.AllReady(pod) {
			if w.volErr != w.lastVolLog {
				w.log.Info("waiting for volumes", "err", err)
				w.lastVolLog = w.volErr
			}
			return
		}
		w.log.Warn("volume update failed; keeping the last content", "err", err)
	} else {
		w.volErr = ""
	}
	w.applySpecChanges(pod)
	w.handleProbeFailures(pod)

	// Init containers, in order. A sidecar must have started before the next
	// init container (or the app containers) start; a regular init container
	// must have exited 0.
	for i, cs := range w.init {
		c := &pod.Spec.InitContainers[i]
		if cs.sidecar {
			if !cs.running() && !cs.stopping && w.restartDue(cs) {
				w.start(pod, cs, c)
			}
			if w.initDone {
				continue
			}
			if !cs.running() {
				return
			}
			if started, _, _, _ := cs.probes.get(); !started {
				return
			}
			continue
		}
		if w.initDone || cs.completed {
			continue
		}
		if cs.running() || cs.stopping {
			return
		}
		if cs.last != nil {
			if cs.last.ExitCode == 0 {
				cs.completed = true
				continue
			}
			if pod.Spec.RestartPolicy == v1.RestartPolicyNever {
				w.log.Info("init container failed; pod fails", "container", cs.name, "exitCode", cs.last.ExitCode)
				w.complete(pod, v1.PodFailed)
				return
			}
		}
		if w.restartDue(cs) {
			w.start(pod, cs, c)
		}
		return
	}
	w.initDone = true

	for i, cs := range w.main {
		c := &pod.Spec.Containers[i]
		if cs.running() || cs.stopping {
			continue
		}
		if cs.last == nil || w.willRestart(pod, cs) {
			if w.restartDue(cs) {
				w.start(pod, cs, c)
			}
		}
	}

	// Pods that do not restart their app containers complete once all of them
	// exited: the sidecars are stopped and the phase becomes terminal.
	if pod.Spec.RestartPolicy != v1.RestartPolicyAlways {
		done, failed := true, false
		for _, cs := range w.main {
			if cs.running() || cs.stopping || cs.last == nil || w.willRestart(pod, cs) {
				done = false
				break
			}
			failed = failed || cs.last.ExitCode != 0
		}
		if done {
			phase := v1.PodSucceeded
			if failed {
				phase = v1.PodFailed
			}
			w.complete(pod, phase)
		}
	}
}

// willRestart says whether an exited container will be started again under
// the pod's restart policy (sidecars always are).
func (w *podWorker) willRestart(pod *v1.Pod, cs *containerState) bool {
	if cs.last == nil || w.terminal != "" {
		return false
	}
	if cs.restartNow || cs.sidecar {
		return true
	}
	if cs.isInit {
		return !cs.completed && cs.last.ExitCode != 0 && pod.Spec.RestartPolicy != v1.RestartPolicyNever
	}
	switch pod.Spec.RestartPolicy {
	case v1.RestartPolicyAlways:
		return true
	case v1.RestartPolicyOnFailure:
		return cs.last.ExitCode != 0
	}
	return false
}

// restartDue applies the crash-loop back-off: the first start and restarts
// after a spec change are immediate, crashes wait 10s, 20s, ... up to the
// maximum (the kubelet's defaults; --restart-backoff changes the first step).
func (w *podWorker) restartDue(cs *containerState) bool {
	if cs.last == nil || cs.restartNow {
		return true
	}
	if cs.nextStart.IsZero() {
		ran := cs.proc.finishedAt.Sub(cs.proc.startedAt)
		if cs.backoff == 0 || ran > 2*w.r.cfg.MaxRestartBackoff {
			cs.backoff = w.r.cfg.RestartBackoff
		} else {
			cs.backoff *= 2
			if cs.backoff > w.r.cfg.MaxRestartBackoff {
				cs.backoff = w.r.cfg.MaxRestartBackoff
			}
		}
		cs.nextStart = cs.proc.finishedAt.Add(cs.backoff)
		cs.waitMessage = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", cs.backoff, cs.name, w.name, w.namespace, w.uid)
		time.AfterFunc(time.Until(cs.nextStart), w.notify)
	}
	if time.Now().Before(cs.nextStart) {
		return false
	}
	return true
}

// applySpecChanges restarts containers whose image changed in place: regular
// containers always, sidecars as kubelets 1.32+ do. Completed regular init
// containers are not run again.
func (w *podWorker) applySpecChanges(pod *v1.Pod) {
	check := func(cs *containerState, c *v1.Container) {
		if c.Image == cs.spec.Image || cs.stopping || (cs.isInit && !cs.sidecar) {
			return
		}
		if !cs.running() {
			return // the next start uses the new spec
		}
		w.log.Info("image changed; restarting container", "container", cs.name, "from", cs.spec.Image, "to", c.Image)
		w.stopAsync(pod, cs, "Container "+cs.name+" definition changed, will be restarted")
	}
	for i, cs := range w.init {
		check(cs, &pod.Spec.InitContainers[i])
	}
	for i, cs := range w.main {
		check(cs, &pod.Spec.Containers[i])
	}
}

// handleProbeFailures restarts containers whose liveness or startup probe
// failed.
func (w *podWorker) handleProbeFailures(pod *v1.Pod) {
	for _, cs := range w.all() {
		if !cs.running() || cs.stopping {
			continue
		}
		if _, _, fail, msg := cs.probes.get(); fail {
			w.log.Info("probe failed; restarting container", "container", cs.name, "msg", msg)
			w.stopAsync(pod, cs, msg)
		}
	}
}

func (w *podWorker) podGrace(pod *v1.Pod) time.Duration {
	g := int64(30)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	d := time.Duration(g) * time.Second
	if d < minimumGrace {
		d = minimumGrace
	}
	return d
}

// stopAsync stops one container (pod grace period) and has it restarted at
// once when it is gone.
func (w *podWorker) stopAsync(pod *v1.Pod, cs *containerState, msg string) {
	cs.stopping, cs.restartNow, cs.waitMessage = true, true, msg
	p, grace := cs.proc, w.podGrace(pod)
	go func() {
		p.stop(grace)
		w.notify()
	}()
}

// start launches a new instance of container c.
func (w *podWorker) start(pod *v1.Pod, cs *containerState, c *v1.Container) {
	if cs.proc != nil {
		cs.collectExit()
		cs.restarts++
	}
	cs.nextStart, cs.restartNow = time.Time{}, false
	cs.spec = *c.DeepCopy()
	if err := w.startInstance(pod, cs, c); err != nil {
		w.log.Error("cannot start container", "container", c.Name, "err", err)
		cs.waitReason, cs.waitMessage = "CreateContainerConfigError", err.Error()
		if cs.proc != nil {
			cs.restarts-- // nothing ran
		}
		// Try again on the next sync (secrets may appear, the image map may be fixed).
		time.AfterFunc(2*time.Second, w.notify)
		return
	}
	cs.waitReason, cs.waitMessage = "", ""
	w.log.Info("started container", "container", c.Name, "pid", cs.proc.pid, "restarts", cs.restarts, "image", c.Image)
}

func (w *podWorker) startInstance(pod *v1.Pod, cs *containerState, c *v1.Container) error {
	entry, err := w.r.images.Resolve(c.Image)
	if err != nil {
		return err
	}
	ips := PodIPs{PodIP: w.podIP, HostIP: w.r.net.HostIP()}
	env, err := ContainerEnv(pod, c, entry.Env, ips, w.r.objects)
	if err != nil {
		return err
	}
	argv, err := ContainerArgv(entry, ExpandArgv(c.Command, env), ExpandArgv(c.Args, env))
	if err != nil {
		return err
	}
	imageID, err := w.r.imageIDs.ImageID(argv[0])
	if err != nil {
		return fmt.Errorf("image %s: binary %s: %w", c.Image, argv[0], err)
	}
	mounts, err := w.mounts(pod, c)
	if err != nil {
		return err
	}
	spec := ContainerSpec{
		Argv: argv, Env: env, Netns: NetnsPath(string(w.uid)), Hostname: pod.Name,
		WorkingDir: c.WorkingDir, Mounts: mounts,
	}
	if err := os.MkdirAll(filepath.Join(w.dir, "specs"), 0o700); err != nil {
		return err
	}
	restarts := cs.restarts
	specFile := filepath.Join(w.dir, "specs", fmt.Sprintf("%s-%d.json", c.Name, restarts))
	logFile := filepath.Join(w.logDir, c.Name, fmt.Sprintf("%d.log", restarts))
	p, err := startProc(w.r.self, spec, specFile, logFile, w.notify)
	if err != nil {
		return err
	}
	cs.proc, cs.imageID = p, imageID
	cs.probes = &probeState{}
	pctx, cancel := context.WithCancel(context.Background())
	cs.cancel = cancel
	cc := c.DeepCopy()
	podIP := w.podIP
	exec := func(ctx context.Context, command []string, timeout time.Duration) (int, string, error) {
		s := spec
		// Exec probe commands name programs as the image sees them: translate
		// them like a container command (image map `commands`, entrypoint name).
		s.Argv = ExpandArgv(command, env)
		if argv, err := ContainerArgv(entry, s.Argv, nil); err == nil {
			s.Argv = argv
		}
		f := filepath.Join(w.dir, "specs", fmt.Sprintf("probe-%s-%d-%d.json", c.Name, restarts, time.Now().UnixNano()))
		return runHelper(w.r.self, s, f, timeout)
	}
	go runProbes(pctx, cc, podIP, exec, cs.probes, w.notify)
	return nil
}

// mounts lists a container's bind mounts: its volumeMounts and the pod's
// /etc/hosts (as the kubelet manages it).
func (w *podWorker) mounts(pod *v1.Pod, c *v1.Container) ([]Mount, error) {
	var out []Mount
	hostsMounted := false
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		src, err := w.vols.MountSource(pod, m)
		if err != nil {
			return nil, err
		}
		out = append(out, Mount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly})
		hostsMounted = hostsMounted || filepath.Clean(m.MountPath) == "/etc/hosts"
	}
	if !hostsMounted {
		out = append(out, Mount{Source: filepath.Join(w.dir, "etc-hosts"), Target: "/etc/hosts"})
	}
	return out, nil
}

func (w *podWorker) writeHosts(pod *v1.Pod) error {
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return err
	}
	content := fmt.Sprintf("# Kubernetes-managed hosts file (pod runner).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", w.podIP, pod.Name)
	return os.WriteFile(filepath.Join(w.dir, "etc-hosts"), []byte(content), 0o644)
}

// complete stops the sidecars (and anything else still running) in the
// kubelet's termination order and makes the phase terminal.
func (w *podWorker) complete(pod *v1.Pod, phase v1.PodPhase) {
	w.log.Info("pod completes", "phase", phase)
	w.killOrdered(pod, int64(w.podGrace(pod)/time.Second))
	w.terminal = phase
}

// terminate stops every container for a pod deletion.
func (w *podWorker) terminate(pod *v1.Pod, grace int64) {
	if pod == nil {
		w.killAll(minimumGrace)
		return
	}
	w.killOrdered(pod, grace)
	for _, cs := range w.all() {
		cs.collectExit()
	}
	if w.terminal == "" {
		// The kubelet's phase for a pod whose containers all stopped: the app
		// containers' exit codes decide, the sidecars' do not count.
		w.terminal = v1.PodSucceeded
		for _, cs := range w.main {
			if cs.last == nil || cs.last.ExitCode != 0 {
				w.terminal = v1.PodFailed
			}
		}
	}
}

// killOrdered reproduces the kubelet's terminationOrdering: all containers
// are told to stop at once, but each sidecar first waits (within the grace
// period) for every app container and every sidecar after it to exit; the
// time it waited is taken from its grace period, and no container gets less
// than minimumGrace between SIGTERM and SIGKILL.
func (w *podWorker) killOrdered(pod *v1.Pod, grace int64) {
	terminated := map[string]chan struct{}{}
	for _, cs := range w.all() {
		ch := make(chan struct{})
		terminated[cs.name] = ch
		if !cs.running() {
			close(ch)
		}
	}
	prereqs := map[string][]chan struct{}{}
	prevSidecar := ""
	for i := len(w.init) - 1; i >= 0; i-- {
		cs := w.init[i]
		if !cs.sidecar {
			continue
		}
		for _, m := range w.main {
			prereqs[cs.name] = append(prereqs[cs.name], terminated[m.name])
		}
		if prevSidecar != "" {
			prereqs[cs.name] = append(prereqs[cs.name], terminated[prevSidecar])
		}
		prevSidecar = cs.name
	}
	var wg sync.WaitGroup
	for _, cs := range w.all() {
		if !cs.running() {
			continue
		}
		cs.stopping = true
		wg.Add(1)
		go func(cs *containerState, p *proc) {
			defer wg.Done()
			g := grace
			if g > 0 && len(prereqs[cs.name]) > 0 {
				start := time.Now()
				timer := time.NewTimer(time.Duration(g) * time.Second)
			wait:
				for _, ch := range prereqs[cs.name] {
					select {
					case <-ch:
					case <-timer.C:
						break wait
					}
				}
				timer.Stop()
				g -= int64(time.Since(start).Seconds())
			}
			d := time.Duration(g) * time.Second
			if d < minimumGrace {
				d = minimumGrace
			}
			w.log.Info("stopping container", "container", cs.name, "grace", d)
			p.stop(d)
			close(terminated[cs.name])
		}(cs, cs.proc)
	}
	wg.Wait()
	for _, cs := range w.all() {
		cs.stopping = false
		cs.collectExit()
	}
}

// killAll stops every container at once (runner shutdown, vanished pod).
func (w *podWorker) killAll(grace time.Duration) {
	var wg sync.WaitGroup
	for _, cs := range w.all() {
		if cs.running() {
			wg.Add(1)
			go func(p *proc) { defer wg.Done(); p.stop(grace) }(cs.proc)
		}
	}
	wg.Wait()
}

// finishDeletion reports the final status and removes the pod object, as
// the kubelet's status manager does once the pod's containers are gone.
func (w *podWorker) finishDeletion(ctx context.Context, pod *v1.Pod) {
	w.writeStatus(ctx, pod)
	grace := int64(0)
	uid := pod.UID
	err := w.r.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &grace,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		w.log.Error("delete pod", "err", err)
	}
}

// cleanup removes the pod's network namespace and state (logs stay).
func (w *podWorker) cleanup() {
	for _, cs := range w.all() {
		if cs.cancel != nil {
			cs.cancel()
		}
	}
	if w.podIP != "" {
		w.r.net.RemovePod(string(w.uid), w.podIP)
	} else {
		RemoveNetns(NetnsName(string(w.uid)))
	}
	if err := os.RemoveAll(w.dir); err != nil {
		w.log.Warn("remove pod state", "err", err)
	}
	w.r.workerDone(w)
}

// buildStatus computes the pod status the kubelet would report, with the
// kubelet's own condition generators.
func (w *podWorker) buildStatus(pod *v1.Pod) v1.PodStatus {
	s := v1.PodStatus{
		QOSClass:  pod.Status.QOSClass,
		HostIP:    w.r.net.HostIP(),
		HostIPs:   []v1.HostIP{{IP: w.r.net.HostIP()}},
		StartTime: &w.startTime,
	}
	if w.podIP != "" {
		s.PodIP = w.podIP
		s.PodIPs = []v1.PodIP{{IP: w.podIP}}
	}
	for _, cs := range w.init {
		defWait := "PodInitializing"
		st := cs.status(w.willRestart(pod, cs), defWait)
		s.InitContainerStatuses = append(s.InitContainerStatuses, st)
	}
	defWait := "ContainerCreating"
	if !w.initDone {
		defWait = "PodInitializing"
	}
	for _, cs := range w.main {
		s.ContainerStatuses = append(s.ContainerStatuses, cs.status(w.willRestart(pod, cs), defWait))
	}
	s.Phase = w.phase(pod)
	all := append(append([]v1.ContainerStatus(nil), s.InitContainerStatuses...), s.ContainerStatuses...)
	sandbox := v1.ConditionFalse
	if w.podIP != "" && w.terminal == "" {
		sandbox = v1.ConditionTrue
	}
	s.Conditions = []v1.PodCondition{
		{Type: v1.PodReadyToStartContainers, Status: sandbox},
		kubestatus.GeneratePodInitializedCondition(pod, &pod.Status, all, s.Phase),
		kubestatus.GeneratePodReadyCondition(pod, &pod.Status, pod.Status.Conditions, all, s.Phase),
		kubestatus.GenerateContainersReadyCondition(pod, &pod.Status, all, s.Phase),
		{Type: v1.PodScheduled, Status: v1.ConditionTrue},
	}
	now := secondsTime(time.Now())
	for i := range s.Conditions {
		c := &s.Conditions[i]
		c.LastTransitionTime = now
		for _, old := range pod.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		if w.lastStatus != nil {
			for _, old := range w.lastStatus.Conditions {
				if old.Type == c.Type && old.Status == c.Status {
					c.LastTransitionTime = old.LastTransitionTime
				}
			}
		}
	}
	if msgs := w.pendingMessages(); msgs != "" && s.Phase == v1.PodPending {
		s.Message = msgs
	}
	return s
}

func (w *podWorker) pendingMessages() string {
	var m []string
	if w.sandboxErr != "" {
		m = append(m, "network: "+w.sandboxErr)
	}
	if w.volErr != "" {
		m = append(m, "volumes: "+w.volErr)
	}
	return strings.Join(m, "; ")
}

// phase follows the kubelet's getPhase for the cases the runner produces.
func (w *podWorker) phase(pod *v1.Pod) v1.PodPhase {
	if w.terminal != "" {
		return w.terminal
	}
	if !w.initDone {
		return v1.PodPending
	}
	running, waiting := 0, 0
	for _, cs := range w.main {
		switch {
		case cs.running():
			running++
		case cs.last == nil:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return v1.PodPending
	case running > 0:
		return v1.PodRunning
	}
	return v1.PodRunning // all exited, restarting under the pod's policy
}

// writeStatus sends the status when it differs from the last one sent.
func (w *podWorker) writeStatus(ctx context.Context, pod *v1.Pod) {
	s := w.buildStatus(pod)
	if w.lastStatus != nil && apiequality.Semantic.DeepEqual(*w.lastStatus, s) {
		return
	}
	for attempt := 0; attempt < 3; attempt++ {
		p := pod.DeepCopy()
		p.Status = s
		_, err := w.r.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err == nil {
			w.lastStatus = &s
			return
		}
		if !apierrors.IsConflict(err) {
			if !apierrors.IsNotFound(err) {
				w.log.Error("update pod status", "err", err)
			}
			return
		}
		fresh, err := w.r.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || fresh.UID != w.uid {
			return
		}
		pod = fresh
		s = w.buildStatus(pod)
	}
}
