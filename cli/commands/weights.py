"""``avitalk weights list | fetch NAME | verify [NAME] | path NAME`` — the downloadable assets.

Paths go to stdout (so ``$(avitalk weights path NAME)`` works), progress to stderr: a redrawn bar on a
terminal, a plain line every few seconds otherwise, nothing with ``-q``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ...core.common.errors import AviTalkError
from ...weights_fetcher import AssetState, AssetStore, TextProgress, WeightsError, human_size, load_registry

_MAX_RETRIES = 100
_MAX_TIMEOUT = 86400.0  # a day


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "weights", help="list, download, verify and locate model weights and other assets",
        description="Downloadable assets (models, rigs, mappings): list them, fetch one into the cache "
                    "(verified by sha256), verify cached files, or print where one is. "
                    "Set AVITALK_OFFLINE=1 to forbid downloads; AVITALK_CACHE_DIR to move the cache.")
    sub = p.add_subparsers(dest="weights_command", metavar="ACTION", parser_class=type(p))
    sub.required = True

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--registry", metavar="FILE", help="registry JSON to use instead of the built-in one "
                                                            "(a mirror, or tests)")
    common.add_argument("--cache-dir", metavar="DIR", help="cache folder (default: $AVITALK_CACHE_DIR or the "
                                                          "platform's user cache folder)")
    common.add_argument("-q", "--quiet", dest="weights_quiet", action="store_true", help="no progress output")
    override = argparse.ArgumentParser(add_help=False)
    override.add_argument("--weights", metavar="PATH",
                          help="use this local file or folder instead of the registry's asset")

    s = sub.add_parser("list", parents=[common], help="list the assets and their state")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s = sub.add_parser("fetch", parents=[common, override], help="download an asset into the cache")
    s.add_argument("name")
    s.add_argument("--retries", type=int, default=3, help="attempts per URL after the first (default 3)")
    s.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds (default 30)")
    s = sub.add_parser("verify", parents=[common, override],
                       help="re-check the sha256 of one cached asset, or of all of them")
    s.add_argument("name", nargs="?")
    s = sub.add_parser("path", parents=[common, override], help="print the verified path of an asset")
    s.add_argument("name")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _ACTIONS[args.weights_command](args)
    except WeightsError as exc:
        raise AviTalkError(str(exc)) from None


def _store(args: argparse.Namespace) -> AssetStore:
    kwargs: dict[str, Any] = {}
    if getattr(args, "retries", None) is not None:
        if not 0 <= args.retries <= _MAX_RETRIES:
            raise AviTalkError(f"--retries must be between 0 and {_MAX_RETRIES}")
        kwargs["retries"] = args.retries
    if getattr(args, "timeout", None) is not None:
        # Written so that nan fails too; inf or 1e308 would overflow the socket's timeout.
        if not 0 < args.timeout <= _MAX_TIMEOUT:
            raise AviTalkError(f"--timeout must be a number of seconds above 0 and at most {_MAX_TIMEOUT:.0f}")
        kwargs["timeout"] = args.timeout
    return AssetStore(load_registry(args.registry), args.cache_dir, **kwargs)


def _quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False) or getattr(args, "weights_quiet", False))


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    rows: list[dict[str, Any]] = []
    for asset in store.registry:
        rows.append({
            "name": asset.name, "version": asset.version, "kind": asset.kind,
            "state": str(store.state(asset)), "size": asset.size, "partial_bytes": store.partial_bytes(asset),
            "license": asset.license,
            "description": asset.description, "path": str(store.path_for(asset)),
            "urls": list(asset.urls),
        })
    if args.json:
        print(json.dumps({"cache_dir": str(store.cache_dir), "assets": rows}, indent=2))
        return 0
    headers = ("NAME", "VERSION", "KIND", "STATE", "SIZE", "LICENCE")
    for r in rows:
        if r["state"] == AssetState.PARTIAL and r["size"]:
            r["state"] = f"partial {r['partial_bytes'] / r['size']:.0%}"
    table: list[tuple[str, ...]] = [headers] + [(r["name"], r["version"], r["kind"], r["state"],
                          human_size(r["size"]) if r["size"] else "-", r["license"]) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(headers))]
    for i, row in enumerate(table):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i:
            print(f"    {rows[i - 1]['description']}")
    print(f"cache folder: {store.cache_dir}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.weights:
        # A user's own file always wins: nothing to download.
        print(store.resolve(args.name, override=args.weights))
        return 0
    progress = None if _quiet(args) else TextProgress(sys.stderr)
    try:
        path = store.fetch(args.name, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    print(path)
    return 0


def _verify(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.name is not None:
        path = store.verify(args.name, override=args.weights)
        label = "ok (own file, not checked against the registry)" if args.weights else "verified"
        print(f"{args.name}: {label} {path}")
        return 0
    failures: list[str] = []
    for asset in store.registry:
        state = store.state(asset)
        if state in (AssetState.MISSING, AssetState.PARTIAL):
            print(f"{asset.name}: not downloaded")
            continue
        if state is AssetState.LOCAL_ABSENT:
            print(f"{asset.name}: local asset not in this installation ({store.path_for(asset)})")
            continue
        try:
            path = store.verify(asset.name)
        except WeightsError as exc:
            print(f"{asset.name}: FAILED")
            failures.append(f"{asset.name}: {exc}")
            continue
        print(f"{asset.name}: {'local' if asset.is_local else 'verified'} {path}")
    if failures:
        raise AviTalkError(f"{len(failures)} asset(s) failed verification: {' | '.join(failures)}")
    return 0


def _path(args: argparse.Namespace) -> int:
    print(_store(args).resolve(args.name, override=args.weights))
    return 0


_ACTIONS = {"list": _list, "fetch": _fetch, "verify": _verify, "path": _path}
