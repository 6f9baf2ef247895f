"""Peak resident memory of the calling process, for the benchmarks' memory figures."""

from __future__ import annotations

import resource
from pathlib import Path

STATUS = Path("/proc/self/status")


def peak_rss_kib() -> int:
    """Peak resident set size of this process since it was exec'd, in KiB.

    On Linux this is ``VmHWM`` of ``/proc/self/status``, which starts afresh with the new
    address space at exec. ``ru_maxrss`` does not: it is carried across exec, so a child
    started with ``subprocess`` (vfork + exec) reports its parent's high-water mark whenever
    the parent was the bigger one. Elsewhere ``ru_maxrss`` (KiB on Linux and BSD) is the
    fallback.
    """
    if STATUS.is_file():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
