"""The VML of crmbook's macro buttons is as Excel writes it: anchors in cells, offsets never negative."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from crmbook.changeset import Button
from crmbook.ooxml.buttons import buttons_vml

X = "urn:schemas-microsoft-com:office:excel"


def test_button_anchors_have_no_negative_offsets() -> None:
    vml = buttons_vml(
        [Button("刷新", "CrmbookRefresh", col=2, row=3), Button("查重", "CrmbookDedupe", 5, 3, 3, 1)], 1
    )
    anchors = [a.text or "" for a in ET.fromstring(vml).iter(f"{{{X}}}Anchor")]
    assert len(anchors) == 2
    for text in anchors:
        numbers = [int(n) for n in re.split(r"\s*,\s*", text.strip())]
        assert len(numbers) == 8 and min(numbers) >= 0, text
    assert [int(n) for n in anchors[0].split(",")] == [1, 4, 2, 4, 3, 0, 4, 0]  # B3 to the border of D5
    assert [int(n) for n in anchors[1].split(",")] == [4, 4, 2, 4, 7, 0, 3, 0]
