#!/usr/bin/python3
"""Validates mallocspy's reports: each *.json against the JSON report's schema
(share/report.schema.json), each *.sarif against tests/sarif.schema.json (the part of SARIF
2.1.0 that mallocspy writes and GitHub code scanning reads) and the rules between its parts
that a schema cannot state.  Run once per test program on the copies its tests kept
(tests/testutil.c), with Debian's python3-jsonschema.

Usage: validate_reports.py FILE|DIR...   Exits 1 when any file is invalid, naming each with
its first errors; 0 otherwise.
"""

import json
import os
import re
import sys

import jsonschema

HERE = os.path.dirname(os.path.realpath(__file__))
REPORT_SCHEMA = os.path.join(HERE, "..", "share", "report.schema.json")
SARIF_SCHEMA = os.path.join(HERE, "sarif.schema.json")
SHOWN = 5   # errors shown for each of the first invalid files

# RFC 3986: the characters a URI reference may hold, and percent-encoding.
URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")
ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def validator(path):
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(v, doc):
    return ["%s: %s" % (e.json_path, e.message)
            for e in sorted(v.iter_errors(doc), key=lambda e: list(e.path))]


def artifact_locations(run):
    """(JSON path, artifactLocation) of every physical location in the run's results."""
    for i, res in enumerate(run.get("results") or []):
        base = "$.results[%d]" % i
        places = [("%s.locations[%d]" % (base, k), loc)
                  for k, loc in enumerate(res.get("locations") or [])]
        for c, flow in enumerate(res.get("codeFlows") or []):
            for t, tf in enumerate(flow.get("threadFlows") or []):
                for k, tfl in enumerate(tf.get("locations") or []):
                    places.append(("%s.codeFlows[%d].threadFlows[%d].locations[%d].location"
                                   % (base, c, t, k), tfl.get("location") or {}))
        for where, loc in places:
            art = (loc.get("physicalLocation") or {}).get("artifactLocation")
            if art is not None:
                yield where, art


def sarif_rules(log):
    """What SARIF 2.1.0 and GitHub code scanning ask that the schema cannot say."""
    errs = []
    for r, run in enumerate(log.get("runs") or []):
        at = "$.runs[%d]" % r
        rules = ((run.get("tool") or {}).get("driver") or {}).get("rules") or []
        ids = [rule.get("id") for rule in rules]
        if len(set(ids)) != len(ids):
            errs.append("%s: rule ids are not unique" % at)
        bases = run.get("originalUriBaseIds") or {}
        for name, b in bases.items():
            uri = b.get("uri", "")
            if not (uri.startswith("file:///") and uri.endswith("/")) or not URI_CHARS.match(uri):
                errs.append("%s.originalUriBaseIds.%s: %r is not an absolute file URI of a "
                            "directory" % (at, name, uri))
        for i, res in enumerate(run.get("results") or []):
            rid, idx = res.get("ruleId"), res.get("ruleIndex")
            if idx is not None and (idx >= len(rules) or ids[idx] != rid):
                errs.append("%s.results[%d]: ruleIndex %s is not rule %r" % (at, i, idx, rid))
            if rid not in ids:
                errs.append("%s.results[%d]: ruleId %r names no rule" % (at, i, rid))
        for where, art in artifact_locations(run):
            uri, base = art.get("uri", ""), art.get("uriBaseId")
            if not URI_CHARS.match(uri):
                errs.append("%s%s: %r is not a URI (unescaped characters)" % (at, where[1:], uri))
            if base is not None:
                if base not in bases:
                    errs.append("%s%s: uriBaseId %r is not in originalUriBaseIds"
                                % (at, where[1:], base))
                if ABSOLUTE.match(uri) or uri.startswith("/"):
                    errs.append("%s%s: %r has a uriBaseId but is not relative"
                                % (at, where[1:], uri))
            elif not uri.startswith("file:///"):
                errs.append("%s%s: %r is relative without a uriBaseId, or not a file URI"
                            % (at, where[1:], uri))
    return errs


def files(args):
    for a in args:
        if os.path.isdir(a):
            for name in sorted(os.listdir(a)):
                if name.endswith((".json", ".sarif")):
                    yield os.path.join(a, name)
        else:
            yield a


def main(argv):
    if not argv:
        sys.stderr.write(__doc__)
        return 2
    report_v, sarif_v = validator(REPORT_SCHEMA), None
    good = bad = 0
    for path in files(argv):
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            errs = ["does not parse: %s" % e]
        else:
            if path.endswith(".sarif"):
                sarif_v = sarif_v or validator(SARIF_SCHEMA)
                errs = schema_errors(sarif_v, doc) or sarif_rules(doc)
            else:
                errs = schema_errors(report_v, doc)
        if errs:
            bad += 1
            print("INVALID %s" % path)
            # The first files in full; the rest by name (the same fault tends to repeat).
            for e in errs[:SHOWN if bad <= 3 else 0]:
                print("    %s" % e[:300])
            if bad <= 3 and len(errs) > SHOWN:
                print("    ... and %d more" % (len(errs) - SHOWN))
        else:
            good += 1
    print("%d report(s) valid, %d invalid" % (good, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
