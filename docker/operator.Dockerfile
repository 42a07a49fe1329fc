# promsidecar-operator: admission webhooks and controller. Built from this
# tree's release preset, the same build test/deploy/image_check.py (ctest
# deploy.release_images) runs; that test also checks that the runtime stage
# installs the Debian package of every library the binary links, from the
# same list as scripts/build-images (images/operator/packages).
#
#   docker build -f docker/operator.Dockerfile -t ghcr.io/promsidecar/promsidecar-operator:v0.1.0 .

FROM debian:bookworm AS build
# The -dev packages of scripts/setup: `cmake --preset release` configures the
# whole tree, tests and benchmarks included.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libgtest-dev libgmock-dev libbenchmark-dev \
      libcurl4-openssl-dev libssl-dev zlib1g-dev nlohmann-json3-dev libyaml-cpp-dev libre2-dev libsnappy-dev \
      libprotobuf-dev protobuf-compiler libcli11-dev libfmt-dev libcpp-httplib-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# No ccache in an image build: the preset's compiler launcher is switched off.
RUN cmake --preset release -DCMAKE_CXX_COMPILER_LAUNCHER= \
 && cmake --build --preset release --target promsidecar-operator

FROM debian:bookworm-slim
# The runtime packages have one home, images/operator/packages, which
# scripts/build-images reads too: the package of every shared library the
# binary links (readelf -d NEEDED); no ca-certificates, it talks only to the
# API server, with the service account's CA.
COPY images/operator/packages /tmp/packages
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(sed 's/#.*//' /tmp/packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/packages
COPY --from=build /src/build/release/src/operator/promsidecar-operator /usr/local/bin/promsidecar-operator
COPY LICENSE /usr/share/doc/promsidecar/LICENSE
# The Deployment (deploy/30-deployment.yaml) runs it as this user with a
# read-only root filesystem; self-managed certificates go to its /tmp emptyDir.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/promsidecar-operator"]
