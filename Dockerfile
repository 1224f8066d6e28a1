# syntax=docker/dockerfile:1
#
# code-executor server image.
#
#   docker build -t code-executor:dev .
#   docker run --rm code-executor:dev --help
#
# The image is meant for the kubernetes backend (server.backend: kubernetes):
# sandboxes run as gVisor pods elsewhere in the cluster, so the image carries no
# runsc. The runtime stage installs only the shared libraries the server links
# (tests/deploy/check_dockerfile_libs.py checks that list against `ldd` of the
# built binary in CI; there is no Docker engine there to build this file).

############################## build ##############################
FROM debian:bookworm AS build

# The same build packages as scripts/setup (less runsc, clang-format, the
# Python client's tools and gtest: only the server is built here).
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      build-essential cmake ninja-build pkg-config git ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libcpprest-dev nlohmann-json3-dev libyaml-cpp-dev \
      prometheus-cpp-dev libgtest-dev libgmock-dev libssl-dev musl-tools \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build --target code_executor_server \
 && strip --strip-debug -o /code_executor_server /build/server/code_executor_server

############################## runtime ##############################
FROM debian:bookworm-slim AS runtime

# Runtime libraries of the server, by Debian package (what `ldd` resolves;
# libc6, libgcc-s1, libstdc++6 and zlib1g come with the base image), plus
# ca-certificates for TLS to the Kubernetes API server.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates \
      libabsl20220623 \
      libbrotli1 \
      libc-ares2 \
      libcivetweb1 \
      libcpprest2.10 \
      libgrpc++1.51 \
      libgrpc29 \
      libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 \
      libprotobuf32 \
      libre2-9 \
      libssl3 \
      libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/* /var/log/apt /var/log/dpkg.log

COPY --from=build /code_executor_server /usr/local/bin/code_executor_server
COPY docs/server-config.example.yaml /usr/share/doc/code-executor/server-config.example.yaml

# Non-root, numeric (so runAsNonRoot can verify it without /etc/passwd).
USER 65532:65532
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/code_executor_server"]
# The Helm chart and k8s/ mount the config here and pass the same flag.
CMD ["--config=/etc/code-executor/server.yaml"]
