"""Seeded synthetic data with exact truth: polycrystals, SEM contrast, porous volumes.

Every generator takes ``seed=`` (``numpy.random.default_rng``); the same seed gives
identical output.

- :func:`make_polycrystal` -> :class:`Polycrystal` (cells, orientations, boundaries,
  boundary classes, grain labels)
- :func:`render_sem` -> SE/BSE-like :class:`~microseg.io.Image`
- :func:`make_sem_pair` -> ``(Image, Polycrystal)``
- :func:`make_porous_volume` -> ``(Z, Y, X)`` uint8 phases; :func:`render_fib_sem` ->
  FIB-SEM-like stack
- :func:`make_precipitates`, :func:`make_porous_section`, :func:`make_coating` ->
  :class:`PhaseMicrograph` (uint8/uint16 SE/BSE-like image with exact phase mask)
"""
from __future__ import annotations

from microseg.synth._correlated import CorrelatedPair, SyntheticMicrograph, make_correlated_pair, make_ood_set
from microseg.synth._curved import CurvedMicrostructure, make_curved_microstructure
from microseg.synth._ebsd import make_ebsd_map
from microseg.synth._coating import make_coating
from microseg.synth._phases import PhaseMicrograph, make_porous_section, make_precipitates
from microseg.synth._polycrystal import Polycrystal, make_polycrystal
from microseg.synth._porous import make_porous_volume, render_fib_sem
from microseg.synth._registration import RegistrationPair, make_registration_pair, registration_ebsd_map
from microseg.synth._sem import make_sem_pair, render_sem

__all__ = ["Polycrystal", "make_polycrystal", "render_sem", "make_sem_pair", "make_ebsd_map", "RegistrationPair", "make_registration_pair", "registration_ebsd_map",
           "make_porous_volume", "render_fib_sem", "CorrelatedPair", "SyntheticMicrograph",
           "make_correlated_pair", "make_ood_set", "CurvedMicrostructure", "make_curved_microstructure",
           "PhaseMicrograph", "make_precipitates", "make_porous_section", "make_coating"]
