"""Run the real Thunderbird's account-setup code and return what it found, as plain data.

Thunderbird (the Debian package, run headless) is started once with a
throw-away profile and driven over Marionette in chrome context. The
helpers call Thunderbird's own modules from ``omni.ja``, the same functions
its account hub calls when a user types an address
(``resource:///modules/accountcreation/``):

- ``FetchConfig.fromISP``: the four autoconfig URLs, https before http;
- ``FetchConfig.forMX``: the MX lookup, https ``autoconfig.<MX domain>``;
- ``fetchConfigFromExchange`` (ExchangeAutoDiscover): Autodiscover POX on
  ``autodiscover.<d>``, ``<d>``, the http redirect and the SRV record;
- ``FindConfig.parallelAutoDiscovery``: all of it, as the account hub runs
  it (disk, ISP, ISPDB, MX, and Exchange beside them);

and then, like the hub's ``#fillAccountConfig``,
``AccountConfig.replaceVariables`` fills ``%EMAILADDRESS%`` and friends. The
result is reduced to plain dicts (:func:`Thunderbird.from_isp` and
friends), with Thunderbird's socket type and authentication numbers turned
into their ``nsMsgSocketType`` / ``nsMsgAuthMethod`` names.

Signatures are those of Thunderbird 153 ESR (read from its omni.ja); a
newer Thunderbird that renames them makes these helpers fail loudly, not
pass silently.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # mozinfo (a marionette_driver dependency) calls the deprecated
    # distro.linux_distribution() at import; pytest turns warnings into errors.
    warnings.simplefilter("ignore", DeprecationWarning)
    from marionette_driver.marionette import Marionette

__all__ = ["Outcome", "Thunderbird", "Verification", "thunderbird_version"]

BINARY = "thunderbird"
START_TIMEOUT = 60.0  # seconds until Marionette answers; a cold start here takes about 4
STOP_TIMEOUT = 20.0
CALL_TIMEOUT = 30.0  # per account-setup call; Thunderbird's own HTTP timeout is 5 s per request
CA_NICKNAME = "mailautoconf test CA"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(home: Path) -> dict[str, str]:
    """What Thunderbird needs to run headless as root without touching the real home.

    Firefox-based programs refuse a HOME owned by another user, and GLib
    would start a D-Bus session bus of its own if it found none: both are
    pointed into the run's temp folder.
    """
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env.update(
        HOME=str(home),
        TMPDIR=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_RUNTIME_DIR=str(home),
        MOZ_HEADLESS="1",
        MOZ_CRASHREPORTER_DISABLE="1",
        MOZ_DISABLE_AUTO_SAFE_MODE="1",  # a killed previous run must not lead to a safe-mode prompt
        DBUS_SESSION_BUS_ADDRESS=f"unix:path={home}/no-session-bus",
    )
    return env


def thunderbird_version(binary: str = BINARY) -> str:
    """``thunderbird --version``, e.g. "Mozilla Thunderbird 153.8.0esr"."""
    home = Path(os.environ.get("TMPDIR", "/tmp"))
    answer = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=STOP_TIMEOUT, env=_environment(home)
    )
    return answer.stdout.strip() or answer.stderr.strip()


def _pref_value(value: bool | int | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def profile_prefs(marionette_port: int, local_domains: Iterable[str], closed_port: int) -> dict[str, bool | int | str]:
    """user.js of the test profile: test names on loopback, every background service off.

    ``network.dns.localDomains`` resolves the listed names to loopback inside
    Thunderbird; everything else goes to the system resolver (the test DNS
    server). ISPDB and add-on lookups go to a closed loopback port so they
    fail at once, as an ISPDB without the domain would.
    """
    nowhere = f"http://127.0.0.1:{closed_port}"
    return {
        "marionette.port": marionette_port,
        "network.dns.localDomains": ",".join(sorted(set(local_domains))),
        "mailnews.auto_config_url": f"{nowhere}/ispdb/",
        "mailnews.auto_config.addons_url": f"{nowhere}/addons.json",
        # Thunderbird's own defaults for account setup, written out so a changed default shows here.
        "mailnews.auto_config.fetchFromISP.enabled": True,
        "mailnews.auto_config.fetchFromISP.sslOnly": False,
        "mailnews.auto_config.fetchFromISP.sendEmailAddress": True,
        "mailnews.auto_config.fetchFromExchange.enabled": True,
        # Account-setup debug lines go to Thunderbird's stdout (thunderbird.log).
        "mail.setup.loglevel": "All",
        "devtools.console.stdout.chrome": True,
        # Every answer comes from the server: no HTTP cache, no DNS-over-HTTPS, no proxy.
        "browser.cache.disk.enable": False,
        "browser.cache.memory.enable": False,
        "network.trr.mode": 5,
        "network.proxy.type": 0,
        "dom.security.https_first": False,
        "dom.security.https_only_mode": False,
        "network.dns.disablePrefetch": True,
        "network.predictor.enabled": False,
        "network.http.speculative-parallel-limit": 0,
        "network.captive-portal-service.enabled": False,
        "network.connectivity-service.enabled": False,
        # No OCSP, CRLite or intermediate-preloading lookups for the test certificates.
        "security.OCSP.enabled": 0,
        "security.remote_settings.crlite_filters.enabled": False,
        "security.remote_settings.intermediates.enabled": False,
        "security.certerrors.mitm.priming.enabled": False,
        # Updates, telemetry, remote settings, add-on and safe-browsing traffic off.
        "app.update.disabledForTesting": True,
        "app.update.auto": False,
        "app.update.checkInstallTime": False,
        "toolkit.telemetry.enabled": False,
        "toolkit.telemetry.unified": False,
        "toolkit.telemetry.archive.enabled": False,
        "toolkit.telemetry.server": "",
        "datareporting.policy.dataSubmissionEnabled": False,
        "datareporting.healthreport.uploadEnabled": False,
        "services.settings.server": f"{nowhere}/v1",
        "app.normandy.enabled": False,
        "messaging-system.rsexperimentloader.enabled": False,
        "extensions.update.enabled": False,
        "extensions.getAddons.cache.enabled": False,
        "extensions.blocklist.enabled": False,
        "extensions.systemAddon.update.enabled": False,
        "browser.safebrowsing.malware.enabled": False,
        "browser.safebrowsing.phishing.enabled": False,
        "browser.safebrowsing.downloads.enabled": False,
        "browser.safebrowsing.provider.mozilla.updateURL": "",
        "geo.enabled": False,
        # No first-run pages or default-client questions.
        "mail.shell.checkDefaultClient": False,
        "mailnews.start_page.enabled": False,
        "mail.provider.enabled": False,
        "mail.inappnotifications.enabled": False,
        "mail.rights.override": True,
    }


@dataclass(frozen=True)
class Outcome:
    """What one account-setup call ended with.

    ``account`` is None when Thunderbird found nothing; ``error`` says why it
    gave up (``name``, ``message``, ``code``: the HTTP status or -2 for a
    connection error, ``errors``: every attempt's error for an AggregateError).
    ``confirmations`` are the sites Thunderbird would have asked the user
    about before sending the password there (Autodiscover via an http
    redirect or SRV record to another base domain); the harness answers yes.
    """

    account: dict[str, Any] | None
    error: dict[str, Any] | None = None
    confirmations: list[dict[str, str]] = field(default_factory=list)

    @property
    def sub_source(self) -> str | None:
        """Thunderbird's name of the winning route, e.g. ``xml-from-isp-https``, ``exchange-from-url3``."""
        return None if self.account is None else self.account.get("subSource")

    def servers(self) -> dict[str, Any]:
        """The account's servers only: what a test compares with the TOML."""
        assert self.account is not None, f"Thunderbird found no account: {self.error}"
        keys = ("incoming", "incomingAlternatives", "outgoing", "outgoingAlternatives")
        return {key: self.account[key] for key in keys}


@dataclass(frozen=True)
class Verification:
    """What the account hub's login check (``ConfigVerifier.verifyConfig``) ended with.

    ``found`` is the config Thunderbird found (as :class:`Outcome` gives
    it); ``verified`` says whether Thunderbird logged in to its incoming
    server; ``error`` is Thunderbird's error when not (``message`` is what
    the hub shows: the server's own text, or Thunderbird's
    "cannot-login-error" for a plain wrong login). ``incoming`` and
    ``outgoing`` are the servers after the check: with ``alter`` (configs
    not read from an XML document) Thunderbird may have changed the
    username or method until one worked. ``certificate_errors`` are the
    certificate-exception dialogs the hub would have opened (answered no).
    Thunderbird does not check the outgoing server at all.
    """

    found: dict[str, Any] | None
    verified: bool = False
    alter: bool = False
    error: dict[str, Any] | None = None
    incoming: dict[str, Any] | None = None
    outgoing: dict[str, Any] | None = None
    certificate_errors: list[dict[str, str | None]] = field(default_factory=list)
    discovery_error: dict[str, Any] | None = None


# The chrome-context script every call runs. arguments[0] holds the call's
# arguments; the last argument is Marionette's callback for the result.
_SCRIPT = r"""
const [args, resolve] = [arguments[0], arguments[arguments.length - 1]];
const { AccountConfig } = ChromeUtils.importESModule("resource:///modules/accountcreation/AccountConfig.sys.mjs");
const { FetchConfig } = ChromeUtils.importESModule("resource:///modules/accountcreation/FetchConfig.sys.mjs");
const { FindConfig } = ChromeUtils.importESModule("resource:///modules/accountcreation/FindConfig.sys.mjs");
const { ConfigVerifier } = ChromeUtils.importESModule("resource:///modules/accountcreation/ConfigVerifier.sys.mjs");
const { fetchConfigFromExchange } = ChromeUtils.importESModule(
  "resource:///modules/accountcreation/ExchangeAutoDiscover.sys.mjs"
);
const { setTimeout, clearTimeout } = ChromeUtils.importESModule("resource://gre/modules/Timer.sys.mjs");

function constantNames(iface, names) {
  const byValue = {};
  for (const name of names) {
    if (name in iface) {
      byValue[iface[name]] = name;
    }
  }
  return byValue;
}
const SOCKET_TYPES = constantNames(Ci.nsMsgSocketType, ["plain", "trySTARTTLS", "alwaysSTARTTLS", "SSL"]);
const AUTH_METHODS = constantNames(Ci.nsMsgAuthMethod, [
  "none", "old", "passwordCleartext", "passwordEncrypted", "GSSAPI", "NTLM", "External", "secure", "anything", "OAuth2",
]);

function server(s) {
  return {
    type: s.type,
    hostname: s.hostname,
    port: s.port,
    socketType: SOCKET_TYPES[s.socketType] ?? String(s.socketType),
    auth: AUTH_METHODS[s.auth] ?? String(s.auth),
    username: s.username,
  };
}

// What the account hub does with a found config before showing it (#fillAccountConfig).
function filled(config) {
  AccountConfig.replaceVariables(config, args.realname, args.address, args.password);
  return described(config);
}

function described(config) {
  return {
    source: config.source,
    subSource: config.subSource,
    displayName: config.displayName,
    domains: config.domains,
    incoming: server(config.incoming),
    incomingAlternatives: config.incomingAlternatives.map(server),
    outgoing: server(config.outgoing),
    outgoingAlternatives: config.outgoingAlternatives.map(server),
  };
}

function failure(error) {
  return {
    name: error?.name ?? typeof error,
    message: String(error?.message ?? error),
    code: error?.code ?? null,
    url: error?.url ?? null,
    errors: Array.isArray(error?.errors) ? error.errors.map(failure) : [],
  };
}

// The account hub's discovery (#findConfig): the generator yields {isRedirect} when the
// user must confirm sending credentials to another site; the hub then calls
// next({acceptRedirect}). Here the answer is always yes.
async function discovered() {
  const discovery = FindConfig.parallelAutoDiscovery(
    args.domain, args.address, controller.signal, args.password, undefined
  );
  let step = await discovery.next();
  while (!step.done && step.value?.isRedirect) {
    confirmations.push({ host: step.value.host, scheme: step.value.scheme });
    step = await discovery.next({ acceptRedirect: true });
  }
  const config = step.value;
  if (config) {
    FindConfig.ewsifyConfig(config);
  }
  return config ?? null;
}

const verifierLocalization = new Localization(["messenger/accountcreation/accountCreation.ftl"], true);

const controller = new AbortController();
const timer = setTimeout(
  () => controller.abort(new Error(`harness: no result within ${args.timeoutMs} ms`)),
  args.timeoutMs
);
const confirmations = [];

// fromISP and forMX read this pref per call: off, they leave out emailaddress.
async function withAddressPref(work) {
  const pref = "mailnews.auto_config.fetchFromISP.sendEmailAddress";
  const saved = Services.prefs.getBoolPref(pref);
  Services.prefs.setBoolPref(pref, args.sendAddress);
  try {
    return await work();
  } finally {
    Services.prefs.setBoolPref(pref, saved);
  }
}

const operations = {
  async fromISP() {
    return withAddressPref(async () =>
      filled(await FetchConfig.fromISP(args.domain, args.address, controller.signal))
    );
  },

  // The MX step alone: MX record, then https autoconfig.<MX full domain> (if
  // longer) and autoconfig.<MX base domain>, and the ISPDB for both.
  async forMX() {
    return withAddressPref(async () =>
      filled(await FetchConfig.forMX(args.domain, args.address, controller.signal))
    );
  },

  async exchange() {
    const config = await fetchConfigFromExchange(
      args.domain, args.address, controller.signal, null, args.password,
      async (host, scheme) => {
        confirmations.push({ host, scheme });
      }
    );
    return filled(config);
  },

  // The account hub's #findConfig (see discovered()).
  async find() {
    const config = await discovered();
    return config ? filled(config) : null;
  },

  // The account hub's next step (#validateAndFinish): ConfigVerifier.verifyConfig logs in
  // to the incoming server with the found config, trying other usernames and methods
  // only for configs that did not come from an XML document (alter = source != XML).
  // Thunderbird verifies no outgoing server ("we currently have no SMTP verification").
  async verify() {
    const config = args.route == "fromISP"
      ? await withAddressPref(() => FetchConfig.fromISP(args.domain, args.address, controller.signal))
      : await discovered();
    if (!config) {
      return null;
    }
    const found = filled(config);
    const alter = config.source != AccountConfig.kSourceXML;
    const window = Services.wm.getMostRecentWindow("mail:3pane");
    const verifier = new ConfigVerifier(window?.msgWindow ?? null, controller.signal);
    const certificateErrors = [];
    // The hub opens the certificate-exception dialog here; the harness answers it "no",
    // which rejects with Thunderbird's own cannot-login message (ConfigVerifier.sys.mjs).
    verifier.informUserOfCertError = async (securityInfo, location) => {
      certificateErrors.push({ location: location.asciiHostPort, error: securityInfo?.errorCodeString ?? null });
      verifier.cleanup();
      verifier.errorCallback(new Error(verifierLocalization.formatValueSync("cannot-login-error")));
    };
    const result = { found, alter, verified: false, error: null, certificateErrors };
    try {
      const verified = await verifier.verifyConfig(config, alter);
      result.verified = true;
      result.incoming = server(verified.incoming);
      result.outgoing = server(verified.outgoing);
    } catch (error) {
      result.error = failure(error);
      result.incoming = server(config.incoming);
      result.outgoing = server(config.outgoing);
    } finally {
      verifier.cleanup();
    }
    return result;
  },

  // One plain request, to tell why a URL fails (e.g. which certificate error).
  async probe() {
    const request = new XMLHttpRequest();
    request.mozBackgroundRequest = true;
    request.open("GET", args.url, true);
    request.timeout = args.timeoutMs;
    await new Promise(done => {
      request.onload = request.onerror = request.ontimeout = done;
      request.send();
    });
    const status = request.channel?.status ?? 0;
    let securityError = null;
    try {
      securityError = request.channel?.securityInfo?.errorCodeString || null;
    } catch (e) {}
    return {
      status: request.status,
      contentType: request.getResponseHeader("Content-Type"),
      // e.g. "NS_ERROR_GENERATE_FAILURE(NS_ERROR_MODULE_SECURITY, SEC_ERROR_UNKNOWN_ISSUER)"
      channelStatus: ChromeUtils.getXPCOMErrorName(status),
      securityError,
    };
  },
};

operations[args.op]()
  .then(
    value => resolve({ ok: true, value, confirmations }),
    error => resolve({ ok: false, error: failure(error), confirmations })
  )
  .finally(() => clearTimeout(timer));
"""


class Thunderbird:
    """One headless Thunderbird with a throw-away profile, driven over Marionette.

    Start it once per test module: a cold start takes seconds, a call
    milliseconds. :meth:`stop` ends it and every process it started (its own
    process group).
    """

    def __init__(self, workdir: Path, *, local_domains: Iterable[str], ca_pem: Path, binary: str = BINARY) -> None:
        self.workdir = workdir
        self.profile = workdir / "profile"
        self.home = workdir / "home"
        self.log_path = workdir / "thunderbird.log"
        self.binary = binary
        self.local_domains = tuple(local_domains)
        self.ca_pem = ca_pem
        self.port = _free_port()
        self.prefs = profile_prefs(self.port, self.local_domains, _free_port())
        self.process: subprocess.Popen[bytes] | None = None
        self.client: Marionette | None = None

    # -- lifecycle ---------------------------------------------------------

    def make_profile(self) -> None:
        """user.js and an NSS database that trusts the test CA for TLS servers ("C,,")."""
        self.profile.mkdir(parents=True, exist_ok=True)
        (self.home / ".config").mkdir(parents=True, exist_ok=True)
        lines = [f"user_pref({_pref_value(name)}, {_pref_value(value)});\n" for name, value in self.prefs.items()]
        (self.profile / "user.js").write_text("".join(lines), encoding="utf-8")
        database = f"sql:{self.profile}"
        commands = [
            ["certutil", "-N", "-d", database, "--empty-password"],
            ["certutil", "-A", "-d", database, "-n", CA_NICKNAME, "-t", "C,,", "-i", str(self.ca_pem)],
            ["certutil", "-L", "-d", database, "-n", CA_NICKNAME],
        ]
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True, timeout=STOP_TIMEOUT)
            if done.returncode != 0:
                raise AssertionError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> Thunderbird:
        self.make_profile()
        command = [
            self.binary, "--headless", "--marionette", "-remote-allow-system-access", "--no-remote",
            "--profile", str(self.profile),
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            # Its own session: stop() can end Thunderbird's child processes with it.
            self.process = subprocess.Popen(
                command, stdout=log, stderr=log, env=_environment(self.home), start_new_session=True
            )
        try:
            self._wait_for_marionette()
            self.client = Marionette(host="127.0.0.1", port=self.port, socket_timeout=CALL_TIMEOUT + 30)
            self.client.start_session(timeout=START_TIMEOUT)
            self.client.set_context(self.client.CONTEXT_CHROME)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_marionette(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"Thunderbird exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"Marionette did not listen within {START_TIMEOUT}s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # the process is ended below either way
                self.client.delete_session()
            self.client.cleanup_ran = True  # nothing left for marionette_driver's __del__ to do
            self.client = None
        process, self.process = self.process, None
        if process is None:
            return
        group = process.pid  # start_new_session: the group id is Thunderbird's pid
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # content or socket processes it left behind

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    # -- calls ---------------------------------------------------------------

    def _call(self, op: str, timeout: float = CALL_TIMEOUT, **arguments: Any) -> dict[str, Any]:
        assert self.client is not None, "Thunderbird is not running"
        arguments.update(op=op, timeoutMs=int(timeout * 1000))
        # Marionette's own timeout only backs up the script's abort signal.
        answer = self.client.execute_async_script(
            _SCRIPT, script_args=[arguments], script_timeout=int((timeout + 10) * 1000)
        )
        assert isinstance(answer, dict), answer
        return answer

    def _outcome(self, answer: dict[str, Any]) -> Outcome:
        confirmations = list(answer.get("confirmations") or [])
        if answer["ok"]:
            return Outcome(account=answer["value"], confirmations=confirmations)
        return Outcome(account=None, error=answer["error"], confirmations=confirmations)

    def from_isp(self, domain: str, address: str, *, send_address: bool = True, password: str = "") -> Outcome:
        """``FetchConfig.fromISP``: the autoconfig URLs on ``autoconfig.<d>`` and ``<d>``, https then http.

        ``send_address`` is Thunderbird's pref
        ``mailnews.auto_config.fetchFromISP.sendEmailAddress``: off, the
        ``emailaddress`` parameter is left out (as K-9 and KMail do).
        """
        return self._outcome(
            self._call("fromISP", domain=domain, address=address, sendAddress=send_address, **self._identity(password))
        )

    def from_mx(self, domain: str, address: str, *, send_address: bool = True, password: str = "") -> Outcome:
        """``FetchConfig.forMX``: the first MX host's domains, ``https://autoconfig.<x>`` only.

        Thunderbird asks ``autoconfig.<MX host minus its first label>`` (when
        longer than the base domain) before ``autoconfig.<MX base domain>``,
        https only, no ``.well-known``; ``send_address`` as for :meth:`from_isp`.
        """
        return self._outcome(
            self._call("forMX", domain=domain, address=address, sendAddress=send_address, **self._identity(password))
        )

    def from_exchange(self, domain: str, address: str, *, password: str = "") -> Outcome:
        """``fetchConfigFromExchange``: Autodiscover POX, all four ways at once, first in priority wins."""
        return self._outcome(self._call("exchange", domain=domain, address=address, **self._identity(password)))

    def find_config(self, domain: str, address: str, *, password: str = "") -> Outcome:
        """``FindConfig.parallelAutoDiscovery``: what the account hub runs for a typed address."""
        return self._outcome(self._call("find", domain=domain, address=address, **self._identity(password)))

    def verify(self, domain: str, address: str, *, password: str, route: str = "find") -> Verification:
        """Find the config as the account hub does, then run the hub's login check on it.

        ``route`` "find" is ``FindConfig.parallelAutoDiscovery`` (the hub's
        search), "fromISP" is autoconfig alone (``FetchConfig.fromISP``).
        Then ``ConfigVerifier.verifyConfig(config, source != XML)``, as the
        hub's ``#validateAndFinish`` calls it: a real login to the incoming
        server with ``password``.
        """
        if route not in ("find", "fromISP"):
            raise ValueError(f"route must be 'find' or 'fromISP', not {route!r}")
        answer = self._call(
            "verify", domain=domain, address=address, route=route, sendAddress=True, **self._identity(password)
        )
        if not answer["ok"]:
            return Verification(found=None, discovery_error=answer["error"])
        value = answer["value"]
        if value is None:
            return Verification(found=None)
        return Verification(
            found=value["found"],
            verified=bool(value["verified"]),
            alter=bool(value["alter"]),
            error=value["error"],
            incoming=value["incoming"],
            outgoing=value["outgoing"],
            certificate_errors=list(value["certificateErrors"]),
        )

    def probe(self, url: str, timeout: float = 10.0) -> dict[str, Any]:
        """One GET from Thunderbird: HTTP status, Content-Type, and the network or certificate error."""
        answer = self._call("probe", timeout=timeout, url=url)
        assert answer["ok"], answer
        return dict(answer["value"])

    @staticmethod
    def _identity(password: str) -> dict[str, str]:
        # replaceVariables insists on a real name; the password only ends up in the config.
        return {"realname": "Fred Bloggs", "password": password}
