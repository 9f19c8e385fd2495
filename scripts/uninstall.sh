#!/usr/bin/env bash
# Removes what scripts/install.sh installed: the units, the program and (with --purge) the profile, the
# credentials, the gallery and the enfpire user. Without --purge, /etc/enfpire and /var/lib/enfpire stay, so a
# later install picks up the same profile, secrets and gallery.
#   sudo scripts/uninstall.sh [--purge] [--prefix DIR] [--root DIR] [--dry-run]
set -euo pipefail

say() { printf 'uninstall: %s\n' "$*"; }
die() { printf 'uninstall: %s\n' "$*" >&2; exit 1; }
run() {
  if [ "$dry_run" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

prefix=/opt/enfpire
root=
purge=0
dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2-}"; shift 2 || die "--prefix needs a folder." ;;
    --root) root="${2-}"; shift 2 || die "--root needs a folder." ;;
    --purge) purge=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown option '$1'; see --help." ;;
  esac
done
[[ "$prefix" = /?* ]] || die "--prefix must be an absolute folder."
if [ -z "$root" ] && [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo), or use --root DIR or --dry-run."; fi
R="${root%/}"
# Never rm -rf a folder that is not an EnfPire install (a mistyped --prefix /opt).
if [ -e "$R$prefix" ] && [ ! -f "$R$prefix/bin/enfpire.js" ]; then die "$R$prefix does not hold an EnfPire install; check --prefix."; fi
units=(enfpire-edge.service enfpire-recognizer.service)

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  run systemctl disable --now "${units[@]}" || true
fi
for unit in "${units[@]}"; do
  run rm -rf "$R/etc/systemd/system/$unit" "$R/etc/systemd/system/$unit.d"
done
if [ -z "$root" ] && [ -d /run/systemd/system ]; then run systemctl daemon-reload; fi
# Only our own link: a different `enfpire` in /usr/local/bin is someone else's.
if [ "$(readlink "$R/usr/local/bin/enfpire" 2>/dev/null)" = "$prefix/bin/enfpire.js" ]; then run rm -f "$R/usr/local/bin/enfpire"; fi
run rm -rf "$R$prefix" "$R$prefix.new" "$R$prefix.old"

if [ "$purge" = 1 ]; then
  say "--purge: removing the profile, the credentials and the gallery"
  run rm -rf "$R/etc/enfpire" "$R/var/lib/enfpire" "$R/var/cache/enfpire"
  if [ -z "$root" ] && getent passwd enfpire >/dev/null; then run userdel enfpire; fi
  if [ -z "$root" ] && getent group enfpire >/dev/null; then run groupdel enfpire; fi
else
  say "kept $R/etc/enfpire (profile, credentials) and $R/var/lib/enfpire (gallery); --purge removes them"
fi
say "done"
