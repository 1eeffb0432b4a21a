"""Render the `description:` fields of the workflow's JSON schemas as Markdown.

The key reference of config/README.md is generated from workflow/schemas/config.schema.yaml,
and the sample-sheet reference from workflow/schemas/samples.schema.yaml. Each lies between
two marker comments; the rest of the README is written by hand and kept as it is.

    python scripts/config_docs.py          # rewrite the generated sections of the README
    python scripts/config_docs.py --check  # exit 1 when they are out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "config" / "README.md"
CONFIG_SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SAMPLES_SCHEMA = ROOT / "workflow" / "schemas" / "samples.schema.yaml"

Schema = Mapping[str, Any]

# The placeholder shown for the names of free-form mappings (`datasets.<name>`), by key.
PLACEHOLDERS = {"camera_setups": "setup", "ground_truth_aliases": "coordinate", "setups": "source"}


def begin_marker(block: str) -> str:
    return f"<!-- BEGIN generated: {block} -->"


def end_marker(block: str) -> str:
    return f"<!-- END generated: {block} -->"


def load_schema(path: Path) -> dict[str, Any]:
    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(schema, dict):
        raise SystemExit(f"{path}: not a YAML mapping")
    return schema


# ---------------------------------------------------------------------------------------
# Walking the schema


def resolve(node: Schema, root: Schema) -> dict[str, Any]:
    """`node` with a local `$ref` replaced by its target; keys next to `$ref` (such as a
    more specific `description`) win."""
    ref = node.get("$ref")
    if ref is None:
        return dict(node)
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, found {ref!r}")
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part]
    merged = resolve(target, root)
    merged.update({key: value for key, value in node.items() if key != "$ref"})
    return merged


def child(node: Schema, key: str, root: Schema) -> dict[str, Any] | None:
    """The schema of `key` in a mapping described by `node`: its property, else the
    schema of additional properties; None when the mapping's keys are not described."""
    properties = node.get("properties", {})
    if key in properties:
        return resolve(properties[key], root)
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        return resolve(extra, root)
    return None


@dataclass(frozen=True)
class Key:
    """One documented key: its dotted path (free-form names as `<name>`), its resolved
    schema, and whether its parent requires it."""

    path: str
    schema: dict[str, Any]
    required: bool


