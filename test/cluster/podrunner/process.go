package podrunner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Mount is one bind mount into a container's private mount namespace.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// ContainerSpec is what `podrunner exec-container` needs to become a
// container process: mounts, network namespace, hostname, then exec.
type ContainerSpec struct {
	Argv       []string `json:"argv"`
	Env        []string `json:"env"`
	Netns      string   `json:"netns,omitempty"`
	Hostname   string   `json:"hostname,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	Mounts     []Mount  `json:"mounts,omitempty"`
}

// ExecContainerCommand is the argv[1] of the helper mode.
const ExecContainerCommand = "exec-container"

// ExecContainer runs in the helper process, which the runner started in a
// fresh mount and UTS namespace (Go makes "/" recursively private before
// exec, so nothing below leaks to the host). It binds the volumes onto their
// mount paths, joins the pod's network namespace and execs the container's
// program in place, so the container's PID is the helper's. It returns only
// on failure; the failure is also written to specFile+".err" for the runner's
// container status.
func ExecContainer(specFile string) error {
	runtime.LockOSThread() // setns and execve must happen on the same thread
	err := execContainer(specFile)
	_ = os.WriteFile(specFile+".err", []byte(err.Error()), 0o644)
	return err
}

func execContainer(specFile string) error {
	data, err := os.ReadFile(specFile)
	if err != nil {
		return err
	}
	var spec ContainerSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("spec %s: %w", specFile, err)
	}
	if len(spec.Argv) == 0 {
		return errors.New("empty argv")
	}
	mounts := append([]Mount(nil), spec.Mounts...)
	// Parents before children, so a mount inside another mount stays visible.
	sort.SliceStable(mounts, func(i, j int) bool {
		return strings.Count(filepath.Clean(mounts[i].Target), "/") < strings.Count(filepath.Clean(mounts[j].Target), "/")
	})
	for _, m := range mounts {
		if err := bindMount(m); err != nil {
			return err
		}
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if spec.Netns != "" {
		fd, err := unix.Open(spec.Netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open network namespace %s: %w", spec.Netns, err)
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("setns %s: %w", spec.Netns, err)
		}
		unix.Close(fd)
	}
	if spec.WorkingDir != "" {
		if err := os.MkdirAll(spec.WorkingDir, 0o755); err != nil {
			return err
		}
		if err := os.Chdir(spec.WorkingDir); err != nil {
			return err
		}
	}
	prog := spec.Argv[0]
	if !strings.Contains(prog, "/") {
		for _, kv := range spec.Env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				os.Setenv("PATH", v)
			}
		}
		if prog, err = exec.LookPath(prog); err != nil {
			return fmt.Errorf("executable %q not found in the container's PATH", spec.Argv[0])
		}
	}
	return fmt.Errorf("exec %s: %w", prog, syscall.Exec(prog, spec.Argv, spec.Env))
}

// bindMount binds m.Source onto m.Target, creating the mount point on the host
// file system when it is missing (an empty directory or file: documented in
// docs/podrunner.md).
func bindMount(m Mount) error {
	st, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("mount source %s: %w", m.Source, err)
	}
	if st.IsDir() {
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", m.Target, err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(m.Target), 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", m.Target, err)
		}
		if _, err := os.Stat(m.Target); os.IsNotExist(err) {
			f, err := os.OpenFile(m.Target, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("mount point %s: %w", m.Target, err)
			}
			f.Close()
		}
	}
	if err := unix.Mount(m.Source, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", m.Source, m.Target, err)
	}
	if m.ReadOnly {
		if err := unix.Mount("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("remount %s read-only: %w", m.Target, err)
		}
	}
	return nil
}

// proc is one started container instance.
type proc struct {
	pid       int
	startedAt time.Time
	done      chan struct{} // closed after the fields below are set

	exitCode   int32
	signal     int32
	finishedAt time.Time
	startErr   string // exec-container could not start the program

	collected bool // the worker recorded the exit (worker goroutine only)
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// startProc writes spec to specFile and starts `self exec-container specFile`
// with stdout and stderr appended to logFile. onExit runs after the process
// (and every process left in its group) is gone.
func startProc(self string, spec ContainerSpec, specFile, logFile string, onExit func()) (*proc, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	_ = os.Remove(specFile + ".err")
	if err := os.WriteFile(specFile, data, 0o600); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(self, ExecContainerCommand, specFile)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
		Setpgid:      true,
		// Containers must not outlive a crashed runner.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{pid: cmd.Process.Pid, startedAt: time.Now(), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			p.signal = int32(ws.Signal())
			p.exitCode = 128 + int32(ws.Signal())
		default:
			p.exitCode = int32(ws.ExitStatus())
		}
		// A container's processes end with it, as with a PID namespace.
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		if b, err := os.ReadFile(specFile + ".err"); err == nil {
			p.startErr = string(b)
		}
		p.finishedAt = time.Now()
		close(p.done)
		onExit()
	}()
	return p, nil
}

// stop sends SIGTERM, then SIGKILL to the process group after grace, and
// waits until the process is gone.
func (p *proc) stop(grace time.Duration) {
	if !p.running() {
		return
	}
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	<-p.done
}

// runHelper runs a short-lived program inside a container's namespaces (exec
// probes) and returns its exit code.
func runHelper(self string, spec ContainerSpec, specFile string, timeout time.Duration) (int, string, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return -1, "", err
	}
	if err := os.WriteFile(specFile, data, 0o600); err != nil {
		return -1, "", err
	}
	defer os.Remove(specFile)
	defer os.Remove(specFile + ".err")
	cmd := exec.Command(self, ExecContainerCommand, specFile)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return -1, "", err
	}
	timer := time.AfterFunc(timeout, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err = cmd.Wait()
	timedOut := !timer.Stop()
	if timedOut {
		return -1, out.String(), fmt.Errorf("timed out after %s", timeout)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), out.String(), nil
		}
		return -1, out.String(), err
	}
	return 0, out.String(), nil
}

// limitedBuffer keeps the first 10 KiB of a probe's output.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 10240 - len(b.buf); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		b.buf = append(b.buf, p[:room]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
