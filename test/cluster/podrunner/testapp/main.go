// Command testapp is the container program of the pod runner's tests: it
// records what happens to it (start, SIGTERM, exit) in an events file shared
// by the pod's containers, and does the one thing a test asks of it.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	name        = flag.String("name", "", "name written in events (default: $HOSTNAME)")
	events      = flag.String("events", "", "append '<name> <event> <unix ns>' lines to this file")
	onTerm      = flag.String("on-term", "exit", "on SIGTERM: exit (after --term-delay) or ignore")
	termDelay   = flag.Duration("term-delay", 0, "delay between SIGTERM and exit")
	exitAfter   = flag.Duration("exit-after", -1, "exit this long after start (negative: never)")
	exitCode    = flag.Int("exit-code", 0, "exit code for --exit-after and SIGTERM")
	listen      = flag.String("listen", "", "serve HTTP here: / answers --name, /file answers --serve-file")
	listenDelay = flag.Duration("listen-delay", 0, "wait this long before listening")
	listenAfter = flag.String("listen-after-file", "", "listen only once this file exists")
	serveFile   = flag.String("serve-file", "", "file served at /file")
	heartbeat   = flag.String("heartbeat", "", "append the time every 100ms to this file")
	dumpEnv     = flag.String("dump-env", "", "write the environment to this file at start")
	dial        = flag.String("dial", "", "comma-separated addresses that must accept a TCP connection at start, else exit 1")
	pidFile     = flag.String("pidfile", "", "write the process id here")
	readLoop    = flag.String("read-loop", "", "keep reading this file; count reads whose bytes are not all equal (a torn file)")
	readLen     = flag.Int("read-len", 0, "with --read-loop: a read of another length is torn too")
	readStats   = flag.String("read-stats", "", "write 'reads=N torn=M' here every 100ms")
)

func record(event string) {
	if *events == "" {
		return
	}
	f, err := os.OpenFile(*events, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "events:", err)
		return
	}
	fmt.Fprintf(f, "%s %s %d\n", *name, event, time.Now().UnixNano())
	f.Close()
}

func exit(code int, event string) {
	record(event)
	os.Exit(code)
}

func main() {
	flag.Parse()
	if *name == "" {
		*name = os.Getenv("HOSTNAME")
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	record("start")
	fmt.Printf("testapp %s started, pid %d\n", *name, os.Getpid())
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *dumpEnv != "" {
		env := os.Environ()
		sort.Strings(env)
		if err := os.WriteFile(*dumpEnv, []byte(strings.Join(env, "\n")+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *dial != "" {
		for _, addr := range strings.Split(*dial, ",") {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				fmt.Fprintln(os.Stderr, "dial:", err)
				exit(1, "dial-failed")
			}
			c.Close()
		}
		record("dial-ok")
	}
	if *listen != "" {
		go serve()
	}
	if *heartbeat != "" {
		go func() {
			for {
				f, err := os.OpenFile(*heartbeat, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
				if err == nil {
					fmt.Fprintf(f, "%d\n", time.Now().UnixNano())
					f.Close()
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	if *readLoop != "" {
		go readFile()
	}
	var after <-chan time.Time
	if *exitAfter >= 0 {
		after = time.After(*exitAfter)
	}
	for {
		select {
		case <-after:
			exit(*exitCode, "exit")
		case <-sig:
			record("term")
			if *onTerm == "ignore" {
				continue
			}
			time.Sleep(*termDelay)
			exit(*exitCode, "exit")
		}
	}
}

func serve() {
	time.Sleep(*listenDelay)
	for *listenAfter != "" {
		if _, err := os.Stat(*listenAfter); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, *name) })
	mux.HandleFunc("/file", func(w http.ResponseWriter, _ *http.Request) {
		b, err := os.ReadFile(*serveFile)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	record("listen")
	if err := http.ListenAndServe(*listen, mux); err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		exit(1, "listen-failed")
	}
}

func readFile() {
	var reads, torn atomic.Int64
	go func() {
		for {
			if *readStats != "" {
				tmp := *readStats + ".tmp"
				_ = os.WriteFile(tmp, []byte(fmt.Sprintf("reads=%d torn=%d\n", reads.Load(), torn.Load())), 0o644)
				_ = os.Rename(tmp, *readStats)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for {
		b, err := os.ReadFile(*readLoop)
		if err != nil || len(b) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		reads.Add(1)
		if *readLen > 0 && len(b) != *readLen {
			torn.Add(1)
			fmt.Fprintf(os.Stderr, "torn read of %s: %d bytes, want %d\n", *readLoop, len(b), *readLen)
			continue
		}
		for _, c := range b {
			if c != b[0] {
				torn.Add(1)
				fmt.Fprintf(os.Stderr, "torn read of %s: %d bytes, first %q\n", *readLoop, len(b), b[0])
				break
			}
		}
	}
}
