"""cx.yml: one schema at every depth (unknown keys with their full path and the nearest valid
key, wrong types), the question blocks and their defaults, and docs/configuration.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from cxlib.config import (
    BLOCKS,
    DEFAULTS,
    SCHEMA,
    check_config,
    check_param,
    documented_keys,
    load_config,
    resolve_options,
)
from cxlib.config._schema import COMMON_PARAMS
from cxlib.contract import ContractError

ROOT = Path(__file__).resolve().parent.parent


def _load(tmp_path: Path, text: str) -> dict:
    cfg = tmp_path / "cx.yml"
    cfg.write_text(text)
    return load_config(cfg)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour: blue\n", "colour: unknown key; valid keys here: data, out,"),
        ("sed: 3\n", "sed: unknown key; did you mean 'seed'?"),
        (
            "tables:\n  campaign:\n    column: {segment: group}\n",
            "tables.campaign.column: unknown key; did you mean 'columns'?",
        ),
        (
            "tables:\n  campain: {file: x.csv}\n",
            "tables.campain: unknown key; did you mean 'campaign'?",
        ),
        (
            "audit:\n  postcode_regexp: '^[0-9]{5}$'\n",
            "audit.postcode_regexp: unknown key; did you mean 'postcode_regex'?",
        ),
        (
            "journeys:\n  sesion_gap_minutes: 45\n",
            "journeys.sesion_gap_minutes: unknown key; did you mean 'session_gap_minutes'?",
        ),
        (
            "journeys:\n  fix_effort: {returns: low}\n  type_mapping: {web_returns: returns}\n",
            "journeys.type_mapping: unknown key; did you mean 'type_map'?",
        ),
        # a key at the wrong level says where it belongs
        ("control_arm: test\n", "control_arm: unknown key; it belongs under 'uplift': write `uplift: {control_arm: …}`."),
        (
            "session_gap_minutes: 45\n",
            "session_gap_minutes: unknown key; it belongs under 'journeys'",
        ),
        (
            "journeys:\n  currency: '£'\n",
            "journeys.currency: unknown key; it belongs at the top level of the file",
        ),
        (
            "lookback_days: 180\n",
            "it belongs under 'segmentation' or 'churn'",
        ),
        ("file: x.csv\n", "file: unknown key; it belongs under 'tables.<table>': write `tables: {<table>: {file: …}}`."),
        (
            "notebooks:\n  03_churn: {horizon_dys: 60}\n",
            "notebooks.03_churn.horizon_dys: unknown key; did you mean 'horizon_days'?",
        ),
        (
            "notebooks:\n  03_churn: {control_arm: x}\n",
            "it belongs under 'notebooks.04_campaign_uplift'",
        ),
        ("notebooks:\n  03_chrn: {}\n", "notebooks.03_chrn: unknown key; did you mean '03_churn'?"),
        (
            "journey:\n  channel_types: {app: digital}\n",
            "journey: unknown key; did you mean 'journeys'?",
        ),
    ],
)
def test_unknown_key_at_any_depth_names_its_path_and_the_nearest_key(tmp_path, text, message):
    with pytest.raises(ContractError) as err:
        _load(tmp_path, text)
    assert str(err.value).startswith(f"{tmp_path / 'cx.yml'}: ")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seed: forty\n", "seed: expected integer, got text ('forty')."),
        ("seed: 4.5\n", "seed: expected integer, got number (4.5)."),
        ("min_group_size: true\n", "min_group_size: expected integer, got boolean (True)."),
        ("currency: 3\n", "currency: expected text, got integer (3)."),
        ("tables: [customers]\n", "tables: expected mapping, got list (['customers'])."),
        ("tables:\n  campaign:\n    row_id: 'yes'\n", "tables.campaign.row_id: expected boolean"),
        (
            "tables:\n  campaign:\n    columns: {segment: 3}\n",
            "tables.campaign.columns.segment: expected text, got integer (3).",
        ),
        (
            "journeys:\n  session_gap_minutes: 45m\n",
            "journeys.session_gap_minutes: expected number or null, got text ('45m').",
        ),
        (
            "journeys:\n  collapse_repeats: 'no'\n",
            "journeys.collapse_repeats: expected boolean, got text ('no').",
        ),
        (
            "journeys:\n  contact_touchpoints: [call_centre, 3]\n",
            "journeys.contact_touchpoints.1: expected text, got integer (3).",
        ),
        ("uplift:\n  cost_per_contact: cheap\n", "uplift.cost_per_contact: expected number"),
        ("audit:\n  match_threshold: [1]\n", "audit.match_threshold: expected number, got list"),
        ("journeys: 45\n", "journeys: expected mapping, got integer (45)."),
    ],
)
def test_wrong_type_names_the_expected_one(tmp_path, text, message):
    with pytest.raises(ContractError) as err:
        _load(tmp_path, text)
    assert message in str(err.value)


def test_valid_config_with_every_block(tmp_path):
    cfg = _load(
        tmp_path,
        """\
as_of_date: 2024-06-30
currency: "£"
only: [1, "05"]
tables:
  campaign: {file: hillstrom.csv, row_id: true, columns: {segment: group}}
  transactions: {date_format: "%d/%m/%Y"}
