#!/usr/bin/env python3
"""The images' inputs cannot rot: builds the release binaries and checks the Dockerfiles.

  image_check.py [--source DIR] [--build-dir DIR]

1. `cmake --preset release` (in --build-dir when given, else the preset's
   build/release) and a build of the targets promsidecar-agent and
   promsidecar-operator, as docker/*.Dockerfile build them; each binary must
   answer --help.
2. For each image NAME (agent, operator):
   - images/NAME/packages, the runtime package list that scripts/build-images
     and docker/NAME.Dockerfile both read, holds the Debian package of every
     shared library the release binary links directly (ELF NEEDED, resolved
     with ldd, owner from dpkg -S), and no library package it does not link
     (the packages' own library dependencies come from Debian's Depends);
   - the Dockerfile's runtime (last) stage COPYs that file and apt-installs
     it, and nothing besides it;
   - the build (first) stage installs the -dev packages of scripts/setup, so a
     new dependency there breaks this test rather than the image build;
   - it copies the binary from the release build, runs as 65532 and has the
     binary as its ENTRYPOINT.
3. The release's tag v<CMake project version> is the one deploy/, the chart's
   appVersion and the injector's default agent image name.
The images themselves are built and checked by ctest deploy.images
(images_check.py).
"""
import argparse
import os
import re
import shlex
import subprocess
import sys

BINARIES = {
    # Dockerfile name: (CMake target, path in the build dir)
    "agent": ("promsidecar-agent", "src/agent/promsidecar-agent"),
    "operator": ("promsidecar-operator", "src/operator/promsidecar-operator"),
}
# Packages setup installs for the fuzz build only: the release build does not need them.
NOT_FOR_RELEASE = re.compile(r"^libclang-rt-")
NON_ROOT_USER = "65532"


# --- pure: Dockerfile, shell and tool output parsing ------------------------


def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    out, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            word, _, rest = current.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        current = ""
    if current.strip():
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def dockerfile_stages(text):
    """[(FROM arguments, [(INSTRUCTION, arguments)])], one per stage."""
    stages = []
    for word, rest in dockerfile_instructions(text):
        if word == "FROM":
            stages.append((rest, []))
        elif stages:
            stages[-1][1].append((word, rest))
    return stages


# `apt-get install ... $(sed 's/#.*//' FILE)`: the packages listed in FILE.
LIST_SUBSTITUTION = re.compile(r"\$\(\s*sed\s+'s/#\.\*//'\s+(\S+?)\s*\)")


def apt_installed(run_args):
    """Package names given literally to `apt-get install` in one RUN's shell command."""
    packages = []
    for command in re.split(r"&&|;|\|\|", LIST_SUBSTITUTION.sub("", run_args)):
        words = shlex.split(command)
        for i in range(len(words) - 1):
            if words[i] in ("apt-get", "apt") and words[i + 1] == "install":
                packages += [w for w in words[i + 2:] if not w.startswith("-")]
                break
    return packages


def stage_packages(stage):
    return {p for word, rest in stage[1] if word == "RUN" for p in apt_installed(rest)}


def stage_package_lists(stage):
    """The files of this tree whose package lists a stage installs: {source path: destination}
    for each `COPY SRC DEST` whose DEST a RUN's `apt-get install $(sed 's/#.*//' DEST)` reads."""
    copies = {}
    for word, rest in stage[1]:
        parts = rest.split()
        if word == "COPY" and len(parts) == 2 and not parts[0].startswith("--"):
            copies[parts[1]] = parts[0]
    installed = {m for word, rest in stage[1] if word == "RUN" and re.search(r"apt(-get)?\s+install", rest)
                 for m in LIST_SUBSTITUTION.findall(rest)}
    return {copies[dest]: dest for dest in installed if dest in copies}


def package_list(text):
    """Package names of an images/NAME/packages file: one a line, # comments."""
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def project_version(cmake_text):
    m = re.search(r"^project\(promsidecar VERSION ([0-9][0-9.]*)", cmake_text, re.M)
    if not m:
        raise ValueError("CMakeLists.txt has no 'project(promsidecar VERSION x.y.z ...)'")
    return m.group(1)


