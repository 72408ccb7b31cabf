"""Config validation against the workflow's JSON Schema, with defaults filled in.

The schema is split into one file per stage (``workflow/schemas/*.schema.yaml``) joined by
``$ref``. jsonschema does not fill defaults through references, so the references are
inlined first; the validator then fills defaults top-down and reports the first error with
its dotted key (``homogenize.dt``). The custom keyword ``x-must-exist: true`` marks path
strings that must exist when the workflow starts.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from .errors import ConfigError


def load_schema(schema_path: str | os.PathLike) -> dict:
    """Load a YAML schema and inline every relative ``$ref`` to a sibling file."""
    schema_path = Path(schema_path)
    schema = yaml.safe_load(schema_path.read_text())
    return _inline_refs(schema, schema_path.parent)


def _inline_refs(node, base: Path):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            target = base / ref
            inlined = _inline_refs(yaml.safe_load(target.read_text()), target.parent)
            inlined.pop("$schema", None)
            extra = {k: _inline_refs(v, base) for k, v in node.items() if k != "$ref"}
            return {**inlined, **extra}
        return {k: _inline_refs(v, base) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, base) for v in node]
    return node


def _extend_with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    def must_exist(validator, value, instance, schema):
        if value and isinstance(instance, str) and not Path(instance).exists():
            from jsonschema.exceptions import ValidationError

            yield ValidationError(f"path '{instance}' does not exist")

    return validators.extend(
        validator_class, {"properties": set_defaults, "x-must-exist": must_exist}
    )


_Validator = _extend_with_defaults(Draft202012Validator)


def validate_config(config: dict, schema_path: str | os.PathLike) -> dict:
    """Validate ``config`` in place, fill defaults, and return it.

    Raises
    ------
    ConfigError
        naming the dotted key of the first problem (unknown key, wrong type, missing path...).
    """
    schema = load_schema(schema_path)
    validator = _Validator(schema)
    # two passes: the first fills defaults (so nested defaults exist), the second reports
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        error = errors[0]
        key = ".".join(str(p) for p in error.path) or "<root>"
        message = error.message
        if error.validator == "additionalProperties":
            unexpected = [k for k in error.instance if k not in error.schema.get("properties", {})]
            extra = "/".join(error.schema.get("patternProperties", {}).keys())
            if unexpected and not extra:
                key = ".".join([*map(str, error.path), unexpected[0]])
                allowed = ", ".join(sorted(error.schema.get("properties", {})))
                message = f"unknown key (allowed here: {allowed})"
        raise ConfigError(key, message)
    return config
