"""The onnxruntime backend: export a model to one ONNX file, check it, run it.

:func:`export_onnx` turns a model folder (``model.safetensors`` + ``model.json``) or a
:class:`~microseg.infer._model.LoadedModel` into one ``.onnx`` file:

- the graph maps ``image`` ``(N, C, H, W)`` float32 to ``logits`` ``(N, classes, H, W)``,
  the final output only (side-output models, HED, RCF, DeepCrack, UNet++ with deep
  supervision, give their fused output);
- batch, height and width are dynamic: the graph pads the input to the network's multiple
  (reflect, as :class:`~microseg.models.SegmentationModel` does) and crops the logits, so
  tiles and images of any size run;
- the ``model.json`` record (architecture, options, channels, and its ``metadata``: the
  pre-processing and the training pixel size) is embedded as the ONNX metadata entry
  ``"microseg"`` (a JSON string), so that prediction with the file applies the same
  pre-processing and resampling as with the model folder;
- with ``check=True`` onnxruntime and PyTorch run on the same random input and the export is
  refused when their logits differ by more than ``atol`` (1e-4), unless onnxruntime is within
  ``atol`` of PyTorch's float64 result (then the difference is PyTorch's own float32
  rounding: deep networks with logits of tens differ by ~1e-4 from their exact values).

:func:`load_onnx` reads such a file (or any ONNX file with one ``(N, C, H, W)`` input) into a
:class:`~microseg.infer._model.LoadedModel` whose ``model`` is an :class:`OnnxModel`: a
callable on float32 tensors that the PyTorch prediction path runs like a module.

Loading never runs code: an ONNX file is a graph of standard operators (protobuf data) that
onnxruntime executes, no custom-operator library is ever registered, and the metadata is
read with :func:`json.loads`.

The packages ``onnx``, ``onnxscript`` (PyTorch's exporter) and ``onnxruntime`` are optional:
``pip install "microseg[onnx]"``.

Examples
--------
An ONNX file from elsewhere (here a graph ``logits = image - 0.5`` written with onnx itself):

>>> import tempfile, pathlib, numpy as np, onnx
>>> from onnx import TensorProto, helper
>>> graph = helper.make_graph(
...     [helper.make_node("Sub", ["image", "half"], ["logits"])], "sub",
...     [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "H", "W"])],
...     [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1, "H", "W"])],
...     [helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])])
>>> path = pathlib.Path(tempfile.mkdtemp()) / "sub.onnx"
>>> onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
>>> loaded = load_onnx(path)
>>> loaded.model.in_channels, loaded.metadata
(1, {})
>>> loaded.model(np.ones((2, 1, 3, 5), np.float32)).shape
torch.Size([2, 1, 3, 5])

A trained model (takes a few seconds: PyTorch traces the network):

>>> max_diff = export_onnx("runs/unet/best", "model.onnx")            # doctest: +SKIP
>>> predict_image(load_onnx("model.onnx"), image)                     # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from microseg._util import FileFormatError, InputError, atomic_path, check_output_path
from microseg.infer._model import LoadedModel, as_loaded, load_folder

logger = logging.getLogger(__name__)

__all__ = ["OnnxExport", "OnnxModel", "export_onnx", "load_onnx", "to_onnx"]

#: The metadata entry that holds microseg's record (a JSON object).
METADATA_KEY = "microseg"
INPUT_NAME, OUTPUT_NAME = "image", "logits"
#: Default operator set: the lowest that PyTorch's exporter writes without a conversion.
DEFAULT_OPSET = 18
_INSTALL = 'pip install "microseg[onnx]"'


def _require(name: str, what: str) -> Any:
    """Import an optional package or say how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise InputError(f"{what} needs the package {name!r}, which is not installed; {_INSTALL}") from exc


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Keep the exporter's progress lines and notes out of microseg's log (debug only)."""
    names = ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        if not logging.getLogger(n).isEnabledFor(logging.DEBUG):
            logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


# ---------------------------------------------------------------------------------- export
class _Graph(torch.nn.Module):
    """What is exported: pad to the network's multiple, the final logits, crop back.

    The padding amounts are computed from the (symbolic) input size, so that the graph pads
    any size as :meth:`SegmentationModel._pad` does (reflect or zeros); the replicate
    fallback for inputs smaller than the padding is done by :class:`OnnxModel` before the
    graph runs.
    """

    def __init__(self, net: torch.nn.Module) -> None:
        from microseg.models import SegmentationModel

        super().__init__()
        self.net = net
        self.inner = isinstance(net, SegmentationModel)   # else: the module's own forward
        self.multiple = int(net.pad_multiple) if self.inner else 1
        self.constant = self.inner and net.pad_mode == "constant"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.inner:
            out = self.net(x)
            return out[-1] if isinstance(out, (list, tuple)) else out
        h, w = x.shape[-2], x.shape[-1]
        m = self.multiple
        ph, pw = (m - h % m) % m, (m - w % m) % m
        x = F.pad(x, (0, pw, 0, ph)) if self.constant else F.pad(x, (0, pw, 0, ph), mode="reflect")
        out = self.net._forward(x)
        out = out[-1] if isinstance(out, (list, tuple)) else out
        return out[:, :, :h, :w]


@dataclass(frozen=True)
class OnnxExport:
    """An exported model: the ``.onnx`` file's bytes and what the check measured.

    ``max_abs_diff`` is the largest absolute difference between onnxruntime's and
    PyTorch's logits on the check input (None when not checked), ``max_abs_diff_float64``
    onnxruntime's from PyTorch in float64 (measured only when the first exceeds the
    tolerance); ``record`` is the embedded ``"microseg"`` metadata (``model.json`` plus an
    ``onnx`` section).
    """

    data: bytes = field(repr=False)
    max_abs_diff: float | None
    opset: int
    input_name: str
    output_name: str
    name: str
    record: dict = field(repr=False, default_factory=dict)
    max_abs_diff_float64: float | None = None


def _one_model(model: Any) -> LoadedModel:
    loaded = as_loaded(model)
    if len(loaded) != 1:
        raise InputError(f"model: export takes one model, got {len(loaded)}; export them one by one")
    m = loaded[0]
    if isinstance(m.model, OnnxModel):
        raise InputError(f"model {m.name!r} is already an ONNX model ({m.model.path})")
    if not isinstance(m.model, torch.nn.Module):
        raise InputError(f"model {m.name!r}: expected a torch module, got {type(m.model).__name__}")
    if not isinstance(getattr(m.model, "in_channels", None), int):
        raise InputError(f"model {m.name!r}: has no integer in_channels attribute; give a microseg model "
                         "(microseg.models.build or a model folder)")
    return m


def _record(m: LoadedModel, net: torch.nn.Module) -> dict[str, Any]:
    """The ``model.json`` record of ``m`` (without the weights file name)."""
    from microseg.models import SegmentationModel
    from microseg.models.io import model_description

    if isinstance(net, SegmentationModel):
        doc = json.loads(model_description(net, m.metadata))
    else:
        doc = {"arch": type(net).__name__, "in_channels": net.in_channels,
               "classes": getattr(net, "classes", None), "metadata": dict(m.metadata)}
    doc.pop("weights", None)
    return doc


def _sizes(multiple: int, size: tuple[int, int] | None) -> tuple[tuple[int, int], tuple[int, int]]:
    """The trace size and, for a dynamic graph, another size that needs padding, to check."""
    if size is not None:
        if (len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                                  for s in size)):
            raise InputError(f"size must be (height, width) in px, got {size!r}")
        trace = (int(size[0]), int(size[1]))
    else:
        h = max(64, 2 * multiple)
        h += (-h) % multiple
        trace = (h, h + multiple)
    return trace, (trace[0] + 5, max(1, trace[1] - 3))


def _export_graph(graph: _Graph, x: torch.Tensor, *, opset: int, dynamic: bool) -> Any:
    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:
        raise InputError(f"ONNX export needs torch >= 2.6 (its torch.export-based exporter); this is torch "
                         f"{torch.__version__}")
    dims = None
    if dynamic:
        d = torch.export.Dim
        dims = ({0: d("batch"), 2: d("height"), 3: d("width")},)
    with _quiet_exporter():
        return torch.onnx.export(graph, (x,), None, dynamo=True, opset_version=opset, verbose=False,
                                 input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_shapes=dims)


def _session(data: bytes | str, *, device: str = "cpu", threads: int | None = None) -> Any:
    ort = _require("onnxruntime", "running an ONNX model")
    options = ort.SessionOptions()
    options.log_severity_level = 3            # errors only: no notes on stderr
    if threads:
        options.intra_op_num_threads = int(threads)
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(data, sess_options=options, providers=providers)


def to_onnx(model: Any, *, opset: int = DEFAULT_OPSET, dynamic: bool = True, check: bool = True,
            atol: float = 1e-4, size: tuple[int, int] | None = None) -> OnnxExport:
    """Export a model to ONNX in memory (see :func:`export_onnx`, which writes the file)."""
    onnx = _require("onnx", "ONNX export")
    _require("onnxscript", "ONNX export (PyTorch's exporter)")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 18 <= opset <= onnx.defs.onnx_opset_version():
        raise InputError(f"opset must be an ONNX operator set from 18 to {onnx.defs.onnx_opset_version()} "
                         f"(the range PyTorch's exporter writes), got {opset!r}")
    m = _one_model(model)
    net = copy.deepcopy(m.model).to("cpu", torch.float32).to(memory_format=torch.contiguous_format).eval()
    graph = _Graph(net).eval()
    trace, other = _sizes(graph.multiple, size)
    c = net.in_channels
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, c, *trace, generator=gen)
    try:
        program = _export_graph(graph, x, opset=opset, dynamic=dynamic)
        proto = program.model_proto
    except InputError:
        raise
    except Exception as exc:  # the exporter's many error types: one line that names the model
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"model {m.name!r} could not be exported to ONNX: {first}") from exc
    diff = exact = None
    if check:
        x_check = torch.randn(3, c, *(other if dynamic else trace), generator=gen)
        diff, exact = _check(graph, proto.SerializeToString(), x_check, name=m.name, atol=atol)
    actual = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), opset)
    record = _record(m, net)
    record["onnx"] = {"input": INPUT_NAME, "output": OUTPUT_NAME, "layout": "(N, C, H, W) -> (N, classes, H, W)",
                      "pad_multiple": graph.multiple, "pad_mode": "constant" if graph.constant else "reflect",
                      "dynamic": bool(dynamic), "size": None if dynamic else list(trace), "opset": int(actual),
                      "torch_version": torch.__version__, "max_abs_diff": diff,
                      "max_abs_diff_float64": exact}
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(record, allow_nan=False)
    proto.doc_string = (f"microseg {record['arch']}: {INPUT_NAME} (N, {c}, H, W) float32 -> {OUTPUT_NAME} "
                        f"(N, {record.get('classes')}, H, W)")
    try:
        data = proto.SerializeToString()
    except ValueError as exc:  # protobuf's 2 GiB limit
        raise InputError(f"model {m.name!r} is too large for one ONNX file ({exc})") from exc
    return OnnxExport(data, diff, int(actual), INPUT_NAME, OUTPUT_NAME, m.name, record, exact)


@torch.no_grad()
def _check(graph: _Graph, data: bytes, x: torch.Tensor, *, name: str, atol: float) -> tuple[float, float | None]:
    """The largest absolute difference of onnxruntime's logits from PyTorch's; refuse above ``atol``.

    A difference above ``atol`` is accepted only when onnxruntime is within ``atol`` of
    PyTorch's float64 result: then it is PyTorch's own float32 rounding (large logits of a
    deep network), not the export. Returns the float32 difference and, when it was needed,
    the float64 one.
    """
    ref = graph(x).float().numpy()
    got = _session(data).run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    if got.shape != ref.shape:
        raise InputError(f"model {name!r}: the ONNX graph gives shape {got.shape} for input {tuple(x.shape)}, "
                         f"PyTorch {ref.shape}; the export is not written")
    diff = float(np.max(np.abs(got.astype(np.float64) - ref))) if ref.size else 0.0
    exact = None
    if not np.isfinite(diff) or diff > atol:
        ref64 = copy.deepcopy(graph).double()(x.double()).numpy()
        exact = float(np.max(np.abs(got.astype(np.float64) - ref64)))
        if not np.isfinite(exact) or exact > atol:
            raise InputError(f"model {name!r}: onnxruntime's logits differ from PyTorch's by {diff:.3g} (more "
                             f"than {atol:g}; {exact:.3g} from PyTorch in float64) on a random {tuple(x.shape)} "
                             "input; the export is not written (check=False, --no-check, keeps it anyway)")
        logger.info("%s: onnxruntime differs from PyTorch float32 by %.3g but from float64 by %.3g only "
                    "(PyTorch's rounding)", name, diff, exact)
    logger.info("%s: onnxruntime agrees with PyTorch within %.3g on a random %s input", name, diff, tuple(x.shape))
    return diff, exact


def export_onnx(model: Any, path: str | os.PathLike, *, opset: int = DEFAULT_OPSET, dynamic: bool = True,
                check: bool = True, atol: float = 1e-4, size: tuple[int, int] | None = None,
                force: bool = False) -> float | None:
    """Export a model to one ONNX file with dynamic batch, height and width.

    Parameters
    ----------
    model : model folder, LoadedModel, module or (module, metadata)
        A folder written by :func:`microseg.models.save_model` (or training's ``best/``).
    path : path
        The ``.onnx`` file to write, atomically; an existing file only with ``force``.
    opset : int
        ONNX operator set (18 or newer: PyTorch's exporter writes no older one).
    dynamic : bool
        Dynamic batch, height and width (tiles of any size run). ``False``: only ``size``.
    check : bool
        Run onnxruntime and PyTorch on the same random input (of another size than the
        traced one when dynamic, so that the padding is exercised) and refuse when the
        logits differ by more than ``atol`` (and onnxruntime's also differ by more than
        ``atol`` from PyTorch's float64 logits: see the module docstring).
    atol : float
        Largest accepted absolute difference of the logits.
    size : (int, int), optional
        Height and width of the traced example (default: a small multiple of the network's).
    force : bool
        Overwrite an existing file.

    Returns
    -------
    float or None
        The measured largest absolute logit difference (None without ``check``).

    Raises
    ------
    InputError
        When a package is missing (``pip install "microseg[onnx]"``), the model cannot be
        exported, or the check fails; nothing is written then.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; name the ONNX file to write (e.g. {path / 'model.onnx'})")
    check_output_path(path, force=force)
    result = to_onnx(model, opset=opset, dynamic=dynamic, check=check, atol=atol, size=size)
    with atomic_path(path, force=force) as tmp:
        tmp.write_bytes(result.data)
    logger.info("wrote %s (%.1f MB)", path, len(result.data) / 1e6)
    return result.max_abs_diff


# ------------------------------------------------------------------------------------ run
class OnnxModel:
    """An onnxruntime session that the PyTorch prediction path calls like a module.

    Call it with a float32 tensor or array ``(N, C, H, W)``; it returns the logits as a
    torch tensor ``(N, classes, H, W)`` on the input's device. ``eval()``, ``train()`` and
    ``to()`` do nothing and return the model, ``parameters()`` yields nothing and
    ``training`` is False, so that code written for modules runs it unchanged.

    Attributes
    ----------
    session : onnxruntime.InferenceSession
    path : Path
    in_channels : int
        From the graph's input shape (else the embedded record).
    classes : int or None
    pad_multiple, pad_mode
        The network's padding (from the record), for inputs smaller than the padding.
    """

    training = False

    def __init__(self, session: Any, *, path: str | os.PathLike, record: dict | None = None) -> None:
        self.session, self.path = session, Path(path)
        record = record or {}
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or "float" not in inputs[0].type:
            got = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
            raise FileFormatError(f"{self.path}: expected one float input (N, C, H, W), the graph takes {got}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.input_shape = list(inputs[0].shape)
        c = self.input_shape[1] if isinstance(self.input_shape[1], int) else record.get("in_channels")
        if not isinstance(c, int):
            raise FileFormatError(f"{self.path}: the number of input channels is not in the graph "
                                  f"(input shape {self.input_shape}) nor in its metadata")
        self.in_channels = c
        oc = outputs[0].shape[1] if len(outputs[0].shape) == 4 else None
        self.classes = oc if isinstance(oc, int) else record.get("classes")
        info = record.get("onnx") or {}
        self.pad_multiple = int(info.get("pad_multiple") or 1)
        self.pad_mode = str(info.get("pad_mode") or "reflect")

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, providers={self.session.get_providers()})"

    def __call__(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        device = x.device if isinstance(x, torch.Tensor) else None
        a = x.detach().to("cpu", torch.float32).numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        a = np.ascontiguousarray(a, dtype=np.float32)
        if a.ndim != 4 or a.shape[1] != self.in_channels:
            raise InputError(f"{self.path.name}: expected a (N, {self.in_channels}, H, W) input, got shape {a.shape}")
        fixed = [(i, s) for i, s in enumerate(self.input_shape) if isinstance(s, int) and a.shape[i] != s]
        if fixed:
            raise InputError(f"{self.path.name}: the graph takes inputs of shape {self.input_shape} only "
                             f"(exported with dynamic=False); got {a.shape}")
        h, w = a.shape[-2:]
        m = self.pad_multiple
        ph, pw = (-h) % m, (-w) % m
        if (ph or pw) and self.pad_mode == "reflect" and not (ph < h and pw < w):
            # smaller than the padding: replicate, as SegmentationModel does
            a = np.pad(a, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge")
        out = self.session.run([self.output_name], {self.input_name: a})[0][..., :h, :w]
        t = torch.from_numpy(np.ascontiguousarray(out))
        return t if device is None or device.type == "cpu" else t.to(device)

    def eval(self) -> OnnxModel:
        return self

    def train(self, mode: bool = True) -> OnnxModel:
        return self

    def to(self, *args: Any, **kwargs: Any) -> OnnxModel:
        return self

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        return iter(())


def _read_record(session: Any, path: Path) -> dict[str, Any]:
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if text is None:
        logger.info("%s: no microseg metadata; the image is fed without pre-processing or resampling", path)
        return {}
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{path}: its {METADATA_KEY!r} metadata is not JSON ({exc})") from exc
    if not isinstance(record, dict) or not isinstance(record.get("metadata", {}), dict):
        raise FileFormatError(f"{path}: its {METADATA_KEY!r} metadata must be a JSON object with a "
                              "'metadata' object")
    return record


def load_onnx(path: str | os.PathLike, *, device: str = "cpu", threads: int | None = None) -> LoadedModel:
    """Load an ONNX model for prediction (onnxruntime), with its embedded metadata.

    Parameters
    ----------
    path : path
        An ``.onnx`` file written by :func:`export_onnx` (or any ONNX graph with one float
        input ``(N, C, H, W)`` and logits ``(N, classes, H, W)`` out: it then has no metadata,
        and the image is fed without pre-processing or resampling).
    device : {"cpu", "cuda", "auto"}
        onnxruntime's CPU provider, or its CUDA provider (``"auto"``: where installed).
    threads : int, optional
        Threads of one forward pass (default: onnxruntime's, one per physical core).

    Returns
    -------
    LoadedModel
        ``model`` an :class:`OnnxModel`, ``metadata`` the ``model.json`` metadata
        (pre-processing, ``pixel_size_um``, ...), ``name`` the file name.
    """
    ort = _require("onnxruntime", "running an ONNX model")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; an ONNX model is one .onnx file (a model folder loads with "
                         "load_models)")
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    if device not in ("cpu", "cuda", "auto"):
        raise InputError(f"device must be 'cpu', 'cuda' or 'auto'; got {device!r}")
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise InputError(f"{path}: device 'cuda' asked, but this onnxruntime has no CUDA provider "
                         "(pip install onnxruntime-gpu, or use device 'cpu')")
    use = "cuda" if device == "cuda" or (device == "auto" and has_cuda) else "cpu"
    try:
        session = _session(str(path), device=use, threads=threads)
    except InputError:
        raise
    except Exception as exc:  # onnxruntime's InvalidProtobuf, Fail, InvalidGraph, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileFormatError(f"{path}: not a readable ONNX model ({first})") from exc
    if use == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        if device == "cuda":
            raise InputError(f"{path}: onnxruntime could not start its CUDA provider (CUDA libraries "
                             "missing?); use device 'cpu'")
        logger.info("%s: onnxruntime's CUDA provider did not start; running on the CPU", path)
    record = _read_record(session, path)
    model = OnnxModel(session, path=path, record=record)
    return LoadedModel(model, dict(record.get("metadata") or {}), path.name)  # type: ignore[arg-type]


def load_path(path: str | os.PathLike) -> LoadedModel:
    """A model from its path: an ``.onnx`` file (:func:`load_onnx`) or a model folder
    (:func:`~microseg.infer._model.load_folder`); what :func:`microseg.infer.load_models` reads."""
    return load_onnx(path) if Path(path).suffix.lower() == ".onnx" else load_folder(path)


def as_backend(models: Any, backend: str, *, device: str = "cpu") -> list[LoadedModel]:
    """The models run by ``backend``: ``"torch"`` as they are (ONNX files refused), or ``"onnx"``.

    With ``"onnx"`` each PyTorch model is exported in memory (:func:`to_onnx`, its output
    checked against PyTorch's within 1e-4) and run by onnxruntime; ONNX files are taken as
    they are. The export costs seconds per model, once per call.

    Examples
    --------
    >>> net = torch.nn.Conv2d(1, 1, 3, padding=1)
    >>> [type(m.model).__name__ for m in as_backend([net], "torch")]
    ['Conv2d']
    """
    from microseg._util import look_up_option
    from microseg.infer.config import BACKENDS

    backend = look_up_option(str(backend).lower(), BACKENDS, what="backend")
    loaded = as_loaded(models, load=load_path)
    if backend == "torch":
        onnx_files = [m.name for m in loaded if isinstance(m.model, OnnxModel)]
        if onnx_files:
            raise InputError(f"{onnx_files[0]}: an ONNX file runs on onnxruntime; use backend 'onnx' "
                             "(--backend onnx) or the model folder it was exported from")
        return loaded
    out = []
    for m in loaded:
        if isinstance(m.model, OnnxModel):
            out.append(m)
            continue
        exported = to_onnx(m)
        session = _session(exported.data, device="cuda" if str(device).startswith("cuda") else "cpu")
        logger.info("%s: exported to ONNX in memory (max |diff| %.2g); running on onnxruntime", m.name,
                    exported.max_abs_diff or 0.0)
        out.append(LoadedModel(OnnxModel(session, path=f"{m.name}.onnx", record=exported.record),
                               dict(m.metadata), m.name))
    return out
