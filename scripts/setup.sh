#!/usr/bin/env bash
# Prepare a machine for egov-monitor: the Debian packages it lacks, a Python 3.12+ virtualenv,
# the package, and (for the tests) the two npm reference tools.
#
#   scripts/setup.sh [run|test]            install what is missing, then the virtualenv
#   scripts/setup.sh --plan [run|test]     print the Debian packages this machine lacks, one a line;
#                                          installs nothing (exit 1 when the set-up could not finish)
#   scripts/setup.sh --dry-run [run|test]  resolve the complete package list with `apt-get install -s`
#                                          and the Python packages with `pip install --dry-run`, even
#                                          when everything is present; installs nothing (CI runs it);
#                                          EGOV_SETUP_DRY_RUN=apt: the Debian packages only
#
# `run` is what the daemon needs (Chromium, Pango for the PDF report, gpgv for signed security.txt, certutil for
# browser.ca_files); `test` adds what the tests
# and benchmarks run beside it (Prometheus, Alertmanager, nginx, blackbox_exporter, wrk,
# PostgreSQL, Redis, systemd-analyze, Node.js 20+ with npm).
#
# Each requirement is probed on its own (a command, a file, a library) and only the packages of
# the missing ones are asked for. A program already present does that job, wherever it came
# from: a Node.js 20+ with its own npm (Debian's npm conflicts with it), a Python 3.12+,
# a PostgreSQL under /usr/lib/postgresql.
#
# EGOV_SETUP_FACTS=FILE replaces the probes by a machine description (tests/test_setup.py):
#   debian=12                 major Debian release
#   present=chromium wrk ...  requirement names (first column below) that are present
#   node=v20.20.2             `node --version`, empty when there is none
#   npm=yes|no                whether an npm is on PATH
#   node_pkg=debian|other     where the node on PATH came from (Debian's nodejs package or not)
#   python=/path|             a Python 3.12+ found, empty when there is none
#   python_venv=yes|no        whether that Python can create a virtualenv (ensurepip)
#   python313=/path|          a Python 3.13 for the tests' second leg (default: the python fact)
set -euo pipefail
cd "$(dirname "$0")/.."

action=install
case "${1:-}" in
    --plan) action=plan; shift ;;
    --dry-run) action=dry-run; shift ;;
esac
mode="${1:-run}"
case "$mode" in
    run | test) ;;
    *) printf 'Aufruf: scripts/setup.sh [--plan|--dry-run] [run|test]\n' >&2; exit 2 ;;
esac
VENV="${VENV:-.venv}"
NODE_MIN=20   # @mdn/mdn-http-observatory declares "node": ">=20"

say() { printf '[setup] %s\n' "$*" >&2; }

# name|mode|probe|Debian packages
requirements=(
    "chromium|run|cmd:chromium|chromium"
    "headless-shell|run|cmd:chromium-headless-shell|chromium-headless-shell"
    "chromedriver|run|cmd:chromedriver|chromium-driver"
    "ca-certificates|run|file:/etc/ssl/certs/ca-certificates.crt|ca-certificates"
    "pango|run|lib:libpangoft2-1.0.so.0|libpango-1.0-0 libpangoft2-1.0-0"
    "fonts|run|file:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf|fonts-dejavu-core"
    "gpgv|run|cmd:gpgv|gpgv"
    "certutil|run|cmd:certutil|libnss3-tools"
    "prometheus|test|cmd:prometheus|prometheus"
    "promtool|test|cmd:promtool|prometheus"
    "alertmanager|test|cmd:prometheus-alertmanager|prometheus-alertmanager"
    "amtool|test|cmd:amtool|prometheus-alertmanager"
    "nginx|test|cmd:nginx|nginx-light"
    "blackbox|test|cmd:prometheus-blackbox-exporter|prometheus-blackbox-exporter"
    "wrk|test|cmd:wrk|wrk"
    "redis|test|cmd:redis-server|redis-server"
    "postgresql|test|glob:/usr/lib/postgresql/*/bin/initdb|postgresql"
    "systemd-analyze|test|cmd:systemd-analyze|systemd"
    "gpg|test|cmd:gpg|gpg"
    "gpg-agent|test|cmd:gpg-agent|gpg-agent"
    "knotd|test|cmd:knotd|knot"
    "unbound|test|cmd:unbound|unbound"
)

# ---- facts: probed on this machine, or read from a machine description --------------------
facts="${EGOV_SETUP_FACTS:-}"
fact() { sed -n "s/^$1=//p" "$facts" | tail -n 1; }

has_cmd() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

