#!/usr/bin/env python3
"""Generates golden.csv, the golden data set of the analytics tests.

Run once; the CSV is checked in and the tests read it (this script is kept
to show how it was made, and is not run by the tests). Deterministic: seed 15.
Every trade is one entry fill and one exit fill; trades of one account never
overlap in time, so each round trip is exactly one trade.
"""
import csv, random, datetime as dt
from zoneinfo import ZoneInfo

rnd = random.Random(15)
UTC = dt.timezone.utc
NY, BER = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")

rows = []

def money(x, places=2):
    return f"{x:.{places}f}"

def add(account, symbol, cls, mult, direction, qty, entry, exit_, t_in, t_out, c_in, f_in, c_out, f_out, risk, playbook, followed, tags):
    rows.append(dict(account=account, symbol=symbol, asset_class=cls, multiplier=mult, direction=direction, quantity=qty,
                     entry_price=entry, exit_price=exit_, entry_at=t_in.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     exit_at=t_out.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), entry_commission=c_in, entry_fees=f_in,
                     exit_commission=c_out, exit_fees=f_out, initial_risk=risk, playbook=playbook, followed=followed, tags=tags))

TAGS = ["breakout", "pullback", "FOMO", "Überhandelt", "Δ-neutral"]
PLAYBOOKS = {"Opening Range Breakout": 3, "Trend Pullback": 2}

def annotate():
    risk = "" if rnd.random() < 0.2 else money(rnd.choice([50, 75, 100, 125.5, 200, 250]))
    pb = rnd.choice(["", "", "Opening Range Breakout", "Trend Pullback"])
    followed = ""
    if pb:
        n = PLAYBOOKS[pb]
        followed = str(rnd.choice([n, n, n - 1, 0]))
    tags = "|".join(sorted(rnd.sample(TAGS, rnd.choice([0, 0, 1, 1, 2]))))
    return risk, pb, followed, tags

# US Main (USD, band 1.00, the user's zone New York): stocks in the session, crypto on weekends.
t = dt.datetime(2026, 1, 5, 9, 35, tzinfo=NY)
stocks = ["AAPL", "MSFT", "NVDA", "TSLA", "SPY"]
for i in range(118):
    sym = rnd.choice(stocks)
    cls = "etf" if sym == "SPY" else "stock"
    direction = "short" if rnd.random() < 0.35 else "long"
    qty = rnd.choice([10, 25, 50, 100, 150])
    entry = round(rnd.uniform(80, 600), 2)
    kind = rnd.random()
    if kind < 0.08:
        exit_ = entry  # breakeven before fees; fees keep it within the band
        c_in = c_out = "0.35"; f_in = f_out = "0.00"
    else:
        move = round(rnd.gauss(0.15, 1.6), 2)
        exit_ = round(entry + move, 2)
        c_in, c_out = "1.00", "1.00"
        f_in, f_out = "0.00", money(rnd.choice([0.02, 0.0312, 0.11, 0.5]), 4)
    hold = dt.timedelta(minutes=rnd.choice([0.5, 2, 4, 9, 14, 31, 55, 130, 250, 400]))
    t_in = t
    t_out = t_in + hold
    risk, pb, followed, tags = annotate()
    add("US Main", sym, cls, "1", direction, str(qty), money(entry), money(exit_), t_in, t_out, c_in, f_in, c_out, f_out, risk, pb, followed, tags)
    # next trade: later the same day, or the next weekday's open
    nxt = t_out + dt.timedelta(minutes=rnd.choice([5, 20, 45]))
    if nxt.hour >= 15 or rnd.random() < 0.5:
        d = (t_in + dt.timedelta(days=1)).date()
        while d.weekday() >= 5:
            d += dt.timedelta(days=1)
        nxt = dt.datetime(d.year, d.month, d.day, 9, rnd.choice([31, 35, 40, 50]), tzinfo=NY)
    t = nxt
    if t.date() >= dt.date(2026, 6, 30):
        t = dt.datetime(2026, 9, 1, 9, 35, tzinfo=NY)

# Crypto around the US DST changes (2026-03-08 spring forward, 2026-11-01
# fall back, whose 01:00-02:00 happens twice) and around local midnight.
dst = [
    (dt.datetime(2026, 3, 7, 22, 10), dt.timedelta(hours=5)),   # closes 04:10 EDT on the 8th (the 02:00 hour is skipped)
    (dt.datetime(2026, 3, 8, 0, 30), dt.timedelta(hours=1, minutes=45)),  # closes 03:15 EDT
    (dt.datetime(2026, 3, 8, 23, 40), dt.timedelta(minutes=50)),  # closes 00:30 on the 9th
    (dt.datetime(2026, 10, 31, 23, 30), dt.timedelta(hours=2)),   # closes 01:30 EST (the second 01:30)
    (dt.datetime(2026, 11, 1, 0, 50), dt.timedelta(minutes=20)),  # closes 01:10 EDT (the first 01:10)
    (dt.datetime(2026, 11, 1, 23, 55), dt.timedelta(minutes=10)), # closes 00:05 on the 2nd
]
for k, (start, hold) in enumerate(dst):
    t_in = start.replace(tzinfo=NY)
    t_out = (t_in.astimezone(UTC) + hold).astimezone(NY)
    entry = round(rnd.uniform(60000, 70000), 2)
    exit_ = round(entry + rnd.gauss(0, 400), 2)
    risk, pb, followed, tags = annotate()
    add("US Main", ["BTC-USD", "ETH-USD"][k % 2], "crypto", "1", rnd.choice(["long", "short"]), "0.05", money(entry), money(exit_), t_in, t_out,
        "1.25", "0.0000", "1.25", "0.0125", risk, pb, followed, tags)

