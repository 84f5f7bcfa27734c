"""``liveness.process_start``: which process a pid is, read from /proc, for any command name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from ntrader.services.liveness import process_start


@pytest.mark.parametrize("name", ["plain", "a) b (c", "x)) (y z"])
def test_the_start_is_this_boot_and_the_tick_the_process_started_at(
    tmp_path: Path, name: str
) -> None:
    """A command name with spaces and parentheses (field 2 of /proc/PID/stat) does not shift
    the fields after it; the tick agrees with psutil's start time."""
    program = tmp_path / name
    program.symlink_to(sys.executable)
    process = subprocess.Popen([str(program), "-c", "import time; time.sleep(60)"])
    try:
        start = process_start(process.pid)
        assert start is not None
        boot, _, ticks = start.partition(":")
        assert boot == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        since_boot = psutil.Process(process.pid).create_time() - psutil.boot_time()
        assert abs(int(ticks) - since_boot * os.sysconf("SC_CLK_TCK")) <= 2
        assert process_start(process.pid) == start  # the same process, read again
        assert start != process_start(os.getpid())
    finally:
        process.kill()
        process.wait()
    assert process_start(process.pid) is None  # gone
