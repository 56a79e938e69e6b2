"""What machine a figure was measured on: every report that records one asks here."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict:
    """CPU model, core count and platform, for a report's record of where it ran."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(), "device": "cpu"}