probe() {  # probe TYPE:ARG -> exit 0 when present on this machine
    local kind="${1%%:*}" arg="${1#*:}"
    case "$kind" in
        cmd) has_cmd "$arg" ;;
        file) [ -e "$arg" ] ;;
        glob) compgen -G "$arg" >/dev/null ;;
        # no grep -q: it would end the pipe early and, under pipefail, report the library missing
        lib) ldconfig -p 2>/dev/null | grep -F "$arg" >/dev/null ;;
    esac
}

present() {  # present NAME PROBE
    if [ -n "$facts" ]; then
        [[ " $(fact present) " == *" $1 "* ]]
    else
        probe "$2"
    fi
}

debian_major() {
    if [ -n "$facts" ]; then fact debian; return; fi
    local v
    v=$(cat /etc/debian_version 2>/dev/null || echo unknown)
    case "$v" in
        12* | bookworm*) echo 12 ;;
        13* | trixie*) echo 13 ;;
        *) echo "${v%%.*}" ;;
    esac
}

node_version() {
    if [ -n "$facts" ]; then fact node; return; fi
    if command -v node >/dev/null 2>&1; then node --version 2>/dev/null || true; fi
}

has_npm() {
    if [ -n "$facts" ]; then [ "$(fact npm)" = yes ]; return; fi
    command -v npm >/dev/null 2>&1
}

node_from_debian() {  # the node on PATH belongs to Debian's nodejs package (then Debian's npm fits it)
    if [ -n "$facts" ]; then [ "$(fact node_pkg)" = debian ]; return; fi
    local owner version
    owner=$(dpkg -S "$(readlink -f "$(command -v node)")" 2>/dev/null | cut -d: -f1) || return 1
    [ "$owner" = nodejs ] || return 1
    version=$(dpkg-query -W -f '${Version}' nodejs 2>/dev/null) || return 1
    case "$version" in *nodesource* | *nsolid*) return 1 ;; esac
    return 0
}

find_python() {
    if [ -n "$facts" ]; then local p; p=$(fact python); [ -n "$p" ] && echo "$p"; return; fi
    local c p
    for c in python3.13 python3.12; do
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

# The second leg of `make test` runs the fast tests on Python 3.13 (Debian 13's Python; a bug
# once hid there while the first leg ran 3.12): python3.13 on PATH, or pyenv's.
find_python313() {
    if [ -n "$facts" ]; then local p; p=$(fact python313); [ -n "$p" ] || p=$(fact python); [ -n "$p" ] && echo "$p"; return; fi
    local p
    for p in python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3 /root/.pyenv/versions/3.13*/bin/python3; do
        if [ -x "$p" ] || command -v "$p" >/dev/null 2>&1; then
            if "$p" -c 'import ensurepip, venv, sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
                command -v "$p" 2>/dev/null || echo "$p"; return 0
            fi
        fi
    done
    return 1
}

python_can_venv() {
    if [ -n "$facts" ]; then [ "$(fact python_venv)" = yes ]; return; fi
    "$1" -c 'import ensurepip, venv' >/dev/null 2>&1
}

# ---- selection: which packages, and what stops the set-up ---------------------------------
wanted=()     # requirements of this mode: name|probe|packages
for r in "${requirements[@]}"; do
    IFS='|' read -r name rmode rprobe rpkgs <<<"$r"
    if [ "$rmode" = run ] || [ "$mode" = test ]; then wanted+=("$name|$rprobe|$rpkgs"); fi
done

plan=()       # packages this machine lacks
full=()       # the complete list a fresh machine of this kind gets (for the dry run)
problems=()   # what the set-up cannot do by itself, each with what to do
add() {  # add ARRAY PACKAGE...
    local -n into="$1"; shift
    local p q
    for p in "$@"; do
        for q in ${into[@]+"${into[@]}"}; do [ "$q" = "$p" ] && continue 2; done
        into+=("$p")
    done
}

debian=$(debian_major)
case "$debian" in
    12 | 13) ;;
    *) say "Warnung: Debian $debian ist nicht erprobt (unterstützt: Debian 12 und 13); die Paketnamen können abweichen." ;;
esac

missing_names=()
for w in "${wanted[@]}"; do
    IFS='|' read -r name rprobe rpkgs <<<"$w"
    # shellcheck disable=SC2086  # a requirement may need several packages
    add full $rpkgs
    if ! present "$name" "$rprobe"; then
        missing_names+=("$name")
        # shellcheck disable=SC2086
        add plan $rpkgs
    fi
done

