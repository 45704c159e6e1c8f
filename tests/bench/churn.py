"""Python dict/list churn for `make bench` (scripts/bench.py): run by Debian's /usr/bin/python3.

Usage: python3 churn.py [ROUNDS]

Each round builds dicts of records keyed by strings, lists of tuples and nested
containers, updates, sorts, copies and deletes part of them, and keeps a sliding window
of rounds alive, so that blocks of many sizes are allocated and freed all the time.
Python serves objects of up to 512 bytes from its own pools; the bodies, histories,
attribute dicts and temporaries here are often larger, so they come from malloc.
Deterministic (seeded random, insertion-ordered dicts; no set or hash order is used);
prints one checksum.
"""
import random
import sys
import zlib


def make_record(rng, i):
    name = "item-%d-%x" % (i, rng.getrandbits(32))
    # Objects over 512 bytes come from malloc rather than from Python's own small-object
    # allocator: the body text, the history list and the attribute dict mostly do.
    return {
        "id": i,
        "name": name,
        "tags": [name[j:j + 3] for j in range(0, min(len(name), 12), 3)],
        "score": rng.random() * 100.0,
        "pos": (rng.randint(-1000, 1000), rng.randint(-1000, 1000)),
        "body": name * rng.randint(4, 120),
        "hist": [rng.randint(0, 99) for _ in range(rng.randint(40, 120))],
        "attrs": {"a%d" % k: k * i for k in range(rng.randint(8, 40))},
    }


def one_round(rng, r, size):
    table = {}
    for i in range(size):
        rec = make_record(rng, r * size + i)
        table[rec["name"]] = rec
    # update a third, delete a quarter
    keys = list(table)
    for k in keys[::3]:
        rec = table[k]
        rec["score"] += 1.5
        rec["tags"].append(k[-4:])
        rec["extra"] = {"n": len(rec["tags"]), "s": k.upper()}
        rec["body"] = rec["body"].upper() + k
        rec["hist"].extend(rec["hist"][:20])
        rec["attrs"]["x"] = len(rec["body"])
    for k in keys[1::4]:
        del table[k]
    checksum = 0
    for _ in range(3):      # temporaries: copies, sorts, slices and joins, dropped at once
        for rec in table.values():
            h = sorted(rec["hist"])
            b = rec["body"][::-1]
            a = dict(rec["attrs"])
            t = ",".join(map(str, h[:90]))
            checksum += h[len(h) // 2] + len(b) + len(a) + len(t)
    rows = sorted(((rec["score"], rec["id"], rec["name"]) for rec in table.values()),
                  reverse=True)
    groups = {}
    for score, ident, name in rows:
        groups.setdefault(int(score) // 10, []).append(name)
    text = ";".join("%d:%d" % (g, len(v)) for g, v in sorted(groups.items()))
    words = [w * 2 for w in text.split(";")] + [str(checksum)]
    return table, rows[: size // 8], zlib.crc32(" ".join(words).encode())


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rng = random.Random(1234)
    window = []
    crc = 0
    for r in range(rounds):
        table, top, c = one_round(rng, r, 4000)
        window.append((table, top))
        if len(window) > 4:
            window.pop(0)
        crc = zlib.crc32(("%d %d %s" % (c, len(table), top[0][2])).encode(), crc)
    total = sum(len(t) for t, _ in window)
    print("churn.py: %d rounds, %d records kept, checksum %08x" % (rounds, total, crc))


main()
