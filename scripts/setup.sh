#!/usr/bin/env bash
# Installs the Debian 12 packages Impulse needs to build, test and benchmark.
# Idempotent: packages already present are skipped, and apt is not touched at all
# when everything is installed.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake make ccache pkg-config git ca-certificates
  # libraries
  libsimdjson-dev libyaml-cpp-dev libboost-dev libboost-system-dev libboost-program-options-dev
  prometheus-cpp-dev libcurl4-openssl-dev zlib1g-dev libxxhash-dev librocksdb-dev libcsv-dev
  # model evaluation: libxgboost is the oracle the native tree evaluator is tested against
  libxgboost-dev
  # ONNX nets through OpenCV dnn (IMPULSE_WITH_ONNX)
  libopencv-dnn-dev
  # Kafka sources and sinks (IMPULSE_WITH_KAFKA); kcat is the outside client of the Kafka tests
  librdkafka-dev kcat
  # NATS JetStream sources and sinks (IMPULSE_WITH_NATS); nats-server hosts the NATS tests
  libnats-dev nats-server
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # the crash campaign and the soak (scripts/crash_campaign.py, scripts/soak.py; standard library only)
  python3
  # the Python client's tests (clients/python): a venv, the build backend's wheels for an offline
  # `pip install` (setuptools' comes with python3-venv), pandas for its DataFrame helper
  python3-venv python3-wheel-whl python3-pandas
  # the real-time benchmark (bench/realtime/run.sh): the HTTP/1.1 ceiling and the Python peer
  nginx python3-xgboost python3-numpy curl
  # the web console's browser test (tests/console/console_browser_test.py)
  chromium chromium-driver python3-selenium
  # fuzzing (libFuzzer ships with clang's runtime)
  clang libclang-rt-14-dev
  # the Debian packages (./dev package: dpkg-shlibdeps names their library dependencies) and their
  # install test in a fresh Debian root (scripts/package_test.sh)
  dpkg-dev debootstrap
  # style checks (scripts/lint.sh)
  clang-format clang-tidy
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
