"""The daemon: schedules, restarts, one instance, signals, failures, watched folders.

The real APScheduler and the real SQLite job store; the end-to-end tests start the
installed console script as a subprocess and kill it.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import signal
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from early_warning import ConfigError, bundled_path, ingest, load_config
from early_warning.daemon import (
    REPORT,
    Daemon,
    DaemonSettings,
    last_complete_week,
    weekly_trigger,
)
from early_warning.store import open_store

from .conftest import HEADER, run_cli
from .test_cli import run
from .test_mail import SmtpServer

EXE = Path(sys.executable).parent / "early-warning"
TROOPS = "ru_troops_in_belarus,{week},30000,BLR,MoD BY,bulletin,,B,2,,"


def _subject(raw: bytes) -> str:
    return str(message_from_bytes(raw, policy=policy.default)["Subject"])


def _message_id(raw: bytes) -> str:
    return str(message_from_bytes(raw, policy=policy.default)["Message-ID"])


def _outbox(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Message-ID -> (status, subject) of every message the daemon queued."""
    with open_store(tmp_path / "ew.db") as store:
        rows = store.db.query("SELECT message_id, status, subject FROM outbox")
        return {r["message_id"]: (r["status"], r["subject"]) for r in rows}


def _config(tmp_path: Path, extra: str = "", *, every: int = 1, smtp_port: int | None = None):
    mail = (
        f'host = "127.0.0.1"\nport = {smtp_port}\ntimeout_seconds = 30.0\n'
        if smtp_port
        else 'outbox_dir = "outbox"\n'
    )
    text = (
        '[database]\npath = "ew.db"\n[paths]\nreports = "reports"\n'
        f'[mail]\n{mail}to_watch = ["duty@example.org"]\nto_reports = ["desk@example.org"]\n'
        'to_ops = ["ops@example.org"]\n'
        '[daemon]\ntimezone = "Europe/Minsk"\nflush_seconds = 1\nfailure_alert_after = 2\n'
        "settle_seconds = 1\n"
        f'[sources.incoming]\nfolder = "incoming"\nevery_seconds = {every}\n{extra}'
    )
    path = tmp_path / "ew.toml"
    path.write_text(text)
    (tmp_path / "incoming").mkdir(exist_ok=True)
    return path


def _runs(tmp_path: Path, job: str | None = None) -> list[dict]:
    with open_store(tmp_path / "ew.db") as store:
        return store.job_runs(job, limit=500)


def _wait(predicate, timeout: float = 60.0, every: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return False


def _drop(folder: Path, name: str, *rows: str) -> Path:
    temporary = folder / f".{name}.part"
    temporary.write_text("\n".join([HEADER, *rows]) + "\n")
    return temporary.rename(folder / name)  # appears whole, as a careful uploader does


# -- pure parts --------------------------------------------------------------------------


def test_the_weekly_trigger_keeps_the_local_hour_across_daylight_saving(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    config.write_text(config.read_text().replace("Europe/Minsk", "Europe/Berlin"))
    trigger = weekly_trigger(DaemonSettings.from_config(load_config(config, env={})))
    berlin = ZoneInfo("Europe/Berlin")
    # Spring forward on Sunday 31 March 2024: Monday 07:00 local is 06:00 UTC before, 05:00 after.
    before = trigger.get_next_fire_time(None, dt.datetime(2024, 3, 20, tzinfo=berlin))
    after = trigger.get_next_fire_time(None, dt.datetime(2024, 3, 26, tzinfo=berlin))
    assert (before.astimezone(dt.UTC).hour, after.astimezone(dt.UTC).hour) == (6, 5)
    assert before.hour == after.hour == 7 and before.weekday() == after.weekday() == 0
    # Fall back on 27 October 2024: back to 06:00 UTC.
    autumn = trigger.get_next_fire_time(None, dt.datetime(2024, 10, 26, tzinfo=berlin))
    assert autumn.date() == dt.date(2024, 10, 28) and autumn.astimezone(dt.UTC).hour == 6


def test_the_report_week_is_the_last_complete_one_in_local_time() -> None:
    minsk = ZoneInfo("Europe/Minsk")  # UTC+3
    monday_early = dt.datetime(2024, 6, 9, 22, 30, tzinfo=dt.UTC)  # Monday 01:30 in Minsk
    assert last_complete_week(monday_early, minsk) == dt.date(2024, 6, 9)
    sunday = dt.datetime(2024, 6, 9, 12, 0, tzinfo=dt.UTC)  # Sunday: that week is not over
    assert last_complete_week(sunday, minsk) == dt.date(2024, 6, 2)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[sources.web]\nurl = "https://x.org/a.csv"\n', "give cron"),
        ('[sources.web]\ncron = "* * * * *"\n', "give a url or a folder"),
        ('[sources.web]\nurl = "https://x"\ncron = "61 * * * *"\n', "[sources.web] cron"),
        ('[sources.web]\nurl = "https://x"\nevery_seconds = 0\n', "every_seconds: a whole"),
        ('[sources.web]\nurl = "https://x"\ncron = "* * * * *"\nuser = "x"\n', "unknown key"),
        ('[sources.web]\nurl = "ftp://x.org/a.csv"\ncron = "* * * * *"\n', "only http"),
        (
            '[sources.web]\nurl = "https://x"\ncron = "* * * * *"\nsubject = "blr!"\n',
            "is not a code",
        ),
    ],
)
def test_source_mistakes_name_the_source(tmp_path: Path, extra: str, message: str) -> None:
    config = _config(tmp_path, extra)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        DaemonSettings.from_config(load_config(config, env={}))


