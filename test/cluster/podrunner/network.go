package podrunner

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Network gives each pod a network namespace on a host-only bridge: the
// bridge holds the subnet's first address (the pods' status.hostIP), each pod
// one further address on its eth0. Pods get no default route and the host does
// no NAT, so pod traffic reaches only this machine.
type Network struct {
	Bridge string
	prefix netip.Prefix
	hostIP netip.Addr

	mu      sync.Mutex
	used    map[netip.Addr]string // address -> netns
	created bool                  // the bridge was created by us
}

// NewNetwork validates cidr (IPv4, /16 to /29).
func NewNetwork(bridge, cidr string) (*Network, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() < 16 || p.Bits() > 29 {
		return nil, fmt.Errorf("--pod-cidr %q: want an IPv4 prefix between /16 and /29 such as 10.213.0.0/24", cidr)
	}
	if len(bridge) == 0 || len(bridge) > 15 {
		return nil, fmt.Errorf("--bridge %q: want an interface name of 1-15 characters", bridge)
	}
	p = p.Masked()
	return &Network{Bridge: bridge, prefix: p, hostIP: p.Addr().Next(), used: map[netip.Addr]string{}}, nil
}

// HostIP is the bridge address, reported as every pod's hostIP.
func (n *Network) HostIP() string { return n.hostIP.String() }

// CIDR is the pod subnet.
func (n *Network) CIDR() string { return n.prefix.String() }

func ipCmd(args ...string) error {
	var out bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Setup creates the bridge with the host address, or adopts an existing one
// that already carries it.
func (n *Network) Setup() error {
	hostCIDR := fmt.Sprintf("%s/%d", n.hostIP, n.prefix.Bits())
	if iface, err := net.InterfaceByName(n.Bridge); err == nil {
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if a.String() == hostCIDR {
				return ipCmd("link", "set", n.Bridge, "up")
			}
		}
		return fmt.Errorf("interface %s exists without address %s; pass another --bridge or remove it (ip link del %s)", n.Bridge, hostCIDR, n.Bridge)
	}
	if other := SubnetUser(n.prefix); other != "" {
		return fmt.Errorf("--pod-cidr %s overlaps an address of interface %s; choose another subnet", n.prefix, other)
	}
	if err := ipCmd("link", "add", n.Bridge, "type", "bridge"); err != nil {
		return err
	}
	n.created = true
	if err := ipCmd("addr", "add", hostCIDR, "dev", n.Bridge); err != nil {
		return err
	}
	return ipCmd("link", "set", n.Bridge, "up")
}

// Teardown removes the bridge if Setup created it.
func (n *Network) Teardown() {
	if n.created {
		_ = ipCmd("link", "del", n.Bridge)
	}
}

// NetnsName is the pod's namespace name under /run/netns.
func NetnsName(uid string) string {
	return "psr-" + shortUID(uid)
}

// NetnsPath is the bind-mounted namespace file.
func NetnsPath(uid string) string { return "/run/netns/" + NetnsName(uid) }

func shortUID(uid string) string {
	s := strings.ReplaceAll(uid, "-", "")
	if len(s) > 8 {
		s = s[:8]
	}
	return s
}

func (n *Network) allocate(ns string) (netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for a := n.hostIP.Next(); n.prefix.Contains(a); a = a.Next() {
		if !n.prefix.Contains(a.Next()) {
			break // broadcast address
		}
		if _, taken := n.used[a]; !taken {
			n.used[a] = ns
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("pod subnet %s is full; pass a larger --pod-cidr", n.prefix)
}

func (n *Network) release(a netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.used, a)
}

// AddPod creates the pod's namespace with lo up and eth0 on the bridge and
// returns the pod IP.
func (n *Network) AddPod(uid string) (string, error) {
	ns := NetnsName(uid)
	RemoveNetns(ns) // a leftover from a crashed runner
	addr, err := n.allocate(ns)
	if err != nil {
		return "", err
	}
	hostVeth := "psrh" + shortUID(uid)
	steps := [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		{"link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"link", "set", hostVeth, "master", n.Bridge, "up"},
		{"-n", ns, "addr", "add", fmt.Sprintf("%s/%d", addr, n.prefix.Bits()), "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			RemoveNetns(ns)
			n.release(addr)
			return "", err
		}
	}
	return addr.String(), nil
}

// RemovePod deletes the namespace (which deletes the veth pair) and frees the
// address.
func (n *Network) RemovePod(uid, podIP string) {
	RemoveNetns(NetnsName(uid))
	if a, err := netip.ParseAddr(podIP); err == nil {
		n.release(a)
	}
}

// RemoveNetns deletes a namespace if it exists.
func RemoveNetns(ns string) {
	if _, err := os.Stat("/run/netns/" + ns); err == nil {
		_ = ipCmd("netns", "del", ns)
	}
}

// SubnetUser names an interface holding an address inside prefix, or "".
func SubnetUser(prefix netip.Prefix) string {
	ifaces, _ := net.Interfaces()
	for _, iface := range ifaces {
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err == nil && p.Addr().Is4() && (prefix.Contains(p.Addr()) || p.Masked().Contains(prefix.Addr())) {
				return iface.Name
			}
		}
	}
	return ""
}
