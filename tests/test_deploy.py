"""Deployment: the systemd units and env example in deploy/, deploy/install.sh, and `./outpost start` end to end."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from jobs.runner import RunnerConfig

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
APP_DIR = "/opt/outpost"                       # where the units expect the checkout (install.sh rewrites it)
ENV_FILE = "/etc/outpost/outpost.env"
SERVICES = sorted(DEPLOY.glob("*.service"))
TIMERS = sorted(DEPLOY.glob("*.timer"))
LONG_RUNNING = ("outpost-runner.service", "outpost-dashboard.service")

# The systemd directives these units may use, per section: a misspelt key is otherwise silently ignored.
KNOWN_KEYS = {
    "Unit": {"Description", "Documentation", "Wants", "Requires", "After", "Before", "BindsTo", "PartOf",
             "StartLimitIntervalSec", "StartLimitBurst", "OnFailure", "ConditionPathExists"},
    "Service": {"Type", "User", "Group", "WorkingDirectory", "EnvironmentFile", "Environment", "ExecStart",
                "ExecStartPre", "ExecStartPost", "ExecCondition", "ExecStop", "ExecReload", "KillSignal", "KillMode",
                "TimeoutStopSec", "TimeoutStartSec", "Restart", "RestartSec", "NoNewPrivileges", "ProtectSystem",
                "ReadWritePaths", "ReadOnlyPaths", "StateDirectory", "StateDirectoryMode", "PrivateTmp", "ProtectHome",
                "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                "ProtectControlGroups", "ProtectClock", "ProtectHostname", "RestrictSUIDSGID", "RestrictRealtime",
                "RestrictNamespaces", "LockPersonality", "RestrictAddressFamilies", "SystemCallArchitectures",
                "UMask", "SyslogIdentifier"},
    "Timer": {"OnBootSec", "OnUnitActiveSec", "OnCalendar", "AccuracySec", "Persistent", "Unit",
              "RandomizedDelaySec"},
    "Install": {"WantedBy", "RequiredBy", "Also"},
}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as {section: {key: [values]}}, refusing anything that is not unit-file syntax."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line[0] in "#;":
            continue
        while line.endswith("\\") and i < len(lines):          # continuation lines
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if m := re.fullmatch(r"\[([A-Za-z]+)\]", line):
            current = sections.setdefault(m.group(1), {})
            continue
        m = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*)=(.*)", line)
        assert m, f"{path.name}: not unit-file syntax: {line!r}"
        assert current is not None, f"{path.name}: {line!r} comes before any [Section]"
        current.setdefault(m.group(1), []).append(m.group(2).strip())
    return sections


def one(unit: dict, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key)
    assert values, f"[{section}] {key}= is missing"
    return values[-1]


def seconds(span: str) -> float:
    """A systemd time span ("60", "90s", "1min 30s", "2min") in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert parts and "".join(n + u for n, u in parts) == span.replace(" ", ""), f"not a time span: {span!r}"
    return sum(float(n) * units[u] for n, u in parts)


def module_path(module: str) -> Path:
    base = ROOT / module.replace(".", "/")
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__main__.py"


