#!/usr/bin/env bash
# Installs EnfPire on a Raspberry Pi, a Jetson or any Debian/Ubuntu box, from a checkout built on that machine
# (`npm ci` compiles dist/ and the native modules for its CPU and Node version):
#
#   sudo scripts/install.sh --profile pi5-camera-module-3          # edge daemon, enabled and started
#   sudo scripts/install.sh --service recognizer                   # recognizer, from firmware-config/recognizer.yaml
#   scripts/install.sh --root /tmp/img --profile dev-files         # into a folder: no root, no useradd, no systemctl
#   scripts/install.sh --dry-run --profile pi5-camera-module-3     # print what it would do, change nothing
#
# Safe to run again: it replaces the program (that is how to upgrade) and the units, and never overwrites a
# profile or a credential that is already there. docs/operations.md has the whole procedure.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/install.sh [options]
  --profile NAME         firmware-config/NAME.yaml becomes /etc/enfpire/<service>.yaml (only when that file is absent)
  --service edge|recognizer   which unit to configure, enable and start (default: edge)
  --credential NAME=FILE copy FILE to /etc/enfpire/credentials/NAME (root-only, 0600); repeatable
  --prefix DIR           where the program goes (default: /opt/enfpire)
  --root DIR             install under DIR instead of /: no user, no ownership changes, no systemctl
  --source DIR           checkout to install from (default: the one holding this script)
  --no-start             enable the unit but do not (re)start it
  --dry-run              print every step instead of doing it
  -h, --help             this text
EOF
}

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

# Every change goes through run: printed (shell-quoted) with --dry-run, executed otherwise.
run() {
  if [ "$dry_run" = 1 ]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

# Absolute, and only characters that need no quoting inside a unit file's ExecStart= or a sed expression.
check_unit_path() {
  [[ "$2" =~ ^/[A-Za-z0-9._/+-]*$ ]] || die "$1 '$2' must be an absolute path of letters, digits and . _ / + - only."
}

service=edge
profile=
prefix=/opt/enfpire
root=
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
start=1
dry_run=0
credentials=()

while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2-}"; shift 2 || die "--profile needs a NAME." ;;
    --profile=*) profile="${1#*=}"; shift ;;
    --service) service="${2-}"; shift 2 || die "--service needs edge or recognizer." ;;
    --service=*) service="${1#*=}"; shift ;;
    --credential) credentials+=("${2-}"); shift 2 || die "--credential needs NAME=FILE." ;;
    --credential=*) credentials+=("${1#*=}"); shift ;;
    --prefix) prefix="${2-}"; shift 2 || die "--prefix needs a folder." ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --root) root="${2-}"; shift 2 || die "--root needs a folder." ;;
    --root=*) root="${1#*=}"; shift ;;
    --source) source_dir="${2-}"; shift 2 || die "--source needs a folder." ;;
    --source=*) source_dir="${1#*=}"; shift ;;
    --no-start) start=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'." ;;
  esac
done

# --- what and where ---------------------------------------------------------------------------------------------
case "$service" in
  edge) unit=enfpire-edge.service ;;
  recognizer) unit=enfpire-recognizer.service; profile="${profile:-recognizer}" ;;
  *) die "--service must be 'edge' or 'recognizer', not '$service'." ;;
esac
check_unit_path --prefix "$prefix"
prefix="${prefix%/}"
if [ -n "$root" ]; then
  [ -d "$root" ] || die "--root '$root' is not a folder; create it first."
  root="$(cd "$root" && pwd)"
  [ "$root" = / ] && root=
fi
[ -f "$source_dir/bin/enfpire.js" ] || die "--source '$source_dir' is not an EnfPire checkout (no bin/enfpire.js)."
[ -f "$source_dir/dist/cli/main.js" ] && [ -d "$source_dir/node_modules" ] ||
  die "the checkout $source_dir is not built; run 'npm ci' in it first (on this machine: native modules are per CPU)."

state_dir=/var/lib/enfpire
config_dir=/etc/enfpire
credential_dir="$config_dir/credentials"
unit_dir=/etc/systemd/system
config_file="$config_dir/$service.yaml"
R="$root" # prefix of every path written; empty for a real install

