"""Reading the files users name, and YAML loaded safely with bounds: every scenario, organisation profile, study, sweep
spec and manifest goes through here.

``read_file`` reads regular files only, opened without blocking, at most ``MAX_FILE_BYTES`` (or a given limit), whatever
size the file claims. ``parse_yaml`` loads a YAML text with ``BoundedSafeLoader``: PyYAML's safe loading with bounded
aliases, nesting and numbers, no duplicate keys and only plain tags. Every problem is an ``InputError`` that names the
file and what is wrong.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

try:  # libyaml's parser (events only: composing stays in Python, where the bounds are kept)
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CParser = None

from sim.errors import InputError, cut, excerpt

#: Largest file a user may name (bytes): scenarios, profiles, studies and specs are small text files.
MAX_FILE_BYTES = 1_000_000

# ---------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------

#: What a path that is not a regular file is, in words (by its stat mode).
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
)


def _kind_of(mode: int) -> str:
    for test, words in _FILE_KINDS:
        if test(mode):
            return words
    return "not a regular file"


def _too_big(what: str, limit: int, size: int | None, src: str) -> InputError:
    said = f"is {size:,} bytes" if size is not None else f"is more than {limit:,} bytes"
    return InputError(f"{said}; a {what} may be at most {limit:,} bytes", source=src)


def read_file(path: "str | os.PathLike[str]", what: str = "file", limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, or an InputError naming the file and the problem.

    Every file a user names (scenarios, organisation profiles, studies, sweep specs, manifests) is read through here:
    the file is opened without blocking (a named pipe with no writer does not hang), anything but a regular file
    (a directory, a pipe, a socket, a device such as /dev/zero) is refused before a byte is read, and at most
    ``limit + 1`` bytes are read whatever size the file claims (special files claim 0), so a file that grows while
    it is read is refused too.
    """
    src = str(path)
    try:
        before = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{what} not found", source=src) from None
    except NotADirectoryError:
        raise InputError(f"{what} not found (a folder in its path is a file)", source=src) from None
    except OSError as e:
        raise InputError(f"cannot be read ({e.strerror or type(e).__name__})", source=src) from None
    if stat.S_ISDIR(before.st_mode):
        raise InputError(f"is a directory, not a {what}", source=src)
    if not stat.S_ISREG(before.st_mode):
        raise InputError(f"is {_kind_of(before.st_mode)}, not a regular file (a {what} must be a regular file)", source=src)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{what} not found", source=src) from None
    except OSError as e:  # a socket (ENXIO), no permission, ...
        raise InputError(f"cannot be read ({e.strerror or type(e).__name__})", source=src) from None
    try:
        st = os.fstat(fd)  # what was opened, not what the path named a moment ago
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"is {_kind_of(st.st_mode)}, not a regular file (a {what} must be a regular file)", source=src)
        if st.st_size > limit:
            raise _too_big(what, limit, st.st_size, src)
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            try:
                chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            except BlockingIOError:  # pragma: no cover - regular files do not block
                break
            except OSError as e:
                raise InputError(f"cannot be read ({e.strerror or type(e).__name__})", source=src) from None
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise _too_big(what, limit, None, src)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: "str | os.PathLike[str]", what: str = "file", limit: int = MAX_FILE_BYTES) -> str:
    """The text (UTF-8) of the regular file ``path`` (``read_file``'s checks and limit), or a clear InputError."""
    raw = read_file(path, what, limit)
    if b"\x00" in raw:
        raise InputError(f"is a binary file, not a {what}", source=str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"is not UTF-8 text (byte {e.start}); a {what} must be a text file", source=str(path)) from None


def read_yaml(path: "str | os.PathLike[str]", what: str = "file") -> dict:
    """Read a YAML mapping from ``path`` with safe, bounded loading, or raise an InputError that names the file and the problem."""
    src = str(path)
    return parse_yaml(decode_yaml(read_file(path, what), src, what), src, what)


def decode_yaml(raw: bytes, source: str, what: str = "file") -> str:
    """The text of a YAML file's bytes, or an InputError for a binary file or one that is not UTF-8."""
    if b"\x00" in raw:
        raise InputError(f"is a binary file, not a YAML {what}", source=source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"is not UTF-8 text (byte {e.start}); a {what} must be a YAML text file", source=source) from None


