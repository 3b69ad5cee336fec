"""The capacity benchmarks' CPU groups: a warm template is the harness's, its forks (which keep
the template's command line) are the functions'."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.bench.syncwell_capacity import _is_template


def test_a_fork_of_a_template_is_a_function_not_a_template(tmp_path: Path) -> None:
    script = tmp_path / "zygote.py"
    script.write_text(
        "import os, sys, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(30)\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
        "time.sleep(30)\n"
    )
    template = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert template.stdout is not None
        fork = int(template.stdout.readline())
        time.sleep(0.1)
        assert _is_template(psutil.Process(template.pid))
        assert not _is_template(psutil.Process(fork))  # same argv, but its parent is a template
        assert not _is_template(psutil.Process())  # not a template at all
    finally:
        for proc in psutil.Process(template.pid).children():
            proc.kill()
        template.kill()
        template.wait()
        if template.stdout is not None:
            template.stdout.close()
