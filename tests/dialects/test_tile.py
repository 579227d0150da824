"""The tile dialect's geometry attributes: every parameter, inherited ones too, takes part in equality."""

from __future__ import annotations

import pytest

from dialects import tile

CONV = dict(in_h=8, in_w=8, in_c=16, buf_rows=8, kh=3, kw=3, stride=1, dilation=1, pad_top=0, pad_left=0,
            pad_mode="gate", pack=0, out_h=6, out_w=6, nrows=6, oc_count=16, accumulate=0, shift=0)


@pytest.mark.parametrize("key", sorted(CONV))
def test_geometries_differing_in_any_parameter_differ(key: str) -> None:
    a = tile.ConvGeometry.of(CONV)
    other = "neg" if key == "pad_mode" else CONV[key] + 1  # type: ignore[operator]
    b = tile.ConvGeometry.of({**CONV, key: other})
    assert a != b and a == tile.ConvGeometry.of(CONV) and hash(a) == hash(tile.ConvGeometry.of(CONV))
    assert len({a, b}) == 2  # in_c and the window's other fields are WindowGeometry's: hashed too