# ---------------------------------------------------------------------------
# YAML: safe loading, bounded
# ---------------------------------------------------------------------------

#: Most aliases (``*name``) one document may use.
MAX_YAML_ALIASES = 1_000
#: Most values one document may hold once its aliases are expanded (each alias counts every value it repeats).
MAX_YAML_NODES = 100_000
#: Deepest nesting of lists and mappings one document may have.
MAX_YAML_DEPTH = 64
#: Longest number (characters) a document may write.
MAX_YAML_NUMBER_CHARS = 100

_TAG = "tag:yaml.org,2002:"
#: The only tags a document may hold (plain values): text, numbers, true/false, null, lists, mappings.
PLAIN_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))


def _short_tag(tag: str | None) -> str:
    return "!!" + tag[len(_TAG):] if tag and tag.startswith(_TAG) else str(tag)


class _Refused(yaml.MarkedYAMLError):
    """A document refused by the bounded loader (a limit, a tag, a duplicate key)."""


class _BoundedRules(Composer, SafeConstructor, Resolver):
    """PyYAML's safe loader, bounded: what a small document can make the loader (and everything after it) do is bounded.

    * aliases: at most MAX_YAML_ALIASES, and at most MAX_YAML_NODES values once every alias is expanded (an alias
      counts every value it repeats, so a "billion laughs" of nested aliases is refused after a few of them, before
      anything is built); an alias to a list or mapping that contains it (a cycle) is refused;
    * nesting: at most MAX_YAML_DEPTH levels of lists and mappings (deeper input is refused before Python's
      recursion limit is near);
    * keys: a key given twice in one mapping is refused (plain PyYAML keeps the last);
    * tags: only plain values (text, numbers, true/false, null, lists, mappings); ``!!binary``, ``!!set``,
      ``!!timestamp``, ``!!omap``, ``!!python/...`` and any other tag are refused, naming the tag; an unquoted date
      is text (not a timestamp) and merge keys (``<<``) are refused;
    * numbers: at most MAX_YAML_NUMBER_CHARS characters (a huge integer costs quadratic time to convert).

    The events come from libyaml's parser when PyYAML has it (four times faster than PyYAML's own, which is the
    fallback); composing (where the bounds are kept), resolving and constructing are PyYAML's safe ones, in Python.
    """

    yaml_constructors = {tag: fn for tag, fn in yaml.SafeLoader.yaml_constructors.items() if tag in PLAIN_TAGS}
    yaml_multi_constructors: dict = {}
    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_TAG + "timestamp", _TAG + "value")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str):
        self._parser_init(stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._aliases = 0
        self._nodes = 0
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(anchored node) -> values it holds, aliases expanded (once it is complete)

    def _refuse(self, problem: str, mark: Any) -> _Refused:
        return _Refused(None, None, problem, mark)

    def _count(self, n: int, mark: Any) -> None:
        self._nodes += n
        if self._nodes > MAX_YAML_NODES:
            raise self._refuse(f"it holds more than {MAX_YAML_NODES:,} values once its aliases are expanded", mark)

    # -- composing: aliases, sizes, depth ------------------------------------------------------------------

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None:
                self._aliases += 1
                if self._aliases > MAX_YAML_ALIASES:
                    raise self._refuse(f"it uses more than {MAX_YAML_ALIASES:,} aliases (*name)", event.start_mark)
                size = self._sizes.get(id(node))
                if size is None:
                    raise self._refuse(f"the alias *{cut(event.anchor, 40)} refers to a value that contains it", event.start_mark)
                self._count(size, event.start_mark)
        return super().compose_node(parent, index)

    def compose_scalar_node(self, anchor: Any) -> Any:
        self._count(1, self.peek_event().start_mark)
        node = super().compose_scalar_node(anchor)
        if anchor is not None:
            self._sizes[id(node)] = 1
        return node

    def _collection(self, compose: Any, anchor: Any) -> Any:
        mark = self.peek_event().start_mark
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise self._refuse(f"it nests lists and mappings more than {MAX_YAML_DEPTH} levels deep", mark)
        start = self._nodes
        self._count(1, mark)
        node = compose(anchor)
        if anchor is not None:
            self._sizes[id(node)] = self._nodes - start
        self._depth -= 1
        return node

    def compose_sequence_node(self, anchor: Any) -> Any:
        return self._collection(super().compose_sequence_node, anchor)

    def compose_mapping_node(self, anchor: Any) -> Any:
        return self._collection(super().compose_mapping_node, anchor)

    # -- constructing: tags, keys, numbers -------------------------------------------------------------------

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if node.tag not in PLAIN_TAGS:
            if node.tag == _TAG + "merge":
                raise self._refuse("merge keys (<<) are not supported; write the keys out (an alias repeats a whole value)", node.start_mark)
            raise self._refuse(f"the tag {cut(_short_tag(node.tag), 60)} is not allowed; only plain values are "
                               "(text, numbers, true/false, null, lists and mappings)", node.start_mark)
        if isinstance(node, yaml.ScalarNode) and node.tag in (_TAG + "int", _TAG + "float") and len(node.value) > MAX_YAML_NUMBER_CHARS:
            raise self._refuse(f"a number is longer than {MAX_YAML_NUMBER_CHARS} characters", node.start_mark)
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, IndexError, TypeError, OverflowError):
            raise self._refuse(f"{cut(node.value, 40)!r} is not a valid {_short_tag(node.tag)} value"
                               if isinstance(node, yaml.ScalarNode) else f"a value is not a valid {_short_tag(node.tag)}", node.start_mark) from None

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == _TAG + "merge":
                    raise self._refuse("merge keys (<<) are not supported; write the keys out (an alias repeats a whole value)", key_node.start_mark)
                if isinstance(key_node, yaml.ScalarNode):
                    key = self.construct_object(key_node, deep=True)
                    if key in seen:
                        raise self._refuse(f"the key {excerpt(key, 60)} is given twice in one mapping (a duplicate key)", key_node.start_mark)
                    seen.add(key)
        return super().construct_mapping(node, deep=deep)


