#!/usr/bin/env python3
"""Checks the module graph of each crate: no import cycle and no arrow upwards.

Usage: scripts/check-modules.py [--verbose] [CRATE_SRC_DIR ...]   (default: every src/*/src)
       scripts/check-modules.py --self-test   (checks the checker on fake crates)

Nodes are a crate's modules (one per file: `a.rs` or `a/mod.rs` is `a`, `a/b.rs` is `a::b`;
inline `mod x { ... }` blocks count as their file). An edge M -> N is a path M names that
resolves into module N: `crate::n::Item`, `super::n`, `self::n` in `use` items and in code.
Test code (`#[cfg(test)]` modules and files under a `tests` module) is left out: tests may
reach into what they test.

It reports:
- cycles: modules that reach each other (a strongly connected component of more than one
  module), with one cycle spelled out;
- upward arrows: a module that uses its own ancestor (`super::Item` of a parent `mod.rs`):
  children take shared types from a leaf module, not from their parent.

Exits 1 when it finds either, 0 otherwise. `--self-test` builds fake crates in a temporary
directory (one with a cycle, one with an upward arrow, one with neither but with test code and
comments that would be both) and exits 1 unless each is reported exactly as expected.
`scripts/test.sh` runs both before the cargo tests. Standard library only.
"""

import argparse
import os
import re
import sys
from collections import defaultdict

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")
USE = re.compile(r"\buse\s+((?:crate|super|self)::[^;]*);", re.S)


def module_files(src):
    """{module path (tuple): file} of the crate rooted at `src` (lib.rs / main.rs are ())."""
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            if rel and rel[0] == "bin":
                continue  # binaries are crates of their own
            out[tuple(rel)] = os.path.join(root, f)
    return out