def test_a_bad_time_zone_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("Europe/Minsk", "Mars/Olympus"))
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        DaemonSettings.from_config(load_config(config, env={}))


# -- jobs, in process ----------------------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    config = load_config(_config(tmp_path, '[sources.down]\nurl = "http://127.0.0.1:9/x.csv"\n'
                                           "every_seconds = 3600\n"), env={})  # fmt: skip
    d = Daemon(config)
    with open_store(config.db_path, create=True) as store:
        store.sync_catalog(d.catalog)
    yield d
    d.stop()


def test_a_watched_file_is_processed_once_and_a_bad_one_failed_with_its_reason(
    daemon: Daemon, tmp_path: Path
) -> None:
    incoming = tmp_path / "incoming"
    _drop(incoming, "troops.csv", TROOPS.format(week="2026-W40"))
    (incoming / "broken.csv").write_text("no,header,here\n1,2,3\n")
    assert daemon.run_job("ingest:incoming") == "ok"
    assert not (incoming / "processed").exists()  # just written: perhaps still changing
    for path in incoming.iterdir():
        os.utime(path, (time.time() - 10, time.time() - 10))
    assert daemon.run_job("ingest:incoming") == "partial"  # a failed file: said, not hidden
    assert (incoming / "processed" / "troops.csv").exists()
    assert (incoming / "failed" / "broken.csv").exists()
    reason = (incoming / "failed" / "broken.csv.reason.txt").read_text()
    assert "broken.csv" in reason and "column" in reason
    assert daemon.run_job("ingest:incoming") == "ok"  # nothing left: nothing done twice
    (waiting, first, second) = reversed(_runs(tmp_path, "ingest:incoming"))
    assert "still changing" in waiting["detail"]
    assert "1 loaded" in first["detail"] and "scored" in first["detail"]
    assert second["detail"] == "nothing new"
    with open_store(tmp_path / "ew.db") as store:
        # One indicator is too little for a score (recorded as insufficient, not stored),
        # but the forecasts and the alert check ran.
        assert store.count("observations") == 1 and store.count("forecasts") >= 1
        assert store.count("alert_state") >= 1


def test_a_failing_source_is_recorded_and_operators_hear_once(
    daemon: Daemon, tmp_path: Path
) -> None:
    for _ in range(4):
        assert daemon.run_job("ingest:down") == "failed"
    dropped = _drop(tmp_path / "incoming", "t.csv", TROOPS.format(week="2026-W40"))
    os.utime(dropped, (time.time() - 10, time.time() - 10))
    assert daemon.run_job("ingest:incoming") == "ok"  # the other source goes on
    assert (tmp_path / "incoming" / "processed" / "t.csv").exists()
    runs = _runs(tmp_path, "ingest:down")
    assert [r["outcome"] for r in runs] == ["failed"] * 4
    assert all("127.0.0.1:9" in r["error"] for r in runs)
    daemon.run_job("flush")
    ops = [p for p in (tmp_path / "outbox").glob("*.eml") if b"[OPS] ingest:down" in p.read_bytes()]
    assert len(ops) == 1  # after the second failure, not again for the third and fourth


