"""What a page asks to run: every input from the web goes through one gate (``gate``) before it becomes a scenario
or an organisation; work is bounded.

Whatever arrives from a browser is untrusted: an upload, a file packed into a link, a form field, or any value of a
callback's payload (the page's stores included: a request can carry any records it likes). ``gate`` is the only way
the pages turn such input into a Scenario or an Organisation. It gives a file given as text (an upload, a packed
link, a record in a store) the CLI's own checks and messages (the size limit, UTF-8, safe and bounded YAML, the
declarations), allows ``extends:`` only to built-in scenario or profile names (never a path: no file of the server
is opened, stat-ed or resolved, so a path gets the same message whether or not a file is there), accepts only
built-in names for everything else, bounds the overrides, and shows the user's values only as short excerpts. Files
are checked in memory: nothing is written to the server.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from sim.errors import InputError, cut
from sim.model.params import Organisation, Scenario
from sim.model.scenarios import (
    MAX_FILE_BYTES,
    builtin_orgs,
    builtin_scenarios,
    decode_yaml,
    field_at,
    load_org_data,
    load_scenario,
    load_scenario_data,
    load_text,
)

#: Files a page keeps at once (older uploads drop out).
MAX_UPLOADS = 8
#: Policies compared at once.
MIN_POLICIES, MAX_POLICIES = 2, 4
#: Replicates one request may ask for.
MAX_REPLICATES = 200
#: Parameter overrides one request may carry, and the longest parameter path (there are about 200 paths).
MAX_SETS, MAX_PATH_CHARS = 400, 200
#: Longest name of a file a page shows.
MAX_NAME_CHARS = 100
UPLOAD_PREFIX = "upload:"
KINDS = {"scenario": "scenario", "org": "organisation profile"}


def decode_contents(contents: str, filename: str) -> bytes:
    """The bytes of a dcc.Upload 'data:...;base64,...' value."""
    name = safe_name(filename) if filename else "upload"
    if not isinstance(contents, str) or "," not in contents:
        raise InputError("could not be read as an upload", source=name)
    head, b64 = contents.split(",", 1)
    if len(b64) > (MAX_FILE_BYTES * 4) // 3 + 8:
        size = len(b64) * 3 // 4
        raise InputError(f"is about {size:,} bytes; a file may be at most {MAX_FILE_BYTES:,} bytes", source=name)
    try:
        return base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError):
        raise InputError("could not be decoded as an upload", source=name) from None


def safe_name(filename: str | None) -> str:
    """The file's own name without folders, reduced to safe characters and a bounded length."""
    name = str(filename or "").replace("\\", "/").rpartition("/")[2]
    name = re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip(" .")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME_CHARS - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:MAX_NAME_CHARS]
    return name or "upload.yaml"


class UploadFolder:
    """A private folder of the server for uploads (kept for the app's context; the gate checks files in memory and
    writes nothing here)."""

    def __init__(self, root: Path | None = None):
        self._tmp = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mandate-sim-uploads-")
            root = Path(self._tmp.name)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def clean(self, message: str) -> str:
        """A message with the private folder taken out."""
        return re.sub(re.escape(str(self.root)) + r"/[0-9a-f]{16}/", "", message)


def upload_id(data: bytes) -> str:
    """Short content id of an upload."""
    return hashlib.sha256(data).hexdigest()[:12]


# ---------------------------------------------------------------------------
# The gate
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _checked_text(kind: str, filename: str, text: str) -> dict:
    """``load_text`` of a file given as text, remembered (a page asks for the same upload several times a request)."""
    return load_text(text, filename, kind, where="in the app")