if [ "$mode" = test ]; then
    # Node.js runs the HTTP Observatory (node >= 20) and @axe-core/cli. A Node.js that is
    # already here is used as it is: Debian's npm conflicts with Node.js builds that ship npm.
    nv=$(node_version)
    if [ -z "$nv" ]; then
        if [ "$debian" -ge 13 ] 2>/dev/null; then
            add plan nodejs npm; add full nodejs npm; missing_names+=(node)
        else
            problems+=("Node.js fehlt, und Debian $debian liefert nur Node.js 18; die Tests brauchen Node.js $NODE_MIN oder neuer (das HTTP Observatory verlangt es). Bitte Node.js $NODE_MIN+ mit npm installieren (z. B. das Paket nodejs von NodeSource) und die Einrichtung erneut starten.")
        fi
    else
        major=${nv#v}; major=${major%%.*}
        if ! [ "$major" -ge "$NODE_MIN" ] 2>/dev/null; then
            problems+=("Node.js $nv ist zu alt: die Tests brauchen Node.js $NODE_MIN oder neuer (das HTTP Observatory verlangt es; Debian 12 liefert 18). Bitte Node.js $NODE_MIN+ mit npm installieren (z. B. von NodeSource) und die Einrichtung erneut starten.")
        elif ! has_npm; then
            if node_from_debian; then
                add plan npm; add full npm; missing_names+=(npm)
            else
                problems+=("Node.js $nv ist vorhanden, aber kein npm. Debians npm passt nicht zu einer Node.js-Installation aus anderer Quelle; bitte das npm dieser Installation einrichten (z. B. corepack oder das Paket der Quelle) und die Einrichtung erneut starten.")
            fi
        fi
    fi
fi

PY=""
if [ -x "$VENV/bin/python" ] && [ -z "$facts" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
    PY="$VENV/bin/python"
elif PY=$(find_python); then
    if ! python_can_venv "$PY"; then
        real=$(readlink -f "$(command -v "$PY" 2>/dev/null || echo "$PY")" 2>/dev/null || echo "$PY")
        case "$real" in
            /usr/bin/python3.*)
                venv_pkg="python${real#/usr/bin/python}-venv"
                add plan "$venv_pkg"; add full "$venv_pkg"; missing_names+=(venv) ;;
            *) problems+=("$PY kann keine virtuelle Umgebung anlegen (ensurepip fehlt); bitte ein vollständiges Python 3.12+ installieren.") ;;
        esac
    fi
else
    PY=""
    problems+=("kein Python 3.12 oder neuer gefunden (gesucht: python3.13, python3.12, ~/.pyenv/versions/3.12+, python3). Bitte Python 3.12+ installieren (Debian 13: python3 und python3-venv; Debian 12: z. B. mit pyenv); axe-selenium-python 3 läuft nicht auf älteren Versionen.")
fi

report_problems() {
    local p
    for p in "${problems[@]}"; do say "$p"; done
}

