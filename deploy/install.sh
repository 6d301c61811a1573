#!/usr/bin/env bash
# Install Outpost as systemd services. Idempotent: run it again after every upgrade.
#
#   sudo ./deploy/install.sh            from a checkout at /opt/outpost
#   sudo OUTPOST_HOME=/srv/outpost ./deploy/install.sh     from a checkout elsewhere
#
# What it does: creates the system user `outpost` (home and data dir /var/lib/outpost), creates the
# virtualenv when there is none, copies deploy/outpost.env.example to /etc/outpost/outpost.env when that
# file does not exist yet (it never overwrites it), installs the units into /etc/systemd/system (with the
# checkout's path in them) and runs `systemctl daemon-reload`. It enables and starts nothing: the README
# ("Run as a service") says what to run next.
set -euo pipefail

UNITS=(outpost-runner.service outpost-dashboard.service outpost-media.service outpost-migrate.service
       outpost-runner-health.service outpost-runner-health.timer)

say() { printf '[outpost install] %s\n' "$*" >&2; }

install_outpost() {
  if [ "$(id -u)" -ne 0 ]; then
    say "this needs root: it creates the outpost user and writes to /etc. Run: sudo $0"
    return 1
  fi
  local src app data etc_dir unit_dir
  src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  app="${OUTPOST_HOME:-$(cd "$src/.." && pwd)}"
  data=/var/lib/outpost
  etc_dir=/etc/outpost
  unit_dir="${OUTPOST_UNIT_DIR:-/etc/systemd/system}"

  if [ ! -f "$app/app.py" ] || [ ! -f "$app/jobs/runner.py" ]; then
    say "$app does not look like an Outpost checkout (no app.py / jobs/runner.py); set OUTPOST_HOME"
    return 1
  fi
  case "$app" in
    /home/*|/root/*) say "$app is under a home directory, which the units hide (ProtectHome); use /opt/outpost"
                     return 1 ;;
  esac

  # 1. The user the services run as: no login, no home of its own beyond the data directory.
  if ! getent group outpost >/dev/null; then
    groupadd --system outpost
    say "created the group outpost"
  fi
  if ! getent passwd outpost >/dev/null; then
    useradd --system --gid outpost --home-dir "$data" --no-create-home \
      --shell /usr/sbin/nologin --comment "Outpost scheduler" outpost
    say "created the user outpost"
  fi

  # 2. Directories: settings readable by the services only, data writable by them only.
  install -d -m 0750 -o root -g outpost "$etc_dir"
  install -d -m 0750 -o outpost -g outpost "$data"

  # 3. The virtualenv (created once; an upgrade reinstalls requirements, see the README).
  if [ ! -x "$app/.venv/bin/python" ]; then
    command -v python3 >/dev/null || { say "python3 (3.11 or newer) is needed"; return 1; }
    say "creating the virtualenv in $app/.venv"
    python3 -m venv "$app/.venv"
    "$app/.venv/bin/python" -m pip install --quiet --upgrade pip
    "$app/.venv/bin/python" -m pip install --quiet -r "$app/requirements.txt"
  fi
  # A virtualenv made from a Python under /root or /home (pyenv, a user install) cannot run as outpost.
  local interp
  interp="$(readlink -f "$app/.venv/bin/python")"
  case "$interp" in
    /home/*|/root/*)
      say "the virtualenv's Python is $interp, inside a home directory the services cannot see (ProtectHome)."
      say "recreate it from the system Python: rm -rf $app/.venv && $0"
      return 1 ;;
  esac
  if ! runuser -u outpost -- "$app/.venv/bin/python" -c pass 2>/dev/null; then
    say "the user outpost cannot run $app/.venv/bin/python; make $app readable by it (chmod -R o+rX $app)"
    return 1
  fi

  # 4. The settings file: created once from the example, never overwritten.
  if [ ! -e "$etc_dir/outpost.env" ]; then
    install -m 0640 -o root -g outpost "$src/outpost.env.example" "$etc_dir/outpost.env"
    say "wrote $etc_dir/outpost.env from the example: edit it before starting Outpost"
  else
    say "kept $etc_dir/outpost.env"
  fi

  # 5. The units, with this checkout's path in them.
  local unit tmp
  for unit in "${UNITS[@]}"; do
    tmp="$(mktemp)"
    sed "s#/opt/outpost#$app#g" "$src/$unit" > "$tmp"
    if cmp -s "$tmp" "$unit_dir/$unit"; then
      rm -f "$tmp"
    else
      install -m 0644 -o root -g root "$tmp" "$unit_dir/$unit"
      rm -f "$tmp"
      say "installed $unit_dir/$unit"
    fi
  done

  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    say "systemctl daemon-reload done"
  else
    say "systemd is not running here; run 'systemctl daemon-reload' on the target system"
  fi

  cat >&2 <<EOF
[outpost install] next:
  1. edit $etc_dir/outpost.env (OUTPOST_DASHBOARD_URL, OUTPOST_PUBLIC_MEDIA_URL, platform credentials)
  2. systemctl start outpost-migrate            # the database schema, as the outpost user
  3. systemctl enable --now outpost-runner outpost-dashboard outpost-media outpost-runner-health.timer
  4. journalctl -u outpost-runner -f
EOF
}

# Sourcing this file (tests do) defines the function and runs nothing.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  install_outpost "$@"
fi