# US Futures (USD, band 0): ES and MES, multipliers 50 and 5.
t = dt.datetime(2026, 2, 2, 9, 45, tzinfo=NY)
for i in range(52):
    sym, mult = rnd.choice([("ESH26", "50"), ("MESH26", "5"), ("ESM26", "50")])
    if t.date() > dt.date(2026, 3, 13) and sym.endswith("H26"):
        sym = sym.replace("H26", "M26")
    direction = rnd.choice(["long", "short"])
    qty = rnd.choice([1, 1, 2, 3])
    entry = rnd.randint(22000, 24000) + rnd.choice([0, 0.25, 0.5, 0.75])
    ticks = rnd.choice([-12, -8, -5, -3, -1, 0, 0, 1, 2, 4, 6, 10, 16])
    exit_ = entry + ticks * 0.25
    c = "2.25" if mult == "50" else "0.62"
    f = "1.38" if mult == "50" else "0.35"
    if ticks == 0 and rnd.random() < 0.5:
        c = f = "0.00"  # an exact breakeven
    hold = dt.timedelta(minutes=rnd.choice([1, 3, 7, 12, 25, 48, 90]))
    risk, pb, followed, tags = annotate()
    add("US Futures", sym, "future", mult, direction, str(qty), f"{entry:.2f}", f"{exit_:.2f}", t, t + hold, c, f, c, f, risk, pb, followed, tags)
    t = t + hold + dt.timedelta(minutes=rnd.choice([10, 30, 240, 1440, 2880]))
    while t.weekday() >= 5:
        t += dt.timedelta(days=1)

# Zürich Swing € (EUR, band 0, zone Europe/Berlin): swing trades, some
# across the EU DST changes (2026-03-29, 2026-10-25) and local midnight.
t = dt.datetime(2026, 1, 12, 9, 5, tzinfo=BER)
eu = ["SAP", "ASML", "SIE", "EXS1"]
for i in range(70):
    sym = rnd.choice(eu)
    cls = "etf" if sym == "EXS1" else "stock"
    direction = "short" if rnd.random() < 0.25 else "long"
    qty = rnd.choice([5, 10, 20, 40])
    entry = round(rnd.uniform(100, 700), 2)
    exit_ = round(entry * (1 + rnd.gauss(0.004, 0.03)), 2)
    if rnd.random() < 0.06:
        exit_ = entry
        c_in = c_out = "0.00"
    else:
        c_in, c_out = "4.90", "4.90"
    hold = dt.timedelta(hours=rnd.choice([3, 20, 26, 50, 75, 170, 200]))
    t_out = t + hold
    risk, pb, followed, tags = annotate()
    add("Zürich Swing €", sym, cls, "1", direction, str(qty), money(entry), money(exit_), t, t_out, c_in, "0.00", c_out, "0.00", risk, pb, followed, tags)
    t = t_out + dt.timedelta(hours=rnd.choice([2, 16, 40]))

# VOW3 closes in the small hours of the EU DST Sundays and two minutes
# before local midnight.
for t_in, t_out in [
    (dt.datetime(2026, 3, 27, 10, 0, tzinfo=BER), dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),   # 03:00 CEST, just after the jump
    (dt.datetime(2026, 10, 23, 10, 0, tzinfo=BER), dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # 02:30 CEST, the first 02:30
    (dt.datetime(2026, 10, 26, 10, 0, tzinfo=BER), dt.datetime(2026, 10, 26, 22, 58, tzinfo=UTC)), # 23:58 CET
]:
    entry = round(rnd.uniform(90, 120), 2)
    exit_ = round(entry + rnd.gauss(0, 3), 2)
    risk, pb, followed, tags = annotate()
    add("Zürich Swing €", "VOW3", "stock", "1", "long", "30", money(entry), money(exit_), t_in, t_out, "4.90", "0.00", "4.90", "0.00", risk, pb, followed, tags)

from collections import defaultdict
pos = defaultdict(list)
for r in rows:
    assert r["exit_at"] > r["entry_at"], r
    pos[(r["account"], r["symbol"])].append((r["entry_at"], r["exit_at"]))
for k, v in pos.items():
    v.sort()
    for a, b in zip(v, v[1:]):
        assert b[0] > a[1], ("overlapping trades", k, a, b)

# No two trades close at the same instant (the order of ties is by ID).
closes = [r["exit_at"] for r in rows]
assert len(closes) == len(set(closes)), "duplicate close instants"
with open("golden.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)
print(len(rows), "trades")