def _some_data(daemon: Daemon, tmp_path: Path) -> None:
    with open_store(daemon.config.db_path) as store:
        csv = tmp_path / "seed.csv"
        csv.write_text(HEADER + "\n" + TROOPS.format(week="2026-W40") + "\n")
        assert ingest(store, daemon.catalog, csv).rows_loaded == 1


def _sources(tmp_path: Path) -> dict[str, dict]:
    status = run_cli("--config", str(tmp_path / "ew.toml"), "status", "--json", cwd=tmp_path)
    return {s["name"]: s for s in json.loads(status.stdout)["sources"]}


def test_a_failed_file_makes_its_source_unhealthy_until_a_clean_run(
    daemon: Daemon, tmp_path: Path
) -> None:
    incoming = tmp_path / "incoming"
    (incoming / "broken.csv").write_text("no,header,here\n1,2,3\n")
    os.utime(incoming / "broken.csv", (time.time() - 10, time.time() - 10))
    assert daemon.run_job("ingest:incoming") == "partial"
    assert daemon.run_job("ingest:incoming") == "ok"  # an empty poll: the failure stays
    source = _sources(tmp_path)["incoming"]
    assert not source["healthy"] and source["problem"].startswith("a run partial at")
    assert "broken.csv: failed" in source["last_file"]["detail"]  # status names the file
    daemon.run_job("flush")  # the operators hear of it once (the file is out of the way)
    told = [p for p in (tmp_path / "outbox").glob("*.eml")
            if b"[OPS] ingest:incoming: a file failed" in p.read_bytes()]  # fmt: skip
    assert len(told) == 1
    good = _drop(incoming, "troops.csv", TROOPS.format(week="2026-W40"))
    os.utime(good, (time.time() - 10, time.time() - 10))
    assert daemon.run_job("ingest:incoming") == "ok"
    source = _sources(tmp_path)["incoming"]
    assert source["healthy"] and source["last_success"] and source["problem"] is None
    assert "troops.csv" in source["last_file"]["detail"]


def test_a_silent_source_raises_one_operator_alert_and_turns_status_red(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, "expected_every_seconds = 1\n"), env={})
    daemon = Daemon(config)
    with open_store(config.db_path, create=True) as store:
        store.sync_catalog(daemon.catalog)
    assert daemon.run_job("ingest:incoming") == "ok"  # nothing there yet: not silent yet
    assert _sources(tmp_path)["incoming"]["healthy"]
    time.sleep(1.2)
    for _ in range(3):  # silent now: one operator alert for this silence, not three
        assert daemon.run_job("ingest:incoming") == "ok"
    source = _sources(tmp_path)["incoming"]
    assert not source["healthy"] and source["problem"].startswith("silent since")
    assert source["expected_every"] == 1 and source["last_success"] is None
    daemon.run_job("flush")
    ops = [p for p in (tmp_path / "outbox").glob("*.eml")
           if b"[OPS] source incoming is silent" in p.read_bytes()]  # fmt: skip
    assert len(ops) == 1


def test_a_new_daemon_waits_for_data_before_its_first_report(
    daemon: Daemon, tmp_path: Path
) -> None:
    # It used to mail a report of an empty database, saying it "fell due while the
    # daemon was down" on its very first start.
    assert not daemon._report_overdue()
    assert daemon.run_job(REPORT) == "skipped"
    (run,) = _runs(tmp_path, REPORT)
    assert run["detail"] == "no data yet for BLR: the report waits for data"
    with open_store(tmp_path / "ew.db") as store:
        assert store.reports() == [] and store.count("outbox") == 0


