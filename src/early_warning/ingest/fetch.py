"""Downloads: a URL's body into a file or into memory, within the ingest limits.

`Fetcher` is the seam between the code that wants a URL's content (the ingest of a
URL, the further pages of a World Bank API answer, the live feeds to come) and the
network. `UrlFetcher` is the real one, on urllib; a test passes a plain class with a
`fetch` method and needs no server.

Whatever the fetcher, `download` and `fetch_bytes` keep the rules in one place: no more
than `ingest.max_file_bytes` is taken, and any failure is a `FetchError` of one line
naming the URL. `UrlFetcher` adds what only a network has: the user agent, a timeout on
each connect and read (`ingest.http_timeout_seconds`) and a deadline for the whole
download (`ingest.http_total_seconds`).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import socket
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ..errors import FetchError
from ..numbers import format_number
from .results import Limits, describe_exception

__all__ = ["USER_AGENT", "Fetcher", "Sink", "UrlFetcher", "download", "fetch_bytes"]

USER_AGENT = "early-warning"


class Sink(Protocol):
    def write(self, data: bytes, /) -> int:
        """Take the next bytes of the body; raise FetchError past the byte limit."""
        ...


class Fetcher(Protocol):
    def fetch(self, url: str, out: Sink, limits: Limits) -> str:
        """Write the body of `url` to `out` and return its content type ("" if none).

        Raise FetchError where the failure has words of its own (a deadline); any
        other exception becomes "URL: cannot fetch (its reason)".
        """
        ...


@contextmanager
def download(
    url: str, limits: Limits, fetcher: Fetcher | None = None
) -> Iterator[tuple[Path, str]]:
    """The body of `url` in a temporary file (removed on leaving), and its content type.

    On disk, not in memory: a download may weigh up to `max_file_bytes` (512 MiB by
    default). The file's suffix is the URL's, so that readers that go by the name
    still can.
    """
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    fd, name = tempfile.mkstemp(prefix="early-warning-", suffix=suffix or ".download")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            content_type = _fetch(fetcher or UrlFetcher(), url, out, limits)
        yield path, content_type
    finally:
        path.unlink(missing_ok=True)


def fetch_bytes(url: str, limits: Limits, fetcher: Fetcher | None = None) -> bytes:
    """The body of `url` in memory: for small answers (an API page, a feed's index)."""
    buffer = io.BytesIO()
    _fetch(fetcher or UrlFetcher(), url, buffer, limits)
    return buffer.getvalue()


def _fetch(fetcher: Fetcher, url: str, out: Sink, limits: Limits) -> str:
    try:
        return fetcher.fetch(url, _Capped(out, url, limits.max_file_bytes), limits)
    except FetchError:
        raise
    except Exception as exc:  # a broken or cut answer, however it shows
        reason = " ".join(_reason(exc).split())  # one line, as servers do not
        raise FetchError(f"{url}: cannot fetch ({reason})") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, TimeoutError | socket.timeout):
        return "no answer within the read timeout (ingest.http_timeout_seconds)"
    return describe_exception(exc)


class _Capped:
    """Passes bytes on until there are more than the limit, then refuses the download.

    Counted here, not trusted to a fetcher: a server's Content-Length may be missing or
    wrong, and a fetcher in a test or a feed need not count at all.
    """

    def __init__(self, out: Sink, url: str, limit: int) -> None:
        self.out, self.url, self.limit = out, url, limit
        self.received = 0

    def write(self, data: bytes, /) -> int:
        self.received += len(data)
        if self.received > self.limit:
            raise FetchError(f"{self.url}: more than {self.limit:,} bytes (ingest.max_file_bytes)")
        return self.out.write(data)


# -- the network ---------------------------------------------------------------------


class UrlFetcher:
    """http(s) through urllib, within the limits' timeouts; redirects are followed.

    `headers` are sent with every request (an API's `Authorization`); `form` makes it
    a POST of those fields, URL-encoded (an OAuth token request). Neither is ever put
    in a message: an error names the URL only.
    """

    def __init__(
        self,
        user_agent: str = USER_AGENT,
        *,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.headers = headers or {}
        self.form = form

    def fetch(self, url: str, out: Sink, limits: Limits) -> str:
        body = urllib.parse.urlencode(self.form).encode("ascii") if self.form is not None else None
        request = urllib.request.Request(
            url, data=body, headers={"User-Agent": self.user_agent, **self.headers}
        )
        with _Deadline(limits.http_total_seconds) as deadline:
            try:
                return _copy(request, url, out, limits, deadline)
            except FetchError:
                raise
            except Exception:
                if deadline.expired:  # whatever the cut socket raised, the cause is time
                    allowed = format_number(limits.http_total_seconds, "s", digits=6)
                    raise FetchError(
                        f"{url}: not complete within {allowed} (ingest.http_total_seconds)"
                    ) from None
                raise


def _copy(
    request: urllib.request.Request, url: str, out: Sink, limits: Limits, deadline: _Deadline
) -> str:
    """Copy the answer into `out`; return its content type."""
    opener = deadline.opener()
    with opener.open(request, timeout=limits.http_timeout_seconds) as resp:
        declared = resp.headers.get("Content-Length")
        too_big = declared and declared.isascii() and declared.isdigit()
        if too_big and int(declared) > limits.max_file_bytes:
            raise FetchError(
                f"{url}: {int(declared):,} bytes is over the limit of "
                f"{limits.max_file_bytes:,} (ingest.max_file_bytes)"
            )
        content_type = resp.headers.get_content_type()
        while chunk := resp.read1(1 << 16):
            out.write(chunk)
        if deadline.expired:  # a shut socket can look like a clean end
            raise TimeoutError
        return str(content_type)


class _Deadline:
    """Shuts every socket of one download when its time is up.

    A socket timeout bounds each read, not the whole: a server that drips one byte
    every few seconds would hold the daemon's worker for ever. A timer thread shuts the
    sockets down at the deadline, which ends any read blocked on them at once.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def opener(self) -> urllib.request.OpenerDirector:
        """An opener whose connections (redirects included) are watched."""
        deadline = self

        class HTTPConnection(http.client.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                deadline.watch(self.sock)

        class HTTPSConnection(http.client.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                deadline.watch(self.sock)

        class HTTPHandler(urllib.request.HTTPHandler):
            def http_open(self, req: Any) -> Any:
                return self.do_open(HTTPConnection, req)

        class HTTPSHandler(urllib.request.HTTPSHandler):
            def https_open(self, req: Any) -> Any:
                return self.do_open(HTTPSConnection, req, context=self._context)

        return urllib.request.build_opener(HTTPHandler, HTTPSHandler)
