#!/usr/bin/env python3
"""Accepts the current public API: rebuilds the shipping projects and records every symbol the
PublicApiAnalyzers report as undeclared (RS0016) into PublicAPI.Unshipped.txt, and drops the ones
reported as removed (RS0017). Run it after an intended public API change, then review the diff."""
import collections, os, re, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
projects = ["src/SpanBuffer.Models", "src/SpanBuffer"]
pattern = re.compile(r"^(?P<file>/[^(]+)\(\d+,\d+\): error (?P<code>RS001[67]): Symbol '(?P<sym>.*)' is (?:not part of the declared public API|part of the declared API, but is either not public or could not be found).*\[(?P<proj>[^\]]+\.csproj)")
for project in projects:
    for _ in range(3):
        out = subprocess.run(["dotnet", "build", os.path.join(root, project), "--no-incremental", "-p:TreatWarningsAsErrors=true"],
                             capture_output=True, text=True).stdout
        adds, removes = collections.defaultdict(set), collections.defaultdict(set)
        for line in out.splitlines():
            m = pattern.match(line.strip())
            if not m:
                continue
            proj_dir = os.path.dirname(m.group("proj"))
            (adds if m.group("code") == "RS0016" else removes)[proj_dir].add(m.group("sym"))
        if not adds and not removes:
            break
        for proj_dir in set(adds) | set(removes):
            path = os.path.join(proj_dir, "PublicAPI.Unshipped.txt")
            lines = [l for l in open(path).read().splitlines() if l and not l.startswith("#")]
            current = set(lines) - removes[proj_dir]
            current |= adds[proj_dir]
            with open(path, "w") as f:
                f.write("#nullable enable\n" + "".join(s + "\n" for s in sorted(current)))
    print(project, "ok")
