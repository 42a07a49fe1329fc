package podrunner

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerState is the runner's record of one container of a pod across
// its restarts.
type containerState struct {
	name    string
	isInit  bool
	sidecar bool // init container with restartPolicy Always

	spec     v1.Container // the spec the current (or last) instance started from
	imageID  string
	restarts int32
	proc     *proc
	probes   *probeState
	cancel   context.CancelFunc // stops the probes of proc

	last     *v1.ContainerStateTerminated // termination of the latest instance
	prevLast *v1.ContainerStateTerminated // termination before that (lastState while running)

	stopping   bool          // a stop (image change, liveness) is in progress
	restartNow bool          // restart without back-off once stopped
	backoff    time.Duration // current crash-loop back-off
	nextStart  time.Time     // not before this (back-off)
	completed  bool          // regular init container exited 0

	waitReason, waitMessage string
}

func secondsTime(t time.Time) metav1.Time {
	return metav1.NewTime(t.Truncate(time.Second))
}

func (cs *containerState) running() bool { return cs.proc != nil && cs.proc.running() }

// everStarted reports whether an instance was ever started.
func (cs *containerState) everStarted() bool { return cs.proc != nil }

// collectExit turns a finished instance into its terminated state, once.
func (cs *containerState) collectExit() bool {
	p := cs.proc
	if p == nil || p.running() || p.collected {
		return false
	}
	p.collected = true
	if cs.cancel != nil {
		cs.cancel()
		cs.cancel = nil
	}
	reason := "Completed"
	msg := ""
	if p.exitCode != 0 {
		reason = "Error"
	}
	if p.startErr != "" {
		reason, msg = "StartError", p.startErr
	}
	cs.prevLast = cs.last
	cs.last = &v1.ContainerStateTerminated{
		ExitCode:    p.exitCode,
		Signal:      p.signal,
		Reason:      reason,
		Message:     msg,
		StartedAt:   secondsTime(p.startedAt),
		FinishedAt:  secondsTime(p.finishedAt),
		ContainerID: cs.containerID(),
	}
	return true
}

func (cs *containerState) containerID() string {
	if cs.proc == nil {
		return ""
	}
	return fmt.Sprintf("podrunner://%s-%d-%d", cs.name, cs.restarts, cs.proc.pid)
}

// status renders the container's v1.ContainerStatus. pendingRestart says the
// runner will start it again (shown as waiting, as the kubelet does).
func (cs *containerState) status(pendingRestart bool, defaultWait string) v1.ContainerStatus {
	st := v1.ContainerStatus{
		Name:         cs.name,
		Image:        cs.spec.Image,
		ImageID:      cs.imageID,
		RestartCount: cs.restarts,
	}
	f := false
	st.Started = &f
	switch {
	case cs.running():
		started, ready, _, _ := cs.probes.get()
		st.State.Running = &v1.ContainerStateRunning{StartedAt: secondsTime(cs.proc.startedAt)}
		st.ContainerID = cs.containerID()
		st.Started = &started
		st.Ready = started && ready
		if cs.last != nil {
			st.LastTerminationState.Terminated = cs.last.DeepCopy()
		}
	case cs.last != nil && pendingRestart:
		reason := "CrashLoopBackOff"
		if cs.restartNow || cs.stopping {
			reason = "ContainerCreating"
		}
		st.State.Waiting = &v1.ContainerStateWaiting{Reason: reason, Message: cs.waitMessage}
		st.LastTerminationState.Terminated = cs.last.DeepCopy()
		st.ContainerID = cs.last.ContainerID
	case cs.last != nil:
		st.State.Terminated = cs.last.DeepCopy()
		st.ContainerID = cs.last.ContainerID
		if cs.prevLast != nil {
			st.LastTerminationState.Terminated = cs.prevLast.DeepCopy()
		}
		// The kubelet reports a completed regular init container as ready.
		st.Ready = cs.isInit && !cs.sidecar && cs.completed
	default:
		reason := cs.waitReason
		if reason == "" {
			reason = defaultWait
		}
		st.State.Waiting = &v1.ContainerStateWaiting{Reason: reason, Message: cs.waitMessage}
	}
	return st
}
