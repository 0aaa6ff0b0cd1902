"""The fault report counts what happened (no VM needed): a failed run is a run but no survivor,
data seen lost is counted, the record is written before the failure reaches pytest, and the
failure still fails the test."""
import json

import pytest

import conftest
from conftest import fault_counts


class Result:
    """The parts of a finished `pen` command that FaultCounts.kept reads."""

    def __init__(self, returncode, stdout):
        self.returncode, self.stdout = returncode, stdout


@pytest.fixture
def report(tmp_path, monkeypatch):
    path = tmp_path / "faults.jsonl"
    monkeypatch.setattr(conftest, "FAULT_REPORT", str(path))

    def records():
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return records


def test_a_failed_run_is_counted_and_recorded_and_still_fails(report):
    with pytest.raises(AssertionError, match="the guest lost its file"):
        with fault_counts("a fault") as faults:
            with faults.run():
                assert False, "the guest lost its file"
    assert report() == [dict(fault="a fault", runs=1, survivors=0, data_lost=0,
                             failed="AssertionError: the guest lost its file")]


def test_runs_stop_at_the_first_failure_with_the_data_lost_before_it(report):
    done = []
    with pytest.raises(AssertionError):
        with fault_counts("a fault", outcomes={"kind": 2}) as faults:
            for run in range(5):
                with faults.run():
                    done.append(run)
                    if run == 2:
                        faults.lost()
                        assert run != 2, "synced up to 7, found 3"
    assert done == [0, 1, 2]
    [record] = report()
    assert (record["runs"], record["survivors"], record["data_lost"]) == (3, 2, 1)
    assert record["outcomes"] == {"kind": 2}
    assert record["failed"].startswith("AssertionError: synced up to 7, found 3")


def test_any_exception_in_a_run_fails_it(report):
    with pytest.raises(TimeoutError):
        with fault_counts("a fault") as faults:
            with faults.run():
                pass
            with faults.run():
                raise TimeoutError("pen never answered")
    [record] = report()
    assert (record["runs"], record["survivors"], record["failed"]) == (2, 1, "TimeoutError: pen never answered")


def test_a_failure_after_the_runs_is_recorded_with_the_runs_it_followed(report):
    with pytest.raises(AssertionError):
        with fault_counts("a fault") as faults:
            for _ in range(2):
                with faults.run():
                    pass
            assert faults.kept(Result(1, b"cat: /root/kept: No such file\n"), b"kept\n"), "the VM lost its data"
    [record] = report()
    assert (record["runs"], record["survivors"], record["data_lost"]) == (2, 2, 1)
    assert record["failed"].startswith("AssertionError: the VM lost its data")


def test_pen_failing_before_the_guest_answers_is_no_data_lost(report):
    with pytest.raises(AssertionError):
        with fault_counts("a fault") as faults:
            with faults.run():
                assert faults.kept(Result(125, b""), b"kept\n")
    [record] = report()
    assert (record["runs"], record["survivors"], record["data_lost"]) == (1, 0, 0)


def test_runs_that_all_held_are_all_survivors(report):
    with fault_counts("a fault") as faults:
        for _ in range(3):
            with faults.run():
                assert faults.kept(Result(0, b"kept\n"), b"kept\n")
    assert report() == [dict(fault="a fault", runs=3, survivors=3, data_lost=0, failed=None)]


def test_a_skip_is_no_run_and_writes_nothing(report):
    with pytest.raises(pytest.skip.Exception):
        with fault_counts("a fault") as faults:
            with faults.run():
                pytest.skip("needs root")
    assert report() == []
    assert faults.runs == 0


def test_without_a_report_file_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "FAULT_REPORT", None)
    monkeypatch.chdir(tmp_path)
    with fault_counts("a fault") as faults:
        with faults.run():
            pass
    assert (faults.runs, faults.survivors) == (1, 1)
    assert list(tmp_path.iterdir()) == []