# ---- --plan: what this machine lacks ----------------------------------------------------
if [ "$action" = plan ]; then
    for p in ${plan[@]+"${plan[@]}"}; do echo "$p"; done
    if [ ${#problems[@]} -gt 0 ]; then report_problems; exit 1; fi
    exit 0
fi

as_root() {  # as_root COMMAND... : directly as root, else through sudo, else explain and stop
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && { [ -t 0 ] || sudo -n true 2>/dev/null; }; then sudo "$@"
    else
        say "Für '$*' sind Root-Rechte nötig (kein root, kein nutzbares sudo). Bitte als root ausführen:"
        say "  apt-get update && apt-get install --no-install-recommends ${plan[*]:-${full[*]}}"
        say "und danach scripts/setup.sh $mode als normaler Benutzer."
        exit 1
    fi
}

apt_lists_present() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

VENV313="${VENV313:-.venv-3.13}"
PY313=""
if [ "$mode" = test ]; then
    if ! PY313=$(find_python313); then
        PY313=""
        problems+=("kein Python 3.13 mit venv gefunden (gesucht: python3.13, ~/.pyenv/versions/3.13*): make test führt die schnellen Tests auch auf Python 3.13 aus. Bitte installieren (Debian 13: python3 und python3-venv; Debian 12: pyenv install 3.13).")
    fi
fi
# the second leg is needed only when the first one does not run on 3.13 already
same_python() { [ -n "$1" ] && [ -n "$2" ] && [ "$("$1" -c 'import sys; print(sys.version_info[:2])' 2>/dev/null)" = "$("$2" -c 'import sys; print(sys.version_info[:2])' 2>/dev/null)" ]; }

# ---- --dry-run: resolve everything, install nothing ------------------------------------------
if [ "$action" = dry-run ]; then
    if [ ${#problems[@]} -gt 0 ]; then report_problems; exit 1; fi
    if ! apt_lists_present; then
        say "apt-Paketlisten fehlen; lade sie (apt-get update)"
        as_root apt-get update -qq
    fi
    say "löse die vollständige Paketliste für '$mode' auf (apt-get install -s): ${full[*]}"
    if ! out=$(LC_ALL=C apt-get install -s --no-install-recommends "${full[@]}" 2>&1); then
        printf '%s\n' "$out" >&2
        say "FEHLER: die Paketliste für '$mode' lässt sich auf diesem System nicht installieren (siehe oben)."
        exit 1
    fi
    say "apt: $(printf '%s\n' "$out" | grep -c '^Inst ' || true) Pakete würden neu installiert, keine Konflikte"
    if [ "${EGOV_SETUP_DRY_RUN:-}" = apt ]; then
        # tests/test_setup.py: make test has just installed the Python and npm packages for
        # real (a stronger check than their dry run, which .ci/run runs in full beforehand)
        say "Trockenlauf '$mode' in Ordnung (nur apt): nichts installiert"
        exit 0
    fi
    extra=""
    [ "$mode" = test ] && extra="[test]"
    pip=("$PY" -m pip)
    if ! "$PY" -m pip --version >/dev/null 2>&1; then
        say "FEHLER: $PY hat kein pip; für die Auflösung der Python-Pakete bitte zuerst scripts/setup.sh $mode ausführen."
        exit 1
    fi
    say "löse egov-monitor$extra auf (pip install --dry-run --ignore-installed)"
    # --break-system-packages: a dry run installs nothing, and Debian 13's own python3 refuses
    # even to resolve without it (PEP 668); the real install goes into .venv.
    if ! out=$("${pip[@]}" install --dry-run --ignore-installed --break-system-packages --disable-pip-version-check \
            -q ".$extra" 2>&1); then
        printf '%s\n' "$out" >&2
        say "FEHLER: die Python-Pakete von egov-monitor$extra lassen sich nicht auflösen (siehe oben)."
        exit 1
    fi
    if [ "$mode" = test ] && [ -n "$PY313" ] && [ -z "$facts" ] && ! same_python "$PY" "$PY313"; then
        say "löse egov-monitor[test] für Python 3.13 auf ($PY313)"
        if ! out=$("$PY313" -m pip install --dry-run --ignore-installed --break-system-packages --disable-pip-version-check \
                -q ".[test]" 2>&1); then
            printf '%s\n' "$out" >&2
            say "FEHLER: die Python-Pakete von egov-monitor[test] lassen sich auf Python 3.13 nicht auflösen (siehe oben)."
            exit 1
        fi
    fi
    if [ "$mode" = test ] && command -v npm >/dev/null 2>&1; then
        for ref in bench/observatory bench/axe-cli bench/lighthouse; do
            if ! out=$(cd "$ref" && npm ci --dry-run --ignore-scripts --no-audit --no-fund 2>&1); then
                printf '%s\n' "$out" >&2
                say "FEHLER: die npm-Pakete in $ref lassen sich mit Node.js $(node --version) nicht auflösen."
                exit 1
            fi
        done
    fi
    say "Trockenlauf '$mode' in Ordnung: nichts installiert"
    exit 0
fi

# ---- install ------------------------------------------------------------------------------
# Stop before installing anything when the set-up cannot finish: no half-installed machine.
if [ ${#problems[@]} -gt 0 ]; then report_problems; exit 1; fi

if [ ${#plan[@]} -gt 0 ]; then
    say "fehlt: ${missing_names[*]}"
    say "installiere Debian-Pakete: ${plan[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${plan[@]}" >/dev/null
    still=()
    for w in "${wanted[@]}"; do
        IFS='|' read -r name rprobe rpkgs <<<"$w"
        probe "$rprobe" || still+=("$name ($rpkgs)")
    done
    if [ "$mode" = test ] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then still+=("node/npm"); fi
    if [ ${#still[@]} -gt 0 ]; then
        say "FEHLER: nach der Installation fehlt noch: ${still[*]}"
        exit 1
    fi
fi

# For the tests three installs are independent of the main environment: the npm reference
# tools and the Python 3.13 environment's dependencies. They run beside it (make test on a fresh
# clone: ~90 -> ~50 s); each says what failed, and the set-up fails when any did. Only the
# editable install of the project itself is not run twice at once (setuptools writes
# egov_monitor.egg-info into this tree): .venv-3.13 gets it after the main environment has.
background=()
trap '[ ${#background[@]} -eq 0 ] || kill "${background[@]}" 2>/dev/null' EXIT  # a failed main install stops them too
need313=no
if [ "$mode" = test ] && ! same_python "$PY" "$PY313"; then  # (.venv is made from $PY)
    need313=yes
    stamp313="$VENV313/.installed-test-$(sha1sum <pyproject.toml | cut -c1-12)"
    if [ ! -f "$stamp313" ]; then
        (
            if ! [ -x "$VENV313/bin/python" ] || ! same_python "$VENV313/bin/python" "$PY313"; then
                say "lege virtuelle Umgebung $VENV313 mit $PY313 an (zweiter Testlauf auf Python 3.13)"
                rm -rf "$VENV313"
                "$PY313" -m venv "$VENV313"
            fi
            say "installiere die Abhängigkeiten von egov-monitor[test] in $VENV313"
            mapfile -t deps < <("$VENV313/bin/python" -c 'import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["test"]))')
            "$VENV313/bin/pip" install -q --disable-pip-version-check "${deps[@]}" \
                2> >(grep -v "is ignored: it is neither" >&2) || { say "FEHLER: Abhängigkeiten für $VENV313 nicht installiert (siehe oben)"; exit 1; }
        ) &
        background+=("$!")
    fi
fi
if [ "$mode" = test ]; then
    # The HTTP Observatory itself (npm), the reference our security grades are compared with.
    # @axe-core/cli (npm), the peer of the accessibility benchmark; --ignore-scripts keeps
    # its chromedriver package from downloading a driver: the Debian one is used. Lighthouse
    # (npm), the peer of the page-experience benchmark, drives the Debian chromium too.
    # The three install side by side (mostly waiting for the disk: one after the other they
    # took ~53 s of a fresh clone's set-up, Lighthouse alone ~36 s); --prefer-offline takes
    # what npm's cache holds without asking the registry again.
    for ref in bench/observatory bench/axe-cli bench/lighthouse; do
        ref_stamp="$ref/node_modules/.installed-$(sha1sum <"$ref/package-lock.json" | cut -c1-12)"
        if [ ! -f "$ref_stamp" ]; then
            (
                say "installiere npm-Pakete in $ref"
                (cd "$ref" && CHROMEDRIVER_SKIP_DOWNLOAD=true PUPPETEER_SKIP_DOWNLOAD=1 \
                    npm ci --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null) \
                    || { say "FEHLER: npm-Pakete in $ref nicht installiert (siehe oben)"; exit 1; }
                touch "$ref_stamp"
            ) &
            background+=("$!")
        fi
    done
fi

if [ "$PY" != "$VENV/bin/python" ]; then
    say "lege virtuelle Umgebung $VENV mit $PY an"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi
extra=""
[ "$mode" = test ] && extra="[test]"
stamp="$VENV/.installed-$mode-$(sha1sum <pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    say "installiere egov-monitor$extra"
    # (not --no-compile: it saves ~13 s of the set-up's CPU, but where PYTHONDONTWRITEBYTECODE is
    # set nothing is cached later, and every Python process of the tests compiled its imports again:
    # ~2.8 CPU-s more for each start of the daemon; a fresh clone's main run took 572 s, not 476-515)
    "$VENV/bin/pip" install -q --disable-pip-version-check -e ".$extra" 2> >(grep -v "is ignored: it is neither" >&2)
    touch "$stamp"
fi
if [ "$mode" = test ]; then
    # The tree byte-compiled once (quick when nothing changed): where PYTHONDONTWRITEBYTECODE is
    # set, Python caches nothing itself, and each daemon and CLI process the tests start
    # compiled monitor/ and checks/ again (~0.2 CPU-s a process).
    "$VENV/bin/python" -m compileall -q -j 0 -x node_modules monitor checks tests bench >/dev/null
fi

failed=no
for job in "${background[@]}"; do
    wait "$job" || failed=yes
done
background=()
if [ "$failed" = yes ]; then
    say "FEHLER: die Einrichtung ist nicht vollständig (siehe oben); bitte erneut starten."
    exit 1
fi

if [ "$need313" = yes ] && [ ! -f "$stamp313" ]; then
    say "installiere egov-monitor[test] in $VENV313"
    "$VENV313/bin/pip" install -q --disable-pip-version-check --no-deps -e ".[test]" 2> >(grep -v "is ignored: it is neither" >&2)
    touch "$stamp313"
fi
