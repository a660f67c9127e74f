"""Flushers at once, and flushers that die, against a real SMTP server (aiosmtpd).

The daemon's flush, `outbox flush`, `alerts check`, `report --email` and `alerts
test-email` all flush the same outbox, perhaps at the same moment, in different
processes; and a process can die at any point. Each copy must reach the server once
(by Message-ID and recipient), and none may be lost.

The server is slow on purpose (it waits in DATA before its 250), so that flushers
overlap; without claims every flusher would send the whole queue. No test waits on
a fixed sleep: flushers are started together and their answers read in full.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from early_warning import FixedClock, Store
from early_warning.alerts import FolderMailer, Outbox, SmtpMailer
from early_warning.catalog import Catalog

from .test_mail import TIMEOUT, Inbox, SmtpServer, _settings

MESSAGES = 20
ROUNDS = 12

# A flusher in a process of its own: flushes the database named on each line it reads.
WORKER = r"""
import json, sys
from early_warning import Store
from early_warning.alerts import Outbox, SmtpMailer, SmtpSettings
port, timeout = int(sys.argv[1]), float(sys.argv[2])
print("ready", flush=True)
for line in sys.stdin:
    with Store(line.strip()) as store:
        mailer = SmtpMailer(SmtpSettings("127.0.0.1", port, timeout=timeout))
        print(json.dumps(Outbox(store, mailer).flush(retry_now=True)), flush=True)
"""

# A flusher that is killed (no clean-up, nothing recorded) as it sends its first copy,
# before the server has it, or (with "after") just after the server accepted it.
CRASHER = r"""
import os, sys
from early_warning import FixedClock, Store
from early_warning.alerts import Outbox, SmtpMailer, SmtpSettings
path, port, when, after = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "after"

class Dies:
    timeout = 30.0
    def send(self, message):
        if after:
            SmtpMailer(SmtpSettings("127.0.0.1", port, timeout=30.0)).send(message)
        os._exit(17)

with Store(path, clock=FixedClock(when)) as store:
    Outbox(store, Dies()).flush()
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EARLY_WARNING")}


def _fill(path: Path, prefix: str, catalog: Catalog | None = None) -> set[str]:
    """MESSAGES queued messages, one recipient each; their Message-IDs."""
    with Store(path) as store:
        if catalog is not None:  # else each command would first load it, at its own pace
            store.sync_catalog(catalog)
        outbox = Outbox(store, FolderMailer(path.parent / "unused"))
        for n in range(MESSAGES):
            outbox.queue(key=f"{prefix}:{n}", sender="ew@example.org",
                         recipients=[f"duty{n % 4}@example.org"], subject=f"message {n}",
                         text=f"message {n} of {prefix}")  # fmt: skip
        return {r[0] for r in store.db.execute("SELECT message_id FROM outbox")}


def _copies(inbox: Inbox, ids: set[str]) -> Counter[tuple[str, str]]:
    return Counter(c for c in inbox.copies() if c[0] in ids)


def _sent_everything(path: Path) -> None:
    with Store(path) as store:
        assert Outbox(store, FolderMailer(path.parent / "unused")).backlog() == {"sent": MESSAGES}
        attempts = store.db.execute("SELECT attempts, count(*) FROM outbox_deliveries GROUP BY 1")
        assert dict(attempts.fetchall()) == {1: MESSAGES}  # each copy tried once: no double claim


def test_flushers_in_processes_and_threads_at_once_send_each_message_once(tmp_path: Path) -> None:
    with SmtpServer(Inbox(delay=0.02)) as server:
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(server.port), str(TIMEOUT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=_env(),
            )
            for _ in range(2)
        ]
        try:
            assert [w.stdout.readline().strip() for w in workers] == ["ready", "ready"]
            for n in range(ROUNDS):
                path = tmp_path / f"round-{n}.db"
                ids = _fill(path, f"round-{n}")
                results: list[dict[str, int]] = []
                errors: list[BaseException] = []

                def flush(path: Path = path, results=results, errors=errors) -> None:
                    try:
                        with Store(path) as store:
                            outbox = Outbox(store, SmtpMailer(_settings(server.port)))
                            results.append(outbox.flush(retry_now=True))
                    except BaseException as exc:  # reported below, not lost in the thread
                        errors.append(exc)

                for worker in workers:  # two processes and two threads, all at once
                    worker.stdin.write(f"{path}\n")
                    worker.stdin.flush()
                threads = [threading.Thread(target=flush) for _ in range(2)]
                for thread in threads:
                    thread.start()
                results += [json.loads(w.stdout.readline()) for w in workers]
                for thread in threads:
                    thread.join()
                assert errors == []
                copies = _copies(server.inbox, ids)
                assert sum(copies.values()) == MESSAGES, f"round {n}: {sum(copies.values())} copies"
                assert set(copies.values()) == {1} and len(copies) == MESSAGES
                assert sum(r["sent"] for r in results) == MESSAGES
                assert sum(r["failed"] + r["dead"] for r in results) == 0
                _sent_everything(path)
        finally:
            for worker in workers:
                worker.stdin.close()  # the worker ends at the end of its input
                worker.wait(timeout=120)
                worker.stdout.close()


