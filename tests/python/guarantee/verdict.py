"""What the guarantee test concludes from what it observed: the breaches of the contract (each a
sentence) and the figures. Kept apart from the eight-minute run so that tests/python/
test_guarantee_verdict.py can show, in a second, that each kind of breach is caught."""

from dataclasses import dataclass


@dataclass
class Observed:
    """`consumers`: per consumer, its JSON lines (read, call, error, done); `sampled`: the current
    version's remaining lifetime in seconds, sampled by the test; `powerbi`: the emulator's
    answers to the Power BI API by status; `versions`: token versions written."""

    consumers: dict[str, list[dict]]
    sampled: list[float]
    powerbi: dict[int, int]
    versions: int


def verdict(seen: Observed, promised: float, lifetimes: int) -> tuple[list[str], str]:
    """(breaches, figures): every call answered 200 and made within the token's own
    [nbf, exp); at least `promised` seconds left at every read and every sample; the daemon
    wrote and each consumer used a token per lifetime; the emulator saw exactly these calls."""
    breaches, figures, least_read, calls_total = [], [], [], 0
    for name, records in seen.consumers.items():
        calls = [r for r in records if r["kind"] == "call"]
        reads = [r for r in records if r["kind"] == "read"]
        calls_total += len(calls)
        if not any(r["kind"] == "done" for r in records):
            breaches.append(f"{name}: the consumer did not finish")
        breaches += [f"{name}: {r['message']}" for r in records if r["kind"] == "error"]
        for c in calls:
            if c["status"] != 200:
                breaches.append(f"{name}: a call at {c['at']:.3f} was answered {c['status']}")
            if c["exp"] is None or c["at"] >= c["exp"]:
                breaches.append(f"{name}: a call at {c['at']:.3f} used a token expired at {c['exp']}")
            if c["nbf"] is None or c["at"] < c["nbf"]:
                breaches.append(f"{name}: a call at {c['at']:.3f} used a token valid from {c['nbf']}")
        tokens_used = len({c["exp"] for c in calls})
        if tokens_used < lifetimes:
            breaches.append(f"{name}: used {tokens_used} tokens over {lifetimes} lifetimes")
        if not reads:
            breaches.append(f"{name}: never read the secret")
            continue
        least = min(r["remaining"] for r in reads)
        least_read.append(least)
        if least < promised:
            breaches.append(f"{name}: read a token with {least:.1f} s left, {promised} s promised")
        figures.append(
            f"{name}: {len(calls)} calls, {len(reads)} reads, {tokens_used} tokens used, "
            f"smallest remaining lifetime at read {least:.1f} s"
        )
    least_sampled = min(seen.sampled, default=float("nan"))
    if not seen.sampled or least_sampled < promised:
        breaches.append(f"the current version had {least_sampled:.1f} s left, {promised} s promised")
    if set(seen.powerbi) != {200} or seen.powerbi[200] != calls_total:
        breaches.append(f"the Power BI API answered {seen.powerbi} to {calls_total} calls")
    if seen.versions < lifetimes:
        breaches.append(f"only {seen.versions} token versions written over {lifetimes} lifetimes")
    figures.append(
        f"guarantee: {seen.versions} token versions written; {calls_total} Power BI calls, answers "
        f"by status {seen.powerbi}; smallest remaining lifetime seen by consumers at read time "
        f"{min(least_read, default=float('nan')):.1f} s, of the current version sampled every "
        f"second {least_sampled:.1f} s ({len(seen.sampled)} samples); promised margin {promised} s"
    )
    return breaches, "\n".join(figures)
