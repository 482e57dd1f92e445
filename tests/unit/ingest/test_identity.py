"""Worker identity slots: ``flock`` on lock files under the spool root, released when the
holding process dies however it dies (real processes, real locks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ingest.identity import Claim, claim_slot, orphans, slot_id
from tests.helpers import wait_for

HOLD = """
import sys, time
from pathlib import Path
from ingest.identity import claim_slot
claim = claim_slot(Path(sys.argv[1]), "farmtel-ingest")
print(claim.client_id, flush=True)
time.sleep(600)
"""


def test_slots_are_claimed_lowest_free_first(tmp_path: Path) -> None:
    first = claim_slot(tmp_path, "farmtel-ingest")
    second = claim_slot(tmp_path, "farmtel-ingest")
    assert (first.client_id, second.client_id) == ("farmtel-ingest", "farmtel-ingest-1")
    assert first.directory == tmp_path / "farmtel-ingest"
    first.release()
    again = claim_slot(tmp_path, "farmtel-ingest")
    assert again.client_id == "farmtel-ingest"  # a replacement takes the free slot back
    assert slot_id("farmtel-ingest", 3) == "farmtel-ingest-3"


def test_a_killed_holder_frees_its_slot_for_a_replacement(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[3])
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"farmtel-ingest"
        mine = claim_slot(tmp_path, "farmtel-ingest")
        assert mine.client_id == "farmtel-ingest-1"  # slot 0 is held by a live process
        assert [c.client_id for c in orphans(tmp_path, exclude=mine.client_id)] == []
        holder.kill()  # SIGKILL: no clean shutdown
        holder.wait(10)
        found: list[Claim] = []

        def orphaned() -> bool:
            found.extend(orphans(tmp_path, exclude=mine.client_id))
            return bool(found)

        wait_for(orphaned, 10, "the killed holder's slot is an orphan")
        assert [c.client_id for c in found] == ["farmtel-ingest"]
        for claim in found:
            claim.release()
    finally:
        holder.kill()
        holder.wait(10)


def test_orphans_include_folders_of_the_host_name_layout(tmp_path: Path) -> None:
    (tmp_path / "farmtel-ingest-3f9a2c1d7e").mkdir()  # a spool of the earlier layout
    mine = claim_slot(tmp_path, "farmtel-ingest")
    found = list(orphans(tmp_path, exclude=mine.client_id))
    assert [c.client_id for c in found] == ["farmtel-ingest-3f9a2c1d7e"]
    assert claim_slot(tmp_path, "farmtel-ingest").client_id == "farmtel-ingest-1"
    for claim in found:
        claim.release()
