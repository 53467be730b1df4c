"""The URL holds the whole state of a view: encoding a page's state as a query string and reading it back.

Dash pages hand a page's layout the query parameters as keyword arguments, so
opening a link rebuilds the same controls and runs the same request (same seed,
same figures). Parameter overrides travel as ``set=PATH=VALUE`` (the CLI's
``--set`` syntax, parsed by ``sim.scenarios.parse_override``); uploaded files
travel compressed inside the link.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Mapping
from urllib.parse import urlencode

import yaml

from sim.errors import InputError
from sim.model.scenarios import parse_override

from .inputs import CompareRequest

#: Longest query string a link carries uploads in (browsers and the server take longer ones, but links get unwieldy).
MAX_LINK_CHARS = 60_000


def value_text(value: Any) -> str:
    """A parameter value as the CLI's --set takes it (YAML flow style)."""
    if isinstance(value, float):
        return repr(value)
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    return text[:-4].strip() if text.endswith("...") else text


def encode_sets(sets: Mapping[str, Any]) -> list[str]:
    """Overrides as 'PATH=VALUE' texts, sorted by path."""
    return [f"{k}={value_text(v)}" for k, v in sorted(sets.items())]


def decode_sets(raw: Any) -> dict[str, Any]:
    """'PATH=VALUE' texts (one or a list) back to overrides."""
    items = [raw] if isinstance(raw, str) else list(raw or [])
    out: dict[str, Any] = {}
    for item in items:
        if item == "":
            continue
        k, v = parse_override(item, source="link parameter 'set'")
        out[k] = v
    return out


def pack(record: Mapping[str, Any]) -> str:
    """A small JSON-able record compressed into URL-safe text."""
    raw = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def unpack(text: str) -> dict:
    """The record ``pack`` made."""
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), bufsize=1 << 16)
        if len(raw) > 4_000_000:
            raise ValueError
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError
        return data
    except Exception:
        raise InputError("is not a file this app packed into a link", source="link parameter 'file'", value=text[:40]) from None


def query(pairs: list[tuple[str, Any]]) -> str:
    """'?a=1&b=2' from (key, value) pairs; list values repeat the key."""
    flat = []
    for k, v in pairs:
        if isinstance(v, (list, tuple)):
            flat += [(k, str(x)) for x in v]
        elif v is not None:
            flat.append((k, str(v)))
    return "?" + urlencode(flat) if flat else ""


def _list(raw: Any) -> list[str]:
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else list(raw)
    out = []
    for item in items:
        out += [x for x in str(item).split(",") if x]
    return out


def _int(raw: Any, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise InputError("is not a whole number", source=f"link parameter '{name}'", value=raw) from None


# -- compare ---------------------------------------------------------------


def compare_query(req: CompareRequest) -> str:
    """The query string that reopens this comparison."""
    used = set(req.policies) | {req.org}
    files = [f for f in req.files if "upload:" + f["id"] in used]
    pairs: list[tuple[str, Any]] = [
        ("p", ",".join(req.policies)),
        ("org", req.org if req.org else "-"),
        ("n", req.engineers), ("w", req.weeks), ("r", req.replicates), ("seed", req.seed),
        ("set", encode_sets(req.sets)),
    ]
    packed = [pack({k: f[k] for k in ("id", "kind", "filename", "text", "name", "title") if k in f}) for f in files]
    text = query(pairs + [("file", packed)])
    return text if len(text) <= MAX_LINK_CHARS else query(pairs)


def compare_request(params: Mapping[str, Any]) -> CompareRequest:
    """The comparison a link asks for (defaults for what it leaves out)."""
    d = CompareRequest()
    files = [unpack(t) for t in _list(params.get("file"))]
    org = params.get("org", d.org)
    return CompareRequest(
        policies=_list(params.get("p")) or d.policies,
        org="" if org == "-" else str(org),
        engineers=_int(params.get("n"), "n", d.engineers),
        weeks=_int(params.get("w"), "w", d.weeks),
        replicates=_int(params.get("r"), "r", d.replicates),
        seed=_int(params.get("seed"), "seed", d.seed),
        sets=decode_sets(params.get("set")),
        files=files,
    )


# -- lab -------------------------------------------------------------------

LAB_DEFAULTS = {"base": "mandate_single_tool", "n": 200, "w": 52, "r": 5, "seed": 0}


def lab_query(state: Mapping[str, Any]) -> str:
    """The query string that reopens the what-if lab: base scenario, size, horizon, replicates, seed, overrides, pinned baseline."""
    pin = state.get("pin") or {}
    return query([
        ("base", state["base"]), ("n", state["n"]), ("w", state["w"]), ("r", state["r"]), ("seed", state["seed"]),
        ("set", encode_sets(state.get("sets") or {})),
        ("pin", pin.get("base", state["base"])), ("pinset", encode_sets(pin.get("sets") or {})),
    ])


def lab_state(params: Mapping[str, Any]) -> dict:
    """The lab state a link asks for."""
    d = LAB_DEFAULTS
    base = str(params.get("base") or d["base"])
    return {
        "base": base,
        "n": _int(params.get("n"), "n", d["n"]), "w": _int(params.get("w"), "w", d["w"]),
        "r": _int(params.get("r"), "r", d["r"]), "seed": _int(params.get("seed"), "seed", d["seed"]),
        "sets": decode_sets(params.get("set")),
        "pin": {"base": str(params.get("pin") or base), "sets": decode_sets(params.get("pinset"))},
    }
