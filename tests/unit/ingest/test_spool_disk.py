"""The spool on a real tiny file system (a 64 KiB tmpfs; the tests run as root): a write the
disk refuses is ``SpoolFull`` with the OS error, leaves no partial file, and the spool takes
batches again once there is room."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.spool import Spool, SpoolFull
from storage.telemetry import Reading


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def batch(n: int, first: int = 0) -> list[Reading]:
    return [Reading("sm-1", "vwc_pct", 20.0, 1_700_000_000_000 + i, i, 0, "soil_moisture",
                    "field-1", "farm-a", "shuocheng") for i in range(first, first + n)]


def test_disk_full_is_spool_full_and_clears_when_room_returns(tiny_disk: Path) -> None:
    spool = Spool(tiny_disk / "farmtel-ingest")
    appended = 0
    with pytest.raises(SpoolFull) as refused:
        while True:
            spool.append(batch(100, appended * 100))
            appended += 1
    assert refused.value.disk_error is not None
    assert refused.value.disk_error.errno == errno.ENOSPC
    assert appended > 0 and len(spool) == appended
    assert not list((tiny_disk / "farmtel-ingest").glob("*.tmp"))  # no partial file left
    item = spool.peek()
    assert item is not None
    spool.remove(item[0])  # a replayed batch frees room
    spool.append(batch(10))
    assert len(spool) == appended
    assert Spool(tiny_disk / "farmtel-ingest").size_bytes == spool.size_bytes