def test_two_outbox_flush_commands_at_once_send_each_message_once(
    tmp_path: Path, real_catalog: Catalog
) -> None:
    exe = Path(sys.executable).parent / "early-warning"
    with SmtpServer(Inbox(delay=0.1)) as server:  # slower: the commands take time to start
        env = _env() | {
            "EARLY_WARNING_MAIL_HOST": "127.0.0.1",
            "EARLY_WARNING_MAIL_PORT": str(server.port),
            "EARLY_WARNING_MAIL_TIMEOUT_SECONDS": str(TIMEOUT),
        }
        for n in range(2):
            path = tmp_path / f"cli-{n}.db"
            ids = _fill(path, f"cli-{n}", real_catalog)
            command = [str(exe), "--db", str(path), "outbox", "flush", "--retry-now", "--json"]
            flushers = [
                subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                    cwd=tmp_path,
                )
                for _ in range(2)
            ]
            answers = [f.communicate(timeout=300) for f in flushers]
            assert [f.returncode for f in flushers] == [0, 0], answers
            copies = _copies(server.inbox, ids)
            assert sum(copies.values()) == MESSAGES and set(copies.values()) == {1}
            assert sum(json.loads(out)["sent"] for out, _ in answers) == MESSAGES
            _sent_everything(path)


def _crash(path: Path, port: int, when: str, moment: str = "before") -> int:
    died = subprocess.run(
        [sys.executable, "-c", CRASHER, str(path), str(port), when, moment],
        env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert died.stderr == "" or "Traceback" not in died.stderr, died.stderr
    return died.returncode


def test_a_flusher_killed_between_claim_and_send_loses_nothing(tmp_path: Path) -> None:
    clock = FixedClock("2024-06-01T12:00:00")
    path = tmp_path / "crash.db"
    with SmtpServer() as server, Store(path, clock=clock) as store:
        outbox = Outbox(store, SmtpMailer(_settings(server.port)), clock)
        for n in range(3):
            outbox.queue(key=f"crash-{n}", sender="ew@example.org",
                         recipients=["duty@example.org"], subject=f"m{n}", text="t")  # fmt: skip
        when = clock.now().isoformat()
        # Three flushers each claim a copy and die before the server sees it.
        assert [_crash(path, server.port, when) for _ in range(3)] == [17, 17, 17]
        assert _crash(path, server.port, when) == 0  # a fourth finds every copy claimed
        # While the dead flushers' leases run, nobody sends their copies twice...
        clock.advance(seconds=60)
        assert outbox.flush(retry_now=True) == {"sent": 0, "failed": 0, "dead": 0}
        assert server.inbox.messages == []
        assert outbox.backlog() == {"queued": 3}  # ...and nothing is lost
        states = store.db.execute("SELECT status, claimed_by FROM outbox_deliveries").fetchall()
        assert {s for s, _ in states} == {"sending"} and all(by for _, by in states)
        # Once the leases have run out, each copy is claimed again and sent, once.
        clock.advance(seconds=outbox.lease_seconds)
        assert outbox.flush() == {"sent": 3, "failed": 0, "dead": 0}
        assert outbox.flush(retry_now=True) == {"sent": 0, "failed": 0, "dead": 0}
        assert len(server.inbox.messages) == 3 and len(set(server.inbox.copies())) == 3
        assert outbox.backlog() == {"sent": 3}


def test_the_documented_window_a_kill_after_the_server_accepted(tmp_path: Path) -> None:
    """The one duplicate allowed: killed after the server accepted, before recording.
    It is sent again only after the lease, with the same Message-ID."""
    clock = FixedClock("2024-06-01T12:00:00")
    path = tmp_path / "window.db"
    with SmtpServer() as server, Store(path, clock=clock) as store:
        outbox = Outbox(store, SmtpMailer(_settings(server.port)), clock)
        outbox.queue(key="window", sender="ew@example.org", recipients=["duty@example.org"],
                     subject="m", text="t")  # fmt: skip
        assert _crash(path, server.port, clock.now().isoformat(), "after") == 17
        assert len(server.inbox.messages) == 1
        clock.advance(seconds=outbox.lease_seconds - 1)
        assert outbox.flush(retry_now=True)["sent"] == 0  # not while the lease runs
        clock.advance(seconds=2)
        assert outbox.flush()["sent"] == 1
        assert outbox.flush(retry_now=True)["sent"] == 0
        (first, second) = server.inbox.copies()
        assert first == second  # same Message-ID, same recipient: receivers can drop it


def test_the_lease_outlasts_the_smtp_timeout(tmp_path: Path) -> None:
    with Store(tmp_path / "lease.db") as store:
        # Ten steps of the timeout, and ten minutes for the reply to the body.
        assert Outbox(store, SmtpMailer(_settings(25, timeout=30.0))).lease_seconds == 1200
        assert Outbox(store, SmtpMailer(_settings(25, timeout=120.0))).lease_seconds == 1800