def iter_keys(node: Schema, root: Schema, prefix: str = "") -> Iterator[Key]:
    """Every key below `node`, depth first, in the schema's order."""
    required = set(node.get("required", []))
    for name, sub in node.get("properties", {}).items():
        resolved = resolve(sub, root)
        path = f"{prefix}.{name}" if prefix else name
        yield Key(path, resolved, name in required)
        yield from iter_keys(resolved, root, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        leaf = prefix.rsplit(".", 1)[-1]
        path = f"{prefix}.<{PLACEHOLDERS.get(leaf, 'name')}>"
        resolved = resolve(extra, root)
        yield Key(path, resolved, False)
        yield from iter_keys(resolved, root, path)


# ---------------------------------------------------------------------------------------
# Markdown


def value_text(value: Any) -> str:
    """`value` as it is written in the YAML config (floats in a form YAML 1.1 reads back as
    floats: `1.0e-05`, not `1e-05`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        mantissa, e, exponent = repr(value).partition("e")
        return (mantissa if "." in mantissa else mantissa + ".0") + e + exponent
    return json.dumps(value)


def _number(value: float) -> str:
    return value_text(value)


def _range(node: Schema) -> str:
    """Bounds of a number, e.g. `in [0, 1]`, `> 0`, `>= 2`."""
    low, high = node.get("minimum"), node.get("maximum")
    low_open = node.get("exclusiveMinimum")
    if low is not None and high is not None:
        return f" in [{_number(low)}, {_number(high)}]"
    if low_open is not None:
        return f" > {_number(low_open)}"
    if low is not None:
        return f" >= {_number(low)}"
    if high is not None:
        return f" <= {_number(high)}"
    return ""


def describe_type(node: Schema) -> str:
    """The type of a key in words: allowed values, bounds, sizes."""
    if "enum" in node:
        values = [f"`{value_text(value)}`" for value in node["enum"]]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    words = []
    for kind in kinds:
        if kind in ("number", "integer"):
            words.append(kind + _range(node))
        elif kind == "array":
            item = node.get("items", {}).get("type", "value")
            text = f"list of {item}s"
            extras = []
            if node.get("minItems"):
                extras.append(f"at least {node['minItems']}")
            if node.get("uniqueItems"):
                extras.append("unique")
            words.append(text + (f" ({', '.join(extras)})" if extras else ""))
        elif kind == "object":
            text = "mapping"
            if node.get("minProperties"):
                text += f" (at least {node['minProperties']} entry)"
            words.append(text)
        elif kind == "string" and node.get("minLength"):
            words.append("non-empty string")
        else:
            words.append(str(kind))
    text = " or ".join(words) or "any"
    if "oneOf" in node:  # alternative sets of required keys
        shapes = ["{" + ", ".join(option.get("required", [])) + "}" for option in node["oneOf"]]
        text += ": " + " or ".join(f"`{shape}`" for shape in shapes)
    return text


def describe_default(key: Key) -> str:
    if "default" in key.schema:
        return f"`{value_text(key.schema['default'])}`"
    return "required" if key.required else ""


def cell(text: str) -> str:
    """`text` on one line, safe in a Markdown table cell."""
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|")


def render_config(schema: Schema) -> str:
    """One section per top-level key: its description, then a table of every key below."""
    lines: list[str] = [
        "<!-- Generated from workflow/schemas/config.schema.yaml by scripts/config_docs.py: "
        "edit the schema's descriptions, then run the script. -->",
    ]
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        node = resolve(sub, schema)
        status = "Required." if name in required else "Optional."
        if "default" in node:
            status = f"Optional (default `{value_text(node['default'])}`)."
        lines += ["", f"### `{name}`", "", f"{cell(node.get('description', ''))} {status}"]
        keys = list(iter_keys(node, schema, name))
        if keys:
            lines += ["", "| key | type | default | description |", "|---|---|---|---|"]
            lines += [
                f"| `{key.path}` | {cell(describe_type(key.schema))} | {describe_default(key)} "
                f"| {cell(key.schema.get('description', ''))} |"
                for key in keys
            ]
    return "\n".join(lines) + "\n"


def render_samples(schema: Schema) -> str:
    """A table of the sample sheet's columns."""
    lines = [
        "<!-- Generated from workflow/schemas/samples.schema.yaml by scripts/config_docs.py: "
        "edit the schema's descriptions, then run the script. -->",
        "",
        "| column | type | description |",
        "|---|---|---|",
    ]
    required = set(schema.get("required", []))
    for key in iter_keys(schema, schema):
        optional = "" if key.path in required else " (may be empty)"
        lines.append(
            f"| `{key.path}` | {cell(describe_type(key.schema))}{optional} "
            f"| {cell(key.schema.get('description', ''))} |"
        )
    return "\n".join(lines) + "\n"


# The generated blocks of the README: marker name -> (schema, renderer).
BLOCKS: dict[str, tuple[Path, Callable[[Schema], str]]] = {
    "config keys": (CONFIG_SCHEMA, render_config),
    "sample sheet columns": (SAMPLES_SCHEMA, render_samples),
}


def update(text: str, blocks: Mapping[str, str], source: str = "README") -> str:
    """`text` with the content between each block's markers replaced."""
    for block, content in blocks.items():
        begin, end = begin_marker(block), end_marker(block)
        start, stop = text.find(begin), text.find(end)
        if start < 0 or stop < start or text.count(begin) != 1 or text.count(end) != 1:
            raise SystemExit(f"{source}: expected one {begin!r} followed by one {end!r}")
        text = text[: start + len(begin)] + "\n" + content + text[stop:]
    return text


def generated_readme(readme: Path = README) -> tuple[str, str]:
    """The README as it is and as it should be."""
    current = readme.read_text(encoding="utf-8")
    blocks = {name: render(load_schema(path)) for name, (path, render) in BLOCKS.items()}
    return current, update(current, blocks, str(readme))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the README is out of date; write nothing"
    )
    parser.add_argument("--readme", type=Path, default=README, help="default: %(default)s")
    args = parser.parse_args(argv)
    current, wanted = generated_readme(args.readme)
    if current == wanted:
        return 0
    if args.check:
        print(
            f"{args.readme} is out of date with the schemas' descriptions; "
            "run `python scripts/config_docs.py`.",
            file=sys.stderr,
        )
        return 1
    args.readme.write_text(wanted, encoding="utf-8")
    print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
