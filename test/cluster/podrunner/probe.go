package podrunner

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeExec runs an exec probe's command inside the container's namespaces.
type probeExec func(ctx context.Context, command []string, timeout time.Duration) (int, string, error)

// probeState is what the probes of one container instance found so far.
type probeState struct {
	mu            sync.Mutex
	started       bool // startup probe passed (or none)
	ready         bool // readiness probe passed (or none, once started)
	livenessFail  bool // liveness or startup probe failed failureThreshold times
	failMessage   string
	hasReadiness  bool
	readinessSeen bool
}

func (s *probeState) get() (started, ready, liveFail bool, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started, s.ready, s.livenessFail, s.failMessage
}

func (s *probeState) set(f func(*probeState)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

type probeParams struct {
	initialDelay, period, timeout time.Duration
	success, failure              int
}

// paramsOf applies the API's probe defaults (the API server fills them in;
// unit tests may not).
func paramsOf(p *v1.Probe) probeParams {
	pp := probeParams{
		initialDelay: time.Duration(p.InitialDelaySeconds) * time.Second,
		period:       time.Duration(p.PeriodSeconds) * time.Second,
		timeout:      time.Duration(p.TimeoutSeconds) * time.Second,
		success:      int(p.SuccessThreshold),
		failure:      int(p.FailureThreshold),
	}
	if pp.period <= 0 {
		pp.period = 10 * time.Second
	}
	if pp.timeout <= 0 {
		pp.timeout = time.Second
	}
	if pp.success <= 0 {
		pp.success = 1
	}
	if pp.failure <= 0 {
		pp.failure = 3
	}
	return pp
}

// runProbes drives the startup, readiness and liveness probes of one
// container instance until ctx ends, calling notify on every change. As with
// the kubelet, readiness and liveness start only after the startup probe
// succeeded; without a readiness probe the container is ready once started.
func runProbes(ctx context.Context, c *v1.Container, podIP string, ex probeExec, st *probeState, notify func()) {
	if c.StartupProbe != nil {
		pp := paramsOf(c.StartupProbe)
		if !sleepCtx(ctx, pp.initialDelay) {
			return
		}
		failures := 0
		for {
			err := doProbe(ctx, c.StartupProbe, c, podIP, ex, pp.timeout)
			if err == nil {
				break
			}
			failures++
			if failures >= pp.failure {
				st.set(func(s *probeState) {
					s.livenessFail, s.failMessage = true, "Startup probe failed: "+err.Error()
				})
				notify()
				return
			}
			if !sleepCtx(ctx, pp.period) {
				return
			}
		}
	}
	st.set(func(s *probeState) {
		s.started = true
		s.hasReadiness = c.ReadinessProbe != nil
		if c.ReadinessProbe == nil {
			s.ready = true
		}
	})
	notify()
	var wg sync.WaitGroup
	if c.ReadinessProbe != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pp := paramsOf(c.ReadinessProbe)
			if !sleepCtx(ctx, pp.initialDelay) {
				return
			}
			succ, fail := 0, 0
			for {
				err := doProbe(ctx, c.ReadinessProbe, c, podIP, ex, pp.timeout)
				if ctx.Err() != nil {
					return
				}
				changed := false
				if err == nil {
					succ, fail = succ+1, 0
					if succ >= pp.success {
						st.set(func(s *probeState) { changed = !s.ready; s.ready = true })
					}
				} else {
					succ, fail = 0, fail+1
					if fail >= pp.failure {
						st.set(func(s *probeState) { changed = s.ready; s.ready = false })
					}
				}
				if changed {
					notify()
				}
				if !sleepCtx(ctx, pp.period) {
					return
				}
			}
		}()
	}
	if c.LivenessProbe != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pp := paramsOf(c.LivenessProbe)
			if !sleepCtx(ctx, pp.initialDelay) {
				return
			}
			fail := 0
			for {
				err := doProbe(ctx, c.LivenessProbe, c, podIP, ex, pp.timeout)
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					fail = 0
				} else if fail++; fail >= pp.failure {
					st.set(func(s *probeState) {
						s.livenessFail, s.failMessage = true, "Liveness probe failed: "+err.Error()
					})
					notify()
					return
				}
				if !sleepCtx(ctx, pp.period) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// resolvePort turns a probe port (number or container port name) into a number.
func resolvePort(port intstr.IntOrString, c *v1.Container) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q is not a named port of container %s", port.StrVal, c.Name)
}

// doProbe runs one probe attempt: nil is success.
func doProbe(ctx context.Context, p *v1.Probe, c *v1.Container, podIP string, ex probeExec, timeout time.Duration) error {
	switch {
	case p.HTTPGet != nil:
		g := p.HTTPGet
		port, err := resolvePort(g.Port, c)
		if err != nil {
			return err
		}
		host := g.Host
		if host == "" {
			host = podIP
		}
		scheme := strings.ToLower(string(g.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		path := g.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path)
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/podrunner")
		req.Header.Set("Accept", "*/*")
		for _, h := range g.HTTPHeaders {
			if strings.EqualFold(h.Name, "host") {
				req.Host = h.Value
				continue
			}
			req.Header.Add(h.Name, h.Value)
		}
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as the kubelet's prober
			DisableKeepAlives: true,
			Proxy:             nil,
		}}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		conn.Close()
		return nil
	case p.Exec != nil:
		code, out, err := ex(ctx, p.Exec.Command, timeout)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %v exited with %d: %s", p.Exec.Command, code, strings.TrimSpace(out))
		}
		return nil
	}
	return fmt.Errorf("probe type (grpc) is not supported by the pod runner")
}