def _file_mapping(record: Any, kind: str) -> tuple[dict, str]:
    """The checked mapping of an upload record (from a store, a link or a payload: anything) and the file's name."""
    what = KINDS[kind]
    if not isinstance(record, dict):
        raise InputError(f"is not an uploaded {what}", source="uploaded file", value=record)
    name = safe_name(record.get("filename"))
    text = record.get("text")
    if not isinstance(text, str):
        raise InputError(f"is not an uploaded {what} (it holds no text)", source=name)
    if len(text) > MAX_FILE_BYTES or len(data := text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise InputError(f"is more than {MAX_FILE_BYTES:,} bytes; a {what} may be at most {MAX_FILE_BYTES:,} bytes", source=name)
    if record.get("kind") != kind:
        raise InputError(f"is not an uploaded {what}", source=name, value=record.get("kind"), allowed=f"an uploaded {what}")
    if record.get("id") != upload_id(data):
        raise InputError("is not a file this app checked (its id does not match its content): upload it again", source=name)
    text = decode_yaml(data, name, what)  # a NUL or a lone surrogate: the CLI's message for a binary or non-UTF-8 file
    return copy.deepcopy(_checked_text(kind, name, text)), name


def _find(ref: str, files: Any, kind: str) -> dict:
    """The record an 'upload:<id>' reference names among the page's files."""
    uid = ref[len(UPLOAD_PREFIX):]
    if isinstance(files, (list, tuple)):
        for f in files:
            if isinstance(f, dict) and f.get("id") == uid:
                return f
    raise InputError("refers to an uploaded file this page no longer has; upload it again", source="policies" if kind == "scenario" else "organisation",
                     value=ref)


def _org(org: Any, files: Any) -> "str | dict | None":
    """What ``load_scenario`` takes as ``org``: None (each scenario's own), a built-in name, or a checked upload's mapping."""
    if org is None or org == "":
        return None
    if isinstance(org, str) and org.startswith(UPLOAD_PREFIX):
        return _file_mapping(_find(org, files, "org"), "org")[0]
    if not isinstance(org, str) or org not in builtin_orgs():
        raise InputError("is not a built-in organisation profile", source="organisation", value=org, allowed=", ".join(builtin_orgs()))
    return org


def _sets(sets: Any) -> dict[str, Any] | None:
    """Parameter overrides from the web: a bounded mapping of short paths (the values are checked by the declarations)."""
    if sets is None or sets == {}:
        return None
    if not isinstance(sets, dict):
        raise InputError("must map parameter paths to values", source="parameters", value=sets)
    if len(sets) > MAX_SETS:
        raise InputError(f"sets {len(sets):,} parameters; a request may set at most {MAX_SETS}", source="parameters")
    for path in sets:
        if not isinstance(path, str) or not path or len(path) > MAX_PATH_CHARS:
            raise InputError("is not a parameter path", source="parameters", value=path, allowed="the paths `mandate-sim params` lists")
    return dict(sets)


def _declared(path: str) -> tuple[int, int]:
    info = field_at(path)
    lo = hi = None
    for meta in info.metadata if info else []:
        lo = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else lo
        hi = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else hi
    return int(lo), int(hi)


def gate(ref: Any, files: Any = (), *, kind: str = "scenario", org: Any = None, sets: Any = None, engineers: Any = None,
         weeks: Any = None, label: str = "policies") -> "Scenario | Organisation":
    """The one way input from the web becomes a Scenario (``kind`` 'scenario') or an Organisation (``kind`` 'org').

    ``ref``: a built-in name or 'upload:<id>' naming one of ``files`` (upload records, as untrusted as the rest);
    ``org``: a built-in profile, 'upload:<id>', or None/'' for the scenario's own; ``sets``: parameter overrides;
    ``engineers`` and ``weeks``: whole numbers within the declared bounds; ``label``: what the page calls ``ref``.
    Raises InputError with a bounded message (for an uploaded file, the message the CLI gives for that file).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}")
    if kind == "org":
        if isinstance(ref, str) and ref.startswith(UPLOAD_PREFIX):
            return Organisation.model_validate(_file_mapping(_find(ref, files, "org"), "org")[0])
        return Organisation.model_validate(load_org_data(_org(ref, files) or "default"))
    if isinstance(ref, str) and ref.startswith(UPLOAD_PREFIX):
        base, source = _file_mapping(_find(ref, files, "scenario"), "scenario")
    elif isinstance(ref, str) and ref in builtin_scenarios():
        base, source = load_scenario_data(ref)[0], f"scenario '{ref}'"  # named, not by its path on the server
    else:
        raise InputError("is not a built-in scenario", source=label, value=ref, allowed=", ".join(builtin_scenarios()))
    if engineers is not None:
        engineers = check_whole(engineers, "engineers", *_declared("organisation.size"), "engineers")
    if weeks is not None:
        weeks = check_whole(weeks, "weeks", *_declared("weeks"), "weeks")
    return load_scenario(base, org=_org(org, files), overrides=_sets(sets), engineers=engineers, weeks=weeks, source=source)


def check_upload(kind: str, filename: str, data: bytes, folder: UploadFolder | None = None) -> dict:
    """Validate an uploaded scenario or organisation file (through ``gate``) as the CLI would; a record for the page's store.

    Raises InputError with the CLI's message for that file. ``folder`` is not used (nothing is written).
    """
    if kind not in KINDS:
        raise InputError("is not a kind of file this page takes", source="upload", value=kind, allowed="scenario, org")
    name = safe_name(filename)
    what = KINDS[kind]
    if not isinstance(data, (bytes, bytearray)):
        raise InputError("could not be read as an upload", source=name)
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"is {len(data):,} bytes; a {what} may be at most {MAX_FILE_BYTES:,} bytes", source=name)
    text = decode_yaml(bytes(data), name, what)
    record = {"id": upload_id(bytes(data)), "kind": kind, "filename": name, "text": text}
    checked = gate(UPLOAD_PREFIX + record["id"], [record], kind=kind)
    if kind == "scenario":
        title, label = checked.title or checked.name, checked.name
    else:
        title, label = checked.description or checked.name, checked.name
    return {**record, "name": cut(label, MAX_NAME_CHARS), "title": cut(title, 2 * MAX_NAME_CHARS)}


def check_record(record: Any) -> dict:
    """An upload record from a link or a store, checked through ``gate`` as if uploaded again (its name and title
    recomputed from its text, never taken from the record)."""
    if not isinstance(record, dict) or record.get("kind") not in KINDS or not isinstance(record.get("text"), str):
        raise InputError("is not a file this app packed into a link", source="link parameter 'file'", value=record)
    text = record["text"]
    if len(text) > MAX_FILE_BYTES:
        raise InputError(f"is more than {MAX_FILE_BYTES:,} bytes; a {KINDS[record['kind']]} may be at most {MAX_FILE_BYTES:,} bytes",
                         source=safe_name(record.get("filename")))
    return check_upload(record["kind"], str(record.get("filename") or ""), text.encode("utf-8", "surrogatepass"))


@dataclass
class CompareRequest:
    """Everything a comparison needs; the whole state of the compare page."""

    policies: list[str] = field(default_factory=lambda: ["mandate_single_tool", "free_choice", "outcome_goals"])
    org: str = "default"  # a built-in profile, "" for each scenario's own, or "upload:<id>"
    engineers: int = 200
    weeks: int = 52
    replicates: int = 10
    seed: int = 0
    sets: dict[str, Any] = field(default_factory=dict)  # organisation edits, PATH -> value
    files: list[dict] = field(default_factory=list)  # upload records (scenario or org files)
    reference: str = ""  # the policy the others are compared against ("": the first)
    week: int = 0  # the week the difference table reads (0: the last)


def check_whole(value: Any, name: str, lo: int, hi: int, what: str) -> int:
    """A whole number within [lo, hi], or an InputError naming the control (true/false is not a number)."""
    allowed = f"a whole number from {lo:,} to {hi:,} ({what})"
    if isinstance(value, bool) or (isinstance(value, str) and len(value) > 40):
        raise InputError("is not a whole number", source=name, value=value, allowed=allowed)
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError("is not a whole number", source=name, value=value, allowed=allowed) from None
    if not math.isfinite(v) or v != int(v):
        raise InputError("is not a whole number", source=name, value=value, allowed=allowed)
    if not (lo <= v <= hi):
        raise InputError("is out of range", source=name, value=value, allowed=allowed)
    return int(v)


def build_specs(req: CompareRequest, folder: UploadFolder | None = None) -> list[Scenario]:
    """Validated scenarios for a comparison (built-in or uploaded policies, one organisation, its edits, size and
    horizon), each through ``gate``. ``folder`` is not used (nothing is written)."""
    if not isinstance(req.policies, (list, tuple)) or not (MIN_POLICIES <= len(req.policies) <= MAX_POLICIES):
        n = len(req.policies) if isinstance(req.policies, (list, tuple)) else 0
        raise InputError(f"names {n} policies", source="policies", allowed=f"{MIN_POLICIES} to {MAX_POLICIES} policies")
    engineers = check_whole(req.engineers, "engineers", *_declared("organisation.size"), "engineers")
    weeks = check_whole(req.weeks, "weeks", *_declared("weeks"), "weeks")
    check_whole(req.replicates, "replicates", 1, MAX_REPLICATES, "replicates per policy")
    return [gate(ref, req.files, org=req.org, sets=req.sets, engineers=engineers, weeks=weeks) for ref in req.policies]


def org_scenario(org: str | None, files: Sequence[dict], folder: UploadFolder | None = None) -> Scenario:
    """A scenario holding the chosen organisation (for the organisation editor's values), through ``gate``."""
    return gate("free_choice", files, org=org)
