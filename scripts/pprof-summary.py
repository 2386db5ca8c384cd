#!/usr/bin/env python3
"""Sorts the API server's CPU profiles from `make bench` (target/bench/*.pprof.gz, Go's
pprof format: gzipped protobuf) into what the server spends its CPU on, and prints a
Markdown table, one column per profile. Each sample counts for the first category any
frame of its stack matches, in the order below. Reads files; no other I/O."""
import collections
import gzip
import os
import sys

# (category, substrings of Go function names), first match wins.
CATEGORIES = [
    ("garbage collection", ["runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcAssist"]),
    ("managed fields and server-side apply", ["fieldmanager", "structured-merge-diff"]),
    ("schema and CEL validation", ["/cel", "apiserver/validation", "kube-openapi/pkg/validation", "schemaobjectmeta", "apiserver/schema", "pkg/registry/customresource.(*statusStrategy).Validate", "customResourceStrategy).Validate"]),
    ("watch cache and watch fan-out", ["storage/cacher"]),
    ("etcd client (gRPC)", ["storage/etcd3", "go.etcd.io/etcd/client", "google.golang.org/grpc", "golang.org/x/net/http2/hpack"]),
    ("decoding and encoding objects", ["encoding/json", "sigs.k8s.io/json", "runtime/serializer", "json-iterator", "unstructured", "protobuf"]),
    ("HTTP and TLS", ["net/http", "crypto/tls", "golang.org/x/net/http2", "crypto/"]),
    ("authentication, authorization, audit, filters", ["endpoints/filters", "authentication", "authorization", "audit", "server/filters"]),
    ("request handling (other)", ["endpoints/handlers"]),
]


def varint(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        f, t = key >> 3, key & 7
        if t == 0:
            v, i = varint(b, i)
        elif t == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif t == 1:
            v, i = b[i:i + 8], i + 8
        elif t == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {t}")
        yield f, t, v


def numbers(t, v):
    if t == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


def stacks(path):
    """(function names leaf first, CPU nanoseconds) per sample."""
    b = gzip.decompress(open(path, "rb").read())
    samples, locations, functions, strings = [], {}, {}, []
    for f, t, v in fields(b):
        if f == 2:  # Sample
            ids, values = [], []
            for g, tt, vv in fields(v):
                if g == 1:
                    ids += numbers(tt, vv)
                elif g == 2:
                    values += numbers(tt, vv)
            samples.append((ids, values[-1] if values else 0))
        elif f == 4:  # Location
            lid, fids = 0, []
            for g, tt, vv in fields(v):
                if g == 1:
                    lid = vv
                elif g == 4:
                    fids += [v3 for h, _, v3 in fields(vv) if h == 1]
            locations[lid] = fids
        elif f == 5:  # Function
            fid = name = 0
            for g, tt, vv in fields(v):
                if g == 1:
                    fid = vv
                elif g == 2:
                    name = vv
            functions[fid] = name
        elif f == 6:
            strings.append(v.decode("utf-8", "replace"))
    out = []
    for ids, ns in samples:
        names = [strings[functions.get(f, 0)] for l in ids for f in locations.get(l, [])]
        out.append((names, ns))
    return out


def category(names):
    for name, keys in CATEGORIES:
        if any(k in n for n in names for k in keys):
            return name
    return "other"


def main(paths):
    columns = []
    for p in paths:
        try:
            st = stacks(p)
        except (OSError, ValueError, IndexError) as e:
            print(f"<!-- {p}: unreadable ({e}) -->")
            continue
        total = sum(ns for _, ns in st)
        if total == 0:
            continue
        by = collections.Counter()
        for names, ns in st:
            by[category(names)] += ns
        label = os.path.basename(p).removesuffix(".pprof.gz")
        columns.append((label, total, by))
    if not columns:
        print("No API server profile was taken.")
        return
    names = [c for c, _ in CATEGORIES] + ["other"]
    print("| share of the API server's CPU | " + " | ".join(f"`{l}`" for l, _, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    print("| CPU seconds sampled | " + " | ".join(f"{t / 1e9:.1f}" for _, t, _ in columns) + " |")
    for n in names:
        print(f"| {n} | " + " | ".join(f"{100 * by[n] / t:.1f} %" for _, t, by in columns) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
