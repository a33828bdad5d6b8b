"""systemd/mailautoconf.service, checked with systemd's own tools and by running its command line.

- ``systemd-analyze verify`` accepts the unit without a single warning;
- ``systemd-analyze security --offline=true`` rates its exposure 2.0 or lower;
- the ExecStart= command line, run the way systemd runs it (no working
  directory, its UMask=, Environment=, a notify socket), says READY=1 only
  once it is serving, re-renders on the ExecReload= command without failing a
  request, and says STOPPING=1 and exits 0 on SIGTERM;
- as root (``bash tests/run.sh`` in CI), the unit file as shipped, unchanged,
  runs under the installed systemd, booted as PID 1 of namespaces of its own
  (PID, mount, network, cgroup; /etc, /var and /opt as overlays): with every
  hardening line in force the service starts, serves nginx's group, follows
  edits, reloads, stops, and with a broken first config is not started until
  the config is fixed; its journal lines carry their priority.

The unit's install paths (/opt/mailautoconf, /etc/mailautoconf,
/var/lib/mailautoconf) are mapped onto this checkout and temporary folders;
nothing is installed on the machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT
from support.service import free_port

UNIT = ROOT / "systemd" / "mailautoconf.service"
INSTALL = "/opt/mailautoconf"  # where the unit expects this checkout
CONFIG_DIR = "/etc/mailautoconf"
STATE_DIR = "/var/lib/mailautoconf"
LISTEN = "127.0.0.1:8080"
SYSTEMD = "/lib/systemd/systemd"
EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")
BROKEN = "[service\n"
# What systemd gives a service: no LANG unless configured, this PATH (systemd.exec(5), "Environment").
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_EXPOSURE = 2.0

requires_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not found: apt-get install systemd (tests/run.sh installs it)",
)


# --- the unit file ------------------------------------------------------------------------------


def unit_settings(text: str) -> dict[str, list[str]]:
    """``Section.Key`` -> every value given, in order (systemd's syntax, enough of it for this unit)."""
    settings: dict[str, list[str]] = {}
    section = ""
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):  # continued on the next line
            logical += line[:-1] + " "
            continue
        line, logical = logical + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return settings


SETTINGS = unit_settings(UNIT.read_text(encoding="utf-8"))


def setting(key: str) -> str:
    values = SETTINGS.get(f"Service.{key}")
    assert values, f"{UNIT.name} has no {key}="
    return values[-1]


