"""The ACLED feed (`feed = "acled"`): OAuth for the account in the environment, the
API's pages, the events recorded once, and the account never written anywhere.

A local server on 127.0.0.1 plays ACLED: its token endpoint (a POST of the password
grant, as ACLED's getting-started guide and its R package send it) and
`/api/acled/read`, which answers only with the token, in pages of `limit` rows, in
the layout of ACLED's codebook (`status`, `success`, `count`, `data`: one object per
event with event_id_cnty, event_date, event_type, sub_event_type, actor1, actor2,
country, iso, fatalities, timestamp, ...).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from early_warning import ConfigError, load_config

from .conftest import run_cli
from .test_feeds import LocalServer, Quiet, _config, _daemon, run_twice

EMAIL, PASSWORD, TOKEN = "analyst@example.org", "pw-Zq81-never-shown", "tok-5f2c-never-shown"
ENV = {"ACLED_EMAIL": EMAIL, "ACLED_PASSWORD": PASSWORD}


def _event(n: int, day: str, kind: str, sub: str, fatalities: int, **extra: str) -> dict:
    row = {
        "event_id_cnty": f"BLR{n}", "event_date": day, "year": day[:4], "time_precision": "1",
        "disorder_type": "Political violence", "event_type": kind, "sub_event_type": sub,
        "actor1": "Military Forces of Belarus (1994-)", "assoc_actor_1": "", "inter1": "1",
        "actor2": "", "assoc_actor_2": "", "inter2": "0", "interaction": "10",
        "civilian_targeting": "", "iso": "112", "region": "Europe", "country": "Belarus",
        "admin1": "Hrodna", "admin2": "Hrodna", "admin3": "", "location": "Hrodna",
        "latitude": "53.6884", "longitude": "23.8258", "geo_precision": "1",
        "source": "Belsat; Nasha Niva", "source_scale": "National", "notes": "Troops moved.",
        "fatalities": str(fatalities), "tags": "", "timestamp": "1638316800",
    }  # fmt: skip
    row.update(extra)
    return row


EVENTS = [
    _event(1, "2021-11-08", "Strategic developments", "Other", 0),
    _event(2, "2021-11-10", "Battles", "Armed clash", 3, actor2="Military Forces of Poland"),
    _event(
        3,
        "2021-11-16",
        "Violence against civilians",
        "Attack",
        30,
        country="Poland",
        iso="616",
        timestamp="1640995200",
    ),
]


class Acled(LocalServer):
    """ACLED's token endpoint and read endpoint, every request kept."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        acled = self

        class Handler(Quiet):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = dict(urllib.parse.parse_qsl(body))
                acled.requests.append({"path": self.path, "form": form})
                if form != {"username": EMAIL, "password": PASSWORD,
                            "grant_type": "password", "client_id": "acled"}:  # fmt: skip
                    self._send(401, {"error": "invalid_grant"})
                    return
                self._send(200, {"token_type": "Bearer", "expires_in": 86400,
                                 "access_token": TOKEN, "refresh_token": "r"})  # fmt: skip

            def do_GET(self) -> None:
                acled.requests.append({"path": self.path, "auth": self.headers["Authorization"]})
                if self.headers["Authorization"] != f"Bearer {TOKEN}":
                    self._send(403, {"status": 403, "success": False})
                    return
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                size, page = int(query["limit"]), int(query["page"])
                data = EVENTS[(page - 1) * size : page * size]
                self._send(200, {"status": 200, "success": True, "last_update": 1,
                                 "count": len(data), "messages": [], "data": data})  # fmt: skip

            def _send(self, code: int, answer: dict) -> None:
                self.answer(code, json.dumps(answer).encode(), "application/json")

        super().__init__(Handler)


@pytest.fixture
def acled() -> Iterator[Acled]:
    server = Acled()
    yield server
    server.close()


def _source(acled: Acled) -> str:
    return (f'[sources.acled]\nfeed = "acled"\n'
            f'url = "{acled.url}/api/acled/read?country=Belarus|Poland&limit=2"\n'
            f'token_url = "{acled.url}/oauth/token"\n')  # fmt: skip


def test_acled_events_arrive_once_with_dates_sides_and_fatalities_and_the_account_stays_hidden(
    acled: Acled, tmp_path: Path
) -> None:
    config = _config(tmp_path, _source(acled))
    events, loaded = run_twice(_daemon(config, ENV), "ingest:acled")
    assert loaded == [3, 0]  # the same answer again: nothing added
    assert [(e["date"], e["subject"], e["kind"], e["severity"]) for e in events] == [
        ("2021-11-08", "BLR", "strategic_developments", 1),
        ("2021-11-10", "BLR", "battles", 2),
        ("2021-11-16", "POL", "violence_against_civilians", 3),
    ]
    battle = events[1]
    assert battle["title"] == (
        "ACLED BLR2: Armed clash: Military Forces of Belarus (1994-) vs Military Forces of Poland"
    )
    assert "3 killed" in battle["note"] and "Hrodna" in battle["note"]
    assert battle["known_from"] == "2021-12-01" and battle["source"] == "acled"
    # One token per run, then pages of 2 until a short one, each with the token.
    reads = [r for r in acled.requests if "auth" in r]
    assert [r["path"].rsplit("page=", 1)[1] for r in reads] == ["1", "2", "1", "2"]
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in reads)
    assert sum("form" in r for r in acled.requests) == 2
    # The account and its token are in no row, no run, no status and no `config show`.
    shown = run_cli("--config", str(config), "config", "show", cwd=tmp_path, env=ENV)
    status = run_cli("--config", str(config), "status", "--json", cwd=tmp_path, env=ENV)
    assert shown.returncode == 0 and status.returncode == 0, shown.stderr + status.stderr
    database = b"".join(p.read_bytes() for p in tmp_path.glob("ew.db*"))
    for secret in (EMAIL, PASSWORD, TOKEN):
        assert secret not in shown.stdout + status.stdout
        assert secret.encode() not in database


def test_a_missing_or_refused_acled_account_is_one_line_naming_the_variable_not_the_secret(
    acled: Acled, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(tmp_path, _source(acled))
    with pytest.raises(ConfigError, match=r"email_env: the environment variable ACLED_EMAIL"):
        load_config(config, env={})
    daemon = _daemon(config, {**ENV, "ACLED_PASSWORD": "wrong-pw-Xy"})
    assert daemon.run_job("ingest:acled") == "failed"
    daemon.stop()
    status = run_cli("--config", str(config), "status", "--json", cwd=tmp_path, env=ENV)
    (source,) = json.loads(status.stdout)["sources"]
    refusal = f"{acled.url}/oauth/token: cannot fetch (HTTP 401 Unauthorized)"
    assert source["last_error"] == f"FetchError: {refusal}" and refusal in caplog.text
    assert "wrong-pw-Xy" not in status.stdout + caplog.text and EMAIL not in caplog.text
    with pytest.raises(ConfigError, match=r"password_env: the environment variable ACLED_PW "):
        load_config(_config(tmp_path, _source(acled) + 'password_env = "ACLED_PW"\n'), env=ENV)
