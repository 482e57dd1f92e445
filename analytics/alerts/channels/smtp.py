"""E-mail over SMTP: one plain-text zh-CN message per alert.

Formats: the message follows RFC 5322 with MIME (RFC 2045/2046), UTF-8 text in a
``text/plain; charset="utf-8"`` part (base64), the Chinese subject as an RFC 2047 encoded word
(``=?utf-8?b?…?=``), built with the standard library's ``email.message.EmailMessage``
(https://docs.python.org/3/library/email.message.html) and sent with ``smtplib``
(https://docs.python.org/3/library/smtplib.html): optional STARTTLS (RFC 3207) and AUTH.
Reply codes (RFC 5321 §4.2.1): 4yz is transient (retried), 5yz permanent (not retried).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from analytics.alerts.channels.message import alert_message
from analytics.alerts.notify import Attempt
from analytics.alerts.transitions import Transition
from storage.clock import from_ms, now_ms

__all__ = ["SmtpChannel"]


class SmtpChannel:
    """Sends each alert to ``to`` through an SMTP server.

    :param host: SMTP server; :param port: its port (25, or 587 with STARTTLS).
    :param sender: the From address; :param to: recipient addresses.
    :param user: login (with ``password``), when the server wants AUTH.
    :param starttls: upgrade the connection with STARTTLS before AUTH.
    :param timeout_s: connect and per-command timeout [s].
    :param page_base_url: where the alert pages are, for the link.
    :param unit_of: the unit of a transition's value (e.g. from the rule's quantity).
    """

    name = "email"

    def __init__(self, host: str, port: int, sender: str, to: Sequence[str], *,
                 user: str | None = None, password: str | None = None,
                 starttls: bool = False, timeout_s: float = 10.0,
                 page_base_url: str = "http://localhost:8000",
                 unit_of: Callable[[Transition], str] = lambda _t: "") -> None:
        self._host, self._port, self._from, self._to = host, port, sender, tuple(to)
        self._user, self._password, self._starttls = user, password, starttls
        self._timeout_s = timeout_s
        self._page_base_url, self._unit_of = page_base_url, unit_of

    @property
    def recipient(self) -> str:
        """The recipient addresses."""
        return ", ".join(self._to)

    def message(self, t: Transition) -> EmailMessage:
        """The MIME message of ``t``."""
        m = alert_message(t, page_base_url=self._page_base_url, unit_of=self._unit_of)
        msg = EmailMessage()
        msg["Subject"] = m.subject
        msg["From"] = self._from
        msg["To"] = ", ".join(self._to)
        msg["Date"] = format_datetime(from_ms(now_ms()))
        msg["Message-ID"] = make_msgid(domain=self._from.rpartition("@")[2] or None)
        msg.set_content(m.text(), charset="utf-8", cte="base64")
        return msg

    def attempt(self, t: Transition) -> Attempt:
        """One SMTP session: connect, STARTTLS, AUTH, send."""
        msg = self.message(t)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._user:
                    smtp.login(self._user, self._password or "")
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return Attempt(False, all(400 <= c < 500 for c in codes),
                           f"recipients refused: {exc.recipients}")
        except smtplib.SMTPResponseException as exc:
            err = exc.smtp_error
            text = err.decode(errors="replace") if isinstance(err, bytes) else err
            return Attempt(False, 400 <= exc.smtp_code < 500, f"SMTP {exc.smtp_code} {text}")
        except (smtplib.SMTPException, OSError) as exc:
            return Attempt(False, True, f"{type(exc).__name__}: {exc}")
        if refused:
            return Attempt(True, False, f"accepted, but refused for {refused}")
        return Attempt(True, False, f"accepted for {len(self._to)} recipient(s)")

    def close(self) -> None:
        """Nothing held between sends (one SMTP session per message)."""
