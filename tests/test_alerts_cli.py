"""Alerts from the command line, delivered to a real SMTP server (aiosmtpd on 127.0.0.1).

The story of the issue: Russian troops arrive in Belarus for an exercise without
observers and stay after it ends. `alerts check`, run for each following week, raises
each red line once and mails it; with the mail server down nothing is lost, and when
it is back each alert arrives once.
"""

from __future__ import annotations

import datetime as dt
import json
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from .conftest import run_cli, write_csv
from .test_mail import TIMEOUT, Inbox, SmtpServer

HISTORY = [
    # Baseline: the staff of the two leased facilities.
    *(f"ru_troops_in_belarus,2024-W{w:02d},1500,BLR,MoD BY,note {w},,B,2,," for w in range(1, 6)),
    # Troops arrive for the exercise and stay after it ends (W10).
    *(f"ru_troops_in_belarus,2024-W{w:02d},30000,BLR,MoD BY,note {w},,B,2,," for w in range(6, 15)),
    "joint_exercise_scale,2024-02-12,30000,BLR,MoD RU,exercise announcement,,B,2,,",
    "exercise_transparency,2024-02-12,0,BLR,OSCE,no notification and no observers,,A,2,,",
    "post_exercise_withdrawal,2024-03-11,false,BLR,MoD BY,forces remain after the exercise,,B,2,,",
]  # fmt: skip
RED_LINES = {
    "red_line_forces_move_in": "2024-W06",
    "red_line_exercise_without_observers": "2024-W07",
    "red_line_forces_stay": "2024-W11",
}


def sunday(week: int) -> str:
    return dt.date.fromisocalendar(2024, week, 7).isoformat()