if [ -n "$profile" ]; then
  [[ "$profile" =~ ^[A-Za-z0-9._-]+$ ]] || die "--profile '$profile' must be a profile name like pi5-camera-module-3, not a path."
  [ -f "$source_dir/firmware-config/$profile.yaml" ] ||
    die "no profile firmware-config/$profile.yaml; choose one of: $(cd "$source_dir/firmware-config" && ls -- *.yaml | sed 's/\.yaml$//' | tr '\n' ' ')"
fi

# --- requirements -----------------------------------------------------------------------------------------------
node_bin="$(command -v node || true)"
[ -n "$node_bin" ] || die "Node.js 20 or newer is required and 'node' is not on PATH; install it (Debian 13: apt-get install nodejs; older releases: NodeSource's nodejs 20/22 package), then rerun."
node_major="$("$node_bin" -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js 20 or newer is required, found $("$node_bin" --version) at $node_bin; upgrade it, then rerun."
node_bin="$(readlink -f "$node_bin")"
check_unit_path "node" "$node_bin"
case "$node_bin" in
  /home/*|/root/*|/run/user/*)
    die "node is at $node_bin, which the units hide (ProtectHome=yes); install Node.js system-wide (e.g. /usr/bin/node), then rerun." ;;
esac

if [ -z "$root" ] && [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo scripts/install.sh …), or use --root DIR or --dry-run."
fi

systemd_running=0
if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemd_running=1
  systemd_version="$(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')"
  if [ "${systemd_version:-0}" -lt 247 ]; then
    say "warning: systemd ${systemd_version:-?} is older than 247: LoadCredential=, ProtectProc= and ProcSubset= are ignored, so 'credential:NAME' settings cannot work; point *File settings at files readable by group enfpire instead."
  fi
fi

# --- user -------------------------------------------------------------------------------------------------------
if [ -n "$root" ]; then
  say "--root: not creating the enfpire user and not changing ownership (do that on the device)"
else
  getent group enfpire >/dev/null || run groupadd --system enfpire
  getent passwd enfpire >/dev/null ||
    run useradd --system --gid enfpire --home-dir "$state_dir" --no-create-home --shell /usr/sbin/nologin \
      --comment 'EnfPire daemons' enfpire
  # The unit adds these groups itself (SupplementaryGroups=); membership here lets `sudo -u enfpire rpicam-hello`
  # reproduce what the daemon sees when a camera is not found.
  for group in video render; do
    if getent group "$group" >/dev/null && ! id -nG enfpire 2>/dev/null | tr ' ' '\n' | grep -qx "$group"; then
      if [ "$group" = render ] && [[ "$profile" != jetson* ]]; then continue; fi
      run usermod --append --groups "$group" enfpire
    fi
  done
fi
own() { [ -n "$root" ] || run chown "$@"; }

# --- program ----------------------------------------------------------------------------------------------------
# Built beside the old one and swapped in, so a failed copy never leaves a half-installed program.
target="$R$prefix"
staging="$target.new"
# It is replaced wholesale below: never a folder that holds something else (a mistyped --prefix /usr).
if [ -e "$target" ] && [ ! -f "$target/bin/enfpire.js" ]; then die "$target exists and is not an EnfPire install; choose another --prefix."; fi
say "installing the program from $source_dir to $target"
run rm -rf "$staging"
run mkdir -p "$staging"
for entry in bin dist firmware-config models samples docs package.json package-lock.json .npmrc README.md LICENSE node_modules; do
  if [ -e "$source_dir/$entry" ]; then run cp -a "$source_dir/$entry" "$staging/"; fi
done
if command -v npm >/dev/null 2>&1; then
  # Drops tap, TypeScript and the other dev-only packages; --offline: nothing is fetched, only removed.
  run npm --prefix "$staging" prune --omit=dev --offline --no-audit --no-fund --loglevel=error
else
  say "warning: npm not found; the development packages stay in $target/node_modules (harmless, larger)"
fi
own -R root:root "$staging"
run chmod -R go-w "$staging"
if [ -e "$target" ]; then
  run rm -rf "$target.old"
  run mv "$target" "$target.old"
fi
run mv "$staging" "$target"
run rm -rf "$target.old"
# `enfpire status`, `enfpire config check` for operators; the units run node on the script directly.
run mkdir -p "$R/usr/local/bin"
run ln -sfn "$prefix/bin/enfpire.js" "$R/usr/local/bin/enfpire"

# --- units ------------------------------------------------------------------------------------------------------
# The units name /usr/bin/node and /opt/enfpire; other locations are written into the installed copies.
run mkdir -p "$R$unit_dir"
for name in enfpire-edge.service enfpire-recognizer.service; do
  say "installing $R$unit_dir/$name"
  if [ "$node_bin" = /usr/bin/node ] && [ "$prefix" = /opt/enfpire ]; then
    run install -m 0644 "$source_dir/systemd/$name" "$R$unit_dir/$name"
  elif [ "$dry_run" = 1 ]; then
    run sed -e "s|^ExecStart=/usr/bin/node |ExecStart=$node_bin |" -e "s|/opt/enfpire/|$prefix/|g" "$source_dir/systemd/$name"
  else
    sed -e "s|^ExecStart=/usr/bin/node |ExecStart=$node_bin |" -e "s|/opt/enfpire/|$prefix/|g" \
      "$source_dir/systemd/$name" >"$R$unit_dir/$name.tmp"
    chmod 0644 "$R$unit_dir/$name.tmp"
    mv "$R$unit_dir/$name.tmp" "$R$unit_dir/$name"
  fi
done
if [ "$service" = edge ] && [[ "$profile" == jetson* ]]; then
  run mkdir -p "$R$unit_dir/enfpire-edge.service.d"
  run install -m 0644 "$source_dir/systemd/jetson.conf" "$R$unit_dir/enfpire-edge.service.d/jetson.conf"
fi

# --- state, configuration and credentials -----------------------------------------------------------------------
run mkdir -p "$R$state_dir"
run chmod 0750 "$R$state_dir"
own enfpire:enfpire "$R$state_dir"
run mkdir -p "$R$credential_dir"
run chmod 0755 "$R$config_dir"
run chmod 0700 "$R$credential_dir"
own root:root "$R$config_dir" "$R$credential_dir"

# Every LoadCredential= source must exist or systemd refuses to start the unit, so missing ones are created empty;
# the daemon reports an empty secret by name when a profile actually uses it.
mapfile -t loaded < <(sed -n 's/^LoadCredential=\([^:]*\):.*/\1/p' "$source_dir/systemd/$unit")
for pair in ${credentials[@]+"${credentials[@]}"}; do
  name="${pair%%=*}"
  file="${pair#*=}"
  [[ "$pair" == *=* && "$name" =~ ^[A-Za-z0-9_.@-]+$ ]] || die "--credential '$pair' must be NAME=FILE (NAME: letters, digits, . _ @ -)."
  [ -f "$file" ] || die "--credential $name: '$file' is not a file."
  printf '%s\n' "${loaded[@]}" | grep -qxF -- "$name" ||
    say "warning: $unit does not load credential '$name'; add 'LoadCredential=$name:$credential_dir/$name' with 'systemctl edit ${unit%.service}'"
  say "storing credential $name"
  run install -m 0600 "$file" "$R$credential_dir/$name"
  own root:root "$R$credential_dir/$name"
