"""``microseg export``: a trained model as one ONNX file for onnxruntime, checked against PyTorch."""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microseg._util import InputError
from microseg.tasks._base import TaskResult, Writer, check_outputs, write_all

log = logging.getLogger(__name__)

__all__ = ["ExportResult", "export"]

#: The file name :meth:`ExportResult.write` uses in a folder.
DEFAULT_NAME = "model.onnx"


@dataclass(frozen=True)
class ExportResult(TaskResult):
    """An exported model: the ONNX file's bytes (``data``), where it was written (``path``,
    None before), the check's ``max_abs_diff`` (None when not checked), the ``opset``, the
    graph's ``input_name``, and ``summary`` / ``text`` (one line)."""

    data: bytes = field(repr=False)
    path: Path | None
    max_abs_diff: float | None
    opset: int
    input_name: str
    output_name: str
    model: str
    in_channels: int

    @property
    def summary(self) -> dict[str, Any]:
        return {"path": None if self.path is None else str(self.path), "model": self.model,
                "max_abs_diff": self.max_abs_diff, "opset": self.opset, "input": self.input_name,
                "output": self.output_name, "in_channels": self.in_channels, "bytes": len(self.data)}

    @property
    def text(self) -> str:
        where = f"wrote {self.path}" if self.path is not None else f"exported {self.model}"
        agree = ("not checked against PyTorch" if self.max_abs_diff is None else
                 f"onnxruntime agrees with PyTorch within {self.max_abs_diff:.2g} (max abs logit difference)")
        return (f"{where} ({len(self.data) / 1e6:.1f} MB, opset {self.opset}, input {self.input_name!r} "
                f"(N, {self.in_channels}, H, W)): {agree}")

    def _writer(self) -> Writer:
        return lambda p: p.write_bytes(self.data)

    def files(self) -> list[tuple[str, Writer]]:
        return [(DEFAULT_NAME if self.path is None else self.path.name, self._writer())]

    @staticmethod
    def check_file(path: str | os.PathLike, *, force: bool = False) -> Path:
        """Refuse, before any work, an output that is a folder, is not ``*.onnx``, or exists
        (unless ``force``)."""
        path = Path(path)
        if path.is_dir():
            raise InputError(f"{path}: is a folder; -o names the ONNX file to write (e.g. {path / DEFAULT_NAME})")
        if path.suffix.lower() != ".onnx":
            raise InputError(f"{path}: the output is one ONNX file; name it *.onnx (e.g. {path.with_suffix('.onnx')})")
        check_outputs(path.parent, [path.name], force=force)
        return path

    def write_file(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write the ONNX file to ``path`` (whole or not at all; no overwrite without ``force``)."""
        path = self.check_file(path, force=force)
        write_all(path.parent, [(path.name, self._writer())], force=force)
        log.info("wrote %s", path)
        return path


def export(model: Any, *, output: str | os.PathLike | None = None, force: bool = False, opset: int = 18,
           check: bool = True, atol: float = 1e-4, progress: bool = False) -> ExportResult:
    """Export a model to ONNX (:func:`microseg.infer.onnx.to_onnx`), checked against PyTorch.

    Parameters
    ----------
    model : model folder, LoadedModel or module
        A folder with ``model.safetensors`` + ``model.json`` (training's ``best/``).
    output : path, optional
        The ``.onnx`` FILE to write (checked before any work, written whole or not at all).
        Without it nothing is written; :meth:`ExportResult.write_file` writes later.
    force : bool
        Overwrite an existing file.
    opset : int
        ONNX operator set (18 or newer).
    check : bool
        Refuse the export when onnxruntime's logits differ from PyTorch's by more than
        ``atol`` on a random input.
    atol : float
        The check's tolerance on the logits.
    progress : bool
        Accepted like every task's (the export has no loop to show).

    Returns
    -------
    ExportResult
        ``summary``: path, max_abs_diff, opset, input name, ...; ``text``: one line.
    """
    from microseg.infer.onnx import to_onnx

    path = None if output is None else ExportResult.check_file(output, force=force)
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not math.isfinite(atol) or atol <= 0:
        raise InputError(f"atol must be a positive number, got {atol!r}")
    exported = to_onnx(model, opset=opset, check=check, atol=float(atol))
    result = ExportResult(exported.data, path, exported.max_abs_diff, exported.opset, exported.input_name,
                          exported.output_name, exported.name, int(exported.record.get("in_channels") or 0))
    if path is not None:
        result.write_file(path, force=force)
    return result
