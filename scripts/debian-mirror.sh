#!/bin/sh
# Prints the Debian mirror this machine's apt already uses for its own suite
# (one-line `.list` or deb822 `.sources` format), or nothing if there is none.
# The project names no mirror of its own.
set -eu
# shellcheck source=/dev/null # the machine's own file
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
{
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
                           print $i, $(i + 1) }'
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'tolower($1) == "uris:" { u = $2 }
             tolower($1) == "suites:" { for (i = 2; i <= NF; i++) print u, $i }
             /^$/ { u = "" }' "$f"
    done
} | awk -v want="$codename" '$2 == want { print $1; exit }'