def version_mismatches(version, sources):
    """sources: {description: text}; each must name the release's tag v<version>. Returns problems."""
    patterns = {
        "deploy/30-deployment.yaml": r"image:\s*ghcr\.io/promsidecar/promsidecar-operator:(\S+)",
        "deploy/helm/promsidecar/Chart.yaml": r"^appVersion:\s*\"?([^\"\s]+)",
        "src/operator/inject/inject.h": r"agent_image\s*=\s*\"ghcr\.io/promsidecar/promsidecar-agent:([^\"]+)\"",
    }
    problems = []
    for path, pattern in patterns.items():
        m = re.search(pattern, sources.get(path, ""), re.M)
        got = m.group(1) if m else None
        if got != f"v{version}":
            problems.append(f"{path}: the image tag is {got!r}, the CMake project version says v{version}: "
                            "change them together")
    return problems


def setup_packages(text):
    """The names in scripts/setup's `packages=( ... )` array."""
    m = re.search(r"^packages=\((.*?)^\)", text, re.S | re.M)
    if not m:
        raise ValueError("scripts/setup has no packages=( ... ) array")
    names = []
    for line in m.group(1).splitlines():
        names += line.split("#", 1)[0].split()
    return names


def needed_sonames(readelf_dynamic):
    """Sonames from `readelf -d` output's NEEDED entries."""
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf_dynamic)


def ldd_paths(ldd_output):
    """{soname: resolved path} from ldd output ("libfoo.so.1 => /path (0x...)")."""
    out = {}
    for line in ldd_output.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)\s+\(0x[0-9a-f]+\)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def exec_form(args):
    """The words of a JSON exec-form instruction (ENTRYPOINT ["a", "b"]), else []."""
    m = re.fullmatch(r"\[(.*)\]", args.strip())
    return re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)) if m else []


# --- I/O -------------------------------------------------------------------


def run(argv, **kw):
    print("$ " + " ".join(shlex.quote(a) for a in argv), flush=True)
    return subprocess.run(argv, **kw)


