"""The JSON keys of a report, its fields as JSON values, and checking JSON content before its
fields are read.

A report is a frozen dataclass whose fields are its JSON keys: `json_keys` lists them,
`dataclass_to_json` writes them and `dataclass_from_json` builds the report from them, so
a report class names each field once and spells out only the fields that need converting;
`read_report` reads a report's file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from posebench.io.errors import read_json, reading

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Report = TypeVar("_Report", bound="DataclassInstance")
_Parsed = TypeVar("_Parsed")


@runtime_checkable
class JsonReport(Protocol):
    """A report (or an entry of one) that writes itself as a JSON object."""

    def to_json(self) -> dict[str, Any]:
        """The report as JSON content."""
        ...


def json_keys(cls: type[DataclassInstance], *, optional: Collection[str] = ()) -> tuple[str, ...]:
    """The JSON keys of the report class `cls`, in field order: the names of its dataclass
    fields (class variables are not fields), less those in `optional`."""
    return tuple(field.name for field in dataclasses.fields(cls) if field.name not in optional)


def to_json_value(value: object) -> Any:
    """`value` as JSON content: a report as its `to_json()`, a tuple or list as a list and a
    dict as a new dict, their items converted in turn; anything else as it is."""
    if isinstance(value, JsonReport):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json_value(item) for key, item in value.items()}
    return value


def dataclass_to_json(report: DataclassInstance) -> dict[str, Any]:
    """Every field of `report` by name, in field order, as JSON content (`to_json_value`)."""
    return {
        field.name: to_json_value(getattr(report, field.name))
        for field in dataclasses.fields(report)
    }


def dataclass_from_json(cls: type[_Report], fields: Mapping[str, Any], **converted: Any) -> _Report:
    """The report `cls` of the JSON object `fields` (checked by `require_keys`): each field
    the value of its key as read, except those given in `converted`."""
    values = {key: fields[key] for key in json_keys(cls, optional=converted)}
    return cls(**values, **converted)


def require_keys(content: object, keys: Iterable[str], where: str) -> Mapping[str, Any]:
    """`content` as a mapping, or ValueError naming `where` (e.g. "the IK report") and the
    keys of `keys` it lacks."""
    if not isinstance(content, Mapping):
        raise ValueError(f"{where} is a JSON {type(content).__name__}, expected an object")
    missing = sorted(set(keys) - set(content))
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    return content


def read_report(path: Path | str, kind: str, parse: Callable[[Any], _Parsed]) -> _Parsed:
    """`parse` of the JSON content of the file `path`, a `kind` (e.g. "IK report"); errors
    of reading or parsing it are raised as `posebench.io.errors.reading` turns them (a
    `MissingFileError` or `UnreadableFileError` naming the file)."""
    with reading(path, kind):
        return parse(read_json(path, kind))
