# Shared by the scripts under scripts/: where caches live, and a Go toolchain.
# Source it; it defines functions only.

# Everything built from the Go module proxy or fetched from Debian is cached
# here, keyed by version (PROMSIDECAR_CACHE overrides).
promsidecar_cache() { echo "${PROMSIDECAR_CACHE:-$HOME/.cache/promsidecar}"; }

# The Go release our modules need at least, and the toolchain taken from the
# Go module proxy when the machine has none as new (Debian bookworm ships 1.19).
promsidecar_go_minimum=1.24
promsidecar_go_toolchain=go1.24.13

go_new_enough() { # go binary
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  [[ "$v" =~ ^go1\.([0-9]+) ]] || return 1
  ((BASH_REMATCH[1] >= ${promsidecar_go_minimum#1.}))
}

# Puts a Go >= $promsidecar_go_minimum first on PATH: the machine's when it is
# new enough, else the official toolchain module (golang.org/toolchain, the
# one GOTOOLCHAIN uses) from the Go module proxy, downloaded once with
# Debian's golang-go into the cache. Needs root only to install golang-go.
ensure_go() {
  if command -v go >/dev/null && go_new_enough go; then return 0; fi
  local cache module dir
  cache="$(promsidecar_cache)/go"
  module="golang.org/toolchain@v0.0.1-$promsidecar_go_toolchain.linux-amd64"
  dir="$cache/pkg/mod/$module"
  if [[ ! -x "$dir/bin/go" ]] || ! go_new_enough "$dir/bin/go"; then
    local bootstrap
    bootstrap=$(command -v go || true)
    if [[ -z "$bootstrap" ]]; then
      [[ -x /usr/lib/go/bin/go ]] || {
        [[ $(id -u) -eq 0 ]] || { echo "no Go found; install Debian's golang-go (as root) and retry" >&2; return 1; }
        echo "installing Debian's golang-go to fetch the Go $promsidecar_go_toolchain toolchain module" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends golang-go >&2
      }
      bootstrap=/usr/lib/go/bin/go
    fi
    echo "fetching $module from the Go module proxy into $cache" >&2
    mkdir -p "$cache"
    # Outside any module; GOFLAGS=-modcacherw so the cache can be removed.
    (cd "$cache" && GOPATH="$cache" GOMODCACHE="$cache/pkg/mod" GOFLAGS=-modcacherw GO111MODULE=on \
      GOTOOLCHAIN=local "$bootstrap" mod download "$module") >&2 || return 1
    # The module zip carries no file modes (the go command sets them when it
    # switches toolchains itself).
    chmod -R u+w "$dir"
    find "$dir/bin" "$dir/pkg/tool" -type f -exec chmod +x {} +
    go_new_enough "$dir/bin/go" || { echo "the toolchain in $dir does not run" >&2; return 1; }
  fi
  export PATH="$dir/bin:$PATH" GOTOOLCHAIN=local
}
