"""Batches of regions on a local Dask cluster: same outputs as single runs, resumable, isolated
failures, validation before any work."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pyproj import CRS

from geo.cli import main as cli_main
from geo.config import load_config
from geo.errors import InputError
from geo.inputs.layers import assign_subareas, load_population, load_subareas
from geo.render.files import TABLE_NAMES
from geo.workflows.batch import (
    is_current,
    load_batch,
    plan_batch,
    run_batch,
    slugify,
)
from geo.workflows.pipeline import run
from tests.conftest import DEMO_CONFIG, DEMO_DIR, REPO_ROOT

LIGHT = {"catchments": {"enabled": False}, "uncertainty": {"enabled": False}}


def demo_copy(folder: Path, name: str, **sections) -> Path:
    """The demo config under another name, its paths made absolute, sections replaced."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))

    def absolute(value):
        if isinstance(value, dict):
            return {k: absolute(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("../"):
            return str((DEMO_CONFIG.parent / value).resolve())
        return value

    raw = absolute(raw)
    raw["region"]["name"] = name
    raw.pop("output", None)
    raw.update(sections)
    path = folder / f"{slugify(name)}.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def broken_copy(folder: Path) -> Path:
    """A demo copy that passes validation (headers are fine) but fails while running."""
    lines = (DEMO_DIR / "gp_practices.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    first = lines[1].split(",")
    first[header.index("latitude") + 1] = "not-a-number"  # the address holds one comma
    gp = folder / "gp_broken.csv"
    gp.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n", encoding="utf-8")
    raw = yaml.safe_load(demo_copy(folder, "Broken region").read_text(encoding="utf-8"))
    raw["gp_practices"]["path"] = str(gp)
    path = folder / "broken.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def write_batch(folder: Path, name: str, body: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return path


def single_run_tables(config_path: Path, folder: Path) -> Path:
    """Tables of an in-process single-region run, written as the pipeline writes them."""
    results = run(load_config(config_path), write_outputs=False).results
    folder.mkdir(parents=True)
    for name, table in results.tables.items():
        table.to_csv(folder / f"{name}.csv", index=False, float_format="%.10g")
    return folder


def assert_same_tables(batch_tables: Path, single_tables: Path) -> None:
    names = sorted(p.name for p in single_tables.glob("*.csv"))
    assert names == sorted(p.name for p in batch_tables.glob("*.csv"))
    assert {f"{t}.csv" for t in TABLE_NAMES} <= set(names)
    for name in names:
        pd.testing.assert_frame_equal(
            pd.read_csv(batch_tables / name), pd.read_csv(single_tables / name), check_exact=True
        )


@pytest.mark.slow
def test_batch_matches_single_runs_resumes_and_isolates_failures(tmp_path: Path) -> None:
    light = demo_copy(tmp_path, "Copy <b>&</b> demo", **LIGHT)
    broken = broken_copy(tmp_path)
    batch = write_batch(
        tmp_path, "batch.yml", {"regions": [str(DEMO_CONFIG), light.name, broken.name]}
    )
    out = tmp_path / "out"
    copy_slug = slugify("Copy <b>&</b> demo")

    outcome = run_batch(batch, out, n_workers=2)

    status = {row["region"]: row["status"] for row in outcome.summary}
    assert status == {
        "Demo region (synthetic, inland Australia)": "ok",
        "Copy <b>&</b> demo": "ok",
        "Broken region": "failed",
    }
    failed = next(r for r in outcome.summary if r["status"] == "failed")
    assert "latitude" in failed["error"] or "coordinate" in failed["error"].lower()
    assert not (out / "broken_region").exists()
    demo_slug = slugify("Demo region (synthetic, inland Australia)")
    assert_same_tables(
        out / demo_slug / "tables", single_run_tables(DEMO_CONFIG, tmp_path / "single_demo")
    )
    assert_same_tables(
        out / copy_slug / "tables", single_run_tables(light, tmp_path / "single_light")
    )

    summary = pd.read_csv(out / "batch_summary.csv")
    assert list(summary["status"]) == ["ok", "ok", "failed"]
    assert summary["pop_count"].isna().tolist() == [False, False, True]
    assert summary["error"].isna().tolist() == [True, True, False]
    assert list(summary["out_dir"]) == [demo_slug, copy_slug, "broken_region"]
    demo_row = summary.iloc[0]
    assert demo_row["pop_count"] == pytest.approx(86088.88, abs=0.01)
    assert 0 < float(demo_row["need_within_spc_share"]) < 1
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "Copy &lt;b&gt;&amp;&lt;/b&gt; demo" in index and "<b>&" not in index
    assert f'href="{demo_slug}/map.html"' in index and f'href="{copy_slug}/report.html"' in index
    assert "broken_region/" not in index
    # Need within reach and need whose access is unknown, side by side, as in the summary.
    assert "<th>Need whose access is unknown</th>" in index
    within = f"{100 * float(demo_row['need_within_spc_share']):.1f}%"
    unknown = f"{100 * float(demo_row['need_unknown_spc_share']):.1f}%"
    assert f"<td>{within}</td>\n<td>{unknown}</td>" in index

    stamps = {s: (out / s / "run.json").stat().st_mtime_ns for s in (demo_slug, copy_slug)}
    again = run_batch(batch, out, n_workers=2)
    assert [r["status"] for r in again.summary] == ["skipped", "skipped", "failed"]
    assert {s: (out / s / "run.json").stat().st_mtime_ns for s in stamps} == stamps
    assert again.summary[0]["pop_count"] == pytest.approx(outcome.summary[0]["pop_count"])

    # Any change to an input or to the config makes the region stale again.
    config = load_config(light)
    assert is_current(config, out / copy_slug)
    light.write_text(light.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert not is_current(load_config(light), out / copy_slug)


@pytest.mark.slow
def test_subarea_batch_cuts_each_subarea_from_the_national_layer(tmp_path: Path) -> None:
    template = demo_copy(tmp_path, "Demo template", **LIGHT)
    batch = write_batch(
        tmp_path,
        "national.yml",
        {
            "template": template.name,
            "subareas": {
                "path": str(DEMO_DIR / "subareas.gpkg"),
                "layer": "subareas",
                "id_column": "area_id",
                "name_column": "area_name",
                "ids": ["SA2-003"],
            },
            "out_dir": "national_out",
        },
    )
    outcome = run_batch(batch, n_workers=1)
    out = tmp_path / "national_out"
    assert outcome.out_dir == out
    [row] = outcome.summary
    assert (row["region"], row["status"]) == ("Bellbrook", "ok")
    # Only Bellbrook's people: the same cells as the whole region's origins assigned to SA2-003.
    config = load_config(template)
    crs = CRS.from_user_input(config.region.crs)
    origins = assign_subareas(
        load_population(config.population, crs=crs, region=None, network=None),
        load_subareas(config.subareas, crs=crs),
    )
    expected = origins.loc[origins["area_id"] == "SA2-003", "pop_count"].sum()
    assert row["pop_count"] == pytest.approx(expected, rel=1e-9)
    boundary = out / ".batch" / "boundaries" / "sa2_003_bellbrook.geojson"
    assert boundary.is_file()
    assert (out / "sa2_003_bellbrook" / "run.json").is_file()
    assert [r["status"] for r in run_batch(batch, n_workers=1).summary] == ["skipped"]


def test_subarea_plan_names_regions_and_rejects_unknown_ids(tmp_path: Path) -> None:
    template = demo_copy(tmp_path, "Demo template", **LIGHT)
    source = {"path": str(DEMO_DIR / "subareas.gpkg"), "layer": "subareas", "id_column": "area_id"}
    batch = load_batch(
        write_batch(
            tmp_path,
            "b.yml",
            {"template": str(template), "subareas": {**source, "name_column": "area_name"}},
        )
    )
    regions = plan_batch(batch, tmp_path / "out")
    assert len(regions) == 12
    names = {r.name: r.slug for r in regions}
    assert names["Saltbush & Gidgee"] == "sa2_012_saltbush_gidgee"
    assert names["Ngurrara (ngurra) — 北区"] == "sa2_009_ngurrara_ngurra"
    assert all(
        r.config.region.boundary.parent == (tmp_path / "out" / ".batch" / "boundaries").resolve()
        for r in regions
    )
    assert not (tmp_path / "out").exists()
    bad = load_batch(
        write_batch(
            tmp_path,
            "bad.yml",
            {"template": str(template), "subareas": {**source, "ids": ["SA2-999"]}},
        )
    )
    with pytest.raises(InputError, match="SA2-999"):
        plan_batch(bad, tmp_path / "out")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"regions": ["missing.yml"]}, r"regions\[0\].*region config file not found"),
        ({"regions": [str(DEMO_CONFIG), str(DEMO_CONFIG)]}, "same name"),
        ({"regions": [str(DEMO_CONFIG)], "regoins": []}, "did you mean 'regions'"),
        ({"template": str(DEMO_CONFIG)}, "'template' and 'subareas' go together"),
    ],
)
def test_invalid_batches_fail_before_any_work(tmp_path: Path, body: dict, message: str) -> None:
    batch = write_batch(tmp_path, "batch.yml", body)
    with pytest.raises(InputError, match=message) as info:
        run_batch(batch, tmp_path / "out")
    assert "batch.yml" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_invalid_region_config_is_named_with_its_entry(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("region: {name: x}\nroads: {path: nowhere.osm, speeds: 3}\n", encoding="utf-8")
    batch = write_batch(tmp_path, "batch.yml", {"regions": [str(DEMO_CONFIG), "bad.yml"]})
    with pytest.raises(InputError, match=r"regions\[1\] \(.*bad.yml\).*unknown key 'roads.speeds'"):
        run_batch(batch, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_is_reported_and_nothing_written(tmp_path: Path) -> None:
    batch = write_batch(tmp_path, "batch.yml", {"regions": [str(DEMO_CONFIG)]})
    with pytest.raises(InputError, match=r"cannot reach Dask scheduler at tcp://127\.0\.0\.1:1"):
        run_batch(
            batch, tmp_path / "out", scheduler_address="tcp://127.0.0.1:1", connect_timeout_s=1
        )
    assert not (tmp_path / "out").exists()


def test_cli_batch_exits_2_on_a_bad_batch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    batch = write_batch(tmp_path, "batch.yml", {"regions": ["nope.yml"]})
    code = cli_main(["batch", str(batch), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert code == 2
    assert "region config file not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    code = cli_main(
        ["batch", str(batch), "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "o")]
    )
    assert code == 2 and not (tmp_path / "o").exists()


@pytest.mark.realdata
def test_example_batch_validates(geo_data_root_env: Path, tmp_path: Path) -> None:
    batch = load_batch(REPO_ROOT / "scripts" / "batch_example.yml")
    regions = plan_batch(batch, tmp_path / "out")
    assert [r.name for r in regions] == [
        "Demo region (synthetic, inland Australia)",
        "Isle of Wight",
    ]
    assert os.path.isabs(regions[1].config.roads.path)