@pytest.fixture
def desk(tmp_path: Path):
    """A database with the history, a config that mails a duty desk, an SMTP server.

    The server keeps its port while it is down (no other process can take it), and the
    client waits as long as a loaded machine may need: a short timeout here once made
    a message that the server had accepted look failed, and it was sent again.
    """
    server = SmtpServer().start()
    config = tmp_path / "ew.toml"
    config.write_text(
        f'[database]\npath = "ew.db"\n'
        f'[mail]\nhost = "127.0.0.1"\nport = {server.port}\ntimeout_seconds = {TIMEOUT}\n'
        f'sender = "early-warning@desk.example"\n'
        f'to_watch = ["analyst@desk.example"]\nto_red = ["duty@desk.example"]\n'
    )
    assert run_cli("--config", str(config), "init", cwd=tmp_path).returncode == 0
    data = write_csv(tmp_path / "history.csv", *HISTORY)
    loaded = run_cli("--config", str(config), "ingest", str(data), cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    try:
        yield tmp_path, config, server, server.inbox
    finally:
        server.close()


def _check(tmp_path: Path, config: Path, week: int):
    return run_cli("--config", str(config), "alerts", "check", "--as-of", sunday(week), "--json",
               cwd=tmp_path)  # fmt: skip


def _red_line_mail(inbox: Inbox, to: str = "duty@desk.example") -> dict[str, list[str]]:
    """Rule -> ISO weeks of the red-line copies received by one recipient."""
    found: dict[str, list[str]] = {}
    for (recipient,), content in inbox.messages:  # one recipient per copy
        message = message_from_bytes(content, policy=policy.default)
        assert message["To"] == recipient  # nobody sees who else got it
        tag, rule, rest = str(message["Subject"]).split(" ", 2)
        if tag == "[RED]" and recipient == to:
            week = rest.split("week ", 1)[1].split(";")[0]  # "BLR, week 2024-W07; warning ..."
            found.setdefault(rule.rstrip(":"), []).append(week)
    return found


def test_troops_arrive_without_observers_and_stay_each_red_line_mailed_once(desk) -> None:
    tmp_path, config, _, inbox = desk
    first = _check(tmp_path, config, 4)
    assert first.returncode == 0, first.stderr
    # Before the troops come, only the data-quality rule: no base status has ever been seen.
    assert [a["rule"] for a in json.loads(first.stdout)] == ["key_indicators_stale"]
    for week in range(5, 15):
        result = _check(tmp_path, config, week)
        assert result.returncode == 0, result.stderr
        _check(tmp_path, config, week)  # a repeated check adds nothing
    assert _red_line_mail(inbox) == {rule: [week] for rule, week in RED_LINES.items()}
    # The analyst (subscribed to watch and above) gets the red lines too, in a copy of
    # their own. Every message has its own stable Message-ID; no copy arrives twice.
    assert _red_line_mail(inbox, "analyst@desk.example") == _red_line_mail(inbox)
    assert len(set(inbox.copies())) == len(inbox.copies())
    assert len({m for m, _ in inbox.copies()}) == len(inbox.copies()) - len(RED_LINES)
    stay = next(
        message_from_bytes(c, policy=policy.default)
        for _, c in inbox.messages
        if b"red_line_forces_stay" in c
    )
    text = stay.get_body(("plain",)).get_content()
    assert "forces remain after the exercise" in text and "Baggiani" in text
    assert stay.get_body(("html",)) is not None

    listed = json.loads(
        run_cli("--config", str(config), "alerts", "list", "--json", cwd=tmp_path).stdout
    )
    assert {a["rule"] for a in listed} >= set(RED_LINES)
    assert all(a["outbox_id"] for a in listed if a["severity"] == "red")


def test_with_the_server_down_nothing_is_lost_and_each_arrives_once(desk) -> None:
    tmp_path, config, server, inbox = desk
    assert _check(tmp_path, config, 4).returncode == 0
    server.stop()  # the mail server goes down
    for week in range(5, 15):
        down = _check(tmp_path, config, week)
        fired = [a for a in json.loads(down.stdout) if a["new"]]
        assert down.returncode == (1 if fired else 0), down.stderr
        if fired:
            assert "to retry" in down.stderr
    listed = json.loads(
        run_cli("--config", str(config), "outbox", "list", "--json", cwd=tmp_path).stdout
    )
    sent_before = [q for q in listed if q["status"] == "sent"]  # the W04 data-quality alert
    queued = [q for q in listed if q["status"] == "queued"]
    assert len(queued) >= 3 and len(sent_before) + len(queued) == len(listed)
    assert all(q["last_error"] for q in queued)
    assert all(d["status"] == "queued" for q in queued for d in q["deliveries"])
    copies = sum(len(q["deliveries"]) for q in [*sent_before, *queued])
    assert len(inbox.messages) == sum(len(q["deliveries"]) for q in sent_before)

    server.start()  # the server is back (on its port); a new process flushes
    flushed = run_cli("--config", str(config), "outbox", "flush", "--retry-now", "--json",
                  cwd=tmp_path)  # fmt: skip
    assert flushed.returncode == 0, flushed.stderr
    assert json.loads(flushed.stdout)["sent"] == len(queued)
    again = run_cli("--config", str(config), "outbox", "flush", "--retry-now", "--json",
                cwd=tmp_path)  # fmt: skip
    assert json.loads(again.stdout)["sent"] == 0
    server.stop()
    assert len(inbox.messages) == copies  # each recipient's copy once
    assert len(set(inbox.copies())) == copies
    assert _red_line_mail(inbox) == {rule: [week] for rule, week in RED_LINES.items()}


def test_replay_dry_run_ack_and_test_email(desk) -> None:
    tmp_path, config, _, inbox = desk

    def cli(*args: str):
        return run_cli("--config", str(config), *args, cwd=tmp_path)

    replay = cli("alerts", "replay", "--start", "2024-01-01", "--end", sunday(14), "--json")
    assert replay.returncode == 0, replay.stderr
    replayed = {a["rule"]: a["week"] for a in json.loads(replay.stdout) if a["severity"] == "red"}
    assert replayed == RED_LINES
    dry = cli("alerts", "check", "--as-of", sunday(14), "--dry-run", "--json")
    assert dry.returncode == 0 and json.loads(dry.stdout)
    assert json.loads(cli("alerts", "list", "--json").stdout) == []  # replay, dry run: nothing
    assert inbox.messages == []

    cli("alerts", "check", "--as-of", sunday(6))
    (alert,) = [
        a for a in json.loads(cli("alerts", "list", "--json").stdout) if a["severity"] == "red"
    ]
    note = "<b>called the MoD</b>; Bcc: x@example.org"
    acked = cli("alerts", "ack", str(alert["id"]), "--note", note, "--by", "duty", "--json")
    assert json.loads(acked.stdout)["state"] == "acknowledged"
    assert json.loads(acked.stdout)["note"] == note
    assert cli("alerts", "ack", "999", "--note", "x").returncode == 2
    again = cli("alerts", "ack", str(alert["id"]), "--note", "again")
    assert again.returncode == 2 and "already acknowledged by duty" in again.stderr
    huge = cli("alerts", "ack", "99999999999999999999999", "--note", "x")
    assert huge.returncode == 2 and "Traceback" not in huge.stderr
    bell = cli("alerts", "ack", "1", "--note", "ring\a")
    assert bell.returncode == 2 and "control characters" in bell.stderr

    sent = cli("alerts", "test-email")
    assert sent.returncode == 0, sent.stderr
    test = [
        (recipients, message_from_bytes(c, policy=policy.default))
        for recipients, c in inbox.messages
    ][-2:]
    assert {m["Subject"] for _, m in test} == {"early-warning test message"}
    assert sorted(r for r, _ in test) == [["analyst@desk.example"], ["duty@desk.example"]]
    assert all(m["To"] == r for (r,), m in test)


def test_bad_rule_files_and_options_are_one_line_errors(desk) -> None:
    tmp_path, config, _, _ = desk
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {id: x1, kind: threshold, severity: red, level: high}\n")
    bad = run_cli("--config", str(config), "alerts", "check", "--rules", str(rules), cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "rules.yaml: rule 'x1': field 'level': expected a number" in bad.stderr
    future = run_cli(
        "--config", str(config), "alerts", "check", "--as-of", "2099-01-01", cwd=tmp_path
    )
    assert future.returncode == 2 and "in the future" in future.stderr
    backwards = run_cli("--config", str(config), "alerts", "replay", "--start", "2024-03-01",
                    "--end", "2024-01-01", cwd=tmp_path)  # fmt: skip
    assert backwards.returncode == 2 and "after --end" in backwards.stderr


def test_dead_messages_are_shown_by_db_status_and_outbox_list(desk) -> None:
    tmp_path, config, server, _ = desk
    config.write_text(
        config.read_text().replace("timeout_seconds", "max_attempts = 1\ntimeout_seconds")
    )
    server.stop()
    assert (
        run_cli(
            "--config", str(config), "alerts", "check", "--as-of", sunday(6), cwd=tmp_path
        ).returncode
        == 1
    )
    status = run_cli("--config", str(config), "db", "status", cwd=tmp_path).stdout
    assert "dead message(s) need attention" in status
    dead = json.loads(
        run_cli(
            "--config", str(config), "outbox", "list", "--status", "dead", "--json", cwd=tmp_path
        ).stdout
    )
    assert dead and all("ConnectionRefused" in d["last_error"] for d in dead)
    report = json.loads(
        run_cli("--config", str(config), "db", "status", "--json", cwd=tmp_path).stdout
    )
    assert report["outbox"] == {"dead": len(dead)} and report["alerts_active"] >= 1