def test_unit_runs_the_service_as_documented() -> None:
    """The settings the tests below and docs/deploy.md rely on."""
    assert setting("Type") == "notify"
    assert setting("NotifyAccess") == "main"
    assert setting("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert setting("Restart") == "on-failure"
    assert setting("WatchdogSec") == "30s"
    command = shlex.split(setting("ExecStart"))
    assert command == [
        f"{INSTALL}/.venv/bin/python", f"{INSTALL}/service.py", "serve",
        "--config", f"{CONFIG_DIR}/autoconfig.toml",
        "--output", f"{STATE_DIR}/static_xml",
        "--listen", LISTEN,
    ]  # fmt: skip
    assert setting("StateDirectory") == "mailautoconf"
    assert setting("ConfigurationDirectory") == "mailautoconf"
    assert SETTINGS["Install.WantedBy"] == ["multi-user.target"]


# --- systemd-analyze ----------------------------------------------------------------------------


@requires_systemd_analyze
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    """verify loads the unit as systemd would; it also checks that ExecStart='s program exists.

    That program is the install's virtualenv, so the copy verified names this
    checkout's interpreter instead; every other line is the shipped file's.
    /bin/kill (ExecReload=) must exist as it is: it is procps', on every Debian.
    """
    text = UNIT.read_text(encoding="utf-8")
    python = f"{INSTALL}/.venv/bin/python"
    assert text.count(python) == 1
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(python, sys.executable), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    print(f"systemd-analyze verify: exit {result.returncode}, output:\n{output or '(none)'}")
    # verify exits 0 on most warnings ("Unknown key ..., ignoring"): any line about our unit fails.
    ours = [line for line in output.splitlines() if "mailautoconf" in line or str(tmp_path) in line]
    assert result.returncode == 0, output
    assert ours == [], output


@requires_systemd_analyze
def test_systemd_analyze_security_exposure_is_low() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    found = re.search(r"Overall exposure level for mailautoconf\.service: (\d+(?:\.\d+)?)", output)
    assert found, f"no overall exposure level in:\n{output}"
    exposure = float(found.group(1))
    exposed = "\n".join(line for line in output.splitlines() if line.startswith("✗"))
    print(f"systemd-analyze security: overall exposure {exposure} (at most {MAX_EXPOSURE}); still exposed:\n{exposed}")
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{output}"


# --- the ExecStart= command line under a notify socket -------------------------------------------


class NotifySocket:
    """The socket systemd gives a Type=notify service in $NOTIFY_SOCKET; records each message."""

    def __init__(self) -> None:
        # A short folder of its own: AF_UNIX paths are limited to 107 bytes.
        self.folder = tempfile.mkdtemp(prefix="mac-notify-")
        self.path = os.path.join(self.folder, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[tuple[float, dict[str, str]]] = []  # (monotonic time received, fields)

    def wait(self, key: str, value: str | None = None, timeout: float = 30.0) -> tuple[float, dict[str, str]]:
        """The first message (already received or arriving within ``timeout``) setting ``key``."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for received, fields in self.messages[seen:]:
                if key in fields and (value is None or fields[key] == value):
                    return received, fields
            seen = len(self.messages)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {key}={value or '...'} in {timeout}s; received {self.messages}")
            self.receive(remaining)

    def receive(self, timeout: float) -> None:
        """Record what arrives within ``timeout`` seconds (at most one message)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return
        fields = dict(line.split("=", 1) for line in data.decode("utf-8").splitlines() if "=" in line)
        self.messages.append((time.monotonic(), fields))

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class UnitProcess:
    """ExecStart= as systemd would run it, with the unit's paths mapped into ``root``."""

    def __init__(self, root: Path, config_text: str) -> None:
        self.config_dir = root / "etc"  # ConfigurationDirectory=
        self.state_dir = root / "state"  # StateDirectory= (systemd makes it; the service makes static_xml)
        self.config_dir.mkdir(parents=True)
        self.state_dir.mkdir(parents=True)
        self.config = self.config_dir / "autoconfig.toml"
        self.config.write_text(config_text, encoding="utf-8")
        self.output = self.state_dir / "static_xml"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "stderr.log"
        self.notify = NotifySocket()
        self.command = self._map(shlex.split(setting("ExecStart")))
        self.process: subprocess.Popen[bytes] | None = None

    def _map(self, command: list[str]) -> list[str]:
        mapped = []
        for word in command:
            if word == f"{INSTALL}/.venv/bin/python":
                word = sys.executable
            elif word.startswith(INSTALL + "/"):
                word = str(ROOT) + word[len(INSTALL) :]
            elif word.startswith(CONFIG_DIR + "/"):
                word = str(self.config_dir) + word[len(CONFIG_DIR) :]
            elif word.startswith(STATE_DIR + "/"):
                word = str(self.state_dir) + word[len(STATE_DIR) :]
            elif word == LISTEN:
                word = f"127.0.0.1:{self.port}"
            mapped.append(word)
        unmapped = [word for word in mapped if word.startswith(("/opt/", "/etc/", "/var/")) or word.endswith(":8080")]
        assert not unmapped, f"ExecStart= has paths this test does not map: {unmapped}"
        return mapped

    def environment(self) -> dict[str, str]:
        env = {
            "PATH": SYSTEMD_PATH,
            "NOTIFY_SOCKET": self.notify.path,
            "JOURNAL_STREAM": "8:4242",  # stderr goes to journald: logs.py adds priority prefixes
            "INVOCATION_ID": "0123456789abcdef0123456789abcdef",
            "STATE_DIRECTORY": str(self.state_dir),
            "CONFIGURATION_DIRECTORY": str(self.config_dir),
        }
        for assignments in SETTINGS.get("Service.Environment", []):
            env.update(assignment.split("=", 1) for assignment in shlex.split(assignments))
        return env

    def start(self) -> UnitProcess:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command,
            cwd="/",  # no WorkingDirectory=: systemd starts services in /
            env=self.environment(),
            umask=int(setting("UMask"), 8),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        return self

    def reload(self) -> None:
        """ExecReload=, with $MAINPID as systemd fills it in."""
        assert self.process is not None
        command = [str(self.process.pid) if word == "$MAINPID" else word for word in shlex.split(setting("ExecReload"))]
        subprocess.run(command, check=True, timeout=10)

    def stop(self) -> int:
        """KillSignal= is SIGTERM, systemd's default."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=int(setting("TimeoutStopSec").rstrip("s")))
        finally:
            self._log.close()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not self._log.closed:
            self._log.close()
        self.notify.close()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # never a proxy: traffic stays on loopback
    return http


class Poller(threading.Thread):
    """GETs ``path`` over and over; records (monotonic start time, status or the error)."""

    def __init__(self, base: str, path: str, host: str | None = None) -> None:
        super().__init__(daemon=True)
        self.url = base + path
        self.headers = {"Host": host} if host else {}
        self.results: list[tuple[float, int | str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        http = session()
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                outcome: int | str = http.get(self.url, headers=self.headers, timeout=5).status_code
            except requests.RequestException as exc:
                outcome = repr(exc)
            self.results.append((started, outcome))
            time.sleep(0.005)

    def stop(self) -> list[tuple[float, int | str]]:
        self.stopping.set()
        self.join(timeout=10)
        return self.results


@pytest.fixture
def unit_process(tmp_path: Path) -> Iterator:
    started: list[UnitProcess] = []

    def make(config_text: str = EXAMPLE) -> UnitProcess:
        started.append(UnitProcess(tmp_path / f"u{len(started)}", config_text).start())
        return started[-1]

    yield make
    for instance in started:
        instance.close()


def healthz(base: str) -> requests.Response:
    return session().get(base + "/healthz", timeout=5)


def test_ready_only_when_serving_reload_keeps_answering_sigterm_stops(unit_process) -> None:  # type: ignore[no-untyped-def]
    unit = unit_process()
    _, ready = unit.notify.wait("READY", "1")
    # The moment systemd would call the unit started, clients get answers.
    answer = healthz(unit.base)
    assert answer.status_code == 200, unit.log()
    generation = answer.json()["generation"]
    assert ready.get("STATUS") == f"serving {generation}"

    # Group-readable for nginx, nothing for other local users (UMask=0027).
    tree = unit.output / "versions"
    modes = {path: path.stat().st_mode & 0o777 for path in [unit.output / "domains", tree, *tree.rglob("*")]}
    assert {mode for path, mode in modes.items() if path.is_dir()} == {0o750}
    assert {mode for path, mode in modes.items() if path.is_file()} == {0o640}

    # ExecReload= during steady traffic: a new generation, and not one request lost.
    pollers = [
        Poller(unit.base, "/mail/config-v1.1.xml", host="autoconfig.example.org"),
        Poller(unit.base, "/mail/config-v1.1.xml?emailaddress=fred%40example.com", host="example.com"),
        Poller(unit.base, "/healthz"),
    ]
    for poller in pollers:
        poller.start()
    time.sleep(0.3)
    # SIGHUP compares every domain with the disk: a folder removed by hand is written again.
    (unit.output / "domains" / "example.net").unlink()
    unit.reload()
    _, reloaded = unit.notify.wait("STATUS", f"serving gen-{int(generation[4:]) + 1:06d}", timeout=10)
    deadline = time.monotonic() + 10
    while healthz(unit.base).json()["generation"] == generation:
        assert time.monotonic() < deadline, f"SIGHUP did not publish a new generation:\n{unit.log()}"
        time.sleep(0.05)
    time.sleep(0.3)
    results = [outcome for poller in pollers for _, outcome in poller.stop()]
    failures = [outcome for outcome in results if outcome != 200]
    assert len(results) > 30
    assert failures == [], unit.log()
    assert reloaded["READY"] == "1"  # systemd keeps the unit "active"; STATUS= names the new generation

    assert unit.stop() == 0, unit.log()
    unit.notify.wait("STOPPING", "1", timeout=1)
    log = unit.log()
    assert "SIGHUP received" in log and "Traceback" not in log
    # Under journald every line carries its syslog priority.
    lines = [line for line in log.splitlines() if line]
    assert all(re.match(r"<[0-7]>\S", line) for line in lines), log
    assert any(line.startswith("<6>mailautoconf.reload: published gen-000001") for line in lines), log


def test_broken_config_and_nothing_rendered_is_not_ready_until_fixed(unit_process) -> None:  # type: ignore[no-untyped-def]
    unit = unit_process(BROKEN)
    poller = Poller(unit.base, "/healthz")
    poller.start()
    # Serving 503 to /healthz, and not ready: systemd would keep the start job waiting.
    deadline = time.monotonic() + 30
    while sum(outcome == 503 for _, outcome in poller.results) < 5:
        assert time.monotonic() < deadline, f"no 503 from /healthz:\n{unit.log()}"
        assert unit.process is not None and unit.process.poll() is None, unit.log()
        time.sleep(0.05)
    unit.notify.receive(1.0)
    assert unit.notify.messages == [], "notified before a generation was served"
    assert not unit.output.joinpath("current").exists()

    temporary = unit.config.with_name("autoconfig.toml.new")  # as editors and deploy tools write
    temporary.write_text(EXAMPLE, encoding="utf-8")
    os.replace(temporary, unit.config)
    ready_at, ready = unit.notify.wait("READY", "1", timeout=10)
    answer = healthz(unit.base)
    assert answer.status_code == 200, unit.log()
    assert ready["STATUS"] == f"serving {answer.json()['generation']}"
    time.sleep(0.2)
    results = poller.stop()
    # Every request sent after READY=1 was answered 200; every 503 came before it. Before the
    # first answer the port may not be listening yet (connection refused): systemd is still waiting.
    first_answer = next(index for index, (_, outcome) in enumerate(results) if outcome == 503)
    assert [outcome for started, outcome in results if started > ready_at and outcome != 200] == []
    assert {outcome for _, outcome in results[first_answer:]} == {200, 503}, results
    assert unit.stop() == 0, unit.log()
    unit.notify.wait("STOPPING", "1", timeout=1)


# --- the unit under a real systemd ---------------------------------------------------------------

# PID 1 of new PID, mount, network, cgroup, UTS and IPC namespaces, before it becomes systemd:
# a machine of its own whose /etc, /var and /opt are overlays (the user, the config and the
# rendered tree land in $WORK, never on the host), with its own cgroup tree and /run, /tmp.
INNER = r"""
set -euo pipefail
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for d in etc var opt; do
    mkdir -p "$WORK/upper/$d" "$WORK/work/$d"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$WORK/upper/$d,workdir=$WORK/work/$d" "/$d"
done
# The checkout as an overlay too: a clone in a private folder (mktemp -d makes it 0700) is opened to
# the service's user here, at /opt/mailautoconf, without touching the checkout's own mode.
mkdir -p /opt/mailautoconf "$WORK/upper/repo" "$WORK/work/repo"
mount -t overlay overlay -o "lowerdir=$REPO,upperdir=$WORK/upper/repo,workdir=$WORK/work/repo" /opt/mailautoconf
chmod 0755 /opt/mailautoconf
if [ -n "$VENV" ]; then
    mount --bind "$VENV" /opt/mailautoconf/.venv
    mkdir -p /opt/mailautoconf-site-packages
    mount --bind "$SITE" /opt/mailautoconf-site-packages
fi
if [ -e /dev/console ]; then  # PID 1 logs to the console: to a file, not the host's
    touch "$WORK/console"
    mount --bind "$WORK/console" /dev/console
fi
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/mailautoconf-test
cp -r "$WORK/units" "$WORK/good.toml" /run/mailautoconf-test/
mount -t tmpfs -o mode=1777 tmpfs /tmp
useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mailautoconf
install -d -m 0755 /etc/mailautoconf
cp /run/mailautoconf-test/good.toml /etc/mailautoconf/autoconfig.toml
exec env -i container=mailautoconf-test SYSTEMD_UNIT_PATH=/run/mailautoconf-test/units \
    "$SYSTEMD" --system --unit=mailautoconf-test.target --log-target=console
"""
# HTTP from inside the namespace's network: the status (0: no connection), then the body.
CLIENT = (
    "import sys, urllib.request, urllib.error\n"
    "try:\n"
    "    answer = urllib.request.urlopen(sys.argv[1], timeout=5)\n"
    "except urllib.error.HTTPError as error:\n"
    "    answer = error\n"
    "except urllib.error.URLError as error:\n"
    "    sys.exit(print(0, error, sep='\\n'))\n"
    "print(answer.status)\n"
    "print(answer.read().decode())\n"
)
JOURNALD_UNITS = ("systemd-journald.service", "systemd-journald.socket")  # not dev-log: it links /dev/log


def _cgroup2() -> Path | None:
    """This process's cgroup in the cgroup2 hierarchy, as a folder; None without one."""
    mount = None
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                mount = fields[4]
    own = next(line[3:].strip() for line in Path("/proc/self/cgroup").read_text().splitlines() if line[:3] == "0::")
    return Path(mount, own.lstrip("/")) if mount else None


def _service_python() -> tuple[str, str] | None:
    """(venv to mount at /opt/mailautoconf/.venv or "", its site-packages) for a venv the service can run.

    ProtectHome=yes hides /root and /home: a virtualenv whose interpreter lives
    there (pyenv) cannot start under the unit. Then a virtualenv of Debian's
    python3.11 that finds this checkout's packages stands in, which is what a
    Debian host has anyway. None: no usable interpreter.
    """
    real = os.path.realpath(sys.executable)
    if not real.startswith(("/root/", "/home/", "/run/user/")):
        return "", ""
    debian = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    return (debian, sysconfig.get_path("purelib")) if os.access(debian, os.X_OK) else None


def _systemd_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root: runs systemd in namespaces of its own (bash tests/run.sh runs as root)"
    for program in (SYSTEMD, "unshare", "nsenter", "setpriv", "useradd"):
        if shutil.which(program) is None:
            return f"{program} not found (apt-get install systemd util-linux passwd)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "no overlay file system in this kernel"
    cgroup = _cgroup2()
    if cgroup is None or not os.access(cgroup, os.W_OK):
        return "no writable cgroup2 hierarchy"
    if _service_python() is None:
        return f"{sys.executable} is under /root or /home (ProtectHome=) and there is no Debian python"
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount", "--net", "--cgroup", "--uts", "--ipc", "true"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot create namespaces here: {probe.stderr.strip()}"
    return None


class Machine:
    """The installed systemd as PID 1 of its own namespaces, with the shipped unit in its unit path."""

    def __init__(self, work: Path, unit_text: str | None = None) -> None:
        self.work = work
        self.unit_text = unit_text  # None: the unit as shipped
        self.cgroup = _cgroup2() / f"mailautoconf-test-{os.getpid()}"  # type: ignore[operator]
        self.pid = 0  # systemd, as the host sees it
        self.process: subprocess.Popen[bytes] | None = None

    def boot(self) -> None:
        units = self.work / "units"
        units.mkdir()
        if self.unit_text is None:
            shutil.copy(UNIT, units / UNIT.name)  # as shipped
        else:
            (units / UNIT.name).write_text(self.unit_text, encoding="utf-8")
        for name in JOURNALD_UNITS:
            shutil.copy(Path("/lib/systemd/system") / name, units / name)
        for target in ("sysinit", "basic", "sockets", "network", "multi-user", "shutdown"):
            (units / f"{target}.target").write_text(f"[Unit]\nDescription={target} (empty: test machine)\n")
        (units / "mailautoconf-test.target").write_text(
            "[Unit]\nDescription=test machine\nWants=systemd-journald.socket\n"
        )
        (self.work / "good.toml").write_text(EXAMPLE, encoding="utf-8")
        venv, site = _service_python()  # type: ignore[misc]
        if venv:
            subprocess.run([venv, "-m", "venv", "--without-pip", str(self.work / "venv")], check=True, timeout=120)
            purelib = self.work / "venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
            (purelib / "site-packages" / "mailautoconf-test.pth").write_text("/opt/mailautoconf-site-packages\n")
        self.cgroup.mkdir()
        env = {
            "PATH": SYSTEMD_PATH,
            "WORK": str(self.work),
            "REPO": str(ROOT),
            "VENV": str(self.work / "venv") if venv else "",
            "SITE": site,
            "SYSTEMD": SYSTEMD,
        }
        namespaces = ["unshare", "--pid", "--fork", "--mount-proc", "--mount", "--propagation", "private"]
        namespaces += ["--net", "--cgroup", "--uts", "--ipc", "bash", "-c", INNER]
        # Into a cgroup of its own first: the cgroup namespace is rooted there.
        command = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.cgroup), *namespaces]
        with open(self.work / "boot.log", "wb") as log:
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            self.pid = self.pid or self._child(self.process.pid)
            if self.pid:
                state = self.inside("systemctl", "is-system-running", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return
            time.sleep(0.2)
        pytest.skip(f"could not boot systemd in namespaces here:\n{self.diagnostics()}")

    @staticmethod
    def _child(parent: int) -> int:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                        return int(entry)
        return 0

    def inside(self, *command: str, check: bool = True, net_only: bool = False) -> subprocess.CompletedProcess[str]:
        spaces = ["-n"] if net_only else ["-m", "-p", "-n", "-u", "-i"]
        result = subprocess.run(
            ["nsenter", "-t", str(self.pid), *spaces, "--", *command],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}\n{self.diagnostics()}"
        return result

    def show(self, *properties: str) -> dict[str, str]:
        output = self.inside("systemctl", "show", "mailautoconf", *(f"--property={name}" for name in properties)).stdout
        return dict(line.split("=", 1) for line in output.splitlines())

    def get(self, path: str) -> tuple[int, str]:
        result = self.inside(sys.executable, "-c", CLIENT, f"http://{LISTEN}{path}", net_only=True)
        status, _, body = result.stdout.partition("\n")
        return int(status), body

    def wait_for(self, predicate, what: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            assert time.monotonic() < deadline, f"timed out waiting for {what}\n{self.diagnostics()}"
            time.sleep(0.1)
        return value

    def journal(self, *options: str) -> str:
        return self.inside("journalctl", "--no-pager", "-u", "mailautoconf", *options, check=False).stdout

    def diagnostics(self) -> str:
        parts = []
        for name in ("boot.log", "console"):
            with contextlib.suppress(OSError):
                parts.append(f"--- {name}:\n{(self.work / name).read_text(errors='replace')[-6000:]}")
        if self.pid and self.process is not None and self.process.poll() is None:
            status = subprocess.run(
                ["nsenter", "-t", str(self.pid), "-m", "-p", "--", "systemctl", "status", "--no-pager", "-l",
                 "mailautoconf"], capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            parts.append(f"--- systemctl status:\n{status.stdout}{status.stderr}")
            parts.append(f"--- journal:\n{self.journal('-o', 'cat')[-6000:]}")
        return "\n".join(parts)

    def shutdown(self) -> None:
        if self.process is not None and self.process.poll() is None:
            if self.pid:
                os.kill(self.pid, signal.SIGKILL)  # PID 1 of the namespace: every process in it goes too
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        deadline = time.monotonic() + 10
        while self.cgroup.exists():  # systemd's cgroups below ours, deepest first
            for folder in sorted((p for p in self.cgroup.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            with contextlib.suppress(OSError):
                self.cgroup.rmdir()
            if time.monotonic() > deadline:
                raise AssertionError(f"cannot remove {self.cgroup}")
            time.sleep(0.1)


@pytest.fixture
def machine(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Machine]:
    """The machine; ``@pytest.mark.parametrize("machine", [text], indirect=True)`` boots another unit text."""
    reason = _systemd_unavailable()
    if reason:
        pytest.skip(reason)
    instance = Machine(tmp_path, getattr(request, "param", None))
    try:
        instance.boot()
        yield instance
    finally:
        instance.shutdown()


def test_unit_under_real_systemd(machine: Machine) -> None:
    """The shipped unit, every hardening line in force: start, serve, watch, reload, stop, broken start."""
    m = machine
    m.inside("systemctl", "start", "mailautoconf")  # returns once READY=1 came
    status, body = m.get("/healthz")
    assert status == 200, body
    assert '"generation": "gen-000001"' in body
    shown = m.show("ActiveState", "StatusText", "MainPID", "User")
    assert shown["ActiveState"] == "active" and shown["StatusText"] == "serving gen-000001", shown

    # The sandbox is in force: seccomp, no capabilities, no new privileges, a user namespace.
    process = m.inside("cat", f"/proc/{shown['MainPID']}/status").stdout
    assert re.search(r"^Seccomp:\s+2$", process, re.M), process
    assert re.search(r"^NoNewPrivs:\s+1$", process, re.M), process
    assert re.search(r"^CapEff:\s+0+$", process, re.M), process
    uid_map = m.inside("cat", f"/proc/{shown['MainPID']}/uid_map").stdout.splitlines()
    assert len(uid_map) == 2, uid_map  # PrivateUsers=: only root and mailautoconf exist

    # nginx, a member of group mailautoconf, reads the tree; other users do not.
    document = f"{STATE_DIR}/static_xml/current/example.org/mail/config-v1.1.xml"
    gid = m.inside("getent", "group", "mailautoconf").stdout.split(":")[2]
    as_member = ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={gid}", "cat", document]
    assert "<clientConfig" in m.inside(*as_member).stdout
    as_other = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", document]
    refused = m.inside(*as_other, check=False)
    assert refused.returncode == 1 and f"cat: {document}: Permission denied" in refused.stderr, refused

    # An edit under ProtectSystem=strict is still seen (inotify), and served.
    m.inside("sed", "-i", "s/Your Own Mail Provider/Edited Under Systemd/", f"{CONFIG_DIR}/autoconfig.toml")
    m.wait_for(lambda: '"gen-000002"' in m.get("/healthz")[1], "the edit to be published")
    assert "Edited Under Systemd" in m.get("/mail/config-v1.1.xml?emailaddress=fred%40example.org")[1]

    m.inside("rm", f"{STATE_DIR}/static_xml/domains/example.net")  # written again by the reload
    m.inside("systemctl", "reload", "mailautoconf")
    m.wait_for(lambda: '"gen-000003"' in m.get("/healthz")[1], "the reload to be published")

    m.inside("systemctl", "stop", "mailautoconf")
    assert m.show("Result", "ExecMainStatus") == {"Result": "success", "ExecMainStatus": "0"}

    # Broken config, nothing rendered: answering 503 but not started until the config is fixed.
    m.inside("rm", "-rf", f"{STATE_DIR}/static_xml")
    m.inside("sh", "-c", f"printf '[service\\n' > {CONFIG_DIR}/autoconfig.toml")
    m.inside("systemctl", "start", "--no-block", "mailautoconf")
    m.wait_for(lambda: m.get("/healthz")[0] == 503, "the service to answer 503")
    time.sleep(1)
    assert m.show("ActiveState", "SubState") == {"ActiveState": "activating", "SubState": "start"}
    m.inside("cp", "/run/mailautoconf-test/good.toml", f"{CONFIG_DIR}/autoconfig.toml")
    m.wait_for(lambda: m.show("ActiveState")["ActiveState"] == "active", "the fixed config to start the unit")
    assert m.get("/healthz")[0] == 200
    m.inside("systemctl", "stop", "mailautoconf")

    # journald: tagged mailautoconf (SyslogIdentifier=), with the priority of each line.
    journal = m.journal("-o", "short")
    assert re.search(r" mailautoconf\[\d+\]: mailautoconf\.reload: published gen-000001", journal), journal
    errors = m.journal("-p", "err", "-o", "cat")
    assert "TOML syntax error" in errors and "published" not in errors, errors
    assert "Traceback" not in journal, journal


# The shipped unit with a short watchdog (and abort timeout), so a hang is noticed in seconds.
FAST_WATCHDOG = (
    UNIT.read_text(encoding="utf-8")
    .replace("WatchdogSec=30s", "WatchdogSec=3s\nTimeoutAbortSec=2s")
    .replace("RestartSec=5s", "RestartSec=1s")
)


@pytest.mark.parametrize("machine", [FAST_WATCHDOG], indirect=True)
def test_hung_process_is_killed_and_restarted_by_the_watchdog(machine: Machine) -> None:
    """WATCHDOG=1 only while /healthz answers: a stopped process is killed and started again."""
    m = machine
    assert "WatchdogSec=3s" in FAST_WATCHDOG and "RestartSec=1s" in FAST_WATCHDOG
    m.inside("systemctl", "start", "mailautoconf")
    shown = m.show("ActiveState", "MainPID", "WatchdogUSec", "WatchdogTimestampMonotonic", "NRestarts")
    assert shown["ActiveState"] == "active" and shown["WatchdogUSec"] == "3s", shown
    first_pid = shown["MainPID"]
    # Pings keep coming while it answers: past two watchdog periods it is still the same process.
    first_ping = shown["WatchdogTimestampMonotonic"]
    time.sleep(7)
    later = m.show("ActiveState", "MainPID", "WatchdogTimestampMonotonic", "NRestarts")
    assert later["MainPID"] == first_pid and later["NRestarts"] == "0", later
    assert later["WatchdogTimestampMonotonic"] != first_ping, later
    assert m.get("/healthz")[0] == 200

    # Hung: no thread runs, no ping comes. systemd aborts it, Restart=on-failure starts another.
    m.inside("kill", "-STOP", first_pid)
    m.wait_for(
        lambda: (
            m.show("MainPID", "ActiveState")["MainPID"] not in (first_pid, "0")
            and m.show("ActiveState")["ActiveState"] == "active"
        ),
        "the watchdog to restart the service",
        timeout=40,
    )
    assert m.show("NRestarts")["NRestarts"] == "1"
    assert m.wait_for(lambda: m.get("/healthz")[0] == 200, "the new process to answer")
    journal = m.journal("-o", "cat")
    assert journal.count("watchdog: checking /healthz every 1.0s") == 2, journal  # both processes
    assert "Traceback" not in journal, journal
    m.inside("systemctl", "stop", "mailautoconf")
    assert m.show("Result")["Result"] == "success"
