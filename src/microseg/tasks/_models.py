"""``models``: the architectures and losses a run configuration can name (``microseg models``)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from microseg.tasks._base import TaskResult, Writer

__all__ = ["models", "ModelsResult"]


@dataclass(frozen=True)
class ModelsResult(TaskResult):
    """One row per architecture (``model.arch``) and the loss names (``loss.name``)."""

    architectures: tuple[dict, ...] = ()
    losses: tuple[str, ...] = field(default_factory=tuple)

    @property
    def table(self) -> dict[str, np.ndarray]:
        keys = ("name", "params_default", "side_outputs", "takes_encoder_weights", "description")
        return {k: np.array([row.get(k) for row in self.architectures]) for k in keys}

    @property
    def summary(self) -> dict:
        return {"architectures": [dict(r) for r in self.architectures], "losses": list(self.losses)}

    @property
    def text(self) -> str:
        rows = self.architectures
        width = max(len(r["name"]) for r in rows)
        lines = [f"{'architecture':<{width}}  {'parameters':>11}  side outputs  encoder weights  description"]
        for r in rows:
            lines.append(f"{r['name']:<{width}}  {r['params_default']:>11,}  "
                         f"{'yes' if r['side_outputs'] else 'no':<12}  "
                         f"{'yes' if r.get('takes_encoder_weights') else 'no':<15}  {r['description']}")
        return "\n".join([*lines, "", "losses: " + ", ".join(self.losses)])

    def files(self) -> list[tuple[str, Writer]]:
        from microseg.io import write_json

        return [("models.json", lambda p: write_json(p, self.summary, force=True))]


def models() -> ModelsResult:
    """The architectures (with their parameter counts at default options) and the losses.

    >>> result = models()
    >>> "unet" in result.table["name"] and "topodice" in result.losses
    True
    """
    from microseg import losses
    from microseg import models as stage

    return ModelsResult(tuple(stage.model_summary()), tuple(losses.available()))
