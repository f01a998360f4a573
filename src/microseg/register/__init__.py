"""Register EBSD maps to SEM images: landmarks, transforms, automatic refinement, warping.

- :func:`read_landmarks` -> :class:`Landmarks` (fiducial pairs from a CSV file); :func:`write_landmarks`
- :func:`estimate_transform` -> :class:`LandmarkTransform` (similarity / affine /
  projective, EBSD µm -> SEM px, with residuals); :func:`tilt_correction`
- :func:`refine_registration` -> :class:`Registration` (global affine refinement plus a
  smooth drift field, found automatically from the boundaries visible in the image)
- :func:`warp_cells` (EBSD cell map -> SEM frame, nearest neighbour)
- :func:`boundary_evidence`, :func:`alignment_score`, :func:`boundary_distance`
"""
from __future__ import annotations

from microseg.register._evidence import alignment_score, boundary_distance, boundary_evidence
from microseg.register._landmarks import Landmarks, read_landmarks, write_landmarks
from microseg.register._refine import refine_registration
from microseg.register._transform import LandmarkTransform, estimate_transform, tilt_correction
from microseg.register._warp import Registration, warp_cells

__all__ = ["Landmarks", "read_landmarks", "write_landmarks", "LandmarkTransform", "estimate_transform",
           "tilt_correction", "Registration", "warp_cells", "refine_registration",
           "boundary_evidence", "alignment_score", "boundary_distance"]
