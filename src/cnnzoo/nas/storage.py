"""The storage of a search's Optuna study, shown without its secrets.

A storage URL may carry a password (``postgresql+psycopg://user:PASSWORD@host/db``, or
``?password=`` in its query). Wherever the search shows or writes a URL (its error lines, its
progress, ``search.json``) it goes through :func:`mask_url`, and an error of SQLAlchemy or the
database driver becomes one line whose cause is scrubbed of the password (:func:`storage_error`).
A password need not be written in the URL at all: libpq reads ``PGPASSWORD`` and the password file
(``PGPASSFILE``, default ``~/.pgpass``); see ``docs/nas-storage.md``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from urllib.parse import unquote

MASK = "***"
# libpq connection parameters that hold a secret, as a URL's query may give them
SECRET_QUERY = re.compile(r"(?i)([?&](?:password|sslpassword)=)[^&#]*")


def _split_userinfo(url: str) -> tuple[str, str, str | None, str]:
    """``(start, user, password, rest)`` of ``url``: the user part is everything before the last
    ``@`` (after ``://`` when there is one), so a malformed password is never taken for the host;
    ``password`` is ``None`` when the user part has no ``:``."""
    scheme, sep, after = url.partition("://")
    start, body = (scheme + sep, after) if sep else ("", url)
    userinfo, at, rest = body.rpartition("@")
    if not at:
        return start, "", None, body
    user, colon, password = userinfo.partition(":")
    return start, user, password if colon else None, rest


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: in the user part (everything between
    ``://`` and the last ``@`` after the user name, so a URL SQLAlchemy cannot parse is masked
    too) and in a ``password=`` or ``sslpassword=`` query parameter. Any string is accepted."""
    start, user, password, rest = _split_userinfo(url)
    if password is not None:
        url = f"{start}{user}:{MASK}@{rest}"
    return SECRET_QUERY.sub(r"\g<1>" + MASK, url)


def secrets_of(url: str) -> list[str]:
    """The password of ``url`` as written and as decoded, and the query's secrets (longest
    first)."""
    _, _, password, _ = _split_userinfo(url)
    found = {m.group(0).split("=", 1)[1] for m in SECRET_QUERY.finditer(url)}
    if password:
        found |= {password, unquote(password)}
    return sorted((s for s in found if s), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with ``url`` shown masked and every secret of it replaced by ``***``."""
    text = text.replace(url, mask_url(url))
    for secret in secrets_of(url):
        text = text.replace(secret, MASK)
    return text


def check_url(url: str, option: str = "--storage") -> None:
    """Refuse a URL whose password SQLAlchemy would read otherwise than as written (an unencoded
    ``@`` in it makes SQLAlchemy take its end for the host, which errors would then show).

    Raises:
        ValueError: one line, the URL masked.
    """
    from sqlalchemy.engine import make_url

    _, _, password, _ = _split_userinfo(url)
    if password is None:
        return
    try:
        parsed = make_url(url).password
    except Exception:  # SQLAlchemy's ArgumentError and the dialects' own
        return  # the storage's opening words it, scrubbed
    if parsed is None or str(parsed) != unquote(password):
        raise ValueError(
            f"{option} {mask_url(url)!r}: its password holds a character that "
            "must be percent-encoded ('@', '/', '?', '#'); encode it, or leave it "
            "out of the URL and set PGPASSWORD or a password file "
            "(PGPASSFILE)"
        )


def cause_line(err: BaseException, url: str) -> str:
    """The first line of a storage error (the driver's own when SQLAlchemy wraps one), secrets
    scrubbed: ``connection refused``, ``password authentication failed for user "u"``, ..."""
    inner = getattr(err, "orig", None) or err
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    first = " ".join(lines[0].split()) if lines else type(inner).__name__
    return scrub(first, url)


def storage_error(err: BaseException, url: str, option: str = "--storage") -> ValueError:
    """The one-line error of a storage that cannot be opened or used."""
    return ValueError(f"{option} {mask_url(url)!r} cannot be used: {cause_line(err, url)}")


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn the database's errors inside the block (a server gone, a full disk, a lost password)
    into :func:`storage_error`'s one line."""
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except DBAPIError as err:
        raise storage_error(err, url) from None