done
for name in "${loaded[@]}"; do
  if [ ! -e "$R$credential_dir/$name" ]; then
    run install -m 0600 /dev/null "$R$credential_dir/$name"
    own root:root "$R$credential_dir/$name"
  fi
done

# A profile is copied once and then belongs to the operator. Relative paths in it were relative to firmware-config/
# of the checkout; the installed copy names the installed program's files and keeps databases in the state folder.
if [ -e "$R$config_file" ]; then
  say "keeping the existing $R$config_file"
elif [ -z "$profile" ]; then
  die "$R$config_file does not exist: choose a profile with --profile NAME (one of: $(cd "$source_dir/firmware-config" && ls -- *.yaml | sed 's/\.yaml$//' | tr '\n' ' '))."
else
  say "installing profile $profile as $R$config_file (relative paths made absolute)"
  [ "$dry_run" = 1 ] || "$node_bin" --input-type=module -e '
    import { readFileSync, writeFileSync, existsSync } from "node:fs";
    import { createRequire } from "node:module";
    import { basename, isAbsolute, join, resolve } from "node:path";
    const [moduleRoot, sourceProfile, kind, profileDir, stateDir, root, out, profileName] = process.argv.slice(1);
    const { parseDocument } = createRequire(join(moduleRoot, "package.json"))("yaml");
    const schema = JSON.parse(readFileSync(join(moduleRoot, "firmware-config", `${kind}.schema.json`), "utf8"));
    const databases = new Set(["gallery.path", "gallery"]); // written by the daemon or by enroll: state, not program
    const doc = parseDocument(readFileSync(sourceProfile, "utf8"));
    const walk = (node, keys) => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        const at = [...keys, key];
        if (child.type === "object") { walk(child, at); continue; }
        if (child.format !== "path") continue;
        const value = doc.getIn(at) ?? child.default;
        if (typeof value !== "string" || isAbsolute(value)) continue;
        const absolute = databases.has(at.join(".")) ? join(stateDir, basename(value)) : resolve(profileDir, value);
        doc.setIn(at, absolute);
        if (!databases.has(at.join(".")) && !existsSync(root + absolute)) {
          console.error(`install: warning: ${at.join(".")} names ${absolute}, which does not exist`);
        }
      }
    };
    walk(schema, []);
    doc.commentBefore = ` Installed from firmware-config/${profileName}.yaml by scripts/install.sh; relative paths were made absolute.\n` +
      ` Yours from now on: an upgrade keeps this file.\n` + (doc.commentBefore ? `\n${doc.commentBefore}` : "");
    writeFileSync(out, doc.toString({ flowCollectionPadding: false }), { mode: 0o640, flag: "wx" });
  ' "$target" "$target/firmware-config/$profile.yaml" "$service" "$prefix/firmware-config" "$state_dir" "$R" \
    "$R$config_file" "$profile"
  own root:enfpire "$R$config_file"
