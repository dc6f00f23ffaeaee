# Sourced by scripts/firmware.sh and scripts/heap.sh (not run on its own): what both
# need to print their sections and to install the tools a fresh Debian machine lacks.
#
#   section TEXT...     prints a section heading, "=== TEXT"
#   apt_install PKG...  installs Debian packages (one `apt-get update` first; through
#                       sudo when not root and sudo exists)

section() { printf '\n=== %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}