def env_example() -> dict[str, tuple[str, bool]]:
    """{name: (value, active)} for every variable the example names, commented out or not."""
    out = {}
    for line in (DEPLOY / "outpost.env.example").read_text().splitlines():
        m = re.fullmatch(r"(#?)\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if m:
            out[m.group(2)] = (m.group(3), not m.group(1))
    return out


def variables_the_code_reads() -> set[str]:
    """Every environment variable core/infra/settings.py and jobs/runner.py read (f-string names expanded per platform)."""
    from core.infra.settings import _SLUGS
    names: set[str] = set()
    for rel in ("core/infra/settings.py", "jobs/runner.py"):
        text = (ROOT / rel).read_text()
        for is_f, name in re.findall(r"(?:environ|env)(?:\.get\(|\[)\s*(f?)[\"']([^\"']+)[\"']", text):
            if is_f:
                names |= {name.replace("{slug.upper()}", slug.upper()) for slug in _SLUGS}
            else:
                names.add(name)
    assert {"DATABASE_URL", "OUTPOST_DATA_DIR", "OUTPOST_RUNNER_NAME", "OUTPOST_X_CLIENT_ID"} <= names, names
    return names


# ---------------------------------------------------------------- the units
def test_the_units_are_the_expected_ones():
    names = {p.name for p in SERVICES + TIMERS}
    assert {"outpost-runner.service", "outpost-dashboard.service", "outpost-runner-health.service",
            "outpost-runner-health.timer"} <= names


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_each_service_runs_outpost_code_as_the_outpost_user_with_the_env_file(path):
    unit = parse_unit(path)
    for section, keys in unit.items():
        assert section in KNOWN_KEYS, f"{path.name}: unknown section [{section}]"
        assert not set(keys) - KNOWN_KEYS[section], f"{path.name}: unknown keys {set(keys) - KNOWN_KEYS[section]}"
    assert one(unit, "Unit", "Description")
    assert one(unit, "Service", "User") == "outpost"
    assert one(unit, "Service", "EnvironmentFile") == ENV_FILE
    assert one(unit, "Service", "WorkingDirectory") == APP_DIR
    # ExecStart: the virtualenv's python -m <a module that exists>, or its streamlit running app.py.
    argv = one(unit, "Service", "ExecStart").split()
    assert argv[0].startswith(f"{APP_DIR}/.venv/bin/"), argv
    if argv[0].endswith("/python"):
        assert argv[1] == "-m", argv
        assert module_path(argv[2]).is_file(), f"{path.name}: no module {argv[2]}"
        if argv[2] == "jobs.runner":                         # its flags must be ones the runner knows
            from jobs.runner import _parser
            _parser().parse_args(argv[3:])
    else:
        assert argv[0].endswith("/streamlit") and argv[1] == "run", argv
        assert (ROOT / argv[2]).is_file(), f"{path.name}: no {argv[2]}"
    # Hardening: nothing writable but the data directory.
    service = unit["Service"]
    assert one(unit, "Service", "NoNewPrivileges") == "yes"
    assert one(unit, "Service", "ProtectSystem") == "strict"
    assert one(unit, "Service", "PrivateTmp") == "yes"
    assert one(unit, "Service", "ProtectHome") in ("yes", "read-only", "tmpfs")
    data_dir = env_example()["OUTPOST_DATA_DIR"][0]
    assert data_dir == "/var/lib/outpost"
    writable = " ".join(service.get("ReadWritePaths", [])).split() + \
        [f"/var/lib/{d}" for d in " ".join(service.get("StateDirectory", [])).split()]
    assert data_dir in writable, f"{path.name}: {data_dir} is not writable under ProtectSystem=strict"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_restart_on_failure_and_stop_gracefully(name):
    unit = parse_unit(DEPLOY / name)
    assert one(unit, "Service", "Type") == "simple"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert seconds(one(unit, "Service", "RestartSec")) >= 1
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    assert "multi-user.target" in one(unit, "Install", "WantedBy")


def test_the_runner_gets_time_to_finish_posts_in_flight_before_systemd_kills_it():
    unit = parse_unit(DEPLOY / "outpost-runner.service")
    stop = seconds(one(unit, "Service", "TimeoutStopSec"))
    # Runner.shutdown joins the publish loop (up to 5 s), then waits shutdown_timeout_s for attempts in flight.
    assert stop > RunnerConfig().shutdown_timeout_s + 5, f"TimeoutStopSec={stop:.0f}s would SIGKILL mid-publish"
    assert one(unit, "Service", "ExecStart").split()[1:] == ["-m", "jobs.runner"]


def test_the_health_timer_runs_the_runner_health_check_every_minute():
    timer = parse_unit(DEPLOY / "outpost-runner-health.timer")
    assert seconds(one(timer, "Timer", "OnUnitActiveSec")) <= 60
    assert one(timer, "Install", "WantedBy") == "timers.target"
    service = parse_unit(DEPLOY / "outpost-runner-health.service")
    assert one(service, "Service", "Type") == "oneshot"
    assert "--health" in one(service, "Service", "ExecStart").split()
    # --health checks the heartbeat of the runner with the same name: both read it from the same place.
    runner = parse_unit(DEPLOY / "outpost-runner.service")
    assert one(service, "Service", "EnvironmentFile") == one(runner, "Service", "EnvironmentFile")
    assert "--name" not in one(runner, "Service", "ExecStart") + one(service, "Service", "ExecStart")


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "streamlit").exists(), reason="no .venv with streamlit")
def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    # Pointed at this checkout so the ExecStart binaries exist; every warning counts.
    for path in SERVICES + TIMERS:
        (tmp_path / path.name).write_text(path.read_text().replace(APP_DIR, str(ROOT)))
    units = sorted(str(p) for p in tmp_path.iterdir())
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                          timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if re.search(r"Unknown|Invalid|Failed to|not executable|bad-setting|Missing|ignoring", line)]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr


