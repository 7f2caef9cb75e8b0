# Shared by the quick-start scripts: make sure this Debian machine has what
# Wormhole needs (Debian packages, Node.js 20+, npm packages, a build).
# Everything is skipped when already present.

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "run this as root: mounting FUSE file systems needs it"
}

# Debian packages: mount(8) and umount(8) (util-linux), a C++ toolchain for
# better-sqlite3, and the tools the tests and benchmarks use.
DEB_PACKAGES="util-linux mount ca-certificates openssl python3 make g++ git rsync tar attr iproute2 fio procps"

ensure_packages() {
  local missing=""
  for p in $DEB_PACKAGES "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null || die "apt-get install$missing failed"
  fi
}

ensure_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    say "installing Node.js from Debian"
    apt-get install -y -qq nodejs npm >/dev/null || die "cannot install nodejs and npm"
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "Node.js 20 or newer is needed (found $(node --version))"
}

# npm packages (from package-lock.json) and the TypeScript build.
ensure_build() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages"
    npm install --no-audit --no-fund --no-save --loglevel=error || die "npm install failed"
  fi
  say "building"
  npm run --silent build || die "the build failed"
}