fi

if [ -e "$R$config_file" ] || [ "$dry_run" = 1 ]; then
  for used in $(sed -e 's/^[[:space:]]*#.*//' "$R$config_file" 2>/dev/null | grep -o 'credential:[A-Za-z0-9_.@-]*' | sort -u); do
    name="${used#credential:}"
    printf '%s\n' "${loaded[@]}" | grep -qxF -- "$name" ||
      say "warning: $config_file uses $used but $unit does not load it; add 'LoadCredential=$name:$credential_dir/$name' with 'systemctl edit ${unit%.service}'"
    if [ -e "$R$credential_dir/$name" ] && [ ! -s "$R$credential_dir/$name" ]; then
      say "note: $config_file uses $used: write the secret into $credential_dir/$name (it is empty)"
    fi
  done
  say "checking $R$config_file"
  run "$node_bin" "$target/bin/enfpire.js" config check "$R$config_file" --kind "$service" ||
    die "$R$config_file has problems (listed above); fix them, then rerun this script."
fi

# --- systemd ----------------------------------------------------------------------------------------------------
if [ -n "$root" ]; then
  say "--root: not running systemctl; on the device: systemctl daemon-reload && systemctl enable --now $unit"
elif [ "$systemd_running" = 0 ]; then
  say "systemd is not running here; once it is: systemctl daemon-reload && systemctl enable --now $unit"
else
  run systemctl daemon-reload
  run systemctl enable "$unit"
  if [ "$start" = 1 ]; then
    # restart, not start: after an upgrade the running daemon must pick up the new program.
    run systemctl restart "$unit"
    say "started; follow it with: journalctl -u $unit -f"
  else
    say "enabled, not started (--no-start): systemctl start $unit"
  fi
fi
say "done"
