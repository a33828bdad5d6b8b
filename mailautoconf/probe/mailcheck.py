"""``probe --servers``: the mail servers each family would be given, connected to as that client connects.

The walks end when a client has *read* its settings; what the person wants
is that the account then works (issue 21). So, for every family that
configures, every IMAP, POP3 and SMTP server it would set up is asked, once
however many families name it (:meth:`~mailautoconf.probe.net.Network.mail_session`):
implicit TLS or STARTTLS exactly as the document says (STARTTLS must be
offered before TLS: a client that was told STARTTLS never sends its password
without it), the certificate judged as for the documents (subjectAltName,
chain, dates; ``--ca``), the greeting, and the capabilities *after* TLS
(RFC 3501 section 6.2.1, RFC 2595 section 4, RFC 3207 section 4.2: what was
said before is discarded): the authentication the document promises must
be offered (:mod:`~mailautoconf.probe.mailproto`), and IMAP must not say
LOGINDISABLED once TLS is up. With ``--login``, it logs in with the
username the document gives for the address.

A server's failure makes every family that is given it fail (the account
cannot be created: Thunderbird logs in before it creates one), with one
cause, so "Fix first" counts everyone it helps. Everything here but
:func:`check` is a pure function of the sessions the network layer returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from dataclasses import replace

from mailautoconf.probe import mailproto
from mailautoconf.probe.mailproto import MailSession
from mailautoconf.probe.net import Network
from mailautoconf.probe.report import Cause
from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import MailServer
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict

__all__ = ["Ask", "check", "judge", "judge_session", "plan"]


@dataclass(frozen=True)
class Ask:
    """One dialog to have: the server (normalised), and with --login the username and method to log in with."""

    server: MailServer
    username: str | None = None
    method: str | None = None


def _normal(server: MailServer) -> MailServer | None:
    protocol = mailproto.normal_protocol(server.protocol)
    if protocol is None or not server.host or not 0 < server.port < 65536:
        return None
    return MailServer(
        protocol, server.host, server.port, mailproto.normal_security(protocol, server.port, server.security)
    )


def _ask(server: MailServer, login: bool) -> Ask | None:
    normal = _normal(server)
    if normal is None:
        return None
    if not login:
        return Ask(normal)
    return Ask(normal, server.username, mailproto.promised(server.authentication))


def plan(results: Sequence[FamilyResult], login: bool) -> tuple[Ask, ...]:
    """Every distinct dialog the configuring families call for, in the order they name the servers."""
    asks = (_ask(server, login) for result in results if result.status == "ok" for server in result.servers)
    return tuple(dict.fromkeys(ask for ask in asks if ask is not None))


def _name(server: MailServer) -> str:
    return f"the {server.protocol} server {server.host}:{server.port}"


def _failure_cause(session: MailSession) -> Cause:
    """What to fix when the dialog broke off before the capabilities: named by the server and the step."""
    server = session.server
    where = f"{server.host}:{server.port}"
    if session.error_kind == "dns":
        return Cause(
            f"mail-dns:{server.host}",
            f"{server.host} has no address in DNS ({server.protocol} port {server.port}): publish the mail "
            "server's A/AAAA records, or name the real mail host in the config",
        )
    if session.error_kind in ("connect", "timeout", "closed") and session.failed_step in ("connect", "greeting"):
        return Cause(
            f"mail-connect:{where}",
            f"{_name(server)}: {session.error}: start the {server.protocol} service on port {server.port} "
            "(or open the firewall), or give the config the port it listens on",
        )
    if session.failed_step == "STARTTLS":
        return Cause(
            f"mail-starttls:{where}",
            f"{_name(server)} does not offer STARTTLS, which the documents promise ({session.error}): enable TLS "
            "on it (Dovecot: ssl = yes; Postfix: smtpd_tls_security_level = may), or give the config its "
            "implicit-TLS port",
        )
    tls = session.tls
    if session.failed_step == "TLS" and tls is not None:
        names = ", ".join(tls.names) or "no DNS name"
        if tls.problem_kind == "name":
            return Cause(
                f"mail-tls-name:{server.host}",
                f"{_name(server)} presents a certificate that does not cover {server.host} (it is for {names}): "
                f"add {server.host} to the mail server's certificate (Dovecot: local_name {server.host} with its "
                "own ssl_cert; Postfix: tls_server_sni_maps)",
            )
        if tls.problem_kind in ("expired", "not-yet-valid", "expired-chain"):
            return Cause(
                f"mail-tls-expired:{server.host}",
                f"renew the certificate {_name(server)} presents: {tls.problem}",
            )
        if tls.problem_kind == "common-name":
            return Cause(
                f"mail-tls-name:{server.host}",
                f"{_name(server)}: {tls.problem}: issue it again with {server.host} as a subjectAltName",
            )
        return Cause(f"mail-tls:{server.host}:{server.port}", f"{_name(server)}: TLS: {tls.problem}")
    return Cause(
        f"mail-protocol:{where}",
        f"{_name(server)}, {session.failed_step or 'dialog'}: {session.error}: is another service on port "
        f"{server.port}, or is the server refusing connections?",
    )


def _facts(session: MailSession) -> str:
    parts = []
    if session.tls is not None:
        parts.append(f"TLS: {session.tls.words()}")
    if session.greeting:
        parts.append(f"greeting {session.greeting[:120]!r}")
    if session.capabilities:
        parts.append(f"offers {mailproto.offer(session.server.protocol, session.capabilities).words()}")
    return "; ".join(parts)


def judge_session(session: MailSession, given: MailServer) -> list[Step]:
    """The steps of one server as the family that was ``given`` it (its methods, its username) sees them."""
    server = session.server
    label = f"{server.protocol} {server.host}:{server.port} {server.security}"
    if session.failed_step:
        reason = f"{session.failed_step}: {session.error}"
        return [Step(label, Verdict.FAIL, reason, dns=session.dns, cause=_failure_cause(session))]
    found = mailproto.offer(server.protocol, session.capabilities)
    where = f"{server.host}:{server.port}"
    encrypted = server.security != "plain"
    method = mailproto.promised(given.authentication)
    problems: list[Cause] = []
    if method is not None and not mailproto.offers_method(server.protocol, method, found):
        wanted = " or ".join(mailproto.mechanisms_for(method) or ())
        problems.append(
            Cause(
                f"mail-auth:{where}:{method}",
                f"{_name(server)} offers {found.words()}{' after TLS' if encrypted else ''}, not {wanted}, which "
                f"the documents promise ({method}): enable it (Dovecot: auth_mechanisms; Postfix: "
                "smtpd_sasl_security_options and its SASL server), or say in the config what the server takes",
            )
        )
    if server.protocol == "IMAP" and encrypted and found.login_disabled:
        problems.append(
            Cause(
                f"mail-logindisabled:{where}",
                f"{_name(server)} says LOGINDISABLED although TLS is up: clients that log in with LOGIN cannot "
                "(Dovecot: allow cleartext authentication over TLS, and the PLAIN mechanism)",
            )
        )
    facts = _facts(session)
    steps: list[Step] = []
    if problems:
        steps.append(
            Step(
                label,
                Verdict.FAIL,
                "; ".join(p.fix for p in problems) + f" ({facts})",
                dns=session.dns,
                cause=problems[0],
            )
        )
        steps.extend(Step(label, Verdict.FAIL, p.fix, cause=p) for p in problems[1:])
    elif session.tls is not None and session.tls.warning:
        cause = Cause(
            f"mail-tls-{session.tls.warning_kind or 'warning'}:{server.host}", f"{where}: {session.tls.warning}"
        )
        steps.append(Step(label, Verdict.WARN, facts, dns=session.dns, cause=cause))
    else:
        note = "" if encrypted else " (no TLS: the password travels in the clear)"
        auth = f"; {method} offered" if method is not None else "; the document names no method the probe judges"
        steps.append(Step(label, Verdict.OK, facts + auth + note, dns=session.dns))
    login = session.login
    if login is not None:
        login_label = f"login {server.protocol} {where} as {login.username}"
        if login.ok:
            steps.append(Step(login_label, Verdict.OK, f"logged in with {login.mechanism}"))
        elif not login.mechanism:
            steps.append(Step(login_label, Verdict.SKIP, f"not tried: {login.reply}"))
        else:
            cause = Cause(
                f"mail-login:{where}:{login.username}",
                f"{_name(server)} refuses the login as {login.username!r} ({login.mechanism}: {login.reply}): the "
                "documents give that username for the address; if the account and password are right, the config's "
                "username form is wrong for this server (e.g. {localpart} where it wants {address})",
            )
            steps.append(Step(login_label, Verdict.FAIL, f"{login.mechanism}: {login.reply}", cause=cause))
    return steps


def _login_skip(ask: Ask, given: MailServer) -> Step | None:
    """Why a --login probe did not log in to ``given``: no username or no method in the document."""
    server = ask.server
    label = f"login {server.protocol} {server.host}:{server.port}"
    if ask.username is None:
        return Step(label, Verdict.SKIP, "not tried: the document gives no username (the user types it)")
    if ask.method is None:
        return Step(label, Verdict.SKIP, "not tried: the document names no password method")
    return None


def judge(
    results: Sequence[FamilyResult], sessions: Mapping[Ask, MailSession], login: bool
) -> tuple[FamilyResult, ...]:
    """Each configuring family with its servers' steps; failing servers make it fail, with their causes."""
    judged = []
    for result in results:
        if result.status != "ok":
            judged.append(result)
            continue
        steps: list[Step] = []
        for server in result.servers:
            ask = _ask(server, login)
            if ask is None or ask not in sessions:
                continue
            steps.extend(judge_session(sessions[ask], server))
            skipped = _login_skip(ask, server) if login and not sessions[ask].failed_step else None
            if skipped is not None:
                steps.append(skipped)
        if not steps:
            judged.append(result)
            continue
        causes = tuple(dict((c.key, c) for c in (*result.causes, *(s.cause for s in steps if s.cause))).values())
        failed = next((step for step in steps if step.verdict is Verdict.FAIL), None)
        if failed is None:
            judged.append(replace(result, steps=(*result.steps, *steps), causes=causes))
            continue
        summary = f"{result.summary}, but {failed.label}: {failed.reason}"
        judged.append(replace(result, status="fail", summary=summary, steps=(*result.steps, *steps), causes=causes))
    return tuple(judged)


def check(results: Sequence[FamilyResult], net: Network) -> tuple[FamilyResult, ...]:
    """Ask every server the configuring families name (each once, all at once), then :func:`judge`."""
    login = net.mail is not None and net.mail.login
    asks = plan(results, login)
    futures: dict[Ask, Future[MailSession]] = {
        ask: net.mail_session_later(ask.server, ask.username, ask.method) for ask in asks
    }
    sessions = {ask: future.result() for ask, future in futures.items()}
    return judge(results, sessions, login)
