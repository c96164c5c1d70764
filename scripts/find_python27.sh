#!/usr/bin/env bash
# Print the path of a Python 2.7 interpreter, wherever pyenv or the system has one
# (kamaki 0.16, the users' own CLI that some tests drive, runs on it); exit 1 if
# there is none. Looked for, in order: $PITHOSFS_PY27; the 2.7 versions of pyenv
# ($PYENV_ROOT, `pyenv root`, where the pyenv or the shims on PATH live, ~/.pyenv);
# python2.7 and python2 on PATH; /usr/bin and /usr/local/bin. A pyenv shim is
# resolved to the interpreter it runs.
set -uo pipefail

is_27() {
    [ -x "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' 2>/dev/null
}

candidates=()
[ -n "${PITHOSFS_PY27:-}" ] && candidates+=("$PITHOSFS_PY27")
roots=("${PYENV_ROOT:-}")
if pyenv=$(command -v pyenv 2>/dev/null); then
    roots+=("$(pyenv root 2>/dev/null)")
    roots+=("$(dirname "$(dirname "$(readlink -f "$pyenv")")")")  # <root>/libexec/pyenv
fi
for name in python2.7 python2; do  # a shim on PATH: <root>/shims/NAME
    shim=$(command -v "$name" 2>/dev/null) && [[ $shim == */shims/* ]] && \
        roots+=("$(dirname "$(dirname "$shim")")")
done
roots+=("$HOME/.pyenv")
for root in "${roots[@]}"; do
    [ -n "$root" ] || continue
    for version in "$root"/versions/2.7*/bin/python2.7; do
        candidates+=("$version")
    done
done
for name in python2.7 python2; do
    found=$(command -v "$name" 2>/dev/null) && candidates+=("$found")
done
candidates+=(/usr/bin/python2.7 /usr/local/bin/python2.7)

for candidate in "${candidates[@]}"; do
    if is_27 "$candidate"; then
        "$candidate" -c 'import sys; print(sys.executable)'
        exit 0
    fi
done
exit 1
