"""The disk under the data dir fills up or turns read-only mid-run: every call still gets an answer (a clear
INTERNAL_ERROR naming the file for what needs a write), reads keep working, a job that ends meanwhile keeps its
result until it can be written, and the database passes `PRAGMA integrity_check` afterwards.

As root the disks are real (a tmpfs filled to the last byte; ext4 on a loop device that the kernel turns
read-only); elsewhere see tests/reliability/faults.py for the stand-ins.
"""

from __future__ import annotations

import pytest

from tests.reliability.crashes import DiskFault, disk_full, disk_read_only

pytestmark = pytest.mark.anyio


def intact(fault: DiskFault) -> None:
    assert fault.held["status"] == "completed" and fault.held["result"]["title"] == "Gated page", fault.held
    assert fault.next_job["status"] == "completed"
    assert fault.state["integrity"] == "ok"
    assert set(fault.state["statuses"]) == {"completed"}, fault.state
    assert fault.ledger_ok


def refused_clearly(fault: DiskFault, why: str) -> None:
    assert fault.refused is not None
    assert fault.refused["code"] == "INTERNAL_ERROR"
    assert "the data dir cannot be written" in fault.refused["error"] and why in fault.refused["error"]
    assert "browsa.db" in fault.refused["error"]
    assert fault.reads_ok


async def test_a_full_disk_refuses_new_work_clearly_and_loses_no_result() -> None:
    fault = await disk_full()
    refused_clearly(fault, "the disk is full")
    assert fault.held_while_refused == "running"  # its end waited for the disk instead of vanishing
    assert fault.held_fetches == 1  # kept, not run again
    intact(fault)


async def test_a_disk_that_turns_read_only_refuses_work_clearly_and_the_restarted_server_finds_all_intact() -> None:
    fault = await disk_read_only()
    if fault.kind == "ext4":
        refused_clearly(fault, "it may have gone read-only")
        # Started again on the broken disk: what only reads still works, what writes says why it cannot.
        assert fault.restart["read_rc"] == 0 and "balance:" in fault.restart["read_out"]
    assert fault.restart["stopped"]
    assert fault.restart["write_rc"] == 1, fault.restart
    assert "the data dir cannot be written" in fault.restart["write_err"], fault.restart
    intact(fault)  # the held job was rescued from the stopped server and run again on the repaired disk