# ---------------------------------------------------------------- the env example
def test_the_env_example_names_only_variables_outpost_reads():
    read = variables_the_code_reads()
    named = env_example()
    unknown = sorted(set(named) - read)
    assert not unknown, f"deploy/outpost.env.example names variables nothing reads: {unknown}"
    must = {"DATABASE_URL", "OUTPOST_DATA_DIR", "OUTPOST_SECRET_KEYS", "OUTPOST_SANDBOX", "OUTPOST_PUBLIC_MEDIA_URL",
            "OUTPOST_DASHBOARD_URL", "OUTPOST_LOG_LEVEL", "OUTPOST_LOG_JSON", "OUTPOST_RUNNER_NAME",
            "OUTPOST_BURST_LIMIT", "OUTPOST_AUTO_MIGRATE", "OUTPOST_KEY_FILE", "OUTPOST_SMTP_URL", "GEMINI_API_KEY"}
    runner_vars = set(re.findall(r"os\.environ\.get\(\"([A-Z0-9_]+)\"", (ROOT / "jobs/runner.py").read_text()))
    missing = sorted((must | runner_vars) - set(named))
    assert not missing, f"deploy/outpost.env.example does not mention {missing}"


def test_the_env_example_values_are_valid_settings(monkeypatch):
    from core.infra.settings import Settings
    from jobs.runner import _parser, config_from_args
    named = env_example()
    for name, (value, _active) in named.items():
        # systemd's EnvironmentFile= treats double quotes as shell-like quoting: JSON must be single-quoted.
        if '"' in value:
            assert value.startswith("'") and value.endswith("'"), f"{name}: quote {value} with single quotes"
    everything = {k: v.strip("'") for k, (v, _) in named.items() if v}
    settings = Settings.from_env(everything)
    assert str(settings.data_dir) == "/var/lib/outpost" and settings.sandbox is False
    for k, v in everything.items():
        monkeypatch.setenv(k, v)
    config_from_args(_parser().parse_args([]))            # the runner's knobs, commented defaults included


# ---------------------------------------------------------------- install.sh
def _as_nobody() -> list[str]:
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot try install.sh as an ordinary user")
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture
def install_sh():
    """deploy/install.sh copied where an ordinary user can read it (the checkout may be under /root)."""
    import tempfile
    where = Path(tempfile.mkdtemp(prefix="outpost-install-"))
    try:
        where.chmod(0o755)
        copy = where / "install.sh"
        shutil.copy(DEPLOY / "install.sh", copy)
        copy.chmod(0o755)
        yield copy
    finally:
        shutil.rmtree(where, ignore_errors=True)


def test_install_sh_installs_every_unit_and_refuses_politely_without_root(install_sh):
    text = (DEPLOY / "install.sh").read_text()
    assert subprocess.run(["bash", "-n", str(DEPLOY / "install.sh")]).returncode == 0
    listed = set(re.search(r"UNITS=\(([^)]*)\)", text).group(1).split())
    assert listed == {p.name for p in SERVICES + TIMERS}, "install.sh and deploy/ disagree on the units"
    assert os.access(DEPLOY / "install.sh", os.X_OK)
    done = subprocess.run([*_as_nobody(), str(install_sh)], capture_output=True, text=True, timeout=30, cwd="/")
    assert done.returncode == 1
    assert "root" in done.stderr and "sudo" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not done.stdout


def test_sourcing_install_sh_runs_nothing(install_sh):
    done = subprocess.run([*_as_nobody(), "bash", "-c", f"source {install_sh}; declare -F install_outpost"],
                          capture_output=True, text=True, timeout=30, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "install_outpost" and not done.stderr


# ---------------------------------------------------------------- ./outpost start, end to end
def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> dict[int, str]:
    """Every descendant of pid: {pid: command line}."""
    out: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        ps = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(parent)], capture_output=True, text=True)
        for line in ps.stdout.splitlines():
            child, _, args = line.strip().partition(" ")
            out[int(child)] = args
            todo.append(int(child))
    return out


