"""``tasks.ebsd``: what ``microseg ebsd`` writes and prints, as one call."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from microseg import io, synth, tasks
from microseg._util import InputError, OutputExistsError
from microseg.cli import main
from microseg.ebsd import EBSDAnalysis, analyse_ebsd
from microseg.tasks._ebsd import OUTPUTS, parse_quality


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    poly = synth.make_polycrystal((96, 112), mean_diameter_px=24.0, pixel_size=0.1, seed=3)
    m = synth.make_ebsd_map(poly, step_px=1.0, orientation_noise_deg=0.3, nonindexed_fraction=0.02, seed=3)
    path = tmp_path_factory.mktemp("ebsd") / "scan.ang"
    io.write_ebsd(path, m)
    return path


@pytest.fixture(scope="module")
def result(scan):
    return tasks.ebsd(scan, min_grain_size=2, min_quality={"ci": 0.05}, fill=True)


def test_the_task_is_what_the_cli_writes_and_prints(scan, result, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["ebsd", str(scan), "--min-grain-size", "2", "--min-quality", "ci=0.05", "--fill",
                 "-o", str(out)]) == 0
    assert capsys.readouterr().out == result.text + "\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert json.loads((out / "summary.json").read_text()) == json.loads(io.json_text(result.summary))
    rows = list(csv.DictReader((out / "grains.csv").read_text().splitlines()))
    assert list(rows[0]) == list(result.table) and len(rows) == len(result.table["label"])
    for column, values in result.table.items():
        written = [r[column] for r in rows]
        if values.dtype == bool:
            assert written == [str(v) for v in values.tolist()], column
        else:
            np.testing.assert_allclose(np.array(written, float), values, rtol=1e-12, err_msg=column)
    assert {"mean_orientation_q0", "mean_orientation_q3", "ecd_um"} <= set(result.table)
    s = result.summary
    assert s["clean_up"]["min_quality"] == {"ci": 0.05} and s["clean_up"]["fill"] is True
    assert s["n_grains"] == len(result.table["label"]) == len(np.unique(result.grains[result.grains > 0]))
    assert s["indexed_fraction"] > s["indexed_fraction_read"]          # the holes were filled
    assert result.ebsd.indexed.mean() == pytest.approx(s["indexed_fraction"])
    assert isinstance(result.analysis, EBSDAnalysis) and result.edges.hagb == 15.0


def test_a_map_in_memory_and_the_stage_function_agree_with_the_file(scan, result):
    m = io.read_ebsd(scan)
    in_memory = tasks.ebsd(m, min_grain_size=2, min_quality=["ci=0.05"], fill=True)
    assert in_memory.summary == result.summary
    stage = analyse_ebsd(m, min_grain_size=2, min_quality={"ci": 0.05}, fill=True)
    assert np.array_equal(stage.grains, result.grains)


def test_a_cubic_map_counts_sigma3_in_hagb_a_hexagonal_one_says_nothing_of_it(scan):
    cubic = tasks.ebsd(scan)
    assert cubic.text.splitlines()[-1].endswith("(Σ3 counted in HAGB)")
    assert cubic.summary["thresholds_deg"]["csl_classified"] == ["3"]
    titanium = io.read_ebsd(scan).with_(phases={1: io.Phase(1, "Titanium", "6/mmm")})
    hexagonal = tasks.ebsd(titanium)
    assert "Σ3" not in hexagonal.text and "sigma3" not in hexagonal.text
    assert "Titanium (6/mmm)" in hexagonal.text and "by angle" in hexagonal.text
    assert hexagonal.summary["thresholds_deg"]["csl_classified"] == []
    assert hexagonal.summary["boundaries"]["percent"].get("sigma3", 0.0) == 0.0
    # a CSL below the HAGB threshold is counted with the LAGB band
    wide = tasks.ebsd(scan, hagb=30.0, csl=("3", "13a"))
    assert wide.text.splitlines()[-1].endswith("(Σ3 counted in HAGB; Σ13a counted in LAGB)")


def test_write_is_all_or_nothing_and_refuses_to_overwrite(result, tmp_path, monkeypatch):
    from microseg.report import ebsd_report

    out = tmp_path / "out"
    with monkeypatch.context() as m:
        def fail(*args, **kwargs):
            raise RuntimeError("no figure today")

        m.setattr(ebsd_report, "plot_ebsd_summary", fail)
        with pytest.raises(RuntimeError, match="no figure today"):
            result.write(out)
    assert not out.exists()                             # nothing, not even a temporary folder
    result.write(out)
    before = {n: (out / n).read_bytes() for n in OUTPUTS}
    with pytest.raises(OutputExistsError, match="--force"):
        result.write(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert {n: (out / n).read_bytes() for n in OUTPUTS} == before
    result.write(out, force=True)


def test_outputs_and_options_are_checked_before_the_map_is_read(tmp_path, monkeypatch):
    from microseg import io as io_module

    monkeypatch.setattr(io_module, "read_ebsd", lambda *a, **k: pytest.fail("read before checking"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "ebsd.png").write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="ebsd.png"):
        tasks.ebsd(tmp_path / "scan.ang", output=tmp_path / "out")
    with pytest.raises(InputError, match="FIELD=VALUE"):
        tasks.ebsd(tmp_path / "scan.ang", min_quality=["ci"])
    with pytest.raises(InputError, match="must be a number"):
        tasks.ebsd(tmp_path / "scan.ang", max_quality={"mad": "high"})


def test_parse_quality():
    assert parse_quality(None, what="x") is None and parse_quality([], what="x") is None
    assert parse_quality("ci=0.1") == {"ci": 0.1}
    assert parse_quality(["CI = 0.1", "iq=500"]) == {"ci": 0.1, "iq": 500.0}
    for bad in (["ci"], ["=0.1"], ["ci=abc"]):
        with pytest.raises(InputError, match="--min-quality: expected FIELD=VALUE"):
            parse_quality(bad, what="--min-quality")
