"""How the ``ntrader`` process ends (cli/main.py ``_exit``): without the interpreter's teardown,
but with everything an outside observer could tell apart from a normal exit kept."""

from __future__ import annotations

import os
import subprocess
import sys

# Output buffered as a user's terminal or pipe has it (PYTHONUNBUFFERED would flush each write).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_ENV,
    )


def test_the_exit_code_atexit_handlers_and_buffered_output_survive() -> None:
    result = _python(
        "import atexit, sys\n"
        "from ntrader.cli.main import _exit\n"
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        "sys.stdout.write('buffered, never flushed by hand')\n"
        "_exit(3)\n"
    )
    assert result.returncode == 3
    assert result.stdout == "buffered, never flushed by hand"
    assert result.stderr == "atexit ran\n"


def test_a_thread_still_running_is_waited_for_as_python_would() -> None:
    result = _python(
        "import threading, time\n"
        "from ntrader.cli.main import _exit\n"
        "def work():\n"
        "    time.sleep(0.3)\n"
        "    print('thread finished', flush=True)\n"
        "threading.Thread(target=work).start()\n"
        "_exit(4)\n"
    )
    assert (result.returncode, result.stdout) == (4, "thread finished\n")


def _with_stdout_closed(code: str) -> tuple[int, str]:
    """Run ``code`` with a reader that closed the pipe before any output was flushed."""
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_ENV
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    errors = process.stderr.read().decode()
    return process.wait(timeout=60), errors


def test_a_closed_stdout_is_reported_as_python_reports_it() -> None:
    """A reader that went away (``ntrader ... | head``): the same exit status and message
    as a plain interpreter's (120, a BrokenPipeError)."""
    write = "import sys, time\ntime.sleep(0.2)\nsys.stdout.write('x' * 10)\n"
    plain_code, plain_errors = _with_stdout_closed(write)
    code, errors = _with_stdout_closed(
        "from ntrader.cli.main import _exit\n" + write + "_exit(0)\n"
    )
    assert code == plain_code == 120
    assert "BrokenPipeError" in errors and "BrokenPipeError" in plain_errors


def test_the_console_script_runs_its_command_with_the_collector_tuned() -> None:
    """Python's defaults collect every 700 allocations; the command's process collects less
    often (the measured cost of a backtest: docs/performance.md)."""
    result = _python(
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print(gc.get_threshold(), file=sys.stderr))\n"
        "sys.argv = ['ntrader', '--version']\n"
        "from ntrader.cli.main import console_script\n"
        "console_script()\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "(50000, 20, 20)\n"