audit: {postcode_regex: '^[0-9]{5}$', channel_synonyms: {mobile: app}, match_threshold: 1}
segmentation: {k_max: 6}
churn: {horizon_days: 60, segment_column: null}
uplift: {control_arm: holdout, cost_per_contact: 0.5, expected_allocation: {holdout: 0.5}}
journeys:
  session_gap_minutes: 45
  channel_types: {app: digital}
  type_map: {web_returns: returns}
  fix_effort: {returns: low}
  contact_touchpoints: [call_centre]
  target_conversion: {returns: 0.3}
notebooks:
  03_churn: {n_bootstrap: 20}
""",
    )
    assert cfg["journeys"]["session_gap_minutes"] == 45
    assert cfg["audit"]["channel_synonyms"] == {"mobile": "app"}
    assert cfg["currency"] == "£"
    assert set(cfg) == set(DEFAULTS)


def test_empty_block_is_its_defaults(tmp_path):
    cfg = _load(tmp_path, "journeys:\nuplift: {}\n")
    opts = resolve_options(cfg)
    assert opts["journeys"]["session_gap_minutes"] is None  # from the data
    assert opts["uplift"]["control_arm"] is None  # recognised by its name


def test_resolve_options_defaults_then_block_then_notebook_overrides():
    opts = resolve_options(
        {
            "journeys": {"session_gap_minutes": 45, "fix_effort": {"returns": "low"}},
            "churn": {"horizon_days": 60, "n_bootstrap": 50},
            "notebooks": {"03_churn": {"n_bootstrap": 10, "seed": 3}},
        }
    )
    assert set(opts) == set(BLOCKS)
    assert opts["journeys"]["session_gap_minutes"] == 45
    assert opts["journeys"]["fix_effort"] == {"returns": "low"}
    assert opts["journeys"]["collapse_repeats"] is True  # a default
    assert opts["churn"]["horizon_days"] == 60
    assert opts["churn"]["n_bootstrap"] == 10  # the notebook override wins
    assert "seed" not in opts["churn"]  # a common parameter is not a block option
    assert opts["segmentation"]["n_bootstrap"] == 30


def test_check_param():
    check_param("horizon_days", 60)
    check_param("seed", 7)
    check_param("value_per_conversion", None)  # journeys accepts None (uplift does not)
    with pytest.raises(
        ContractError,
        match=r"-p horizon_dys: unknown notebook parameter; "
        r"did you mean 'horizon_days'\?",
    ):
        check_param("horizon_dys", 60)
    with pytest.raises(ContractError, match=r"-p horizon_days: expected integer, got text"):
        check_param("horizon_days", "sixty")


def test_check_config_without_a_file_has_no_prefix():
    with pytest.raises(ContractError, match=r"^journeys\.x: unknown key"):
        check_config({"journeys": {"x": 1}})


def _parameters_cell(stem: str) -> dict[str, object]:
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    tree = ast.parse(cell.source)
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
    }


@pytest.mark.parametrize("block", list(BLOCKS))
def test_block_parameters_are_the_notebook_parameters_with_their_defaults(block):
    """A block's ``param`` keys are exactly its notebook's parameters (less the common ones),
    with the notebook's defaults."""
    params = _parameters_cell(BLOCKS[block])
    assert set(COMMON_PARAMS) <= set(params)
    own = {k: v for k, v in params.items() if k not in COMMON_PARAMS}
    fields = SCHEMA.fields[block].fields
    schema = {k: f.default for k, f in fields.items() if f.param}
    assert schema == own


def test_series_notebooks_are_the_blocks_notebooks():
    from cxlib.runner import NOTEBOOKS

    assert [nb.name for nb in NOTEBOOKS] == list(BLOCKS.values())


def _documented() -> dict[str, str]:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`|]+)` \| ([^|]*?) \|", text, flags=re.MULTILINE)
    return {key: default.strip() for key, default in rows}


def test_docs_list_every_key_with_its_default():
    documented = _documented()
    want = documented_keys()
    assert sorted(set(want) - set(documented)) == [], "keys missing from docs/configuration.md"
    assert sorted(set(documented) - set(want)) == [], "docs/configuration.md lists unknown keys"
    for key, default in want.items():
        assert _bare(documented[key]) == _bare(default), key


def _bare(cell: str) -> str:
    """A table cell without the back-ticks around a single code span."""
    if cell.startswith("`") and cell.endswith("`") and cell.count("`") == 2:
        return cell[1:-1]
    return cell


def test_cx_yml_in_the_data_folder_is_used_and_named(sample_dir, tmp_path, capsys):
    """Issue #21: without --config, a cx.yml inside the --data folder is the run's config, and
    the console says so."""
    from cxlib.cli import main

    data = tmp_path / "data"
    data.mkdir()
    for name in ("transactions.csv", "customers.csv"):
        (data / name).write_bytes((sample_dir / name).read_bytes())
    (data / "cx.yml").write_text("as_of_date: 2025-03-31\n")
    assert main(["check", "--data", str(data)]) == 0
    captured = capsys.readouterr()
    assert f"Config: {data / 'cx.yml'} (found in the data folder" in captured.err
    assert "As-of date: 31 March 2025, set for this run." in captured.out
    (data / "cx.yml").write_text("control_arm: x\n")
    assert main(["check", "--data", str(data)]) == 2
    assert "it belongs under 'uplift'" in capsys.readouterr().err
