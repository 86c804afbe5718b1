#!/usr/bin/env python3
"""Recall and false-positive rate of `agentgate scan` on gitleaks' labeled samples.

Each sample of the corpus (see /work/shared/corpus/README.md) is written to its
own file in a temp dir (under its `path` when it has one); one
`agentgate scan --json` run covers them all. Expected result per sample is the
corpus' `default_config_hits`: non-empty = a secret, empty = benign.

  bench/scan/eval.py [--bin BUILD/bin/agentgate] [--corpus DIR] [--synth]

Prints, for (a) agentgate rules + imported gitleaks default config and (b)
agentgate rules only: recall on secrets, false-positive rate on benign
samples, and for (b) the gitleaks rule families it misses. Stdlib only.
"""
import argparse, collections, json, os, shutil, subprocess, sys, tempfile

def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]

def write_samples(records, root):
    index = {}
    for i, r in enumerate(records):
        rel = os.path.join("%05d" % i, r.get("path") or "sample.txt")
        full = os.path.join(root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(r["text"])
        index[full] = i
    return index

BUILTIN_DIR = None

def scan(binary, root, rules):
    cmd = [binary, "scan", "--json", "--honor-inline-allow"]
    if BUILTIN_DIR:
        cmd += ["--builtin-dir", BUILTIN_DIR]
    for r in rules:
        cmd += ["--rules", r]
    cmd.append(root)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit("scan failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    hits = collections.defaultdict(set)
    for line in p.stdout.splitlines():
        j = json.loads(line)
        if not j.get("allowed_inline"):
            hits[j["path"]].add(j["rule"])
    return hits

def score(name, records, index, hits):
    pos = [i for i, r in enumerate(records) if r["default_config_hits"]]
    neg = [i for i, r in enumerate(records) if not r["default_config_hits"]]
    found = {index[p] for p in hits if p in index}
    # path-only findings are reported on the file path itself
    tp = sum(1 for i in pos if i in found)
    fp = sum(1 for i in neg if i in found)
    recall = tp / len(pos) if pos else 0.0
    fpr = fp / len(neg) if neg else 0.0
    # weighted by distinct (rule, text): the corpus repeats some secrets a lot
    dpos = {(records[i]["rule"], records[i]["text"]) for i in pos}
    dtp = {(records[i]["rule"], records[i]["text"]) for i in pos if i in found}
    print("%-46s recall %.4f (%d/%d; distinct %d/%d)   FP rate %.4f (%d/%d)" %
          (name, recall, tp, len(pos), len(dtp), len(dpos), fpr, fp, len(neg)))
    return recall, fpr, found, pos, neg

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(here, "../../build-scan/bin/agentgate"))
    ap.add_argument("--corpus", default="/work/shared/corpus")
    ap.add_argument("--synth", action="store_true", help="also score the synthesized samples")
    ap.add_argument("--show-fp", action="store_true",
                    help="list the benign samples flagged and the secrets missed, in (a) and (b)")
    ap.add_argument("--builtin-dir", help="read the built-in pack from this policies/rules folder "
                    "(rule authors: no rebuild)")
    args = ap.parse_args()
    global BUILTIN_DIR
    BUILTIN_DIR = args.builtin_dir
    gitleaks = os.path.join(args.corpus, "gitleaks.toml")
    files = ["gitleaks-samples.jsonl"] + (["gitleaks-samples-synthesized.jsonl"] if args.synth else [])
    ok = True
    for fname in files:
        records = load(os.path.join(args.corpus, fname))
        root = tempfile.mkdtemp(prefix="ag-scan-eval-")
        try:
            index = write_samples(records, root)
            print("== %s: %d samples" % (fname, len(records)))
            ha = scan(args.bin, root, [gitleaks])
            ra, fa, found_a, pos, neg = score("(a) agentgate + gitleaks default config", records, index, ha)
            hb = scan(args.bin, root, [])
            rb, fb, found_b, _, _ = score("(b) agentgate rules only", records, index, hb)
            ok = ok and ra >= 0.97 and fa <= 0.02
            if args.show_fp:
                for i in neg:
                    if i in found_a:
                        print("  FP(a) rule=%s label=%s -> %s" % (records[i]["rule"], records[i]["label"],
                              sorted(ha[[p for p in index if index[p] == i][0]])))
                for i in pos:
                    if i not in found_a:
                        print("  FN(a) rule=%s hits=%s" % (records[i]["rule"], records[i]["default_config_hits"]))
            if args.show_fp:
                for i in neg:
                    if i in found_b:
                        print("  FP(b) rule=%s -> %s | %s" % (records[i]["rule"],
                              sorted(hb[[p for p in index if index[p] == i][0]]),
                              records[i]["text"][:160].replace("\n", "\\n")))
                for i in pos:
                    if i not in found_b:
                        print("  FN(b) rule=%s | %s" % (records[i]["rule"],
                              records[i]["text"][:160].replace("\n", "\\n")))
            missed = collections.Counter(records[i]["rule"] for i in pos if i not in found_b)
            covered = collections.Counter(records[i]["rule"] for i in pos if i in found_b)
            fams = sorted(r for r in missed if r not in covered)
            print("(b) families with no detected sample (%d): %s" % (len(fams), ", ".join(fams)))
            part = sorted("%s %d/%d" % (r, missed[r], missed[r] + covered[r]) for r in missed if r in covered)
            print("(b) families partly missed (missed/samples): %s" % ", ".join(part))
        finally:
            shutil.rmtree(root)
    print("targets for (a): recall >= 0.97, FP <= 0.02:", "met" if ok else "NOT met")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