def test_the_demo_watched_folder_is_ingested_at_once(tmp_path: Path) -> None:
    # `make demo` starts the daemon right after the demo wrote its folder: the file must
    # not look "still changing" (it used to, on both runs).
    from early_warning.demo import write_daemon_config

    config = load_config(write_daemon_config(tmp_path, bundled_path("indicators")), env={})
    daemon = Daemon(config)
    with open_store(config.db_path, create=True) as store:
        store.sync_catalog(daemon.catalog)
    assert daemon.run_job("ingest:incoming") == "ok"
    assert (tmp_path / "incoming" / "processed" / "military_posture.csv").exists()
    (run,) = _runs_of(config.db_path, "ingest:incoming")
    assert "still changing" not in run["detail"] and run["rows_loaded"] > 0


def _runs_of(db: Path, job: str) -> list[dict]:
    with open_store(db) as store:
        return store.job_runs(job)


def _weekly_next_run(jobstore: Path) -> float:
    with sqlite3.connect(jobstore) as db:
        return db.execute(
            "SELECT next_run_time FROM apscheduler_jobs WHERE id = ?", [REPORT]
        ).fetchone()[0]


def test_restarts_keep_next_runs_and_a_missed_report_runs_once(
    daemon: Daemon, tmp_path: Path
) -> None:
    _some_data(daemon, tmp_path)  # a report of an empty database is never made
    daemon.start()
    daemon.stop()
    jobstore = daemon.settings.jobstore
    planned = _weekly_next_run(jobstore)
    time.sleep(1.1)  # a later start: interval triggers made now differ in their start date
    again = Daemon(daemon.config)
    assert set(again.start()) >= {REPORT, "flush", "ingest:incoming"}  # kept, not replaced
    again.stop()
    assert _weekly_next_run(jobstore) == planned

    # The daemon was down when the report was due (an hour ago, within the grace period).
    # Edited in the job store itself (a scheduler started only to edit would run it).
    store = SQLAlchemyJobStore(url=f"sqlite:///{jobstore}")
    store.start(BackgroundScheduler(), "default")  # never started: it only rebuilds jobs
    job = store.lookup_job(REPORT)
    job._modify(next_run_time=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    store.update_job(job)
    store.shutdown()
    back = Daemon(daemon.config)
    back.start()
    try:
        assert _wait(lambda: any(r["outcome"] == "ok" for r in _runs(tmp_path, REPORT)), 60)
    finally:
        back.stop()
    assert _weekly_next_run(jobstore) > time.time()  # next Monday, not now again
    last = Daemon(daemon.config)
    last.start()
    time.sleep(2)
    last.stop()
    # Made once (at the first start it was already overdue), then only skipped.
    outcomes = [r["outcome"] for r in _runs(tmp_path, REPORT)]
    assert outcomes.count("ok") == 1 and set(outcomes) <= {"ok", "skipped"}
    with open_store(tmp_path / "ew.db") as store:
        assert len(store.reports()) == 1


# -- the real daemon, as a process -----------------------------------------------------------


def _start(tmp_path: Path, config: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARLY_WARNING")}
    return subprocess.Popen(
        [str(EXE), "--config", str(config), "daemon", *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _running(tmp_path: Path) -> bool:
    # A process of its own: `status` probes the daemon's lock, as an operator's shell does.
    status = run("--config", str(tmp_path / "ew.toml"), "status", "--json", cwd=tmp_path)
    return status.returncode == 0 and json.loads(status.stdout)["daemon"]["state"] == "running"


def test_a_second_daemon_on_the_same_database_exits_at_once(tmp_path: Path) -> None:
    config = _config(tmp_path, every=3600)
    first = _start(tmp_path, config)
    try:
        assert _wait(lambda: _running(tmp_path), 60)
        # The same database under another name (a symlink) is the same database.
        (tmp_path / "alias.db").symlink_to(tmp_path / "ew.db")
        other = tmp_path / "other.toml"
        other.write_text(config.read_text().replace('path = "ew.db"', 'path = "alias.db"'))
        second = _start(tmp_path, other)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert "another daemon is running" in err and str(first.pid) in err
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 0


class _SlowCsv(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(4)
        body = ("\n".join([HEADER, TROOPS.format(week="2026-W41")]) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_sigterm_during_a_job_lets_it_finish_then_exits_0(tmp_path: Path) -> None:
    server = socketserver.TCPServer(("127.0.0.1", 0), _SlowCsv)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/troops.csv"
    config = _config(tmp_path, f'[sources.slow]\nurl = "{url}"\nevery_seconds = 3600\n',
                     every=3600)  # fmt: skip
    process = _start(tmp_path, config, "--once")
    try:
        started = lambda: any(r["outcome"] == "running" for r in _runs(tmp_path, "ingest:slow"))  # noqa: E731
        assert _wait(started, 60, 0.1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert process.returncode == 0, err
    (slow,) = _runs(tmp_path, "ingest:slow")
    assert slow["outcome"] == "ok" and slow["finished_at"] and "1 loaded" in slow["detail"]
    assert "received SIGTERM" in err and "stopped" in err


def test_end_to_end_file_to_alert_then_sigkill_and_restart(tmp_path: Path) -> None:
    # The port is held for the server's whole life (no other process can take it).
    controller = SmtpServer().start()
    inbox = controller.inbox
    try:
        # A source that stays quiet for an hour is silent; not here, in a minute's test.
        config = _config(tmp_path, "expected_every_seconds = 3600\n", smtp_port=controller.port)
        process = _start(tmp_path, config, "--once")
        assert _wait(lambda: _running(tmp_path), 60)
        week = dt.date.today().isocalendar()
        _drop(tmp_path / "incoming", "troops.csv", TROOPS.format(week=f"{week[0]}-W{week[1]:02d}"))
        done = lambda: any("red_line_forces_move_in" in str(m[1]) for m in inbox.messages)  # noqa: E731
        assert _wait(done, 120), "no alert e-mail arrived"
        process.kill()  # SIGKILL: no clean-up at all
        process.communicate(timeout=60)
        with open_store(tmp_path / "ew.db") as store:
            # The first cycle's report waited for data (the database was empty then).
            assert store.count("forecasts") >= 1 and store.count("reports") == 0
            fired = [a for a in store.db.query("SELECT rule FROM alerts")]
        assert {"rule": "red_line_forces_move_in"} in fired
        assert (tmp_path / "incoming" / "processed" / "troops.csv").exists()
        sent_before = len(inbox.messages)
        waiting_at_kill = {m for m, (status, _) in _outbox(tmp_path).items() if status != "sent"}

        again = _start(tmp_path, config, "--once")  # runs every job once more at start
        assert _wait(lambda: _running(tmp_path), 60)
        assert _wait(lambda: len(_runs(tmp_path, REPORT)) >= 2, 120)
        assert _wait(lambda: any(b"[report]" in m[1] for m in inbox.messages), 120)
        time.sleep(3)
        again.send_signal(signal.SIGTERM)
        _, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
    finally:
        controller.close()
    copies = inbox.copies()
    subjects = [_subject(c) for _, c in inbox.messages]
    assert len(set(copies)) == len(copies), f"a copy arrived twice: {subjects}"
    outbox = _outbox(tmp_path)
    received = {m for m, _ in copies}
    assert received <= set(outbox), subjects
    # None lost: each message was received, or is still in the outbox for the next flush.
    missing = {m: outbox[m] for m in set(outbox) - received}
    assert all(status != "sent" for status, _ in missing.values()), (subjects, missing)
    # Sent after the restart: what was still waiting at the SIGKILL, and the weekly
    # report, which waited for data before the kill and is made now; nothing again.
    late = {_message_id(c): _subject(c) for _, c in inbox.messages[sent_before:]}
    early = {_message_id(c) for _, c in inbox.messages[:sent_before]}
    assert not set(late) & early, subjects
    new = {m for m in late if m not in waiting_at_kill}
    assert all(late[m].startswith("[report]") for m in new), (subjects, waiting_at_kill)
    made, waited = _runs(tmp_path, REPORT)  # newest first
    assert (made["outcome"], waited["outcome"]) == ("ok", "skipped")
    assert waited["detail"] == "no data yet for BLR: the report waits for data"
    status = json.loads(run("--config", str(config), "status", "--json", cwd=tmp_path).stdout)
    jobs = {j["job"]: j for j in status["jobs"]}
    assert set(jobs) >= {REPORT, "flush", "ingest:incoming", "pipeline"}  # no job lost
    assert all(j["next_run"] not in ("not scheduled", "paused") for j in jobs.values())
    assert "pipeline" in jobs  # scoring and alerts also run on their own clock
    assert status["daemon"]["state"] == "not running"
