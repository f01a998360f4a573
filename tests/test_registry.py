"""The registry helper: lookup with "did you mean", capability filters, lazy entries,
``describe`` from the signature, checked options; and the four families built on it."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from microseg._registry import Registry
from microseg._util import InputError


def _shapes() -> Registry:
    reg = Registry("shape", capabilities={"round": False, "sides": None})

    @reg.register("disc", round=True)
    def disc(*, radius: float = 1.0) -> float:
        """Area of a disc.

        More text.
        """
        return 3.0 * radius**2

    reg.register("square", lambda side=1.0, *, scale=1.0: (side * scale) ** 2, sides=4,
                 description="A square.")
    reg.register("triangle", lambda base, *, height, **extra: base * height / 2, sides=3)
    return reg


def test_unknown_name_lists_the_valid_ones_and_suggests_the_nearest():
    reg = _shapes()
    with pytest.raises(InputError, match=r"^unknown shape 'sqare'; valid: disc, square, triangle\. "
                                         r"did you mean 'square'\?$"):
        reg.build("sqare")
    for method in (reg.get, reg.describe, reg.capabilities, reg.options, reg.key):
        with pytest.raises(InputError, match="did you mean 'disc'"):
            method("dics")
    with pytest.raises(InputError, match=r"unknown shape 'hexagon'; valid: disc, square, triangle\.$"):
        reg.get("hexagon")


def test_lookup_is_case_insensitive_and_keys_are_lowercase():
    reg = _shapes()
    assert reg.key("DISC") == "disc" and reg.build("Disc", radius=2.0) == 12.0
    assert "Square" in reg and "cube" not in reg and 3 not in reg
    with pytest.raises(ValueError, match="lowercase"):
        reg.register("Hexagon", lambda: 0)
    with pytest.raises(ValueError, match="lowercase"):
        reg.register("", lambda: 0)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("disc", lambda: 0)


def test_register_as_decorator_returns_the_object():
    reg = Registry("thing")

    @reg.register("one")
    class One:
        pass

    assert One.__name__ == "One" and reg.get("one") is One and isinstance(reg.build("one"), One)
    assert reg.register("two", len) is len


def test_capability_filter():
    reg = _shapes()
    assert reg.available() == ["disc", "square", "triangle"]
    assert reg.available(round=True) == ["disc"]
    assert reg.available(round=False) == ["square", "triangle"]
    assert reg.available(round=False, sides=4) == ["square"]
    assert reg.available(sides=5) == []
    assert reg.capabilities("disc") == {"round": True, "sides": None}  # defaults filled in
    with pytest.raises(InputError, match=r"unknown capability of shape 'rund'.*did you mean 'round'"):
        reg.available(rund=True)
    with pytest.raises(InputError, match=r"unknown capability of shape 'corners'; valid: round, sides"):
        reg.register("pentagon", lambda: 0, corners=5)
    assert "pentagon" not in reg


def test_order_is_registration_order_unless_sorted():
    plain, ordered = Registry("x"), Registry("x", sort=True)
    for reg in (plain, ordered):
        reg.register("b", str)
        reg.register("a", str)
    assert plain.available() == list(plain) == ["b", "a"]
    assert ordered.available() == list(ordered) == ["a", "b"]
    assert len(plain) == 2 and "Registry('x': b, a)" == repr(plain)


def test_bad_option_names_the_valid_ones():
    reg = _shapes()
    with pytest.raises(InputError, match=r"^unknown option of shape 'disc' 'raduis'; valid: radius\. "
                                         r"did you mean 'radius'\?$"):
        reg.build("disc", raduis=2.0)
    assert reg.check_options("disc", {"RADIUS": 2.0}) == {"radius": 2.0}  # spelled as declared
    with pytest.raises(InputError, match=r"unknown option of shape 'square' 'sides'; valid: side, scale"):
        reg.build("square", sides=2)
    assert reg.build("triangle", 4.0, height=2.0, colour="red") == 4.0  # **extra: unchecked
    labelled = Registry("method", option_label="option of {name}")
    labelled.register("none", lambda image: image)
    with pytest.raises(InputError, match=r"^unknown option of none 'k'; none takes no options$"):
        labelled.build("none", k=1)
    assert labelled.build("none", 5) == 5  # positional data inputs pass through


def test_describe_reads_description_and_options_from_the_signature():
    reg = _shapes()
    assert reg.describe("disc") == {"name": "disc", "description": "Area of a disc.",
                                    "capabilities": {"round": True, "sides": None},
                                    "options": {"radius": 1.0}, "required": []}
    square = reg.describe("square")
    assert square["description"] == "A square." and square["options"] == {"side": 1.0, "scale": 1.0}
    triangle = reg.describe("triangle")
    assert triangle["options"] == {} and triangle["required"] == ["height"]

    class Net:
        description = "a network in one line"

        def __init__(self, *, width: float = 0.5) -> None:
            self.width = width

    reg.register("net", Net)
    assert reg.describe("net")["description"] == "a network in one line"
    assert reg.describe("net")["options"] == {"width": 0.5}
    assert reg.build("net", width=2.0).width == 2.0


def test_lazy_entry_is_imported_on_first_use(tmp_path, monkeypatch):
    (tmp_path / "lazy_registry_mod.py").write_text(textwrap.dedent('''
        def make(*, size: int = 3) -> list:
            """Make a list."""
            return [0] * size
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_registry_mod", raising=False)
    reg = Registry("maker", capabilities={"fast": False})
    assert reg.register("list", "lazy_registry_mod:make", fast=True) == "lazy_registry_mod:make"
    assert reg.available(fast=True) == ["list"] and reg.exports() == {"make": "list"}
    assert reg.capabilities("list") == {"fast": True}
    assert "lazy_registry_mod" not in sys.modules
    assert reg.build("list", size=2) == [0, 0]
    assert "lazy_registry_mod" in sys.modules
    assert reg["LIST"] is sys.modules["lazy_registry_mod"].make
    assert reg.describe("list")["options"] == {"size": 3}
    with pytest.raises(KeyError):
        reg["tuple"]
    for bad in ("no_colon", "a:b:c", ":make", "mod:"):
        with pytest.raises(ValueError, match="module:attribute"):
            reg.register("bad", bad)
    with pytest.raises(ValueError, match="expected a class"):
        reg.register("bad", 42)


def test_listing_and_capabilities_import_no_torch():
    code = textwrap.dedent("""
        import sys
        from microseg import classic, losses, models
        from microseg.io.ebsd import EBSD_READERS
        assert models.available(takes_encoder_weights=True) == ["unet", "unetpp"]
        assert models.MODELS.capabilities("hed")["side_outputs"] is True
        assert losses.available(family="topology") == ["topo", "topodice", "bce_topo"]
        assert classic.available(detects="boundaries") == ["gradient", "ridge"]
        assert ".ang" in EBSD_READERS
        assert "UNet" in models.__all__ and "DiceLoss" in losses.__all__
        sys.exit(3 if "torch" in sys.modules else 0)
    """)
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_every_family_is_one_registry():
    from microseg import classic, losses, models
    from microseg.io.ebsd import EBSD_READERS

    for reg, kind in ((models.MODELS, "model architecture"), (losses.LOSSES, "loss"),
                      (classic.METHODS, "classical method"), (EBSD_READERS, "EBSD format")):
        assert isinstance(reg, Registry) and reg.kind == kind
    assert models.available() == models.MODELS.available()
    assert losses.available() == list(losses.LOSSES)
    assert classic.available() == sorted(classic.METHODS)
    assert all(classic.METHODS.capabilities(m)["grid"] for m in classic.available())
