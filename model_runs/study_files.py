"""Study files: declarative TOML lists of conditions, resolved into one entry per model.

A study file names its dataset, a base recipe (a per-dataset preset plus overrides) and its
conditions; a condition overrides recipe keys and may `vary` keys to make several models. Every
key is checked: an unknown one is a one-line error naming the file and the key.
See docs/formats.md, "Study files".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from labutil.bounds import MAX_REPEAT, MAX_STUDY_MODELS
from labutil.errors import UserError
from labutil.io import read_toml
from model_runs.datasets import DATASETS, LOCATION_KEYS, validate_dataset_config
from model_runs.models import check_model_name, check_model_options
from model_runs.conditions import check_store_table
from model_runs.recipes import (FILE_ONLY_KEYS, LATER_KEYS, OPTIONAL_KEYS, RECIPE_KEYS, check_recipe, check_value,
                                drop_optional_defaults, recipe_value, resolve_recipe)

STUDY_KEYS = ("name", "description", "preset", "dataset", "recipe", "conditions", "store")
CONDITION_KEYS = ("name", "description", "vary", "repeat", "compare", "continue_from")
COMPARE_KINDS = ("base", "each-other")  # how the analysis compares a condition's models: with the base, or with each other
_ID_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


@dataclass
class StudySpec:
    """A resolved study: dataset options, base recipe, and one complete entry per model."""

    name: str
    description: str
    preset: str
    dataset: dict[str, Any]  # validated [dataset] table, locations included
    recipe: dict[str, Any]
    models: list[dict[str, Any]]
    source: str = ""
    conditions: list[str] = field(default_factory=list)
    comparisons: dict[str, str] = field(default_factory=dict)  # condition -> "each-other" (absent: with the base)
    store: dict[str, Any] = field(default_factory=dict)  # the [store] table: what models store beyond decisions

    def dataset_definition(self) -> dict[str, Any]:
        """The [dataset] table without locations (root, cache_dir): what the data is, not where."""
        return {k: v for k, v in self.dataset.items() if k not in LOCATION_KEYS}

    def dataset_location(self) -> dict[str, Any]:
        return {k: v for k, v in self.dataset.items() if k in LOCATION_KEYS and v is not None}

    def definition(self) -> dict[str, Any]:
        """The resolved definition written to the store's study.toml (`comparisons` only when some
        condition's models are compared with each other, so other studies' definitions are unchanged)."""
        out = {
            "name": self.name,
            "description": self.description,
            "preset": self.preset,
            "dataset": self.dataset_definition(),
            "recipe": self.recipe,
            "models": self.models,
        }
        if self.comparisons:
            out["comparisons"] = dict(self.comparisons)
        if self.store:
            out["store"] = dict(self.store)
        return out

    def model(self, model_id: str) -> dict[str, Any]:
        for entry in self.models:
            if entry["model_id"] == model_id:
                return entry
        raise UserError(f"study '{self.name}' has no model '{model_id}' (has: {', '.join(m['model_id'] for m in self.models)})")

    def select(self, model_ids: list[str] | None) -> list[dict[str, Any]]:
        """The entries of the given models (all when None), in study order."""
        if not model_ids:
            return list(self.models)
        wanted = [self.model(m) for m in model_ids]
        return [m for m in self.models if m in wanted]

    def with_location(self, location: dict[str, Any]) -> "StudySpec":
        """The same study with dataset locations (root, cache_dir) overridden where given."""
        dataset = dict(self.dataset)
        options = DATASETS[dataset["name"]].options
        for key, value in location.items():
            if value is None:
                continue
            if key not in options:
                flag = {"root": "--data-root", "cache_dir": "--cache-dir"}.get(key, key)
                raise UserError(f"{flag}: dataset '{dataset['name']}' has no '{key}' option")
            dataset[key] = str(Path(value).expanduser().resolve())  # a relative --data-root: from the working directory
        return StudySpec(self.name, self.description, self.preset, dataset, self.recipe, self.models, self.source, self.conditions,
                         self.comparisons, self.store)


def shipped_studies() -> dict[str, Path]:
    """Study files shipped in model_runs/studies/, by name."""
    folder = resources.files("model_runs") / "studies"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def find_study_file(name_or_path: str) -> Path:
    """A shipped study by name, or a TOML file by path."""
    shipped = shipped_studies()
    if name_or_path in shipped:
        return shipped[name_or_path]
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.suffix == ".toml" or "/" in name_or_path:
        raise UserError(f"{path}: study file not found")
    raise UserError(f"unknown study '{name_or_path}' (shipped: {', '.join(sorted(shipped))}; or give a .toml file)")


def load_study(name_or_path: str, location: dict[str, Any] | None = None) -> StudySpec:
    """Read, check and resolve a study file; `location` overrides the dataset root/cache folder."""
    path = find_study_file(name_or_path)
    raw = read_toml(path)
    spec = parse_study(raw, str(path))
    spec.source = str(path)
    root = spec.dataset.get("root")
    if isinstance(root, str) and root and not Path(root).expanduser().is_absolute():
        spec.dataset["root"] = str((path.parent / root).resolve())  # relative to the study file, not the working directory
    return spec.with_location(location or {})


def parse_study(raw: dict[str, Any], where: str) -> StudySpec:
    """Resolve a study table (as read from TOML) into a StudySpec; errors name `where` and the key."""
    for key in raw:
        if key not in STUDY_KEYS:
            raise UserError(f"{where}: unknown key '{key}' (known: {', '.join(STUDY_KEYS)})")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserError(f"{where}: 'name' must be a folder-safe name (letters, digits, '_', '-')")
    dataset = validate_dataset_config(_table(raw, "dataset", where), f"{where} [dataset]")
    preset = raw.get("preset", dataset["name"])
    if not isinstance(preset, str):
        raise UserError(f"{where}: 'preset' must be a string")
    recipe_table = _table(raw, "recipe", where, required=False)
    recipe = resolve_recipe(preset, recipe_table, f"{where} [recipe]")
    conditions = raw.get("conditions")
    if not isinstance(conditions, list) or not conditions or not all(isinstance(c, dict) for c in conditions):
        raise UserError(f"{where}: needs at least one [[conditions]] table")
    models: list[dict[str, Any]] = []
    names: list[str] = []
    comparisons: dict[str, str] = {}
    by_condition: dict[str, list[dict[str, Any]]] = {}
    for number, cond in enumerate(conditions, start=1):
        cwhere = f"{where} condition {number}" + (f" '{cond['name']}'" if isinstance(cond.get("name"), str) else "")
        cname = cond.get("name")
        if not isinstance(cname, str) or not _NAME.match(cname):
            raise UserError(f"{cwhere}: 'name' must be a folder-safe name (letters, digits, '_', '-')")
        if cname in names:
            raise UserError(f"{cwhere}: condition name used twice")
        names.append(cname)
        compare = cond.get("compare", "base")
        if compare not in COMPARE_KINDS:
            raise UserError(f"{cwhere}: 'compare' must be one of {', '.join(COMPARE_KINDS)} (found {compare!r})")
        new = _condition_models(cond, recipe, cwhere)
        if compare == "each-other":
            if len(new) < 2:
                raise UserError(f"{cwhere}: compare = \"each-other\" needs at least two models (use vary or repeat)")
            comparisons[cname] = compare
        models.extend(new)
        by_condition[cname] = new
        if len(models) > MAX_STUDY_MODELS:
            raise UserError(f"{where}: more than {MAX_STUDY_MODELS} models; a study holds at most {MAX_STUDY_MODELS}")
    ids = [m["model_id"] for m in models]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise UserError(f"{where}: model id '{dupes[0]}' made by two conditions; rename one")
    for m in models:
        drop_optional_defaults(m)
        check_model_name(m["arch"], f"{where} model '{m['model_id']}': ")
        check_model_options(m["arch"], m["model_options"], f"{where} model '{m['model_id']}': ")
        check_recipe(m, f"{where} model '{m['model_id']}'")
        if DATASETS[dataset["name"]].kind != "files":
            for key in FILE_ONLY_KEYS:
                if recipe_value(m, key) != RECIPE_KEYS[key][0]:
                    raise UserError(f"{where} model '{m['model_id']}': '{key}' applies only to image-file datasets (imagenet, imagefolder), not '{dataset['name']}'")
    _resolve_continuations(conditions, by_condition, where)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"{where}: 'description' must be a string")
    store = check_store_table(raw.get("store"), where)
    models = [drop_optional_defaults(m) for m in models]
    return StudySpec(name, description, preset, dataset, drop_optional_defaults(recipe), models, where, names, comparisons, store)


def _resolve_continuations(conditions: list[dict[str, Any]], by_condition: dict[str, list[dict[str, Any]]], where: str) -> None:
    """Set `continue_from` (the source model's id) on the models of conditions that continue another
    condition's model; refused where the continued run would differ from a from-scratch one."""
    for cond in conditions:
        source = cond.get("continue_from")
        if source is None:
            continue
        cwhere = f"{where} condition '{cond['name']}'"
        if not isinstance(source, str) or source not in by_condition or source == cond["name"]:
            raise UserError(f"{cwhere}: continue_from = {source!r} names no other condition of the study")
        if len(by_condition[source]) != 1:
            raise UserError(f"{cwhere}: continue_from = '{source}': that condition has {len(by_condition[source])} models; it needs exactly one")
        base = by_condition[source][0]
        if "continue_from" in base or any(c.get("continue_from") for c in conditions if c.get("name") == source):
            raise UserError(f"{cwhere}: continue_from = '{source}': that condition itself continues another; continue from the first")
        for m in by_condition[cond["name"]]:
            _check_continuation(m, base, f"{where} model '{m['model_id']}'")
            m["continue_from"] = base["model_id"]


def _check_continuation(model: dict[str, Any], base: dict[str, Any], where: str) -> None:
    """A continued model may differ from its source in the number of epochs only (more of them)."""
    if model["epochs"] <= base["epochs"]:
        raise UserError(f"{where}: continue_from '{base['model_id']}' needs more epochs than its {base['epochs']} (has {model['epochs']})")
    if model.get("lr_schedule", "step") in ("cosine", "cyclic"):
        raise UserError(f"{where}: continue_from with lr_schedule = \"{model['lr_schedule']}\": the schedule depends on the total epochs "
                        f"({model['epochs']} here, {base['epochs']} in '{base['model_id']}'), so train it from scratch (remove continue_from)")
    for key in sorted(set(RECIPE_KEYS) - {"epochs"}):
        if model.get(key, RECIPE_KEYS[key][0]) != base.get(key, RECIPE_KEYS[key][0]):
            raise UserError(f"{where}: continue_from '{base['model_id']}' differs in '{key}' ({model.get(key)!r} against "
                            f"{base.get(key)!r}); a continued model may differ in epochs only")


def _table(raw: dict[str, Any], key: str, where: str, required: bool = True) -> dict[str, Any]:
    value = raw.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where}: needs a [{key}] table")
    return value


