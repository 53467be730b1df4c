"""The URL holds the whole state of a view: encoding a page's state as a query string and reading it back.

Dash pages hand a page's layout the query parameters as keyword arguments, so
opening a link rebuilds the same controls and runs the same request (same seed,
same figures). Parameter overrides travel as ``set=PATH=VALUE`` (the CLI's
``--set`` syntax, parsed by ``sim.scenarios.parse_override``); uploaded files
travel compressed inside the link.

A link is input from the web like any other: its parts are bounded (the number of
files and overrides, the size of a packed file, packed and unpacked), and a file
packed into it is checked through ``inputs.gate`` exactly as an upload is (its
name and title are recomputed from its text, never taken from the link).
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Mapping
from urllib.parse import urlencode

import yaml

from sim.errors import InputError
from sim.files import MAX_FILE_BYTES
from sim.model.scenarios import parse_override

from .inputs import MAX_SETS, MAX_UPLOADS, CompareRequest, check_record

#: Longest query string a link carries uploads in (browsers and the server take longer ones, but links get unwieldy).
MAX_LINK_CHARS = 60_000
#: Longest record ``unpack`` takes, packed (characters) and unpacked (bytes): a file of at most MAX_FILE_BYTES, compressed
#: and in base64; as JSON (where a character takes at most six bytes, ``\uXXXX``), with its other fields.
MAX_PACKED_CHARS = 2 * MAX_FILE_BYTES
MAX_UNPACKED_BYTES = 6 * MAX_FILE_BYTES + 16_384


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
    items = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, (list, tuple)) else [] if raw is None else [raw]
    if len(items) > MAX_SETS:
        raise InputError(f"is given {len(items):,} times; a link may set at most {MAX_SETS} parameters", source="link parameter 'set'")
    out: dict[str, Any] = {}
    for item in items:
        if item == "":
            continue
        if not isinstance(item, str) or len(item) > 4_000:
            raise InputError("must be PATH=VALUE", source="link parameter 'set'", value=item, allowed="e.g. policy.feedback_safety=0.5")
        k, v = parse_override(item, source="link parameter 'set'")
        out[k] = v
    return out


def pack(record: Mapping[str, Any]) -> str:
    """A small JSON-able record compressed into URL-safe text."""
    raw = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def unpack(text: str) -> dict:
    """The record ``pack`` made (bounded: at most MAX_PACKED_CHARS in, MAX_UNPACKED_BYTES out, whatever it inflates to)."""
    refused = InputError("is not a file this app packed into a link", source="link parameter 'file'",
                         value=text[:40] if isinstance(text, str) else None)
    if not isinstance(text, str) or len(text) > MAX_PACKED_CHARS:
        raise refused
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), MAX_UNPACKED_BYTES + 1)
        if len(raw) > MAX_UNPACKED_BYTES or inflate.unconsumed_tail:
            raise ValueError
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError
        return data
    except Exception:
        raise refused from None


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
    items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
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
        ("ref", req.reference or None), ("at", req.week or None),
    ]
    packed = [pack({k: f[k] for k in ("id", "kind", "filename", "text", "name", "title") if k in f}) for f in files]
    text = query(pairs + [("file", packed)])
    return text if len(text) <= MAX_LINK_CHARS else query(pairs)


def compare_request(params: Mapping[str, Any]) -> CompareRequest:
    """The comparison a link asks for (defaults for what it leaves out)."""
    d = CompareRequest()
    packed = _list(params.get("file"))
    if len(packed) > MAX_UPLOADS:
        raise InputError(f"is given {len(packed)} times; a link carries at most {MAX_UPLOADS} files", source="link parameter 'file'")
    files = [check_record(unpack(t)) for t in packed]
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
        reference=str(params.get("ref") or "")[:200],
        week=_int(params.get("at"), "at", d.week),
    )


# -- lab -------------------------------------------------------------------

LAB_DEFAULTS = {"base": "mandate_single_tool", "org": "", "n": 200, "w": 52, "r": 5, "seed": 0}


def lab_query(state: Mapping[str, Any]) -> str:
    """The query string that reopens the what-if lab: base scenario, organisation of both runs (its file packed in when
    uploaded), size, horizon, replicates, seed, overrides, pinned baseline."""
    pin = state.get("pin") or {}
    org = state.get("org") or ""
    pairs: list[tuple[str, Any]] = [
        ("base", state["base"]), ("org", org or None), ("n", state["n"]), ("w", state["w"]), ("r", state["r"]), ("seed", state["seed"]),
        ("set", encode_sets(state.get("sets") or {})),
        ("pin", pin.get("base", state["base"])), ("pinset", encode_sets(pin.get("sets") or {})),
    ]
    packed = [pack({k: f[k] for k in ("id", "kind", "filename", "text") if k in f}) for f in state.get("files") or [] if "upload:" + f["id"] == org]
    text = query(pairs + [("file", packed)])
    return text if len(text) <= MAX_LINK_CHARS else query(pairs)


def lab_state(params: Mapping[str, Any]) -> dict:
    """The lab state a link asks for (an organisation file packed into it is checked as an upload is)."""
    d = LAB_DEFAULTS
    base = str(params.get("base") or d["base"])
    org = str(params.get("org") or d["org"])
    packed = _list(params.get("file"))
    if len(packed) > MAX_UPLOADS:
        raise InputError(f"is given {len(packed)} times; a link carries at most {MAX_UPLOADS} files", source="link parameter 'file'")
    return {
        "base": base, "org": org,
        "n": _int(params.get("n"), "n", d["n"]), "w": _int(params.get("w"), "w", d["w"]),
        "r": _int(params.get("r"), "r", d["r"]), "seed": _int(params.get("seed"), "seed", d["seed"]),
        "sets": decode_sets(params.get("set")),
        "pin": {"base": str(params.get("pin") or base), "sets": decode_sets(params.get("pinset"))},
        "files": [check_record(unpack(t)) for t in packed],
    }