class PyBoundedSafeLoader(_BoundedRules, Reader, Scanner, Parser):
    """The bounded safe loader on PyYAML's own (pure Python) parser."""

    def _parser_init(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)


if _CParser is not None:

    class CBoundedSafeLoader(_BoundedRules, _CParser):
        """The bounded safe loader on libyaml's parser."""

        def _parser_init(self, stream: str) -> None:
            _CParser.__init__(self, stream)

    BoundedSafeLoader: type = CBoundedSafeLoader
else:  # pragma: no cover - PyYAML built without libyaml
    CBoundedSafeLoader = None
    BoundedSafeLoader = PyBoundedSafeLoader


def load_yaml(text: str, loader: type | None = None) -> Any:
    """The value a YAML document describes, loaded with ``BoundedSafeLoader`` (raises ``yaml.YAMLError``)."""
    loader = (loader or BoundedSafeLoader)(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def parse_yaml(text: str, source: str, what: str = "file") -> dict:
    """Parse YAML text (safe, bounded loading) into a mapping, with clear errors."""
    if not text.strip():
        raise InputError(f"is empty; a {what} must be a YAML mapping (key: value lines)", source=source)
    try:
        data = load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if isinstance(e, _Refused):
            raise InputError(f"is refused{where}: {problem}", source=source) from None
        if "maximum nesting depth" in str(problem):  # libyaml's own limit (1,000 flow levels), met before ours
            raise InputError(f"is refused{where}: it nests lists and mappings more than {MAX_YAML_DEPTH} levels deep", source=source) from None
        raise InputError(f"is not valid YAML{where}: {cut(problem, 200)}", source=source) from None
    except RecursionError:  # pragma: no cover - the depth limit comes first
        raise InputError(f"nests too deeply; a {what} may nest at most {MAX_YAML_DEPTH} levels", source=source) from None
    if data is None:
        raise InputError(f"is empty; a {what} must be a YAML mapping (key: value lines)", source=source)
    if not isinstance(data, dict):
        raise InputError(f"must be a YAML mapping of keys to values, not a {type(data).__name__}", source=source)
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise InputError("keys must be text", source=source, value=bad[0])
    return data
