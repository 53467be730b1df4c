"""What a page asks to run: uploads checked like the CLI checks files, scenarios built with sim.scenarios, work bounded.

An uploaded file is written under its own name to a private folder of the
server and loaded with the same functions the CLI uses, so an invalid file gets
exactly the CLI's message (with the file named as the user named it). An
upload may ``extends:`` only a built-in scenario or profile: no path on the
server can be read through a file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from sim.errors import InputError
from sim.model.params import Scenario
from sim.model.scenarios import MAX_FILE_BYTES, builtin_orgs, builtin_scenarios, load_org, load_scenario, parse_yaml

#: Files a page keeps at once (older uploads drop out).
MAX_UPLOADS = 8
#: Policies compared at once.
MIN_POLICIES, MAX_POLICIES = 2, 4
#: Replicates one request may ask for.
MAX_REPLICATES = 200
UPLOAD_PREFIX = "upload:"


def decode_contents(contents: str, filename: str) -> bytes:
    """The bytes of a dcc.Upload 'data:...;base64,...' value."""
    if not isinstance(contents, str) or "," not in contents:
        raise InputError("could not be read as an upload", source=filename or "upload")
    head, b64 = contents.split(",", 1)
    if len(b64) > (MAX_FILE_BYTES * 4) // 3 + 8:
        size = len(b64) * 3 // 4
        raise InputError(f"is about {size:,} bytes; a file may be at most {MAX_FILE_BYTES:,} bytes", source=filename or "upload")
    try:
        return base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError):
        raise InputError("could not be decoded as an upload", source=filename or "upload") from None


def safe_name(filename: str | None) -> str:
    """The file's own name without folders, reduced to safe characters."""
    name = Path(str(filename or "")).name
    name = re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip(" .")
    return name or "upload.yaml"


class UploadFolder:
    """A private folder where each uploaded file is written once, by content hash, under its own name."""

    def __init__(self, root: Path | None = None):
        self._tmp = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mandate-sim-uploads-")
            root = Path(self._tmp.name)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, data: bytes, filename: str) -> Path:
        """Where ``data`` lives on disk (written on first use)."""
        digest = hashlib.sha256(data).hexdigest()[:16]
        folder = self.root / digest
        folder.mkdir(exist_ok=True)
        p = folder / safe_name(filename)
        if not p.exists():
            tmp = folder / (p.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(p)
        return p

    def clean(self, message: str) -> str:
        """A message with the private folder taken out, so the file is named as the user named it."""
        return re.sub(re.escape(str(self.root)) + r"/[0-9a-f]{16}/", "", message)


def upload_id(data: bytes) -> str:
    """Short content id of an upload."""
    return hashlib.sha256(data).hexdigest()[:12]


def _check_extends(data: bytes, filename: str, kind: str) -> None:
    """Refuse ``extends:`` of anything but a built-in name (a path would read files on the server)."""
    try:
        mapping = parse_yaml(data.decode("utf-8"), filename, kind)
    except (InputError, UnicodeDecodeError):
        return  # loading it gives the CLI's own message
    parent = mapping.get("extends")
    names = builtin_scenarios() if kind == "scenario" else builtin_orgs()
    if parent is not None and parent not in names:
        raise InputError(
            "may only extend a built-in name in the app (a path would read files on the server)",
            source=filename, field="extends", value=parent, allowed=", ".join(names),
        )


def check_upload(kind: str, filename: str, data: bytes, folder: UploadFolder) -> dict:
    """Validate an uploaded scenario or organisation file as the CLI would; a record for the page's store.

    Raises InputError with the CLI's message for that file.
    """
    name = safe_name(filename)
    what = "scenario" if kind == "scenario" else "organisation profile"
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"is {len(data):,} bytes; a {what} may be at most {MAX_FILE_BYTES:,} bytes", source=name)
    _check_extends(data, name, what)
    path = folder.path(data, name)
    try:
        if kind == "scenario":
            spec = load_scenario(str(path))
            title = spec.title or spec.name
            label = spec.name
        else:
            org = load_org(str(path))
            title = org.description or org.name
            label = org.name
    except InputError as e:
        raise InputError(folder.clean(str(e))) from None
    return {"id": upload_id(data), "kind": kind, "filename": name, "text": data.decode("utf-8"), "name": label, "title": title}


