#!/usr/bin/env python3
"""Fails when two files of one folder of src/ import each other, directly or round a loop:
a shared type then lives in the wrong file (issue #13). Comments and test modules are
ignored; the crate's top-level modules are layers and are left to review."""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else "src"
cycles = []
for d, dirs, files in os.walk(root):
    if os.path.samefile(d, root):
        continue  # the crate's top-level modules are layers, checked by review
    mods = {}
    for f in files:
        if f.endswith(".rs"):
            mods[f[:-3]] = os.path.join(d, f)
    for sub in dirs:
        if os.path.exists(os.path.join(d, sub, "mod.rs")):
            mods[sub] = os.path.join(d, sub, "mod.rs")
    names = set(mods) - {"mod", "lib", "main"}
    rel = os.path.relpath(d, root).replace(os.sep, "::")
    prefix = "crate::" + ("" if rel == "." else rel + "::")
    edges = {n: set() for n in names}
    for n in names:
        text = open(mods[n]).read()
        text = re.split(r"#\[cfg\(test\)\]", text)[0]
        text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
        for m in re.finditer(r"\b(?:super|%s)::\{?([a-z_0-9, :{}]+)" % re.escape(prefix.rstrip(":")), text):
            for t in re.findall(r"\b([a-z_][a-z_0-9]*)\b", m.group(1)):
                if t in names and t != n:
                    edges[n].add(t)
                break
    # find cycles (pairs and longer) via DFS
    seen = set()
    def dfs(start, node, path):
        for nxt in edges[node]:
            if nxt == start and len(path) > 1:
                key = tuple(sorted(path))
                if key not in seen:
                    seen.add(key); cycles.append(f"{d}: " + " -> ".join(path + [start]))
            elif nxt not in path and len(path) < 6:
                dfs(start, nxt, path + [nxt])
    for n in names:
        dfs(n, n, [n])
for c in cycles:
    print(c)
sys.exit(1 if cycles else 0)
