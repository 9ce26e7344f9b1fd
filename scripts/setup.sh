#!/usr/bin/env bash
# setup.sh: installs every Debian package that ripple's build, tests and benchmarks need.
# Idempotent: packages already present are skipped by apt; safe to run again and again.
set -euo pipefail

PACKAGES=(
  # build toolchain
  build-essential cmake pkg-config git
  # kernel: xeus (includes the ZeroMQ server), json, zmq
  xeus-dev xtl-dev cppzmq-dev libzmq3-dev nlohmann-json3-dev uuid-dev
  # R embedded
  r-base-dev r-cran-repr r-cran-codetools r-cran-mass
  # packages whose own state, files and processes the engine must respect (tests/engine/test_package_state.py,
  # test_files.py): in-place objects, file readers and writers, a local database, programs started from R
  r-cran-data.table r-cran-r6 r-cran-dplyr r-cran-readr r-cran-dbi r-cran-rsqlite r-cran-processx
  # cache store, hashing; R Markdown headers (libyaml)
  libsqlite3-dev libssl-dev libyaml-dev
  # the team cache: HTTP(S) client, and the nginx (WebDAV PUT) its tests serve it with (openssl: their certificate)
  libcurl4-openssl-dev nginx-light openssl
  # tests
  doctest-dev python3-jupyter-client python3-jupyter-kernel-test python3-nbclient
  python3-nbformat python3-notebook jupyter-server jupyter-core procps python3-pytest
  # benchmark peer and R packages of examples
  r-cran-irkernel r-cran-knitr r-cran-evaluate r-cran-rmarkdown r-cran-digest python3-nbconvert
  # engine_bench's everyday notebook (dplyr, tidyr and ggplot2 cells)
  r-cran-tidyr r-cran-ggplot2
  # htmlwidgets and htmltools output (issue 21): DT is the widget the tests display
  r-cran-htmlwidgets r-cran-htmltools r-cran-dt
  # R Markdown tests and the vignette corpus (tests/cli/rmd_corpus.py): the packages whose vignettes it renders
  r-cran-tibble r-cran-dplyr r-cran-stringr r-cran-glue r-cran-jsonlite r-cran-lifecycle r-cran-withr
  r-cran-lazyeval r-cran-readr r-cran-bit r-cran-tidyselect r-cran-pillar r-cran-magrittr
  # rendering and graphs
  pandoc graphviz
  # deployment tests: local JupyterHub, k8s/z2jh validators, offline image build (kubectl is not in
  # Debian; npm ships inside NodeSource's nodejs and conflicts with Debian's npm package, so not listed)
  jupyterhub node-configurable-http-proxy python3-websocket python3-jsonschema python3-yaml nodejs
  debootstrap buildah podman runc
  # podman kube play (deploy.kube-play) builds its pods' pause image around catatonit
  catatonit
  # front-end client tests (tests/clients): headless browser, a terminal, and Jupyter's nbconvert/console/client CLIs
  chromium fonts-dejavu-core tmux jupyter-nbconvert jupyter-console jupyter-client
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} Debian packages already installed"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