def upload_path(record: dict, folder: UploadFolder) -> Path:
    """The file of an upload record on this server (written again if the server restarted)."""
    return folder.path(record["text"].encode("utf-8"), record["filename"])


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


def _record(ref: str, files: Sequence[dict]) -> dict:
    uid = ref[len(UPLOAD_PREFIX):]
    for f in files:
        if f.get("id") == uid:
            return f
    raise InputError("refers to an uploaded file this page no longer has; upload it again", source="policies", value=ref)


def scenario_ref(ref: str, files: Sequence[dict], folder: UploadFolder) -> str:
    """A scenario reference load_scenario takes: a built-in name, or the path of an uploaded file."""
    if ref.startswith(UPLOAD_PREFIX):
        return str(upload_path(_record(ref, files), folder))
    if ref not in builtin_scenarios():
        raise InputError("is not a built-in scenario", source="policies", value=ref, allowed=", ".join(builtin_scenarios()))
    return ref


def org_ref(ref: str | None, files: Sequence[dict], folder: UploadFolder) -> str | None:
    """An organisation reference load_scenario takes (None: each scenario's own organisation)."""
    if not ref:
        return None
    if ref.startswith(UPLOAD_PREFIX):
        return str(upload_path(_record(ref, files), folder))
    if ref not in builtin_orgs():
        raise InputError("is not a built-in organisation profile", source="organisation", value=ref, allowed=", ".join(builtin_orgs()))
    return ref


def check_whole(value: Any, name: str, lo: int, hi: int, what: str) -> int:
    """A whole number within [lo, hi], or an InputError naming the control."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError("is not a whole number", source=name, value=value, allowed=f"a whole number from {lo:,} to {hi:,} ({what})") from None
    if v != int(v) or not (lo <= v <= hi):
        raise InputError("is out of range", source=name, value=value, allowed=f"a whole number from {lo:,} to {hi:,} ({what})")
    return int(v)


def _declared(path: str) -> tuple[int, int]:
    from sim.model.scenarios import field_at

    info = field_at(path)
    lo = hi = None
    for meta in info.metadata if info else []:
        lo = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else lo
        hi = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else hi
    return int(lo), int(hi)


def build_specs(req: CompareRequest, folder: UploadFolder) -> list[Scenario]:
    """Validated scenarios for a comparison (built-in or uploaded policies, one organisation, its edits, size and horizon)."""
    if not (MIN_POLICIES <= len(req.policies) <= MAX_POLICIES):
        raise InputError(f"names {len(req.policies)} policies", source="policies", allowed=f"{MIN_POLICIES} to {MAX_POLICIES} policies")
    lo, hi = _declared("organisation.size")
    engineers = check_whole(req.engineers, "engineers", lo, hi, "engineers")
    lo, hi = _declared("weeks")
    weeks = check_whole(req.weeks, "weeks", lo, hi, "weeks")
    check_whole(req.replicates, "replicates", 1, MAX_REPLICATES, "replicates per policy")
    org = org_ref(req.org, req.files, folder)
    specs = []
    for ref in req.policies:
        path = scenario_ref(ref, req.files, folder)
        try:
            specs.append(load_scenario(path, org=org, overrides=dict(req.sets) or None, engineers=engineers, weeks=weeks))
        except InputError as e:
            raise InputError(folder.clean(str(e))) from None
    return specs


def org_scenario(org: str | None, files: Sequence[dict], folder: UploadFolder) -> Scenario:
    """A scenario holding the chosen organisation (for the organisation editor's values)."""
    ref = org_ref(org, files, folder)
    return load_scenario("free_choice", org=ref)
