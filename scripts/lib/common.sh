# Shared by the scripts under scripts/: where caches live, and a Go toolchain.
# Source it; it defines functions only.

# Everything built from the Go module proxy or fetched from Debian is cached
# here, keyed by version (PROMSIDECAR_CACHE overrides).
promsidecar_cache() { echo "${PROMSIDECAR_CACHE:-$HOME/.cache/promsidecar}"; }

# The toolchain taken from the Go module proxy when the machine's Go is
# older than what our modules need (Debian bookworm ships 1.19): at least the
# newest `go` directive among the repository's go.mod files.
promsidecar_go_toolchain=go1.26.8

# The newest `go` directive among our go.mod files, e.g. 1.26.7.
go_required() {
  local top
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  find "$top" -name go.mod -not -path '*/build/*' -exec awk '$1 == "go" {print $2}' {} + | sort -V | tail -1
}

go_new_enough() { # go binary
  local have need
  have=$("$1" env GOVERSION 2>/dev/null) || return 1
  have=${have#go}
  need=$(go_required)
  [[ -z "$need" || "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" == "$need" ]]
}

# Puts a Go new enough for our modules first on PATH: the machine's when it is
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