def build_release(source, build_dir):
    env = dict(os.environ)
    # What scripts/setup uses, so this build shares the cache of the others.
    env.setdefault("CCACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "promsidecar", "ccache"))
    env.setdefault("CCACHE_BASEDIR", source)
    env.setdefault("CCACHE_NOHASHDIR", "1")
    configure = ["cmake", "--preset", "release"] + (["-B", build_dir] if build_dir else [])
    if run(configure, cwd=source, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        return None
    build_dir = build_dir or os.path.join(source, "build", "release")
    jobs = os.environ.get("PROMSIDECAR_JOBS", str(os.cpu_count() or 2))
    targets = [t for t, _ in BINARIES.values()]
    if run(["cmake", "--build", build_dir, "-j", jobs, "--target", *targets], cwd=source, env=env).returncode != 0:
        return None
    return build_dir


def linked_packages(binary):
    """{Debian package: [sonames]} for the libraries `binary` links directly."""
    dynamic = subprocess.run(["readelf", "-d", binary], stdout=subprocess.PIPE, text=True, check=True).stdout
    paths = ldd_paths(subprocess.run(["ldd", binary], stdout=subprocess.PIPE, text=True, check=True).stdout)
    packages = {}
    for soname in needed_sonames(dynamic):
        path = paths.get(soname)
        if path is None:
            raise ValueError(f"ldd does not resolve {soname}, which {binary} needs")
        # The path ldd prints may be a symlink (/lib -> /usr/lib on merged /usr): dpkg
        # knows one spelling, so try the name as printed, then its real path.
        owner = None
        for candidate in (path, os.path.realpath(path), path.replace("/usr/lib/", "/lib/", 1)):
            r = subprocess.run(["dpkg", "-S", candidate], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":", 1)[0].strip()
                break
        if owner is None:
            raise ValueError(f"no Debian package owns {path} ({soname})")
        packages.setdefault(owner, []).append(soname)
    return packages


def check_dockerfile(source, name, binary_rel, binary_path, setup_dev):
    path = os.path.join(source, "docker", f"{name}.Dockerfile")
    with open(path, encoding="utf-8") as f:
        stages = dockerfile_stages(f.read())
    rel = os.path.relpath(path, source)
    failures = []
    if len(stages) < 2:
        return [f"{rel}: want a build stage and a runtime stage, found {len(stages)} stage(s)"]
    build, runtime = stages[0], stages[-1]

    missing_dev = sorted(setup_dev - stage_packages(build))
    if missing_dev:
        failures.append(f"{rel}: the build stage ({build[0]}) does not install {missing_dev}, which scripts/setup "
                        "installs: add them to its apt-get install")

    list_rel = f"images/{name}/packages"
    lists = stage_package_lists(runtime)
    if list_rel not in lists:
        failures.append(f"{rel}: the runtime stage ({runtime[0]}) must install the packages of {list_rel}, the "
                        "list scripts/build-images uses: COPY it and apt-get install $(sed 's/#.*//' <copy>)")
    literal = stage_packages(runtime)
    if literal:
        failures.append(f"{rel}: the runtime stage installs {sorted(literal)} besides {list_rel}: list them in "
                        f"{list_rel}, so scripts/build-images ships them too")
    with open(os.path.join(source, list_rel), encoding="utf-8") as f:
        have = set(package_list(f.read()))

    need = linked_packages(binary_path)
    for package, sonames in sorted(need.items()):
        if package not in have:
            failures.append(f"{list_rel}: {binary_rel} links {', '.join(sonames)} from the Debian package "
                            f"{package}: add {package} to {list_rel}")
    unused = sorted(p for p in have if p.startswith("lib") and p not in need)
    if unused:
        failures.append(f"{list_rel}: lists {unused}, which {binary_rel} does not link: remove them")

    instructions = runtime[1]
    copies = [rest for word, rest in instructions if word == "COPY" and "--from=" in rest]
    if not any(f"/build/release/{binary_rel} " in c + " " for c in copies):
        failures.append(f"{rel}: the runtime stage copies no build/release/{binary_rel} from the build stage "
                        f"(COPY lines: {copies})")
    users = [rest for word, rest in instructions if word == "USER"]
    if not users or users[-1].split(":")[0] != NON_ROOT_USER:
        failures.append(f"{rel}: the runtime stage must end as USER {NON_ROOT_USER} (non-root), has {users}")
    entrypoints = [exec_form(rest) for word, rest in instructions if word == "ENTRYPOINT"]
    target = os.path.basename(binary_rel)
    if not entrypoints or not entrypoints[-1] or os.path.basename(entrypoints[-1][0]) != target:
        failures.append(f"{rel}: want ENTRYPOINT [\"/usr/local/bin/{target}\"] (exec form), has {entrypoints}")
    builds = [rest for word, rest in build[1] if word == "RUN" and "--target" in rest]
    if not any(re.search(rf"--target\s+{re.escape(target)}\b", b) and "--preset release" in b for b in builds):
        failures.append(f"{rel}: the build stage must build --target {target} with the release preset")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--build-dir", default=os.environ.get("PROMSIDECAR_RELEASE_BUILD_DIR"),
                    help="release build directory (default: $PROMSIDECAR_RELEASE_BUILD_DIR, else the preset's "
                    "build/release)")
    a = ap.parse_args()
    build_dir = build_release(a.source, a.build_dir and os.path.abspath(a.build_dir))
    if build_dir is None:
        print("FAIL: the release build of promsidecar-agent and promsidecar-operator failed (output above)",
              file=sys.stderr)
        return 1
    with open(os.path.join(a.source, "scripts", "setup"), encoding="utf-8") as f:
        setup_dev = {p for p in setup_packages(f.read()) if p.endswith("-dev") and not NOT_FOR_RELEASE.match(p)}
    with open(os.path.join(a.source, "CMakeLists.txt"), encoding="utf-8") as f:
        version = project_version(f.read())
    sources = {}
    for path in ("deploy/30-deployment.yaml", "deploy/helm/promsidecar/Chart.yaml", "src/operator/inject/inject.h"):
        with open(os.path.join(a.source, path), encoding="utf-8") as f:
            sources[path] = f.read()
    failures = version_mismatches(version, sources)
    for name, (target, rel) in BINARIES.items():
        binary = os.path.join(build_dir, rel)
        r = run([binary, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            failures.append(f"{binary} --help exited {r.returncode}: {r.stdout[-2000:]}")
            continue
        failures += check_dockerfile(a.source, name, rel, binary, setup_dev)
    for f in failures:
        print(f"FAIL: {f}\n", file=sys.stderr)
    if failures:
        print(f"release images: {len(failures)} failure(s)", file=sys.stderr)
        return 1
    print(f"release images: both binaries build; docker/*.Dockerfile and scripts/build-images install what they "
          f"link (images/*/packages); v{version} everywhere")
    return 0


if __name__ == "__main__":
    sys.exit(main())
