"""The guarantee test's verdict (guarantee/verdict.py) on made-up observations: a clean run has no
breach, and each way of breaking the contract is caught, so the eight-minute test can fail."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "guarantee"))
from verdict import Observed, verdict  # noqa: E402

PROMISED = 10
LIFETIMES = 5


def clean() -> Observed:
    consumers = {}
    for name in ("python", "js"):
        records = []
        for k in range(LIFETIMES):
            nbf, exp = 1000 + 90 * k - 300, 1000 + 90 * k + 90
            records.append({"kind": "read", "at": exp - 85, "remaining": 80.0})
            records += [{"kind": "call", "at": exp - 85 + 3 * i, "status": 200, "nbf": nbf, "exp": exp} for i in range(25)]
        records.append({"kind": "done", "reads": LIFETIMES, "failures": 0})
        consumers[name] = records
    calls = sum(1 for r in consumers.values() for c in r if c["kind"] == "call")
    return Observed(consumers, [20.0, 45.5, 80.0], {200: calls}, LIFETIMES + 2)


def first_call(seen: Observed) -> dict:
    return next(r for r in seen.consumers["js"] if r["kind"] == "call")


def call_at_exp(seen):
    c = first_call(seen)
    c["at"] = c["exp"]


def call_before_nbf(seen):
    c = first_call(seen)
    c["at"] = c["nbf"] - 0.001


def call_answered_401(seen):
    first_call(seen)["status"] = 401
    seen.powerbi = {200: seen.powerbi[200] - 1, 401: 1}


def read_within_margin(seen):
    next(r for r in seen.consumers["python"] if r["kind"] == "read")["remaining"] = PROMISED - 0.1


def sample_within_margin(seen):
    seen.sampled.append(PROMISED - 0.5)


def emulator_rejected_a_call(seen):
    seen.powerbi = {200: seen.powerbi[200], 401: 1}


def too_few_versions(seen):
    seen.versions = LIFETIMES - 1


def consumer_did_not_finish(seen):
    seen.consumers["js"] = [r for r in seen.consumers["js"] if r["kind"] != "done"]


def consumer_error(seen):
    seen.consumers["python"].append({"kind": "error", "at": 1500.0, "message": "GET answered 500"})


def test_a_clean_run_has_no_breach():
    breaches, figures = verdict(clean(), PROMISED, LIFETIMES)
    assert breaches == []
    assert "smallest remaining lifetime seen by consumers at read time 80.0 s" in figures
    assert "sampled every second 20.0 s" in figures


@pytest.mark.parametrize(
    "breach, expected",
    [
        (call_at_exp, "used a token expired at"),
        (call_before_nbf, "used a token valid from"),
        (call_answered_401, "was answered 401"),
        (read_within_margin, "read a token with 9.9 s left, 10 s promised"),
        (sample_within_margin, "the current version had 9.5 s left, 10 s promised"),
        (emulator_rejected_a_call, "the Power BI API answered"),
        (too_few_versions, "only 4 token versions written"),
        (consumer_did_not_finish, "js: the consumer did not finish"),
        (consumer_error, "python: GET answered 500"),
    ],
)
def test_each_breach_is_caught(breach, expected):
    seen = clean()
    breach(seen)
    breaches, _ = verdict(seen, PROMISED, LIFETIMES)
    assert any(expected in b for b in breaches), breaches
