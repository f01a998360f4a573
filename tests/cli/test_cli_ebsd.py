"""``microseg ebsd`` on synthetic and real maps."""
from __future__ import annotations

import json

import pytest

from microseg import synth
from microseg.cli import main
from microseg.io import write_ebsd


@pytest.fixture(scope="module")
def synthetic_ang(tmp_path_factory):
    poly = synth.make_polycrystal((160, 160), mean_diameter_px=30.0, pixel_size=0.1, seed=2)
    path = tmp_path_factory.mktemp("ebsd") / "synthetic.ang"
    write_ebsd(path, synth.make_ebsd_map(poly, step_px=1.0, orientation_noise_deg=0.3,
                                         nonindexed_fraction=0.0, seed=2))
    return path, poly


def test_ebsd_command_summarises_a_synthetic_map(synthetic_ang, tmp_path, capsys):
    path, poly = synthetic_ang
    out = tmp_path / "out"
    assert main(["ebsd", str(path), "--min-grain-size", "1", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sigma3" in text and "by angle" in text
    s = json.loads((out / "summary.json").read_text())
    classes = {1: "hagb", 2: "lagb", 3: "sigma3"}
    for k, name in classes.items():  # every class the truth has is found
        assert ((poly.classes == k).any()) == (s["boundaries"]["percent"][name] > 0)
    # grains at 15°: twins and HAGB separate grains, LAGB subgrains do not
    assert s["n_grains"] >= poly.n_grains * 0.9
    assert (out / "ebsd.png").stat().st_size > 10_000
    assert (out / "grains.csv").read_text().startswith("label,")


@pytest.mark.parametrize("ext", [".ang", ".ctf"])
def test_a_hexagonal_phase_is_not_told_about_sigma3_twins(synthetic_ang, tmp_path, capsys, ext):
    """Σ3 twins are a cubic CSL: the summary of a titanium (6/mmm) map names no Σ3."""
    from microseg.io import Phase, read_ebsd

    path, _ = synthetic_ang
    titanium = tmp_path / f"titanium{ext}"
    write_ebsd(titanium, read_ebsd(path).with_(phases={1: Phase(1, "Titanium", "6/mmm")}))
    assert main(["ebsd", str(titanium), "--min-grain-size", "1", "-o", str(tmp_path / "ti")]) == 0
    text = capsys.readouterr().out
    assert "Titanium (6/mmm)" in text and "by angle: LAGB" in text
    assert "Σ3" not in text and "sigma3" not in text
    s = json.loads((tmp_path / "ti" / "summary.json").read_text())
    assert s["phases"]["1"]["point_group"] == "6/mmm" and s["thresholds_deg"]["csl_classified"] == []
    assert main(["ebsd", str(path), "--min-grain-size", "1", "-o", str(tmp_path / "ni")]) == 0
    assert "(Σ3 counted in HAGB)" in capsys.readouterr().out        # the cubic map still says it


def test_ebsd_command_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.ang"
    bad.write_text("# XSTEP: 1.0\n1 2 3\n")
    assert main(["ebsd", str(bad), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.ang" in err
    assert main(["ebsd", str(bad), "--min-quality", "ci", "-o", str(tmp_path / "o")]) == 2
    assert "FIELD=VALUE" in capsys.readouterr().err


def test_ebsd_command_on_oxford_cpr_crc_and_its_bad_input(synthetic_ang, tmp_path, capsys):
    from microseg.io import read_ebsd
    from microseg.io.ebsd import write_cpr

    path, _ = synthetic_ang
    crc = write_cpr(tmp_path / "scan.crc", read_ebsd(path)).with_suffix(".crc")
    assert main(["ebsd", str(crc), "--min-grain-size", "1", "-o", str(tmp_path / "cpr")]) == 0
    assert main(["ebsd", str(path), "--min-grain-size", "1", "-o", str(tmp_path / "ang")]) == 0
    capsys.readouterr()
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("cpr", "ang"))
    assert a["boundaries"]["percent"] == pytest.approx(b["boundaries"]["percent"], abs=1e-9)
    assert a["n_grains"] == b["n_grains"]
    # a .crc without its .cpr, and a truncated .crc: one line naming the file, nothing written
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "scan.crc").write_bytes(crc.read_bytes())
    short = tmp_path / "short"
    short.mkdir()
    (short / "scan.cpr").write_bytes(crc.with_suffix(".cpr").read_bytes())
    (short / "scan.crc").write_bytes(crc.read_bytes()[:-7])
    for folder in (lone, short):
        out = folder / "out"
        assert main(["ebsd", str(folder / "scan.crc"), "-o", str(out)]) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "scan.c" in err[0], err
        assert not out.exists()


@pytest.mark.realdata
@pytest.mark.parametrize("name,options,grains,lagb,sigma3", [
    ("ni_annealed_edax.ang", ["--min-quality", "ci=0.1"], 276, 8.4, 54.0),
    ("in100_slice1.ang", ["--min-quality", "ci=0.1"], 205, 11.7, 38.3),
    ("u720_superalloy.ctf", ["--merge-phases"], 151, 10.3, 46.3),
])
def test_real_maps_match_the_reference_figures(shared_data, tmp_path, name, options, grains, lagb, sigma3):
    out = tmp_path / "out"
    assert main(["ebsd", str(shared_data / "ebsd" / name), *options, "-o", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n_grains"] == pytest.approx(grains, rel=0.03)
    assert s["boundaries"]["percent_by_angle"]["lagb"] == pytest.approx(lagb, abs=0.5)
    assert s["boundaries"]["percent"]["sigma3"] == pytest.approx(sigma3, abs=1.0)