def _condition_models(cond: dict[str, Any], recipe: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The model entries of one condition: its overrides, times each value of its `vary` keys."""
    overrides: dict[str, Any] = {}
    for key, value in cond.items():
        if key in CONDITION_KEYS:
            continue
        if key not in RECIPE_KEYS:
            raise UserError(f"{where}: unknown key '{key}' (known: {', '.join((*CONDITION_KEYS, *RECIPE_KEYS))})")
        overrides[key] = check_value(key, value, where)
    if "description" in cond and not isinstance(cond["description"], str):
        raise UserError(f"{where}: 'description' must be a string")
    vary = cond.get("vary", {})
    if not isinstance(vary, dict):
        raise UserError(f"{where}: 'vary' must be a table of key = [values]")
    lengths = set()
    for key, values in vary.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"{where}: vary.{key} must be a non-empty list")
        if key in overrides:
            raise UserError(f"{where}: '{key}' is both set and varied")
        lengths.add(len(values))
        vary[key] = [check_value(key, v, f"{where} vary") for v in values]
    if len(lengths) > 1:
        raise UserError(f"{where}: all vary lists must have the same length (they are zipped)")
    name = cond["name"]
    base = {**recipe, **overrides}
    repeat = cond.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise UserError(f"{where}: 'repeat' must be a positive integer")
    if repeat > MAX_REPEAT:
        raise UserError(f"{where}: repeat = {repeat}: must be between 1 and {MAX_REPEAT}")
    if repeat > 1 and vary:
        raise UserError(f"{where}: use either 'repeat' or 'vary', not both")
    if repeat > 1:
        return [{"model_id": f"{name}-{i}", "condition": name, "replicate": i, **base} for i in range(1, repeat + 1)]
    if not vary:
        return [{"model_id": name, "condition": name, **base}]
    n = lengths.pop()
    out = []
    for i in range(n):
        values = {key: vals[i] for key, vals in vary.items()}
        suffix = _ID_SAFE.sub("_", str(next(iter(values.values())))) if len(values) == 1 else str(i + 1)
        out.append({"model_id": f"{name}-{suffix}", "condition": name, **base, **values})
    return out


def study_from_definition(definition: dict[str, Any], where: str, location: dict[str, Any] | None = None) -> StudySpec:
    """The StudySpec stored in a study folder's study.toml (for resume, status and workers)."""
    try:
        dataset = validate_dataset_config(dict(definition["dataset"]), f"{where} [dataset]")
        models = list(definition["models"])
        for m in models:
            for key in RECIPE_KEYS:
                if key not in m and key not in LATER_KEYS and key not in OPTIONAL_KEYS:
                    raise KeyError(key)
        spec = StudySpec(
            str(definition["name"]), str(definition.get("description", "")), str(definition.get("preset", dataset["name"])),
            dataset, dict(definition["recipe"]), models, where, comparisons=dict(definition.get("comparisons", {})),
            store=check_store_table(definition.get("store"), where),
        )
    except (KeyError, TypeError) as exc:
        raise UserError(f"{where}: not a resolved study definition (missing {exc})") from None
    return spec.with_location(location or {})


def describe_studies() -> list[tuple[str, str, int, str]]:
    """(name, dataset, number of models, description) of every shipped study."""
    out = []
    for name, path in sorted(shipped_studies().items()):
        spec = parse_study(read_toml(path), str(path))
        out.append((name, spec.dataset["name"], len(spec.models), spec.description))
    return out


__all__ = ["DATASETS", "StudySpec", "describe_studies", "find_study_file", "load_study", "parse_study", "shipped_studies", "study_from_definition"]
