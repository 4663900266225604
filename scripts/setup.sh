#!/usr/bin/env bash
# Prepare a machine for egov-monitor: Debian packages, a Python 3.12+ virtualenv, the package.
#   scripts/setup.sh run    what the daemon needs (Chromium for browser checks)
#   scripts/setup.sh test   plus what the tests and benchmarks need (Prometheus, Alertmanager, nginx, blackbox)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"
VENV="${VENV:-.venv}"

say() { printf '[setup] %s\n' "$*" >&2; }

# Pango and fonts: WeasyPrint writes the annual report's PDF with them.
apt_packages=(chromium chromium-driver ca-certificates libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)
if [ "$mode" = test ]; then
    apt_packages+=(prometheus prometheus-alertmanager nginx-light prometheus-blackbox-exporter wrk postgresql redis-server nodejs npm systemd)
fi
required_cmds=(chromium chromedriver)
[ "$mode" = test ] && required_cmds+=(promtool prometheus prometheus-alertmanager amtool nginx prometheus-blackbox-exporter wrk redis-server node npm systemd-analyze)
missing=()
for cmd in "${required_cmds[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ "$mode" = test ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then missing+=(postgresql); fi
# no grep -q: it would end the pipe early and, under pipefail, report Pango missing on every run
if ! ldconfig -p 2>/dev/null | grep libpangoft2-1.0 >/dev/null || [ ! -d /usr/share/fonts/truetype/dejavu ]; then
    missing+=(pango)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
        say "fehlende Programme: ${missing[*]}; bitte als root installieren: apt-get install ${apt_packages[*]}"
        exit 1
    fi
    say "installiere Debian-Pakete: ${apt_packages[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

find_python() {
    local candidates=(python3.13 python3.12)
    for c in "${candidates[@]}"; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$c"; return 0
        fi
    done
    for p in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 /root/.pyenv/versions/3.1[2-9]*/bin/python3 python3; do
        if [ -x "$p" ] || command -v "$p" >/dev/null 2>&1; then
            if "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then echo "$p"; return 0; fi
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    if ! PY=$(find_python); then
        say "kein Python 3.12 oder neuer gefunden (gesucht: python3.13, python3.12, ~/.pyenv/versions/3.12+)."
        say "Bitte Python 3.12+ installieren; axe-selenium-python 3 läuft nicht auf älteren Versionen."
        exit 1
    fi
    say "lege virtuelle Umgebung $VENV mit $PY an"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi
extra=""
[ "$mode" = test ] && extra="[test]"
stamp="$VENV/.installed-$mode-$(cat pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    say "installiere egov-monitor$extra"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e ".$extra" 2> >(grep -v "is ignored: it is neither" >&2)
    touch "$stamp"
fi

if [ "$mode" = test ]; then
    # The HTTP Observatory itself (npm), the reference our security grades are compared with.
    # @axe-core/cli (npm), the peer of the accessibility benchmark; --ignore-scripts keeps
    # its chromedriver package from downloading a driver: the Debian one is used.
    for ref in bench/observatory bench/axe-cli; do
        ref_stamp="$ref/node_modules/.installed-$(cat "$ref/package-lock.json" | sha1sum | cut -c1-12)"
        if [ ! -f "$ref_stamp" ]; then
            say "installiere npm-Pakete in $ref"
            (cd "$ref" && CHROMEDRIVER_SKIP_DOWNLOAD=true PUPPETEER_SKIP_DOWNLOAD=1 \
                npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
            touch "$ref_stamp"
        fi
    done
fi