def strip_tests(text):
    """`text` without `#[cfg(test)]` items (a `mod tests;` line or a braced block)."""
    out, i = [], 0
    marker = "#[cfg(test)]"
    while True:
        j = text.find(marker, i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        k = j + len(marker)
        semi, brace = text.find(";", k), text.find("{", k)
        if brace < 0 or (0 <= semi < brace):
            i = semi + 1
            continue
        depth, m = 0, brace
        while m < len(text):
            if text[m] == "{":
                depth += 1
            elif text[m] == "}":
                depth -= 1
                if depth == 0:
                    break
            m += 1
        i = m + 1


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def expand_use(tree):
    """The paths of one `use` tree (`a::{b, c::d}` -> a::b, a::c::d)."""
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        return [re.sub(r"::\*$|as\w+$", "", tree)]
    head, rest = tree.split("{", 1)
    body = rest[: rest.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        if p in ("self", ""):
            out.append(head.rstrip(":"))
        else:
            out.extend(expand_use(head + p))
    return out


def resolve(path, here, modules):
    """The module `path` (`crate::a::b::Item`, `super::x`) names, seen from module `here`."""
    segs = [s for s in path.split("::") if s]
    base = list(here)
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    else:
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    target = tuple(base)
    for s in segs:
        if tuple(list(target) + [s]) in modules:
            target = tuple(list(target) + [s])
        else:
            break
    return target


def is_test_module(mod):
    return any(part == "tests" or part == "test_support" for part in mod)


def edges_of(src):
    modules = module_files(src)
    edges = defaultdict(set)
    for mod, file in modules.items():
        if is_test_module(mod):
            continue
        text = strip_comments(strip_tests(open(file, encoding="utf-8").read()))
        paths = []
        for m in USE.finditer(text):
            paths.extend(expand_use(m.group(1)))
        for m in PATH.finditer(USE.sub("", text)):
            paths.append(m.group(1) + m.group(2).rstrip("{").rstrip(":"))
        for p in paths:
            target = resolve(p, mod, modules)
            if target != mod and not is_test_module(target):
                edges[mod].add(target)
    return modules, edges


def sccs(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def a_cycle(comp, edges):
    """One cycle through the component, as a list of modules."""
    members = set(comp)
    start = sorted(comp)[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(w for w in edges[path[-1]] if w in members)
        back = [w for w in nxt if w in seen]
        if back:
            return path[path.index(back[0]):] + [back[0]]
        path.append(nxt[0])
        seen.add(nxt[0])


def name(mod, crate):
    return crate + ("::" + "::".join(mod) if mod else "")


def findings(src, verbose=False):
    """The cycles and upward arrows of the crate rooted at `src`, one message each."""
    crate = os.path.basename(os.path.dirname(os.path.abspath(src))).replace("-", "_")
    modules, edges = edges_of(src)
    if verbose:
        for m in sorted(edges):
            for t in sorted(edges[m]):
                print(f"{name(m, crate)} -> {name(t, crate)}")
    out = []
    for comp in sccs(sorted(modules), edges):
        if len(comp) > 1:
            cycle = " -> ".join(name(m, crate) for m in a_cycle(comp, edges))
            members = ", ".join(name(m, crate) for m in sorted(comp))
            out.append(f"cycle: {cycle}  (all of: {members})")
    for m in sorted(edges):
        for t in sorted(edges[m]):
            if t and len(t) < len(m) and m[: len(t)] == t:
                out.append(f"upward: {name(m, crate)} uses its ancestor {name(t, crate)}")
    return out


# Fake crates for --self-test: {file: text}, and the findings each must produce.
SELF_TEST_CRATES = {
    "cyclic": (
        {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::B;\npub struct A;\n",
            "b.rs": "pub struct B;\npub fn f() -> crate::a::A { crate::a::A }\n",
        },
        ["cycle: cyclic::a -> cyclic::b -> cyclic::a  (all of: cyclic::a, cyclic::b)"],
    ),
    "upward": (
        {
            "lib.rs": "pub mod parent;\n",
            "parent/mod.rs": "mod child;\npub struct Shared;\n",
            "parent/child.rs": "use super::Shared;\n",
        },
        ["upward: upward::parent::child uses its ancestor upward::parent"],
    ),
    "clean": (
        {
            "lib.rs": "mod leaf;\npub mod parent;\n// use crate::parent::Child; (a comment)\n",
            "leaf.rs": "pub struct Shared;\n",
            "parent.rs": (
                "mod child;\npub use child::Child;\nuse crate::leaf::Shared;\n"
                "#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::parent::child;\n}\n"
            ),
            "parent/child.rs": (
                "use crate::leaf::Shared;\npub struct Child;\n/* use super::Child; */\n"
                "#[cfg(test)]\nmod tests;\n"
            ),
            "parent/child/tests.rs": "use super::super::*;\nuse crate::parent::Child;\n",
        },
        [],
    ),
}


def self_test():
    """Checks fake crates with a known cycle, a known upward arrow and none: 0 when every one
    is reported exactly as expected."""
    import tempfile

    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for crate, (files, expected) in SELF_TEST_CRATES.items():
            src = os.path.join(tmp, crate, "src")
            for rel, text in files.items():
                path = os.path.join(src, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
            got = findings(src)
            if got != expected:
                failures += 1
                print(f"self-test {crate}: expected {expected}, got {got}")
    print(f"self-test: {len(SELF_TEST_CRATES) - failures} of {len(SELF_TEST_CRATES)} fake crates"
          " reported as expected", file=sys.stderr)
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("crates", nargs="*")
    p.add_argument("--verbose", action="store_true", help="also print every edge")
    p.add_argument("--self-test", action="store_true",
                   help="check fake crates with a known cycle, upward arrow and neither")
    args = p.parse_args()
    if args.self_test:
        return self_test()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    crates = args.crates or sorted(
        os.path.join(root, "src", d, "src") for d in os.listdir(os.path.join(root, "src"))
        if os.path.isdir(os.path.join(root, "src", d, "src")))
    problems = 0
    for src in crates:
        for finding in findings(src, args.verbose):
            problems += 1
            print(finding)
    print(f"{problems} problem(s) in {len(crates)} crate(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
