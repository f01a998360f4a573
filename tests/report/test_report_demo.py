"""The demo's figures draw what they are handed (``tasks.demo`` computes it)."""
from __future__ import annotations

import numpy as np

from microseg.report.demo import plot_demo, plot_fib_sem


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def test_plot_demo_names_its_panels_and_counts():
    import sys

    pyplot_before = "matplotlib.pyplot" in sys.modules
    rng = np.random.default_rng(0)
    image = rng.random((32, 32))
    labels = np.zeros((32, 32), np.int32)
    labels[2:10, 2:10], labels[12:30, 12:30] = 1, 2
    fig = plot_demo(image, (labels % 3).astype(np.uint8), (labels == 0).astype(np.uint8), labels,
                    image, labels, image > 0.5, n_grains=7, n_grains_true=2)
    titles = _titles(fig)
    assert "Sauvola + merge grains (n=7)" in titles and "true grains (n=2)" in titles
    assert "synthetic SE micrograph" in titles and fig._suptitle.get_text().startswith("microseg demo")
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_before      # drawn without pyplot


def test_plot_fib_sem_shows_each_method_and_the_fraction_per_slice():
    stack = np.random.default_rng(1).random((4, 16, 16))
    phases = stack > 0.5
    masks = {"otsu": phases, "sauvola": ~phases}
    fractions = {k: m.reshape(4, -1).mean(axis=1) for k, m in masks.items()}
    fig = plot_fib_sem(stack, phases, masks, fractions, {"otsu": 1.0, "sauvola": 0.0},
                       phases.reshape(4, -1).mean(axis=1))
    assert _titles(fig)[:4] == ["FIB-SEM slice", "true solid phase", "Otsu", "Sauvola"]
    curve = fig.axes[-1]
    assert [t.get_text() for t in curve.get_legend().get_texts()] == [
        "truth", "otsu (IoU 1.000)", "sauvola (IoU 0.000)"]
    np.testing.assert_allclose(curve.lines[1].get_ydata(), fractions["otsu"])
