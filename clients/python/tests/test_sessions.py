"""Sessions through the sync client against the real server (gvisor-local):
state kept between cells, the session's files, closing, and the errors a
caller gets for a closed session or a second cell at once."""

from __future__ import annotations

import threading
import time

import pytest

from code_executor import (
    InvalidArgumentError,
    Outcome,
    SessionBusyError,
    SessionNotFoundError,
)


def test_cells_share_one_interpreter_and_workspace(client):
    with client.session(files={"seed.txt": b"\xff\x00seed"}, idle_timeout=60) as session:
        assert session.info.session_id.startswith("cs-")
        assert session.info.backend == "gvisor-local"
        assert session.info.idle_timeout == 60
        first = session.run("data = open('seed.txt', 'rb').read()\ncount = 1")
        assert first.outcome is Outcome.OK, first.stderr
        second = session.run("count += 1\nprint(count, data)")
        assert second.stdout == "2 b'\\xff\\x00seed'\n"
        assert second.started.sandbox_name == session.info.sandbox_name
        failed = session.run("raise KeyError('k')")
        assert failed.outcome is Outcome.NONZERO_EXIT
        assert failed.stderr.endswith("KeyError: 'k'\n")
        assert not failed.session_ended
        assert session.run("print(count)").stdout == "2\n"
    with pytest.raises(SessionNotFoundError):
        client.run("print(1)", session_id=session.session_id)


def test_sys_exit_ends_the_session(client):
    session = client.session()
    result = session.run("import sys\nsys.exit(5)")
    assert result.exit_code == 5
    assert result.session_ended
    with pytest.raises(SessionNotFoundError):
        session.close()


def test_one_cell_at_a_time(client):
    with client.session() as session:
        results = {}
        worker = threading.Thread(
            target=lambda: results.update(slow=session.run("import time\ntime.sleep(3)"))
        )
        worker.start()
        time.sleep(1.5)
        with pytest.raises(SessionBusyError):
            session.run("print(1)")
        worker.join()
        assert results["slow"].outcome is Outcome.OK


def test_a_cell_may_not_change_what_the_session_fixes(client):
    with client.session() as session:
        with pytest.raises(InvalidArgumentError) as error:
            session.run("print(1)", memory_limit="1Gi")
        assert error.value.field == "limits.memory_limit"
