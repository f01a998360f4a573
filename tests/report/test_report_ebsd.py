"""The lines ``microseg ebsd`` prints (report.ebsd_report)."""
from __future__ import annotations

from microseg.report.ebsd_report import summary_text


def _summary(phases, csl, classified, hagb=15.0):
    return {"source": "scan.ang", "shape": [10, 20], "grid": "square", "step_um": 0.5, "phases": phases,
            "indexed_fraction_read": 0.9, "indexed_fraction": 0.95, "min_grain_size_points": 5,
            "thresholds_deg": {"lagb": 2.0, "hagb": hagb, "csl": csl, "csl_classified": classified},
            "n_grains": 3, "n_grains_inside": 1, "mean_ecd_um": 2.0, "mean_ecd_um_inside": 2.5,
            "boundaries": {"percent": {"hagb": 60.0, "lagb": 20.0, "sigma3": 20.0},
                           "percent_by_angle": {"lagb": 20.0, "hagb": 80.0}}}


NI = {"1": {"name": "Nickel", "point_group": "m-3m"}}
TI = {"2": {"name": "Titanium", "point_group": "6/mmm"}}


def test_sigma3_is_said_to_count_in_hagb_only_where_it_was_looked_for():
    last = (lambda s: summary_text(s).splitlines()[-1])
    assert last(_summary(NI, ["3"], ["3"])) == "  by angle: LAGB 20.0 %, HAGB 80.0 % (Σ3 counted in HAGB)"
    assert last(_summary({**NI, **TI}, ["3"], ["3"])).endswith("(Σ3 counted in HAGB)")    # one cubic phase
    assert last(_summary(TI, ["3"], [])) == "  by angle: LAGB 20.0 %, HAGB 80.0 %"          # hexagonal only
    assert last(_summary(NI, [], [])) == "  by angle: LAGB 20.0 %, HAGB 80.0 %"             # none asked for
    assert last(_summary(NI, ["3", "5", "13a"], ["3", "5", "13a"], hagb=30.0)).endswith(
        "(Σ3, Σ5 counted in HAGB; Σ13a counted in LAGB)")


def test_the_summary_names_the_map_its_phases_and_grains():
    lines = summary_text(_summary(TI, ["3"], [])).splitlines()
    assert lines[0] == "scan.ang: 10 × 20 square grid, step 0.5 µm; Titanium (6/mmm)"
    assert "3 (1 not cut by the edge)" in lines[2]
    assert lines[3] == "  boundary length: hagb 60.0 %, lagb 20.0 %, sigma3 20.0 %"
