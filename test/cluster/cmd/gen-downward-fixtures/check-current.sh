#!/usr/bin/env bash
# ctest podinfo.fixtures-current: regenerates the downward-API fixtures with the
# kubelet's FormatMap (k8s.io/kubernetes as pinned by test/cluster/go.mod) into
# a temp dir and compares them byte for byte with the checked-in ones, so the
# fixtures cannot drift from the kubelet's code. Fails (never skips) without Go.
# To regenerate after changing an input:
#   (cd test/cluster && go run ./cmd/gen-downward-fixtures -in ../testdata/podinfo/inputs)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../../.." && pwd)
inputs="$root/test/testdata/podinfo/inputs"
if ! command -v go >/dev/null; then
  echo "FAIL: go is not on PATH; podinfo.fixtures-current needs Go to run the kubelet's FormatMap" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root/test/cluster" && go run ./cmd/gen-downward-fixtures -in "$inputs" -out "$tmp")
status=0
count=0
for json in "$inputs"/*.json; do
  name=$(basename "$json" .json).formatmap
  count=$((count + 1))
  if [[ ! -f "$inputs/$name" ]]; then
    echo "FAIL: $inputs/$name is missing (regenerate, see the top of $0)" >&2
    status=1
  elif ! cmp -s "$tmp/$name" "$inputs/$name"; then
    echo "FAIL: $inputs/$name differs from what FormatMap writes now:" >&2
    diff <(od -c "$inputs/$name") <(od -c "$tmp/$name") | head -20 >&2 || true
    status=1
  fi
done
for f in "$inputs"/*.formatmap; do
  [[ -f "$inputs/$(basename "$f" .formatmap).json" ]] || { echo "FAIL: $f has no input" >&2; status=1; }
done
[[ $status == 0 ]] && echo "ok: $count fixtures match fieldpath.FormatMap"
exit $status