def _alive(pid: int, args: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z" and cmdline.split()[:3] == args.split()[:3]     # the same process, not a reused pid


def _left_behind(seen: dict[int, str], bound_s: float = 30.0) -> dict[int, str]:
    """The processes of `seen` still alive once they have had `bound_s` to finish exiting (none: at once)."""
    deadline = time.monotonic() + bound_s
    while True:
        left = {pid: args for pid, args in seen.items() if _alive(pid, args)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="no .venv: run ./outpost setup first")
@pytest.mark.skipif(not shutil.which("ps"), reason="needs ps")
def test_outpost_start_runs_dashboard_runner_and_emulator_and_stops_them_all_on_sigterm(tmp_path):
    port, emu_port, media_port = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in (
        "DATABASE_URL", "OUTPOST_SANDBOX", "OUTPOST_DASHBOARD_URL", "OUTPOST_PUBLIC_MEDIA_URL", "OUTPOST_SECRET_KEYS",
        "OUTPOST_KEY_FILE", "OUTPOST_ADDRESS", "OUTPOST_AUTO_MIGRATE")}
    env.update(OUTPOST_DATA_DIR=str(tmp_path), OUTPOST_PORT=str(port), OUTPOST_MEDIA_PORT=str(media_port),
               OUTPOST_SANDBOX_URL=f"http://127.0.0.1:{emu_port}", OUTPOST_RUNNER_NAME=f"deploy-test-{os.getpid()}")
    log = open(tmp_path / "outpost.out", "w")
    proc = subprocess.Popen([str(ROOT / "outpost"), "start"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    seen: dict[int, str] = {}

    def output() -> str:
        return (tmp_path / "outpost.out").read_text() + "".join(
            f"\n--- {name}\n" + (tmp_path / name).read_text()[-2000:]
            for name in ("runner.log", "sandbox.log") if (tmp_path / name).exists())

    try:
        deadline = time.monotonic() + 120                # a generous bound: a loaded machine starts slowly
        healthy = False
        while time.monotonic() < deadline and not healthy:
            assert proc.poll() is None, f"./outpost start exited early ({proc.returncode}):\n{output()}"
            seen.update(_children(proc.pid))
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1, trust_env=False).is_success
            except httpx.HTTPError:
                pass
            if not healthy:
                time.sleep(0.3)
        assert healthy, f"the dashboard did not answer within 120 s:\n{output()}"
        # The runner's heartbeat, checked the way a monitor does.
        for _ in range(40):
            check = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "jobs.runner", "--health", "--log-level",
                                    "WARNING"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
            if check.returncode == 0:
                break
            time.sleep(0.5)
        assert check.returncode == 0, f"runner --health: {check.stdout}{check.stderr}\n{output()}"
        assert httpx.get(f"http://127.0.0.1:{emu_port}/_control/health", timeout=2, trust_env=False).is_success
        seen.update(_children(proc.pid))
        commands = " | ".join(seen.values())
        for what in ("-m sandbox", "jobs.media_server", "jobs.runner", "streamlit run app.py"):
            assert what in commands, f"{what} is not running under ./outpost start: {commands}"

        proc.send_signal(signal.SIGTERM)
        try:
            # The script bounds its own stop (45 s for the runner and the dashboard, 10 s for the rest, then
            # SIGKILL); this bound only keeps a script that hangs from hanging the suite.
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"./outpost start did not stop within 120 s of SIGTERM:\n{output()}")
        assert code == 0, output()
        # Its children are gone (it waits for them); whatever they started has a moment to finish exiting.
        left = _left_behind(seen)
        assert not left, f"left behind after ./outpost start stopped: {left}"
        runner_log = (tmp_path / "runner.log").read_text()
        assert "received SIGTERM" in runner_log and " stopped: " in runner_log, runner_log[-2000:]
        # The emulator was stopped the way that keeps its state (connected accounts survive a restart).
        assert (tmp_path / "sandbox.state").exists(), output()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for pid, args in {**seen, **_children(proc.pid)}.items():
            if _alive(pid, args):
                os.kill(pid, signal.SIGKILL)
        log.close()
