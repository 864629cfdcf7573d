import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from enginev2d.config import load_config
from enginev2d.logsetup import REDACTED, Redactor, bind, setup_logging

DB_PASSWORD = "s3cr3t-Pa55word"
DB_URL = f"postgresql://engine:{DB_PASSWORD}@db.example:5432/app"
API_KEY = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"
GOOGLE_KEY = "AIzaSyA1234567890abcdefghijklmnopqrstu"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _setup(fmt: str, env: dict[str, str] | None = None) -> io.StringIO:
    cfg = load_config(env={}, overrides={"database": {"url": DB_URL}, "logging": {"format": fmt}})
    stream = io.StringIO()
    setup_logging(cfg, stream=stream, env=env or {})
    return stream


def test_json_lines_carry_action_and_bound_context(restore_root: None) -> None:
    stream = _setup("json")
    log = logging.getLogger("enginev2d.test")
    with bind(job_id="j-1"):
        log.info("claimed", extra={"action": "job_claimed"})
        with bind(task_key="codegen"):
            log.info("task started", extra={"action": "task_started"})
    log.info("no job here", extra={"action": "idle"})
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert lines[0]["action"] == "job_claimed" and lines[0]["job_id"] == "j-1"
    assert "task_key" not in lines[0]
    assert lines[1]["job_id"] == "j-1" and lines[1]["task_key"] == "codegen"
    assert "job_id" not in lines[2]
    assert {"time", "level", "logger", "message"} <= set(lines[0])


def test_context_is_per_thread(restore_root: None) -> None:
    stream = _setup("json")
    log = logging.getLogger("enginev2d.test")

    def other() -> None:
        log.info("other thread", extra={"action": "other"})

    with bind(job_id="j-2"):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    line = json.loads(stream.getvalue().splitlines()[0])
    assert "job_id" not in line


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_never_logged(restore_root: None, fmt: str) -> None:
    env = {"ANTHROPIC_API_KEY": API_KEY, "MY_SERVICE_TOKEN": "tok-0123456789", "HOME": "/root"}
    stream = _setup(fmt, env)
    log = logging.getLogger("enginev2d.test")
    log.info("connecting to %s", DB_URL, extra={"action": "connect"})
    log.warning("libpq said: host=db password=%s dbname=app", DB_PASSWORD)
    log.info("keys %s %s %s", API_KEY, GOOGLE_KEY, "tok-0123456789")
    log.info("header Authorization: Bearer abcdefghijklmnop")
    log.info("raw password alone: %s", DB_PASSWORD)
    log.info("home is %s", env["HOME"])
    try:
        raise RuntimeError(f"failed with {DB_URL}")
    except RuntimeError:
        log.exception("boom")
    out = stream.getvalue()
    for secret in (DB_PASSWORD, API_KEY, GOOGLE_KEY, "tok-0123456789", "abcdefghijklmnop"):
        assert secret not in out
    assert REDACTED in out
    assert "postgresql://engine:***@db.example:5432/app" in out
    assert "/root" in out  # non-secret variables are left alone


def test_url_encoded_password_is_redacted() -> None:
    redact = Redactor.from_environment(
        load_config(env={}, overrides={"database": {"url": "postgresql://u:p%40ss%2Fw0rd@h/db"}}),
        env={},
    )
    assert "p@ss/w0rd" not in redact("oops p@ss/w0rd")
    assert "p%40ss" not in redact("postgresql://u:p%40ss%2Fw0rd@h/db")


def test_text_format_appends_extras(restore_root: None) -> None:
    stream = _setup("text")
    with bind(job_id="j-3"):
        logging.getLogger("enginev2d.test").info("hello", extra={"action": "greet"})
    line = stream.getvalue().strip()
    assert "hello" in line and "action=greet" in line and "job_id=j-3" in line


def test_context_thread_inherits_the_logging_context():
    import threading

    from enginev2d.logsetup import ContextFilter, bind, context_thread

    seen: dict[str, dict[str, str]] = {}

    def log_once(key: str) -> None:
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", None, None)
        ContextFilter().filter(record)
        seen[key] = {k: getattr(record, k) for k in ("job_id", "task_key") if hasattr(record, k)}

    with bind(job_id="J1"):
        inherited = context_thread(log_once, name="t1", args=("copied",), task_key="codegen")
        plain = threading.Thread(target=log_once, args=("plain",))
    for t in (inherited, plain):
        t.start()
        t.join(5)
    assert seen["copied"] == {"job_id": "J1", "task_key": "codegen"}
    assert seen["plain"] == {}
