"""Domain ids held by one run are skipped by every other run on the machine."""

import subprocess
import sys

import pytest

from lerobot_bringup import domains


@pytest.fixture
def few_ids(tmp_path, monkeypatch):
    monkeypatch.setattr(domains, "LOCK_DIR", tmp_path)
    monkeypatch.setattr(domains, "DOMAIN_IDS", range(5, 8))


def test_an_id_held_by_another_process_is_skipped_until_it_ends(few_ids, tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, pathlib\nfrom lerobot_bringup import domains\n"
         f"domains.LOCK_DIR = pathlib.Path({str(tmp_path)!r}); domains.DOMAIN_IDS = range(5, 8)\n"
         "held = domains.reserve_domain_id(0)\nprint(held[0], flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "5"
    with domains.reserved_domain_id(0) as mine:
        assert mine == 6  # 5 is the other process's
    holder.stdin.close()
    holder.wait(timeout=10)
    with domains.reserved_domain_id(0) as mine:
        assert mine == 5  # its lock died with it


def test_ids_wrap_around_and_running_out_names_the_fix(few_ids):
    with domains.reserved_domain_id(2) as first, domains.reserved_domain_id(2) as second:
        assert (first, second) == (7, 5)
        with domains.reserved_domain_id() as third:
            assert third == 6
            with pytest.raises(RuntimeError, match=r"held by other runs.*remove stale locks"):
                domains.reserve_domain_id()
